// The encrypted store Env (linker/store_encryption.h): RocksDB round-trips through it, its raw
// files hold no token or attribute bytes (and the same scan finds them with a plain Env), a
// wrong key or a damaged header fails cleanly, and a flipped ciphertext byte is never returned
// as data; a file's key stream is used once, a new file's header is durable before its data, and
// VerifyEncryptedStore names the changed SST without a path.
#include "linker/store_encryption.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/file_system.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using koppel::test::ReadFile;
using koppel::test::TempDir;

constexpr std::string_view kMarker = "Zwolle-Assendorp-marker-value";
constexpr size_t kTokenSize = 32;
// The tail of a token that a scan looks for: the head may be shared with the previous key and
// then is not stored again inside an SST block.
constexpr size_t kTailOffset = 8;

Secret RandomKey() { return *Secret::Random(32); }

// Records keyed by random 32-byte tokens; every value carries the marker.
std::map<std::string, std::string> MakeRecords(size_t n) {
  std::map<std::string, std::string> records;
  while (records.size() < n) {
    std::string token(kTokenSize, '\0');
    randombytes_buf(token.data(), token.size());
    records.emplace(token, std::string(kMarker) + "#" + std::to_string(records.size()));
  }
  return records;
}

class Store {
 public:
  // Opens `dir` through `env` (encrypted when `key` is set).
  static rocksdb::Status Open(const fs::path& dir, rocksdb::Env* env, const Secret* key,
                              std::unique_ptr<rocksdb::DB>* db) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.compression = rocksdb::kNoCompression;  // so that the plain control finds plaintext
    options.env = env;
    if (key != nullptr) {
      absl::Status configured = linker::ConfigureEncryptedStoreOptions(*key, &options);
      if (!configured.ok()) return rocksdb::Status::InvalidArgument(configured.ToString());
    }
    rocksdb::DB* raw = nullptr;
    rocksdb::Status status = rocksdb::DB::Open(options, dir.string(), &raw);
    db->reset(raw);
    return status;
  }
};

void Write(rocksdb::DB* db, const std::map<std::string, std::string>& records, size_t begin,
           size_t end) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  rocksdb::WriteBatch batch;
  size_t i = 0;
  for (const auto& [key, value] : records) {
    if (i >= begin && i < end) batch.Put(key, value);
    ++i;
  }
  ASSERT_TRUE(db->Write(sync, &batch).ok());
}

// Every key/value the store holds, in order; the iterator's final status in *status.
std::map<std::string, std::string> ReadAll(rocksdb::DB* db, rocksdb::Status* status) {
  std::map<std::string, std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    out.emplace(it->key().ToString(), it->value().ToString());
  }
  *status = it->status();
  return out;
}

// Files of the directory holding any token tail or the marker, by name; never the bytes.
std::vector<std::string> FilesWithPlaintext(const fs::path& dir,
                                            const std::map<std::string, std::string>& records) {
  std::unordered_set<std::string_view> tails;
  for (const auto& [key, value] : records) {
    tails.insert(std::string_view(key).substr(kTailOffset));
  }
  constexpr size_t kTail = kTokenSize - kTailOffset;
  std::vector<std::string> hits;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string bytes = ReadFile(entry.path());
    bool hit = bytes.find(kMarker) != std::string::npos;
    for (size_t i = 0; !hit && i + kTail <= bytes.size(); ++i) {
      hit = tails.count(std::string_view(bytes).substr(i, kTail)) > 0;
    }
    if (hit) hits.push_back(entry.path().filename().string());
  }
  return hits;
}

bool AnyFile(const fs::path& dir, std::string_view needle) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().find(needle) != std::string::npos &&
        fs::file_size(entry.path()) > 0) {
      return true;
    }
  }
  return false;
}

fs::path OnlySst(const fs::path& dir) {
  fs::path found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".sst") {
      EXPECT_TRUE(found.empty()) << "more than one SST file";
      found = entry.path();
    }
  }
  return found;
}

void FlipByte(const fs::path& file, uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x01));
}

