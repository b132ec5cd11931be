#include "linker/covenant_store.h"

#include <fmt/format.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/atomic_file.h"
#include "core/hex.h"
#include "core/refusal.h"
#include "core/status_macros.h"
#include "linker/store_encryption.h"

namespace koppel::linker {
namespace {

// Key spaces of one instance, each starting with a tag byte; names are NUL-separated.
std::string ReceiptKey(const std::string& batch_id) { return std::string("b\0", 2) + batch_id; }
std::string StatusKey(const std::string& dataset) { return std::string("s\0", 2) + dataset; }
std::string HeaderKey(std::string_view raw_batch_id) {
  return std::string("h\0", 2) + std::string(raw_batch_id);
}
// The schema every batch of one delivery run shares: "u" dataset NUL run id.
std::string RunKey(const std::string& dataset, const std::string& run_id) {
  return std::string("u\0", 2) + dataset + '\0' + run_id;
}
// Records: "r" dataset NUL token batch-id index.
std::string RecordPrefix(const std::string& dataset) {
  return std::string("r\0", 2) + dataset + '\0';
}
const std::string kReleaseCountKey("m\0releases", 10);
// The retired key epochs: "through records batches", what retiring them deleted.
const std::string kRetiredKey("e\0retired", 10);
const std::string kHeaderPrefix("h\0", 2);
// The epoch through which the last retirement finished deleting.
const std::string kRetiredDoneKey("e\0retired_done", 15);

struct RetiredState {
  uint32_t through = 0;
  uint64_t records = 0;
  uint64_t batches = 0;
};

std::string RetiredValue(const RetiredState& state) {
  return fmt::format("{} {} {}", state.through, state.records, state.batches);
}

absl::StatusOr<RetiredState> ReadRetired(rocksdb::DB* db) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kRetiredKey, &value);
  RetiredState state;
  if (s.IsNotFound()) return state;
  if (!s.ok()) return absl::InternalError("reading the retired key epochs: " + s.ToString());
  const std::vector<std::string> parts = absl::StrSplit(value, ' ');
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &state.through) ||
      !absl::SimpleAtoi(parts[1], &state.records) || !absl::SimpleAtoi(parts[2], &state.batches)) {
    return absl::DataLossError("the record of retired key epochs is corrupt");
  }
  return state;
}

// Records deleted per synced write while retiring epochs.
constexpr uint64_t kRetireChunk = 100000;
// Release history entries: "y" sequence (8 bytes, big endian).
const std::string kHistoryPrefix("y\0", 2);
std::string HistoryKey(uint64_t sequence) {
  std::string key = kHistoryPrefix;
  for (int shift = 56; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((sequence >> shift) & 0xff));
  }
  return key;
}

// What fixes how a run's records are read: identifiers, attributes, codes, period, epoch.
std::string RunSchema(const v1::BatchHeader& header) {
  v1::BatchHeader schema = header;
  schema.clear_sequence();
  return schema.SerializeAsString();
}

// How long a reopening store waits for the cursors still reading it; how often a closing
// store, which waits as long as they take, says so.
constexpr absl::Duration kReopenPatience = absl::Seconds(10);
constexpr absl::Duration kCloseWaitLogEvery = absl::Seconds(10);

// HKDF labels of the keys derived from a covenant's data key for the high-water mark; the key
// fingerprint is a MAC of a fixed label under the mark's key.
constexpr std::string_view kMarkKeyLabel = "koppel linker covenant store high-water mark v1";
constexpr std::string_view kFingerprintLabel = "koppel linker covenant store key fingerprint v1";

absl::StatusOr<HmacSha256Key> MarkKey(const Secret& data_key) {
  ASSIGN_OR_RETURN(Secret derived, HkdfSha256(data_key.span(), {}, kMarkKeyLabel, 32));
  return HmacSha256Key::Create(derived.span());
}

// What the mark's MAC covers: the covenant and every number, in a fixed order.
std::string MarkMessage(const std::string& covenant, const HighWaterMark& mark) {
  return fmt::format("koppel held mark 1\n{}\n{}\n{}\n{}\n{}", covenant, mark.records, mark.batches,
                     mark.releases, mark.sequence);
}

std::string MarkMac(const HmacSha256Key& key, const std::string& covenant,
                    const HighWaterMark& mark) {
  const Digest256 mac = key.Mac(MarkMessage(covenant, mark));
  return ToHex(std::span<const uint8_t>(mac.data(), mac.size()));
}

const char* const kRestoreAdvice =
    "leave the directory as it is and restore the covenant's directory (its db/ and held "
    "together, from the same backup) from the last backup; see docs/services.md, \"A store "
    "behind what it acknowledged\"";

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

CovenantStore::CovenantStore(std::string covenant, std::filesystem::path dir,
                             rocksdb::Options options, Options store_options,
                             std::shared_ptr<rocksdb::Env> env, std::shared_ptr<rocksdb::DB> db,
                             HmacSha256Key mark_key, Digest256 fingerprint)
    : covenant_(std::move(covenant)),
      dir_(std::move(dir)),
      options_(std::move(options)),
      store_options_(std::move(store_options)),
      env_(std::move(env)),
      db_(std::move(db)),
      mark_key_(std::move(mark_key)),
      fingerprint_(fingerprint) {}

