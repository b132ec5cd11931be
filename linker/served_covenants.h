// The covenants a linker serves and, for each, what serving it takes: the signed covenant, its
// keys (K_link and the data key from the vault), the batch ingester, the query runner and the
// flag responder. A request holds its covenant shared while it runs; ending a covenant takes it
// exclusively, so requests in flight finish before its data is deleted and its keys forgotten.
#ifndef KOPPEL_LINKER_SERVED_COVENANTS_H_
#define KOPPEL_LINKER_SERVED_COVENANTS_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/audit_log.h"
#include "linker/batch_ingester.h"
#include "linker/flag_responder.h"
#include "linker/linker_store.h"
#include "linker/query_runner.h"
#include "policies/covenant_ledger.h"
#include "policies/covenant_signature.h"

namespace koppel::linker {

class ServedCovenant {
 public:
  // Opens the covenant's store with its data key (LinkerStore::OpenCovenant) first.
  static absl::StatusOr<std::unique_ptr<ServedCovenant>> Create(
      policy::SignedCovenant signed_covenant, LinkerKeys keys, LinkerStore* store,
      VaultKeyEpoch vault = {});

  const policy::Covenant& covenant() const { return ingester_->covenant(); }
  const std::string& sha256() const { return sha256_; }
  BatchIngester& ingester() { return *ingester_; }
  QueryRunner& queries() { return *queries_; }
  const FlagResponder& flags() const { return *flags_; }
  // Held shared by each request (CovenantHold), exclusively by the end of the covenant.
  absl::Mutex& in_use() { return in_use_; }
  // Set, under the exclusive lock, once the covenant ended; requests check it under theirs.
  bool ended() const { return ended_.load(); }
  void MarkEnded() { ended_.store(true); }
  // Set before the end waits for the requests in flight, so that a request arriving meanwhile
  // is refused at once instead of queueing (an absl::Mutex lets no new reader past a waiting
  // writer) and holding a server thread for as long as the longest request in flight.
  bool ending() const { return ending_.load(); }
  void MarkEnding() { ending_.store(true); }

 private:
  ServedCovenant() = default;
  std::string sha256_;
  std::unique_ptr<BatchIngester> ingester_;
  std::unique_ptr<QueryRunner> queries_;
  std::unique_ptr<FlagResponder> flags_;
  absl::Mutex in_use_;
  std::atomic<bool> ended_{false};
  std::atomic<bool> ending_{false};
};

// A served covenant held shared (its in_use()) for the length of one request. It moves with
// the request, out of the scope that took it, so the analysis cannot follow it.
class CovenantHold {
 public:
  explicit CovenantHold(std::shared_ptr<ServedCovenant> served) ABSL_NO_THREAD_SAFETY_ANALYSIS
      : served_(std::move(served)) {
    served_->in_use().ReaderLock();
  }
  CovenantHold(CovenantHold&& other) noexcept : served_(std::move(other.served_)) {}
  CovenantHold& operator=(CovenantHold&&) = delete;
  ~CovenantHold() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (served_ != nullptr) served_->in_use().ReaderUnlock();
  }

  ServedCovenant* operator->() const { return served_.get(); }
  ServedCovenant& operator*() const { return *served_; }

 private:
  std::shared_ptr<ServedCovenant> served_;  // null once moved from
};

class ServedCovenants {
 public:
  ServedCovenants(LinkerStore* store, policy::CovenantLedger* ledger, AuditLog* audit)
      : store_(store), ledger_(ledger), audit_(audit) {}

  void Add(std::unique_ptr<ServedCovenant> covenant) ABSL_LOCKS_EXCLUDED(mutex_);

  // NOT_FOUND naming the covenants served, or FAILED_PRECONDITION when it has ended.
  absl::StatusOr<std::shared_ptr<ServedCovenant>> Find(const std::string& id) const
      ABSL_LOCKS_EXCLUDED(mutex_);

