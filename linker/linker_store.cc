#include "linker/linker_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <rocksdb/write_batch.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "core/hex.h"
#include "core/status_macros.h"

namespace koppel {
namespace {

// Key spaces, each starting with a tag byte and NUL-separated names.
std::string ReceiptKey(const std::string& batch_id) { return std::string("b\0", 2) + batch_id; }
std::string StatusKey(const std::string& covenant, const std::string& dataset) {
  return std::string("s\0", 2) + covenant + '\0' + dataset;
}
std::string HeaderKey(std::string_view raw_batch_id) {
  return std::string("h\0", 2) + std::string(raw_batch_id);
}
// The schema every batch of one delivery run shares: "u" covenant NUL dataset NUL run id.
std::string RunKey(const std::string& covenant, const std::string& dataset,
                   const std::string& run_id) {
  return std::string("u\0", 2) + covenant + '\0' + dataset + '\0' + run_id;
}

// What fixes how a run's records are read: identifiers, attributes, codes, period, epoch.
std::string RunSchema(const v1::BatchHeader& header) {
  v1::BatchHeader schema = header;
  schema.clear_sequence();
  return schema.SerializeAsString();
}

std::string RecordPrefix(const std::string& covenant, const std::string& dataset) {
  return std::string("r\0", 2) + covenant + '\0' + dataset + '\0';
}

std::string ReleaseCountKey(const std::string& covenant) {
  return std::string("m\0releases\0", 11) + covenant;
}

// Release history entries: "y" covenant NUL sequence (8 bytes, big endian).
std::string HistoryPrefix(const std::string& covenant) {
  return std::string("y\0", 2) + covenant + '\0';
}
std::string HistoryKey(const std::string& covenant, uint64_t sequence) {
  std::string key = HistoryPrefix(covenant);
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>((sequence >> shift) & 0xff));
  return key;
}

// The linker's callers (agents, the research unit) learn what went wrong and what to do, not
// the server's paths; the full RocksDB message goes to the linker's log.
absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  spdlog::error("store: {}: {}", what, s.ToString());
  if (s.IsNoSpace()) {
    return absl::ResourceExhaustedError(fmt::format(
        "the linker is out of disk space ({}); nothing was stored; it accepts again as soon as "
        "its operator frees space, retry later",
        what));
  }
  if (s.IsCorruption()) {
    return absl::DataLossError(fmt::format(
        "the linker's store is corrupt ({}); its operator must restore it from a backup", what));
  }
  return absl::InternalError(
      fmt::format("the linker's store failed ({}); details are in the linker's log", what));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinkerStore>> LinkerStore::Open(const std::filesystem::path& dir,
                                                                const StoreOptions& store) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  // Every acknowledged write is synced, so only the last record of the log can be incomplete
  // after a crash, and it was never acknowledged. Any other damage to the log refuses the open:
  // the default (point-in-time recovery) would drop everything after it, receipts included,
  // and come up with part of the data. kAbsoluteConsistency would also refuse the torn last
  // record of a batch killed mid-write, which loses nothing acknowledged.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  if (store.env != nullptr) options.env = store.env;
  // Keys are keyed hashes and values are ciphertext: nothing compresses, so do not try. It also
  // keeps the files scannable by the plaintext-leak tests.
  options.compression = rocksdb::kNoCompression;
  // Record and header ciphertext, receipts and the release history are for the linker alone.
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  if (ec) {
    return absl::PermissionDeniedError(fmt::format(
        "cannot make the linker database directory {} private (mode 700): {}", dir.string(),
        ec.message()));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, OpenDb(options, dir));
  return std::unique_ptr<LinkerStore>(new LinkerStore(dir, options, store, std::move(db)));
}

