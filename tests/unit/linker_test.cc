// The linker's ingest on a real RocksDB: exactly-once storage, re-keying, encryption at rest,
// and every kind of bad batch refused without storing anything; the store of one covenant per
// RocksDB instance: ending one leaves the others' files alone, the counts kept beside a closed
// store, and the refusal of a data directory in the old single-database layout.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <sodium.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/hmac.h"
#include "core/receipt.h"
#include "core/refusal.h"
#include "core/sealed_batch.h"
#include "linker/batch_ingester.h"
#include "linker/linker_store.h"
#include "linker/release_history.h"
#include "linker/served_covenants.h"
#include "policies/covenant_ledger.h"
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
    policy::Covenant covenant;
    covenant.id = "c1";
    covenant.version = 1;
    covenant.valid_from = absl::CivilDay(2026, 1, 1);
    covenant.valid_until = absl::CivilDay(2027, 12, 31);
    policy::CovenantParty agent;
    agent.name = "agent";
    agent.roles = {"data_holder"};
    agent.signing_public_key = hex;
    agent.datasets.emplace("uwv", policy::DatasetGrant{"uwv", {"bsn"}, {"jaar"}});
    covenant.parties.emplace(agent.name, std::move(agent));
    data_key_ = *Secret::Random(32);
    store_ = *linker::LinkerStore::Open(dir_ / "db", {.env = disk_env_.get()});
    EXPECT_TRUE(store_->OpenCovenant("c1", data_key_).ok());
    Secret box = *Secret::Allocate(crypto_box_SECRETKEYBYTES);
    crypto_box_keypair(box_public_.data(), box.mutable_data());
    Secret signing = *Secret::Allocate(crypto_sign_SECRETKEYBYTES);
    crypto_sign_keypair(pk.data(), signing.mutable_data());
    link_key_ = *Secret::Random(32);
    linker::LinkerKeys keys{box_public_, std::move(box), std::move(signing),
                            *Secret::FromBytes(link_key_.span()),
                            *Secret::FromBytes(data_key_.span())};
    ingester_ = *linker::BatchIngester::Create(std::move(covenant), std::move(keys), store_.get());
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
    payload.mutable_header()->set_key_epoch(1);
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

  // Closes the store and opens it again, with covenant c1 (and `also`) open.
  void Reopen(linker::LinkerStore::StoreOptions options = {},
              const std::vector<std::string>& also = {}) {
    ingester_.reset();
    store_.reset();
    store_ = *linker::LinkerStore::Open(dir_ / "db", options);
    ASSERT_TRUE(store_->OpenCovenant("c1", data_key_).ok());
    for (const std::string& id : also) ASSERT_TRUE(store_->OpenCovenant(id, data_key_).ok());
  }

  // What a crash would leave of covenant c1's directory now: its files as they are on disk
  // while the store is open (every acknowledged write is synced). Restored by TakeCrashCopy
  // after the store closed, so that its log still holds the acknowledged batches.
  void CopyAsAtCrash(const std::string& name = "crash") {
    std::filesystem::copy(dir_ / "db/covenants/c1", dir_ / name,
                          std::filesystem::copy_options::recursive);
  }
  void RestoreCrashCopy(const std::string& name = "crash") {
    ingester_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_ / "db/covenants/c1");
    std::filesystem::copy(dir_ / name, dir_ / "db/covenants/c1",
                          std::filesystem::copy_options::recursive);
  }
  // The write-ahead logs of covenant c1's instance.
  std::vector<std::filesystem::path> Logs() {
    std::vector<std::filesystem::path> logs;
    for (const auto& file : std::filesystem::directory_iterator(dir_ / "db/covenants/c1/db")) {
      if (file.path().extension() == ".log") logs.push_back(file.path());
    }
    return logs;
  }

  // Every file under `dir` with its bytes.
  static std::map<std::string, std::string> Files(const std::filesystem::path& dir) {
    std::map<std::string, std::string> files;
    for (const auto& file : std::filesystem::recursive_directory_iterator(dir)) {
      if (!file.is_regular_file()) continue;
      std::ifstream in(file.path(), std::ios::binary);
      files[file.path().string()].assign(std::istreambuf_iterator<char>(in),
                                         std::istreambuf_iterator<char>());
    }
    return files;
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

  test::TempDir dir_;
  std::shared_ptr<FullDiskFileSystem> disk_ = std::make_shared<FullDiskFileSystem>();
  std::unique_ptr<rocksdb::Env> disk_env_ = rocksdb::NewCompositeEnv(disk_);
  Secret agent_signing_ = *Secret::Allocate(1);
  BoxPublicKey box_public_;
  Secret link_key_ = *Secret::Allocate(1);
  Secret data_key_ = *Secret::Allocate(1);
  std::unique_ptr<linker::LinkerStore> store_;
  std::unique_ptr<linker::BatchIngester> ingester_;
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
  ASSERT_TRUE(
      store_
          ->Scan("c1", "uwv",
                 [&](std::string_view key, std::string_view value) {
                   for (const v1::Record& r : payload.records()) {
                     EXPECT_EQ(key.find(r.bsn_token()), std::string_view::npos)
                         << "agent token stored";
                     EXPECT_EQ(value.find(r.bsn_token()), std::string_view::npos)
                         << "agent token stored";
                   }
                   v1::Record
                       stored;  // in the clear inside the store: its files are encrypted as a whole
                   ASSERT_TRUE(stored.ParseFromArray(value.data(), static_cast<int>(value.size())));
                   bool matches_some = false;
                   for (const v1::Record& r : payload.records()) {
                     Digest256 expected = rekey.Mac(r.bsn_token());
                     matches_some |=
                         stored.bsn_token() == std::string(expected.begin(), expected.end());
                   }
                   EXPECT_TRUE(matches_some);
                   ++seen;
                 })
          .ok());
  EXPECT_EQ(seen, 50u);
  // Neither the agents' tokens nor the re-keyed ones are anywhere in the store's files (the
  // write-ahead log included), once flushed to tables too.
  ASSERT_TRUE(store_->Settle("c1").ok());
  ingester_.reset();
  store_.reset();
  for (const auto& [path, bytes] : Files(dir_ / "db")) {
    for (const v1::Record& r : payload.records()) {
      Digest256 rekeyed = rekey.Mac(r.bsn_token());
      EXPECT_EQ(bytes.find(r.bsn_token()), std::string::npos) << "agent token in " << path;
      EXPECT_EQ(bytes.find(std::string(rekeyed.begin(), rekeyed.end())), std::string::npos)
          << "re-keyed token in " << path;
    }
  }
}

