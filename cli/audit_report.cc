#include "cli/audit_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "cli/html_document.h"
#include "core/hex.h"

namespace koppel {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

uint64_t Count(const Json& details, const char* key) {
  auto it = details.find(key);
  if (it == details.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() > 0) {
    return static_cast<uint64_t>(it->get<int64_t>());
  }
  return 0;
}

OrderedJson Value(const Json& details, const char* key) {
  auto it = details.find(key);
  if (it == details.end()) return nullptr;
  return OrderedJson::parse(it->dump());
}

OrderedJson FirstValue(const Json& details, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    if (details.contains(key)) return Value(details, key);
  }
  return nullptr;
}

// Rows identified by some fields, with counters summed over every entry that shares them;
// rows come out sorted by their identifying fields.
class Tally {
 public:
  void Add(const OrderedJson& identity,
           std::initializer_list<std::pair<const char*, uint64_t>> counts) {
    OrderedJson& row = rows_[identity.dump()];
    if (row.is_null()) row = identity;
    for (const auto& [name, count] : counts) {
      row[name] = (row.contains(name) ? row[name].get<uint64_t>() : 0) + count;
    }
  }
  OrderedJson Rows() const {
    OrderedJson rows = OrderedJson::array();
    for (const auto& [key, row] : rows_) rows.push_back(row);
    return rows;
  }

 private:
  std::map<std::string, OrderedJson> rows_;
};

// Everything the report says, in its JSON form; the text form is rendered from it.
class ReportBuilder {
 public:
  void AddLog(const AuditLogInput& log) {
    logs_.push_back(Summarise(log));
    for (const AuditEntry& e : log.entries) {
      AddEntry(e);
      CountRefusal(e);
    }
  }
  bool any_tampered() const { return any_tampered_; }

  OrderedJson Build() const {
    OrderedJson report;
    report["logs"] = logs_;
    report["covenants_loaded"] = covenants_loaded_;
    report["keys_issued"] = keys_issued_.Rows();
    report["oprf_evaluations"] = oprf_.Rows();
    report["key_rotations"] = key_rotations_;
    report["deliveries"] = deliveries_.Rows();
    report["refused_deliveries"] = refused_deliveries_;
    report["queries"] = queries_.Rows();
    report["releases"] = releases_;
    report["refused_queries"] = refused_queries_;
    report["purpose_bound_releases"] = flags_releases_;
    report["refused_purpose_bound_releases"] = refused_flags_;
    report["covenant_ends"] = covenant_ends_;
    report["retention_deletions"] = retention_deletions_;
    report["key_destructions"] = key_destructions_;
    report["refused_operations"] = refused_operations_;
    report["refusals_by_rule"] = refusals_by_rule_.Rows();
    report["other_events"] = other_events_;
    return report;
  }

 private:
  OrderedJson Summarise(const AuditLogInput& log) {
    OrderedJson summary;
    summary["file"] = log.file;
    std::vector<std::string> services;
    uint64_t starts = 0;
    for (const AuditEntry& e : log.entries) {
      if (std::find(services.begin(), services.end(), e.service) == services.end()) {
        services.push_back(e.service);
      }
      if (e.event == "open") ++starts;
    }
    summary["service"] = fmt::format("{}", fmt::join(services, ", "));
    summary["entries"] = log.entries.size();
    summary["first_time"] = log.entries.empty() ? "" : log.entries.front().time;
    summary["last_time"] = log.entries.empty() ? "" : log.entries.back().time;
    summary["starts"] = starts;
    summary["verification"] = Verify(log);
    if (log.torn_bytes > 0) summary["torn_bytes_unchecked"] = log.torn_bytes;
    return summary;
  }

