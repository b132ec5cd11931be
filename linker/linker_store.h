// The linker's durable store (ARCHITECTURE section 4) on RocksDB. Records are keyed by
// covenant, dataset and re-keyed person (or household) token, so that one person's records
// are adjacent and the join is an ordered scan. A batch is committed in one synced WriteBatch
// together with its receipt: it is either wholly stored and acknowledged, or not at all.
#ifndef KOPPEL_LINKER_LINKER_STORE_H_
#define KOPPEL_LINKER_LINKER_STORE_H_

#include <rocksdb/db.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "koppel/v1/batch.pb.h"
#include "koppel/v1/linker.pb.h"

namespace koppel {

// One record ready to store: its sort token (re-keyed) and its encrypted content.
struct StoredRecord {
  std::string token;      // 32 bytes, HMAC(K_link, agent token)
  std::string encrypted;  // nonce || secretbox(serialised record)
};

// Walks the records of one covenant's dataset in key order (by re-keyed token). Reads with a
// large readahead and without filling the block cache: analyses scan, they do not look up.
class RecordCursor {
 public:
  static constexpr size_t kTokenBytes = 32;
  static constexpr size_t kBatchIdBytes = 32;

  bool Valid() const { return valid_; }
  void Next();
  // The re-keyed person (or household) token, the raw batch id, and nonce || ciphertext.
  std::string_view token() const { return key().substr(prefix_size_, kTokenBytes); }
  std::string_view batch_id() const {
    return key().substr(prefix_size_ + kTokenBytes, kBatchIdBytes);
  }
  std::string_view value() const {
    return std::string_view(it_->value().data(), it_->value().size());
  }
  absl::Status status() const;

 private:
  friend class LinkerStore;
  RecordCursor(std::shared_ptr<rocksdb::DB> db, std::unique_ptr<rocksdb::Iterator> it,
               std::string prefix);
  explicit RecordCursor(absl::Status unavailable);  // not Valid(); status() says why
  std::string_view key() const { return std::string_view(it_->key().data(), it_->key().size()); }
  void Settle();

  std::shared_ptr<rocksdb::DB> db_;  // kept open while the cursor lives
  std::unique_ptr<rocksdb::Iterator> it_;
  absl::Status unavailable_;
  std::string prefix_;
  size_t prefix_size_;
  bool valid_ = false;
};

class LinkerStore {
 public:
  struct StoreOptions {
    // Writes are refused (RESOURCE_EXHAUSTED, "out of disk space") while less is free, before
    // RocksDB runs out: a WAL write that fails on a full disk stops the database.
    uint64_t min_free_bytes = 256 << 20;
    rocksdb::Env* env = nullptr;  // for tests that inject faults; nullptr: the default
  };
  // Opens (creating it, mode 700) the store in `dir`. Refuses a store whose write-ahead log is
  // corrupt anywhere but in an unacknowledged last record: DATA_LOSS naming the directory and
  // saying to restore it from a backup, never a silent roll-back to before the corruption.
  static absl::StatusOr<std::unique_ptr<LinkerStore>> Open(const std::filesystem::path& dir,
                                                           const StoreOptions& options);
  static absl::StatusOr<std::unique_ptr<LinkerStore>> Open(const std::filesystem::path& dir) {
    return Open(dir, StoreOptions{});
  }
  // For offline analysis and tests: reads a store another process may be serving.
  static absl::StatusOr<std::unique_ptr<LinkerStore>> OpenReadOnly(const std::filesystem::path& dir);

  // The receipt of a batch already held, if any.
  absl::StatusOr<std::optional<v1::Receipt>> FindReceipt(const std::string& batch_id) const;

  // Stores the records and the receipt atomically and durably (fsync), unless the batch is
  // already held: then returns the stored receipt and writes nothing.
  // The batch header (dataset, period, attribute schema) is kept so that analyses can read
  // the records' values.
  absl::StatusOr<v1::Receipt> Commit(const v1::Receipt& receipt, const v1::BatchHeader& header,
                                     const std::vector<StoredRecord>& records);

  // The header of a stored batch; `batch_id` raw (32 bytes) or hex.
  absl::StatusOr<v1::BatchHeader> FindBatchHeader(std::string_view batch_id) const;