  // The one covenant that names `party` as a recipient of analyses; INVALID_ARGUMENT when
  // none or several do (the caller must say which).
  absl::StatusOr<std::shared_ptr<ServedCovenant>> FindForRecipient(const std::string& party) const;

  std::vector<std::shared_ptr<ServedCovenant>> All() const ABSL_LOCKS_EXCLUDED(mutex_);

  // Whether `peer` may call `method` (a gRPC path) at all, decided before its request is read:
  // it must be a party of a served covenant, and a data holder in one to deliver (or check
  // which of its deliveries are held); an end
  // statement (signed by officers) may come from any certificate of the deployment's CA. The
  // handlers check the rest against the covenant the request names. PERMISSION_DENIED names
  // the rule.
  absl::Status Admit(std::string_view peer, std::string_view method) const;

  // Find() (or FindForRecipient() when `id` is empty and `recipient` is given), held shared,
  // and in force at `now` (FAILED_PRECONDITION naming valid_from or valid_until otherwise).
  absl::StatusOr<CovenantHold> Hold(const std::string& id, const std::string& recipient,
                                    absl::Time now) const;

  // Ends a covenant: marks it ended in the ledger (from then on it is refused; who ended it,
  // why and the audit event are kept there), waits for requests in flight, writes the audit
  // entry `event` (covenant_end or retention_deletion) by `actor` with the reason and the
  // records and batches about to be deleted, deletes its data from the store, forgets its keys,
  // and writes a deletion_complete entry naming the end entry's seq and what was deleted. Also
  // for covenants not served (their retention ran out while the linker was down): then only
  // the data goes.
  absl::StatusOr<LinkerStore::Deleted> End(const std::string& id, const std::string& event,
                                           const std::string& actor, const std::string& reason,
                                           absl::Time at);

  // Finishes every end a crash cut short (the ledger says ended, not deleted): writes the end
  // entry from the ledger if it was not yet written, then deletes, and the deletion_complete
  // entry refers to the recorded end (with "resumed": true). Called once at start.
  absl::Status ResumePendingDeletions();

  // Ends every served covenant whose retention is over at `now`; returns how many.
  int EndExpired(absl::Time now);

  // Retires the key epochs of `served` that every dataset has left behind
  // (QueryRunner::RetireCompleteEpochs) and writes the audit entry key_epoch_retired (counts
  // only). Without `wait`, a covenant whose analysis runs is left for the next call.
  absl::Status RetireKeyEpochs(ServedCovenant& served, bool wait);
  // The same for every served covenant, without waiting; for the periodic task. Logs failures.
  void RetireKeyEpochs();

  // Retries every deletion that failed before (the ledger says ended, not deleted), logging
  // what still fails; for the periodic retention task. Returns how many finished.
  int RetryPendingDeletions();

  // Whether covenant `id` ended and its deletion has not finished.
  bool DeletionPending(const std::string& id) const;
  // Finishes the pending deletion of covenant `id` (an end statement repeated after a
  // deletion failed): what it deleted, as End does.
  absl::StatusOr<LinkerStore::Deleted> FinishPendingDeletion(const std::string& id);

 private:
  LinkerStore* store_;
  policy::CovenantLedger* ledger_;
  AuditLog* audit_;
  mutable absl::Mutex mutex_;
  std::map<std::string, std::shared_ptr<ServedCovenant>> served_ ABSL_GUARDED_BY(mutex_);
  absl::Mutex ending_;  // one FinishEnd at a time: an end, a retry and the timer may race

  // What the store holds of a covenant: records and batches, also when its key is gone.
  absl::StatusOr<LinkerStore::Deleted> Held(const std::string& id) const;
  absl::StatusOr<LinkerStore::Deleted> FinishEnd(const std::string& id, bool resumed)
      ABSL_LOCKS_EXCLUDED(ending_, mutex_);
  // The seq of the end entry of covenant `id` that records `ended_at`, or 0 when none.
  absl::StatusOr<uint64_t> FindEndEntry(const std::string& id, const std::string& ended_at) const;
};

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_SERVED_COVENANTS_H_