CovenantStore::~CovenantStore() {
  absl::MutexLock lock(&db_pointer_mutex_);
  if (db_ != nullptr && !store_options_.read_only) FlushToTables(db_.get());
}

absl::StatusOr<Digest256> CovenantStore::KeyFingerprint(const Secret& data_key) {
  ASSIGN_OR_RETURN(HmacSha256Key key, MarkKey(data_key));
  return key.Mac(kFingerprintLabel);
}

bool CovenantStore::OpensWith(const Secret& data_key) const {
  absl::StatusOr<Digest256> fingerprint = KeyFingerprint(data_key);
  return fingerprint.ok() &&
         sodium_memcmp(fingerprint->data(), fingerprint_.data(), fingerprint_.size()) == 0;
}

void CovenantStore::FlushToTables(rocksdb::DB* db) const {
  rocksdb::FlushOptions flush;
  flush.wait = true;
  rocksdb::Status s = db->Flush(flush);
  if (s.ok()) s = db->FlushWAL(/*sync=*/true);
  if (!s.ok()) {
    // Nothing is lost: every acknowledged write is in the synced log, replayed at the next open.
    spdlog::warn("store: flushing covenant {}'s instance before closing: {}", covenant_,
                 s.ToString());
  }
}

absl::StatusOr<std::unique_ptr<CovenantStore>> CovenantStore::Open(std::string covenant,
                                                                   const std::filesystem::path& dir,
                                                                   const Secret& data_key,
                                                                   const Options& store) {
  rocksdb::Env* base = store.base_env != nullptr ? store.base_env : rocksdb::Env::Default();
  ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::Env> encrypted, NewEncryptedStoreEnv(base, data_key));
  std::shared_ptr<rocksdb::Env> env(std::move(encrypted));
  ASSIGN_OR_RETURN(HmacSha256Key mark_key, MarkKey(data_key));
  const Digest256 fingerprint = mark_key.Mac(kFingerprintLabel);
  // A mark that does not verify is reported once the instance opened: a wrong data key fails
  // there first, and says so.
  absl::StatusOr<std::optional<HighWaterMark>> mark = ReadMark(covenant, store, mark_key);
  const bool create = store.create && !store.read_only;
  std::error_code exists_ec;
  if (!create && !std::filesystem::exists(dir / "CURRENT", exists_ec)) {
    return absl::DataLossError(fmt::format(
        "the store of covenant {} in {} is missing (no CURRENT file) although the linker held it "
        "before{}; it is not created anew empty: {}",
        covenant, dir.string(),
        mark.ok() && mark->has_value()
            ? fmt::format(" ({} records of {} batches, {} releases acknowledged)", (*mark)->records,
                          (*mark)->batches, (*mark)->releases)
            : "",
        kRestoreAdvice));
  }
  if (!create && mark.ok() && !mark->has_value() && !store.held_file.empty()) {
    return absl::DataLossError(fmt::format(
        "the high-water mark of covenant {}'s store ({}) is missing, so the linker cannot tell "
        "whether the store still holds everything it acknowledged: {}",
        covenant, store.held_file.string(), kRestoreAdvice));
  }
  // A new store's mark comes first: a store whose mark is gone is never taken for a new one.
  if (create && mark.ok() && !mark->has_value()) {
    *mark = HighWaterMark{};
    WriteMark(covenant, store, mark_key, **mark);
  }
  rocksdb::Options options;
  options.create_if_missing = create;
  options.paranoid_checks = true;
  // Every acknowledged write is synced, so only the last record of the log can be incomplete
  // after a crash, and it was never acknowledged. Any other damage to the log refuses the open:
  // the default (point-in-time recovery) would drop everything after it, receipts included,
  // and come up with part of the data. kAbsoluteConsistency would also refuse the torn last
  // record of a batch killed mid-write, which loses nothing acknowledged.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  options.env = env.get();
  // Keys are keyed hashes and records small protobufs: little to gain from compression, and
  // analyses would pay for it on every scan.
  options.compression = rocksdb::kNoCompression;
  RETURN_IF_ERROR(ConfigureEncryptedStoreOptions(data_key, &options));
  if (!store.read_only) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          fmt::format("cannot make the directory {} of covenant {}'s store private (mode 700): {}",
                      dir.string(), covenant, ec.message()));
    }
  }
  // A changed SST is refused before anything reads it: the linker opens without compactions,
  // checks every live SST's MAC, and only then lets RocksDB compact (a compaction of a forged
  // file would give it a fresh MAC). Offline readers (read-only) do not check: a linker may be
  // compacting the files under them.
  rocksdb::Options opening = options;
  if (!store.read_only) opening.disable_auto_compactions = true;
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, OpenDb(opening, dir, store.read_only, env));
  if (!store.read_only) {
    if (absl::Status verified = VerifyEncryptedStore(db.get()); !verified.ok()) {
      spdlog::error("store: covenant {}: {}", covenant, std::string(verified.message()));
      return absl::DataLossError(fmt::format("covenant {}'s store does not verify: {}. {}",
                                             covenant, std::string(verified.message()),
                                             kRestoreAdvice));
    }
    RETURN_IF_ERROR(FromRocks(db->SetOptions({{"disable_auto_compactions", "false"}}),
                              "enabling compactions after the store was verified"));
  }
  if (!mark.ok()) return mark.status();
  std::unique_ptr<CovenantStore> opened(new CovenantStore(std::move(covenant), dir, options, store,
                                                          std::move(env), std::move(db),
                                                          std::move(mark_key), fingerprint));
  if (absl::Status checked = opened->CheckAndRaiseMark(*mark); !checked.ok()) {
    absl::MutexLock lock(&opened->db_pointer_mutex_);
    opened->db_.reset();  // closed as found: no flush
    opened->closed_.store(true);
    return checked;
  }
  return opened;
}