  OrderedJson Verify(const AuditLogInput& log) {
    OrderedJson v;
    std::string key;
    bool trusted = false;
    if (log.signer_key.has_value()) {
      key = *log.signer_key;
      trusted = true;
    } else {
      for (const AuditEntry& e : log.entries) {
        auto it = e.details.find("signer_public_key");
        if (e.event != "open" || it == e.details.end() || !it->is_string()) continue;
        absl::StatusOr<std::vector<uint8_t>> named = FromHex(it->get<std::string>());
        if (named.ok()) key.assign(named->begin(), named->end());
        break;
      }
    }
    if (key.empty() && !log.entries.empty()) {
      // Every log starts with the "open" entry naming its signer (an empty log fails the same
      // way in VerifyAuditLog): without it and without --signer-key nothing can be checked.
      any_tampered_ = true;
      v["state"] = "tampered";
      v["message"] = fmt::format(
          "NOT CHECKED: no --signer-key was given and the log names no signer, though every log "
          "starts with an \"open\" entry naming it (line {} holds entry seq {}, {}): entries were "
          "removed or changed; koppel audit verify --signer-key says which",
          log.entries.front().line, log.entries.front().seq, log.entries.front().event);
      return v;
    }
    absl::StatusOr<AuditVerification> result = VerifyAuditLog(log.entries, key, std::nullopt);
    if (!result.ok()) {
      any_tampered_ = true;
      v["state"] = "tampered";
      v["message"] = std::string(result.status().message());
      return v;
    }
    v["state"] = trusted ? "verified" : "unverified";
    v["signer_public_key"] = result->signer_public_key;
    v["head"] = fmt::format("{}:{}", log.entries.back().seq, result->head_hash);
    v["message"] =
        trusted ? fmt::format("chain intact, every entry signed by {}", result->signer_public_key)
                : fmt::format(
                      "chain intact and signed by the key the log names itself ({}); only "
                      "--signer-key with a key you trust proves who wrote it",
                      result->signer_public_key);
    return v;
  }

