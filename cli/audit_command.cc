// `koppel audit`: what a privacy officer does with the services' audit logs. `verify` checks one
// log's chain and signatures against the signer's public key; `report` turns the linker's and
// the vault's logs into a plain account of who delivered what, which keys were issued, which
// queries ran, what was released and what was deleted (docs/audit.md), as text, JSON or an
// HTML document (cli/audit_report.h, cli/audit_html.h).
#include <fmt/format.h>
#include <sodium.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/audit_html.h"
#include "cli/audit_report.h"
#include "cli/cli_errors.h"
#include "cli/command.h"
#include "cli/html_document.h"
#include "cli/output_file.h"
#include "core/atomic_file.h"
#include "core/audit_log.h"
#include "core/exit_codes.h"
#include "core/key_file.h"

namespace koppel {
namespace {

enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,
  kExitUsage = 2,
  kExitUnreadable = 3,  // a log or key file cannot be read, or a line is not an audit entry
  kExitOutput = 4,      // --out cannot be written
  kExitTampered = 5,    // a log failed verification
};

// What each exit code means; each audit command's --help lists the ones it can return.
constexpr ExitCodeMeaning kExitCodes[] = {
    {kExitOk, "success: every log is intact"},
    {kExitOther, "anything else"},
    {kExitUsage, "usage: bad or missing flags or flag values"},
    {kExitUnreadable,
     "a log or key file cannot be read, or a line is not an audit entry (no report is printed)"},
    {kExitOutput,
     "the --out file cannot be written or is one of the inputs (a --log or --signer-key)"},
    {kExitTampered, "a log was tampered with (the message or the report says which and where)"},
};

// A status's message for the terminal: it may quote a log (a named key, a line), so control
// characters are dropped.
std::string Message(const absl::Status& status) { return PlainText(std::string(status.message())); }

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

struct ReportFlags {
  std::vector<std::string> logs;
  std::vector<std::string> signer_keys;
  std::string format = "text";
  std::string out;
};

int RunReport(const ReportFlags& f) {
  if (!f.signer_keys.empty() && f.signer_keys.size() != f.logs.size()) {
    return Fail(kExitUsage,
                fmt::format("{} --log but {} --signer-key", f.logs.size(), f.signer_keys.size()),
                "give one --signer-key per --log, in the same order (- for a log whose key you "
                "do not have), or none");
  }
  if (!f.out.empty()) {
    std::vector<CommandInput> inputs;
    for (const std::string& log : f.logs) inputs.push_back({.path = log, .flag = "--log"});
    for (const std::string& key : f.signer_keys) {
      inputs.push_back({.path = key, .flag = "--signer-key"});
    }
    if (absl::Status s = CheckOutputIsNoInput(f.out, inputs); !s.ok()) {
      return Fail(kExitOutput, Message(s), "choose another --out; nothing was written");
    }
  }
  std::vector<AuditLogInput> logs;
  for (size_t i = 0; i < f.logs.size(); ++i) {
    AuditLogInput& log = logs.emplace_back();
    log.file = f.logs[i];
    if (!f.signer_keys.empty() && f.signer_keys[i] != "-") {
      absl::StatusOr<std::string> key = ReadSignerKey(f.signer_keys[i]);
      if (!key.ok()) return Fail(kExitUnreadable, Message(key.status()), kSignerKeyHint);
      log.signer_key = *key;
    }
    absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(log.file, &log.torn_bytes);
    if (!entries.ok()) return Fail(kExitUnreadable, Message(entries.status()));
    log.entries = std::move(*entries);
  }
  const AuditReport report = BuildAuditReport(logs);
  std::string document;
  if (f.format == "json") {
    document = report.json.dump(2) + "\n";
  } else if (f.format == "html") {
    document = AuditReportHtml(report.json);
  } else {
    document = AuditReportText(report.json);
  }
  if (report.any_tampered) {
    // Before anything else can fail: the officer must learn of it even without a report.
    for (const nlohmann::ordered_json& log : report.json["logs"]) {
      const nlohmann::ordered_json& verification = log["verification"];
      if (verification["state"] != "tampered") continue;
      fmt::print(stderr, "koppel: error: {} failed verification: {}\n",
                 AuditCellText("", log["file"]), AuditCellText("", verification["message"]));
    }
    fmt::print(stderr, "koppel: {}\n", kTamperedHint);
  }
  if (f.out.empty()) {
    fmt::print("{}", document);
  } else if (absl::Status s = WriteFileAtomically(f.out, document); !s.ok()) {
    return Fail(kExitOutput, Message(s), "check --out");
  }
  return report.any_tampered ? kExitTampered : kExitOk;
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
  report
      ->add_option("--format", f->format,
                   "text, json, or html: a self-contained document to file and sign off")
      ->check(CLI::IsMember({"text", "json", "html"}))
      ->capture_default_str();
  report->add_option("--out", f->out,
                     "write the report to this file, atomically (default: standard output); "
                     "written even when a log fails verification");
  report->footer(ExitCodesFooter(
      kExitCodes, {kExitOk, kExitUsage, kExitUnreadable, kExitOutput, kExitTampered, kExitOther}));
}

}  // namespace

Command AddAuditCommand(CLI::App* app) {
  CLI::App* audit = app->add_subcommand(
      "audit", "verify the services' tamper-evident audit logs and report what they record");
  audit->require_subcommand(1);
  audit->footer(ExitCodesFooter(
      kExitCodes, {kExitOk, kExitUsage, kExitUnreadable, kExitOutput, kExitTampered, kExitOther},
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
