// The linker's durable store (ARCHITECTURE section 4): a directory of covenant stores, one
// RocksDB instance per covenant (linker/covenant_store.h), each encrypted under its covenant's
// data key. Layout of the data directory:
//
//   STORE_FORMAT                 "koppel-store 2"
//   covenants/<id>/db/           the covenant's RocksDB instance (every file encrypted)
//   covenants/<id>/held          its high-water mark: the record, batch and release counts
//                                and the instance's sequence number, plaintext (no names or
//                                tokens), MAC'd under a key derived from the data key
//   covenants/<id>/restored.json after a restore, until the covenant opens (kRestoreNoteFile)
//   admin.sock                   the administration socket of a running linker (backups)
//   LOCK                         locked by a running linker for its whole life (linker/backup.h)
//
// An instance rather than a column family per covenant: column families of one database share
// its write-ahead log and MANIFEST (a dropped family's entries stay in the shared log files
// until every family has flushed), and an Env, hence an encryption key, belongs to a whole
// instance. So a covenant's end closes its instance and removes its directory, reading and
// rewriting nothing of any other covenant, and one covenant's compactions never touch
// another's files.
#ifndef KOPPEL_LINKER_LINKER_STORE_H_
#define KOPPEL_LINKER_LINKER_STORE_H_

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/secret.h"
#include "koppel/v1/batch.pb.h"
#include "koppel/v1/linker.pb.h"
#include "linker/covenant_store.h"

namespace koppel::linker {

class LinkerStore {
 public:
  // What STORE_FORMAT holds.
  static constexpr std::string_view kFormat = "koppel-store 2";
  // Left in a covenant's directory by `koppel-linker restore` (linker/backup.h): the release
  // count the audit log shows the covenant had reached and the release history entries made
  // after the backup (sealed, from the audit log), applied when the covenant next opens.
  static constexpr std::string_view kRestoreNoteFile = "restored.json";

  // What applying a restore note did, for the `store_restored` audit entry.
  struct AppliedRestore {
    std::string backup_time;
    int64_t releases_raised = 0;    // added to the release count
    int64_t history_reapplied = 0;  // entries put back into the history
  };

  struct StoreOptions {
    // Writes are refused (RESOURCE_EXHAUSTED, "out of disk space") while less is free, before
    // RocksDB runs out: a WAL write that fails on a full disk stops the database.
    uint64_t min_free_bytes = 256 << 20;
    // Under every covenant's encryption, for tests that inject faults; nullptr: the default.
    rocksdb::Env* env = nullptr;
    // CovenantStore::Options::epoch_settle.
    absl::Duration epoch_settle = absl::ZeroDuration();
  };
  // Opens (creating it, mode 700) the store in `dir`; covenants are opened one by one with
  // OpenCovenant. FAILED_PRECONDITION, saying what to do, for a directory that holds a store
  // in the single-database layout of earlier versions (docs/services.md, "Migrating"; see
  // HoldsOldLayout) or whose STORE_FORMAT this linker does not read (a newer linker's).
  static absl::StatusOr<std::unique_ptr<LinkerStore>> Open(const std::filesystem::path& dir,
                                                           const StoreOptions& options);
  static absl::StatusOr<std::unique_ptr<LinkerStore>> Open(const std::filesystem::path& dir) {
    return Open(dir, StoreOptions{});
  }
  // Whether `dir` holds a store in the single-database layout of earlier versions.
  static bool HoldsOldLayout(const std::filesystem::path& dir);
  // For offline analysis and tests: reads a store another process may be serving.
  static absl::StatusOr<std::unique_ptr<LinkerStore>> OpenReadOnly(
      const std::filesystem::path& dir);

  ~LinkerStore();

  // Opens the store of `covenant` (a name, see core/identifier_rules.h), encrypted under its
  // `data_key`; creates it (unless read-only) only when the covenant has no directory yet.
  // Must come before any other call for the covenant. DATA_LOSS when the store is damaged,
  // missing though the covenant's directory is there, behind its high-water mark, or does not
  // open with `data_key`. FAILED_PRECONDITION when it is open already with another key, or
  // its deletion has begun.
  absl::Status OpenCovenant(const std::string& covenant, const Secret& data_key)
      ABSL_LOCKS_EXCLUDED(opening_, mutex_);
  bool IsOpen(const std::string& covenant) const ABSL_LOCKS_EXCLUDED(mutex_);
  // What OpenCovenant applied of a covenant's restore note (once; nullopt after, or when it
  // had none).
  std::optional<AppliedRestore> TakeAppliedRestore(const std::string& covenant)
      ABSL_LOCKS_EXCLUDED(mutex_);

  // The receipt of a batch already held, if any.
  absl::StatusOr<std::optional<v1::Receipt>> FindReceipt(const std::string& covenant,
                                                         const std::string& batch_id) const;

  // Stores the records and the receipt atomically and durably (fsync) in the store of the
  // receipt's covenant, unless the batch is already held: then returns the stored receipt and
  // writes nothing.
  absl::StatusOr<v1::Receipt> Commit(const v1::Receipt& receipt, const v1::BatchHeader& header,
                                     const std::vector<StoredRecord>& records);

  // The header of a stored batch; `batch_id` raw (32 bytes) or hex.
  absl::StatusOr<v1::BatchHeader> FindBatchHeader(const std::string& covenant,
                                                  std::string_view batch_id) const;