// A file system that remembers, per file, how many bytes had been appended at its first sync.
class SyncRecordingFileSystem : public rocksdb::FileSystemWrapper {
 public:
  SyncRecordingFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "SyncRecording"; }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus status = FileSystemWrapper::NewWritableFile(fname, options, result, dbg);
    if (status.ok()) *result = std::make_unique<File>(std::move(*result), this, fname);
    return status;
  }

  // Bytes appended to `fname` when it was first synced; -1 if it never was.
  int64_t AppendedAtFirstSync(const std::string& fname) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = first_sync_.find(fname);
    return it == first_sync_.end() ? -1 : it->second;
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> file, SyncRecordingFileSystem* fs,
         std::string name)
        : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs), name_(std::move(name)) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      appended_ += data.size();
      return FSWritableFileOwnerWrapper::Append(data, options, dbg);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
      Record();
      return FSWritableFileOwnerWrapper::Sync(options, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      Record();
      return FSWritableFileOwnerWrapper::Fsync(options, dbg);
    }

   private:
    void Record() {
      std::lock_guard<std::mutex> lock(fs_->mu_);
      fs_->first_sync_.emplace(name_, static_cast<int64_t>(appended_));
    }
    SyncRecordingFileSystem* fs_;
    std::string name_;
    uint64_t appended_ = 0;
  };

  std::mutex mu_;
  std::map<std::string, int64_t> first_sync_;
};

class StoreEncryptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(EnsureSodium().ok());
    absl::StatusOr<std::unique_ptr<rocksdb::Env>> env =
        linker::NewEncryptedStoreEnv(rocksdb::Env::Default(), key_);
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = *std::move(env);
  }

  TempDir tmp_;
  Secret key_ = RandomKey();
  std::unique_ptr<rocksdb::Env> env_;
};

TEST_F(StoreEncryptionTest, FileRoundTripsAtUnalignedOffsets) {
  const std::string path = (tmp_ / "file").string();
  std::string plain(10000, '\0');
  for (size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<char>(i * 7 + i / 251);
  {
    std::unique_ptr<rocksdb::WritableFile> out;
    ASSERT_TRUE(env_->NewWritableFile(path, &out, rocksdb::EnvOptions()).ok());
    for (size_t at = 0, step = 1; at < plain.size(); at += step, step = step % 37 + 3) {
      ASSERT_TRUE(
          out->Append(rocksdb::Slice(plain.data() + at, std::min(step, plain.size() - at))).ok());
    }
    ASSERT_TRUE(out->Close().ok());
  }
  EXPECT_EQ(ReadFile(path).find(plain.substr(100, 64)), std::string::npos);
  uint64_t size = 0;
  ASSERT_TRUE(env_->GetFileSize(path, &size).ok());
  EXPECT_EQ(size, plain.size());

  std::unique_ptr<rocksdb::RandomAccessFile> in;
  ASSERT_TRUE(env_->NewRandomAccessFile(path, &in, rocksdb::EnvOptions()).ok());
  std::string scratch(plain.size(), '\0');
  for (uint64_t offset : {0u, 1u, 15u, 16u, 17u, 4095u, 4097u, 9000u}) {
    const size_t n = std::min<size_t>(333, plain.size() - offset);
    rocksdb::Slice got;
    ASSERT_TRUE(in->Read(offset, n, &got, scratch.data()).ok());
    EXPECT_EQ(got.ToString(), plain.substr(offset, n)) << "offset " << offset;
  }
}

TEST_F(StoreEncryptionTest, RoundTripsThroughWalFlushCompactionAndReopen) {
  const std::map<std::string, std::string> records = MakeRecords(3000);
  {
    std::unique_ptr<rocksdb::DB> db;
    ASSERT_TRUE(Store::Open(tmp_.path(), env_.get(), &key_, &db).ok());
    Write(db.get(), records, 0, 1000);
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
    Write(db.get(), records, 1000, 2000);
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
    ASSERT_TRUE(db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
    Write(db.get(), records, 2000, 3000);  // left in the WAL only
    ASSERT_TRUE(db->Close().ok());
  }
  std::unique_ptr<rocksdb::DB> db;
  ASSERT_TRUE(Store::Open(tmp_.path(), env_.get(), &key_, &db).ok());
  rocksdb::Status status;
  EXPECT_EQ(ReadAll(db.get(), &status), records);
  EXPECT_TRUE(status.ok()) << status.ToString();
  std::string value;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), records.rbegin()->first, &value).ok());
  EXPECT_EQ(value, records.rbegin()->second);
  EXPECT_TRUE(linker::VerifyEncryptedStore(db.get()).ok());
}

