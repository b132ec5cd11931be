// koppel-linker: serves the covenants it is started with: receives sealed batches from agents
// over mutual TLS, re-keys and encrypts them, stores them durably in RocksDB and answers with
// signed receipts; answers queries and purpose-bound releases; deletes a covenant's data when
// it ends. Everything it does goes to its audit log.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <limits>
#include <map>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "core/audit_log.h"
#include "core/certificate_expiry.h"
#include "core/config_file.h"
#include "core/exit_codes.h"
#include "core/hmac.h"
#include "core/identifier_rules.h"
#include "core/json_log.h"
#include "core/key_file.h"
#include "core/key_transport.h"
#include "core/metrics_server.h"
#include "core/periodic_task.h"
#include "core/process_hardening.h"
#include "core/refusal.h"
#include "core/served_certificates.h"
#include "core/service_metrics.h"
#include "core/service_runner.h"
#include "core/tls.h"
#include "koppel/v1/vault.grpc.pb.h"
#include "linker/admin_service.h"
#include "linker/backup.h"
#include "linker/batch_ingester.h"
#include "linker/linker_service.h"
#include "linker/linker_store.h"
#include "linker/served_covenants.h"
#include "linker/store_metrics.h"
#include "policies/covenant_ledger.h"
#include "policies/covenant_plan.h"
#include "policies/covenant_signature.h"

