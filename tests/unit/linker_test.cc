// The linker's ingest on a real RocksDB: exactly-once storage, re-keying, encryption at rest,
// and every kind of bad batch refused without storing anything.
#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <sodium.h>

#include <atomic>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/hmac.h"
#include "core/receipt.h"
#include "core/sealed_batch.h"
#include "linker/analysis/release_history.h"
#include "linker/batch_ingester.h"
#include "linker/linker_store.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

// A file system whose new files and appends fail with "no space left on device" while `full`
// is set, as a real full disk does: RocksDB's own file system underneath.
class FullDiskFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FullDiskFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FullDiskFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* debug) override {
    if (full) return rocksdb::IOStatus::NoSpace("injected: no space left on device");
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, file, debug);
    if (s.ok()) *file = std::make_unique<File>(std::move(*file), this);
    return s;
  }

  std::atomic<bool> full{false};

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> file, FullDiskFileSystem* fs)
        : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* debug) override {
      if (fs_->full) return rocksdb::IOStatus::NoSpace("injected: no space left on device");
      return target()->Append(data, options, debug);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* debug) override {
      if (fs_->full) return rocksdb::IOStatus::NoSpace("injected: no space left on device");
      return target()->Append(data, options, info, debug);
    }

   private:
    FullDiskFileSystem* fs_;
  };
};

class LinkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    agent_signing_ = *Secret::Allocate(crypto_sign_SECRETKEYBYTES);
    std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk;
    crypto_sign_keypair(pk.data(), agent_signing_.mutable_data());
    char hex[2 * crypto_sign_PUBLICKEYBYTES + 1];
    sodium_bin2hex(hex, sizeof hex, pk.data(), pk.size());
    Covenant covenant;
    covenant.id = "c1";
    covenant.version = 1;
    covenant.valid_from = absl::CivilDay(2026, 1, 1);
    covenant.valid_until = absl::CivilDay(2027, 12, 31);
    CovenantParty agent;
    agent.name = "agent";
    agent.roles = {"data_holder"};
    agent.signing_public_key = hex;
    agent.datasets.emplace("uwv", DatasetGrant{"uwv", {"bsn"}, {"jaar"}});
    covenant.parties.emplace(agent.name, std::move(agent));
    store_ = *LinkerStore::Open(dir_ / "db", {.env = disk_env_.get()});
    Secret box = *Secret::Allocate(crypto_box_SECRETKEYBYTES);
    crypto_box_keypair(box_public_.data(), box.mutable_data());
    Secret signing = *Secret::Allocate(crypto_sign_SECRETKEYBYTES);
    crypto_sign_keypair(pk.data(), signing.mutable_data());
    link_key_ = *Secret::Random(32);
    data_key_ = *Secret::Random(32);
    LinkerKeys keys{box_public_, std::move(box), std::move(signing),
                    *Secret::FromBytes(link_key_.span()), *Secret::FromBytes(data_key_.span())};
    ingester_ = *BatchIngester::Create(std::move(covenant), std::move(keys), store_.get());
  }

  v1::SealedBatch Seal(const v1::BatchPayload& payload) {
    std::string scratch;
    return *SealBatch(payload, box_public_, agent_signing_, &scratch);
  }

  v1::BatchPayload Payload(int records, const std::string& covenant = "c1") {
    v1::BatchPayload payload;
    payload.mutable_header()->set_dataset("uwv");
    payload.mutable_header()->set_covenant_id(covenant);
    payload.mutable_header()->set_covenant_version(1);
    payload.mutable_header()->set_has_bsn(true);
    v1::AttributeSchema* jaar = payload.mutable_header()->add_attributes();
    jaar->set_name("jaar");
    jaar->set_type(v1::ATTRIBUTE_TYPE_YEAR);
    for (int i = 0; i < records; ++i) {
      v1::Record* r = payload.add_records();
      std::string token(32, static_cast<char>('A' + i % 26));
      token.replace(0, 4, std::to_string(1000 + i));
      r->set_bsn_token(token);
      r->add_values()->set_year(2014);
    }
    return payload;
  }

  uint64_t StoredRecords() {
    absl::StatusOr<std::vector<v1::DatasetStatus>> status = store_->Status();
    EXPECT_TRUE(status.ok());
    uint64_t n = 0;
    if (status.ok()) {
      for (const auto& s : *status) n += s.records();
    }
    return n;
  }

  testing::TempDir dir_;
  std::shared_ptr<FullDiskFileSystem> disk_ = std::make_shared<FullDiskFileSystem>();
  std::unique_ptr<rocksdb::Env> disk_env_ = rocksdb::NewCompositeEnv(disk_);
  Secret agent_signing_ = *Secret::Allocate(1);
  BoxPublicKey box_public_;
  Secret link_key_ = *Secret::Allocate(1);
  Secret data_key_ = *Secret::Allocate(1);
  std::unique_ptr<LinkerStore> store_;
  std::unique_ptr<BatchIngester> ingester_;
};