absl::StatusOr<std::shared_ptr<rocksdb::DB>> LinkerStore::OpenDb(const rocksdb::Options& options,
                                                                 const std::filesystem::path& dir) {
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir.string(), &db);
  if (s.IsCorruption()) {
    return absl::DataLossError(fmt::format(
        "the linker database in {} is damaged: {}. The linker does not start on a damaged store, "
        "because it would answer over part of the data: leave the directory as it is, restore it "
        "from the last backup (docs/services.md) and start again; agents then resend every batch "
        "whose receipt the backup does not hold",
        dir.string(), s.ToString()));
  }
  if (s.IsNoSpace()) return FromRocks(s, "opening the store");
  if (!s.ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "cannot open the linker database in {}: {} (is another linker using it?)", dir.string(),
        s.ToString()));
  }
  return std::shared_ptr<rocksdb::DB>(db);
}

absl::StatusOr<std::shared_ptr<rocksdb::DB>> LinkerStore::Db(std::string_view what) const {
  std::lock_guard<std::mutex> lock(db_pointer_mutex_);
  if (db_ == nullptr) {
    return absl::UnavailableError(fmt::format(
        "the linker's store is reopening after a failed write ({}); retry in a moment", what));
  }
  return db_;
}

absl::Status LinkerStore::CheckFreeSpace(std::string_view what, uint64_t bytes) const {
  if (store_options_.min_free_bytes == 0) return absl::OkStatus();
  struct statvfs disk {};
  if (::statvfs(dir_.c_str(), &disk) != 0) return absl::OkStatus();  // RocksDB will tell
  const uint64_t free = static_cast<uint64_t>(disk.f_bavail) * disk.f_frsize;
  if (free >= store_options_.min_free_bytes + 2 * bytes) return absl::OkStatus();
  spdlog::error("store: {}: {} MiB free on the disk of {}, below the {} MiB kept free", what,
                free >> 20, dir_.string(), store_options_.min_free_bytes >> 20);
  return absl::ResourceExhaustedError(fmt::format(
      "the linker is out of disk space ({}); nothing was stored; it accepts again as soon as its "
      "operator frees space, retry later",
      what));
}

absl::Status LinkerStore::ReopenIfNeeded(std::string_view what) const {
  std::lock_guard<std::mutex> reopening(reopen_mutex_);
  if (!reopen_needed_.load()) return absl::OkStatus();
  RETURN_IF_ERROR(CheckFreeSpace(what, 0));
  std::shared_ptr<rocksdb::DB> old;
  {
    std::lock_guard<std::mutex> lock(db_pointer_mutex_);
    old = std::move(db_);
  }
  if (old != nullptr) {
    // Readers (a query's cursor) hold the old instance; it closes with the last of them.
    for (int i = 0; i < 100 && old.use_count() > 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (old.use_count() > 1) {
      std::lock_guard<std::mutex> lock(db_pointer_mutex_);
      db_ = std::move(old);
      return absl::UnavailableError(fmt::format(
          "the linker's store is recovering from a failed write ({}) and waits for a running "
          "query; nothing was stored; retry later",
          what));
    }
    old.reset();
  }
  absl::StatusOr<std::shared_ptr<rocksdb::DB>> reopened = OpenDb(options_, dir_);
  if (!reopened.ok()) {
    spdlog::error("store: reopening after a failed write: {}", std::string(reopened.status().message()));
    if (absl::IsResourceExhausted(reopened.status())) return reopened.status();
    return absl::UnavailableError(fmt::format(
        "the linker's store could not be reopened after a failed write ({}); nothing was "
        "stored; retry later (details are in the linker's log)",
        what));
  }
  {
    std::lock_guard<std::mutex> lock(db_pointer_mutex_);
    db_ = std::move(*reopened);
  }
  reopen_needed_.store(false);
  spdlog::info("store: reopened after a failed write; accepting writes again");
  return absl::OkStatus();
}

absl::Status LinkerStore::Write(const rocksdb::WriteOptions& options, rocksdb::WriteBatch* batch,
                                std::string_view what, bool frees_space) {
  RETURN_IF_ERROR(ReopenIfNeeded(what));
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db(what));
  if (!frees_space) RETURN_IF_ERROR(CheckFreeSpace(what, batch->GetDataSize()));
  rocksdb::Status s = db->Write(options, batch);
  // A failed write (a full disk) stops RocksDB taking writes; WAL failures cannot be resumed
  // in place, so the next write reopens the store (replaying the synced log) first.
  if (!s.ok() && !db->Resume().ok()) reopen_needed_.store(true);
  return FromRocks(s, what);
}

