// `koppel audit report --format html`: the audit report as a document a privacy officer can
// file and sign off: the verification verdict first (each log intact or not, its signer and
// head), a summary, every table of the text report as an HTML table, and a "reviewed by"
// block. Rendered from the same JSON model as the text and json formats (cli/audit_report.h).
#ifndef KOPPEL_CLI_AUDIT_HTML_H_
#define KOPPEL_CLI_AUDIT_HTML_H_

#include <nlohmann/json.hpp>
#include <string>

namespace koppel {

// One self-contained HTML document (cli/html_document.h); every value from a log is escaped.
std::string AuditReportHtml(const nlohmann::ordered_json& report);

}  // namespace koppel

#endif  // KOPPEL_CLI_AUDIT_HTML_H_