absl::StatusOr<std::optional<HighWaterMark>> CovenantStore::ReadMark(
    const std::string& covenant, const Options& options, const HmacSha256Key& mark_key) {
  if (options.held_file.empty()) return std::nullopt;
  std::error_code ec;
  if (!std::filesystem::exists(options.held_file, ec)) return std::nullopt;
  std::ifstream in(options.held_file, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  HighWaterMark mark;
  bool well_formed = json.is_object() && json.contains("mac") && json["mac"].is_string();
  for (const char* field : {"records", "batches", "releases", "sequence"}) {
    well_formed = well_formed && json.contains(field) && json[field].is_number_unsigned();
  }
  if (well_formed) {
    mark.records = json["records"].get<uint64_t>();
    mark.batches = json["batches"].get<uint64_t>();
    mark.releases = static_cast<int64_t>(json["releases"].get<uint64_t>());
    mark.sequence = json["sequence"].get<uint64_t>();
  }
  const std::string expected = MarkMac(mark_key, covenant, mark);
  if (!well_formed || json["mac"].get<std::string>().size() != expected.size() ||
      sodium_memcmp(json["mac"].get<std::string>().data(), expected.data(), expected.size()) != 0) {
    return absl::DataLossError(fmt::format(
        "the high-water mark of covenant {}'s store ({}) does not verify under its data key: it "
        "was altered, or belongs to another store or key. The linker does not open the store "
        "without knowing what it acknowledged: {}",
        covenant, options.held_file.string(), kRestoreAdvice));
  }
  return mark;
}

void CovenantStore::WriteMark(const std::string& covenant, const Options& options,
                              const HmacSha256Key& mark_key, const HighWaterMark& mark) {
  if (options.held_file.empty() || options.read_only) return;
  if (absl::Status s = WriteFileAtomically(options.held_file, MarkText(covenant, mark_key, mark));
      !s.ok()) {
    // The mark lags until the next commit or open: a check against it is only weaker.
    spdlog::warn("store: could not update the high-water mark of covenant {}: {}", covenant,
                 std::string(s.message()));
  }
}

std::string CovenantStore::MarkText(const std::string& covenant, const HmacSha256Key& mark_key,
                                    const HighWaterMark& mark) {
  const nlohmann::json json = {{"records", mark.records},
                               {"batches", mark.batches},
                               {"releases", static_cast<uint64_t>(mark.releases)},
                               {"sequence", mark.sequence},
                               {"mac", MarkMac(mark_key, covenant, mark)}};
  return json.dump() + "\n";
}

absl::Status CovenantStore::CheckAndRaiseMark(const std::optional<HighWaterMark>& mark) {
  absl::MutexLock lock(&commit_mutex_);
  ASSIGN_OR_RETURN(held_, Acknowledged());
  ASSIGN_OR_RETURN(releases_, ReleasesSpent());
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("checking the high-water mark"));
  const uint64_t sequence = db->GetLatestSequenceNumber();
  if (mark.has_value() && (held_.records < mark->records || held_.batches < mark->batches ||
                           releases_ < mark->releases || sequence < mark->sequence)) {
    return absl::DataLossError(fmt::format(
        "the store of covenant {} in {} is behind what it acknowledged: it holds {} records of "
        "{} batches and {} releases (sequence {}), its high-water mark says {} records of {} "
        "batches and {} releases (sequence {}). Part of its write-ahead log or table files is "
        "gone or was cut short; serving it would lose acknowledged batches (agents would not "
        "resend them) and reset the release budget: {}",
        covenant_, dir_.string(), held_.records, held_.batches, releases_, sequence, mark->records,
        mark->batches, mark->releases, mark->sequence, kRestoreAdvice));
  }
  RaiseMark();
  return absl::OkStatus();
}

void CovenantStore::RaiseMark() {
  if (store_options_.read_only) return;
  absl::StatusOr<std::shared_ptr<rocksdb::DB>> db = Db("raising the high-water mark");
  if (!db.ok()) return;
  WriteMark(covenant_, store_options_, mark_key_,
            {held_.records, held_.batches, releases_, (*db)->GetLatestSequenceNumber()});
}

