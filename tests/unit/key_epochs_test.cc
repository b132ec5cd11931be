// Key epochs in the linker's store (issue 16 part 6): which epoch an analysis reads, which
// datasets are to be delivered again, and retiring the epochs every dataset has left behind.
#include "linker/key_epochs.h"

#include <gtest/gtest.h>

#include "core/proto_time.h"
#include "core/refusal.h"
#include "linker/linker_store.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using linker::HeldEpochs;
using linker::KeyEpochs;

HeldEpochs Held(const std::map<std::string, std::vector<uint32_t>>& epochs) {
  HeldEpochs held;
  for (const auto& [dataset, list] : epochs) {
    for (uint32_t epoch : list)
      held.batches[dataset][epoch].push_back(dataset + "/" + std::to_string(epoch));
  }
  return held;
}

TEST(KeyEpochsTest, AnAnalysisReadsTheNewestEpochEveryDatasetHolds) {
  const KeyEpochs epochs("c", Held({{"brp", {1, 2}}, {"uwv", {1, 2}}, {"zorg", {1}}}));
  EXPECT_EQ(epochs.newest(), 2u);
  EXPECT_EQ(*epochs.CompleteFor({"brp", "uwv"}), 2u);
  EXPECT_EQ(*epochs.CompleteFor({"brp", "uwv", "zorg"}), 1u);
  // A dataset without records does not hold an analysis back.
  EXPECT_EQ(*epochs.CompleteFor({"brp", "politie"}), 2u);
  EXPECT_EQ(epochs.ToRedeliver({"brp", "uwv", "zorg", "politie"}),
            std::vector<std::string>{"zorg"});
  EXPECT_EQ(epochs.RetirableThrough(), 0u);  // zorg holds epoch 1 only
  EXPECT_EQ(epochs.BatchesOf(2), (absl::flat_hash_set<std::string>{"brp/2", "uwv/2"}));
}

TEST(KeyEpochsTest, DatasetsWithoutACommonEpochAreRefusedNamingWhatToDeliver) {
  const KeyEpochs epochs("c", Held({{"brp", {2}}, {"zorg", {1}}}));
  absl::StatusOr<uint32_t> refused = epochs.CompleteFor({"brp", "zorg"});
  ASSERT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("key epoch 2"), std::string_view::npos);
  EXPECT_NE(refused.status().message().find("zorg"), std::string_view::npos);
}

TEST(KeyEpochsTest, OlderEpochsRetireOnceEveryDatasetHoldsANewerOne) {
  EXPECT_EQ(KeyEpochs("c", Held({{"brp", {1, 2, 3}}, {"uwv", {2, 3}}})).RetirableThrough(), 2u);
  EXPECT_EQ(KeyEpochs("c", Held({{"brp", {1, 2, 3}}, {"uwv", {2}}})).RetirableThrough(), 1u);
  EXPECT_EQ(KeyEpochs("c", Held({{"brp", {2}}, {"uwv", {2}}})).RetirableThrough(), 0u);
}

TEST(KeyEpochsTest, AnEpochStillBeingDeliveredDoesNotCountUntilItSettled) {
  // uwv's epoch-2 batches arrived within the settle time (or hold no records): a re-delivery
  // that may still be under way neither is read nor lets epoch 1 retire.
  HeldEpochs held = Held({{"brp", {1, 2}}, {"uwv", {1, 2}}});
  held.unsettled["uwv"] = {2};
  const KeyEpochs epochs("c", held);
  EXPECT_EQ(*epochs.CompleteFor({"brp", "uwv"}), 1u);
  EXPECT_EQ(epochs.ToRedeliver({"brp", "uwv"}), std::vector<std::string>{"uwv"});
  EXPECT_EQ(epochs.RetirableThrough(), 0u);
  // A first delivery counts at once; it only keeps an older epoch from retiring.
  HeldEpochs first = Held({{"brp", {1, 2}}, {"zorg", {2}}});
  first.unsettled["zorg"] = {2};
  EXPECT_EQ(*KeyEpochs("c", first).CompleteFor({"brp", "zorg"}), 2u);
  EXPECT_EQ(KeyEpochs("c", first).RetirableThrough(), 0u);
}

// During the grace, {brp, uwv} could read epoch 2 and {brp, uwv, zorg} epoch 1: once a release
// read epoch 2, no later one reads epoch 1.
TEST(KeyEpochsTest, AReleaseNeverReadsAnOlderEpochThanAnEarlierReleaseRead) {
  const KeyEpochs epochs("c", Held({{"brp", {1, 2}}, {"uwv", {1, 2}}, {"zorg", {1}}}));
  EXPECT_EQ(*epochs.ForRelease({"brp", "uwv", "zorg"}, 1), 1u);
  EXPECT_EQ(*epochs.ForRelease({"brp", "uwv"}, 1), 2u);
  absl::StatusOr<uint32_t> back = epochs.ForRelease({"brp", "uwv", "zorg"}, 2);
  ASSERT_TRUE(absl::IsFailedPrecondition(back.status())) << back.status();
  EXPECT_EQ(RefusalRule(back.status()), "key_epoch_order");
  EXPECT_NE(back.status().message().find("key epoch 2: zorg"), std::string_view::npos)
      << back.status();
  EXPECT_EQ(*epochs.ForRelease({"brp", "uwv"}, 2), 2u);
}

class EpochStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    store_ = *linker::LinkerStore::Open(dir_.path() / "db", {.epoch_settle = settle_});
    ASSERT_TRUE(store_->OpenCovenant("c1", data_key_).ok());
  }

  absl::StatusOr<v1::Receipt> Commit(char batch, const std::string& dataset, uint32_t epoch,
                                     int records, absl::Time committed = absl::Now()) {
    v1::Receipt receipt;
    receipt.set_batch_id(std::string(64, batch));
    receipt.set_covenant_id("c1");
    receipt.set_dataset(dataset);
    receipt.set_records_accepted(static_cast<uint64_t>(records));
    *receipt.mutable_store_time() = ToProtoTimestamp(committed);
    v1::BatchHeader header;
    header.set_covenant_id("c1");
    header.set_dataset(dataset);
    header.set_key_epoch(epoch);
    header.set_run_id(std::string(1, batch));
    std::vector<linker::StoredRecord> stored;
    for (int i = 0; i < records; ++i) {
      v1::Record record;
      record.set_bsn_token(std::string(32, static_cast<char>('a' + i % 26)));
      stored.push_back({record.bsn_token(), record.SerializeAsString()});
    }
    return store_->Commit(receipt, header, stored);
  }

  std::map<std::string, uint64_t> Records() {
    std::map<std::string, uint64_t> records;
    absl::StatusOr<std::vector<v1::DatasetStatus>> status = store_->Status();
    EXPECT_TRUE(status.ok()) << status.status();
    if (!status.ok()) return records;
    for (const v1::DatasetStatus& s : *status) records[s.dataset()] = s.records();
    return records;
  }

  absl::Duration settle_ = absl::ZeroDuration();
  test::TempDir dir_;
  Secret data_key_ = *Secret::Random(32);
  std::unique_ptr<linker::LinkerStore> store_;
};

TEST_F(EpochStoreTest, RetiringDeletesRecordsKeepsReceiptsAndRefusesTheOldEpoch) {
  ASSERT_TRUE(Commit('a', "brp", 1, 5).ok());
  ASSERT_TRUE(Commit('b', "uwv", 1, 3).ok());
  ASSERT_TRUE(Commit('c', "brp", 2, 4).ok());
  ASSERT_TRUE(Commit('d', "uwv", 2, 2).ok());
  absl::StatusOr<HeldEpochs> held = store_->Epochs("c1");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->batches.at("brp").size(), 2u);
  EXPECT_EQ(KeyEpochs("c1", *held).RetirableThrough(), 1u);

  absl::StatusOr<linker::RetiredCounts> retired = store_->RetireEpochsThrough("c1", 1);
  ASSERT_TRUE(retired.ok()) << retired.status();
  EXPECT_EQ(retired->records, 8u);
  EXPECT_EQ(retired->batches, 2u);
  EXPECT_EQ(retired->runs, 2u);
  EXPECT_EQ(Records(), (std::map<std::string, uint64_t>{{"brp", 4}, {"uwv", 2}}));
  held = store_->Epochs("c1");
  EXPECT_EQ(held->retired_through, 1u);
  EXPECT_FALSE(held->retirement_unfinished);
  EXPECT_EQ(held->batches.at("brp").size(), 1u);
  EXPECT_TRUE(held->batches.at("brp").contains(2));
  uint64_t scanned = 0;
  auto count = [&](std::string_view, std::string_view) { ++scanned; };
  ASSERT_TRUE(store_->Scan("c1", "brp", count).ok());
  EXPECT_EQ(scanned, 4u);

  // A resent batch of the retired epoch is a duplicate; a new one is refused.
  absl::StatusOr<v1::Receipt> again = Commit('a', "brp", 1, 5);
  ASSERT_TRUE(again.ok()) << again.status();
  absl::StatusOr<v1::Receipt> late = Commit('e', "brp", 1, 5);
  EXPECT_TRUE(absl::IsFailedPrecondition(late.status())) << late.status();
  EXPECT_EQ(RefusalRule(late.status()), "key_epoch_retired");
  EXPECT_EQ(Records(), (std::map<std::string, uint64_t>{{"brp", 4}, {"uwv", 2}}));

  // The high-water mark counts retired records as acknowledged: the store opens again.
  Reopen();
  EXPECT_EQ(Records(), (std::map<std::string, uint64_t>{{"brp", 4}, {"uwv", 2}}));
  EXPECT_EQ(store_->Epochs("c1")->retired_through, 1u);
}

// One batch of a national re-delivery of hundreds does not make the dataset delivered under
// the new epoch: the old epoch is read, and kept, until the new one's newest batch settled.
TEST_F(EpochStoreTest, AReDeliveryUnderWayIsNeitherReadNorRetiresTheOldEpoch) {
  settle_ = absl::Minutes(60);
  Reopen();
  const absl::Time before = absl::Now() - absl::Hours(2);
  ASSERT_TRUE(Commit('a', "brp", 1, 5, before).ok());
  ASSERT_TRUE(Commit('b', "uwv", 1, 3, before).ok());
  ASSERT_TRUE(Commit('c', "brp", 2, 4, before).ok());
  ASSERT_TRUE(Commit('d', "uwv", 2, 2).ok());  // the first batch of uwv's re-delivery
  absl::StatusOr<HeldEpochs> held = store_->Epochs("c1");
  ASSERT_TRUE(held.ok()) << held.status();
  const KeyEpochs epochs("c1", *held);
  EXPECT_EQ(*epochs.CompleteFor({"brp", "uwv"}), 1u);
  EXPECT_EQ(epochs.ToRedeliver({"brp", "uwv"}), std::vector<std::string>{"uwv"});
  EXPECT_EQ(epochs.RetirableThrough(), 0u);

  // Once the settle time is past (here: none) the re-delivery counts, and epoch 1 may retire.
  settle_ = absl::ZeroDuration();
  Reopen();
  held = store_->Epochs("c1");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(*KeyEpochs("c1", *held).CompleteFor({"brp", "uwv"}), 2u);
  EXPECT_EQ(KeyEpochs("c1", *held).RetirableThrough(), 1u);
}

}  // namespace
}  // namespace koppel