namespace koppel::linker {
namespace {

// kExitDamaged: the store is damaged (or behind what it acknowledged) and must be restored from
// a backup; kExitOldStore: --data holds a store in the single-database layout of earlier
// versions (docs/services.md, "Migrating from the single store"); kExitOtherFormat: --data holds
// a store whose STORE_FORMAT this linker does not read (a newer linker's). A supervisor must not
// simply restart the linker on any of them.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,
  kExitIo = 3,
  kExitConfig = 4,
  kExitDamaged = 5,
  kExitOldStore = 6,
  kExitOtherFormat = 7,
  kExitCertificate = 8,
  kExitBadBackup = 9,
  kExitRunning = 10,
};

// What each exit code means; a command's --help lists the ones it can return.
constexpr ExitCodeMeaning kExitCodes[] = {
    {kExitOk, "success"},
    {kExitUsage, "usage: bad or missing flags, or a bad --config file"},
    {kExitIo, "a file, a key, the vault or the network failed (the message names it)"},
    {kExitConfig, "a covenant is not valid (the message names the rule)"},
    {kExitDamaged,
     "a covenant's store is damaged, behind what it acknowledged, or does not open with the data "
     "key the vault gave, or a restore was cut short (run it again) (do not just restart)"},
    {kExitOldStore, "--data holds a store in the single-database layout of earlier versions"},
    {kExitOtherFormat,
     "--data holds a STORE_FORMAT this linker does not read (a newer linker's), or none"},
    {kExitCertificate,
     "the linker's certificate or the CA's has expired or is not valid yet (the message names "
     "the file and the date)"},
    {kExitBadBackup,
     "the backup is damaged, altered or no backup (the message names the file); nothing was "
     "restored"},
    {kExitRunning,
     "a linker is running on --data (restore), or holds it without answering on its admin "
     "socket (backup)"},
};

int Fail(int code, const absl::Status& status) {
  fmt::print(stderr, "koppel-linker: error: {}\n", std::string(status.message()));
  return code;
}

// The covenant's data key from the vault, sealed to a key pair made for this request only;
// ABORTED when the vault says the covenant has ended. Each call makes its channel with the
// certificate served at the time (renewed on SIGHUP). `key_epoch`, when given, is set to the
// covenant's current key epoch.
absl::StatusOr<Secret> FetchDataKey(const std::string& vault,
                                    const ServedCertificates& certificates,
                                    const std::string& covenant, uint32_t* key_epoch = nullptr) {
  absl::StatusOr<OneTimeBox> one_time = OneTimeBox::Create();
  if (!one_time.ok()) return one_time.status();
  auto stub =
      v1::VaultService::NewStub(grpc::CreateChannel(vault, certificates.ChannelCredentials()));
  v1::GetDataKeyRequest request;
  request.set_covenant_id(covenant);
  request.set_recipient_public_key(one_time->public_key());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GetDataKeyResponse response;
  grpc::Status status = stub->GetDataKey(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(
        FromGrpcStatus(status).code(),
        fmt::format("the vault at {} refused the data key: {}", vault, status.error_message()));
  }
  if (response.covenant_ended()) {
    return absl::Status(
        absl::StatusCode::kAborted,
        fmt::format("the vault at {} reports that covenant {} has ended", vault, covenant));
  }
  if (key_epoch != nullptr) *key_epoch = response.key_schedule().key_epoch();
  return one_time->Open(response.sealed_key(), crypto_secretbox_KEYBYTES);
}

// The linker's own keys (box and receipt signing) and, for one covenant, K_link derived from
// the linker's master key and the data key from the vault, whose current key epoch goes to
// `vault_epoch`.
absl::StatusOr<LinkerKeys> LoadKeys(const std::filesystem::path& dir, const std::string& covenant,
                                    const std::string& vault,
                                    const ServedCertificates& certificates,
                                    VaultKeyEpoch* vault_epoch) {
  absl::StatusOr<Secret> box = ReadKeyFile(dir / "linker.key", crypto_box_SECRETKEYBYTES);
  if (!box.ok()) return box.status();
  absl::StatusOr<Secret> signing =
      ReadKeyFile(dir / "linker-signing.key", crypto_sign_SECRETKEYBYTES);
  if (!signing.ok()) return signing.status();
  absl::StatusOr<Secret> master = ReadKeyFile(dir / "linker-master.key", 32);
  if (!master.ok()) return master.status();
  absl::StatusOr<Secret> link = HkdfSha256(master->span(), {}, "koppel/v1/link/" + covenant, 32);
  if (!link.ok()) return link.status();
  // The data key lives in the vault; without one (offline use) it is derived locally.
  uint32_t key_epoch = 0;
  absl::StatusOr<Secret> data =
      vault.empty() ? HkdfSha256(master->span(), {}, "koppel/v1/data/" + covenant, 32)
                    : FetchDataKey(vault, certificates, covenant, &key_epoch);
  if (!data.ok()) return data.status();
  LinkerKeys keys{{}, std::move(*box), std::move(*signing), std::move(*link), std::move(*data)};
  if (!vault.empty()) {
    // A vault from before key schedules says nothing: every epoch is taken to exist then, as
    // before (0 would refuse them all).
    vault_epoch->current = key_epoch != 0 ? key_epoch : std::numeric_limits<uint32_t>::max();
    vault_epoch->ask = [vault, &certificates, covenant]() -> absl::StatusOr<uint32_t> {
      uint32_t current = 0;
      absl::StatusOr<Secret> fetched = FetchDataKey(vault, certificates, covenant, &current);
      if (!fetched.ok()) return fetched.status();
      return current;
    };
  }
  crypto_scalarmult_base(keys.box_public.data(), keys.box_secret.data());
  return keys;
}

// Audits calls refused before they were read: one entry per caller and minute, with the number
// of calls refused since its last entry, so that a flood of refused calls cannot flood the log.
class RefusalAudit {
 public:
  explicit RefusalAudit(AuditLog* audit) : audit_(audit) {}

  void Note(std::string_view peer, std::string_view method, const absl::Status& why)
      ABSL_LOCKS_EXCLUDED(mutex_) {
    const std::string actor = IsName(peer) ? std::string(peer) : "";
    const absl::Time now = absl::Now();
    uint64_t calls = 0;
    {
      absl::MutexLock lock(&mutex_);
      if (callers_.size() > 10000) callers_.clear();
      Caller& caller = callers_[actor];
      ++caller.unaudited;
      if (now - caller.last_entry < absl::Minutes(1)) return;
      caller.last_entry = now;
      calls = caller.unaudited;
      caller.unaudited = 0;
    }
    (void)audit_->Append("refused", actor, "",
                         {{"operation", std::string(method.substr(method.rfind('/') + 1))},
                          {"reason", std::string(why.message())},
                          {"rule", RefusalRule(why)},
                          {"calls", calls}});
  }