absl::StatusOr<std::unique_ptr<LinkerStore>> LinkerStore::OpenReadOnly(
    const std::filesystem::path& dir) {
  rocksdb::Options options;
  options.paranoid_checks = true;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, dir.string(), &db);
  if (!s.ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "cannot open the linker database in {} for reading: {}", dir.string(), s.ToString()));
  }
  return std::unique_ptr<LinkerStore>(
      new LinkerStore(dir, options, StoreOptions{}, std::shared_ptr<rocksdb::DB>(db)));
}

absl::StatusOr<std::optional<v1::Receipt>> LinkerStore::FindReceipt(
    const std::string& batch_id) const {
  // The first thing a delivery asks: after a failed write, this is where the store recovers
  // (queries never reopen it: they may hold the old instance themselves).
  RETURN_IF_ERROR(ReopenIfNeeded("reading a receipt"));
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("reading a receipt"));
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), ReceiptKey(batch_id), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (absl::Status st = FromRocks(s, "reading a receipt"); !st.ok()) return st;
  v1::Receipt receipt;
  if (!receipt.ParseFromString(value)) return absl::DataLossError("a stored receipt is corrupt");
  return receipt;
}

absl::StatusOr<v1::Receipt> LinkerStore::Commit(const v1::Receipt& receipt,
                                                const v1::BatchHeader& header,
                                                const std::vector<StoredRecord>& records) {
  std::lock_guard<std::mutex> lock(commit_mutex_);
  RETURN_IF_ERROR(ReopenIfNeeded("writing a batch"));
  absl::StatusOr<std::optional<v1::Receipt>> held = FindReceipt(receipt.batch_id());
  if (!held.ok()) return held.status();
  if (held->has_value()) return **held;

  rocksdb::WriteBatch batch;
  const std::string prefix = RecordPrefix(receipt.covenant_id(), receipt.dataset());
  absl::StatusOr<std::vector<uint8_t>> id = FromHex(receipt.batch_id());
  if (!id.ok() || id->size() != 32) return absl::InvalidArgumentError("malformed batch id");
  std::string key;
  for (size_t i = 0; i < records.size(); ++i) {
    // token || batch id || index: one person's records are adjacent, and no two collide.
    key = prefix;
    key += records[i].token;
    key.append(reinterpret_cast<const char*>(id->data()), id->size());
    for (int shift = 24; shift >= 0; shift -= 8) key.push_back(static_cast<char>((i >> shift) & 0xff));
    batch.Put(key, records[i].encrypted);
  }
  v1::DatasetStatus status;
  std::string status_value;
  const std::string status_key = StatusKey(receipt.covenant_id(), receipt.dataset());
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("writing a batch"));
  // A run's first batch fixes its fields; a later batch of the run must carry the same.
  const std::string run_key = RunKey(receipt.covenant_id(), receipt.dataset(), header.run_id());
  const std::string run_schema = RunSchema(header);
  std::string held_schema;
  rocksdb::Status run = db->Get(rocksdb::ReadOptions(), run_key, &held_schema);
  if (!run.ok() && !run.IsNotFound()) return FromRocks(run, "reading a run's schema");
  if (run.ok() && held_schema != run_schema) {
    return absl::InvalidArgumentError(fmt::format(
        "batch {} (number {} of run {} of dataset '{}') carries other fields, codes or period "
        "than the run's first batch; a run is sealed from one export with one mapping, so "
        "nothing of it is stored (seal the export again as a new run)",
        receipt.batch_id(), header.sequence(), header.run_id(), receipt.dataset()));
  }
  if (run.IsNotFound()) batch.Put(run_key, run_schema);
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), status_key, &status_value);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading dataset status");
  if (s.ok() && !status.ParseFromString(status_value)) {
    return absl::DataLossError("stored dataset status is corrupt");
  }
  status.set_covenant_id(receipt.covenant_id());
  status.set_dataset(receipt.dataset());
  status.set_records(status.records() + records.size());
  status.set_batches(status.batches() + 1);
  batch.Put(status_key, status.SerializeAsString());
  batch.Put(ReceiptKey(receipt.batch_id()), receipt.SerializeAsString());
  batch.Put(HeaderKey(std::string_view(reinterpret_cast<const char*>(id->data()), id->size())),
            header.SerializeAsString());
  rocksdb::WriteOptions options;
  options.sync = true;  // acknowledged means on disk
  RETURN_IF_ERROR(Write(options, &batch, "writing a batch"));
  return receipt;
}

