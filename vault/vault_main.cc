// koppel-vault: custody of the covenants' keys. Issues HMAC-mode keys to the data holders a
// covenant lists, or evaluates the OPRF for them in hardened mode, over mutual TLS; destroys a
// covenant's keys when it ends. Everything it does goes to its audit log.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "absl/strings/str_join.h"
#include "core/audit_log.h"
#include "core/certificate_expiry.h"
#include "core/config_file.h"
#include "core/exit_codes.h"
#include "core/json_log.h"
#include "core/key_file.h"
#include "core/metrics_server.h"
#include "core/periodic_task.h"
#include "core/process_hardening.h"
#include "core/served_certificates.h"
#include "core/service_metrics.h"
#include "core/service_runner.h"
#include "core/tls.h"
#include "policies/covenant_ledger.h"
#include "policies/covenant_plan.h"
#include "vault/key_store.h"
#include "vault/vault_backup.h"
#include "vault/vault_service.h"

namespace koppel::vault {
namespace {

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,
  kExitIo = 3,
  kExitConfig = 4,
  kExitCertificate = 5,
  kExitBadBackup = 6,
  kExitRunning = 7,
};

// What each exit code means; a command's --help lists the ones it can return.
constexpr ExitCodeMeaning kExitCodes[] = {
    {kExitOk, "success"},
    {kExitUsage, "usage: bad or missing flags, or a bad --config file"},
    {kExitIo,
     "a file, a key, the master key or passphrase, the audit log or the network failed (the "
     "message names it)"},
    {kExitConfig,
     "a covenant is not valid (the message names the rule); rotate: the covenant has ended and "
     "its keys are destroyed"},
    {kExitCertificate,
     "the vault's certificate or the CA's has expired or is not valid yet (the message names the "
     "file and the date)"},
    {kExitBadBackup,
     "the backup is damaged, altered or no vault backup (the message names the file); nothing "
     "was restored"},
    {kExitRunning, "a vault is running on --dir: stop it first"},
};

int Fail(int code, const absl::Status& status) {
  fmt::print(stderr, "koppel-vault: error: {}\n", std::string(status.message()));
  return code;
}

// The master key from --master-key FILE, else stretched from the passphrase in
// --passphrase-file FILE (systemd: LoadCredential=), else in KOPPEL_VAULT_PASSPHRASE (taken out
// of the environment whichever is used).
absl::StatusOr<Secret> MasterKey(const std::string& dir, const std::string& key_file,
                                 const std::string& passphrase_file) {
  absl::StatusOr<std::optional<Secret>> passphrase =
      TakeSecretFromEnvironment("KOPPEL_VAULT_PASSPHRASE");
  if (!passphrase.ok()) return passphrase.status();
  if (!key_file.empty()) return ReadKeyFile(key_file, 32);
  if (!passphrase_file.empty()) {
    absl::StatusOr<Secret> from_file = ReadPassphraseFile(passphrase_file);
    if (!from_file.ok()) return from_file.status();
    passphrase->emplace(std::move(*from_file));
  }
  if (!passphrase->has_value()) {
    return absl::InvalidArgumentError(
        "give --master-key FILE (made by `koppel-vault keygen`), --passphrase-file FILE or set "
        "KOPPEL_VAULT_PASSPHRASE");
  }
  const Secret& phrase = **passphrase;
  return KeyStore::MasterKeyFromPassphrase(
      dir, std::string_view(reinterpret_cast<const char*>(phrase.data()), phrase.size()));
}

struct ServeFlags {
  std::string listen{"127.0.0.1:7444"};
  std::string pki;
  std::string name{"vault"};
  std::string dir;
  std::vector<std::string> covenants;
  std::string key_file;
  std::string passphrase_file;
  std::string port_file;
  std::string metrics_listen;  // empty: no metrics endpoint
  std::string log_format{"text"};
  int retention_check_seconds = 60;
  int rotation_check_seconds = 3600;
  int cert_warn_days = kDefaultCertificateWarnDays;
  bool check_config = false;
};

int Serve(const ServeFlags& f) {
  const sigset_t stop_signals = BlockStopSignals();  // before any thread exists
  if (absl::Status s = SetLogFormat(f.log_format); !s.ok()) return Fail(kExitUsage, s);
  HardenServiceProcess("koppel-vault");
  if (absl::Status s = CheckMetricsAddress(f.metrics_listen, f.listen); !s.ok()) {
    return Fail(kExitUsage, s);
  }
  const TlsFiles tls = TlsFiles::FromPkiDir(f.pki, f.name);
  if (absl::Status s = LogCertificateExpiry(tls, f.cert_warn_days); !s.ok()) {
    return Fail(absl::IsFailedPrecondition(s) ? kExitCertificate : kExitIo, s);
  }
  absl::StatusOr<Secret> master = MasterKey(f.dir, f.key_file, f.passphrase_file);
  if (!master.ok()) return Fail(kExitIo, master.status());
  absl::StatusOr<std::unique_ptr<KeyStore>> store = KeyStore::Open(f.dir, std::move(*master));
  if (!store.ok()) return Fail(kExitIo, store.status());
  const std::filesystem::path dir(f.dir);
  absl::StatusOr<Secret> audit_key = (*store)->AuditSigningKey();
  if (!audit_key.ok()) return Fail(kExitIo, audit_key.status());
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> audit_public;
  crypto_sign_ed25519_sk_to_pk(audit_public.data(), audit_key->data());
  if (!std::filesystem::exists(dir / "audit-signing.key.pub")) {
    if (absl::Status s = WritePublicKeyFile(dir / "audit-signing.key.pub", audit_public); !s.ok()) {
      return Fail(kExitIo, s);
    }
  }
  const bool first_start = !std::filesystem::exists(dir / "audit.log");
  absl::StatusOr<std::unique_ptr<AuditLog>> audit =
      AuditLog::Open(dir / "audit.log", *audit_key, "vault");
  if (!audit.ok()) return Fail(kExitIo, audit.status());
  absl::StatusOr<std::unique_ptr<policy::CovenantLedger>> ledger =
      policy::CovenantLedger::Open(dir / "covenants.json", first_start);
  if (!ledger.ok()) return Fail(kExitIo, ledger.status());
  std::vector<std::filesystem::path> files(f.covenants.begin(), f.covenants.end());
  absl::StatusOr<policy::CovenantPlan> plan =
      policy::PlanCovenants(files, ledger->get(), absl::Now());
  if (!plan.ok()) return Fail(kExitConfig, plan.status());
  for (const std::string& note : plan->notes) spdlog::info("{}", note);
  absl::StatusOr<std::unique_ptr<ServedCertificates>> certificates =
      ServedCertificates::Load("vault", tls, f.cert_warn_days);
  if (!certificates.ok()) return Fail(kExitIo, certificates.status());

  VaultService service(store->get(), ledger->get(), audit->get());
  // Keys of covenants that ended but survived a crash mid-destruction go now.
  for (const std::string& id : (*ledger)->PendingDeletion()) {
    absl::StatusOr<uint64_t> destroyed = service.End(
        id, "key_destruction", "vault", "finishing an interrupted destruction", absl::Now());
    if (!destroyed.ok()) return Fail(kExitIo, destroyed.status());
  }
  for (const policy::SignedCovenant& ended : plan->end) {
    absl::StatusOr<uint64_t> destroyed = service.End(ended.covenant.id, "key_destruction", "vault",
                                                     "retention period over", absl::Now());
    if (!destroyed.ok()) return Fail(kExitIo, destroyed.status());
  }
  for (policy::SignedCovenant& signed_covenant : plan->serve) {
    const policy::Covenant& c = signed_covenant.covenant;
    absl::StatusOr<uint32_t> epoch = (*store)->CurrentEpoch(c.id);
    if (!epoch.ok()) return Fail(kExitIo, epoch.status());
    absl::StatusOr<const Secret*> probe = (*store)->Key(c.id, *epoch);
    if (!probe.ok()) return Fail(kExitIo, probe.status());
    absl::Status in_force = c.InForce(absl::Now());
    const std::string state = in_force.ok() ? "in force" : std::string(in_force.message());
    if (absl::Status s = (*audit)->Append("covenant_load", f.name, c.id,
                                          {{"version", c.version},
                                           {"sha256", signed_covenant.sha256},
                                           {"state", state},
                                           {"token_mode", c.token_mode},
                                           {"epoch", *epoch}});
        !s.ok()) {
      return Fail(kExitIo, s);
    }
    spdlog::info("koppel-vault serving covenant {} version {} ({} mode, key epoch {}; {})", c.id,
                 c.version, c.token_mode, *epoch, state);
    service.Serve(std::move(signed_covenant));
  }
  // The quota holds across restarts: what the audit log records as evaluated within the
  // covenant's quota window counts again.
  absl::StatusOr<std::vector<AuditEntry>> audited = ReadAuditLog(dir / "audit.log");
  if (!audited.ok()) return Fail(kExitIo, audited.status());
  service.CountAuditedOprfEvaluations(*audited, absl::Now());
  audited->clear();
  // Epochs that came due while the vault was stopped rotate before the first request.
  service.RotateDue(absl::Now());
  std::unique_ptr<MetricsServer> metrics;  // stops before what it reports on goes
  if (!f.metrics_listen.empty()) {
    RegisterServiceMetrics(MetricsRegistry::Default(), "vault",
                           [served = certificates->get()] { return served->not_after(); });
    service.RegisterKeyEpochMetrics(MetricsRegistry::Default());
    absl::StatusOr<std::unique_ptr<MetricsServer>> started =
        MetricsServer::Start(f.metrics_listen, &MetricsRegistry::Default());
    if (!started.ok()) return Fail(kExitIo, started.status());
    metrics = *std::move(started);
    spdlog::info("koppel-vault serving metrics on http://{}/metrics (port {})", f.metrics_listen,
                 metrics->port());
  }
  absl::Status outcome;
  {
    PeriodicTask retention(std::chrono::seconds(f.retention_check_seconds),
                           [&service] { service.EndExpired(absl::Now()); });
    PeriodicTask rotation(std::chrono::seconds(f.rotation_check_seconds),
                          [&service] { service.RotateDue(absl::Now()); });
    PeriodicTask expiry(std::chrono::hours(24),
                        [served = certificates->get()] { served->LogExpiry(); });
    ServiceOptions options;
    options.name = "koppel-vault";
    options.grpc_service = v1::VaultService::service_full_name();
    options.listen = f.listen;
    options.port_file = f.port_file;
    (*certificates)->HandleReloads(&options);
    outcome =
        ServeUntilStopped(&service, (*certificates)->ServerCredentials(), options, stop_signals);
  }
  if (!outcome.ok()) return Fail(kExitIo, outcome);
  spdlog::info("koppel-vault stopped");
  return kExitOk;
}

// --check-config: reads what a start reads (certificates, the master key or passphrase file,
// every covenant and its signatures) and starts nothing: no key is unsealed or written, no port
// bound. The ledger's checks (an older version than one served before) happen at the real start.
int CheckConfig(const ServeFlags& f) {
  if (absl::Status s = CheckMetricsAddress(f.metrics_listen, f.listen); !s.ok()) {
    return Fail(kExitUsage, s);
  }
  const TlsFiles tls = TlsFiles::FromPkiDir(f.pki, f.name);
  if (absl::Status s = LogCertificateExpiry(tls, f.cert_warn_days); !s.ok()) {
    return Fail(absl::IsFailedPrecondition(s) ? kExitCertificate : kExitIo, s);
  }
  if (auto credentials = MakeServerCredentials(tls); !credentials.ok()) {
    return Fail(kExitIo, credentials.status());
  }
  if (!f.key_file.empty()) {
    if (absl::StatusOr<Secret> key = ReadKeyFile(f.key_file, 32); !key.ok()) {
      return Fail(kExitIo, key.status());
    }
  } else if (!f.passphrase_file.empty()) {
    if (absl::StatusOr<Secret> phrase = ReadPassphraseFile(f.passphrase_file); !phrase.ok()) {
      return Fail(kExitIo, phrase.status());
    }
  } else if (std::getenv("KOPPEL_VAULT_PASSPHRASE") == nullptr) {
    return Fail(kExitIo, absl::InvalidArgumentError(
                             "give --master-key FILE (made by `koppel-vault keygen`), "
                             "--passphrase-file FILE or set KOPPEL_VAULT_PASSPHRASE"));
  }
  std::vector<std::filesystem::path> files(f.covenants.begin(), f.covenants.end());
  absl::StatusOr<policy::CovenantPlan> plan = policy::PlanCovenants(files, nullptr, absl::Now());
  if (!plan.ok()) return Fail(kExitConfig, plan.status());
  const policy::PlanSummary summary = policy::SummarizeForCheck(*plan, "its keys destroyed");
  fmt::print("koppel-vault: configuration OK: listen {}, dir {}, {}\n", f.listen, f.dir,
             summary.serves);
  for (const std::string& line : summary.lines) fmt::print("koppel-vault: {}\n", line);
  return kExitOk;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "koppel-vault: keeps each covenant's keys and issues them only as the covenant "
      "allows, over mutual TLS."};
  app.require_subcommand(1);
  app.footer(ExitCodesFooter(kExitCodes,
                             {kExitOk, kExitUsage, kExitIo, kExitConfig, kExitCertificate},
                             "Each command's --help lists the codes it can return."));
  ServeFlags f;
  std::string dir, key_file, passphrase_file;
  CLI::App* serve = app.add_subcommand(
      "serve", "run the vault service until SIGTERM (flags may also come from --config FILE)");
  serve->add_option("--listen", f.listen, "address:port (port 0: any free port)");
  serve->add_option("--pki", f.pki, "directory made by scripts/pki")
      ->required()
      ->check(CLI::ExistingDirectory);
  serve->add_option("--name", f.name, "this vault's certificate name in --pki");
  serve->add_option("--dir", f.dir, "the vault's directory (sealed keys, audit log, ledger)")
      ->required();
  serve
      ->add_option("--covenant", f.covenants,
                   "signed covenant file (its signatures in FILE.sig); repeat for several "
                   "covenants or versions: the newest version of each is served")
      ->required()
      ->check(CLI::ExistingFile);
  CLI::Option* serve_key =
      serve->add_option("--master-key", f.key_file,
                        "master key file (mode 600); without it the passphrase of "
                        "--passphrase-file or KOPPEL_VAULT_PASSPHRASE is stretched with Argon2id");
  serve
      ->add_option("--passphrase-file", f.passphrase_file,
                   "file holding the passphrase (mode 600; a final line break is not part of it), "
                   "e.g. $CREDENTIALS_DIRECTORY/passphrase under systemd's LoadCredential=")
      ->excludes(serve_key);
  serve->add_option("--port-file", f.port_file, "write the port listened on to this file");
  serve->add_option("--metrics-listen", f.metrics_listen,
                    "serve Prometheus metrics over plain HTTP at http://ADDRESS:PORT/metrics "
                    "(an IP address; not the --listen address; default: no metrics endpoint)");
  serve
      ->add_option("--log-format", f.log_format,
                   "text: log lines for people; json: one JSON object a line (time, level, "
                   "message)")
      ->check(CLI::IsMember({"text", "json"}));
  serve
      ->add_option("--retention-check-seconds", f.retention_check_seconds,
                   "how often to check for covenants whose retention is over")
      ->check(CLI::Range(1, 86400));
  serve
      ->add_option("--rotation-check-seconds", f.rotation_check_seconds,
                   "how often to check for covenants whose key epoch is as old as their "
                   "key_rotation.period_days (also checked at start)")
      ->check(CLI::Range(1, 86400));
  serve
      ->add_option("--cert-warn-days", f.cert_warn_days,
                   "warn in the log when the vault's certificate or the CA's expires within "
                   "this many days (checked at start and daily; 0: never)")
      ->check(CLI::Range(0, 3650));
  serve->footer(
      ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo, kExitConfig, kExitCertificate}));
  std::string keygen_out;
  CLI::App* keygen = app.add_subcommand("keygen", "create a master key file");
  keygen->add_option("--out", keygen_out, "path of the key file (created with mode 600)")
      ->required();
  keygen->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo}));
  std::string rotate_covenant;
  CLI::App* rotate =
      app.add_subcommand("rotate", "start a new key epoch for a covenant (vault stopped)");
  rotate->add_option("--dir", dir, "the vault's directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  rotate->add_option("--covenant-id", rotate_covenant, "covenant id")->required();
  CLI::Option* rotate_key = rotate->add_option("--master-key", key_file, "master key file");
  rotate->add_option("--passphrase-file", passphrase_file, "file holding the passphrase")
      ->excludes(rotate_key);
  rotate->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo, kExitConfig}));
  std::string backup_to;
  CLI::App* backup = app.add_subcommand(
      "backup",
      "copy the vault's directory (sealed keys, ledger, audit log) into a new or empty directory, "
      "with a manifest (vault stopped; the master key or passphrase is not copied)");
  backup->add_option("--dir", dir, "the vault's directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  backup->add_option("--to", backup_to, "the backup directory (created, mode 700)")->required();
  backup->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo, kExitRunning}));
  std::string restore_from;
  CLI::App* restore = app.add_subcommand(
      "restore",
      "add what the vault's directory lacks from a backup (vault stopped): key files of ended "
      "covenants stay destroyed, the directory's ledger and audit log are kept");
  restore->add_option("--from", restore_from, "the backup directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  restore->add_option("--dir", dir, "the vault's directory")->required();
  restore->footer(
      ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo, kExitBadBackup, kExitRunning}));
  serve
      ->add_flag("--check-config", f.check_config,
                 "check the configuration (flags and --config file: certificates, master key or "
                 "passphrase file, covenants and their signatures) and exit without starting "
                 "anything; not settable in the --config file")
      ->configurable(false);
  AddConfigFileOption(&app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (sodium_init() < 0) return kExitIo;
  // Before anything reads a certificate: OpenSSL then never loads the machine's configuration.
  if (absl::Status s = RequireTls13(); !s.ok()) return Fail(kExitIo, s);
  if (serve->parsed()) return f.check_config ? CheckConfig(f) : Serve(f);
  if (keygen->parsed()) {
    absl::StatusOr<Secret> key = Secret::Random(32);
    if (!key.ok()) return Fail(kExitIo, key.status());
    if (absl::Status s = WriteKeyFile(keygen_out, *key); !s.ok()) return Fail(kExitIo, s);
    return kExitOk;
  }
  if (backup->parsed()) {
    absl::StatusOr<size_t> copied = BackupVault(dir, backup_to);
    if (!copied.ok()) {
      if (absl::IsUnavailable(copied.status())) return Fail(kExitRunning, copied.status());
      if (absl::IsFailedPrecondition(copied.status())) return Fail(kExitUsage, copied.status());
      return Fail(kExitIo, copied.status());
    }
    fmt::print(stderr, "koppel-vault: backup of {} files written to {}\n", *copied, backup_to);
    return kExitOk;
  }
  if (restore->parsed()) {
    absl::StatusOr<VaultRestoreReport> report = RestoreVault(restore_from, dir);
    if (!report.ok()) {
      if (absl::IsUnavailable(report.status())) return Fail(kExitRunning, report.status());
      if (absl::IsDataLoss(report.status()) || absl::IsFailedPrecondition(report.status())) {
        return Fail(kExitBadBackup, report.status());
      }
      return Fail(kExitIo, report.status());
    }
    for (const std::string& line : report->skipped) {
      fmt::print(stderr, "koppel-vault: not restored: {}\n", line);
    }
    fmt::print(stderr, "koppel-vault: restored {} file(s), kept {} already there, skipped {}\n",
               report->restored.size(), report->kept.size(), report->skipped.size());
    return kExitOk;
  }
  if (rotate->parsed()) {
    absl::StatusOr<Secret> master = MasterKey(dir, key_file, passphrase_file);
    if (!master.ok()) return Fail(kExitIo, master.status());
    absl::StatusOr<std::unique_ptr<KeyStore>> store = KeyStore::Open(dir, std::move(*master));
    if (!store.ok()) return Fail(kExitIo, store.status());
    const std::filesystem::path vault_dir(dir);
    absl::StatusOr<std::unique_ptr<policy::CovenantLedger>> ledger = policy::CovenantLedger::Open(
        vault_dir / "covenants.json", !std::filesystem::exists(vault_dir / "audit.log"));
    if (!ledger.ok()) return Fail(kExitIo, ledger.status());
    absl::StatusOr<Secret> audit_key = (*store)->AuditSigningKey();
    if (!audit_key.ok()) return Fail(kExitIo, audit_key.status());
    absl::StatusOr<std::unique_ptr<AuditLog>> audit =
        AuditLog::Open(vault_dir / "audit.log", *audit_key, "vault");
    if (!audit.ok()) return Fail(kExitIo, audit.status());
    std::optional<policy::CovenantLedger::Entry> entry = (*ledger)->Find(rotate_covenant);
    if (entry.has_value() && !entry->ended_at.empty()) {
      return Fail(kExitConfig, absl::FailedPreconditionError(fmt::format(
                                   "covenant {} ended at {}; its keys are destroyed for good",
                                   rotate_covenant, entry->ended_at)));
    }
    absl::StatusOr<uint32_t> epoch = (*store)->Rotate(rotate_covenant);
    if (!epoch.ok()) return Fail(kExitIo, epoch.status());
    if (absl::Status s = (*audit)->Append("key_rotation", "vault operator", rotate_covenant,
                                          {{"epoch", *epoch}});
        !s.ok()) {
      return Fail(kExitIo, s);
    }
    fmt::print("covenant {} now at key epoch {}\n", rotate_covenant, *epoch);
    return kExitOk;
  }
  return kExitUsage;
}

}  // namespace
}  // namespace koppel::vault

int main(int argc, char** argv) { return koppel::vault::Main(argc, argv); }