absl::StatusOr<std::shared_ptr<rocksdb::DB>> CovenantStore::OpenDb(
    const rocksdb::Options& options, const std::filesystem::path& dir, bool read_only,
    std::shared_ptr<rocksdb::Env> env) {
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = read_only ? rocksdb::DB::OpenForReadOnly(options, dir.string(), &db)
                                : rocksdb::DB::Open(options, dir.string(), &db);
  if (IsUnencryptedStoreFile(s)) {
    return absl::DataLossError(fmt::format(
        "the store in {} holds files that were never encrypted: {}. No linker writes such a "
        "store there; leave the directory as it is and restore it from the last backup",
        dir.string(), s.ToString()));
  }
  if (IsWrongStoreKey(s)) {
    return absl::DataLossError(fmt::format(
        "the store in {} does not open with the data key the linker was given: {}. Either the "
        "vault's key for this covenant is not the one that wrote the store (another vault, or "
        "the linker started without --vault when it ran with one before, or the other way "
        "round), or the files were altered. Start the linker the way it wrote the store; "
        "nothing was read or changed",
        dir.string(), s.ToString()));
  }
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
    return absl::FailedPreconditionError(
        fmt::format("cannot open the linker database in {}{}: {} (is another linker using it?)",
                    dir.string(), read_only ? " for reading" : "", s.ToString()));
  }
  // The Env outlives the database: whoever holds the last reference (a cursor) closes both.
  return std::shared_ptr<rocksdb::DB>(db, [env = std::move(env)](rocksdb::DB* d) { delete d; });
}

absl::StatusOr<std::shared_ptr<rocksdb::DB>> CovenantStore::Db(std::string_view what) const {
  absl::MutexLock lock(&db_pointer_mutex_);
  if (db_ == nullptr) {
    if (closed_.load()) {
      return absl::FailedPreconditionError(fmt::format(
          "the store of covenant {} is closed (the covenant ended) ({})", covenant_, what));
    }
    return absl::UnavailableError(fmt::format(
        "the linker's store is reopening after a failed write ({}); retry in a moment", what));
  }
  return db_;
}

absl::StatusOr<uint64_t> CovenantStore::IntProperty(const std::string& name) const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("reading a property"));
  uint64_t value = 0;
  if (!db->GetAggregatedIntProperty(name, &value)) {
    return absl::NotFoundError(fmt::format("RocksDB has no integer property {}", name));
  }
  return value;
}

absl::Status CovenantStore::CheckFreeSpace(std::string_view what, uint64_t bytes) const {
  if (store_options_.min_free_bytes == 0) return absl::OkStatus();
  struct statvfs disk;
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

absl::StatusOr<std::shared_ptr<rocksdb::DB>> CovenantStore::TakeDb(absl::Duration patience,
                                                                   std::string_view what) const {
  std::shared_ptr<rocksdb::DB> old;
  {
    absl::MutexLock lock(&db_pointer_mutex_);
    old = std::move(db_);
  }
  if (old == nullptr) return old;
  // Readers (a query's cursor) hold the instance; it closes with the last of them.
  const absl::Time deadline = absl::Now() + patience;
  absl::Time next_log = absl::Now() + kCloseWaitLogEvery;
  while (old.use_count() > 1 && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (absl::Now() >= next_log) {
      spdlog::info("store: {}: covenant {}'s store waits for {} cursor(s) still reading it", what,
                   covenant_, old.use_count() - 1);
      next_log += kCloseWaitLogEvery;
    }
  }
  if (old.use_count() > 1) {
    absl::MutexLock lock(&db_pointer_mutex_);
    db_ = std::move(old);
    return absl::UnavailableError(fmt::format(
        "the store of covenant {} waits for a running query ({}); retry later", covenant_, what));
  }
  return old;
}

absl::Status CovenantStore::ReopenIfNeeded(std::string_view what) const {
  absl::MutexLock reopening(&reopen_mutex_);
  if (!reopen_needed_.load() || closed_.load()) return absl::OkStatus();
  RETURN_IF_ERROR(CheckFreeSpace(what, 0));
  absl::StatusOr<std::shared_ptr<rocksdb::DB>> old = TakeDb(kReopenPatience, what);
  if (!old.ok()) {
    return absl::UnavailableError(fmt::format(
        "the linker's store is recovering from a failed write ({}) and waits for a running "
        "query; nothing was stored; retry later",
        what));
  }
  old->reset();
  absl::StatusOr<std::shared_ptr<rocksdb::DB>> reopened =
      OpenDb(options_, dir_, store_options_.read_only, env_);
  if (!reopened.ok()) {
    spdlog::error("store: reopening after a failed write: {}",
                  std::string(reopened.status().message()));
    if (absl::IsResourceExhausted(reopened.status())) return reopened.status();
    return absl::UnavailableError(fmt::format(
        "the linker's store could not be reopened after a failed write ({}); nothing was "
        "stored; retry later (details are in the linker's log)",
        what));
  }
  {
    absl::MutexLock lock(&db_pointer_mutex_);
    db_ = std::move(*reopened);
  }
  reopen_needed_.store(false);
  spdlog::info("store: reopened after a failed write; accepting writes again");
  return absl::OkStatus();
}

absl::Status CovenantStore::Write(const rocksdb::WriteOptions& options, rocksdb::WriteBatch* batch,
                                  std::string_view what) {
  RETURN_IF_ERROR(ReopenIfNeeded(what));
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db(what));
  RETURN_IF_ERROR(CheckFreeSpace(what, batch->GetDataSize()));
  rocksdb::Status s = db->Write(options, batch);
  // A failed write (a full disk) stops RocksDB taking writes; WAL failures cannot be resumed
  // in place, so the next write reopens the store (replaying the synced log) first.
  if (!s.ok() && !db->Resume().ok()) reopen_needed_.store(true);
  return FromRocks(s, what);
}