  void AddEntry(const AuditEntry& e) {
    const Json& d = e.details;
    const std::string& event = e.event;
    if (event == "open") return;  // counted per log
    if (event == "covenant_load") {
      covenants_loaded_.push_back({{"time", e.time},
                                   {"service", e.service},
                                   {"covenant", e.covenant},
                                   {"version", Value(d, "version")},
                                   {"sha256", Value(d, "sha256")},
                                   {"state", Value(d, "state")}});
    } else if (event == "key_issue") {
      keys_issued_.Add({{"covenant", e.covenant},
                        {"party", e.actor},
                        {"epoch", Value(d, "epoch")},
                        {"kind", Value(d, "kind")}},
                       {{"count", 1}});
    } else if (event == "oprf_evaluation") {
      oprf_.Add({{"covenant", e.covenant}, {"party", e.actor}},
                {{"requests", 1}, {"evaluations", Count(d, "count")}});
    } else if (event == "key_rotation") {
      key_rotations_.push_back({{"time", e.time},
                                {"covenant", e.covenant},
                                {"epoch", Value(d, "epoch")},
                                {"actor", e.actor}});
    } else if (event == "delivery") {
      const bool duplicate =
          d.contains("duplicate") && d["duplicate"].is_boolean() && d["duplicate"].get<bool>();
      const uint64_t records = Count(d, "records");
      deliveries_.Add(
          {{"covenant", e.covenant}, {"party", e.actor}, {"dataset", Value(d, "dataset")}},
          {{"batches", duplicate ? uint64_t{0} : uint64_t{1}},
           {"records", duplicate ? uint64_t{0} : records},
           {"rejected", duplicate ? uint64_t{0} : Count(d, "rejected")},
           {"duplicate_batches", duplicate ? uint64_t{1} : uint64_t{0}},
           {"duplicate_records", duplicate ? records : uint64_t{0}}});
    } else if (event == "delivery_refused") {
      refused_deliveries_.push_back({{"time", e.time},
                                     {"covenant", e.covenant},
                                     {"party", e.actor},
                                     {"dataset", Value(d, "dataset")},
                                     {"batch_id", Value(d, "batch_id")},
                                     {"reason", FirstValue(d, {"reason", "rule", "message"})},
                                     {"rule", Value(d, "rule")}});
    } else if (event == "query") {
      queries_.Add(
          {{"covenant", e.covenant}, {"recipient", e.actor}, {"analysis", Value(d, "analysis")}},
          {{"queries", 1}});
    } else if (event == "release") {
      releases_.push_back({{"time", e.time},
                           {"covenant", e.covenant},
                           {"recipient", e.actor},
                           {"analysis", Value(d, "analysis")},
                           {"spec_sha256", Value(d, "spec_sha256")},
                           {"tables", Value(d, "tables")},
                           {"cells_suppressed_primary", Value(d, "cells_suppressed_primary")},
                           {"cells_suppressed_secondary", Value(d, "cells_suppressed_secondary")},
                           {"mode", Value(d, "mode")},
                           {"earlier_releases_checked", Value(d, "earlier_releases_checked")},
                           {"cells_suppressed_history", Value(d, "cells_suppressed_history")},
                           {"implied_groups_protected", Value(d, "implied_groups_protected")},
                           {"releases_left", Value(d, "releases_left")}});
    } else if (event == "query_refused") {
      refused_queries_.push_back({{"time", e.time},
                                  {"covenant", e.covenant},
                                  {"recipient", e.actor},
                                  {"analysis", Value(d, "analysis")},
                                  {"reason", FirstValue(d, {"reason", "rule", "message"})},
                                  {"rule", Value(d, "rule")}});
    } else if (event == "flags_release") {
      flags_releases_.push_back({{"time", e.time},
                                 {"covenant", e.covenant},
                                 {"recipient", e.actor},
                                 {"release", Value(d, "release")},
                                 {"tokens", Value(d, "tokens")},
                                 {"delivered", Value(d, "delivered")},
                                 {"flags", Value(d, "flags")}});
    } else if (event == "flags_refused") {
      refused_flags_.push_back({{"time", e.time},
                                {"covenant", e.covenant},
                                {"recipient", e.actor},
                                {"release", Value(d, "release")},
                                {"reason", FirstValue(d, {"reason", "rule", "message"})},
                                {"rule", Value(d, "rule")}});
    } else if (event == "covenant_end") {
      ends_[{e.service, e.covenant, e.seq}] = {&covenant_ends_, covenant_ends_.size()};
      covenant_ends_.push_back(
          {{"time", e.time},
           {"service", e.service},
           {"covenant", e.covenant},
           {"officer", d.contains("officer") ? Value(d, "officer") : OrderedJson(e.actor)},
           {"reason", Value(d, "reason")},
           {"records_deleted", Value(d, "records_deleted")},
           {"batches_deleted", Value(d, "batches_deleted")}});
    } else if (event == "retention_deletion") {
      ends_[{e.service, e.covenant, e.seq}] = {&retention_deletions_, retention_deletions_.size()};
      retention_deletions_.push_back({{"time", e.time},
                                      {"service", e.service},
                                      {"covenant", e.covenant},
                                      {"records_deleted", Value(d, "records_deleted")},
                                      {"batches_deleted", Value(d, "batches_deleted")}});
    } else if (event == "deletion_complete" &&
               ends_.contains({e.service, e.covenant, Count(d, "end_seq")})) {
      // Completes the end entry it names: what was deleted.
      const auto& [rows, index] = ends_.at({e.service, e.covenant, Count(d, "end_seq")});
      (*rows)[index]["records_deleted"] = Value(d, "records_deleted");
      (*rows)[index]["batches_deleted"] = Value(d, "batches_deleted");
    } else if (event == "key_destruction") {
      key_destructions_.push_back(
          {{"time", e.time},
           {"service", e.service},
           {"covenant", e.covenant},
           {"officer", d.contains("officer") ? Value(d, "officer") : OrderedJson(e.actor)},
           {"reason", Value(d, "reason")},
           {"keys_destroyed", Value(d, "keys_destroyed")}});
    } else if (event == "refused") {
      refused_operations_.push_back({{"time", e.time},
                                     {"service", e.service},
                                     {"covenant", e.covenant},
                                     {"actor", e.actor},
                                     {"operation", Value(d, "operation")},
                                     {"rule", FirstValue(d, {"rule", "message", "reason"})},
                                     {"reason", Value(d, "reason")}});
    } else {
      other_events_.push_back({{"time", e.time},
                               {"service", e.service},
                               {"event", e.event},
                               {"actor", e.actor},
                               {"covenant", e.covenant},
                               {"details", OrderedJson::parse(d.dump())}});
    }
  }

