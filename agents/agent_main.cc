// koppel-agent: runs at a data holder. Checks an export against its mapping, tokenises and
// seals it into an outbox, and offers the token scheme to other implementers (docs/agent.md).
#include <fmt/format.h>
#include <sodium.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <set>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "agents/batch_sealer.h"
#include "agents/certificate_probe.h"
#include "agents/export_scan.h"
#include "agents/flag_asker.h"
#include "agents/init_command.h"
#include "agents/key_epoch_warning.h"
#include "agents/key_rotation_notice.h"
#include "agents/outbox.h"
#include "agents/sender.h"
#include "agents/token_source.h"
#include "core/address.h"
#include "core/bsn.h"
#include "core/certificate_expiry.h"
#include "core/config_file.h"
#include "core/exit_codes.h"
#include "core/hex.h"
#include "core/key_file.h"
#include "core/mapping.h"
#include "core/process_hardening.h"
#include "core/refusal.h"
#include "core/tls.h"
#include "core/token.h"

namespace koppel::agent {
namespace {

// Exit codes, documented in docs/agent.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitRejects = 1,
  kExitUsage = 2,
  kExitIo = 3,
  kExitMapping = 4,
  kExitExport = 5,
  kExitUnreachable = 6,  // send: the linker stayed unreachable; run send again later
  kExitRefused = 7,      // send: the linker refused our certificate or a batch (the message
                         // names the rule)
};

// What each exit code means; a command's --help lists the ones it can return.
constexpr ExitCodeMeaning kExitCodes[] = {
    {kExitOk, "success"},
    {kExitRejects,
     "the export has rejected rows: the command still finishes and reports them; pass "
     "--allow-rejects to get 0"},
    {kExitUsage, "usage: bad or missing flags, or a bad --config file"},
    {kExitIo,
     "a file or key cannot be read or written, or the vault cannot be reached or refuses the "
     "key (the message says which and what to do)"},
    {kExitMapping, "the mapping is invalid or does not fit the command (the message says why)"},
    {kExitExport,
     "the export cannot be read: its bytes do not decode in its encoding, its header is missing "
     "or does not fit the mapping, or more than --max-reject-rate of its rows are rejected; "
     "nothing is sealed or answered"},
    {kExitUnreachable,
     "the linker (or the vault) stayed unreachable: run again, nothing is sent "
     "twice"},
    {kExitRefused,
     "the linker refused (the message names the covenant rule), refused our certificate, or "
     "answered something that does not fit the question"},
};

// How long a refused-certificate probe may take (certificate_probe.h).
constexpr std::chrono::milliseconds kProbeTimeout{3000};

// `status` from a call to `service` at `address`, or the service's refusal of our certificate
// when gRPC saw only an unavailable service.
absl::Status ExplainUnavailable(const absl::Status& status, const std::string& address,
                                const TlsFiles& files, const std::string& service) {
  if (!absl::IsUnavailable(status)) return status;
  absl::Status refused = ProbeClientCertificate(address, files, service, kProbeTimeout);
  return refused.ok() ? status : refused;
}

int Fail(int code, const absl::Status& status, std::string_view hint = {}) {
  fmt::print(stderr, "koppel-agent: error: {}\n", std::string(status.message()));
  if (std::optional<v1::Refusal> refusal = RefusalOf(status)) {
    fmt::print(stderr, "koppel-agent: refused by {}\n", DescribeRefusal(*refusal));
  }
  if (!hint.empty()) fmt::print(stderr, "koppel-agent: {}\n", hint);
  return code;
}

// Reads K_cov, derives the per-kind keys and lets K_cov be wiped on return.
absl::StatusOr<Tokenizer> LoadTokenizer(const std::string& key_file) {
  absl::StatusOr<Secret> key = ReadKeyFile(key_file, kCovenantKeySize);
  if (!key.ok()) return key.status();
  return Tokenizer::Create(*key);
}

struct ScanFlags {
  std::string mapping;
  std::string input;
  std::string format = "text";
  std::string rejects;
  bool allow_rejects = false;
  double max_reject_rate = 5.0;  // percent
  bool quiet = false;
};

void AddScanFlags(CLI::App* cmd, ScanFlags* f) {
  cmd->add_option("--mapping", f->mapping, "mapping file (YAML) describing the export")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--input", f->input, "the CSV export")->required()->check(CLI::ExistingFile);
  cmd->add_option("--format", f->format, "summary format on stdout")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--rejects", f->rejects,
                  "write the reject report (record, line, reason, column, first_line; never "
                  "values) here; duplicate rows are listed too");
  cmd->add_flag("--allow-rejects", f->allow_rejects, "exit 0 even when rows were rejected");
  cmd->add_option("--max-reject-rate", f->max_reject_rate,
                  "stop with exit 5, delivering nothing, when more than this percentage of the "
                  "data rows is rejected, whatever --allow-rejects says (a broken export)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_flag("--quiet", f->quiet, "no progress on stderr");
}

int Scan(const ScanFlags& f, const Mapping& mapping, ValidRowSink* sink, std::string label,
         QualitySummary* summary) {
  std::unique_ptr<RejectReport> report;
  if (!f.rejects.empty()) {
    absl::StatusOr<std::unique_ptr<RejectReport>> created = RejectReport::Create(f.rejects);
    if (!created.ok()) return Fail(kExitIo, created.status());
    report = std::move(*created);
  }
  ScanOptions options;
  options.rejects = report.get();
  options.sink = sink;
  options.progress = !f.quiet;
  options.label = std::move(label);
  options.max_reject_percent = f.max_reject_rate;
  absl::StatusOr<QualitySummary> result = ScanExport(mapping, f.input, options);
  if (!result.ok()) {
    if (absl::IsFailedPrecondition(result.status())) {
      return Fail(kExitExport, result.status());
    }
    return Fail(kExitIo, result.status());
  }
  if (report) {
    if (absl::Status s = report->Close(); !s.ok()) return Fail(kExitIo, s);
  }
  *summary = std::move(*result);
  return kExitOk;
}

void PrintSummary(const QualitySummary& summary, const std::string& format) {
  if (format == "json") {
    fmt::print("{}\n", summary.ToJson().dump(2));
  } else {
    fmt::print("{}", summary.ToText());
  }
}

int FinalCode(const QualitySummary& summary, const ScanFlags& f) {
  if (summary.rejected_total() > 0 && !f.allow_rejects) {
    fmt::print(stderr,
               "koppel-agent: {} row(s) rejected{}; fix them at the source or pass "
               "--allow-rejects\n",
               summary.rejected_total(),
               f.rejects.empty() ? " (use --rejects FILE to list them)" : "");
    return kExitRejects;
  }
  return kExitOk;
}

int RunCheck(const ScanFlags& f) {
  absl::StatusOr<Mapping> mapping = LoadMapping(f.mapping);
  if (!mapping.ok()) {
    return Fail(kExitMapping, mapping.status(),
                "fix the mapping file; docs/agent.md lists its keys");
  }
  QualitySummary summary;
  if (int rc = Scan(f, *mapping, nullptr, "check", &summary); rc != kExitOk) return rc;
  PrintSummary(summary, f.format);
  return FinalCode(summary, f);
}

// Where seal and ask-flags get their tokens: from the vault (mutual TLS as `name` in `pki`) or,
// without a vault, from a local covenant key file.
struct TokenSourceFlags {
  std::string vault;
  std::string pki;
  std::string name;
  std::string covenant_key;
  std::string covenant_id = "local";
  uint32_t key_epoch = 1;
  uint32_t covenant_version = 1;
};

// Prints the error and returns its exit code on failure.
int OpenTokenSource(const TokenSourceFlags& t, std::unique_ptr<TokenSource>* out) {
  if (t.covenant_key.empty() == t.vault.empty()) {
    return Fail(kExitUsage, absl::InvalidArgumentError(
                                "give either --vault (with --pki and --name) or --covenant-key"));
  }
  absl::StatusOr<std::unique_ptr<TokenSource>> tokens;
  if (!t.vault.empty()) {
    if (t.pki.empty() || t.name.empty()) {
      return Fail(kExitUsage, absl::InvalidArgumentError("--vault needs --pki and --name"));
    }
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        MakeChannelCredentials(TlsFiles::FromPkiDir(t.pki, t.name));
    if (!credentials.ok()) return Fail(kExitIo, credentials.status());
    tokens = TokenSourceFromVault(grpc::CreateChannel(t.vault, *credentials), t.covenant_id);
    if (!tokens.ok()) {
      tokens = ExplainUnavailable(tokens.status(), t.vault, TlsFiles::FromPkiDir(t.pki, t.name),
                                  "vault");
    }
  } else {
    tokens = HmacTokenSourceFromKeyFile(t.covenant_key, t.key_epoch);
    if (tokens.ok()) (*tokens)->set_covenant_version(t.covenant_version);
  }
  if (!tokens.ok()) return Fail(kExitIo, tokens.status());
  *out = std::move(*tokens);
  return kExitOk;
}

struct SealFlags {
  std::string covenant_key;
  std::string covenant_id = "local";
  uint32_t key_epoch = 1;
  uint32_t covenant_version = 1;
  std::string linker_public_key;
  std::string signing_key;
  std::string outbox;
  std::string agent;
  size_t batch_size = 10000;
  bool new_run = false;
  std::vector<std::string> fields;
  std::string vault;
  std::string pki;
  std::string name;
};

int RunSeal(const ScanFlags& f, const SealFlags& s) {
  absl::StatusOr<Mapping> mapping = LoadMapping(f.mapping);
  if (!mapping.ok()) {
    return Fail(kExitMapping, mapping.status(),
                "fix the mapping file; docs/agent.md lists its keys");
  }
  // Data minimisation: seal only the fields the covenant grants (none: identifiers only).
  if (!s.fields.empty()) {
    std::vector<AttributeSpec> kept;
    for (const std::string& name : s.fields) {
      if (name == "none") continue;
      auto it = std::find_if(mapping->attributes.begin(), mapping->attributes.end(),
                             [&](const AttributeSpec& a) { return a.name == name; });
      if (it == mapping->attributes.end()) {
        return Fail(kExitUsage,
                    absl::InvalidArgumentError(fmt::format(
                        "--fields names '{}', which the mapping does not define", name)),
                    "give attribute names from the mapping's attributes, or none");
      }
      kept.push_back(*it);
    }
    mapping->attributes = std::move(kept);
  }
  std::unique_ptr<TokenSource> tokens;
  if (int rc = OpenTokenSource({.vault = s.vault,
                                .pki = s.pki,
                                .name = s.name,
                                .covenant_key = s.covenant_key,
                                .covenant_id = s.covenant_id,
                                .key_epoch = s.key_epoch,
                                .covenant_version = s.covenant_version},
                               &tokens);
      rc != kExitOk) {
    return rc;
  }
  if (const std::optional<v1::KeyEpochSchedule>& schedule = tokens->key_schedule()) {
    const std::optional<std::string> notice = KeyRotationNotice(
        s.covenant_id, *schedule,
        OlderEpochSealed(s.outbox, mapping->dataset, s.covenant_id, tokens->key_epoch()));
    if (notice) fmt::print(stderr, "koppel-agent: warning: {}\n", *notice);
  }
  absl::StatusOr<Secret> signing_key = ReadKeyFile(s.signing_key, crypto_sign_SECRETKEYBYTES);
  if (!signing_key.ok()) return Fail(kExitIo, signing_key.status());
  absl::StatusOr<std::vector<uint8_t>> linker_pk =
      ReadPublicKeyFile(s.linker_public_key, crypto_box_PUBLICKEYBYTES);
  if (!linker_pk.ok()) return Fail(kExitIo, linker_pk.status());
  BoxPublicKey linker_key;
  std::copy(linker_pk->begin(), linker_pk->end(), linker_key.begin());
  absl::StatusOr<Outbox> outbox = Outbox::Open(s.outbox);
  if (!outbox.ok()) return Fail(kExitIo, outbox.status());
  // Sealing the same export twice would deliver it twice: refuse unless asked for a new run.
  absl::StatusOr<std::vector<std::string>> runs = outbox->CompletedRuns(mapping->dataset);
  if (!runs.ok()) return Fail(kExitIo, runs.status());
  if (!runs->empty() && !s.new_run) {
    return Fail(kExitIo,
                absl::AlreadyExistsError(
                    fmt::format("outbox {} already holds a sealed run of dataset {} (run {})",
                                s.outbox, mapping->dataset, runs->front())),
                "use a fresh outbox, or pass --new-run if this is a new export to deliver as well");
  }
  absl::StatusOr<size_t> removed = outbox->RemoveIncompleteBatches();
  if (!removed.ok()) return Fail(kExitIo, removed.status());
  if (*removed > 0) {
    fmt::print(stderr, "koppel-agent: removed {} batch(es) of an interrupted earlier run\n",
               *removed);
  }

  SealerConfig config;
  config.covenant_id = s.covenant_id;
  config.batch_size = s.batch_size;
  config.agent = s.agent.empty() ? mapping->dataset : s.agent;
  BatchSealer sealer(*mapping, config, *tokens, linker_key, *signing_key, &*outbox);
  QualitySummary summary;
  if (int rc = Scan(f, *mapping, &sealer, "seal", &summary); rc != kExitOk) {
    // No manifest was written, so the run is not visible; remove its batches as well.
    if (absl::StatusOr<size_t> gone = outbox->RemoveIncompleteBatches(); !gone.ok()) {
      Fail(kExitIo, gone.status());
      fmt::print(stderr,
                 "koppel-agent: no run was sealed, but outbox {} may still hold batches of it "
                 "that no run manifest lists: send ignores them, and the next seal into this "
                 "outbox removes them\n",
                 s.outbox);
    } else {
      fmt::print(stderr, "koppel-agent: nothing was sealed into {}\n", s.outbox);
    }
    return rc;
  }
  if (absl::Status st = sealer.Finish(); !st.ok()) return Fail(kExitIo, st);

  nlohmann::json manifest = summary.ToJson();
  manifest["run_id"] = sealer.run_id();
  manifest["covenant_id"] = config.covenant_id;
  manifest["key_epoch"] = tokens->key_epoch();
  manifest["token_scheme"] = std::string(tokens->scheme());
  manifest["records_sealed"] = sealer.records_sealed();
  manifest["batches"] = sealer.batch_ids();
  if (absl::Status st = outbox->WriteManifest(sealer.run_id(), manifest.dump(2)); !st.ok()) {
    return Fail(kExitIo, st);
  }
  if (f.format == "json") {
    fmt::print("{}\n", manifest.dump(2));
  } else {
    fmt::print("{}sealed      {:>12} records in {} batch(es) to {} (run {})\n", summary.ToText(),
               sealer.records_sealed(), sealer.batch_ids().size(), s.outbox, sealer.run_id());
  }
  return FinalCode(summary, f);
}

struct SendFlags {
  std::string outbox;
  std::string linker = "127.0.0.1:7443";
  std::string pki;
  std::string name;
  std::string linker_signing_key;
  int max_attempts = 20;
  int cert_warn_days = kDefaultCertificateWarnDays;
  bool quiet = false;
  bool no_held_check = false;
  std::string format = "text";
};

// Warns when a dataset this outbox delivered lags behind its covenant's newest key epoch
// (agents/key_epoch_warning.h). Best effort: a linker that does not answer gets no warning.
void WarnOfKeyEpochs(const Outbox& outbox, const std::shared_ptr<grpc::Channel>& channel) {
  absl::StatusOr<std::vector<v1::Receipt>> receipts = outbox.DeliveredReceipts();
  if (!receipts.ok() || receipts->empty()) return;
  std::set<std::pair<std::string, std::string>> delivered;
  for (const v1::Receipt& r : *receipts) delivered.emplace(r.covenant_id(), r.dataset());
  std::unique_ptr<v1::LinkerService::Stub> stub = v1::LinkerService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetStatusResponse status;
  if (!stub->GetStatus(&context, v1::GetStatusRequest(), &status).ok()) return;
  for (const std::string& warning : KeyEpochWarnings(status, delivered)) {
    fmt::print(stderr, "koppel-agent: warning: {}\n", warning);
  }
}

int RunSend(const SendFlags& f) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(TlsFiles::FromPkiDir(f.pki, f.name));
  if (!credentials.ok()) return Fail(kExitIo, credentials.status());
  absl::StatusOr<std::vector<std::string>> expiring =
      CertificateExpiryWarnings(TlsFiles::FromPkiDir(f.pki, f.name), f.cert_warn_days, absl::Now());
  if (!expiring.ok()) return Fail(kExitIo, expiring.status());
  for (const std::string& warning : *expiring) {
    fmt::print(stderr, "koppel-agent: warning: {}\n", warning);
  }
  absl::StatusOr<Outbox> outbox = Outbox::Open(f.outbox);
  if (!outbox.ok()) return Fail(kExitIo, outbox.status());
  SendOptions options;
  options.max_attempts = f.max_attempts;
  options.progress = !f.quiet;
  options.check_held = !f.no_held_check;
  if (!f.linker_signing_key.empty()) {
    absl::StatusOr<std::vector<uint8_t>> pk =
        ReadPublicKeyFile(f.linker_signing_key, crypto_sign_PUBLICKEYBYTES);
    if (!pk.ok()) return Fail(kExitIo, pk.status());
    SigningPublicKey key;
    std::copy(pk->begin(), pk->end(), key.begin());
    options.linker_signing_key = key;
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(80 << 20);
  // Reconnect quickly after a linker restart; our own retry loop paces the attempts. (The
  // minimum reconnect backoff stays at its default: gRPC also uses it as the connect timeout.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // A dead connection is noticed within seconds, not when the kernel gives up.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A private subchannel per attempt: nothing of a connection to a killed linker is reused.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto connect = [&] { return grpc::CreateCustomChannel(f.linker, *credentials, args); };
  options.check_refusal = [&] {
    return ProbeClientCertificate(f.linker, TlsFiles::FromPkiDir(f.pki, f.name), "linker",
                                  kProbeTimeout);
  };
  absl::StatusOr<SendSummary> summary = SendOutbox(*outbox, connect, options);
  if (!summary.ok()) {
    bool unreachable =
        absl::IsUnavailable(summary.status()) || absl::IsDeadlineExceeded(summary.status());
    return Fail(unreachable ? kExitUnreachable : kExitRefused, summary.status());
  }
  WarnOfKeyEpochs(*outbox, connect());
  if (f.format == "json") {
    nlohmann::json j = {{"batches_pending", summary->batches_pending},
                        {"batches_delivered", summary->batches_delivered},
                        {"duplicates", summary->duplicates},
                        {"records_accepted", summary->records_accepted},
                        {"attempts", summary->attempts},
                        {"receipts_checked", summary->receipts_checked},
                        {"held_check_unanswered", summary->held_check_unanswered},
                        {"batches_resent", summary->batches_resent},
                        {"batches_lost", summary->batches_lost}};
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print(
        "delivered {} of {} batch(es), {} records accepted, {} already held, {} attempt(s); "
        "receipts in {}/receipts\n",
        summary->batches_delivered, summary->batches_pending, summary->records_accepted,
        summary->duplicates, summary->attempts, f.outbox);
    if (summary->batches_resent > 0) {
      fmt::print(
          "sent again {} batch(es) the linker no longer held; their old receipts are in "
          "{}/receipts.orphaned\n",
          summary->batches_resent, f.outbox);
    }
  }
  return kExitOk;
}

// ask-flags: the holder's side of a purpose-bound release (docs/agent.md, "Purpose-bound
// release: who else is involved").
struct AskFlagsFlags {
  ScanFlags scan;
  TokenSourceFlags tokens;
  std::string release;
  std::vector<std::string> flags;
  std::string linker = "127.0.0.1:7443";
  std::string out;
  size_t chunk_size = 10000;
};

CLI::App* AddAskFlagsCommand(CLI::App* app, AskFlagsFlags* a) {
  CLI::App* cmd = app->add_subcommand(
      "ask-flags",
      "purpose-bound release: ask the linker, for the records this holder delivered, which of "
      "the flags its covenant allows hold (e.g. known_at_jeugdzorg); writes yes/no per row "
      "number, never an identifier");
  AddScanFlags(cmd, &a->scan);
  cmd->add_option("--vault", a->tokens.vault,
                  "vault address host:port: the covenant key or the OPRF comes from the vault");
  cmd->add_option("--covenant-key", a->tokens.covenant_key,
                  "without a vault: file with the covenant key K_cov (hex, mode 600)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--covenant-id", a->tokens.covenant_id, "covenant the release belongs to")
      ->required();
  cmd->add_option("--release", a->release, "the release's name in the covenant")->required();
  cmd->add_option("--flags", a->flags,
                  "flags to ask, comma-separated (default: every flag the release allows)")
      ->delimiter(',');
  cmd->add_option("--linker", a->linker, "linker address, host:port");
  cmd->add_option("--pki", a->tokens.pki, "directory made by scripts/pki")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--name", a->tokens.name, "this agent's certificate name in --pki")->required();
  cmd->add_option("--out", a->out,
                  "CSV with the answers: row,delivered,<flag>... (yes/no per export row number)")
      ->required();
  cmd->add_option("--chunk-size", a->chunk_size, "tokens per question to the linker")
      ->check(CLI::Range(size_t{1}, size_t{10000}));
  cmd->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitRejects, kExitUsage, kExitIo, kExitMapping,
                                           kExitExport, kExitUnreachable, kExitRefused}));
  return cmd;
}