// One SST's stream decrypts for several readers at once (RocksDB shares a table reader).
TEST_F(StoreEncryptionTest, ConcurrentReadersSeeTheSameRecords) {
  const std::map<std::string, std::string> records = MakeRecords(5000);
  std::unique_ptr<rocksdb::DB> db;
  ASSERT_TRUE(Store::Open(tmp_.path(), env_.get(), &key_, &db).ok());
  Write(db.get(), records, 0, records.size());
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  rocksdb::ReadOptions uncached;
  uncached.fill_cache = false;
  std::vector<int> matches(4, 0);
  std::vector<std::thread> readers;
  for (size_t t = 0; t < matches.size(); ++t) {
    readers.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(uncached));
        auto expected = records.begin();
        bool same = true;
        for (it->SeekToFirst(); it->Valid() && same; it->Next(), ++expected) {
          same = expected != records.end() && it->key().ToString() == expected->first &&
                 it->value().ToString() == expected->second;
        }
        if (same && it->status().ok() && expected == records.end()) ++matches[t];
      }
    });
  }
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(matches, std::vector<int>(matches.size(), 3));
}

// The leak scan of raw files; the plain Env is the control that proves the scan finds leaks.
TEST_F(StoreEncryptionTest, RawFilesHoldNoTokenOrValueBytes) {
  const std::map<std::string, std::string> records = MakeRecords(2000);
  for (bool encrypted : {false, true}) {
    SCOPED_TRACE(encrypted ? "encrypted Env" : "plain Env (control)");
    const fs::path dir = tmp_ / (encrypted ? "encrypted" : "plain");
    {
      std::unique_ptr<rocksdb::DB> db;
      ASSERT_TRUE(Store::Open(dir, encrypted ? env_.get() : rocksdb::Env::Default(),
                              encrypted ? &key_ : nullptr, &db)
                      .ok());
      Write(db.get(), records, 0, 1000);
      ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
      Write(db.get(), records, 1000, 2000);  // WAL only
      ASSERT_TRUE(db->Close().ok());
    }
    for (std::string_view kind : {".log", ".sst", "MANIFEST-", "OPTIONS-", "CURRENT"}) {
      EXPECT_TRUE(AnyFile(dir, kind)) << "no " << kind << " file to scan";
    }
    const std::vector<std::string> hits = FilesWithPlaintext(dir, records);
    if (encrypted) {
      EXPECT_TRUE(hits.empty()) << "plaintext in " << ::testing::PrintToString(hits);
    } else {
      bool wal = false, sst = false;
      for (const std::string& name : hits) {
        wal = wal || name.ends_with(".log");
        sst = sst || name.ends_with(".sst");
      }
      EXPECT_TRUE(wal && sst) << "the scan misses plaintext: " << ::testing::PrintToString(hits);
    }
  }
}

TEST_F(StoreEncryptionTest, AnotherKeyFailsCleanly) {
  const std::map<std::string, std::string> records = MakeRecords(100);
  {
    std::unique_ptr<rocksdb::DB> db;
    ASSERT_TRUE(Store::Open(tmp_.path(), env_.get(), &key_, &db).ok());
    Write(db.get(), records, 0, 100);
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  }
  Secret other = RandomKey();
  std::unique_ptr<rocksdb::Env> other_env =
      *linker::NewEncryptedStoreEnv(rocksdb::Env::Default(), other);
  std::unique_ptr<rocksdb::DB> db;
  const rocksdb::Status status = Store::Open(tmp_.path(), other_env.get(), &other, &db);
  EXPECT_TRUE(linker::IsWrongStoreKey(status)) << status.ToString();
  EXPECT_FALSE(linker::IsUnencryptedStoreFile(status));
  EXPECT_EQ(status.ToString().find(kMarker), std::string::npos);
}

