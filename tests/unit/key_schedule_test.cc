// When the vault rotates a covenant's token key on its schedule, and what it tells holders
// (vault/key_schedule.h); and that a rotation while serving never hands out two keys for one
// epoch (vault/key_store.h).
#include "vault/key_schedule.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <set>
#include <thread>
#include <vector>

#include "agents/key_rotation_notice.h"
#include "core/proto_time.h"
#include "tests/testing/temp_dir.h"
#include "vault/key_store.h"
#include "vault/oprf_quota.h"

namespace koppel::vault {
namespace {

const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2026, 3, 1, 12, 0, 0), absl::UTCTimeZone());
constexpr absl::Duration kDay = absl::Hours(24);

policy::Covenant Rotating(int64_t period_days, int64_t grace_days) {
  policy::Covenant c;
  c.id = "c1";
  c.valid_from = absl::CivilDay(2026, 1, 1);
  c.valid_until = absl::CivilDay(2026, 12, 31);
  c.key_rotation_days = period_days;
  c.key_rotation_grace_days = grace_days;
  return c;
}

TEST(RotationDueTest, DueOnceTheEpochIsAsOldAsThePeriod) {
  EXPECT_FALSE(RotationDue(kStart, kStart + 30 * kDay - absl::Seconds(1), 30 * kDay));
  EXPECT_TRUE(RotationDue(kStart, kStart + 30 * kDay, 30 * kDay));
  EXPECT_TRUE(RotationDue(kStart, kStart + 400 * kDay, 30 * kDay));
  EXPECT_FALSE(RotationDue(kStart, kStart + 400 * kDay, absl::ZeroDuration()))
      << "period 0: no scheduled rotation";
}

TEST(RotationDueTest, NeverForACovenantNotInForce) {
  const policy::Covenant c = Rotating(30, 10);
  EXPECT_TRUE(ScheduledRotationDue(c, kStart, kStart + 31 * kDay));
  // After valid_until no key is issued: a new epoch would serve nobody.
  const absl::Time after_end = absl::FromCivil(absl::CivilDay(2027, 1, 2), absl::UTCTimeZone());
  EXPECT_FALSE(ScheduledRotationDue(c, kStart, after_end));
}

TEST(RotationDueTest, AnEpochCreatedBeforeValidFromAgesFromValidFrom) {
  const policy::Covenant c = Rotating(30, 10);  // in force from 2026-01-01
  const absl::Time deployed = c.StartsAt() - 60 * kDay;
  EXPECT_EQ(EpochStart(c, deployed), c.StartsAt());
  EXPECT_EQ(EpochStart(c, kStart), kStart) << "created while in force: its own time";
  EXPECT_FALSE(ScheduledRotationDue(c, EpochStart(c, deployed), c.StartsAt() + kDay))
      << "nothing was sealed under epoch 1 before valid_from";
  EXPECT_TRUE(ScheduledRotationDue(c, EpochStart(c, deployed), c.StartsAt() + 30 * kDay));
}

TEST(OprfQuotaUsageTest, EvaluationsOlderThanTheWindowNoLongerCount) {
  const QuotaKey key{"c1", "org-a", 1};
  const absl::Duration window = 30 * kDay;
  // What a restart reads back from the audit log: one full seal 40 days ago, one 10 days ago.
  OprfQuotaUsage restarted;
  restarted.Record(key, kStart - 40 * kDay, 900);
  restarted.Record(key, kStart - 10 * kDay, 300);
  EXPECT_EQ(restarted.Used(key, kStart, window), 300u);
  EXPECT_EQ(restarted.Spend(key, 700, 1000, kStart, window), std::optional<uint64_t>(0u));
  EXPECT_EQ(restarted.Spend(key, 1, 1000, kStart, window), std::nullopt) << "the window is full";
  EXPECT_EQ(restarted.Used(key, kStart, window), 1000u);
  // Once the entry of 10 days ago leaves the window, its 300 are free again.
  EXPECT_EQ(restarted.Spend(key, 300, 1000, kStart + 20 * kDay, window),
            std::optional<uint64_t>(0u));
  EXPECT_EQ(restarted.Used({"c1", "org-a", 2}, kStart, window), 0u) << "another key epoch";
  EXPECT_EQ(restarted.Used({"c1", "org-b", 1}, kStart, window), 0u) << "another party";
}