// Scan() prints a sink's error; the exit code depends on what the linker said.
class AskingSink final : public ValidRowSink {
 public:
  AskingSink(FlagAsker* asker, std::function<absl::Status(const absl::Status&)> explain)
      : asker_(asker), explain_(std::move(explain)) {}
  absl::Status Accept(JudgedRow* row) override {
    error_ = asker_->Accept(row);
    if (!error_.ok()) error_ = explain_(error_);
    return error_;
  }
  const absl::Status& error() const { return error_; }

 private:
  FlagAsker* asker_;
  std::function<absl::Status(const absl::Status&)> explain_;
  absl::Status error_;
};

int LinkerExitCode(const absl::Status& status) {
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) return kExitUnreachable;
  if (absl::IsPermissionDenied(status) || absl::IsInvalidArgument(status) ||
      absl::IsFailedPrecondition(status) || absl::IsDataLoss(status) ||
      absl::IsUnauthenticated(status) || absl::IsResourceExhausted(status) ||
      absl::IsNotFound(status)) {
    return kExitRefused;
  }
  return kExitIo;
}

int RunAskFlags(const AskFlagsFlags& a) {
  absl::StatusOr<Mapping> mapping = LoadMapping(a.scan.mapping);
  if (!mapping.ok()) {
    return Fail(kExitMapping, mapping.status(),
                "fix the mapping file; docs/agent.md lists its keys");
  }
  if (!mapping->bsn_column) {
    return Fail(kExitMapping,
                absl::FailedPreconditionError(fmt::format(
                    "mapping {} maps no BSN column, and a purpose-bound release asks by BSN",
                    a.scan.mapping)),
                "use the mapping of the dataset the release names");
  }
  std::unique_ptr<TokenSource> tokens;
  if (int rc = OpenTokenSource(a.tokens, &tokens); rc != kExitOk) return rc;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(TlsFiles::FromPkiDir(a.tokens.pki, a.tokens.name));
  if (!credentials.ok()) return Fail(kExitIo, credentials.status());
  std::unique_ptr<v1::LinkerService::Stub> linker =
      v1::LinkerService::NewStub(grpc::CreateChannel(a.linker, *credentials));

  FlagAskConfig config;
  config.covenant_id = a.tokens.covenant_id;
  config.release = a.release;
  config.flags = a.flags;
  config.chunk_size = a.chunk_size;
  FlagAsker asker(*tokens, *linker, config);
  auto explain = [&](const absl::Status& status) {
    return ExplainUnavailable(status, a.linker, TlsFiles::FromPkiDir(a.tokens.pki, a.tokens.name),
                              "linker");
  };
  AskingSink sink(&asker, explain);
  // The row numbers of the answers come from the reject report: keep one even when not asked.
  ScanFlags scan = a.scan;
  if (scan.rejects.empty()) scan.rejects = a.out + ".rejects.tmp";
  absl::Cleanup remove_rejects = [&] {
    if (a.scan.rejects.empty()) {
      std::error_code ignored;
      std::filesystem::remove(scan.rejects, ignored);
    }
  };
  QualitySummary summary;
  if (int rc = Scan(scan, *mapping, &sink, "ask-flags", &summary); rc != kExitOk) {
    return sink.error().ok() ? rc : LinkerExitCode(sink.error());
  }
  if (absl::Status st = asker.Finish(); !st.ok()) {
    st = explain(st);
    return Fail(LinkerExitCode(st), st);
  }
  absl::StatusOr<std::vector<uint64_t>> rows = AcceptedRowNumbers(summary.rows, scan.rejects);
  if (!rows.ok()) return Fail(kExitIo, rows.status());
  if (absl::Status st = asker.WriteAnswers(*rows, a.out); !st.ok()) return Fail(kExitIo, st);

  const FlagAskSummary& asked = asker.summary();
  if (a.scan.format == "json") {
    nlohmann::json j = summary.ToJson();
    j["release"] = a.release;
    j["covenant_id"] = a.tokens.covenant_id;
    j["answers"] = a.out;
    j["asked"] = asked.ToJson();
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{}{}answers in {} (release {} of covenant {}{})\n", summary.ToText(),
               asked.ToText(), a.out, a.release, a.tokens.covenant_id,
               asked.asked == 0 ? "" : fmt::format(" version {}", asked.covenant_version));
  }
  return FinalCode(summary, a.scan);
}