  // Every refusal, counted by the rule the service recorded with it (docs/api.md); entries
  // written before services recorded rules count under "(not recorded)".
  void CountRefusal(const AuditEntry& e) {
    static const std::set<std::string> kRefusalEvents = {"delivery_refused",   "query_refused",
                                                         "flags_refused",      "end_refused",
                                                         "held_check_refused", "refused"};
    if (!kRefusalEvents.contains(e.event)) return;
    const auto rule = e.details.find("rule");
    const bool recorded =
        rule != e.details.end() && rule->is_string() && !rule->get<std::string>().empty();
    refusals_by_rule_.Add({{"service", e.service},
                           {"event", e.event},
                           {"rule", recorded ? rule->get<std::string>() : "(not recorded)"}},
                          {{"refusals", 1}});
  }

  bool any_tampered_ = false;
  OrderedJson logs_ = OrderedJson::array();
  OrderedJson covenants_loaded_ = OrderedJson::array();
  Tally keys_issued_;
  Tally oprf_;
  OrderedJson key_rotations_ = OrderedJson::array();
  Tally deliveries_;
  OrderedJson refused_deliveries_ = OrderedJson::array();
  Tally queries_;
  OrderedJson releases_ = OrderedJson::array();
  OrderedJson refused_queries_ = OrderedJson::array();
  OrderedJson flags_releases_ = OrderedJson::array();
  OrderedJson refused_flags_ = OrderedJson::array();
  OrderedJson covenant_ends_ = OrderedJson::array();
  OrderedJson retention_deletions_ = OrderedJson::array();
  OrderedJson key_destructions_ = OrderedJson::array();
  OrderedJson refused_operations_ = OrderedJson::array();
  Tally refusals_by_rule_;
  OrderedJson other_events_ = OrderedJson::array();
  // covenant_end and retention_deletion rows by (service, covenant, seq), for the
  // deletion_complete entries that refer to them.
  std::map<std::tuple<std::string, std::string, uint64_t>, std::pair<OrderedJson*, size_t>> ends_;
};

}  // namespace

AuditReport BuildAuditReport(const std::vector<AuditLogInput>& logs) {
  ReportBuilder builder;
  for (const AuditLogInput& log : logs) builder.AddLog(log);
  return {.json = builder.Build(), .any_tampered = builder.any_tampered()};
}

std::string SpellAuditTime(const std::string& iso) {
  if (iso.size() == 20 && iso[10] == 'T' && iso[19] == 'Z') {
    return fmt::format("{} {} UTC", iso.substr(0, 10), iso.substr(11, 8));
  }
  return iso;
}

std::string AuditCellText(std::string_view key, const OrderedJson& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) {
    std::string text = PlainText(value.get<std::string>());
    std::replace_if(
        text.begin(), text.end(), [](char c) { return c == '\n' || c == '\t'; }, ' ');
    if (text.empty()) return "-";
    return key == "time" ? SpellAuditTime(text) : text;
  }
  if (value.is_array()) {
    std::vector<std::string> parts;
    for (const OrderedJson& item : value) parts.push_back(AuditCellText("", item));
    return parts.empty() ? "-" : fmt::format("{}", fmt::join(parts, ", "));
  }
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return value.dump();
}