TEST_F(LinkerTest, StoresOnceReKeyedAndEncrypted) {
  v1::BatchPayload payload = Payload(50);
  v1::SealedBatch batch = Seal(payload);
  absl::StatusOr<v1::Receipt> receipt = ingester_->Ingest("agent", batch);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->records_accepted(), 50u);
  EXPECT_FALSE(receipt->duplicate());
  EXPECT_TRUE(VerifyReceipt(*receipt, batch.batch_id()).ok());

  absl::StatusOr<v1::Receipt> again = ingester_->Ingest("agent", batch);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate());
  EXPECT_TRUE(VerifyReceipt(*again, batch.batch_id()).ok());
  EXPECT_EQ(StoredRecords(), 50u);

  HmacSha256Key rekey = *HmacSha256Key::Create(link_key_.span());
  size_t seen = 0;
  ASSERT_TRUE(store_->Scan("c1", "uwv", [&](std::string_view key, std::string_view value) {
    for (const v1::Record& r : payload.records()) {
      EXPECT_EQ(key.find(r.bsn_token()), std::string_view::npos) << "agent token stored";
      EXPECT_EQ(value.find(r.bsn_token()), std::string_view::npos) << "agent token stored";
    }
    std::string plain(value.size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
    const auto* v = reinterpret_cast<const unsigned char*>(value.data());
    ASSERT_EQ(crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                         v + crypto_secretbox_NONCEBYTES,
                                         value.size() - crypto_secretbox_NONCEBYTES, v,
                                         data_key_.data()),
              0);
    v1::Record stored;
    ASSERT_TRUE(stored.ParseFromString(plain));
    bool matches_some = false;
    for (const v1::Record& r : payload.records()) {
      Digest256 expected = rekey.Mac(r.bsn_token());
      matches_some |= stored.bsn_token() == std::string(expected.begin(), expected.end());
    }
    EXPECT_TRUE(matches_some);
    ++seen;
  }).ok());
  EXPECT_EQ(seen, 50u);
}

// True when `status` is PERMISSION_DENIED and names `rule` as the rule that refused it.
::testing::AssertionResult RefusedBy(const absl::Status& status, const std::string& rule) {
  if (!absl::IsPermissionDenied(status)) {
    return ::testing::AssertionFailure() << "expected PERMISSION_DENIED, got " << status;
  }
  if (std::string(status.message()).find("(rule: " + rule + ")") == std::string::npos) {
    return ::testing::AssertionFailure() << "expected rule " << rule << " in: " << status;
  }
  return ::testing::AssertionSuccess();
}

