// One covenant's part of the linker's durable store (ARCHITECTURE section 4): its own RocksDB
// instance, opened on an Env that encrypts every file under the covenant's data key
// (linker/store_encryption.h). It holds the covenant's records, batch headers, receipts, run
// schemas, dataset counters and release budget and history, and nothing of any other covenant,
// so ending a covenant is closing this instance and removing its directory, and its flushes
// and compactions never read or rewrite another covenant's files.
//
// Records are keyed by dataset and re-keyed person (or household) token, so that one person's
// records are adjacent and the join is an ordered scan. A batch is committed in one synced
// WriteBatch together with its receipt: it is either wholly stored and acknowledged, or not at
// all.
#ifndef KOPPEL_LINKER_COVENANT_STORE_H_
#define KOPPEL_LINKER_COVENANT_STORE_H_

#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include <atomic>
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
#include "absl/time/time.h"
#include "core/hmac.h"
#include "core/secret.h"
#include "koppel/v1/batch.pb.h"
#include "koppel/v1/linker.pb.h"

namespace koppel::linker {

// One record ready to store: its sort token (re-keyed) and the serialised v1::Record (the
// instance's files are encrypted as a whole).
struct StoredRecord {
  std::string token;  // 32 bytes, HMAC(K_link, agent token)
  std::string value;  // serialised v1::Record
};

// What a covenant's store holds, summed over its datasets.
struct HeldCounts {
  uint64_t records = 0;
  uint64_t batches = 0;
};

// The key epochs a covenant's store holds records of (docs/services.md, "Key epochs"), from its
// batch headers: per dataset and epoch, the raw ids of the batches whose records it holds.
// Epochs up to `retired_through` are retired: their records are deleted, their receipts and
// headers kept (a resent batch is a duplicate), and a new batch of them is refused.
struct HeldEpochs {
  uint32_t retired_through = 0;
  bool retirement_unfinished = false;  // a retirement stopped before all its records were deleted
  std::map<std::string, std::map<uint32_t, std::vector<std::string>>> batches;
  // Per dataset, the held epochs that do not count as delivered (yet): their batches hold no
  // records, or their newest batch was committed less than the settle time ago
  // (Options::epoch_settle), so that a re-delivery still under way is not taken as complete.
  std::map<std::string, std::set<uint32_t>> unsettled;
};

// What retiring epochs deleted.
struct RetiredCounts {
  uint64_t records = 0;
  uint64_t batches = 0;
  uint64_t runs = 0;
};

// What a covenant's store has acknowledged: kept beside the instance (Options::held_file),
// MAC'd under a key derived from the data key, and raised after every commit and release. A
// store found below it lost acknowledged writes (a log or table file deleted or cut short) and
// is refused instead of being served as if nothing happened.
struct HighWaterMark {
  uint64_t records = 0;
  uint64_t batches = 0;
  int64_t releases = 0;
  uint64_t sequence = 0;  // the instance's latest sequence number
};

// Walks the records of one dataset in key order (by re-keyed token). Reads with a large
// readahead and without filling the block cache: analyses scan, they do not look up. Keeps the
// instance open while it lives.
class RecordCursor {
 public:
  static constexpr size_t kTokenBytes = 32;
  static constexpr size_t kBatchIdBytes = 32;

  bool Valid() const { return valid_; }
  void Next();
  // The re-keyed person (or household) token, the raw batch id, and the serialised record.
  std::string_view token() const { return key().substr(prefix_size_, kTokenBytes); }
  std::string_view batch_id() const {
    return key().substr(prefix_size_ + kTokenBytes, kBatchIdBytes);
  }
  std::string_view value() const {
    return std::string_view(it_->value().data(), it_->value().size());
  }
  absl::Status status() const;

 private:
  friend class CovenantStore;
  friend class LinkerStore;
  RecordCursor(std::shared_ptr<rocksdb::DB> db, std::string prefix, std::string upper_bound,
               const rocksdb::Snapshot* snapshot);
  explicit RecordCursor(absl::Status unavailable);  // not Valid(); status() says why
  std::string_view key() const { return std::string_view(it_->key().data(), it_->key().size()); }
  void Settle();