absl::StatusOr<std::vector<v1::DatasetStatus>> LinkerStore::Status() const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("reading the status"));
  std::vector<v1::DatasetStatus> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix("s\0", 2);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    v1::DatasetStatus status;
    if (!status.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("stored dataset status is corrupt");
    }
    out.push_back(status);
  }
  if (absl::Status st = FromRocks(it->status(), "scanning status"); !st.ok()) return st;
  return out;
}

absl::Status LinkerStore::Scan(
    const std::string& covenant, const std::string& dataset,
    const std::function<void(std::string_view key, std::string_view value)>& visit) const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("scanning records"));
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = RecordPrefix(covenant, dataset);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    visit(std::string_view(it->key().data(), it->key().size()),
          std::string_view(it->value().data(), it->value().size()));
  }
  return FromRocks(it->status(), "scanning records");
}

absl::StatusOr<std::vector<bool>> LinkerStore::HasTokens(
    const std::string& covenant, const std::string& dataset,
    const std::vector<std::string>& tokens) const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("looking up tokens"));
  std::vector<bool> found(tokens.size(), false);
  // In key order: neighbouring seeks reuse the blocks just read (about 25% faster).
  std::vector<size_t> order(tokens.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tokens[a] < tokens[b]; });
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = RecordPrefix(covenant, dataset);
  std::string key;
  for (size_t i : order) {
    key = prefix + tokens[i];
    it->Seek(key);
    found[i] = it->Valid() && it->key().starts_with(key);
  }
  if (absl::Status st = FromRocks(it->status(), "looking up tokens"); !st.ok()) return st;
  return found;
}

