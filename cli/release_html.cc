#include "cli/release_html.h"

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/html_document.h"
#include "cli/release_charts.h"
#include "cli/release_writer.h"

namespace koppel {
namespace {

// On a wide screen a table's charts sit beside the table when both fit, else above it; printed,
// they stack. Wide tables scroll on screen; on paper they get landscape pages, smaller type and
// headings that may break.
constexpr std::string_view kReportCss = R"css(
body { max-width: 90em; }
nav.toc ol { margin: .3em 0; padding-left: 1.6em; }
table.deliveries { margin: .2em 0; }
dl.facts ul { margin: 0; padding: 0; list-style: none; }
dl.facts li.warning { margin: 0 0 .3em; }
p.note { font-size: .9em; color: #444; }
.release-body { display: flex; flex-wrap: wrap; gap: 1em 2em; align-items: flex-start; }
.release-body .charts { flex: 1 1 30em; min-width: 0; display: grid; gap: 1em;
                        grid-template-columns: repeat(auto-fill, minmax(34em, 1fr)); }
.release-body .table-wrap { flex: 0 1 auto; max-width: 100%; overflow-x: auto; }
figure.chart { margin: 0; }
tbody th { text-align: left; font-weight: normal; }
tr.total th { font-weight: bold; }
@media print {
  .release-body { display: block; }
  .release-body .charts { display: block; }
  .release-body .table-wrap { overflow: visible; }
  figure.chart { margin: 0 0 1em; }
  table.release-table { font-size: .8em; }
  table.release-table th, table.release-table td { padding: .15em .3em; }
  table.release-table thead th { white-space: normal; overflow-wrap: anywhere; }
  figure.chart svg { max-height: 115mm; }
}
)css";

constexpr std::string_view kLegend =
    "* = suppressed by disclosure control; such a cell is never drawn in a chart";

std::string Code(std::string_view text) { return "<code>" + HtmlEscape(text) + "</code>"; }

std::string DeliveriesTable(const v1::ReleaseMetadata& m) {
  std::string out =
      "<table class=\"deliveries\"><thead><tr><th scope=\"col\">dataset</th>"
      "<th scope=\"col\" class=\"num\">batches</th><th scope=\"col\" class=\"num\">records</th>"
      "</tr></thead><tbody>";
  for (const v1::DeliveryUsed& d : m.deliveries()) {
    out += fmt::format("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                       HtmlEscape(d.dataset()), d.batches(), d.records());
  }
  return out + "</tbody></table>";
}

// The metadata facts every readable format shows (cli/release_writer.h), as a definition list.
std::string MetadataFactsHtml(const v1::ReleaseMetadata& m) {
  std::string out = "<dl class=\"facts\">\n";
  for (const MetadataFact& fact : MetadataFacts(m)) {
    std::string definition;
    if (fact.deliveries && !m.deliveries().empty()) {
      definition = DeliveriesTable(m);
    } else if (!fact.items.empty()) {
      definition = "<ul>";
      for (const std::string& item : fact.items) {
        definition += "<li class=\"warning\">" + HtmlEscape(item) + "</li>";
      }
      definition += "</ul>";
    } else {
      for (const MetadataFact::Part& part : fact.parts) {
        definition += part.code ? Code(part.text) : HtmlEscape(part.text);
      }
    }
    out += fmt::format("<dt>{}</dt><dd>{}</dd>\n", HtmlEscape(fact.term), definition);
  }
  return out + "</dl>\n";
}

std::string SectionId(const v1::ReleasedTable& table) { return "t-" + table.name(); }

std::string TableTitle(const v1::ReleasedTable& table) {
  return table.title().empty() ? table.name() : table.title();
}

std::string MetadataSection(const v1::Release& release, const analysis::AnalysisSpec* spec) {
  const v1::ReleaseMetadata& m = release.metadata();
  const std::string heading =
      spec != nullptr && !spec->title.empty() ? spec->title : "Release: " + OrDash(m.analysis());
  std::string out = "<section id=\"release-metadata\" class=\"page\">\n";
  out += "<h1>" + HtmlEscape(heading) + "</h1>\n";
  out += "<p class=\"lead\">Release of analysis " + Code(OrDash(m.analysis())) + " for " +
         HtmlEscape(OrDash(m.recipient())) + ": " +
         fmt::format("{} table(s), protected by disclosure control before they left the linker.",
                     release.tables_size()) +
         "</p>\n";
  out += MetadataFactsHtml(m);
  out += "<p class=\"legend\">" + HtmlEscape(kLegend) + "</p>\n";
  out += "<nav class=\"toc\" aria-label=\"Tables\">\n<h2>Tables</h2>\n<ol>\n";
  for (const v1::ReleasedTable& table : release.tables()) {
    out += "<li><a" + HtmlAttribute("href", "#" + SectionId(table)) + ">" +
           HtmlEscape(TableTitle(table)) + "</a> " + Code(table.name()) + "</li>\n";
  }
  return out + "</ol>\n</nav>\n</section>\n";
}

// A column name that may break after its underscores when printed.
std::string ColumnHeading(std::string_view column) {
  std::string out;
  for (size_t at = column.find('_'); at != std::string_view::npos; at = column.find('_')) {
    out += HtmlEscape(column.substr(0, at + 1)) + "<wbr>";
    column.remove_prefix(at + 1);
  }
  return out + HtmlEscape(column);
}

// The table in the DOM contract the browser tests read (docs/query.md).
std::string ReleasedTableHtml(const v1::ReleasedTable& table, std::optional<int> total_row) {
  std::string out = "<table class=\"release-table\"" + HtmlAttribute("data-table", table.name()) +
                    ">\n<thead><tr><th scope=\"col\">" + HtmlEscape(table.row_heading()) + "</th>";
  for (const std::string& column : table.columns()) {
    out += "<th scope=\"col\" class=\"num\">" + ColumnHeading(column) + "</th>";
  }
  out += "</tr></thead>\n<tbody>\n";
  for (int r = 0; r < table.rows_size(); ++r) {
    const v1::ReleasedRow& row = table.rows(r);
    out += total_row == r ? "<tr class=\"total\">" : "<tr>";
    out += "<th scope=\"row\">" + HtmlEscape(row.label()) + "</th>";
    for (int c = 0; c < row.cells_size(); ++c) {
      const v1::ReleasedCell& cell = row.cells(c);
      const std::string column = c < table.columns_size() ? table.columns(c) : std::string();
      const std::string where =
          HtmlAttribute("data-row", row.label()) + HtmlAttribute("data-col", column);
      if (cell.suppressed()) {
        out += "<td class=\"num suppressed\"" + where +
               " data-suppressed=\"true\" title=\"suppressed\">*</td>";
      } else if (cell.value_case() == v1::ReleasedCell::kPm) {
        out += "<td class=\"num pm\"" + where + " title=\"not valued (pro memorie)\">" +
               HtmlEscape(FormatCell(cell)) + "</td>";
      } else {
        out += "<td class=\"num\"" + where + ">" + HtmlEscape(FormatCell(cell)) + "</td>";
      }
    }
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

std::string TableSection(const v1::ReleasedTable& table, size_t index,
                         const analysis::AnalysisSpec* spec) {
  const ChartedTable charted = ChartTable(table, index, spec);
  std::string out = "<section" + HtmlAttribute("id", SectionId(table)) + ">\n";
  out += "<h2>" + HtmlEscape(TableTitle(table)) + "</h2>\n";
  out += "<p>Table " + Code(table.name()) +
         fmt::format(", {} cell(s) suppressed.</p>\n", table.cells_suppressed());
  if (!charted.note.empty()) out += "<p class=\"note\">" + HtmlEscape(charted.note) + "</p>\n";
  out += "<div class=\"release-body\">\n";
  if (!charted.charts.empty()) {
    out += "<div class=\"charts\">\n";
    for (const ReleaseChart& chart : charted.charts) {
      out += "<figure class=\"chart\"" + HtmlAttribute("data-table", table.name()) + ">\n";
      out += chart.svg;
      out += "\n<figcaption>" + HtmlEscape(chart.caption) + "</figcaption>\n</figure>\n";
    }
    out += "</div>\n";
  }
  // Printed on landscape pages when its columns would not fit across a portrait one.
  const bool wide = static_cast<size_t>(table.columns_size()) > kHtmlPortraitColumns;
  out += std::string(wide ? "<div class=\"table-wrap wide\">\n" : "<div class=\"table-wrap\">\n") +
         ReleasedTableHtml(table, charted.total_row) + "</div>\n";
  return out + "</div>\n</section>\n";
}

}  // namespace

std::string ReleaseToHtml(const v1::Release& release, const analysis::AnalysisSpec* spec) {
  HtmlDocument document("Release " + release.metadata().analysis(), kReportCss);
  document.Raw(MetadataSection(release, spec));
  for (int t = 0; t < release.tables_size(); ++t) {
    document.Raw(TableSection(release.tables(t), static_cast<size_t>(t), spec));
  }
  document.Raw("<p class=\"legend\">" + HtmlEscape(kLegend) + "</p>\n");
  return document.Finish();
}

}  // namespace koppel