  std::shared_ptr<rocksdb::DB> db_;  // kept open while the cursor lives
  std::unique_ptr<rocksdb::Iterator> it_;
  absl::Status unavailable_;
  std::string prefix_;
  size_t prefix_size_;
  std::string upper_bound_;  // the iterator's bound refers to it
  rocksdb::Slice upper_bound_slice_;
  bool valid_ = false;
};

// The store of one covenant as it was at one moment: cursors opened on it see that moment
// whatever is committed meanwhile, so that the token ranges an analysis scans at once read the
// same batches. Keeps the instance open while it lives; must outlive the cursors opened on it.
class ReadView {
 public:
  ~ReadView() { db_->ReleaseSnapshot(snapshot_); }
  ReadView(const ReadView&) = delete;
  ReadView& operator=(const ReadView&) = delete;

 private:
  friend class CovenantStore;
  explicit ReadView(std::shared_ptr<rocksdb::DB> db)
      : db_(std::move(db)), snapshot_(db_->GetSnapshot()) {}

  std::shared_ptr<rocksdb::DB> db_;  // the instance as opened when the view was taken
  const rocksdb::Snapshot* snapshot_;
};

class CovenantStore {
 public:
  struct Options {
    // Writes are refused (RESOURCE_EXHAUSTED, "out of disk space") while less is free, before
    // RocksDB runs out: a WAL write that fails on a full disk stops the database.
    uint64_t min_free_bytes = 256 << 20;
    rocksdb::Env* base_env = nullptr;  // under the encryption; nullptr: the default
    bool read_only = false;            // for offline readers; then `held_file` is not written
    // Creates the instance (mode 700) if `dir` holds none. Only for a covenant the store has
    // never held: otherwise a missing instance is DATA_LOSS, not an empty store.
    bool create = false;
    // Where the high-water mark is kept, its counts in plaintext (no names or tokens), so that
    // the end of a covenant whose key is gone can still say what it deleted. Empty: nowhere,
    // and nothing is checked.
    std::filesystem::path held_file;
    // How long after its newest batch an epoch's delivery of a dataset counts as finished
    // (HeldEpochs::unsettled; `--epoch-settle-minutes`).
    absl::Duration epoch_settle = absl::ZeroDuration();
  };
  // Opens the instance in `dir`, encrypted under `data_key`. DATA_LOSS naming the directory
  // when its write-ahead log is corrupt anywhere but in an unacknowledged last record (never a
  // silent roll-back), when its files do not open with `data_key`, when it is missing but was
  // not to be created, when the high-water mark does not verify under `data_key`, and when the
  // instance holds less than the mark says it acknowledged.
  //
  // The mark is read before the instance is opened, so a read-only reader of a store a linker
  // is serving never finds the store behind a mark written meanwhile.
  static absl::StatusOr<std::unique_ptr<CovenantStore>> Open(std::string covenant,
                                                             const std::filesystem::path& dir,
                                                             const Secret& data_key,
                                                             const Options& options);
  ~CovenantStore();

  const std::string& covenant() const { return covenant_; }

  // Identifies a data key without revealing it: a MAC of a fixed label under a key derived
  // from it. Whether this store was opened with `data_key`: OpensWith.
  static absl::StatusOr<Digest256> KeyFingerprint(const Secret& data_key);
  bool OpensWith(const Secret& data_key) const;

  // The receipt of a batch already held, if any.
  absl::StatusOr<std::optional<v1::Receipt>> FindReceipt(const std::string& batch_id) const
      ABSL_LOCKS_EXCLUDED(reopen_mutex_, db_pointer_mutex_);

  // Stores the records and the receipt atomically and durably (fsync), unless the batch is
  // already held: then returns the stored receipt and writes nothing. The batch header
  // (dataset, period, attribute schema) is kept so that analyses can read the records' values.
  absl::StatusOr<v1::Receipt> Commit(const v1::Receipt& receipt, const v1::BatchHeader& header,
                                     const std::vector<StoredRecord>& records)
      ABSL_LOCKS_EXCLUDED(commit_mutex_);

  // The header of a stored batch; `batch_id` raw (32 bytes) or hex.
  absl::StatusOr<v1::BatchHeader> FindBatchHeader(std::string_view batch_id) const;

  // Records whose token lies in [begin_token, end_token) (empty: unbounded), in key order;
  // disjoint ranges let several threads scan one dataset.
  // On `view` (NewReadView) when given, else on the store as it is now.
  std::unique_ptr<RecordCursor> NewRecordCursor(const std::string& dataset,
                                                std::string_view begin_token = {},
                                                std::string_view end_token = {},
                                                const ReadView* view = nullptr) const;
  // The store as it is now, for cursors that must agree (ReadView).
  absl::StatusOr<std::unique_ptr<ReadView>> NewReadView() const;