TEST_F(LinkerTest, RefusesBadBatchesAndStoresNothing) {
  // Another covenant inside the sealed payload.
  EXPECT_TRUE(absl::IsPermissionDenied(ingester_->Ingest("agent", Seal(Payload(3, "c2"))).status()));
  // A dataset the sender may not deliver.
  v1::BatchPayload other = Payload(3);
  other.mutable_header()->set_dataset("politie");
  EXPECT_TRUE(RefusedBy(ingester_->Ingest("agent", Seal(other)).status(),
                        "parties[agent].datasets"));
  // Someone else delivering the agent's batch.
  EXPECT_TRUE(RefusedBy(ingester_->Ingest("intruder", Seal(Payload(3))).status(), "parties"));
  // The agent's name with another key.
  Secret other_key = *Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> other_pk;
  crypto_sign_keypair(other_pk.data(), other_key.mutable_data());
  std::string scratch;
  EXPECT_TRUE(RefusedBy(
      ingester_->Ingest("agent", *SealBatch(Payload(3), box_public_, other_key, &scratch)).status(),
      "parties[agent].signing_key"));
  // A field the grant does not list.
  v1::BatchPayload extra_field = Payload(3);
  extra_field.mutable_header()->add_attributes()->set_name("dagloon");
  for (v1::Record& r : *extra_field.mutable_records()) r.add_values()->set_amount_cents(100);
  EXPECT_TRUE(RefusedBy(ingester_->Ingest("agent", Seal(extra_field)).status(),
                        "parties[agent].datasets[uwv].fields"));
  // An identifier kind the grant does not list.
  v1::BatchPayload with_address = Payload(3);
  with_address.mutable_header()->set_has_address(true);
  EXPECT_TRUE(RefusedBy(ingester_->Ingest("agent", Seal(with_address)).status(),
                        "parties[agent].datasets[uwv].identifiers"));
  // Records carrying what their header does not declare: an address token, an extra value.
  v1::BatchPayload hidden_address = Payload(3);
  hidden_address.mutable_records(1)->set_address_token(std::string(32, 'h'));
  EXPECT_TRUE(RefusedBy(ingester_->Ingest("agent", Seal(hidden_address)).status(),
                        "parties[agent].datasets[uwv].identifiers"));
  v1::BatchPayload hidden_value = Payload(3);
  hidden_value.mutable_records(2)->add_values()->set_amount_cents(100);
  EXPECT_TRUE(RefusedBy(ingester_->Ingest("agent", Seal(hidden_value)).status(),
                        "parties[agent].datasets[uwv].fields"));
  // Sealed under another version of the covenant.
  v1::BatchPayload newer = Payload(3);
  newer.mutable_header()->set_covenant_version(2);
  absl::Status version = ingester_->Ingest("agent", Seal(newer)).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(version)) << version;
  EXPECT_NE(std::string(version.message()).find("(rule: version)"), std::string::npos) << version;
  // Tampered envelope.
  v1::SealedBatch tampered = Seal(Payload(3));
  tampered.set_record_count(2);
  EXPECT_FALSE(ingester_->Ingest("agent", tampered).ok());
  // Oversize.
  v1::SealedBatch huge = Seal(Payload(1));
  huge.mutable_sealed_payload()->resize(BatchIngester::kMaxSealedBytes + 1);
  absl::Status oversize = ingester_->Ingest("agent", huge).status();
  EXPECT_TRUE(absl::IsInvalidArgument(oversize));
  EXPECT_NE(std::string(oversize.message()).find("limit"), std::string::npos);
  EXPECT_EQ(StoredRecords(), 0u);
}

TEST_F(LinkerTest, CountsMalformedRecordsAsRejected) {
  v1::BatchPayload payload = Payload(4);
  payload.mutable_records(1)->set_bsn_token("short");
  payload.mutable_records(2)->clear_bsn_token();
  absl::StatusOr<v1::Receipt> receipt = ingester_->Ingest("agent", Seal(payload));
  ASSERT_TRUE(receipt.ok());
  EXPECT_EQ(receipt->records_accepted(), 2u);
  EXPECT_EQ(receipt->records_rejected(), 2u);
  EXPECT_EQ(StoredRecords(), 2u);
}

}  // namespace
}  // namespace koppel

namespace koppel {
namespace {

// The release history (linker/analysis/release_history.h): sealed under a key derived from the
// covenant's data key, numbered with the budget in one write, kept across a restart, unreadable
// and detected when altered, and deleted with the covenant.
TEST_F(LinkerTest, ReleaseHistoryIsSealedKeptAndDeletedWithTheCovenant) {
  absl::StatusOr<ReleaseHistory> history = ReleaseHistory::Open(store_.get(), "c1", data_key_);
  ASSERT_TRUE(history.ok()) << history.status();
  for (int i = 0; i < 3; ++i) {
    v1::ReleaseRecord record;
    record.set_analysis("secret-analysis-name");
    record.set_spec_yaml("analysis: secret-analysis-name\n");
    record.add_count_values(42 + i);
    record.add_count_published(i % 2 == 0);
    ASSERT_TRUE(history->Append(record).ok());
  }
  EXPECT_EQ(*store_->ReleasesSpent("c1"), 3);
  absl::StatusOr<std::vector<v1::ReleaseRecord>> records = history->Load();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*records)[static_cast<size_t>(i)].sequence(), static_cast<uint64_t>(i));
    EXPECT_EQ((*records)[static_cast<size_t>(i)].count_values(0), 42 + i);
  }
  // Nothing of it is readable in the store's files.
  store_.reset();
  for (const auto& file : std::filesystem::directory_iterator(dir_ / "db")) {
    std::ifstream in(file.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find("secret-analysis-name"), std::string::npos) << file.path();
  }
  // A restart keeps it; another key does not open it.
  store_ = *LinkerStore::Open(dir_ / "db");
  history = ReleaseHistory::Open(store_.get(), "c1", data_key_);
  ASSERT_TRUE(history.ok());
  records = history->Load();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(records->size(), 3u);
  Secret other = *Secret::Random(32);
  absl::StatusOr<ReleaseHistory> wrong = ReleaseHistory::Open(store_.get(), "c1", other);
  ASSERT_TRUE(wrong.ok());
  absl::StatusOr<std::vector<v1::ReleaseRecord>> unreadable = wrong->Load();
  EXPECT_EQ(unreadable.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(unreadable.status().message()).find("releases nothing"), std::string::npos);
  // Another covenant's history is separate; the covenant's deletion removes only its own.
  absl::StatusOr<ReleaseHistory> second = ReleaseHistory::Open(store_.get(), "c2", data_key_);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(second->Append(v1::ReleaseRecord()).ok());
  ASSERT_TRUE(store_->DeleteCovenant("c1").ok());
  EXPECT_TRUE(store_->ReleaseHistory("c1")->empty());
  EXPECT_EQ(*store_->ReleasesSpent("c1"), 0);
  EXPECT_EQ(store_->ReleaseHistory("c2")->size(), 1u);
}