absl::Status CovenantStore::Close() {
  absl::MutexLock commits(&commit_mutex_);
  absl::MutexLock reopening(&reopen_mutex_);
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, TakeDb(absl::InfiniteDuration(), "closing"));
  closed_.store(true);
  if (db == nullptr) return absl::OkStatus();
  if (!store_options_.read_only) FlushToTables(db.get());
  rocksdb::Status s = store_options_.read_only ? rocksdb::Status::OK() : db->Close();
  db.reset();
  if (!s.ok()) spdlog::warn("store: closing covenant {}'s instance: {}", covenant_, s.ToString());
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::Receipt>> CovenantStore::FindReceipt(
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

absl::StatusOr<v1::Receipt> CovenantStore::Commit(const v1::Receipt& receipt,
                                                  const v1::BatchHeader& header,
                                                  const std::vector<StoredRecord>& records) {
  absl::MutexLock lock(&commit_mutex_);
  RETURN_IF_ERROR(ReopenIfNeeded("writing a batch"));
  if (receipt.covenant_id() != covenant_) {
    return absl::InternalError(fmt::format("a batch of covenant {} was sent to the store of {}",
                                           receipt.covenant_id(), covenant_));
  }
  absl::StatusOr<std::optional<v1::Receipt>> held = FindReceipt(receipt.batch_id());
  if (!held.ok()) return held.status();
  if (held->has_value()) return **held;

  {
    ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("writing a batch"));
    ASSIGN_OR_RETURN(RetiredState retired, ReadRetired(db.get()));
    if (retired.through > 0 && header.key_epoch() <= retired.through) {
      return WithServiceRule(
          absl::FailedPreconditionError(fmt::format(
              "batch {} of dataset '{}' is sealed under key epoch {}, which the linker has "
              "retired (every dataset was delivered again under a newer epoch); nothing of it is "
              "stored (rule: key_epoch_retired): seal the export again, so that it is tokenised "
              "under the covenant's newest epoch",
              receipt.batch_id(), receipt.dataset(), header.key_epoch())),
          "key_epoch_retired", covenant_);
    }
  }
  rocksdb::WriteBatch batch;
  const std::string prefix = RecordPrefix(receipt.dataset());
  absl::StatusOr<std::vector<uint8_t>> id = FromHex(receipt.batch_id());
  if (!id.ok() || id->size() != 32) return absl::InvalidArgumentError("malformed batch id");
  std::string key;
  for (size_t i = 0; i < records.size(); ++i) {
    // token || batch id || index: one person's records are adjacent, and no two collide.
    key = prefix;
    key += records[i].token;
    key.append(reinterpret_cast<const char*>(id->data()), id->size());
    for (int shift = 24; shift >= 0; shift -= 8) {
      key.push_back(static_cast<char>((i >> shift) & 0xff));
    }
    batch.Put(key, records[i].value);
  }
  v1::DatasetStatus status;
  std::string status_value;
  const std::string status_key = StatusKey(receipt.dataset());
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("writing a batch"));
  // A run's first batch fixes its fields; a later batch of the run must carry the same.
  const std::string run_key = RunKey(receipt.dataset(), header.run_id());
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
  status.set_covenant_id(covenant_);
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
  held_.records += records.size();
  held_.batches += 1;
  RaiseMark();
  return receipt;
}

absl::StatusOr<std::vector<v1::DatasetStatus>> CovenantStore::Status() const {
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

absl::StatusOr<HeldCounts> CovenantStore::Held() const {
  ASSIGN_OR_RETURN(std::vector<v1::DatasetStatus> status, Status());
  HeldCounts held;
  for (const v1::DatasetStatus& s : status) {
    held.records += s.records();
    held.batches += s.batches();
  }
  return held;
}

absl::StatusOr<HeldCounts> CovenantStore::Acknowledged() const {
  ASSIGN_OR_RETURN(HeldCounts held, Held());
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("reading the retired key epochs"));
  ASSIGN_OR_RETURN(RetiredState retired, ReadRetired(db.get()));
  held.records += retired.records;
  held.batches += retired.batches;
  return held;
}