int RunToken(const std::string& kind_name, const std::string& key_file) {
  std::optional<IdentifierKind> kind = IdentifierKindFromName(kind_name);
  absl::StatusOr<Tokenizer> tokenizer = LoadTokenizer(key_file);
  if (!tokenizer.ok()) return Fail(kExitIo, tokenizer.status());
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    RejectReason reason;
    std::string canonical;
    if (*kind == IdentifierKind::kBsn) {
      BsnResult r = ParseBsn(line);
      reason = r.reason;
      if (r.ok()) canonical = r.view();
    } else {
      size_t split = line.find(';');
      AddressResult r = split == std::string::npos
                            ? ParseAddress(line, "")
                            : ParseAddress(std::string_view(line).substr(0, split),
                                           std::string_view(line).substr(split + 1));
      reason = r.reason;
      if (r.ok()) canonical = r.view();
    }
    if (reason != RejectReason::kNone) {
      fmt::print("error\t{}\n", RejectReasonName(reason));
    } else {
      fmt::print("{}\t{}\n", canonical, ToHex(tokenizer->Tokenize(*kind, canonical)));
    }
    sodium_memzero(line.data(), line.size());
  }
  std::fflush(stdout);
  return kExitOk;
}

int RunKeygen(const std::string& type, const std::string& out) {
  if (absl::Status s = EnsureSodium(); !s.ok()) return Fail(kExitIo, s);
  absl::Status status;
  if (type == "covenant") {
    absl::StatusOr<Secret> key = Secret::Random(kCovenantKeySize);
    status = key.ok() ? WriteKeyFile(out, *key) : key.status();
  } else {
    const bool box = type == "linker-box";
    size_t sk_size = box ? crypto_box_SECRETKEYBYTES : crypto_sign_SECRETKEYBYTES;
    std::vector<uint8_t> pk(box ? crypto_box_PUBLICKEYBYTES : crypto_sign_PUBLICKEYBYTES);
    absl::StatusOr<Secret> sk = Secret::Allocate(sk_size);
    if (!sk.ok()) return Fail(kExitIo, sk.status());
    if (box) {
      crypto_box_keypair(pk.data(), sk->mutable_data());
    } else {
      crypto_sign_keypair(pk.data(), sk->mutable_data());
    }
    sk->Seal();
    status = WriteKeyFile(out, *sk);
    if (status.ok()) status = WritePublicKeyFile(out + ".pub", pk);
  }
  if (!status.ok()) return Fail(kExitIo, status);
  fmt::print(stderr, "koppel-agent: wrote {} key to {}{}\n", type, out,
             type == "covenant" ? "" : fmt::format(" and {}.pub", out));
  return kExitOk;
}

