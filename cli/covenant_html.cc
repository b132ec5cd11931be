#include "cli/covenant_html.h"

#include <string>
#include <string_view>
#include <vector>

#include "cli/html_document.h"

namespace koppel {
namespace {

constexpr std::string_view kCovenantCss = R"css(
ul.statements { margin: .2em 0 .6em; padding-left: 1.4em; }
ul.statements ul { padding-left: 1.4em; }
ul.statements li { margin: .15em 0; }
li.problem { color: #a40000; font-weight: bold; }
.signoff-line { break-inside: avoid; }
.signoff-line .party { font-weight: bold; }
.signoff-line .blank { display: inline-block; min-width: 12em; border-bottom: 1px dotted #555; }
)css";

// The statements of a section as nested lists, one level per depth.
std::string StatementsHtml(const std::vector<policy::ExplanationLine>& lines) {
  std::string html;
  int open = -1;  // the deepest level with an open <ul>
  for (const policy::ExplanationLine& line : lines) {
    while (open > line.depth) {
      html += "</li></ul>\n";
      --open;
    }
    if (open == line.depth) html += "</li>\n";
    while (open < line.depth) {
      html += open < 0 ? "<ul class=\"statements\">\n" : "<ul>\n";
      ++open;
      if (open < line.depth) html += "<li>";
    }
    html += line.problem ? "<li class=\"problem\">" : "<li>";
    html += HtmlEscape(line.text);
  }
  while (open >= 0) {
    html += "</li></ul>\n";
    --open;
  }
  return html;
}

std::string TableHtml(const policy::ExplanationTable& table) {
  std::string html = "<table class=\"covenant-table\"" +
                     HtmlAttribute("data-table", table.caption) + ">\n<caption>" +
                     HtmlEscape(table.caption) + "</caption>\n<thead><tr>";
  for (const std::string& column : table.columns) html += "<th>" + HtmlEscape(column) + "</th>";
  html += "</tr></thead>\n<tbody>\n";
  for (const std::vector<std::string>& row : table.rows) {
    html += "<tr>";
    for (const std::string& cell : row) html += "<td>" + HtmlEscape(cell) + "</td>";
    html += "</tr>\n";
  }
  return html + "</tbody>\n</table>\n";
}

std::string HeaderHtml(const policy::CovenantExplanation& explanation,
                       const CovenantFileState& file) {
  std::string html = "<header id=\"covenant-header\" class=\"page\">\n";
  html += "<h1>" + HtmlEscape(explanation.headline) + "</h1>\n";
  html +=
      "<p class=\"lead\">What this covenant allows, in plain words, as <code>koppel policy "
      "explain</code> says it. The privacy officers sign it at the end.</p>\n<dl "
      "class=\"facts\">\n";
  for (const auto& [name, value] : explanation.facts) {
    html += "<dt>" + HtmlEscape(name) + "</dt><dd>" + HtmlEscape(value) + "</dd>\n";
  }
  html += "<dt>File</dt><dd><code>" + HtmlEscape(file.path) + "</code></dd>\n";
  html += "<dt>File SHA-256</dt><dd class=\"digest\">" + HtmlEscape(file.sha256) + "</dd>\n";
  html += "<dt>Signatures</dt><dd id=\"signature-state\"" +
          HtmlAttribute("class", file.fully_signed ? "ok" : "bad") + ">" +
          HtmlEscape(file.signatures.heading) + StatementsHtml(file.signatures.lines) + "</dd>\n";
  html += "</dl>\n";
  for (const policy::ExplanationTable& table : explanation.tables) html += TableHtml(table);
  return html + "</header>\n";
}

std::string SectionsHtml(const policy::CovenantExplanation& explanation) {
  std::string html;
  int index = 0;
  for (const policy::ExplanationSection& section : explanation.sections) {
    html += "<section class=\"covenant-section\"" +
            HtmlAttribute("id", "section-" + std::to_string(++index)) +
            HtmlAttribute("data-heading", section.heading) + ">\n<h2>" +
            HtmlEscape(section.heading) + "</h2>\n" + StatementsHtml(section.lines) +
            "</section>\n";
  }
  return html;
}

std::string SignOffHtml(const policy::CovenantExplanation& explanation) {
  std::string html =
      "<section id=\"sign-off\">\n<h2>Sign-off</h2>\n<p>Each party's privacy officer signs "
      "for it by hand below, in addition to the electronic signature (<code>koppel policy "
      "sign</code>) that the services check.</p>\n<div class=\"signoff\">\n";
  for (const policy::SignOffLine& line : explanation.sign_off) {
    html += "<div class=\"signoff-line\"" + HtmlAttribute("data-party", line.party) + ">";
    html += "<span class=\"party\">" + HtmlEscape(line.party) + "</span> (" +
            HtmlEscape(line.organisation) +
            ")<br>privacy officer: " + HtmlEscape(line.privacy_officer) +
            "<br>signed by: <span class=\"blank\"></span><br>date: <span "
            "class=\"blank\"></span></div>\n";
  }
  return html + "</div>\n</section>\n";
}

}  // namespace

std::string CovenantExplanationHtml(const policy::CovenantExplanation& explanation,
                                    const CovenantFileState& file) {
  HtmlDocument document(explanation.headline, kCovenantCss);
  document.Raw(HeaderHtml(explanation, file));
  document.Raw(SectionsHtml(explanation));
  document.Raw(SignOffHtml(explanation));
  document.Raw("<footer class=\"print-footer\">" + HtmlEscape(explanation.headline) +
               " &middot; file SHA-256 <span class=\"digest\">" + HtmlEscape(file.sha256) +
               "</span> &middot; written by koppel policy explain</footer>\n");
  return document.Finish();
}

}  // namespace koppel
