// What a service remembers about the covenants it has served, across restarts: the newest
// version it loaded of each covenant id, so that an older file cannot roll a covenant back; the
// privacy officers' keys that signed it, so that a later version cannot replace them; whether
// the covenant has ended, so that it cannot return; and whether this service has finished
// deleting its data (or destroying its keys), so that a crash in between is caught up on. One
// JSON file, rewritten atomically on every change.
#ifndef KOPPEL_POLICIES_COVENANT_LEDGER_H_
#define KOPPEL_POLICIES_COVENANT_LEDGER_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace koppel::policy {

class CovenantLedger {
 public:
  struct Entry {
    uint32_t version = 0;
    std::string sha256;
    std::string ended_at;  // UTC ISO 8601; empty while the covenant lives
    std::string end_reason;
    std::vector<std::string> officers;  // public keys (hex) of the officers who signed
    bool deleted = false;  // this service finished deleting the ended covenant's data or keys
    // Who ended it and under which audit event (covenant_end, retention_deletion), and the
    // sequence number of that event's audit entry once written (0: not yet), so that a
    // deletion resumed after a crash refers to the recorded end or records it first.
    std::string end_event;
    std::string ended_by;
    uint64_t end_audit_seq = 0;
  };

  // A missing file is an empty ledger only on a service's first start (`first_start`): later,
  // a missing ledger would let ended covenants return, so it is refused (DATA_LOSS).
  static absl::StatusOr<std::unique_ptr<CovenantLedger>> Open(const std::filesystem::path& path,
                                                              bool first_start);

  std::optional<Entry> Find(const std::string& id) const ABSL_LOCKS_EXCLUDED(mutex_);

  // Records that version `version` (file hash `sha256`, signed by the officers with `officers`
  // keys) of covenant `id` is served, unless the covenant has ended, a newer version was served
  // before, the same version was served with other bytes, or a newer version leaves out an
  // officer who signed the version served before: FAILED_PRECONDITION saying which and what to
  // do.
  absl::Status Admit(const std::string& id, uint32_t version, const std::string& sha256,
                     const std::vector<std::string>& officers) ABSL_LOCKS_EXCLUDED(mutex_);

  // The ids of the covenants that ended and whose data (or keys) this service has not yet
  // finished deleting.
  std::vector<std::string> PendingDeletion() const ABSL_LOCKS_EXCLUDED(mutex_);
  absl::Status MarkDeleted(const std::string& id) ABSL_LOCKS_EXCLUDED(mutex_);

  // Records, durably, that covenant `id` has ended (by `actor`, to be audited as `event`); it
  // is refused from then on. A covenant ended before keeps its first end.
  absl::Status MarkEnded(const std::string& id, absl::Time at, const std::string& reason,
                         const std::string& event = "", const std::string& actor = "")
      ABSL_LOCKS_EXCLUDED(mutex_);
  // Records, durably, the sequence number of the end's audit entry.
  absl::Status MarkEndRecorded(const std::string& id, uint64_t audit_seq)
      ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  CovenantLedger(std::filesystem::path path, std::map<std::string, Entry> entries)
      : path_(std::move(path)), entries_(std::move(entries)) {}
  absl::Status Save() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  std::filesystem::path path_;
  mutable absl::Mutex mutex_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace koppel::policy

#endif  // KOPPEL_POLICIES_COVENANT_LEDGER_H_
