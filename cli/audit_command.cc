// `koppel audit`: what a privacy officer does with the services' audit logs. `verify` checks one
// log's chain and signatures against the signer's public key; `report` turns the linker's and
// the vault's logs into a plain account of who delivered what, which keys were issued, which
// queries ran, what was released and what was deleted (docs/audit.md).
#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "cli/cli_errors.h"
#include "cli/command.h"
#include "core/audit_log.h"
#include "core/exit_codes.h"
#include "core/hex.h"
#include "core/key_file.h"

namespace koppel {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,
  kExitUsage = 2,
  kExitUnreadable = 3,  // a log or key file cannot be read, or a line is not an audit entry
  kExitTampered = 5,    // a log failed verification
};

// What each exit code means; each audit command's --help lists the ones it can return.
constexpr ExitCodeMeaning kExitCodes[] = {
    {kExitOk, "success: every log is intact"},
    {kExitOther, "anything else"},
    {kExitUsage, "usage: bad or missing flags or flag values"},
    {kExitUnreadable,
     "a log or key file cannot be read, or a line is not an audit entry (no report is printed)"},
    {kExitTampered, "a log was tampered with (the message or the report says which and where)"},
};

std::string Message(const absl::Status& status) { return std::string(status.message()); }

constexpr std::string_view kSignerKeyHint =
    "pass the signing service's public key file: the linker's linker-signing.key.pub or the "
    "vault's audit-signing.key.pub, obtained from its operator";
constexpr std::string_view kTamperedHint =
    "the log was changed after it was written: keep the file as evidence and inform the "
    "covenant's privacy officers";

absl::StatusOr<std::string> ReadSignerKey(const std::string& path) {
  absl::StatusOr<std::vector<uint8_t>> key = ReadPublicKeyFile(path, crypto_sign_PUBLICKEYBYTES);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("cannot read signer key {}: {}", path, Message(key.status())));
  }
  return std::string(key->begin(), key->end());
}

// ----------------------------------------------------------------------------------------
// verify

struct VerifyFlags {
  std::string log;
  std::string signer_key;
  std::string anchor;
};

int RunVerify(const VerifyFlags& f) {
  std::optional<AuditAnchor> anchor;
  if (!f.anchor.empty()) {
    absl::StatusOr<AuditAnchor> parsed = ParseAuditAnchor(f.anchor);
    if (!parsed.ok()) return Fail(kExitUsage, Message(parsed.status()));
    anchor = *parsed;
  }
  absl::StatusOr<std::string> key = ReadSignerKey(f.signer_key);
  if (!key.ok()) return Fail(kExitUnreadable, Message(key.status()), kSignerKeyHint);
  size_t torn_bytes = 0;
  absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(f.log, &torn_bytes);
  if (!entries.ok()) return Fail(kExitUnreadable, Message(entries.status()));
  absl::StatusOr<AuditVerification> verified = VerifyAuditLog(*entries, *key, anchor);
  if (!verified.ok()) {
    if (absl::IsDataLoss(verified.status())) {
      return Fail(kExitTampered, fmt::format("{}: {}", f.log, Message(verified.status())),
                  kTamperedHint);
    }
    return Fail(kExitUnreadable, fmt::format("{}: {}", f.log, Message(verified.status())));
  }
  if (torn_bytes > 0) {
    fmt::print(stderr,
               "koppel: warning: {}: the last {} bytes are an incomplete line (a write cut off "
               "by a crash, never acknowledged) and were not checked; the service drops them "
               "when it next opens the log\n",
               f.log, torn_bytes);
  }
  fmt::print(
      "{}: {} entries, chain intact, every entry signed by {}; head {}:{} (note this anchor to "
      "detect truncation later)\n",
      f.log, verified->entries, verified->signer_public_key, entries->back().seq,
      verified->head_hash);
  if (anchor.has_value()) {
    fmt::print("{}: anchor {}:{} found: no entry up to seq {} was cut off\n", f.log, anchor->seq,
               anchor->hash, anchor->seq);
  }
  return kExitOk;
}