absl::StatusOr<HeldEpochs> CovenantStore::Epochs() const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("reading the key epochs"));
  HeldEpochs epochs;
  ASSIGN_OR_RETURN(RetiredState retired, ReadRetired(db.get()));
  epochs.retired_through = retired.through;
  std::string done;
  rocksdb::Status read_done = db->Get(rocksdb::ReadOptions(), kRetiredDoneKey, &done);
  if (!read_done.ok() && !read_done.IsNotFound()) {
    return FromRocks(read_done, "reading the key epochs");
  }
  epochs.retirement_unfinished = retired.through > 0 && done != std::to_string(retired.through);
  struct EpochDelivery {
    uint64_t records = 0;
    absl::Time newest_commit = absl::InfinitePast();
  };
  std::map<std::pair<std::string, uint32_t>, EpochDelivery> deliveries;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kHeaderPrefix); it->Valid() && it->key().starts_with(kHeaderPrefix); it->Next()) {
    v1::BatchHeader header;
    if (!header.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("a stored batch header is corrupt");
    }
    if (retired.through > 0 && header.key_epoch() <= retired.through) continue;
    const std::string_view raw_id(it->key().data() + kHeaderPrefix.size(),
                                  it->key().size() - kHeaderPrefix.size());
    epochs.batches[header.dataset()][header.key_epoch()].emplace_back(raw_id);
    // The receipt says how many records the batch brought and when it was committed.
    std::string value;
    rocksdb::Status s = db->Get(
        rocksdb::ReadOptions(),
        ReceiptKey(
            ToHex(std::span(reinterpret_cast<const uint8_t*>(raw_id.data()), raw_id.size()))),
        &value);
    if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading the key epochs");
    v1::Receipt receipt;
    if (s.ok() && !receipt.ParseFromString(value)) {
      return absl::DataLossError("a stored receipt is corrupt");
    }
    EpochDelivery& delivery = deliveries[{header.dataset(), header.key_epoch()}];
    delivery.records += receipt.records_accepted();
    const int64_t committed = receipt.has_store_time() ? receipt.store_time().seconds()
                                                       : receipt.legacy_stored_at_unix_seconds();
    delivery.newest_commit = std::max(delivery.newest_commit, absl::FromUnixSeconds(committed));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading the key epochs"));
  const absl::Time settled_before = absl::Now() - store_options_.epoch_settle;
  for (const auto& [key, delivery] : deliveries) {
    if (delivery.records == 0 || delivery.newest_commit > settled_before) {
      epochs.unsettled[key.first].insert(key.second);
    }
  }
  return epochs;
}

absl::StatusOr<RetiredCounts> CovenantStore::RetireEpochsThrough(uint32_t epoch) {
  absl::MutexLock lock(&commit_mutex_);
  RETURN_IF_ERROR(ReopenIfNeeded("retiring key epochs"));
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("retiring key epochs"));
  ASSIGN_OR_RETURN(RetiredState retired, ReadRetired(db.get()));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (epoch > retired.through) {
    // First, so that no batch of a retired epoch is stored or read from now on.
    retired.through = epoch;
    rocksdb::WriteBatch batch;
    batch.Put(kRetiredKey, RetiredValue(retired));
    RETURN_IF_ERROR(Write(sync, &batch, "retiring key epochs"));
  }
  // The batches of the retired epochs per dataset, and how many of each dataset stay.
  std::map<std::string, absl::flat_hash_set<std::string>> retired_batches;
  std::map<std::string, uint64_t> kept_batches;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kHeaderPrefix); it->Valid() && it->key().starts_with(kHeaderPrefix); it->Next()) {
    v1::BatchHeader header;
    if (!header.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("a stored batch header is corrupt");
    }
    if (header.key_epoch() > retired.through) {
      ++kept_batches[header.dataset()];
      continue;
    }
    retired_batches[header.dataset()].emplace(it->key().data() + kHeaderPrefix.size(),
                                              it->key().size() - kHeaderPrefix.size());
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "retiring key epochs"));
  RetiredCounts counts;
  for (const auto& [dataset, batches] : retired_batches) {
    rocksdb::WriteBatch batch;
    uint64_t deleted = 0;
    // Writes the deletions so far with the counts that go with them.
    auto write = [&, &dataset = dataset]() -> absl::Status {
      v1::DatasetStatus status;
      std::string value;
      rocksdb::Status s = db->Get(rocksdb::ReadOptions(), StatusKey(dataset), &value);
      if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading dataset status");
      if (s.ok() && !status.ParseFromString(value)) {
        return absl::DataLossError("stored dataset status is corrupt");
      }
      const uint64_t kept = kept_batches[dataset];
      const uint64_t dropped_batches = status.batches() > kept ? status.batches() - kept : 0;
      status.set_records(status.records() >= deleted ? status.records() - deleted : 0);
      status.set_batches(kept);
      retired.records += deleted;
      retired.batches += dropped_batches;
      counts.records += deleted;
      counts.batches += dropped_batches;
      batch.Put(StatusKey(dataset), status.SerializeAsString());
      batch.Put(kRetiredKey, RetiredValue(retired));
      RETURN_IF_ERROR(Write(sync, &batch, "retiring key epochs"));
      batch.Clear();
      deleted = 0;
      return absl::OkStatus();
    };
    const std::string prefix = RecordPrefix(dataset);
    std::unique_ptr<rocksdb::Iterator> records(db->NewIterator(rocksdb::ReadOptions()));
    for (records->Seek(prefix); records->Valid() && records->key().starts_with(prefix);
         records->Next()) {
      const std::string_view key(records->key().data(), records->key().size());
      constexpr size_t kSuffix = RecordCursor::kTokenBytes + RecordCursor::kBatchIdBytes + 4;
      if (key.size() != prefix.size() + kSuffix) continue;
      const std::string_view id =
          key.substr(prefix.size() + RecordCursor::kTokenBytes, RecordCursor::kBatchIdBytes);
      if (!batches.contains(absl::string_view(id.data(), id.size()))) continue;
      batch.Delete(records->key());
      if (++deleted == kRetireChunk) RETURN_IF_ERROR(write());
    }
    RETURN_IF_ERROR(FromRocks(records->status(), "retiring key epochs"));
    // The retired runs' schemas: no analysis is checked against them any more.
    const std::string runs = RunKey(dataset, "");
    for (records->Seek(runs); records->Valid() && records->key().starts_with(runs);
         records->Next()) {
      v1::BatchHeader schema;
      if (!schema.ParseFromArray(records->value().data(),
                                 static_cast<int>(records->value().size()))) {
        return absl::DataLossError("a stored run schema is corrupt");
      }
      if (schema.key_epoch() > retired.through) continue;
      batch.Delete(records->key());
      ++counts.runs;
    }
    RETURN_IF_ERROR(FromRocks(records->status(), "retiring key epochs"));
    RETURN_IF_ERROR(write());
    // Deleted records must not linger in table files (nor in backups taken from them).
    std::string end = prefix;
    end.back() = '\1';  // the prefix ends in '\0': the first key after all of it
    const rocksdb::Slice begin_key(prefix), end_key(end);
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    RETURN_IF_ERROR(FromRocks(db->CompactRange(compact, &begin_key, &end_key),
                              "compacting the retired records away"));
  }
  rocksdb::WriteBatch finished;
  finished.Put(kRetiredDoneKey, std::to_string(retired.through));
  RETURN_IF_ERROR(Write(sync, &finished, "retiring key epochs"));
  RaiseMark();
  return counts;
}