TEST(KeyEpochStateTest, TellsTheNextRotationAndThePreviousEpochsGrace) {
  const policy::Covenant c = Rotating(30, 10);
  const KeyEpochState first = KeyEpochStateOf(c, 1, kStart, kStart + kDay);
  EXPECT_EQ(first.epoch_start, kStart);
  EXPECT_EQ(first.next_rotation, kStart + 30 * kDay);
  EXPECT_FALSE(first.previous_grace_end.has_value()) << "epoch 1 has no previous epoch";

  const KeyEpochState second = KeyEpochStateOf(c, 2, kStart, kStart + kDay);
  EXPECT_EQ(second.previous_grace_end, kStart + 10 * kDay);
  EXPECT_FALSE(KeyEpochStateOf(c, 2, kStart, kStart + 10 * kDay).previous_grace_end.has_value())
      << "the grace is over";

  const v1::KeyEpochSchedule proto = ToProto(second);
  EXPECT_EQ(proto.key_epoch(), 2u);
  EXPECT_EQ(FromProtoTimestamp(proto.epoch_start_time()).value(), kStart);
  EXPECT_EQ(FromProtoTimestamp(proto.previous_epoch_grace_end_time()).value(), kStart + 10 * kDay);
}

TEST(KeyEpochStateTest, NoNextRotationWithoutAPeriodOrAfterTheCovenantEnds) {
  EXPECT_FALSE(KeyEpochStateOf(Rotating(0, 0), 1, kStart, kStart).next_rotation.has_value());
  const absl::Time late = absl::FromCivil(absl::CivilDay(2026, 12, 20), absl::UTCTimeZone());
  EXPECT_FALSE(KeyEpochStateOf(Rotating(30, 10), 1, late, late).next_rotation.has_value());
}

TEST(KeyRotationNoticeTest, WarnsWithTheDatesWhileTheGraceRuns) {
  v1::KeyEpochSchedule schedule = ToProto(KeyEpochStateOf(Rotating(30, 10), 2, kStart, kStart));
  EXPECT_FALSE(agent::KeyRotationNotice("c1", schedule, std::nullopt).has_value())
      << "no run of this outbox was sealed under an older epoch";
  std::optional<std::string> notice = agent::KeyRotationNotice("c1", schedule, 1);
  ASSERT_TRUE(notice.has_value());
  EXPECT_EQ(*notice,
            "covenant c1 started key epoch 2 on 2026-03-01; records sealed under epoch 1 no "
            "longer join with new deliveries: re-deliver the full export by 2026-03-11 (grace)");
  // The grace is over, but this outbox sealed a run under epoch 1.
  schedule.clear_previous_epoch_grace_end_time();
  EXPECT_FALSE(agent::KeyRotationNotice("c1", schedule, std::nullopt).has_value());
  notice = agent::KeyRotationNotice("c1", schedule, 1);
  ASSERT_TRUE(notice.has_value());
  EXPECT_NE(notice->find("re-deliver the full export now (its grace is over)"), std::string::npos)
      << *notice;
  schedule.set_key_epoch(1);
  EXPECT_FALSE(agent::KeyRotationNotice("c1", schedule, std::nullopt).has_value());
}

