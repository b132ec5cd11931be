// The vault's gRPC service: for each covenant it serves, issues the covenant's key only to its
// data holders, sealed to a one-time key of theirs (HMAC mode), or evaluates the OPRF on
// blinded inputs within a per-agent quota (OPRF mode); gives the data key to the covenant's
// linker; and on an officer's signed instruction, or when retention is over, destroys every key
// of a covenant. Every operation, refused or not, goes to the audit log with party, covenant,
// epoch and counts, never key material. It counts refusals and OPRF evaluations into a metrics
// registry (docs/operations.md). It rotates a covenant's token key when the covenant's
// key_rotation period is over, and tells holders where the key epoch stands in every answer.
#ifndef KOPPEL_VAULT_VAULT_SERVICE_H_
#define KOPPEL_VAULT_VAULT_SERVICE_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/audit_log.h"
#include "core/metrics.h"
#include "core/worker_pool.h"
#include "koppel/v1/vault.grpc.pb.h"
#include "policies/covenant_ledger.h"
#include "policies/covenant_signature.h"
#include "vault/key_schedule.h"
#include "vault/key_store.h"
#include "vault/oprf_quota.h"

namespace koppel::vault {

// The vault's name for a covenant's data key. Upper case: no covenant id (a-z, 0-9, '.', '_',
// '-') can end with it, so no covenant's token key can share a data key's file.
inline std::string DataKeyName(const std::string& covenant_id) { return covenant_id + ".DATA"; }

class VaultService final : public v1::VaultService::Service {
 public:
  static constexpr int kMaxElementsPerCall = 4096;

  // OPRF evaluations run on `oprf_threads` threads (0: every core), shared by all calls.
  VaultService(KeyStore* keys, policy::CovenantLedger* ledger, AuditLog* audit,
               size_t oprf_threads = 0, MetricsRegistry* metrics = &MetricsRegistry::Default())
      : keys_(keys),
        ledger_(ledger),
        audit_(audit),
        metrics_(metrics),
        oprf_pool_(oprf_threads == 1
                       ? nullptr
                       : std::make_unique<WorkerPool>(oprf_threads == 0 ? 0 : oprf_threads - 1)) {}

  void Serve(policy::SignedCovenant covenant) ABSL_LOCKS_EXCLUDED(covenants_mutex_);

  grpc::Status GetCovenantKey(grpc::ServerContext* context,
                              const v1::GetCovenantKeyRequest* request,
                              v1::GetCovenantKeyResponse* response) override
      ABSL_LOCKS_EXCLUDED(covenants_mutex_);
  grpc::Status EvaluateOprf(grpc::ServerContext* context, const v1::EvaluateOprfRequest* request,
                            v1::EvaluateOprfResponse* response) override
      ABSL_LOCKS_EXCLUDED(covenants_mutex_, quota_mutex_);
  grpc::Status GetDataKey(grpc::ServerContext* context, const v1::GetDataKeyRequest* request,
                          v1::GetDataKeyResponse* response) override
      ABSL_LOCKS_EXCLUDED(covenants_mutex_);
  grpc::Status EndCovenant(grpc::ServerContext* context, const v1::EndCovenantRequest* request,
                           v1::EndCovenantResponse* response) override
      ABSL_LOCKS_EXCLUDED(covenants_mutex_);

  // Destroys every key of covenant `id` and records its end (also for a covenant not served).
  absl::StatusOr<uint64_t> End(const std::string& id, const std::string& event,
                               const std::string& actor, const std::string& reason, absl::Time at)
      ABSL_LOCKS_EXCLUDED(covenants_mutex_);
  // Ends every served covenant whose retention is over at `now`.
  int EndExpired(absl::Time now) ABSL_LOCKS_EXCLUDED(covenants_mutex_);

  // Starts a new key epoch for every served covenant in force whose current epoch is as old as
  // its key_rotation period at `now` (audited as key_rotation by "vault schedule"). An ended
  // covenant is no longer served, and End waits for a rotation under way. Returns how many.
  int RotateDue(absl::Time now) ABSL_LOCKS_EXCLUDED(covenants_mutex_);

  // The OPRF evaluations the audit log records (oprf_evaluation entries: party, covenant, epoch,
  // count, time) count against the quota again, each until it is older than the covenant's
  // oprf_quota_window_days, so that a restart grants no fresh quota. Every entry is written
  // before its answer leaves the vault: a crash can only under-grant.
  void CountAuditedOprfEvaluations(const std::vector<AuditEntry>& entries, absl::Time now)
      ABSL_LOCKS_EXCLUDED(quota_mutex_);

  // Gauges of each served covenant's key epoch, its age and the time to its next rotation,
  // computed at each scrape of `registry`; the service must outlive its rendering.
  void RegisterKeyEpochMetrics(MetricsRegistry& registry) ABSL_LOCKS_EXCLUDED(covenants_mutex_);

 private:
  // The covenant `covenant_id` when the vault serves it; `in_force` also requires it to be in
  // force now (key issue), otherwise only not ended (the linker's data key is needed until
  // retention ends).
  absl::StatusOr<policy::Covenant> Find(const std::string& covenant_id, bool in_force) const
      ABSL_SHARED_LOCKS_REQUIRED(covenants_mutex_);
  // Where `epoch` of `covenant`'s token key stands at `now`.
  absl::StatusOr<KeyEpochState> EpochState(const policy::Covenant& covenant, uint32_t epoch,
                                           absl::Time now) const;
  // UNAVAILABLE when the entry cannot be written: then nothing is handed out.
  absl::Status Audit(std::string_view event, const std::string& party, const std::string& covenant,
                     const nlohmann::json& details);
  grpc::Status Refuse(std::string_view operation, const std::string& party,
                      const std::string& covenant, const absl::Status& status);
  // Empty when the caller's identity is a party name and every field of `request` follows its
  // rule (core/identifier_rules.h); otherwise the refusal, logged and audited before anything
  // else of the request with the field, its length and the rule, never its content.
  std::optional<grpc::Status> RefuseMalformed(std::string_view operation, const std::string& party,
                                              const google::protobuf::Message& request);

  KeyStore* keys_;
  policy::CovenantLedger* ledger_;
  AuditLog* audit_;
  MetricsRegistry* metrics_;
  // Held shared by a request until its answer is complete, exclusively to serve or end a
  // covenant: no key outlives its covenant's end.
  mutable absl::Mutex covenants_mutex_;
  std::map<std::string, policy::Covenant> covenants_ ABSL_GUARDED_BY(covenants_mutex_);
  absl::Mutex quota_mutex_;
  // Evaluations by (covenant, party, key epoch) over the covenant's quota window: the quota
  // holds per key epoch, since a rotation changes every token and the holder tokenises
  // everything again.
  OprfQuotaUsage evaluations_ ABSL_GUARDED_BY(quota_mutex_);
  std::unique_ptr<WorkerPool> oprf_pool_;  // none: each call evaluates on its own thread
};

}  // namespace koppel::vault

#endif  // KOPPEL_VAULT_VAULT_SERVICE_H_