absl::Status CovenantStore::Scan(
    const std::string& dataset,
    const std::function<void(std::string_view key, std::string_view value)>& visit) const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("scanning records"));
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = RecordPrefix(dataset);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    visit(std::string_view(it->key().data(), it->key().size()),
          std::string_view(it->value().data(), it->value().size()));
  }
  return FromRocks(it->status(), "scanning records");
}

absl::StatusOr<std::vector<bool>> CovenantStore::HasTokens(
    const std::string& dataset, const std::vector<std::string>& tokens) const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("looking up tokens"));
  std::vector<bool> found(tokens.size(), false);
  // In key order: neighbouring seeks reuse the blocks just read (about 25% faster).
  std::vector<size_t> order(tokens.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tokens[a] < tokens[b]; });
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = RecordPrefix(dataset);
  std::string key;
  for (size_t i : order) {
    key = prefix + tokens[i];
    it->Seek(key);
    found[i] = it->Valid() && it->key().starts_with(key);
  }
  if (absl::Status st = FromRocks(it->status(), "looking up tokens"); !st.ok()) return st;
  return found;
}

absl::StatusOr<CovenantStore::Shape> CovenantStore::Settle() {
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
      shape.files_per_level +=
          fmt::format("{}L{}={}", shape.files_per_level.empty() ? "" : " ", level, files);
    }
  }
  return shape;
}

absl::StatusOr<int64_t> CovenantStore::ReleasesSpent() const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("reading the release budget"));
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kReleaseCountKey, &value);
  if (s.IsNotFound()) return 0;
  RETURN_IF_ERROR(FromRocks(s, "reading the release budget"));
  int64_t spent = 0;
  if (!absl::SimpleAtoi(value, &spent)) return absl::DataLossError("the release count is corrupt");
  return spent;
}

absl::Status CovenantStore::SpendRelease() {
  absl::MutexLock lock(&commit_mutex_);
  RETURN_IF_ERROR(ReopenIfNeeded("recording a release"));
  ASSIGN_OR_RETURN(int64_t spent, ReleasesSpent());
  rocksdb::WriteOptions sync;
  sync.sync = true;
  rocksdb::WriteBatch batch;
  batch.Put(kReleaseCountKey, std::to_string(spent + 1));
  RETURN_IF_ERROR(Write(sync, &batch, "spending a release"));
  releases_ = spent + 1;
  RaiseMark();
  return absl::OkStatus();
}

absl::StatusOr<v1::BatchHeader> CovenantStore::FindBatchHeader(std::string_view batch_id) const {
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
    return absl::NotFoundError(
        fmt::format("no header stored for batch {}",
                    ToHex(std::span(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()))));
  }
  if (absl::Status st = FromRocks(s, "reading a batch header"); !st.ok()) return st;
  v1::BatchHeader header;
  if (!header.ParseFromString(value))
    return absl::DataLossError("a stored batch header is corrupt");
  return header;
}

absl::StatusOr<std::unique_ptr<ReadView>> CovenantStore::NewReadView() const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("taking a view of the records"));
  return std::unique_ptr<ReadView>(new ReadView(std::move(db)));
}

std::unique_ptr<RecordCursor> CovenantStore::NewRecordCursor(const std::string& dataset,
                                                             std::string_view begin_token,
                                                             std::string_view end_token,
                                                             const ReadView* view) const {
  const std::string prefix = RecordPrefix(dataset);
  // A view reads the instance it was taken on, also after the store reopened it.
  absl::StatusOr<std::shared_ptr<rocksdb::DB>> db =
      view != nullptr ? absl::StatusOr<std::shared_ptr<rocksdb::DB>>(view->db_)
                      : Db("scanning records");
  if (!db.ok()) return std::unique_ptr<RecordCursor>(new RecordCursor(db.status()));
  // The end of the dataset's key space: the prefix ends in NUL, so replace it by \1.
  std::string upper = prefix;
  if (end_token.empty()) {
    upper.back() = '\1';
  } else {
    upper.append(end_token);
  }
  auto cursor = std::unique_ptr<RecordCursor>(
      new RecordCursor(*db, prefix, std::move(upper), view != nullptr ? view->snapshot_ : nullptr));
  cursor->it_->Seek(prefix + std::string(begin_token));
  cursor->Settle();
  return cursor;
}