const std::vector<AuditReportTable>& AuditReportTables() {
  static const auto* const kTables = new std::vector<AuditReportTable>{
      {"Covenants loaded",
       "covenants_loaded",
       {{"time", "time"},
        {"service", "service"},
        {"covenant", "covenant"},
        {"version", "version"},
        {"state", "state"},
        {"sha256", "sha256"}}},
      {"Keys issued by the vault",
       "keys_issued",
       {{"covenant", "covenant"},
        {"party", "party"},
        {"epoch", "epoch"},
        {"kind", "kind"},
        {"count", "issued"}}},
      {"OPRF evaluations per party",
       "oprf_evaluations",
       {{"covenant", "covenant"},
        {"party", "party"},
        {"requests", "requests"},
        {"evaluations", "evaluations"}}},
      {"Key rotations",
       "key_rotations",
       {{"time", "time"}, {"covenant", "covenant"}, {"epoch", "epoch"}, {"actor", "by"}}},
      {"Deliveries (re-acknowledged duplicates counted separately)",
       "deliveries",
       {{"covenant", "covenant"},
        {"party", "party"},
        {"dataset", "dataset"},
        {"batches", "batches"},
        {"records", "records"},
        {"rejected", "rejected"},
        {"duplicate_batches", "dup. batches"},
        {"duplicate_records", "dup. records"}}},
      {"Refused deliveries",
       "refused_deliveries",
       {{"time", "time"},
        {"covenant", "covenant"},
        {"party", "party"},
        {"dataset", "dataset"},
        {"batch_id", "batch"},
        {"reason", "reason"},
        {"rule", "rule"}}},
      {"Queries",
       "queries",
       {{"covenant", "covenant"},
        {"recipient", "recipient"},
        {"analysis", "analysis"},
        {"queries", "queries"}}},
      {"Releases",
       "releases",
       {{"time", "time"},
        {"covenant", "covenant"},
        {"recipient", "recipient"},
        {"analysis", "analysis"},
        {"tables", "tables"},
        {"mode", "mode"},
        {"cells_suppressed_primary", "suppressed (primary)"},
        {"cells_suppressed_secondary", "suppressed (secondary)"},
        {"cells_suppressed_history", "of which for earlier releases"},
        {"earlier_releases_checked", "earlier releases checked"},
        {"releases_left", "releases left"},
        {"spec_sha256", "spec sha256"}}},
      {"Refused queries",
       "refused_queries",
       {{"time", "time"},
        {"covenant", "covenant"},
        {"recipient", "recipient"},
        {"analysis", "analysis"},
        {"reason", "reason"},
        {"rule", "rule"}}},
      {"Purpose-bound releases",
       "purpose_bound_releases",
       {{"time", "time"},
        {"covenant", "covenant"},
        {"recipient", "recipient"},
        {"release", "release"},
        {"tokens", "tokens asked"},
        {"delivered", "answered"},
        {"flags", "flags"}}},
      {"Refused purpose-bound releases",
       "refused_purpose_bound_releases",
       {{"time", "time"},
        {"covenant", "covenant"},
        {"recipient", "recipient"},
        {"release", "release"},
        {"reason", "reason"},
        {"rule", "rule"}}},
      {"Covenant ends",
       "covenant_ends",
       {{"time", "time"},
        {"service", "service"},
        {"covenant", "covenant"},
        {"officer", "officer"},
        {"reason", "reason"},
        {"records_deleted", "records deleted"},
        {"batches_deleted", "batches deleted"}}},
      {"Deletions at the end of retention",
       "retention_deletions",
       {{"time", "time"},
        {"service", "service"},
        {"covenant", "covenant"},
        {"records_deleted", "records deleted"},
        {"batches_deleted", "batches deleted"}}},
      {"Keys destroyed",
       "key_destructions",
       {{"time", "time"},
        {"service", "service"},
        {"covenant", "covenant"},
        {"officer", "officer"},
        {"reason", "reason"},
        {"keys_destroyed", "keys destroyed"}}},
      {"Other refused operations",
       "refused_operations",
       {{"time", "time"},
        {"service", "service"},
        {"covenant", "covenant"},
        {"actor", "by"},
        {"operation", "operation"},
        {"rule", "rule"},
        {"reason", "reason"}}},
      {"Refusals by rule",
       "refusals_by_rule",
       {{"service", "service"}, {"event", "event"}, {"rule", "rule"}, {"refusals", "refusals"}}},
      {"Other events",
       "other_events",
       {{"time", "time"},
        {"service", "service"},
        {"event", "event"},
        {"actor", "actor"},
        {"covenant", "covenant"},
        {"details", "details"}}},
  };
  return *kTables;
}