void AddVerify(CLI::App* audit, VerifyFlags* f) {
  CLI::App* verify = audit->add_subcommand(
      "verify", "check an audit log's hash chain and that every entry is signed by the service");
  verify->add_option("--log", f->log, "the audit log (one JSON entry per line)")->required();
  verify
      ->add_option("--signer-key", f->signer_key,
                   "the signing service's Ed25519 public key file (hex), e.g. "
                   "linker-signing.key.pub; a log cannot vouch for itself")
      ->required();
  verify->add_option("--anchor", f->anchor,
                     "SEQ:HASH noted from an earlier verify: also proves nothing up to SEQ was "
                     "cut off the end since");
  verify->footer(ExitCodesFooter(
      kExitCodes, {kExitOk, kExitUsage, kExitUnreadable, kExitTampered, kExitOther}));
}

// ----------------------------------------------------------------------------------------
// report

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

struct LogInput {
  std::string file;
  std::optional<std::string> signer_key;  // raw 32 bytes
  std::vector<AuditEntry> entries;
  size_t torn_bytes = 0;
};

// Everything the report says, in its JSON form; the text form is rendered from it.
class ReportBuilder {
 public:
  void AddLog(const LogInput& log) {
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
  OrderedJson Summarise(const LogInput& log) {
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

  OrderedJson Verify(const LogInput& log) {
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
      v["state"] = "unverified";
      v["message"] =
          "the log names no signer (its open entry is missing) and no --signer-key was given";
      return v;
    }
    absl::StatusOr<AuditVerification> result = VerifyAuditLog(log.entries, key, std::nullopt);
    if (!result.ok()) {
      any_tampered_ = true;
      v["state"] = "tampered";
      v["message"] = Message(result.status());
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

// "2026-11-23T10:00:00Z" as "2026-11-23 10:00:00 UTC"; anything else as it is.
std::string SpellTime(const std::string& iso) {
  if (iso.size() == 20 && iso[10] == 'T' && iso[19] == 'Z') {
    return fmt::format("{} {} UTC", iso.substr(0, 10), iso.substr(11, 8));
  }
  return iso;
}

std::string CellText(const std::string& key, const OrderedJson& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    if (text.empty()) return "-";
    return key == "time" ? SpellTime(text) : text;
  }
  if (value.is_array()) {
    std::vector<std::string> parts;
    for (const OrderedJson& item : value) parts.push_back(CellText("", item));
    return parts.empty() ? "-" : fmt::format("{}", fmt::join(parts, ", "));
  }
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return value.dump();
}

struct Column {
  const char* key;
  const char* header;
};

void PrintTable(const char* title, const OrderedJson& rows, std::vector<Column> columns) {
  fmt::print("\n{}\n", title);
  if (rows.empty()) {
    fmt::print("  none\n");
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
      line.push_back(CellText(columns[c].key, value));
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
    fmt::print("{}\n", text);
  };
  std::vector<std::string> headers;
  for (const Column& column : columns) headers.push_back(column.header);
  print_line(headers);
  for (const auto& line : cells) print_line(line);
}

void PrintText(const OrderedJson& report) {
  const OrderedJson& logs = report["logs"];
  fmt::print("Audit report over {} log(s)\n", logs.size());
  for (const OrderedJson& log : logs) {
    const OrderedJson& v = log["verification"];
    if (v["state"] == "tampered") {
      fmt::print(
          "\nWARNING: {} FAILED VERIFICATION: {}\n  Its entries are counted below but "
          "cannot be trusted.\n",
          log["file"].get<std::string>(), v["message"].get<std::string>());
    }
  }
  fmt::print("\nLogs\n");
  for (const OrderedJson& log : logs) {
    const OrderedJson& v = log["verification"];
    fmt::print("  {} ({}): {} entries from {} to {}, {} service start(s)\n",
               log["file"].get<std::string>(), CellText("", log["service"]),
               log["entries"].get<uint64_t>(), SpellTime(log["first_time"].get<std::string>()),
               SpellTime(log["last_time"].get<std::string>()), log["starts"].get<uint64_t>());
    fmt::print("    {}: {}", v["state"].get<std::string>(), v["message"].get<std::string>());
    if (v.contains("head")) {
      fmt::print("; head {}", v["head"].get<std::string>());
    }
    fmt::print("\n");
    if (log.contains("torn_bytes_unchecked")) {
      fmt::print(
          "    the last {} bytes are an incomplete line (a write cut off by a crash), "
          "not counted\n",
          log["torn_bytes_unchecked"].get<uint64_t>());
    }
  }
  PrintTable("Covenants loaded", report["covenants_loaded"],
             {{"time", "time"},
              {"service", "service"},
              {"covenant", "covenant"},
              {"version", "version"},
              {"state", "state"},
              {"sha256", "sha256"}});
  PrintTable("Keys issued by the vault", report["keys_issued"],
             {{"covenant", "covenant"},
              {"party", "party"},
              {"epoch", "epoch"},
              {"kind", "kind"},
              {"count", "issued"}});
  PrintTable("OPRF evaluations per party", report["oprf_evaluations"],
             {{"covenant", "covenant"},
              {"party", "party"},
              {"requests", "requests"},
              {"evaluations", "evaluations"}});
  PrintTable("Key rotations", report["key_rotations"],
             {{"time", "time"}, {"covenant", "covenant"}, {"epoch", "epoch"}, {"actor", "by"}});
  PrintTable("Deliveries (re-acknowledged duplicates counted separately)", report["deliveries"],
             {{"covenant", "covenant"},
              {"party", "party"},
              {"dataset", "dataset"},
              {"batches", "batches"},
              {"records", "records"},
              {"rejected", "rejected"},
              {"duplicate_batches", "dup. batches"},
              {"duplicate_records", "dup. records"}});
  PrintTable("Refused deliveries", report["refused_deliveries"],
             {{"time", "time"},
              {"covenant", "covenant"},
              {"party", "party"},
              {"dataset", "dataset"},
              {"batch_id", "batch"},
              {"reason", "reason"},
              {"rule", "rule"}});
  PrintTable("Queries", report["queries"],
             {{"covenant", "covenant"},
              {"recipient", "recipient"},
              {"analysis", "analysis"},
              {"queries", "queries"}});
  PrintTable("Releases", report["releases"],
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
              {"spec_sha256", "spec sha256"}});
  PrintTable("Refused queries", report["refused_queries"],
             {{"time", "time"},
              {"covenant", "covenant"},
              {"recipient", "recipient"},
              {"analysis", "analysis"},
              {"reason", "reason"},
              {"rule", "rule"}});
  PrintTable("Purpose-bound releases", report["purpose_bound_releases"],
             {{"time", "time"},
              {"covenant", "covenant"},
              {"recipient", "recipient"},
              {"release", "release"},
              {"tokens", "tokens asked"},
              {"delivered", "answered"},
              {"flags", "flags"}});
  PrintTable("Refused purpose-bound releases", report["refused_purpose_bound_releases"],
             {{"time", "time"},
              {"covenant", "covenant"},
              {"recipient", "recipient"},
              {"release", "release"},
              {"reason", "reason"},
              {"rule", "rule"}});
  PrintTable("Covenant ends", report["covenant_ends"],
             {{"time", "time"},
              {"service", "service"},
              {"covenant", "covenant"},
              {"officer", "officer"},
              {"reason", "reason"},
              {"records_deleted", "records deleted"},
              {"batches_deleted", "batches deleted"}});
  PrintTable("Deletions at the end of retention", report["retention_deletions"],
             {{"time", "time"},
              {"service", "service"},
              {"covenant", "covenant"},
              {"records_deleted", "records deleted"},
              {"batches_deleted", "batches deleted"}});
  PrintTable("Keys destroyed", report["key_destructions"],
             {{"time", "time"},
              {"service", "service"},
              {"covenant", "covenant"},
              {"officer", "officer"},
              {"reason", "reason"},
              {"keys_destroyed", "keys destroyed"}});
  PrintTable("Other refused operations", report["refused_operations"],
             {{"time", "time"},
              {"service", "service"},
              {"covenant", "covenant"},
              {"actor", "by"},
              {"operation", "operation"},
              {"rule", "rule"},
              {"reason", "reason"}});
  PrintTable(
      "Refusals by rule", report["refusals_by_rule"],
      {{"service", "service"}, {"event", "event"}, {"rule", "rule"}, {"refusals", "refusals"}});
  OrderedJson others = OrderedJson::array();
  for (const OrderedJson& row : report["other_events"]) {
    OrderedJson flat = row;
    flat["details"] = row["details"].dump();
    others.push_back(std::move(flat));
  }
  PrintTable("Other events", others,
             {{"time", "time"},
              {"service", "service"},
              {"event", "event"},
              {"actor", "actor"},
              {"covenant", "covenant"},
              {"details", "details"}});
}

struct ReportFlags {
  std::vector<std::string> logs;
  std::vector<std::string> signer_keys;
  std::string format = "text";
};

int RunReport(const ReportFlags& f) {
  if (!f.signer_keys.empty() && f.signer_keys.size() != f.logs.size()) {
    return Fail(kExitUsage,
                fmt::format("{} --log but {} --signer-key", f.logs.size(), f.signer_keys.size()),
                "give one --signer-key per --log, in the same order (- for a log whose key you "
                "do not have), or none");
  }
  ReportBuilder builder;
  for (size_t i = 0; i < f.logs.size(); ++i) {
    LogInput log;
    log.file = f.logs[i];
    if (!f.signer_keys.empty() && f.signer_keys[i] != "-") {
      absl::StatusOr<std::string> key = ReadSignerKey(f.signer_keys[i]);
      if (!key.ok()) return Fail(kExitUnreadable, Message(key.status()), kSignerKeyHint);
      log.signer_key = *key;
    }
    absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(log.file, &log.torn_bytes);
    if (!entries.ok()) return Fail(kExitUnreadable, Message(entries.status()));
    log.entries = std::move(*entries);
    builder.AddLog(log);
  }
  const OrderedJson report = builder.Build();
  if (f.format == "json") {
    fmt::print("{}\n", report.dump(2));
  } else {
    PrintText(report);
  }
  if (builder.any_tampered()) {
    fmt::print(stderr, "koppel: error: a log failed verification (see the report)\n");
    fmt::print(stderr, "koppel: {}\n", kTamperedHint);
    return kExitTampered;
  }
  return kExitOk;
}

void AddReport(CLI::App* audit, ReportFlags* f) {
  CLI::App* report = audit->add_subcommand(
      "report",
      "a plain report of one or more audit logs for a privacy officer: covenants "
      "loaded, keys issued, deliveries, queries, releases, deletions");
  report->add_option("--log", f->logs, "an audit log; repeat for the linker's and the vault's")
      ->required();
  report->add_option("--signer-key", f->signer_keys,
                     "the signer's public key file per --log, in the same order (- to skip "
                     "one); without it a log is only checked against the key it names itself");
  report->add_option("--format", f->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  report->footer(ExitCodesFooter(
      kExitCodes, {kExitOk, kExitUsage, kExitUnreadable, kExitTampered, kExitOther}));
}

}  // namespace

Command AddAuditCommand(CLI::App* app) {
  CLI::App* audit = app->add_subcommand(
      "audit", "verify the services' tamper-evident audit logs and report what they record");
  audit->require_subcommand(1);
  audit->footer(ExitCodesFooter(kExitCodes,
                                {kExitOk, kExitUsage, kExitUnreadable, kExitTampered, kExitOther},
                                "Each audit command's --help lists the codes it can return."));
  auto verify = std::make_shared<VerifyFlags>();
  auto report = std::make_shared<ReportFlags>();
  AddVerify(audit, verify.get());
  AddReport(audit, report.get());
  return {audit, [audit, verify, report] {
            if (audit->got_subcommand("verify")) return RunVerify(*verify);
            if (audit->got_subcommand("report")) return RunReport(*report);
            return static_cast<int>(kExitUsage);
          }};
}

}  // namespace koppel