TEST_F(LinkerTest, AFullDiskRefusesBatchesUntilSpaceIsFreedThenAcceptsWithoutARestart) {
  v1::SealedBatch first = Seal(Payload(20));
  ASSERT_TRUE(ingester_->Ingest("agent", first).ok());
  disk_->full = true;
  v1::SealedBatch second = Seal(Payload(30));
  absl::StatusOr<v1::Receipt> refused = ingester_->Ingest("agent", second);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  const std::string message(refused.status().message());
  EXPECT_NE(message.find("the linker is out of disk space"), std::string::npos) << message;
  EXPECT_EQ(message.find(dir_.path().string()), std::string::npos) << "server path: " << message;
  EXPECT_EQ(message.find("/"), std::string::npos) << "server path: " << message;
  // Still full: refused again, nothing half-stored.
  EXPECT_EQ(ingester_->Ingest("agent", second).status().code(),
            absl::StatusCode::kResourceExhausted);
  disk_->full = false;
  absl::StatusOr<v1::Receipt> accepted = ingester_->Ingest("agent", second);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_FALSE(accepted->duplicate());
  EXPECT_EQ(StoredRecords(), 50u);
  // Both batches survive a restart, once each.
  ingester_.reset();
  store_.reset();
  store_ = *LinkerStore::Open(dir_ / "db");
  EXPECT_EQ(StoredRecords(), 50u);
  EXPECT_TRUE((*store_->FindReceipt(first.batch_id())).has_value());
  EXPECT_TRUE((*store_->FindReceipt(second.batch_id())).has_value());
}

