// The account `koppel audit report` gives of the services' audit logs (docs/audit.md): each
// log's verification, then who delivered what, which keys were issued, which queries ran, what
// was released, refused and deleted. The report is one JSON model (the json format); the text
// and the officers' HTML document (cli/audit_html.h) are rendered from it and its table list,
// so the three formats cannot disagree. Audit entries carry no identifiers, so neither does it.
#ifndef KOPPEL_CLI_AUDIT_REPORT_H_
#define KOPPEL_CLI_AUDIT_REPORT_H_

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/audit_log.h"

namespace koppel {

// One log as read from its file.
struct AuditLogInput {
  std::string file;
  std::optional<std::string> signer_key;  // raw 32 bytes; without, the key the log names
  std::vector<AuditEntry> entries;
  size_t torn_bytes = 0;
};

struct AuditReport {
  nlohmann::ordered_json json;
  bool any_tampered = false;  // a log failed verification
};

AuditReport BuildAuditReport(const std::vector<AuditLogInput>& logs);

// A table of the report after the logs: its title, its rows' key in the JSON and its columns.
struct AuditReportColumn {
  const char* key;
  const char* header;
};
struct AuditReportTable {
  const char* title;
  const char* key;
  std::vector<AuditReportColumn> columns;
};

// Every table, in the order the report shows them.
const std::vector<AuditReportTable>& AuditReportTables();

// The rows of `table` as shown: those of the JSON, with nested details flattened to JSON text.
nlohmann::ordered_json AuditTableRows(const nlohmann::ordered_json& report,
                                      const AuditReportTable& table);

// What a cell shows: "-" for nothing, a time as "2026-11-23 10:00:00 UTC" (column "time"), a list
// joined by ", ", yes/no, a number as it is.
std::string AuditCellText(std::string_view key, const nlohmann::ordered_json& value);

// "2026-11-23T10:00:00Z" as "2026-11-23 10:00:00 UTC"; anything else as it is.
std::string SpellAuditTime(const std::string& iso);

// The text format: several lines ending in '\n'.
std::string AuditReportText(const nlohmann::ordered_json& report);

}  // namespace koppel

#endif  // KOPPEL_CLI_AUDIT_REPORT_H_