RecordCursor::RecordCursor(std::shared_ptr<rocksdb::DB> db, std::string prefix,
                           std::string upper_bound, const rocksdb::Snapshot* snapshot)
    : db_(std::move(db)),
      prefix_(std::move(prefix)),
      prefix_size_(prefix_.size()),
      upper_bound_(std::move(upper_bound)),
      upper_bound_slice_(upper_bound_) {
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  options.readahead_size = 4 << 20;
  options.iterate_upper_bound = &upper_bound_slice_;
  options.snapshot = snapshot;
  it_.reset(db_->NewIterator(options));
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

absl::StatusOr<std::vector<v1::BatchHeader>> CovenantStore::RunSchemas(
    const std::string& dataset) const {
  const std::string prefix = RunKey(dataset, "");
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

absl::StatusOr<std::vector<std::string>> CovenantStore::ReleaseHistory() const {
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("reading the release history"));
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  std::vector<std::string> entries;
  for (it->Seek(kHistoryPrefix); it->Valid() && it->key().starts_with(kHistoryPrefix); it->Next()) {
    entries.emplace_back(it->value().data(), it->value().size());
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading the release history"));
  return entries;
}

absl::Status CovenantStore::RecordRelease(const std::string& sealed_entry) {
  absl::MutexLock lock(&commit_mutex_);
  RETURN_IF_ERROR(ReopenIfNeeded("recording a release"));
  ASSIGN_OR_RETURN(int64_t spent, ReleasesSpent());
  rocksdb::WriteBatch batch;
  batch.Put(kReleaseCountKey, std::to_string(spent + 1));
  batch.Put(HistoryKey(static_cast<uint64_t>(spent)), sealed_entry);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  RETURN_IF_ERROR(Write(sync, &batch, "recording a release"));
  releases_ = spent + 1;
  RaiseMark();
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CovenantStore::RaiseReleasesSpent(int64_t at_least) {
  absl::MutexLock lock(&commit_mutex_);
  RETURN_IF_ERROR(ReopenIfNeeded("raising the release count"));
  ASSIGN_OR_RETURN(int64_t spent, ReleasesSpent());
  if (spent >= at_least) return 0;
  rocksdb::WriteBatch batch;
  batch.Put(kReleaseCountKey, std::to_string(at_least));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  RETURN_IF_ERROR(Write(sync, &batch, "raising the release count"));
  releases_ = at_least;
  RaiseMark();
  return at_least - spent;
}

absl::StatusOr<bool> CovenantStore::RestoreHistoryEntry(uint64_t sequence,
                                                        const std::string& sealed_entry) {
  absl::MutexLock lock(&commit_mutex_);
  RETURN_IF_ERROR(ReopenIfNeeded("restoring a release history entry"));
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("restoring a release history entry"));
  std::string value;
  rocksdb::Status found = db->Get(rocksdb::ReadOptions(), HistoryKey(sequence), &value);
  if (found.ok()) return false;
  if (!found.IsNotFound()) RETURN_IF_ERROR(FromRocks(found, "reading the release history"));
  ASSIGN_OR_RETURN(int64_t spent, ReleasesSpent());
  const int64_t count = std::max(spent, static_cast<int64_t>(sequence) + 1);
  rocksdb::WriteBatch batch;
  batch.Put(kReleaseCountKey, std::to_string(count));
  batch.Put(HistoryKey(sequence), sealed_entry);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  RETURN_IF_ERROR(Write(sync, &batch, "restoring a release history entry"));
  releases_ = count;
  RaiseMark();
  return true;
}

absl::StatusOr<HighWaterMark> CovenantStore::Checkpoint(const std::filesystem::path& to) {
  absl::MutexLock lock(&commit_mutex_);
  if (store_options_.read_only) {
    return absl::FailedPreconditionError("a store opened read-only takes no checkpoint");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<rocksdb::DB> db, Db("taking a checkpoint"));
  std::error_code ec;
  std::filesystem::create_directories(to, ec);
  std::filesystem::permissions(to, std::filesystem::perms::owner_all, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        fmt::format("cannot create {} for a checkpoint: {}", to.string(), ec.message()));
  }
  rocksdb::Checkpoint* made = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db.get(), &made), "taking a checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(made);
  // log_size_for_flush 0: the memtable is flushed first, so the copy needs no log replay.
  RETURN_IF_ERROR(
      FromRocks(checkpoint->CreateCheckpoint((to / "db").string(), 0), "taking a checkpoint"));
  // Nothing was written since the commit lock was taken: this is the checkpoint's point.
  const HighWaterMark mark{held_.records, held_.batches, releases_, db->GetLatestSequenceNumber()};
  RETURN_IF_ERROR(WriteFileAtomically(to / "held", MarkText(covenant_, mark_key_, mark)));
  return mark;
}

}  // namespace koppel::linker