absl::StatusOr<LinkerStore::Deleted> LinkerStore::DeleteCovenant(const std::string& covenant) {
  std::unique_lock<std::mutex> lock(commit_mutex_);  // only for the write: compaction is long
  RETURN_IF_ERROR(ReopenIfNeeded("deleting a covenant's data"));
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("deleting a covenant's data"));
  Deleted deleted;
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  // Counters first: they say how many records the covenant had.
  const std::string status_prefix = std::string("s\0", 2) + covenant + '\0';
  for (it->Seek(status_prefix); it->Valid() && it->key().starts_with(status_prefix); it->Next()) {
    v1::DatasetStatus status;
    if (status.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      deleted.records += status.records();
    }
    batch.Delete(it->key());
  }
  // Receipts and headers are keyed by batch id; they name their covenant inside.
  const std::string receipt_prefix("b\0", 2);
  for (it->Seek(receipt_prefix); it->Valid() && it->key().starts_with(receipt_prefix); it->Next()) {
    v1::Receipt receipt;
    if (!receipt.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) ||
        receipt.covenant_id() != covenant) {
      continue;
    }
    ++deleted.batches;
    batch.Delete(it->key());
  }
  const std::string header_prefix("h\0", 2);
  for (it->Seek(header_prefix); it->Valid() && it->key().starts_with(header_prefix); it->Next()) {
    v1::BatchHeader header;
    if (header.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) &&
        header.covenant_id() == covenant) {
      batch.Delete(it->key());
    }
  }
  if (absl::Status st = FromRocks(it->status(), "listing a covenant's batches"); !st.ok()) {
    return st;
  }
  it.reset();
  const std::string records_begin = std::string("r\0", 2) + covenant + '\0';
  const std::string records_end = std::string("r\0", 2) + covenant + '\1';
  batch.DeleteRange(records_begin, records_end);
  batch.Delete(ReleaseCountKey(covenant));
  batch.DeleteRange(HistoryPrefix(covenant), std::string("y\0", 2) + covenant + '\1');
  batch.DeleteRange(std::string("u\0", 2) + covenant + '\0', std::string("u\0", 2) + covenant + '\1');
  rocksdb::WriteOptions sync;
  sync.sync = true;
  RETURN_IF_ERROR(Write(sync, &batch, "deleting a covenant's data", /*frees_space=*/true));
  lock.unlock();
  // Rewrite every file: the range tombstone alone leaves the old values on disk.
  RETURN_IF_ERROR(FromRocks(db->Flush(rocksdb::FlushOptions()), "flushing after deletion"));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  RETURN_IF_ERROR(FromRocks(db->CompactRange(compact, nullptr, nullptr), "compacting after deletion"));
  RETURN_IF_ERROR(FromRocks(db->FlushWAL(true), "syncing the log after deletion"));
  return deleted;
}

absl::StatusOr<LinkerStore::Shape> LinkerStore::Settle() {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("settling"));
  rocksdb::FlushOptions flush;
  flush.wait = true;
  RETURN_IF_ERROR(FromRocks(db->Flush(flush), "flushing"));
  for (;;) {
    uint64_t pending = 0, compactions = 0, flushes = 0;
    db->GetIntProperty("rocksdb.compaction-pending", &pending);
    db->GetIntProperty("rocksdb.num-running-compactions", &compactions);
    db->GetIntProperty("rocksdb.num-running-flushes", &flushes);
    if (pending == 0 && compactions == 0 && flushes == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Shape shape;
  db->GetIntProperty("rocksdb.live-sst-files-size", &shape.live_bytes);
  for (int level = 0; level < 7; ++level) {
    std::string files;
    db->GetProperty("rocksdb.num-files-at-level" + std::to_string(level), &files);
    if (files != "0") {
      shape.files_per_level += fmt::format("{}L{}={}", shape.files_per_level.empty() ? "" : " ",
                                           level, files);
    }
  }
  return shape;
}

absl::StatusOr<int64_t> LinkerStore::ReleasesSpent(const std::string& covenant) const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("reading the release budget"));
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), ReleaseCountKey(covenant), &value);
  if (s.IsNotFound()) return 0;
  RETURN_IF_ERROR(FromRocks(s, "reading the release budget"));
  int64_t spent = 0;
  if (!absl::SimpleAtoi(value, &spent)) return absl::DataLossError("the release count is corrupt");
  return spent;
}

absl::Status LinkerStore::SpendRelease(const std::string& covenant) {
  std::lock_guard<std::mutex> lock(commit_mutex_);
  RETURN_IF_ERROR(ReopenIfNeeded("recording a release"));
  ASSIGN_OR_RETURN(int64_t spent, ReleasesSpent(covenant));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  rocksdb::WriteBatch batch;
  batch.Put(ReleaseCountKey(covenant), std::to_string(spent + 1));
  return Write(sync, &batch, "spending a release");
}