TEST_F(LinkerTest, AReceiptFromBeforeTimestampsStillVerifies) {
  const v1::SealedBatch batch = Seal(Payload(3));
  absl::StatusOr<v1::Receipt> receipt = ingester_->Ingest("agent", batch);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  ASSERT_TRUE(receipt->has_store_time());
  EXPECT_GT(receipt->store_time().seconds(), 0);
  EXPECT_EQ(receipt->store_time().nanos(), 0);  // whole seconds: what the signature covers
  EXPECT_EQ(receipt->legacy_stored_at_unix_seconds(), receipt->store_time().seconds());
  // Kept receipts (agent outboxes, the store) from before carry the time in field 8 only.
  v1::Receipt legacy = *receipt;
  legacy.clear_store_time();
  legacy.set_legacy_stored_at_unix_seconds(receipt->store_time().seconds());
  EXPECT_EQ(ReceiptSignedBytes(legacy), ReceiptSignedBytes(*receipt));
  EXPECT_TRUE(VerifyReceipt(legacy, batch.batch_id()).ok());
  legacy.set_legacy_stored_at_unix_seconds(receipt->store_time().seconds() + 1);
  EXPECT_FALSE(VerifyReceipt(legacy, batch.batch_id()).ok());
  v1::Receipt later = *receipt;
  later.mutable_store_time()->set_seconds(receipt->store_time().seconds() + 1);
  EXPECT_FALSE(VerifyReceipt(later, batch.batch_id()).ok());
}