TEST_F(StoreEncryptionTest, ADataKeyOfTheWrongSizeIsRefused) {
  Secret short_key = *Secret::Random(16);
  EXPECT_EQ(linker::NewEncryptedStoreEnv(rocksdb::Env::Default(), short_key).status().code(),
            absl::StatusCode::kInvalidArgument);
  rocksdb::Options options;
  EXPECT_EQ(linker::ConfigureEncryptedStoreOptions(short_key, &options).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StoreEncryptionTest, PlainStoreIsRefusedAsNotEncrypted) {
  {
    std::unique_ptr<rocksdb::DB> db;
    ASSERT_TRUE(Store::Open(tmp_.path(), rocksdb::Env::Default(), nullptr, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "k", "v").ok());
  }
  std::unique_ptr<rocksdb::DB> db;
  const rocksdb::Status status = Store::Open(tmp_.path(), env_.get(), &key_, &db);
  EXPECT_TRUE(linker::IsUnencryptedStoreFile(status)) << status.ToString();
  EXPECT_FALSE(linker::IsWrongStoreKey(status));
}

TEST_F(StoreEncryptionTest, DamagedFileHeaderFailsCleanly) {
  {
    std::unique_ptr<rocksdb::DB> db;
    ASSERT_TRUE(Store::Open(tmp_.path(), env_.get(), &key_, &db).ok());
    Write(db.get(), MakeRecords(100), 0, 100);
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  }
  FlipByte(OnlySst(tmp_.path()), 12);  // inside the IV
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::Status status = Store::Open(tmp_.path(), env_.get(), &key_, &db);
  if (status.ok()) {  // the table may be opened lazily: then the first read fails
    ReadAll(db.get(), &status);
  }
  EXPECT_TRUE(linker::IsWrongStoreKey(status)) << status.ToString();
}

TEST_F(StoreEncryptionTest, FlippedSstByteIsNeverReturnedAsData) {
  const std::map<std::string, std::string> records = MakeRecords(500);
  {
    std::unique_ptr<rocksdb::DB> db;
    ASSERT_TRUE(Store::Open(tmp_.path(), env_.get(), &key_, &db).ok());
    Write(db.get(), records, 0, 500);
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  }
  // Inside the first data block, just past the 4096-byte encryption header.
  FlipByte(OnlySst(tmp_.path()), 4096 + 200);
  std::unique_ptr<rocksdb::DB> db;
  ASSERT_TRUE(Store::Open(tmp_.path(), env_.get(), &key_, &db).ok());
  rocksdb::Status status;
  const std::map<std::string, std::string> read = ReadAll(db.get(), &status);
  EXPECT_TRUE(status.IsCorruption()) << status.ToString();
  for (const auto& [key, value] : read) {
    auto expected = records.find(key);
    ASSERT_NE(expected, records.end()) << "a key that was never written";
    EXPECT_EQ(value, expected->second);
  }
  const absl::Status verified = linker::VerifyEncryptedStore(db.get());
  EXPECT_EQ(verified.code(), absl::StatusCode::kDataLoss) << verified;
  EXPECT_NE(verified.message().find(OnlySst(tmp_.path()).filename().string()), std::string::npos)
      << verified;
  EXPECT_EQ(verified.message().find(tmp_.path().string()), std::string::npos)
      << "a path in an error that may reach a remote caller: " << verified;
}

// The whole-file MAC covers every byte after the header: a flip in the first block, the middle,
// the index or the footer is refused at open or reported by VerifyEncryptedStore. A flip in the
// footer's padding (30 bytes before the end) passes every block checksum and every read: only
// the MAC sees it.
TEST_F(StoreEncryptionTest, FileMacCoversEveryByteOfTheSst) {
  {
    std::unique_ptr<rocksdb::DB> db;
    ASSERT_TRUE(Store::Open(tmp_.path(), env_.get(), &key_, &db).ok());
    Write(db.get(), MakeRecords(200), 0, 200);
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
    ASSERT_TRUE(linker::VerifyEncryptedStore(db.get()).ok());
  }
  const fs::path sst = OnlySst(tmp_.path());
  const uint64_t size = fs::file_size(sst);
  for (uint64_t offset : {uint64_t{4096 + 5}, size / 2, size - 60, size - 30}) {
    TempDir copy;
    fs::copy(tmp_.path(), copy.path(), fs::copy_options::recursive);
    FlipByte(copy.path() / sst.filename(), offset);
    std::unique_ptr<rocksdb::DB> db;
    const rocksdb::Status opened = Store::Open(copy.path(), env_.get(), &key_, &db);
    if (!opened.ok()) {
      EXPECT_TRUE(opened.IsCorruption()) << opened.ToString();
      continue;
    }
    EXPECT_EQ(linker::VerifyEncryptedStore(db.get()).code(), absl::StatusCode::kDataLoss)
        << "flip at " << offset;
  }
}

// Several SSTs are verified at once; the changed one is named by file name, not by path.
TEST_F(StoreEncryptionTest, VerifyNamesTheChangedSstAmongSeveral) {
  const std::map<std::string, std::string> records = MakeRecords(600);
  {
    std::unique_ptr<rocksdb::DB> db;
    ASSERT_TRUE(Store::Open(tmp_.path(), env_.get(), &key_, &db).ok());
    for (size_t begin = 0; begin < 600; begin += 100) {
      Write(db.get(), records, begin, begin + 100);
      ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
    }
    ASSERT_TRUE(linker::VerifyEncryptedStore(db.get()).ok());
  }
  std::vector<fs::path> ssts;
  for (const auto& entry : fs::directory_iterator(tmp_.path())) {
    if (entry.path().extension() == ".sst") ssts.push_back(entry.path());
  }
  ASSERT_GE(ssts.size(), 2u);
  std::sort(ssts.begin(), ssts.end());
  const fs::path changed = ssts[ssts.size() / 2];
  FlipByte(changed, fs::file_size(changed) - 30);  // footer padding: only the MAC sees it
  std::unique_ptr<rocksdb::DB> db;
  ASSERT_TRUE(Store::Open(tmp_.path(), env_.get(), &key_, &db).ok());
  const absl::Status verified = linker::VerifyEncryptedStore(db.get());
  EXPECT_EQ(verified.code(), absl::StatusCode::kDataLoss) << verified;
  EXPECT_NE(verified.message().find(changed.filename().string()), std::string::npos) << verified;
  EXPECT_EQ(verified.message().find(tmp_.path().string()), std::string::npos) << verified;
}

// Reopening a closed file for appending would write a second header (and a second IV) in the
// middle of the file; rewriting one in place would reuse its key stream. Both are refused, and
// the file is left as it was.
TEST_F(StoreEncryptionTest, ClosedFilesAreNeverReopenedForWriting) {
  const std::string path = (tmp_ / "000007.log").string();
  {
    std::unique_ptr<rocksdb::WritableFile> out;
    ASSERT_TRUE(env_->NewWritableFile(path, &out, rocksdb::EnvOptions()).ok());
    ASSERT_TRUE(out->Append("some records").ok());
    ASSERT_TRUE(out->Close().ok());
  }
  const std::string before = ReadFile(path);
  std::unique_ptr<rocksdb::WritableFile> reopened;
  const rocksdb::Status reopen = env_->ReopenWritableFile(path, &reopened, rocksdb::EnvOptions());
  EXPECT_TRUE(reopen.IsNotSupported()) << reopen.ToString();
  if (reopened != nullptr) {
    ASSERT_TRUE(reopened->Close().ok());
  }
  std::unique_ptr<rocksdb::RandomRWFile> rewritten;
  const rocksdb::Status rewrite = env_->NewRandomRWFile(path, &rewritten, rocksdb::EnvOptions());
  EXPECT_TRUE(rewrite.IsNotSupported()) << rewrite.ToString();
  EXPECT_EQ(ReadFile(path), before);

  // RocksDB reopens the last write-ahead log at every open and copes with the refusal.
  const std::map<std::string, std::string> records = MakeRecords(300);
  for (size_t round = 0; round < 3; ++round) {
    std::unique_ptr<rocksdb::DB> db;
    const rocksdb::Status opened = Store::Open(tmp_ / "db", env_.get(), &key_, &db);
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    Write(db.get(), records, round * 100, round * 100 + 100);
    ASSERT_TRUE(db->Close().ok());
  }
  std::unique_ptr<rocksdb::DB> db;
  ASSERT_TRUE(Store::Open(tmp_ / "db", env_.get(), &key_, &db).ok());
  rocksdb::Status status;
  EXPECT_EQ(ReadAll(db.get(), &status), records);
  EXPECT_TRUE(status.ok()) << status.ToString();
}

// A new file's header reaches the disk before anything is written after it, so that a power
// loss cannot keep a file's records without the header that decrypts them.
TEST_F(StoreEncryptionTest, NewFileHeaderIsSyncedBeforeItsData) {
  auto recording = std::make_shared<SyncRecordingFileSystem>();
  std::unique_ptr<rocksdb::Env> base = rocksdb::NewCompositeEnv(recording);
  std::unique_ptr<rocksdb::Env> env = *linker::NewEncryptedStoreEnv(base.get(), key_);
  const std::string path = (tmp_ / "000011.log").string();
  std::unique_ptr<rocksdb::WritableFile> out;
  ASSERT_TRUE(env->NewWritableFile(path, &out, rocksdb::EnvOptions()).ok());
  EXPECT_EQ(recording->AppendedAtFirstSync(path), 4096);
  ASSERT_TRUE(out->Close().ok());

  std::unique_ptr<rocksdb::DB> db;
  ASSERT_TRUE(Store::Open(tmp_ / "db", env.get(), &key_, &db).ok());
  Write(db.get(), MakeRecords(10), 0, 10);
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  size_t wal_and_sst = 0;
  for (const auto& entry : fs::directory_iterator(tmp_ / "db")) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".log") && !name.ends_with(".sst")) continue;
    ++wal_and_sst;
    EXPECT_EQ(recording->AppendedAtFirstSync(entry.path().string()), 4096) << name;
  }
  EXPECT_GE(wal_and_sst, 2u);
}