  std::unique_ptr<RecordCursor> NewRecordCursor(const std::string& covenant,
                                                const std::string& dataset) const;

  absl::StatusOr<std::vector<v1::DatasetStatus>> Status() const;

  // The schema (a batch header without its sequence) of every delivery run of a covenant's
  // dataset, as its first batch fixed it: what an analysis spec is checked against.
  absl::StatusOr<std::vector<v1::BatchHeader>> RunSchemas(const std::string& covenant,
                                                          const std::string& dataset) const;

  // For each token (32 bytes, re-keyed), whether a record of the covenant's dataset has it.
  absl::StatusOr<std::vector<bool>> HasTokens(const std::string& covenant,
                                              const std::string& dataset,
                                              const std::vector<std::string>& tokens) const;

  struct Deleted {
    uint64_t records = 0;
    uint64_t batches = 0;
  };
  // Deletes every record, batch header, receipt and counter of a covenant, then flushes and
  // compacts the whole database so that no live file keeps the deleted entries.
  absl::StatusOr<Deleted> DeleteCovenant(const std::string& covenant);

  // For benchmarks, which measure a store at rest: flushes the memtable and waits until no
  // flush or compaction runs or is pending. Returns the live SST bytes and "L0=n L1=m ...".
  struct Shape {
    uint64_t live_bytes = 0;
    std::string files_per_level;
  };
  absl::StatusOr<Shape> Settle();

  // The release budget: how many releases a covenant has had; Spend adds one durably.
  absl::StatusOr<int64_t> ReleasesSpent(const std::string& covenant) const;
  absl::Status SpendRelease(const std::string& covenant);

  // The sealed entries of a covenant's release history (release_history.h), oldest first.
  absl::StatusOr<std::vector<std::string>> ReleaseHistory(const std::string& covenant) const;
  // Spends one release of the budget and appends `sealed_entry` to the history, in one synced
  // write, so that a release is either recorded and counted or neither.
  absl::Status RecordRelease(const std::string& covenant, const std::string& sealed_entry);

  // Calls `visit` for every stored record of a covenant's dataset in key order.
  absl::Status Scan(const std::string& covenant, const std::string& dataset,
                    const std::function<void(std::string_view key, std::string_view value)>& visit)
      const;

 private:
  LinkerStore(std::filesystem::path dir, rocksdb::Options options, StoreOptions store_options,
              std::shared_ptr<rocksdb::DB> db)
      : dir_(std::move(dir)), options_(std::move(options)),
        store_options_(store_options), db_(std::move(db)) {}
  static absl::StatusOr<std::shared_ptr<rocksdb::DB>> OpenDb(const rocksdb::Options& options,
                                                             const std::filesystem::path& dir);
  // The database for one operation; UNAVAILABLE while it is being reopened.
  absl::StatusOr<std::shared_ptr<rocksdb::DB>> Db(std::string_view what) const;
  // RESOURCE_EXHAUSTED when writing `bytes` would leave less than min_free_bytes free.
  absl::Status CheckFreeSpace(std::string_view what, uint64_t bytes) const;
  // Writes durably; after a failed write, the next one reopens the database first, so the
  // store recovers by itself once space is freed. Callers hold commit_mutex_; FindReceipt
  // (a delivery's first step) reopens too, so a failed reopen is retried by the next delivery.
  // `frees_space`: deletions go through below the free-space margin.
  absl::Status Write(const rocksdb::WriteOptions& options, rocksdb::WriteBatch* batch,
                     std::string_view what, bool frees_space = false);
  absl::Status ReopenIfNeeded(std::string_view what) const;

  const std::filesystem::path dir_;
  const rocksdb::Options options_;
  const StoreOptions store_options_;
  mutable std::mutex reopen_mutex_;
  mutable std::mutex db_pointer_mutex_;
  mutable std::shared_ptr<rocksdb::DB> db_;  // null while reopening, or when a reopen failed
  mutable std::atomic<bool> reopen_needed_{false};
  std::mutex commit_mutex_;  // makes check-then-write of a batch id atomic
};

}  // namespace koppel

#endif  // KOPPEL_LINKER_LINKER_STORE_H_