// ReceiptSignedBytes as agents built before store_time compute it: the time from field 8 only.
std::string ReceiptSignedBytesBeforeStoreTime(const v1::Receipt& r) {
  std::string out("koppel/v1/receipt", sizeof "koppel/v1/receipt");
  auto append_number = [&out](uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  auto append_text = [&](const std::string& s) {
    append_number(s.size());
    out += s;
  };
  append_text(r.batch_id());
  append_text(r.dataset());
  append_text(r.covenant_id());
  append_text(r.sender());
  append_number(r.records_accepted());
  append_number(r.records_rejected());
  append_number(static_cast<uint64_t>(r.duplicate()));
  append_number(static_cast<uint64_t>(r.legacy_stored_at_unix_seconds()));
  append_text(r.linker_public_key());
  return out;
}

TEST_F(LinkerTest, AReceiptOfTheNewLinkerVerifiesUnderTheOldSigningRule) {
  const v1::SealedBatch batch = Seal(Payload(3));
  for (int attempt = 0; attempt < 2; ++attempt) {  // the second one is the duplicate's receipt
    absl::StatusOr<v1::Receipt> receipt = ingester_->Ingest("agent", batch);
    ASSERT_TRUE(receipt.ok()) << receipt.status();
    EXPECT_EQ(receipt->duplicate(), attempt == 1);
    const std::string old_bytes = ReceiptSignedBytesBeforeStoreTime(*receipt);
    EXPECT_EQ(old_bytes, ReceiptSignedBytes(*receipt));
    ASSERT_EQ(receipt->signature().size(), crypto_sign_BYTES);
    ASSERT_EQ(receipt->linker_public_key().size(), crypto_sign_PUBLICKEYBYTES);
    EXPECT_EQ(crypto_sign_verify_detached(
                  reinterpret_cast<const unsigned char*>(receipt->signature().data()),
                  reinterpret_cast<const unsigned char*>(old_bytes.data()), old_bytes.size(),
                  reinterpret_cast<const unsigned char*>(receipt->linker_public_key().data())),
              0);
  }
}

// True when `status` is PERMISSION_DENIED and names `rule` (a covenant key path) as the rule
// that refused it: in its message, and as the Refusal it carries.
::testing::AssertionResult RefusedBy(const absl::Status& status, const std::string& rule) {
  if (!absl::IsPermissionDenied(status)) {
    return ::testing::AssertionFailure() << "expected PERMISSION_DENIED, got " << status;
  }
  if (std::string(status.message()).find("(rule: " + rule + ")") == std::string::npos) {
    return ::testing::AssertionFailure() << "expected rule " << rule << " in: " << status;
  }
  std::optional<v1::Refusal> refusal = RefusalOf(status);
  if (!refusal.has_value() || refusal->rule() != RuleOfKeyPath(rule) ||
      refusal->covenant_key() != rule || refusal->covenant_id() != "c1") {
    return ::testing::AssertionFailure()
           << "expected a Refusal of rule " << RuleOfKeyPath(rule) << " (" << rule
           << ") under covenant c1, got "
           << (refusal.has_value() ? refusal->ShortDebugString() : "none");
  }
  return ::testing::AssertionSuccess();
}

TEST_F(LinkerTest, RefusesBadBatchesAndStoresNothing) {
  // Another covenant inside the sealed payload.
  const absl::Status elsewhere = ingester_->Ingest("agent", Seal(Payload(3, "c2"))).status();
  EXPECT_TRUE(absl::IsPermissionDenied(elsewhere));
  EXPECT_EQ(RefusalRule(elsewhere), "covenant_binding");
  // A dataset the sender may not deliver.
  v1::BatchPayload other = Payload(3);
  other.mutable_header()->set_dataset("politie");
  EXPECT_TRUE(
      RefusedBy(ingester_->Ingest("agent", Seal(other)).status(), "parties[agent].datasets"));
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
  EXPECT_EQ(RefusalRule(version), "version");
  // Tampered envelope.
  v1::SealedBatch tampered = Seal(Payload(3));
  tampered.set_record_count(2);
  EXPECT_FALSE(ingester_->Ingest("agent", tampered).ok());
  // Oversize.
  v1::SealedBatch huge = Seal(Payload(1));
  huge.mutable_sealed_payload()->resize(linker::BatchIngester::kMaxSealedBytes + 1);
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

// The release history (linker/release_history.h): sealed under a key derived from the
// covenant's data key, numbered with the budget in one write, kept across a restart, unreadable
// and detected when altered, and deleted with the covenant.
TEST_F(LinkerTest, ReleaseHistoryIsSealedKeptAndDeletedWithTheCovenant) {
  absl::StatusOr<linker::ReleaseHistory> history =
      linker::ReleaseHistory::Open(store_.get(), "c1", data_key_);
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
  ingester_.reset();
  store_.reset();
  for (const auto& [path, bytes] : Files(dir_ / "db")) {
    EXPECT_EQ(bytes.find("secret-analysis-name"), std::string::npos) << path;
  }
  // A restart keeps it; another key does not open it.
  Reopen({}, {"c2"});
  history = linker::ReleaseHistory::Open(store_.get(), "c1", data_key_);
  ASSERT_TRUE(history.ok());
  records = history->Load();
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(records->size(), 3u);
  Secret other = *Secret::Random(32);
  absl::StatusOr<linker::ReleaseHistory> wrong =
      linker::ReleaseHistory::Open(store_.get(), "c1", other);
  ASSERT_TRUE(wrong.ok());
  absl::StatusOr<std::vector<v1::ReleaseRecord>> unreadable = wrong->Load();
  EXPECT_EQ(unreadable.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(unreadable.status().message()).find("releases nothing"), std::string::npos);
  // Another covenant's history is separate; the covenant's deletion removes only its own.
  absl::StatusOr<linker::ReleaseHistory> second =
      linker::ReleaseHistory::Open(store_.get(), "c2", data_key_);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(second->Append(v1::ReleaseRecord()).ok());
  ASSERT_TRUE(store_->DeleteCovenant("c1").ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->ReleaseHistory("c1").status()));
  EXPECT_EQ(store_->ReleaseHistory("c2")->size(), 1u);
  ASSERT_TRUE(store_->OpenCovenant("c1", data_key_).ok());  // a covenant of that name anew
  EXPECT_TRUE(store_->ReleaseHistory("c1")->empty());
  EXPECT_EQ(*store_->ReleasesSpent("c1"), 0);
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
  Reopen();
  EXPECT_EQ(StoredRecords(), 50u);
  EXPECT_TRUE((*store_->FindReceipt("c1", first.batch_id())).has_value());
  EXPECT_TRUE((*store_->FindReceipt("c1", second.batch_id())).has_value());
}

TEST_F(LinkerTest, ADamagedWriteAheadLogRefusesToOpenInsteadOfLosingAcknowledgedBatches) {
  for (int i = 0; i < 10; ++i) {
    v1::BatchPayload payload = Payload(100);
    payload.mutable_header()->set_run_id("run-" + std::to_string(i));
    ASSERT_TRUE(ingester_->Ingest("agent", Seal(payload)).ok());
  }
  ASSERT_EQ(StoredRecords(), 1000u);
  // A crash: the acknowledged batches are in the log only (nothing was flushed); damage its
  // middle.
  CopyAsAtCrash();
  RestoreCrashCopy();
  std::filesystem::path wal;
  for (const auto& file : std::filesystem::directory_iterator(dir_ / "db/covenants/c1/db")) {
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
  absl::StatusOr<std::unique_ptr<linker::LinkerStore>> reopened =
      linker::LinkerStore::Open(dir_ / "db");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  absl::Status opened = (*reopened)->OpenCovenant("c1", data_key_);
  ASSERT_FALSE(opened.ok()) << "opened a store with a damaged log";
  EXPECT_EQ(opened.code(), absl::StatusCode::kDataLoss) << opened;
  const std::string message(opened.message());
  EXPECT_NE(message.find((dir_ / "db/covenants/c1/db").string()), std::string::npos) << message;
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
  CopyAsAtCrash();
  RestoreCrashCopy();
  std::filesystem::path wal;
  for (const auto& file : std::filesystem::directory_iterator(dir_ / "db/covenants/c1/db")) {
    if (file.path().extension() == ".log" && file.file_size() > 0) wal = file.path();
  }
  ASSERT_FALSE(wal.empty());
  // A crash in the middle of appending a fourth batch: its record is cut short.
  {
    std::ofstream out(wal, std::ios::binary | std::ios::app);
    out << std::string("\x12\x34\x56\x78\xff\x7f\x01", 7);
  }
  absl::StatusOr<std::unique_ptr<linker::LinkerStore>> reopened =
      linker::LinkerStore::Open(dir_ / "db");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  store_ = std::move(*reopened);
  absl::Status opened = store_->OpenCovenant("c1", data_key_);
  ASSERT_TRUE(opened.ok()) << opened;
  EXPECT_EQ(StoredRecords(), 300u);
}

TEST_F(LinkerTest, BatchesAreRefusedBeforeTheDiskIsFull) {
  // A store that must keep more free than any disk has refuses every write, and RocksDB never
  // sees a failed write.
  Reopen({.min_free_bytes = uint64_t{1} << 62});
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

// Stores a batch of `records` records of dataset "uwv" under `covenant` directly, as the
// ingester of that covenant would.
absl::StatusOr<v1::Receipt> CommitDirectly(linker::LinkerStore* store, const std::string& covenant,
                                           char batch, int records) {
  v1::Receipt receipt;
  receipt.set_batch_id(std::string(64, batch));
  receipt.set_covenant_id(covenant);
  receipt.set_dataset("uwv");
  v1::BatchHeader header;
  header.set_covenant_id(covenant);
  header.set_dataset("uwv");
  std::vector<linker::StoredRecord> stored;
  for (int i = 0; i < records; ++i) {
    v1::Record record;
    record.set_bsn_token(std::string(32, static_cast<char>('a' + i % 26)));
    stored.push_back({record.bsn_token(), record.SerializeAsString()});
  }
  return store->Commit(receipt, header, stored);
}

// The name, size and modification time of every file of a covenant's instance.
std::map<std::string, std::pair<uintmax_t, std::filesystem::file_time_type>> Listing(
    const std::filesystem::path& dir) {
  std::map<std::string, std::pair<uintmax_t, std::filesystem::file_time_type>> files;
  for (const auto& file : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string name = file.path().filename().string();
    // RocksDB's own diagnostic log may note a periodic statistics dump.
    if (!file.is_regular_file() || name.starts_with("LOG")) continue;
    files[file.path().string()] = {file.file_size(), file.last_write_time()};
  }
  return files;
}

TEST_F(LinkerTest, EndingACovenantRemovesItsStoreAndLeavesAnothersFilesUntouched) {
  Secret other_key = *Secret::Random(32);
  ASSERT_TRUE(store_->OpenCovenant("c2", other_key).ok());
  v1::SealedBatch batch = Seal(Payload(50));
  ASSERT_TRUE(ingester_->Ingest("agent", batch).ok());
  ASSERT_TRUE(CommitDirectly(store_.get(), "c2", 'b', 40).ok());
  ASSERT_TRUE(CommitDirectly(store_.get(), "c2", 'c', 30).ok());
  // Both at rest in table files, as a store that has run a while.
  ASSERT_TRUE(store_->Settle("c1").ok());
  ASSERT_TRUE(store_->Settle("c2").ok());
  const std::filesystem::path c2 = dir_ / "db/covenants/c2";
  const auto before = Listing(c2);
  ASSERT_TRUE(std::any_of(before.begin(), before.end(),
                          [](const auto& f) { return f.first.ends_with(".sst"); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a rewrite would show in mtimes

  absl::StatusOr<linker::LinkerStore::Deleted> deleted = store_->DeleteCovenant("c1");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->records, 50u);
  EXPECT_EQ(deleted->batches, 1u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "db/covenants/c1"));
  EXPECT_FALSE(store_->IsOpen("c1"));
  absl::Status gone = store_->FindReceipt("c1", batch.batch_id()).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(gone)) << gone;
  EXPECT_NE(std::string(gone.message()).find("not open"), std::string::npos) << gone;
  // Not one file of the other covenant was written, replaced or removed: no flush or
  // compaction ran on it.
  EXPECT_EQ(Listing(c2), before);
  // And its data reads as before, through a restart.
  ingester_.reset();
  store_.reset();
  store_ = *linker::LinkerStore::Open(dir_ / "db");
  ASSERT_TRUE(store_->OpenCovenant("c2", other_key).ok());
  absl::StatusOr<linker::HeldCounts> held = store_->Held("c2");
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->records, 70u);
  EXPECT_EQ(held->batches, 2u);
  EXPECT_TRUE((*store_->FindReceipt("c2", std::string(64, 'b'))).has_value());
  size_t seen = 0;
  for (auto c = store_->NewRecordCursor("c2", "uwv"); c->Valid(); c->Next()) ++seen;
  EXPECT_EQ(seen, 70u);
  // c1 opened anew holds nothing.
  ASSERT_TRUE(store_->OpenCovenant("c1", data_key_).ok());
  EXPECT_EQ(store_->Held("c1")->records, 0u);
}

TEST_F(LinkerTest, AnEndWithoutTheKeyRemovesTheStoreAndReportsTheCountsKeptBesideIt) {
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(50))).ok());
  const std::string after_first =
      Files(dir_ / "db/covenants/c1")[(dir_ / "db/covenants/c1/held").string()];
  v1::BatchPayload second = Payload(20);
  second.mutable_header()->set_run_id("second");
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(second)).ok());
  // The counts kept beside the store: plaintext, counts only (and the MAC of the mark).
  const std::filesystem::path held_file = dir_ / "db/covenants/c1/held";
  auto counts = [&] {
    nlohmann::json held =
        nlohmann::json::parse(Files(dir_ / "db/covenants/c1")[held_file.string()]);
    return nlohmann::json({{"records", held["records"]}, {"batches", held["batches"]}});
  };
  EXPECT_EQ(counts(), nlohmann::json({{"records", 70}, {"batches", 2}}));
  // Refreshed from the store itself whenever it opens (they may lag after a crash between a
  // commit and the counts' update: here, the counts of the first batch only).
  ingester_.reset();
  store_.reset();
  { std::ofstream(held_file, std::ios::trunc) << after_first; }
  Reopen();
  EXPECT_EQ(counts(), nlohmann::json({{"records", 70}, {"batches", 2}}));
  // The key is gone (the vault ended the covenant while the linker was down): the store is
  // not opened, yet its end says what it deleted and removes it.
  store_.reset();
  store_ = *linker::LinkerStore::Open(dir_ / "db");
  absl::StatusOr<linker::HeldCounts> held = store_->Held("c1");
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->records, 70u);
  EXPECT_EQ(held->batches, 2u);
  absl::StatusOr<linker::LinkerStore::Deleted> deleted = store_->DeleteCovenant("c1");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->records, 70u);
  EXPECT_EQ(deleted->batches, 2u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "db/covenants/c1"));
  // Ending it again (a deletion resumed after a crash) finds nothing and fails nothing.
  deleted = store_->DeleteCovenant("c1");
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->records, 0u);
}