  // The counts of every dataset of the covenant.
  absl::StatusOr<std::vector<v1::DatasetStatus>> Status() const;
  // A RocksDB integer property ("rocksdb.total-sst-files-size"), summed over column families:
  // for the metrics endpoint.
  absl::StatusOr<uint64_t> IntProperty(const std::string& name) const;
  // The same, summed.
  absl::StatusOr<HeldCounts> Held() const;
  // Held() plus what retired epochs held: what the store acknowledged, for the mark.
  absl::StatusOr<HeldCounts> Acknowledged() const;

  // The schema (a batch header without its sequence) of every delivery run of a dataset, as
  // its first batch fixed it: what an analysis spec is checked against.
  absl::StatusOr<std::vector<v1::BatchHeader>> RunSchemas(const std::string& dataset) const;

  // For each token (32 bytes, re-keyed), whether a record of the dataset has it.
  absl::StatusOr<std::vector<bool>> HasTokens(const std::string& dataset,
                                              const std::vector<std::string>& tokens) const;

  // The key epochs held, per dataset (HeldEpochs).
  absl::StatusOr<HeldEpochs> Epochs() const;
  // Retires every epoch up to `epoch`: deletes their records and run schemas and lowers the
  // datasets' counts, in synced chunks that each keep the counts right (a crash leaves the
  // rest for the next call), keeping receipts and headers. The high-water mark counts retired
  // records as acknowledged. Returns what this call deleted.
  absl::StatusOr<RetiredCounts> RetireEpochsThrough(uint32_t epoch)
      ABSL_LOCKS_EXCLUDED(commit_mutex_);

  // The release budget: how many releases the covenant has had; Spend adds one durably.
  absl::StatusOr<int64_t> ReleasesSpent() const;
  absl::Status SpendRelease() ABSL_LOCKS_EXCLUDED(commit_mutex_);
  // The sealed entries of the release history (release_history.h), oldest first.
  absl::StatusOr<std::vector<std::string>> ReleaseHistory() const;
  // Spends one release of the budget and appends `sealed_entry` to the history, in one synced
  // write, so that a release is either recorded and counted or neither.
  absl::Status RecordRelease(const std::string& sealed_entry) ABSL_LOCKS_EXCLUDED(commit_mutex_);

  // After a restore (docs/operations.md, "Backups and restore"): raises the release count to
  // `at_least` when it is lower, durably, so that releases made after the backup, which its
  // audit log records, stay spent. Returns how many were added.
  absl::StatusOr<int64_t> RaiseReleasesSpent(int64_t at_least) ABSL_LOCKS_EXCLUDED(commit_mutex_);
  // After a restore: puts back the history entry numbered `sequence` (sealed, as the `release`
  // audit entry carries it) and raises the release count past it, in one synced write, unless
  // the history holds an entry of that number already. Returns whether it wrote.
  absl::StatusOr<bool> RestoreHistoryEntry(uint64_t sequence, const std::string& sealed_entry)
      ABSL_LOCKS_EXCLUDED(commit_mutex_);

  // For a backup: a RocksDB checkpoint of the instance in `to`/db (hard links where it can,
  // every file encrypted as in the store) and the high-water mark of exactly that point in
  // `to`/held, taken together under the commit lock, so that the copy opens as a store holding
  // what its mark says. `to` must not exist and must be on the store's file system.
  absl::StatusOr<HighWaterMark> Checkpoint(const std::filesystem::path& to)
      ABSL_LOCKS_EXCLUDED(commit_mutex_);

  // Calls `visit` for every stored record of a dataset in key order.
  absl::Status Scan(
      const std::string& dataset,
      const std::function<void(std::string_view key, std::string_view value)>& visit) const;

  // For benchmarks, which measure a store at rest: flushes the memtable and waits until no
  // flush or compaction runs or is pending. Returns the live SST bytes and "L0=n L1=m ...".
  struct Shape {
    uint64_t live_bytes = 0;
    std::string files_per_level;
  };
  absl::StatusOr<Shape> Settle();