absl::StatusOr<v1::BatchHeader> LinkerStore::FindBatchHeader(std::string_view batch_id) const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("reading a batch header"));
  std::string raw(batch_id);
  if (batch_id.size() == 2 * RecordCursor::kBatchIdBytes) {
    absl::StatusOr<std::vector<uint8_t>> bytes = FromHex(std::string(batch_id));
    if (!bytes.ok()) return absl::InvalidArgumentError("malformed batch id");
    raw.assign(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  }
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), HeaderKey(raw), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(fmt::format("no header stored for batch {}", ToHex(std::span(
        reinterpret_cast<const uint8_t*>(raw.data()), raw.size()))));
  }
  if (absl::Status st = FromRocks(s, "reading a batch header"); !st.ok()) return st;
  v1::BatchHeader header;
  if (!header.ParseFromString(value)) return absl::DataLossError("a stored batch header is corrupt");
  return header;
}

std::unique_ptr<RecordCursor> LinkerStore::NewRecordCursor(const std::string& covenant,
                                                           const std::string& dataset) const {
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  options.readahead_size = 4 << 20;
  const std::string prefix = RecordPrefix(covenant, dataset);
  absl::StatusOr<std::shared_ptr<rocksdb::DB>> db = Db("scanning records");
  if (!db.ok()) return std::unique_ptr<RecordCursor>(new RecordCursor(db.status()));
  std::unique_ptr<rocksdb::Iterator> it((*db)->NewIterator(options));
  it->Seek(prefix);
  return std::unique_ptr<RecordCursor>(new RecordCursor(*db, std::move(it), prefix));
}

RecordCursor::RecordCursor(std::shared_ptr<rocksdb::DB> db, std::unique_ptr<rocksdb::Iterator> it,
                           std::string prefix)
    : db_(std::move(db)), it_(std::move(it)), prefix_(std::move(prefix)),
      prefix_size_(prefix_.size()) {
  Settle();
}

RecordCursor::RecordCursor(absl::Status unavailable)
    : unavailable_(std::move(unavailable)), prefix_size_(0) {}

void RecordCursor::Next() {
  if (it_ == nullptr) return;
  it_->Next();
  Settle();
}

void RecordCursor::Settle() {
  valid_ = it_->Valid() && it_->key().starts_with(prefix_) &&
           it_->key().size() == prefix_size_ + kTokenBytes + kBatchIdBytes + 4;
}

absl::Status RecordCursor::status() const {
  if (it_ == nullptr) return unavailable_;
  return FromRocks(it_->status(), "scanning records");
}


absl::StatusOr<std::vector<v1::BatchHeader>> LinkerStore::RunSchemas(
    const std::string& covenant, const std::string& dataset) const {
  const std::string prefix = RunKey(covenant, dataset, "");
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("reading the delivery runs"));
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  std::vector<v1::BatchHeader> runs;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    v1::BatchHeader header;
    if (!header.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("a stored run schema is corrupt");
    }
    runs.push_back(std::move(header));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading the delivery runs"));
  return runs;
}

absl::StatusOr<std::vector<std::string>> LinkerStore::ReleaseHistory(
    const std::string& covenant) const {
  const std::string prefix = HistoryPrefix(covenant);
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("reading the release history"));
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  std::vector<std::string> entries;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    entries.emplace_back(it->value().data(), it->value().size());
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading the release history"));
  return entries;
}

absl::Status LinkerStore::RecordRelease(const std::string& covenant,
                                        const std::string& sealed_entry) {
  std::lock_guard<std::mutex> lock(commit_mutex_);
  RETURN_IF_ERROR(ReopenIfNeeded("recording a release"));
  ASSIGN_OR_RETURN(int64_t spent, ReleasesSpent(covenant));
  rocksdb::WriteBatch batch;
  batch.Put(ReleaseCountKey(covenant), std::to_string(spent + 1));
  batch.Put(HistoryKey(covenant, static_cast<uint64_t>(spent)), sealed_entry);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  return Write(sync, &batch, "recording a release");
}

}  // namespace koppel