TEST_F(LinkerTest, AnEndWaitsForAQueryStillReadingTheCovenant) {
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(10))).ok());
  std::unique_ptr<linker::RecordCursor> cursor = store_->NewRecordCursor("c1", "uwv");
  ASSERT_TRUE(cursor->Valid());
  std::thread reader([&cursor] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    size_t n = 0;
    for (; cursor->Valid(); cursor->Next()) ++n;
    EXPECT_EQ(n, 10u);  // the query reads to its end
    cursor.reset();
  });
  absl::StatusOr<linker::LinkerStore::Deleted> deleted = store_->DeleteCovenant("c1");
  reader.join();
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->records, 10u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "db/covenants/c1"));
}

TEST_F(LinkerTest, ACovenantStoreMustBeOpenedWithItsNameAndItsKey) {
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->FindReceipt("c9", std::string(64, 'a')).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->NewRecordCursor("c9", "uwv")->status()));
  for (const std::string& bad :
       std::vector<std::string>{"../c1", "", "C1", std::string("c\0", 2)}) {
    absl::Status refused = store_->OpenCovenant(bad, data_key_);
    EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "c1"));
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(10))).ok());
  ingester_.reset();
  store_.reset();
  store_ = *linker::LinkerStore::Open(dir_ / "db");
  Secret wrong = *Secret::Random(32);
  absl::Status opened = store_->OpenCovenant("c1", wrong);
  ASSERT_FALSE(opened.ok()) << "opened a covenant's store with another key";
  EXPECT_EQ(opened.code(), absl::StatusCode::kDataLoss) << opened;
  EXPECT_NE(std::string(opened.message()).find("data key"), std::string::npos) << opened;
  EXPECT_FALSE(store_->IsOpen("c1"));
  // Nothing was changed: the right key still opens it, with everything in it.
  ASSERT_TRUE(store_->OpenCovenant("c1", data_key_).ok());
  EXPECT_EQ(StoredRecords(), 10u);
  // Once open, opening it again checks the key too.
  EXPECT_TRUE(store_->OpenCovenant("c1", data_key_).ok());
  absl::Status again = store_->OpenCovenant("c1", wrong);
  EXPECT_TRUE(absl::IsFailedPrecondition(again)) << again;
  EXPECT_NE(std::string(again.message()).find("another data key"), std::string::npos) << again;
  EXPECT_TRUE(store_->IsOpen("c1"));
  EXPECT_EQ(StoredRecords(), 10u);
}

