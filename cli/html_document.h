// A self-contained HTML document for people to read, file and print: the research unit's
// release report and the privacy officers' covenant and audit documents. It carries no script
// and loads nothing: a Content-Security-Policy forbids every external resource, so the file
// opens the same on an offline workstation. Styles are inline, with A4 print rules.
#ifndef KOPPEL_CLI_HTML_DOCUMENT_H_
#define KOPPEL_CLI_HTML_DOCUMENT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace koppel {

// `text` with &, <, >, " and ' replaced by character references: safe as element content and
// as a double-quoted attribute value. Bytes that are not valid UTF-8 become U+FFFD; control
// characters other than tab and line feed, Unicode noncharacters and bidirectional overrides are
// dropped, so hostile labels cannot break the page or its inline SVG, or reverse its text.
std::string HtmlEscape(std::string_view text);

// `text` cleaned as HtmlEscape cleans it, without character references: safe to print on a
// terminal or into a plain-text file (no escape sequences, no reversed text).
std::string PlainText(std::string_view text);

// A table with more columns than this is wrapped in `<div class="table-wrap wide">`: the shared
// style sheet prints it on an A4 landscape page.
inline constexpr size_t kHtmlPortraitColumns = 10;

// ` name="escaped value"`, for building start tags.
std::string HtmlAttribute(std::string_view name, std::string_view value);

// Builds one document. Content is appended as markup the caller builds with HtmlEscape; Finish
// closes it. The head has the title, the policy, the shared style sheet and `extra_css`.
class HtmlDocument {
 public:
  explicit HtmlDocument(std::string_view title, std::string_view extra_css = {});

  // Appends markup as is.
  HtmlDocument& Raw(std::string_view html);
  // Appends <tag attributes>escaped text</tag>; `attributes` is markup (HtmlAttribute).
  HtmlDocument& Element(std::string_view tag, std::string_view text,
                        std::string_view attributes = {});

  // The whole document. The builder is empty afterwards.
  std::string Finish();

 private:
  std::string html_;
};

// The Content-Security-Policy every document carries: nothing but inline styles.
inline constexpr std::string_view kHtmlContentSecurityPolicy =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

}  // namespace koppel

#endif  // KOPPEL_CLI_HTML_DOCUMENT_H_
