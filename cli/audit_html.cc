#include "cli/audit_html.h"

#include <fmt/format.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "cli/audit_report.h"
#include "cli/html_document.h"

namespace koppel {
namespace {

using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view kAuditCss = R"css(
#verdict { border: 2px solid #c77c00; padding: .6em 1em; margin: 1em 0 1.5em; color: inherit;
           font-weight: normal; background: #fff; }
#verdict.ok { border-color: #0b6b2b; }
#verdict.bad { border-color: #a40000; }
#verdict h2 { margin-top: 0; }
#verdict .verdict-line { font-size: 1.2em; font-weight: bold; margin: 0 0 .5em; }
#verdict.ok .verdict-line { color: #0b6b2b; }
#verdict.bad .verdict-line { color: #a40000; }
#verdict.warning .verdict-line { color: #8a5500; }
#verdict dl.facts { grid-template-columns: max-content minmax(0, 1fr); }
#verdict dd { overflow-wrap: anywhere; min-width: 0; }
table.audit-table td { overflow-wrap: anywhere; }
table.audit-table th.num { white-space: normal; }
table.audit-table td.time { white-space: nowrap; overflow-wrap: normal; }
table.audit-table td.ok, table.audit-table td.bad, table.audit-table td.warning {
  overflow-wrap: normal; white-space: nowrap; }
.log-verdict { margin: .8em 0; }
p.none { color: #555; font-style: italic; }
.signoff div { min-height: 5em; }
)css";

std::string Text(const OrderedJson& object, const char* key) {
  return object.contains(key) ? AuditCellText(key, object[key]) : std::string("-");
}

// "ok" for a log verified against a key the officer gave, "bad" for one that failed, and
// "warning" for one only checked against the key it names itself.
std::string_view StateClass(const std::string& state) {
  if (state == "verified") return "ok";
  if (state == "tampered") return "bad";
  return "warning";
}

std::string VerdictHtml(const OrderedJson& logs) {
  size_t verified = 0;
  size_t tampered = 0;
  for (const OrderedJson& log : logs) {
    const std::string state = log["verification"]["state"].get<std::string>();
    if (state == "verified") ++verified;
    if (state == "tampered") ++tampered;
  }
  std::string verdict;
  std::string_view css_class;
  if (tampered > 0) {
    verdict = fmt::format(
        "{} of {} log(s) FAILED VERIFICATION or could not be checked: their entries are counted "
        "below but cannot be trusted. Keep the files as evidence and inform the covenant's "
        "privacy officers.",
        tampered, logs.size());
    css_class = "bad";
  } else if (verified == logs.size()) {
    verdict = fmt::format(
        "Every log intact: {} log(s), chain intact, every entry signed by the key given for it.",
        logs.size());
    css_class = "ok";
  } else {
    verdict = fmt::format(
        "Every chain intact, but {} of {} log(s) only checked against the key they name "
        "themselves: only --signer-key with a key you trust proves who wrote them.",
        logs.size() - verified, logs.size());
    css_class = "warning";
  }
  std::string html = "<section id=\"verdict\"" + HtmlAttribute("class", css_class) +
                     HtmlAttribute("data-tampered", std::to_string(tampered)) +
                     ">\n<h2>Verification</h2>\n<p class=\"verdict-line\">" + HtmlEscape(verdict) +
                     "</p>\n";
  for (const OrderedJson& log : logs) {
    const OrderedJson& v = log["verification"];
    const std::string state = v["state"].get<std::string>();
    html += "<div class=\"log-verdict\"" + HtmlAttribute("data-file", Text(log, "file")) +
            HtmlAttribute("data-state", state) + ">\n<dl class=\"facts\">\n";
    html += "<dt>Log</dt><dd><code>" + HtmlEscape(Text(log, "file")) + "</code> (" +
            HtmlEscape(Text(log, "service")) + ")</dd>\n";
    html += "<dt>State</dt><dd" + HtmlAttribute("class", StateClass(state)) + ">" +
            HtmlEscape(state) + ": " + HtmlEscape(Text(v, "message")) + "</dd>\n";
    html += "<dt>Signer</dt><dd class=\"digest\">" + HtmlEscape(Text(v, "signer_public_key")) +
            "</dd>\n";
    html += "<dt>Head</dt><dd class=\"digest\">" + HtmlEscape(Text(v, "head")) + "</dd>\n";
    if (log.contains("torn_bytes_unchecked")) {
      html += "<dt>Incomplete last line</dt><dd class=\"warning\">" +
              HtmlEscape(fmt::format("the last {} bytes are an incomplete line (a write cut off "
                                     "by a crash), not counted",
                                     log["torn_bytes_unchecked"].get<uint64_t>())) +
              "</dd>\n";
    }
    html += "</dl>\n</div>\n";
  }
  return html + "</section>\n";
}

std::string SummaryHtml(const OrderedJson& report) {
  std::string html =
      "<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"audit-table\" "
      "data-table=\"logs\">\n<caption>Logs</caption>\n<thead><tr><th>log</th><th>service</th>"
      "<th class=\"num\">entries</th><th>from</th><th>to</th><th class=\"num\">service "
      "starts</th><th>state</th></tr></thead>\n<tbody>\n";
  for (const OrderedJson& log : report["logs"]) {
    const std::string state = log["verification"]["state"].get<std::string>();
    html += "<tr><td><code>" + HtmlEscape(Text(log, "file")) + "</code></td><td>" +
            HtmlEscape(Text(log, "service")) + "</td><td class=\"num\" data-col=\"entries\">" +
            HtmlEscape(Text(log, "entries")) + "</td><td class=\"time\">" +
            HtmlEscape(SpellAuditTime(log["first_time"].get<std::string>())) +
            "</td><td class=\"time\">" +
            HtmlEscape(SpellAuditTime(log["last_time"].get<std::string>())) +
            "</td><td class=\"num\" data-col=\"starts\">" + HtmlEscape(Text(log, "starts")) +
            "</td><td" + HtmlAttribute("class", StateClass(state)) + ">" + HtmlEscape(state) +
            "</td></tr>\n";
  }
  html +=
      "</tbody>\n</table>\n<table class=\"audit-table\" data-table=\"contents\">\n"
      "<caption>In this report</caption>\n<thead><tr><th>table</th><th class=\"num\">rows"
      "</th></tr></thead>\n<tbody>\n";
  for (const AuditReportTable& table : AuditReportTables()) {
    html += "<tr><td><a" + HtmlAttribute("href", std::string("#table-") + table.key) + ">" +
            HtmlEscape(table.title) + "</a></td><td class=\"num\"" +
            HtmlAttribute("data-table", table.key) + ">" +
            std::to_string(report[table.key].size()) + "</td></tr>\n";
  }
  return html + "</tbody>\n</table>\n</section>\n";
}

// One table of the report; a column of numbers (as the text aligns right) is class "num".
std::string TableHtml(const OrderedJson& report, const AuditReportTable& table) {
  const OrderedJson rows = AuditTableRows(report, table);
  std::string html = "<section class=\"audit-section\"" +
                     HtmlAttribute("id", std::string("table-") + table.key) + ">\n<h2>" +
                     HtmlEscape(table.title) + "</h2>\n";
  if (rows.empty()) return html + "<p class=\"none\">none</p>\n</section>\n";
  std::vector<bool> numeric(table.columns.size(), true);
  for (const OrderedJson& row : rows) {
    for (size_t c = 0; c < table.columns.size(); ++c) {
      const char* key = table.columns[c].key;
      if (row.contains(key) && !row[key].is_number() && !row[key].is_null()) numeric[c] = false;
    }
  }
  const bool wide = table.columns.size() > kHtmlPortraitColumns;
  html += std::string(wide ? "<div class=\"table-wrap wide\">\n" : "") +
          "<table class=\"audit-table\"" + HtmlAttribute("data-table", table.key) +
          ">\n<thead><tr>";
  for (size_t c = 0; c < table.columns.size(); ++c) {
    html += std::string(numeric[c] ? "<th class=\"num\">" : "<th>") +
            HtmlEscape(table.columns[c].header) + "</th>";
  }
  html += "</tr></thead>\n<tbody>\n";
  for (const OrderedJson& row : rows) {
    html += "<tr>";
    for (size_t c = 0; c < table.columns.size(); ++c) {
      const char* key = table.columns[c].key;
      std::string_view cell_class;
      if (numeric[c]) {
        cell_class = " class=\"num\"";
      } else if (std::string_view(key) == "time") {
        cell_class = " class=\"time\"";
      }
      html += "<td" + std::string(cell_class) + HtmlAttribute("data-col", key) + ">" +
              HtmlEscape(AuditCellText(key, row.contains(key) ? row[key] : nullptr)) + "</td>";
    }
    html += "</tr>\n";
  }
  return html + "</tbody>\n</table>\n" + (wide ? "</div>\n" : "") + "</section>\n";
}

}  // namespace

std::string AuditReportHtml(const OrderedJson& report) {
  const OrderedJson& logs = report["logs"];
  HtmlDocument document("Audit report", kAuditCss);
  document.Raw("<header id=\"audit-header\">\n<h1>Audit report</h1>\n<p class=\"lead\">" +
               HtmlEscape(fmt::format("Over {} log(s), as koppel audit report reads them: who "
                                      "delivered what, which keys were issued, which queries "
                                      "ran, what was released, refused and deleted.",
                                      logs.size())) +
               "</p>\n</header>\n");
  document.Raw(VerdictHtml(logs));
  document.Raw(SummaryHtml(report));
  for (const AuditReportTable& table : AuditReportTables()) {
    document.Raw(TableHtml(report, table));
  }
  document.Raw(
      "<section id=\"sign-off\">\n<h2>Review</h2>\n<div class=\"signoff\">\n"
      "<div class=\"signoff-line\">reviewed by (name, organisation)</div>\n"
      "<div class=\"signoff-line\">date and signature</div>\n</div>\n</section>\n");
  std::string heads;
  for (const OrderedJson& log : logs) {
    if (log["verification"].contains("head")) {
      heads += " · " + Text(log, "file") + " head " + Text(log["verification"], "head");
    }
  }
  document.Raw("<footer class=\"print-footer\">" +
               HtmlEscape("Audit report, written by koppel audit report" + heads) + "</footer>\n");
  return document.Finish();
}

}  // namespace koppel