TEST_F(LinkerTest, ADataDirectoryInTheOldSingleDatabaseLayoutIsRefusedWithWhatToDo) {
  const std::filesystem::path old = dir_ / "old";
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, old.string(), &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), std::string("s\0c1\0uwv", 8), "x").ok());
    delete db;
  }
  std::ofstream(old / "covenants.json") << "{}";
  const auto before = Files(old);
  for (const absl::StatusOr<std::unique_ptr<linker::LinkerStore>>& refused :
       {linker::LinkerStore::Open(old), linker::LinkerStore::OpenReadOnly(old)}) {
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
    const std::string message(refused.status().message());
    for (const char* says : {"old layout", "CURRENT", "new empty --data directory", "audit.log",
                             "receipts/", "koppel-agent send", "docs/services.md"}) {
      EXPECT_NE(message.find(says), std::string::npos) << says << " not in: " << message;
    }
  }
  // Nothing was added to or changed in the old directory.
  EXPECT_EQ(Files(old), before);
  EXPECT_FALSE(std::filesystem::exists(old / "covenants"));
  EXPECT_FALSE(std::filesystem::exists(old / "STORE_FORMAT"));
  // A store of this layout says so, and another format marker is refused too.
  EXPECT_EQ(Files(dir_ / "db")[(dir_ / "db/STORE_FORMAT").string()], "koppel-store 2\n");
  std::filesystem::create_directories(dir_ / "future");
  std::ofstream(dir_ / "future/STORE_FORMAT") << "koppel-store 3\n";
  absl::StatusOr<std::unique_ptr<linker::LinkerStore>> future =
      linker::LinkerStore::Open(dir_ / "future");
  EXPECT_EQ(future.status().code(), absl::StatusCode::kFailedPrecondition) << future.status();
  // ... saying it is a newer linker's, and which format it found; only the old layout is
  // "old" (koppel-linker exits 6 for it, 7 for another format).
  const std::string newer(future.status().message());
  EXPECT_NE(newer.find("newer linker (store format 3)"), std::string::npos) << newer;
  EXPECT_EQ(newer.find("old layout"), std::string::npos) << newer;
  EXPECT_TRUE(linker::LinkerStore::HoldsOldLayout(old));
  EXPECT_FALSE(linker::LinkerStore::HoldsOldLayout(dir_ / "future"));
  EXPECT_FALSE(linker::LinkerStore::HoldsOldLayout(dir_ / "db"));
}

// Closing flushes: after a clean stop nothing acknowledged lives only in the write-ahead log,
// so losing the log of a closed store loses nothing.
TEST_F(LinkerTest, AClosedStoreKeepsNothingOnlyInItsLog) {
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(30))).ok());
  ASSERT_TRUE(store_->Settle("c1").ok());
  v1::BatchPayload second = Payload(20);
  second.mutable_header()->set_run_id("second");
  v1::SealedBatch b = Seal(second);
  ASSERT_TRUE(ingester_->Ingest("agent", b).ok());
  ASSERT_TRUE(store_->RecordRelease("c1", "sealed entry").ok());
  ingester_.reset();
  store_.reset();
  for (const std::filesystem::path& log : Logs()) std::filesystem::remove(log);
  Reopen();
  EXPECT_EQ(StoredRecords(), 50u);
  EXPECT_TRUE((*store_->FindReceipt("c1", b.batch_id())).has_value());
  EXPECT_EQ(*store_->ReleasesSpent("c1"), 1);
  EXPECT_EQ(store_->ReleaseHistory("c1")->size(), 1u);
}

// The high-water mark beside the store: a store that lost acknowledged batches or releases (its
// log deleted or cut short after a crash, its instance gone) or whose mark was altered is
// refused, not served as if it never had them; the untouched store, and a whole older copy (a
// restored backup), open with everything in them.
TEST_F(LinkerTest, AStoreBehindWhatItAcknowledgedIsRefused) {
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(30))).ok());
  ASSERT_TRUE(store_->Settle("c1").ok());
  CopyAsAtCrash("backup");
  v1::BatchPayload second = Payload(20);
  second.mutable_header()->set_run_id("second");
  v1::SealedBatch b = Seal(second);
  ASSERT_TRUE(ingester_->Ingest("agent", b).ok());
  ASSERT_TRUE(store_->RecordRelease("c1", "sealed entry").ok());
  CopyAsAtCrash();
  const std::filesystem::path held_file = dir_ / "db/covenants/c1/held";
  auto refused = [&](std::string_view says) {
    store_ = *linker::LinkerStore::Open(dir_ / "db");
    absl::Status opened = store_->OpenCovenant("c1", data_key_);
    EXPECT_EQ(opened.code(), absl::StatusCode::kDataLoss) << opened;
    EXPECT_NE(std::string(opened.message()).find(says), std::string::npos) << opened;
    EXPECT_NE(std::string(opened.message()).find("docs/services.md"), std::string::npos) << opened;
    EXPECT_FALSE(store_->IsOpen("c1"));
  };

  RestoreCrashCopy();
  const std::string mark = Files(dir_ / "db/covenants/c1")[held_file.string()];
  for (const std::filesystem::path& log : Logs()) std::filesystem::remove(log);
  refused("behind what it acknowledged");
  EXPECT_EQ(Files(dir_ / "db/covenants/c1")[held_file.string()], mark);  // never lowered

  RestoreCrashCopy();
  std::vector<std::filesystem::path> logs = Logs();
  ASSERT_EQ(logs.size(), 1u);
  ASSERT_GT(std::filesystem::file_size(logs[0]), 64u);
  // Cut short in the last record (the release): read as a torn, unacknowledged tail.
  std::filesystem::resize_file(logs[0], std::filesystem::file_size(logs[0]) - 16);
  refused("behind what it acknowledged");

  RestoreCrashCopy();
  std::filesystem::remove_all(dir_ / "db/covenants/c1/db");
  refused("is missing");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "db/covenants/c1/db"));  // not made anew
  EXPECT_EQ(Files(dir_ / "db/covenants/c1")[held_file.string()], mark);

  RestoreCrashCopy();
  nlohmann::json altered = nlohmann::json::parse(mark);
  altered["releases"] = 0;
  { std::ofstream(held_file, std::ios::trunc) << altered.dump(); }
  refused("does not verify");

  RestoreCrashCopy();
  std::filesystem::remove(held_file);
  refused("is missing");

  RestoreCrashCopy();
  Reopen();
  EXPECT_EQ(StoredRecords(), 50u);
  EXPECT_TRUE((*store_->FindReceipt("c1", b.batch_id())).has_value());
  EXPECT_EQ(*store_->ReleasesSpent("c1"), 1);

  RestoreCrashCopy("backup");
  Reopen();
  EXPECT_EQ(StoredRecords(), 30u);
  EXPECT_EQ(*store_->ReleasesSpent("c1"), 0);
}