TEST(KeyRotationNoticeTest, OlderEpochSealedSkipsBadManifestsAndRunsSealedAgain) {
  test::TempDir outbox;
  std::filesystem::create_directories(outbox.path() / "runs");
  test::WriteFile(outbox.path() / "runs" / "a.json",
                  R"({"dataset": 7, "covenant_id": "c1", "key_epoch": 1})");
  test::WriteFile(outbox.path() / "runs" / "b.json", R"({"dataset": "d", "covenant_id": ["c1"]})");
  test::WriteFile(outbox.path() / "runs" / "c.json", "[1, 2");
  EXPECT_EQ(agent::OlderEpochSealed(outbox.path(), "d", "c1", 2), std::nullopt);
  test::WriteFile(outbox.path() / "runs" / "d.json",
                  R"({"dataset": "d", "covenant_id": "c1", "key_epoch": 1})");
  EXPECT_EQ(agent::OlderEpochSealed(outbox.path(), "d", "c1", 2), std::optional<uint32_t>(1));
  test::WriteFile(outbox.path() / "runs" / "e.json",
                  R"({"dataset": "d", "covenant_id": "c1", "key_epoch": 2})");
  EXPECT_EQ(agent::OlderEpochSealed(outbox.path(), "d", "c1", 2), std::nullopt)
      << "sealed again under epoch 2: nothing left to re-deliver";
}

// Rotations racing each other and requests: every epoch gets one key, and a caller that saw an
// epoch gets that epoch's key, the same one a later caller gets.
TEST(KeyStoreRotationTest, ConcurrentRotationsNeverReplaceAKeyHandedOut) {
  ASSERT_GE(sodium_init(), 0);
  test::TempDir dir;
  std::array<uint8_t, crypto_secretbox_KEYBYTES> master_bytes;
  randombytes_buf(master_bytes.data(), master_bytes.size());
  absl::StatusOr<Secret> master = Secret::FromBytes(master_bytes);
  ASSERT_TRUE(master.ok());
  absl::StatusOr<std::unique_ptr<KeyStore>> store = KeyStore::Open(dir.path(), std::move(*master));
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->CurrentEpoch("c1").ok());
  constexpr int kThreads = 4, kRotations = 5;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint32_t>> rotated(kThreads);
  std::vector<std::vector<std::pair<uint32_t, std::string>>> seen(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRotations; ++i) {
        absl::StatusOr<uint32_t> next = (*store)->Rotate("c1");
        if (next.ok()) rotated[static_cast<size_t>(t)].push_back(*next);
        absl::StatusOr<uint32_t> epoch = (*store)->CurrentEpoch("c1");
        if (!epoch.ok()) continue;
        absl::StatusOr<const Secret*> key = (*store)->Key("c1", *epoch);
        if (!key.ok()) continue;
        seen[static_cast<size_t>(t)].emplace_back(
            *epoch, std::string(reinterpret_cast<const char*>((*key)->data()), (*key)->size()));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<uint32_t> epochs;
  for (const auto& r : rotated) {
    ASSERT_EQ(r.size(), static_cast<size_t>(kRotations));
    for (uint32_t e : r) EXPECT_TRUE(epochs.insert(e).second) << "epoch " << e << " twice";
  }
  EXPECT_EQ(epochs.size(), static_cast<size_t>(kThreads * kRotations));
  EXPECT_EQ(*epochs.begin(), 2u);
  EXPECT_EQ(*epochs.rbegin(), static_cast<uint32_t>(1 + kThreads * kRotations));

  // Read again from disk: the keys callers saw are the keys on disk.
  absl::StatusOr<Secret> same_master = Secret::FromBytes(master_bytes);
  ASSERT_TRUE(same_master.ok());
  absl::StatusOr<std::unique_ptr<KeyStore>> reopened =
      KeyStore::Open(dir.path(), std::move(*same_master));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  for (const auto& per_thread : seen) {
    for (const auto& [epoch, bytes] : per_thread) {
      absl::StatusOr<const Secret*> key = (*reopened)->Key("c1", epoch);
      ASSERT_TRUE(key.ok());
      // Not EXPECT_EQ: a failure would print the key bytes.
      EXPECT_TRUE(bytes ==
                  std::string(reinterpret_cast<const char*>((*key)->data()), (*key)->size()));
    }
  }
}

}  // namespace
}  // namespace koppel::vault