 private:
  struct Caller {
    absl::Time last_entry = absl::InfinitePast();
    uint64_t unaudited = 0;
  };
  AuditLog* audit_;
  absl::Mutex mutex_;
  std::map<std::string, Caller> callers_ ABSL_GUARDED_BY(mutex_);
};

struct ServeFlags {
  std::string listen{"127.0.0.1:7443"};
  std::string pki;
  std::string name{"linker"};
  std::string data;
  std::string keys;
  std::vector<std::string> covenants;
  std::string port_file;
  std::string metrics_listen;  // empty: no metrics endpoint
  std::string log_format{"text"};
  std::string vault;
  std::string audit;
  int retention_check_seconds = 60;
  int memory_quota_mib = 1024;
  int min_free_disk_mib = 256;
  int epoch_settle_minutes = 60;
  int cert_warn_days = kDefaultCertificateWarnDays;
  bool check_config = false;
};

int Serve(const ServeFlags& f) {
  const sigset_t stop_signals = BlockStopSignals();  // before any thread exists
  if (absl::Status s = SetLogFormat(f.log_format); !s.ok()) return Fail(kExitUsage, s);
  HardenServiceProcess("koppel-linker");
  if (absl::Status s = CheckMetricsAddress(f.metrics_listen, f.listen); !s.ok()) {
    return Fail(kExitUsage, s);
  }
  const TlsFiles tls = TlsFiles::FromPkiDir(f.pki, f.name);
  if (absl::Status s = LogCertificateExpiry(tls, f.cert_warn_days); !s.ok()) {
    return Fail(absl::IsFailedPrecondition(s) ? kExitCertificate : kExitIo, s);
  }
  absl::StatusOr<std::unique_ptr<ServedCertificates>> certificates =
      ServedCertificates::Load("linker", tls, f.cert_warn_days);
  if (!certificates.ok()) return Fail(kExitIo, certificates.status());
  std::error_code ec;
  std::filesystem::create_directories(f.data, ec);
  // Held until the linker exits: backup and restore see from it that a linker runs here.
  absl::StatusOr<std::unique_ptr<FileLock>> data_lock = LockDataDirectory(f.data);
  if (!data_lock.ok()) {
    return Fail(kExitIo,
                absl::Status(data_lock.status().code(),
                             fmt::format("{} (another linker on --data {}?)",
                                         std::string(data_lock.status().message()), f.data)));
  }
  if (absl::Status s = CheckNoRestoreLeftovers(f.data); !s.ok()) return Fail(kExitDamaged, s);
  // First: a directory of an earlier layout is refused before anything in it is touched.
  absl::StatusOr<std::unique_ptr<LinkerStore>> store = LinkerStore::Open(
      f.data, {.min_free_bytes = uint64_t{static_cast<uint64_t>(f.min_free_disk_mib)} << 20,
               .epoch_settle = absl::Minutes(f.epoch_settle_minutes)});
  if (!store.ok()) {
    if (!absl::IsFailedPrecondition(store.status())) return Fail(kExitIo, store.status());
    return Fail(LinkerStore::HoldsOldLayout(f.data) ? kExitOldStore : kExitOtherFormat,
                store.status());
  }
  absl::StatusOr<Secret> signing =
      ReadKeyFile(std::filesystem::path(f.keys) / "linker-signing.key", crypto_sign_SECRETKEYBYTES);
  if (!signing.ok()) return Fail(kExitIo, signing.status());
  const std::string audit_path =
      f.audit.empty() ? (std::filesystem::path(f.data) / "audit.log").string() : f.audit;
  absl::StatusOr<std::unique_ptr<policy::CovenantLedger>> ledger = policy::CovenantLedger::Open(
      std::filesystem::path(f.data) / "covenants.json", !std::filesystem::exists(audit_path, ec));
  if (!ledger.ok()) return Fail(kExitIo, ledger.status());
  absl::StatusOr<std::unique_ptr<AuditLog>> audit = AuditLog::Open(audit_path, *signing, "linker");
  if (!audit.ok()) return Fail(kExitIo, audit.status());

  std::vector<std::filesystem::path> files(f.covenants.begin(), f.covenants.end());
  absl::StatusOr<policy::CovenantPlan> plan =
      policy::PlanCovenants(files, ledger->get(), absl::Now());
  if (!plan.ok()) return Fail(kExitConfig, plan.status());
  for (const std::string& note : plan->notes) spdlog::info("{}", note);
  ServedCovenants covenants(store->get(), ledger->get(), audit->get());
  // A deletion cut short by a crash (even halfway through removing the covenant's directory)
  // is finished now: the ledger says "ended" but not yet "deleted".
  if (absl::Status s = covenants.ResumePendingDeletions(); !s.ok()) return Fail(kExitIo, s);
  for (const policy::SignedCovenant& ended : plan->end) {
    absl::StatusOr<LinkerStore::Deleted> deleted = covenants.End(
        ended.covenant.id, "retention_deletion", "linker", "retention period over", absl::Now());
    if (!deleted.ok()) return Fail(kExitIo, deleted.status());
  }
  for (policy::SignedCovenant& signed_covenant : plan->serve) {
    const policy::Covenant& c = signed_covenant.covenant;
    absl::Status in_force = c.InForce(absl::Now());
    const std::string state = in_force.ok() ? "in force" : std::string(in_force.message());
    if (absl::Status s = (*audit)->Append(
            "covenant_load", f.name, c.id,
            {{"version", c.version}, {"sha256", signed_covenant.sha256}, {"state", state}});
        !s.ok()) {
      return Fail(kExitIo, s);
    }
    VaultKeyEpoch vault_epoch;
    absl::StatusOr<LinkerKeys> keys = LoadKeys(f.keys, c.id, f.vault, **certificates, &vault_epoch);
    if (!keys.ok() && absl::IsAborted(keys.status())) {
      // The vault ended the covenant while the linker was down: its data goes too.
      spdlog::warn("{}", std::string(keys.status().message()));
      absl::StatusOr<LinkerStore::Deleted> deleted = covenants.End(
          c.id, "covenant_end", "vault", "the vault reports the covenant ended", absl::Now());
      if (!deleted.ok()) return Fail(kExitIo, deleted.status());
      continue;
    }
    if (!keys.ok()) return Fail(kExitIo, keys.status());
    spdlog::info("serving covenant {} version {} ({}; until {})", c.id, c.version, state,
                 absl::FormatCivilTime(c.valid_until));
    absl::StatusOr<std::unique_ptr<ServedCovenant>> served = ServedCovenant::Create(
        std::move(signed_covenant), std::move(*keys), store->get(), std::move(vault_epoch));
    if (!served.ok()) {
      return Fail(absl::IsDataLoss(served.status()) ? kExitDamaged : kExitIo, served.status());
    }
    // `c` was moved into the served covenant.
    const std::string& id = (*served)->covenant().id;
    if (std::optional<LinkerStore::AppliedRestore> restored = (*store)->TakeAppliedRestore(id);
        restored.has_value()) {
      if (absl::Status s =
              (*audit)->Append("store_restored", "linker", id,
                               {{"backup_time", restored->backup_time},
                                {"history_entries_reapplied", restored->history_reapplied},
                                {"releases_kept_spent_without_entry", restored->releases_raised}});
          !s.ok()) {
        return Fail(kExitIo, s);
      }
    }
    covenants.Add(std::move(*served));
  }
  if (covenants.All().empty()) spdlog::warn("no covenant to serve: every one given has ended");

  LinkerService service(&covenants, store->get(), audit->get());
  // Backups, for the service's own user only: a Unix socket (mode 600) in the data directory
  // (mode 700), never TCP. The audit log's lock says no other linker serves this directory: a
  // socket file left there is stale.
  LinkerAdminService admin(&covenants, store->get(), audit->get(), &*signing, f.data,
                           std::filesystem::path(f.data) / "covenants.json");
  LinkerAdminService::RemoveLeftovers(f.data);
  const std::filesystem::path admin_socket = std::filesystem::path(f.data) / kAdminSocketFile;
  std::filesystem::remove(admin_socket, ec);
  grpc::ServerBuilder admin_builder;
  admin_builder.AddListeningPort("unix:" + admin_socket.string(),
                                 grpc::InsecureServerCredentials());
  admin_builder.RegisterService(&admin);
  std::unique_ptr<grpc::Server> admin_server = admin_builder.BuildAndStart();
  if (admin_server == nullptr) {
    // Serving goes on: only online backups need the socket.
    spdlog::warn(
        "cannot listen on the admin socket {} (a Unix socket's path is at most 107 bytes): "
        "`koppel-linker backup` cannot back up this linker while it runs",
        admin_socket.string());
  } else {
    std::filesystem::permissions(
        admin_socket, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  }
  absl::Cleanup stop_admin = [&admin_server, &admin_socket] {
    if (admin_server == nullptr) return;
    admin_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    std::error_code removed;
    std::filesystem::remove(admin_socket, removed);
  };
  spdlog::info("koppel-linker serving {} covenants (data in {}, audit log {})",
               covenants.All().size(), f.data, audit_path);
  ServiceOptions options;
  options.name = "koppel-linker";
  options.grpc_service = v1::LinkerService::service_full_name();
  options.listen = f.listen;
  options.port_file = f.port_file;
  options.max_receive_bytes = static_cast<int>(BatchIngester::kMaxSealedBytes + (1 << 20));
  options.memory_quota_bytes = int64_t{f.memory_quota_mib} << 20;
  RefusalAudit refusals(audit->get());
  options.admit = [&covenants, &refusals](std::string_view peer, std::string_view method) {
    absl::Status admitted = covenants.Admit(peer, method);
    if (!admitted.ok()) {
      refusals.Note(peer, method, admitted);
      CountRefusal(MetricsRegistry::Default(), "linker", MethodLabel(method), admitted);
    }
    return admitted;
  };
  options.on_stop = [&covenants] {  // answers waiting for a household index give up
    for (const std::shared_ptr<ServedCovenant>& served : covenants.All()) {
      served->flags().StopBuilding();
    }
  };
  std::unique_ptr<MetricsServer> metrics;  // stops before what it reports on goes
  if (!f.metrics_listen.empty()) {
    RegisterServiceMetrics(MetricsRegistry::Default(), "linker",
                           [served = certificates->get()] { return served->not_after(); });
    RegisterStoreMetrics(MetricsRegistry::Default(), &covenants, store->get());
    absl::StatusOr<std::unique_ptr<MetricsServer>> started =
        MetricsServer::Start(f.metrics_listen, &MetricsRegistry::Default());
    if (!started.ok()) return Fail(kExitIo, started.status());
    metrics = *std::move(started);
    spdlog::info("koppel-linker serving metrics on http://{}/metrics (port {})", f.metrics_listen,
                 metrics->port());
  }
  absl::Status outcome;
  {
    PeriodicTask expiry(std::chrono::hours(24),
                        [served = certificates->get()] { served->LogExpiry(); });
    PeriodicTask retention(std::chrono::seconds(f.retention_check_seconds), [&covenants] {
      covenants.RetryPendingDeletions();  // deletions that failed before
      covenants.EndExpired(absl::Now());
      covenants.RetireKeyEpochs();
    });
    (*certificates)->HandleReloads(&options);
    outcome =
        ServeUntilStopped(&service, (*certificates)->ServerCredentials(), options, stop_signals);
  }
  if (!outcome.ok()) return Fail(kExitIo, outcome);
  spdlog::info("koppel-linker stopped after storing {} batches", service.batches_stored());
  return kExitOk;
}

// --check-config: reads what a start reads (certificates, keys, every covenant and its
// signatures) and starts nothing: no store is opened, no port bound, nothing written. The ledger's
// checks (an older version than one served before) happen at the real start.
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
  if (absl::StatusOr<Secret> signing = ReadKeyFile(
          std::filesystem::path(f.keys) / "linker-signing.key", crypto_sign_SECRETKEYBYTES);
      !signing.ok()) {
    return Fail(kExitIo, signing.status());
  }
  std::error_code ec;
  if (std::filesystem::exists(f.data, ec) && !std::filesystem::is_directory(f.data, ec)) {
    return Fail(kExitIo, absl::FailedPreconditionError(
                             fmt::format("--data {} exists and is not a directory", f.data)));
  }
  std::vector<std::filesystem::path> files(f.covenants.begin(), f.covenants.end());
  absl::StatusOr<policy::CovenantPlan> plan = policy::PlanCovenants(files, nullptr, absl::Now());
  if (!plan.ok()) return Fail(kExitConfig, plan.status());
  const policy::PlanSummary summary = policy::SummarizeForCheck(*plan, "its data deleted");
  fmt::print("koppel-linker: configuration OK: listen {}, data {}, {}\n", f.listen, f.data,
             summary.serves);
  for (const std::string& line : summary.lines) fmt::print("koppel-linker: {}\n", line);
  return kExitOk;
}

int Backup(const std::string& data, const std::string& audit, const std::string& keys,
           const std::string& to) {
  const std::string audit_file =
      audit.empty() ? (std::filesystem::path(data) / "audit.log").string() : audit;
  absl::Status s = BackupLinker(data, audit_file, keys, to, [](const std::string& line) {
    fmt::print(stderr, "koppel-linker: {}\n", line);
  });
  if (absl::IsFailedPrecondition(s) || absl::IsNotFound(s) || absl::IsInvalidArgument(s)) {
    return Fail(kExitUsage, s);
  }
  if (absl::IsUnavailable(s)) return Fail(kExitRunning, s);
  if (!s.ok()) return Fail(kExitIo, s);
  fmt::print(stderr, "koppel-linker: backup written to {}\n", to);
  return kExitOk;
}

int Restore(const std::string& from, const std::string& data, const std::string& audit,
            const std::string& keys, bool new_data) {
  const std::string audit_file =
      audit.empty() ? (std::filesystem::path(data) / "audit.log").string() : audit;
  absl::StatusOr<RestoreReport> report = RestoreLinker(
      from, data, audit_file, keys, new_data,
      [](const std::string& line) { fmt::print(stderr, "koppel-linker: {}\n", line); });
  if (!report.ok()) {
    if (absl::IsInvalidArgument(report.status())) return Fail(kExitUsage, report.status());
    if (absl::IsDataLoss(report.status()) || absl::IsFailedPrecondition(report.status())) {
      return Fail(kExitBadBackup, report.status());
    }
    if (absl::IsUnavailable(report.status())) return Fail(kExitRunning, report.status());
    return Fail(kExitIo, report.status());
  }
  for (const std::string& line : report->skipped) fmt::print(stderr, "koppel-linker: {}\n", line);
  for (const std::string& line : report->notes) fmt::print(stderr, "koppel-linker: {}\n", line);
  fmt::print(stderr, "koppel-linker: restored {} covenant(s) into {}, skipped {}\n",
             report->restored.size(), data, report->skipped.size());
  return kExitOk;
}

int Keygen(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Fail(kExitIo, absl::InternalError(
                             fmt::format("cannot create directory {}: {}", dir, ec.message())));
  }
  absl::StatusOr<Secret> box = Secret::Allocate(crypto_box_SECRETKEYBYTES);
  absl::StatusOr<Secret> signing = Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  absl::StatusOr<Secret> master = Secret::Random(32);
  if (!box.ok() || !signing.ok() || !master.ok()) {
    return Fail(kExitIo, absl::ResourceExhaustedError("cannot allocate key memory"));
  }
  std::array<uint8_t, crypto_box_PUBLICKEYBYTES> box_pk;
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> sign_pk;
  crypto_box_keypair(box_pk.data(), box->mutable_data());
  crypto_sign_keypair(sign_pk.data(), signing->mutable_data());
  const std::filesystem::path d(dir);
  for (absl::Status s :
       {WriteKeyFile(d / "linker.key", *box), WritePublicKeyFile(d / "linker.key.pub", box_pk),
        WriteKeyFile(d / "linker-signing.key", *signing),
        WritePublicKeyFile(d / "linker-signing.key.pub", sign_pk),
        WriteKeyFile(d / "linker-master.key", *master)}) {
    if (!s.ok()) return Fail(kExitIo, s);
  }
  fmt::print(stderr, "koppel-linker: wrote keys to {}\n", dir);
  return kExitOk;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "koppel-linker: stores sealed batches from agents and acknowledges them with "
      "signed receipts, over mutual TLS."};
  app.require_subcommand(1);
  app.footer(ExitCodesFooter(kExitCodes,
                             {kExitOk, kExitUsage, kExitIo, kExitConfig, kExitDamaged,
                              kExitOldStore, kExitOtherFormat, kExitCertificate},
                             "Each command's --help lists the codes it can return."));
  ServeFlags f;
  CLI::App* serve = app.add_subcommand(
      "serve", "run the linker service until SIGTERM (flags may also come from --config FILE)");
  serve->add_option("--listen", f.listen, "address:port to listen on (port 0: any free port)");
  serve->add_option("--pki", f.pki, "directory made by scripts/pki")
      ->required()
      ->check(CLI::ExistingDirectory);
  serve->add_option("--name", f.name, "this linker's certificate name in --pki");
  serve
      ->add_option("--data", f.data,
                   "data directory: the store (one encrypted RocksDB per covenant), the audit "
                   "log and the covenant ledger (created on first start)")
      ->required();
  serve->add_option("--keys", f.keys, "directory with the keys made by `koppel-linker keygen`")
      ->required()
      ->check(CLI::ExistingDirectory);
  serve
      ->add_option("--covenant", f.covenants,
                   "signed covenant file (its signatures in FILE.sig); repeat for several "
                   "covenants or versions: the newest version of each is served")
      ->required()
      ->check(CLI::ExistingFile);
  serve->add_option("--port-file", f.port_file, "write the port listened on to this file");
  serve->add_option("--metrics-listen", f.metrics_listen,
                    "serve Prometheus metrics over plain HTTP at http://ADDRESS:PORT/metrics "
                    "(an IP address; not the --listen address; default: no metrics endpoint)");
  serve
      ->add_option("--log-format", f.log_format,
                   "text: log lines for people; json: one JSON object a line (time, level, "
                   "message)")
      ->check(CLI::IsMember({"text", "json"}));
  serve->add_option("--vault", f.vault,
                    "vault address: the covenant's data key comes from there (without it, it is "
                    "derived from the linker's master key, for offline use)");
  serve->add_option("--audit", f.audit, "the audit log (default: DATA/audit.log)");
  serve
      ->add_option("--retention-check-seconds", f.retention_check_seconds,
                   "how often to check for covenants whose retention is over")
      ->check(CLI::Range(1, 86400));
  serve
      ->add_option("--memory-quota-mib", f.memory_quota_mib,
                   "memory for connections and requests in flight, all together; beyond it "
                   "requests wait (at least 4 sealed batches of 64 MiB)")
      ->check(CLI::Range(300, 1 << 20));
  serve
      ->add_option("--min-free-disk-mib", f.min_free_disk_mib,
                   "refuse batches (the agent retries later) while less than this is free on "
                   "the data directory's disk; 0: until RocksDB fails")
      ->check(CLI::Range(0, 1 << 30));
  serve
      ->add_option("--epoch-settle-minutes", f.epoch_settle_minutes,
                   "a dataset's delivery under a new key epoch counts as complete (read, and "
                   "the older epoch retired) only this long after its last batch")
      ->check(CLI::Range(0, 7 * 24 * 60));
  serve
      ->add_option("--cert-warn-days", f.cert_warn_days,
                   "warn in the log when the linker's certificate or the CA's expires within "
                   "this many days (checked at start and daily; 0: never)")
      ->check(CLI::Range(0, 3650));
  serve->footer(
      ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo, kExitConfig, kExitDamaged,
                                   kExitOldStore, kExitOtherFormat, kExitCertificate}));
  std::string keygen_dir;
  CLI::App* keygen = app.add_subcommand("keygen", "create the linker's keys in a directory");
  keygen->add_option("--out", keygen_dir, "directory for the key files")->required();
  keygen->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo}));
  std::string backup_data, backup_audit, backup_keys, backup_to;
  CLI::App* backup = app.add_subcommand(
      "backup",
      "back up the store (every covenant at a consistent point), the ledger and the audit log "
      "into a new or empty directory; online through the running linker's admin socket, or by "
      "copying the files while no linker runs");
  backup->add_option("--data", backup_data, "the linker's data directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  backup->add_option("--audit", backup_audit, "the audit log (default: DATA/audit.log)");
  backup->add_option("--to", backup_to, "the backup directory (created, mode 700)")->required();
  backup
      ->add_option("--keys", backup_keys,
                   "the linker's keys: a backup made while no linker runs is signed with its "
                   "linker-signing.key (a running linker signs its own)")
      ->check(CLI::ExistingDirectory);
  backup->footer(ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo, kExitRunning}));
  std::string restore_from, restore_data, restore_audit, restore_keys;
  bool restore_new_data = false;
  CLI::App* restore = app.add_subcommand(
      "restore",
      "restore a backup into a stopped linker's data directory: each covenant's store is "
      "replaced; the directory's ledger and audit log are kept, ended covenants stay ended and "
      "releases made after the backup stay spent");
  restore->add_option("--from", restore_from, "the backup directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  restore->add_option("--data", restore_data, "the linker's data directory")->required();
  restore->add_option("--audit", restore_audit, "the audit log (default: DATA/audit.log)");
  restore
      ->add_option("--keys", restore_keys,
                   "the linker's keys: the backup's manifest must verify with its "
                   "linker-signing.key.pub")
      ->required()
      ->check(CLI::ExistingDirectory);
  restore
      ->add_flag("--new-data", restore_new_data,
                 "restore into a new or empty --data (without it, --data must hold a linker's "
                 "store: its STORE_FORMAT)")
      ->configurable(false);
  restore->footer(
      ExitCodesFooter(kExitCodes, {kExitOk, kExitUsage, kExitIo, kExitBadBackup, kExitRunning}));
  serve
      ->add_flag("--check-config", f.check_config,
                 "check the configuration (flags and --config file: certificates, keys, "
                 "covenants and their signatures) and exit without starting anything; not "
                 "settable in the --config file")
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
  if (keygen->parsed()) return Keygen(keygen_dir);
  if (backup->parsed()) return Backup(backup_data, backup_audit, backup_keys, backup_to);
  if (restore->parsed()) {
    return Restore(restore_from, restore_data, restore_audit, restore_keys, restore_new_data);
  }
  return kExitUsage;
}

}  // namespace
}  // namespace koppel::linker

int main(int argc, char** argv) { return koppel::linker::Main(argc, argv); }