// A backup's checkpoint (koppel-linker backup) is taken with the mark of exactly its point, also
// while the newest batch and release live only in the memtable: restored in place of the store,
// it opens with what it held then, not refused as behind. A restore note raises the release
// count to what the audit log showed, once.
TEST_F(LinkerTest, ACheckpointOpensAsTheStoreItWasAndARestoreNoteKeepsReleasesSpent) {
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(30))).ok());
  ASSERT_TRUE(store_->RecordRelease("c1", "sealed entry").ok());
  const std::filesystem::path point = dir_ / "db/backup.tmp-test/c1";
  absl::StatusOr<linker::HighWaterMark> mark = store_->Checkpoint("c1", point);
  ASSERT_TRUE(mark.ok()) << mark.status();
  EXPECT_EQ(mark->records, 30u);
  EXPECT_EQ(mark->batches, 1u);
  EXPECT_EQ(mark->releases, 1);
  EXPECT_TRUE(std::filesystem::exists(point / "held"));
  v1::BatchPayload second = Payload(20);
  second.mutable_header()->set_run_id("second");
  v1::SealedBatch b = Seal(second);
  ASSERT_TRUE(ingester_->Ingest("agent", b).ok());
  ASSERT_TRUE(store_->RecordRelease("c1", "sealed entry 2").ok());

  ingester_.reset();
  store_.reset();
  std::filesystem::remove_all(dir_ / "db/covenants/c1");
  std::filesystem::rename(point, dir_ / "db/covenants/c1");
  const std::filesystem::path note =
      dir_ / "db/covenants/c1" / linker::LinkerStore::kRestoreNoteFile;
  {
    std::ofstream(note) << R"({"releases_at_least": 2})"
                        << "\n";
  }
  Reopen();
  EXPECT_EQ(StoredRecords(), 30u);
  EXPECT_FALSE((*store_->FindReceipt("c1", b.batch_id())).has_value());
  EXPECT_EQ(*store_->ReleasesSpent("c1"), 2);
  EXPECT_EQ(store_->ReleaseHistory("c1")->size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(note));
  Reopen();  // the raised count is in the store and its mark
  EXPECT_EQ(*store_->ReleasesSpent("c1"), 2);
}

// Issue 16, release history across a restore: the history entries made after a backup, which
// the `release` audit entries carry sealed, are put back from the restore note when the
// covenant opens, in order and once (a note applied again, as after a crash, adds nothing), so
// the history and the count are what they were; an entry that does not open under the
// covenant's history key is refused, not skipped.
TEST_F(LinkerTest, ARestoreNotePutsBackTheReleaseHistoryMadeAfterTheBackup) {
  absl::StatusOr<linker::ReleaseHistory> history =
      linker::ReleaseHistory::Open(store_.get(), "c1", data_key_);
  ASSERT_TRUE(history.ok()) << history.status();
  v1::ReleaseRecord record;
  record.set_analysis("before-the-backup");
  ASSERT_TRUE(history->Append(record).ok());
  const std::filesystem::path point = dir_ / "db/backup.tmp-test/c1";
  ASSERT_TRUE(store_->Checkpoint("c1", point).ok());
  std::vector<linker::SealedRelease> after;
  for (int i = 0; i < 2; ++i) {
    record.set_analysis("after-the-backup");
    record.add_count_values(7 + i);
    absl::StatusOr<linker::SealedRelease> sealed = history->Append(record);
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    EXPECT_EQ(sealed->sequence, static_cast<uint64_t>(i + 1));
    after.push_back(*sealed);
  }
  const std::vector<std::string> before_loss = *store_->ReleaseHistory("c1");
  ASSERT_EQ(before_loss.size(), 3u);

  ingester_.reset();
  store_.reset();
  std::filesystem::remove_all(dir_ / "db/covenants/c1");
  std::filesystem::rename(point, dir_ / "db/covenants/c1");
  const std::filesystem::path note =
      dir_ / "db/covenants/c1" / linker::LinkerStore::kRestoreNoteFile;
  const auto write_note = [&](const std::vector<linker::SealedRelease>& entries) {
    nlohmann::json json = {{"releases_at_least", 3}, {"backup_time", "2026-12-07T05:00:00Z"}};
    json["history"] = nlohmann::json::array();
    for (const linker::SealedRelease& entry : entries) {
      nlohmann::json audited = nlohmann::json::object();
      linker::AddHistoryEntry(entry, &audited);
      json["history"].push_back(
          {{"sequence", audited["history_sequence"]}, {"entry", audited["history_entry"]}});
    }
    std::ofstream(note, std::ios::trunc) << json.dump() << "\n";
  };

  // An entry sealed under another key is refused, and the note stays for a second attempt.
  linker::SealedRelease foreign = after[1];
  foreign.sealed[foreign.sealed.size() - 1] ^= 1;
  write_note({after[0], foreign});
  store_ = *linker::LinkerStore::Open(dir_ / "db");
  absl::Status refused = store_->OpenCovenant("c1", data_key_);
  EXPECT_EQ(refused.code(), absl::StatusCode::kDataLoss) << refused;
  EXPECT_NE(std::string(refused.message()).find("entry 2 of covenant c1 does not open"),
            std::string::npos)
      << refused;
  EXPECT_TRUE(std::filesystem::exists(note));

  write_note(after);
  Reopen();
  EXPECT_TRUE(*store_->ReleaseHistory("c1") == before_loss) << "the history is not as before";
  EXPECT_EQ(*store_->ReleasesSpent("c1"), 3);
  std::optional<linker::LinkerStore::AppliedRestore> applied = store_->TakeAppliedRestore("c1");
  ASSERT_TRUE(applied.has_value());
  EXPECT_EQ(applied->history_reapplied, 2);
  EXPECT_EQ(applied->releases_raised, 0);
  EXPECT_EQ(applied->backup_time, "2026-12-07T05:00:00Z");
  EXPECT_FALSE(store_->TakeAppliedRestore("c1").has_value());
  EXPECT_FALSE(std::filesystem::exists(note));
  history = linker::ReleaseHistory::Open(store_.get(), "c1", data_key_);
  absl::StatusOr<std::vector<v1::ReleaseRecord>> records = history->Load();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[2].count_values(1), 8);

  // Applied again (a crash before the note was removed): nothing is added twice.
  write_note(after);
  Reopen();
  EXPECT_TRUE(*store_->ReleaseHistory("c1") == before_loss) << "the history is not as before";
  EXPECT_EQ(*store_->ReleasesSpent("c1"), 3);
  EXPECT_EQ(store_->TakeAppliedRestore("c1")->history_reapplied, 0);
}