OrderedJson AuditTableRows(const OrderedJson& report, const AuditReportTable& table) {
  const OrderedJson& rows = report[table.key];
  if (std::string_view(table.key) != "other_events") return rows;
  OrderedJson flat_rows = OrderedJson::array();
  for (const OrderedJson& row : rows) {
    OrderedJson flat = row;
    flat["details"] = row["details"].dump();
    flat_rows.push_back(std::move(flat));
  }
  return flat_rows;
}

namespace {

void TableText(const AuditReportTable& table, const OrderedJson& rows, std::string* out) {
  const std::vector<AuditReportColumn>& columns = table.columns;
  *out += fmt::format("\n{}\n", table.title);
  if (rows.empty()) {
    *out += "  none\n";
    return;
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> width(columns.size());
  std::vector<bool> numeric(columns.size(), true);
  for (size_t c = 0; c < columns.size(); ++c) width[c] = std::string_view(columns[c].header).size();
  for (const OrderedJson& row : rows) {
    std::vector<std::string> line;
    for (size_t c = 0; c < columns.size(); ++c) {
      const OrderedJson value = row.contains(columns[c].key) ? row[columns[c].key] : nullptr;
      if (!value.is_number() && !value.is_null()) numeric[c] = false;
      line.push_back(AuditCellText(columns[c].key, value));
      width[c] = std::max(width[c], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto print_line = [&](const std::vector<std::string>& line) {
    std::string text = " ";
    for (size_t c = 0; c < line.size(); ++c) {
      text += numeric[c] ? fmt::format(" {:>{}}", line[c], width[c])
                         : fmt::format(" {:<{}}", line[c], width[c]);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    *out += text + "\n";
  };
  std::vector<std::string> headers;
  for (const AuditReportColumn& column : columns) headers.push_back(column.header);
  print_line(headers);
  for (const auto& line : cells) print_line(line);
}

}  // namespace

std::string AuditReportText(const OrderedJson& report) {
  std::string out;
  const OrderedJson& logs = report["logs"];
  out += fmt::format("Audit report over {} log(s)\n", logs.size());
  for (const OrderedJson& log : logs) {
    const OrderedJson& v = log["verification"];
    if (v["state"] == "tampered") {
      out += fmt::format(
          "\nWARNING: {} FAILED VERIFICATION: {}\n  Its entries are counted below but "
          "cannot be trusted.\n",
          AuditCellText("", log["file"]), AuditCellText("", v["message"]));
    }
  }
  out += fmt::format("\nLogs\n");
  for (const OrderedJson& log : logs) {
    const OrderedJson& v = log["verification"];
    out += fmt::format("  {} ({}): {} entries from {} to {}, {} service start(s)\n",
                       AuditCellText("", log["file"]), AuditCellText("", log["service"]),
                       log["entries"].get<uint64_t>(),
                       SpellAuditTime(PlainText(log["first_time"].get<std::string>())),
                       SpellAuditTime(PlainText(log["last_time"].get<std::string>())),
                       log["starts"].get<uint64_t>());
    out +=
        fmt::format("    {}: {}", v["state"].get<std::string>(), AuditCellText("", v["message"]));
    if (v.contains("head")) {
      out += fmt::format("; head {}", AuditCellText("", v["head"]));
    }
    out += fmt::format("\n");
    if (log.contains("torn_bytes_unchecked")) {
      out += fmt::format(
          "    the last {} bytes are an incomplete line (a write cut off by a crash), "
          "not counted\n",
          log["torn_bytes_unchecked"].get<uint64_t>());
    }
  }
  for (const AuditReportTable& table : AuditReportTables()) {
    TableText(table, AuditTableRows(report, table), &out);
  }
  return out;
}

}  // namespace koppel