// init: drafts a mapping from an export (docs/agent.md, "Drafting a mapping: init").
CLI::App* AddInitCommand(CLI::App* app, InitOptions* o) {
  CLI::App* cmd = app->add_subcommand(
      "init",
      "draft the mapping of an export from its contents: encoding, CSV dialect, the BSN "
      "and address columns, and each column's type (never writes an identifier value)");
  cmd->add_option("--input", o->input, "the CSV export")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out, "where to write the drafted mapping (YAML)")->required();
  cmd->add_option("--dataset", o->dataset,
                  "dataset name in the mapping (default: from the export's file name)");
  cmd->add_option("--min-cell", o->min_cell,
                  "list a category code only when it occurs at least this often")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000000}));
  cmd->add_flag("--force", o->force, "overwrite --out");
  cmd->add_flag(
      "--quiet", [o](int64_t) { o->progress = false; }, "no progress on stderr");
  cmd->footer(
      ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo, kExitMapping, kExitExport}));
  return cmd;
}

int RunInit(const InitOptions& o) {
  if (!o.dataset.empty()) {
    if (absl::Status s = CheckDatasetName(o.dataset); !s.ok()) return Fail(kExitUsage, s);
  }
  absl::StatusOr<InitResult> result = DraftMappingFile(o);
  if (!result.ok()) {
    const absl::Status& s = result.status();
    if (absl::IsFailedPrecondition(s)) return Fail(kExitExport, s);
    if (absl::IsInternal(s)) return Fail(kExitMapping, s);
    return Fail(kExitIo, s);
  }
  fmt::print(
      "drafted mapping of dataset {} from {} records ({}) in {}; check it, then run "
      "koppel-agent check --mapping {} --input {}\n",
      result->dataset, result->records, result->encoding, o.out.string(), o.out.string(),
      o.input.string());
  return kExitOk;
}