// A release whose sealed history entry is too large for an audit line is audited without it.
TEST_F(LinkerTest, AHistoryEntryTooLargeForTheAuditLogIsMarkedOmitted) {
  nlohmann::json details = nlohmann::json::object();
  linker::AddHistoryEntry({.sequence = 4, .sealed = std::string(400 << 10, 'x')}, &details);
  EXPECT_EQ(details, nlohmann::json({{"history_entry_omitted", true}}));
  EXPECT_FALSE(linker::HistoryEntryOf(details)->has_value());
  details = nlohmann::json::object();
  linker::AddHistoryEntry({.sequence = 4, .sealed = "sealed"}, &details);
  absl::StatusOr<std::optional<linker::SealedRelease>> back = linker::HistoryEntryOf(details);
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->sequence, 4u);
  EXPECT_EQ((*back)->sealed, "sealed");
}

// A covenant whose directory is there was held before: its store going missing (here its
// CURRENT file) is refused, not answered with a new empty store, and its mark stays.
TEST_F(LinkerTest, AMissingStoreOfACovenantHeldBeforeIsNotCreatedAnew) {
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(10))).ok());
  ingester_.reset();
  store_.reset();
  const auto before = Files(dir_ / "db/covenants/c1");
  std::filesystem::remove(dir_ / "db/covenants/c1/db/CURRENT");
  store_ = *linker::LinkerStore::Open(dir_ / "db");
  absl::Status opened = store_->OpenCovenant("c1", data_key_);
  EXPECT_EQ(opened.code(), absl::StatusCode::kDataLoss) << opened;
  EXPECT_NE(std::string(opened.message()).find("is missing"), std::string::npos) << opened;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "db/covenants/c1/db/CURRENT"));
  auto after = Files(dir_ / "db/covenants/c1");
  auto expected = before;
  expected.erase((dir_ / "db/covenants/c1/db/CURRENT").string());
  EXPECT_EQ(after, expected);
  // A covenant never held is created.
  ASSERT_TRUE(store_->OpenCovenant("c3", data_key_).ok());
  EXPECT_EQ(store_->Held("c3")->records, 0u);
}

// An SST changed while the linker was down is refused when the covenant opens, before anything
// reads or compacts it (a data block is not read at open: without the MAC check the store would
// open and serve until a query met the block).
TEST_F(LinkerTest, AnSstChangedWhileTheLinkerWasDownIsRefusedAtOpen) {
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(200))).ok());
  ingester_.reset();
  store_.reset();  // a clean close flushes the records into an SST
  std::filesystem::path sst;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ / "db/covenants/c1/db")) {
    if (entry.path().extension() == ".sst") sst = entry.path();
  }
  ASSERT_FALSE(sst.empty());
  {
    std::fstream file(sst, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(4096 + 200);
    char byte = 0;
    file.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x01);
    file.seekp(4096 + 200);
    file.write(&byte, 1);
  }
  store_ = *linker::LinkerStore::Open(dir_ / "db");
  absl::Status opened = store_->OpenCovenant("c1", data_key_);
  EXPECT_EQ(opened.code(), absl::StatusCode::kDataLoss) << opened;
  EXPECT_NE(std::string(opened.message()).find("does not verify"), std::string::npos) << opened;
  EXPECT_EQ(std::string(opened.message()).find((dir_ / "db").string()), std::string::npos)
      << opened;
}

// Ending waits for a query's cursor as long as it takes (requests are drained before), instead
// of giving up after 10 s and putting the store back with its key; meanwhile the store is not
// handed out or opened again.
TEST_F(LinkerTest, AnEndWaitsForACursorLongerThanTenSeconds) {
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(10))).ok());
  std::unique_ptr<linker::RecordCursor> cursor = store_->NewRecordCursor("c1", "uwv");
  ASSERT_TRUE(cursor->Valid());
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(store_->IsOpen("c1"));
    absl::Status reopened = store_->OpenCovenant("c1", data_key_);
    EXPECT_TRUE(absl::IsFailedPrecondition(reopened)) << reopened;
    EXPECT_NE(std::string(reopened.message()).find("being deleted"), std::string::npos) << reopened;
    std::this_thread::sleep_for(std::chrono::milliseconds(10500));
    size_t n = 0;
    for (; cursor->Valid(); cursor->Next()) ++n;
    EXPECT_EQ(n, 10u);
    cursor.reset();
  });
  absl::StatusOr<linker::LinkerStore::Deleted> deleted = store_->DeleteCovenant("c1");
  reader.join();
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->records, 10u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "db/covenants/c1"));
}