// After a power loss a write-ahead log created just before it can be left blank: its size kept
// but not its header (zeros), or cut short. It held nothing acknowledged, so the store opens
// with everything it had; a log that is not blank is still refused.
TEST_F(StoreEncryptionTest, BlankWriteAheadLogAfterPowerLossOpensAsEmpty) {
  const std::map<std::string, std::string> records = MakeRecords(200);
  {
    std::unique_ptr<rocksdb::DB> db;
    ASSERT_TRUE(Store::Open(tmp_.path(), env_.get(), &key_, &db).ok());
    Write(db.get(), records, 0, 100);
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
    Write(db.get(), records, 100, 200);  // in the write-ahead log only
    ASSERT_TRUE(db->Close().ok());
  }
  for (size_t size : {size_t{4096}, size_t{512}}) {
    SCOPED_TRACE("blank log of " + std::to_string(size) + " bytes");
    TempDir copy;
    fs::copy(tmp_.path(), copy.path(), fs::copy_options::recursive);
    std::ofstream(copy.path() / "000900.log", std::ios::binary) << std::string(size, '\0');
    std::unique_ptr<rocksdb::DB> db;
    const rocksdb::Status opened = Store::Open(copy.path(), env_.get(), &key_, &db);
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    rocksdb::Status status;
    EXPECT_EQ(ReadAll(db.get(), &status), records);
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  TempDir copy;
  fs::copy(tmp_.path(), copy.path(), fs::copy_options::recursive);
  std::ofstream(copy.path() / "000900.log", std::ios::binary) << std::string(4096, 'x');
  std::unique_ptr<rocksdb::DB> db;
  const rocksdb::Status opened = Store::Open(copy.path(), env_.get(), &key_, &db);
  EXPECT_TRUE(linker::IsUnencryptedStoreFile(opened)) << opened.ToString();
}

}  // namespace
}  // namespace koppel