  // Records whose token lies in [begin_token, end_token) (empty: unbounded), in key order;
  // disjoint ranges let several threads scan one dataset.
  // On `view` (NewReadView of the same covenant) when given, else on the store as it is now.
  std::unique_ptr<RecordCursor> NewRecordCursor(const std::string& covenant,
                                                const std::string& dataset,
                                                std::string_view begin_token = {},
                                                std::string_view end_token = {},
                                                const ReadView* view = nullptr) const;
  // The covenant's store as it is now, for cursors that must agree (ReadView).
  absl::StatusOr<std::unique_ptr<ReadView>> NewReadView(const std::string& covenant) const;

  // The counts of every dataset of every open covenant.
  absl::StatusOr<std::vector<v1::DatasetStatus>> Status() const ABSL_LOCKS_EXCLUDED(mutex_);
  // A RocksDB integer property of a covenant's open store (CovenantStore::IntProperty).
  absl::StatusOr<uint64_t> IntProperty(const std::string& covenant, const std::string& name) const;

  // The schema (a batch header without its sequence) of every delivery run of a covenant's
  // dataset, as its first batch fixed it: what an analysis spec is checked against.
  absl::StatusOr<std::vector<v1::BatchHeader>> RunSchemas(const std::string& covenant,
                                                          const std::string& dataset) const;

  // For each token (32 bytes, re-keyed), whether a record of the covenant's dataset has it.
  absl::StatusOr<std::vector<bool>> HasTokens(const std::string& covenant,
                                              const std::string& dataset,
                                              const std::vector<std::string>& tokens) const;

  using Deleted = HeldCounts;
  // The key epochs a covenant's store holds (CovenantStore::Epochs).
  absl::StatusOr<HeldEpochs> Epochs(const std::string& covenant) const;
  // Retires a covenant's epochs up to `epoch` (CovenantStore::RetireEpochsThrough).
  absl::StatusOr<RetiredCounts> RetireEpochsThrough(const std::string& covenant, uint32_t epoch);

  // What the store holds of a covenant: from its open store, else from the counts kept beside
  // it (which may lag by the batch in flight at a crash); zero when it holds nothing.
  absl::StatusOr<HeldCounts> Held(const std::string& covenant) const;

  // Deletes everything of a covenant, open or not (its key may be gone): closes its store once
  // the cursors still reading it are done (however long that takes), removes its directory
  // and syncs the parent. Reads and rewrites nothing of any other covenant. Returns what it
  // held (see Held). A store whose deletion began is never served again, also when removing
  // its files failed: the deletion is to be retried.
  absl::StatusOr<Deleted> DeleteCovenant(const std::string& covenant)
      ABSL_LOCKS_EXCLUDED(deleting_, mutex_);

  // For benchmarks, which measure a store at rest: flushes the covenant's memtable and waits
  // until no flush or compaction runs or is pending.
  using Shape = CovenantStore::Shape;
  absl::StatusOr<Shape> Settle(const std::string& covenant);

  // The release budget: how many releases a covenant has had; Spend adds one durably.
  absl::StatusOr<int64_t> ReleasesSpent(const std::string& covenant) const;
  absl::Status SpendRelease(const std::string& covenant);

  // The sealed entries of a covenant's release history (release_history.h), oldest first.
  absl::StatusOr<std::vector<std::string>> ReleaseHistory(const std::string& covenant) const;
  // Spends one release of the budget and appends `sealed_entry` to the history, in one synced
  // write, so that a release is either recorded and counted or neither.
  absl::Status RecordRelease(const std::string& covenant, const std::string& sealed_entry);

  // CovenantStore::Checkpoint of an open covenant's store.
  absl::StatusOr<HighWaterMark> Checkpoint(const std::string& covenant,
                                           const std::filesystem::path& to) const;

  // Calls `visit` for every stored record of a covenant's dataset in key order.
  absl::Status Scan(
      const std::string& covenant, const std::string& dataset,
      const std::function<void(std::string_view key, std::string_view value)>& visit) const;

 private:
  LinkerStore(std::filesystem::path dir, StoreOptions options, bool read_only)
      : dir_(std::move(dir)), options_(options), read_only_(read_only) {}
  // The directory of a covenant's store and its counts file.
  std::filesystem::path CovenantDir(const std::string& covenant) const;
  // Puts back a restored covenant's release history entries and raises its release count as
  // its restore note says, then removes it. Idempotent: an entry the history holds is skipped,
  // so a crash while applying is repaired by the next open. DATA_LOSS, applying nothing more,
  // for an entry that does not open under the covenant's history key.
  absl::StatusOr<std::optional<AppliedRestore>> ApplyRestoreNote(const std::string& covenant,
                                                                 CovenantStore* store,
                                                                 const Secret& data_key);
  // The open store of `covenant`; FAILED_PRECONDITION when it is not open.
  absl::StatusOr<std::shared_ptr<CovenantStore>> Find(const std::string& covenant,
                                                      std::string_view what) const
      ABSL_LOCKS_EXCLUDED(mutex_);

  const std::filesystem::path dir_;
  const StoreOptions options_;
  const bool read_only_;
  mutable absl::Mutex mutex_;
  std::map<std::string, std::shared_ptr<CovenantStore>> covenants_ ABSL_GUARDED_BY(mutex_);
  // Deletion began, not done.
  std::set<std::string> deleting_covenants_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, AppliedRestore> applied_restores_ ABSL_GUARDED_BY(mutex_);
  absl::Mutex opening_;   // one open at a time
  absl::Mutex deleting_;  // one deletion at a time
};

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_LINKER_STORE_H_