// Makes a directory immutable (chattr +i) while it lives: not even root removes its entries.
class ImmutableDirectory {
 public:
  explicit ImmutableDirectory(const std::filesystem::path& dir) {
    fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int flags = 0;
    if (fd_ < 0 || ::ioctl(fd_, FS_IOC_GETFLAGS, &flags) != 0) return;
    flags |= FS_IMMUTABLE_FL;
    set_ = ::ioctl(fd_, FS_IOC_SETFLAGS, &flags) == 0;
  }
  ~ImmutableDirectory() { Release(); }
  bool set() const { return set_; }
  void Release() {
    if (set_) {
      int flags = 0;
      ::ioctl(fd_, FS_IOC_GETFLAGS, &flags);
      flags &= ~FS_IMMUTABLE_FL;
      ::ioctl(fd_, FS_IOC_SETFLAGS, &flags);
      set_ = false;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool set_ = false;
};

// A deletion whose files cannot be removed fails without the server's paths, leaves the store
// closed and never handed out again (its key is not kept), and finishes when retried.
TEST_F(LinkerTest, AFailedDeletionKeepsTheStoreClosedAndFinishesWhenRetried) {
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(10))).ok());
  ImmutableDirectory stuck(dir_ / "db/covenants/c1/db");
  if (!stuck.set()) GTEST_SKIP() << "cannot make a directory immutable here (needs root, ext4)";
  absl::StatusOr<linker::LinkerStore::Deleted> failed = store_->DeleteCovenant("c1");
  ASSERT_FALSE(failed.ok());
  const std::string message(failed.status().message());
  EXPECT_EQ(message.find(dir_.path().string()), std::string::npos) << "server path: " << message;
  EXPECT_NE(message.find("retried"), std::string::npos) << message;
  EXPECT_FALSE(store_->IsOpen("c1"));
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->FindReceipt("c1", std::string(64, 'a')).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->OpenCovenant("c1", data_key_)));
  stuck.Release();
  absl::StatusOr<linker::LinkerStore::Deleted> deleted = store_->DeleteCovenant("c1");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->records, 10u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "db/covenants/c1"));
  ASSERT_TRUE(store_->OpenCovenant("c1", data_key_).ok());  // a covenant of that name anew
}

// An end whose deletion did not finish (the ledger says ended, not deleted) is retried by the
// periodic retention task, not left until the next start.
TEST_F(LinkerTest, ThePeriodicTaskRetriesAPendingDeletion) {
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(10))).ok());
  absl::StatusOr<std::unique_ptr<policy::CovenantLedger>> ledger =
      policy::CovenantLedger::Open(dir_ / "covenants.json", /*first_start=*/true);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  ASSERT_TRUE((*ledger)->MarkEnded("c1", absl::Now(), "test").ok());
  linker::ServedCovenants covenants(store_.get(), ledger->get(), /*audit=*/nullptr);
  EXPECT_TRUE(covenants.DeletionPending("c1"));
  EXPECT_EQ(covenants.RetryPendingDeletions(), 1);
  EXPECT_FALSE(covenants.DeletionPending("c1"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "db/covenants/c1"));
  EXPECT_TRUE((*ledger)->PendingDeletion().empty());
  EXPECT_EQ(covenants.RetryPendingDeletions(), 0);
}

// A request holds its covenant (a CovenantHold, moved along with the request) until it is done:
// an end marks the covenant ended at once but deletes its data only once the request let go,
// A batch sealed under a key epoch the covenant has not reached (or 0) would make every
// dataset look as if it had to be delivered again: it is refused, nothing of it stored.
TEST_F(LinkerTest, ABatchOfAKeyEpochTheCovenantHasNotReachedIsRefused) {
  for (uint32_t epoch : {99u, 0u, 3u}) {
    v1::BatchPayload payload = Payload(3);
    payload.mutable_header()->set_key_epoch(epoch);
    const absl::Status refused = ingester_->Ingest("agent", Seal(payload)).status();
    EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << epoch << ": " << refused;
    EXPECT_EQ(RefusalRule(refused), "key_epoch_unknown") << epoch;
  }
  EXPECT_TRUE(store_->Status()->empty());
  // Offline (no vault), one epoch above the newest held may come: a rotation.
  ASSERT_TRUE(ingester_->Ingest("agent", Seal(Payload(3))).ok());
  v1::BatchPayload next = Payload(3);
  next.mutable_header()->set_key_epoch(2);
  next.mutable_header()->set_run_id("next");
  EXPECT_TRUE(ingester_->Ingest("agent", Seal(next)).ok());
  next.mutable_header()->set_key_epoch(4);
  next.mutable_header()->set_run_id("later");
  EXPECT_EQ(RefusalRule(ingester_->Ingest("agent", Seal(next)).status()), "key_epoch_unknown");
}

// and a request that comes after the end is refused.
TEST_F(LinkerTest, AnEndWaitsForTheRequestInFlightAndRefusesLaterOnes) {
  absl::StatusOr<std::unique_ptr<policy::CovenantLedger>> ledger =
      policy::CovenantLedger::Open(dir_ / "covenants.json", /*first_start=*/true);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  linker::ServedCovenants covenants(store_.get(), ledger->get(), /*audit=*/nullptr);
  Secret box = *Secret::Allocate(crypto_box_SECRETKEYBYTES);
  Secret signing = *Secret::Random(crypto_sign_SECRETKEYBYTES);
  linker::LinkerKeys keys{box_public_, std::move(box), std::move(signing),
                          *Secret::FromBytes(link_key_.span()),
                          *Secret::FromBytes(data_key_.span())};
  absl::StatusOr<std::unique_ptr<linker::ServedCovenant>> served = linker::ServedCovenant::Create(
      policy::SignedCovenant{ingester_->covenant(), "", dir_ / "c1.yaml", {}}, std::move(keys),
      store_.get());
  ASSERT_TRUE(served.ok()) << served.status();
  covenants.Add(std::move(*served));
  const absl::Time in_force = absl::FromCivil(absl::CivilDay(2026, 6, 1), absl::UTCTimeZone());

  absl::StatusOr<linker::CovenantHold> held = covenants.Hold("c1", "", in_force);
  ASSERT_TRUE(held.ok()) << held.status();
  std::optional<linker::CovenantHold> request(std::move(*held));
  std::atomic<bool> ended{false};
  std::thread end([&] {
    EXPECT_TRUE(covenants.End("c1", "covenant_end", "officer", "test", absl::Now()).ok());
    ended = true;
  });
  while (!covenants.DeletionPending("c1")) std::this_thread::yield();
  // Time for an end that does not wait to finish; one that waits passes however long this is.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(ended.load()) << "the end did not wait for the request in flight";
  EXPECT_TRUE(store_->IsOpen("c1"));
  request.reset();
  end.join();
  EXPECT_TRUE(ended.load());
  EXPECT_FALSE(covenants.DeletionPending("c1"));
  EXPECT_FALSE(store_->IsOpen("c1"));
  EXPECT_TRUE(absl::IsFailedPrecondition(covenants.Hold("c1", "", in_force).status()));
}

}  // namespace
}  // namespace koppel