  // Flushes the memtable into table files and syncs, so that nothing lives only in the
  // write-ahead log while the linker is down, then closes the instance once the cursors still
  // holding it are gone, however long that takes (requests are drained before a covenant's
  // end; a wait is logged every 10 s). Every later call fails. The destructor flushes too.
  absl::Status Close() ABSL_LOCKS_EXCLUDED(commit_mutex_, reopen_mutex_);

 private:
  CovenantStore(std::string covenant, std::filesystem::path dir, rocksdb::Options options,
                Options store_options, std::shared_ptr<rocksdb::Env> env,
                std::shared_ptr<rocksdb::DB> db, HmacSha256Key mark_key, Digest256 fingerprint);
  static absl::StatusOr<std::shared_ptr<rocksdb::DB>> OpenDb(const rocksdb::Options& options,
                                                             const std::filesystem::path& dir,
                                                             bool read_only,
                                                             std::shared_ptr<rocksdb::Env> env);
  // The database for one operation; UNAVAILABLE while it is being reopened or once closed.
  absl::StatusOr<std::shared_ptr<rocksdb::DB>> Db(std::string_view what) const
      ABSL_LOCKS_EXCLUDED(db_pointer_mutex_);
  // RESOURCE_EXHAUSTED when writing `bytes` would leave less than min_free_bytes free.
  absl::Status CheckFreeSpace(std::string_view what, uint64_t bytes) const;
  // Writes durably; after a failed write, the next one reopens the database first, so the
  // store recovers by itself once space is freed. Callers hold commit_mutex_; FindReceipt
  // (a delivery's first step) reopens too, so a failed reopen is retried by the next delivery.
  absl::Status Write(const rocksdb::WriteOptions& options, rocksdb::WriteBatch* batch,
                     std::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mutex_);
  absl::Status ReopenIfNeeded(std::string_view what) const ABSL_LOCKS_EXCLUDED(reopen_mutex_);
  // Takes the database out and waits until no cursor holds it; puts it back on timeout.
  absl::StatusOr<std::shared_ptr<rocksdb::DB>> TakeDb(absl::Duration patience,
                                                      std::string_view what) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reopen_mutex_) ABSL_LOCKS_EXCLUDED(db_pointer_mutex_);
  // The mark in `held_file`, nullopt when there is none; DATA_LOSS when it does not verify.
  static absl::StatusOr<std::optional<HighWaterMark>> ReadMark(const std::string& covenant,
                                                               const Options& options,
                                                               const HmacSha256Key& mark_key);
  static void WriteMark(const std::string& covenant, const Options& options,
                        const HmacSha256Key& mark_key, const HighWaterMark& mark);
  // What `held_file` holds for `mark`.
  static std::string MarkText(const std::string& covenant, const HmacSha256Key& mark_key,
                              const HighWaterMark& mark);
  // DATA_LOSS when the open instance holds less than `mark`; else raises the mark to it.
  absl::Status CheckAndRaiseMark(const std::optional<HighWaterMark>& mark)
      ABSL_LOCKS_EXCLUDED(commit_mutex_);
  // Writes the mark of what the instance holds now.
  void RaiseMark() ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mutex_);
  // Flushes the memtable and syncs the log; logged, not returned (closing goes on).
  void FlushToTables(rocksdb::DB* db) const;

  const std::string covenant_;
  const std::filesystem::path dir_;
  const rocksdb::Options options_;
  const Options store_options_;
  const std::shared_ptr<rocksdb::Env> env_;  // the encrypting Env; every DB opened on it keeps it
  // Taken in this order: commit_mutex_, reopen_mutex_, db_pointer_mutex_.
  mutable absl::Mutex reopen_mutex_;
  mutable absl::Mutex db_pointer_mutex_;
  // Null while reopening, after a failed reopen, and once closed.
  mutable std::shared_ptr<rocksdb::DB> db_ ABSL_GUARDED_BY(db_pointer_mutex_);
  mutable std::atomic<bool> reopen_needed_{false};
  std::atomic<bool> closed_{false};
  const HmacSha256Key mark_key_;
  const Digest256 fingerprint_;
  absl::Mutex commit_mutex_;  // makes check-then-write of a batch id atomic
  HeldCounts held_ ABSL_GUARDED_BY(commit_mutex_);
  int64_t releases_ ABSL_GUARDED_BY(commit_mutex_) = 0;
};

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_COVENANT_STORE_H_