int Main(int argc, char** argv) {
  DisableCoreDumps();  // its memory holds plaintext rows of the export
  CLI::App app{
      "koppel-agent: check, tokenise and seal a data holder's export for koppel.\n"
      "Plaintext BSNs and addresses never leave this process. See docs/agent.md."};
  app.require_subcommand(1);
  app.footer(ExitCodesFooter(kExitCodes,
                             {kExitOk, kExitRejects, kExitUsage, kExitIo, kExitMapping, kExitExport,
                              kExitUnreachable, kExitRefused},
                             "Each command's --help lists the codes it can return."));

  ScanFlags check_flags;
  CLI::App* check = app.add_subcommand(
      "check", "dry run: print the data-quality summary of an export (never an identifier)");
  AddScanFlags(check, &check_flags);
  check->footer(ExitCodesFooter(
      kExitCodes, {kExitOk, kExitRejects, kExitUsage, kExitIo, kExitMapping, kExitExport}));

  ScanFlags seal_flags;
  SealFlags seal;
  CLI::App* seal_cmd =
      app.add_subcommand("seal", "tokenise an export and write sealed, signed batches");
  AddScanFlags(seal_cmd, &seal_flags);
  seal_cmd->add_option("--vault", seal.vault,
                       "vault address host:port: the covenant key (HMAC mode) or the OPRF "
                       "(hardened mode) comes from the vault");
  seal_cmd->add_option("--pki", seal.pki, "directory made by scripts/pki (with --vault)");
  seal_cmd->add_option("--name", seal.name, "this agent's certificate name (with --vault)");
  seal_cmd
      ->add_option("--covenant-key", seal.covenant_key,
                   "without a vault: file with the covenant key K_cov (hex, mode 600)")
      ->check(CLI::ExistingFile);
  seal_cmd
      ->add_option("--linker-public-key", seal.linker_public_key,
                   "file with the linker's X25519 public key (hex)")
      ->required()
      ->check(CLI::ExistingFile);
  seal_cmd
      ->add_option("--signing-key", seal.signing_key,
                   "file with this agent's Ed25519 secret key (hex, mode 600)")
      ->required()
      ->check(CLI::ExistingFile);
  seal_cmd->add_option("--outbox", seal.outbox, "directory for the sealed batches")->required();
  seal_cmd->add_option("--covenant-id", seal.covenant_id, "covenant the batches are sealed under");
  seal_cmd->add_option("--key-epoch", seal.key_epoch, "key epoch of --covenant-key");
  seal_cmd
      ->add_option("--fields", seal.fields,
                   "seal only these attributes of the mapping (comma-separated; `none`: the "
                   "identifiers only), as the covenant grants them")
      ->delimiter(',');
  seal_cmd->add_option("--covenant-version", seal.covenant_version,
                       "covenant version of --covenant-key (with --vault, the vault says)");
  seal_cmd->add_option("--agent", seal.agent, "name of this agent (default: the dataset)");
  seal_cmd->add_flag("--new-run", seal.new_run,
                     "seal even though the outbox already holds a run of this dataset");
  seal_cmd->add_option("--batch-size", seal.batch_size, "records per sealed batch")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  seal_cmd->footer(ExitCodesFooter(
      kExitCodes, {kExitOk, kExitRejects, kExitUsage, kExitIo, kExitMapping, kExitExport}));

  SendFlags send;
  CLI::App* send_cmd = app.add_subcommand(
      "send",
      "deliver the outbox's sealed batches to the linker over mutual TLS; resumes where "
      "an earlier send stopped, and keeps the signed receipts");
  send_cmd->add_option("--outbox", send.outbox, "the outbox seal wrote")
      ->required()
      ->check(CLI::ExistingDirectory);
  send_cmd->add_option("--linker", send.linker, "linker address, host:port");
  send_cmd->add_option("--pki", send.pki, "directory made by scripts/pki")
      ->required()
      ->check(CLI::ExistingDirectory);
  send_cmd->add_option("--name", send.name, "this agent's certificate name in --pki")->required();
  send_cmd->add_option("--linker-signing-key", send.linker_signing_key,
                       "accept only receipts signed by this key (hex public key file)");
  send_cmd->add_option("--max-attempts", send.max_attempts, "connection attempts before giving up")
      ->check(CLI::Range(1, 1000));
  send_cmd
      ->add_option("--cert-warn-days", send.cert_warn_days,
                   "warn when this agent's certificate or the CA's expires within this many days "
                   "(0: never)")
      ->check(CLI::Range(0, 3650));
  send_cmd->add_option("--format", send.format, "summary format")
      ->check(CLI::IsMember({"text", "json"}));
  send_cmd->add_flag("--quiet", send.quiet, "no progress on stderr");
  send_cmd->add_flag("--no-held-check", send.no_held_check,
                     "do not ask the linker first which delivered batches it no longer holds "
                     "(after a restore from a backup) to send them again; one call per 10,000 "
                     "receipts");
  send_cmd->footer(
      ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo, kExitUnreachable, kExitRefused}));

  std::string kind;
  std::string key_file;
  CLI::App* token = app.add_subcommand(
      "token",
      "interop: read one input per line on stdin (address lines are postcode;house) and print "
      "canonical<TAB>token_hex or error<TAB>reason");
  token->add_option("--kind", kind, "bsn or address")
      ->required()
      ->check(CLI::IsMember({"bsn", "address"}));
  token->add_option("--key-file", key_file, "file with the 32-byte covenant key in hex")
      ->required()
      ->check(CLI::ExistingFile);
  token->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo}));

  std::string key_type;
  std::string key_out;
  CLI::App* keygen = app.add_subcommand(
      "keygen",
      "create a key file: a covenant key, the linker's box key pair or a signing key "
      "pair (PATH and PATH.pub); for local use until the vault issues keys");
  keygen->add_option("--type", key_type, "covenant, linker-box or signing")
      ->required()
      ->check(CLI::IsMember({"covenant", "linker-box", "signing"}));
  keygen->add_option("--out", key_out, "path of the secret key file (created with mode 600)")
      ->required();
  keygen->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo}));

  AskFlagsFlags ask;
  CLI::App* ask_cmd = AddAskFlagsCommand(&app, &ask);

  InitOptions init;
  CLI::App* init_cmd = AddInitCommand(&app, &init);
  // One file per dataset (e.g. /etc/koppel/agent-uwv.yaml) for seal and send.
  AddConfigFileOption(&app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (absl::Status s = EnsureSodium(); !s.ok()) return Fail(kExitIo, s);
  if (check->parsed()) return RunCheck(check_flags);
  if (seal_cmd->parsed()) return RunSeal(seal_flags, seal);
  if (token->parsed()) return RunToken(kind, key_file);
  if (send_cmd->parsed()) return RunSend(send);
  if (keygen->parsed()) return RunKeygen(key_type, key_out);
  if (ask_cmd->parsed()) return RunAskFlags(ask);
  if (init_cmd->parsed()) return RunInit(init);
  return kExitUsage;
}

}  // namespace
}  // namespace koppel::agent

int main(int argc, char** argv) { return koppel::agent::Main(argc, argv); }