TEST_F(LinkerTest, ADamagedWriteAheadLogRefusesToOpenInsteadOfLosingAcknowledgedBatches) {
  for (int i = 0; i < 10; ++i) {
    v1::BatchPayload payload = Payload(100);
    payload.mutable_header()->set_run_id("run-" + std::to_string(i));
    ASSERT_TRUE(ingester_->Ingest("agent", Seal(payload)).ok());
  }
  ASSERT_EQ(StoredRecords(), 1000u);
  ingester_.reset();
  store_.reset();
  // The acknowledged batches are in the log only (nothing was flushed); damage its middle.
  std::filesystem::path wal;
  for (const auto& file : std::filesystem::directory_iterator(dir_ / "db")) {
    if (file.path().extension() == ".log" && file.file_size() > 0) wal = file.path();
  }
  ASSERT_FALSE(wal.empty());
  std::string bytes;
  {
    std::ifstream in(wal, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(bytes.size(), 4096u);
  for (size_t i = 0; i < 16; ++i) bytes[bytes.size() / 2 + i] ^= 0x5a;
  {
    std::ofstream out(wal, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  absl::StatusOr<std::unique_ptr<LinkerStore>> reopened = LinkerStore::Open(dir_ / "db");
  ASSERT_FALSE(reopened.ok()) << "opened a store with a damaged log";
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss) << reopened.status();
  const std::string message(reopened.status().message());
  EXPECT_NE(message.find((dir_ / "db").string()), std::string::npos) << message;
  EXPECT_NE(message.find("restore it from the last backup"), std::string::npos) << message;
  // The damaged log is left for the operator, not deleted or truncated.
  ASSERT_TRUE(std::filesystem::exists(wal));
  EXPECT_EQ(std::filesystem::file_size(wal), bytes.size());
}

TEST_F(LinkerTest, AnUnacknowledgedTornLastLogRecordDoesNotStopTheStore) {
  for (int i = 0; i < 3; ++i) {
    v1::BatchPayload payload = Payload(100);
    payload.mutable_header()->set_run_id("run-" + std::to_string(i));
    ASSERT_TRUE(ingester_->Ingest("agent", Seal(payload)).ok());
  }
  ingester_.reset();
  store_.reset();
  std::filesystem::path wal;
  for (const auto& file : std::filesystem::directory_iterator(dir_ / "db")) {
    if (file.path().extension() == ".log" && file.file_size() > 0) wal = file.path();
  }
  ASSERT_FALSE(wal.empty());
  // A crash in the middle of appending a fourth batch: its record is cut short.
  {
    std::ofstream out(wal, std::ios::binary | std::ios::app);
    out << std::string("\x12\x34\x56\x78\xff\x7f\x01", 7);
  }
  absl::StatusOr<std::unique_ptr<LinkerStore>> reopened = LinkerStore::Open(dir_ / "db");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  store_ = std::move(*reopened);
  EXPECT_EQ(StoredRecords(), 300u);
}

TEST_F(LinkerTest, BatchesAreRefusedBeforeTheDiskIsFull) {
  // A store that must keep more free than any disk has refuses every write, and RocksDB never
  // sees a failed write.
  ingester_.reset();
  store_.reset();
  store_ = *LinkerStore::Open(dir_ / "db", {.min_free_bytes = uint64_t{1} << 62});
  v1::Receipt receipt;
  receipt.set_batch_id(std::string(64, 'a'));
  receipt.set_covenant_id("c1");
  receipt.set_dataset("uwv");
  absl::StatusOr<v1::Receipt> refused =
      store_->Commit(receipt, v1::BatchHeader(), {{std::string(32, 't'), "ciphertext"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_NE(std::string(refused.status().message()).find("the linker is out of disk space"),
            std::string::npos);
  EXPECT_EQ(StoredRecords(), 0u);
}

TEST_F(LinkerTest, RecordsMustFitTheirHeaderAndARunKeepsItsFirstBatchsFields) {
  // A category value beyond the header's code list.
  v1::BatchPayload coded = Payload(3);
  coded.mutable_header()->set_run_id("coded");
  v1::AttributeSchema* jaar = coded.mutable_header()->mutable_attributes(0);
  jaar->set_type(v1::ATTRIBUTE_TYPE_CATEGORY);
  jaar->add_codes("2014");
  for (v1::Record& r : *coded.mutable_records()) r.mutable_values(0)->set_code(0);
  coded.mutable_records(1)->mutable_values(0)->set_code(99999);
  absl::StatusOr<v1::Receipt> refused = ingester_->Ingest("agent", Seal(coded));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_NE(std::string(refused.status().message()).find("record 1"), std::string::npos)
      << refused.status();
  EXPECT_NE(std::string(refused.status().message()).find("code 99999"), std::string::npos)
      << refused.status();
  // A value of the wrong kind.
  coded.mutable_records(1)->mutable_values(0)->set_year(2014);
  refused = ingester_->Ingest("agent", Seal(coded));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_EQ(StoredRecords(), 0u);

  // The run's first batch fixes its fields: a second batch of the run with fewer is refused.
  v1::BatchPayload first = Payload(5);
  first.mutable_header()->set_run_id("run-a");
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(first)).ok());
  v1::BatchPayload fewer = Payload(4);
  fewer.mutable_header()->set_run_id("run-a");
  fewer.mutable_header()->set_sequence(1);
  fewer.mutable_header()->clear_attributes();
  for (v1::Record& r : *fewer.mutable_records()) r.clear_values();
  refused = ingester_->Ingest("agent", Seal(fewer));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_NE(std::string(refused.status().message()).find("run-a"), std::string::npos);
  EXPECT_EQ(StoredRecords(), 5u);
  // As a run of its own it is accepted (the analysis decides whether it can use it).
  fewer.mutable_header()->set_run_id("run-b");
  EXPECT_TRUE(ingester_->Ingest("agent", Seal(fewer)).ok());
  EXPECT_EQ(StoredRecords(), 9u);
}

}  // namespace
}  // namespace koppel
