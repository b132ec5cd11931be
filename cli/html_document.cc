#include "cli/html_document.h"

#include <unicode/utf8.h>

#include <cstdint>
#include <utility>

namespace koppel {
namespace {

// Shared by every document: readable on screen, A4 when printed (the grey of suppressed cells
// and the charts' colours print too), tables that survive a page break, and a visible mark for
// suppressed cells (a bold `*`) that never depends on colour alone. Plain fills only: a
// gradient per suppressed cell made printing a large report slow (rasterised in the PDF).
constexpr std::string_view kStyle = R"css(
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 10.5pt;
       line-height: 1.4; color: #1a1a1a; background: #fff; margin: 2em auto; max-width: 62em;
       padding: 0 1.5em; }
h1 { font-size: 1.6em; margin: 0 0 .4em; }
h2 { font-size: 1.25em; margin: 1.8em 0 .5em; border-bottom: 1px solid #bbb; padding-bottom: .2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; }
p.lead { color: #444; margin-top: 0; }
code, .digest { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: .9em;
                overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25em 1.2em; margin: 0; }
dl.facts dt { font-weight: bold; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .92em; }
caption { text-align: left; font-weight: bold; padding: .3em 0; }
th, td { border: 1px solid #c8c8c8; padding: .2em .5em; vertical-align: top; }
thead th { background: #eef1f5; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total th, tr.total td { font-weight: bold; background: #f6f6f6; }
td.suppressed, svg { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
footer.print-footer { margin-top: 2em; border-top: 1px solid #bbb; padding-top: .3em;
                      font-size: .8em; color: #555; }
td.suppressed { background: #e4e4e4; text-align: center; font-weight: bold; }
.legend { font-size: .9em; color: #333; }
.warning { border-left: 4px solid #c77c00; background: #fff7e6; padding: .4em .8em; }
.refused, .bad { color: #a40000; font-weight: bold; }
.ok { color: #0b6b2b; font-weight: bold; }
figure { margin: 1em 0; }
figcaption { font-size: .9em; color: #333; margin-top: .3em; }
svg { max-width: 100%; height: auto; }
.signoff { margin-top: 2.5em; display: grid; grid-template-columns: repeat(2, 1fr); gap: 2em; }
.signoff div { border-top: 1px solid #333; padding-top: .3em; min-height: 4em; }
section { break-inside: auto; }
@page { size: A4; margin: 18mm 15mm 20mm; }
@page wide { size: A4 landscape; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 9.5pt; }
  h2 { break-after: avoid; }
  figure, tr, .signoff { break-inside: avoid; }
  thead { display: table-header-group; }
  .page { break-after: page; }
  .table-wrap.wide { page: wide; }
  a { color: inherit; text-decoration: none; }
}
)css";

// Appends `c` unless it is dropped (see HtmlEscape); with `escape`, markup characters as
// character references.
void AppendCodePoint(uint32_t c, bool escape, std::string* out) {
  if (escape) {
    switch (c) {
      case '&':
        *out += "&amp;";
        return;
      case '<':
        *out += "&lt;";
        return;
      case '>':
        *out += "&gt;";
        return;
      case '"':
        *out += "&quot;";
        return;
      case '\'':
        *out += "&#39;";
        return;
      default:
        break;
    }
  }
  const bool control = (c < 0x20 && c != '\t' && c != '\n') || (c >= 0x7f && c < 0xa0);
  // Noncharacters (U+FDD0..U+FDEF, U+xxFFFE/F) are not allowed in XML: inline SVG must stay
  // well-formed.
  const bool noncharacter = (c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe;
  // Bidirectional overrides and isolates would let a hostile label reverse the text around it
  // in a document an officer signs.
  const bool bidi_control = (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
  if (control || noncharacter || bidi_control) return;
  uint8_t bytes[U8_MAX_LENGTH];
  int32_t length = 0;
  UBool error = false;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
  U8_APPEND(bytes, length, U8_MAX_LENGTH, c, error);
#pragma GCC diagnostic pop
  if (error) return;
  out->append(reinterpret_cast<const char*>(bytes), static_cast<size_t>(length));
}

std::string Clean(std::string_view text, bool escape) {
  std::string out;
  out.reserve(text.size());
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const int32_t length = static_cast<int32_t>(text.size());
  int32_t i = 0;
  while (i < length) {
    UChar32 c = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
    U8_NEXT(bytes, i, length, c);
#pragma GCC diagnostic pop
    AppendCodePoint(c < 0 ? 0xfffd : static_cast<uint32_t>(c), escape, &out);
  }
  return out;
}

}  // namespace

std::string HtmlEscape(std::string_view text) { return Clean(text, true); }

std::string PlainText(std::string_view text) { return Clean(text, false); }

std::string HtmlAttribute(std::string_view name, std::string_view value) {
  std::string out = " ";
  out += name;
  out += "=\"";
  out += HtmlEscape(value);
  out += '"';
  return out;
}

HtmlDocument::HtmlDocument(std::string_view title, std::string_view extra_css) {
  html_ = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html_ += "<meta http-equiv=\"Content-Security-Policy\"" +
           HtmlAttribute("content", kHtmlContentSecurityPolicy) + ">\n";
  html_ += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html_ += "<meta name=\"generator\" content=\"koppel\">\n";
  html_ += "<title>" + HtmlEscape(title) + "</title>\n<style>";
  html_ += kStyle;
  html_ += extra_css;
  html_ += "</style>\n</head>\n<body>\n";
}

HtmlDocument& HtmlDocument::Raw(std::string_view html) {
  html_ += html;
  return *this;
}

HtmlDocument& HtmlDocument::Element(std::string_view tag, std::string_view text,
                                    std::string_view attributes) {
  html_ += '<';
  html_ += tag;
  html_ += attributes;
  html_ += '>';
  html_ += HtmlEscape(text);
  html_ += "</";
  html_ += tag;
  html_ += ">\n";
  return *this;
}

std::string HtmlDocument::Finish() {
  html_ += "</body>\n</html>\n";
  std::string document = std::move(html_);
  html_.clear();
  return document;
}

}  // namespace koppel
