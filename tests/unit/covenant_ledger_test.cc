// Tests of the ledger of served covenants (policies/covenant_ledger.h): a newer version
// supersedes, an older one or changed bytes under a served version are refused, an ended
// covenant stays ended across reopening, and a corrupt ledger is refused, not reset.
#include "policies/covenant_ledger.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

TEST(CovenantLedgerTest, VersionsOnlyMoveForwardAndEndedStaysEnded) {
  test::TempDir dir;
  const std::filesystem::path path = dir.path() / "covenants.json";
  {
    auto ledger = policy::CovenantLedger::Open(path, /*first_start=*/true);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    EXPECT_TRUE((*ledger)->Admit("c", 1, "aa", {"k1"}).ok());
    EXPECT_TRUE((*ledger)->Admit("c", 1, "aa", {"k1"}).ok());  // the same file again
    absl::Status changed = (*ledger)->Admit("c", 1, "bb", {"k1"});
    EXPECT_TRUE(absl::IsFailedPrecondition(changed));
    EXPECT_TRUE(absl::StrContains(changed.message(), "needs a new version number")) << changed;
    EXPECT_TRUE((*ledger)->Admit("c", 2, "cc", {"k1", "k2"}).ok());
  }
  auto ledger =
      policy::CovenantLedger::Open(path, /*first_start=*/true);  // remembered across restarts
  ASSERT_TRUE(ledger.ok());
  absl::Status rollback = (*ledger)->Admit("c", 1, "aa", {"k1"});
  EXPECT_TRUE(absl::StrContains(rollback.message(), "superseded by version 2")) << rollback;
  ASSERT_TRUE((*ledger)->MarkEnded("c", absl::FromUnixSeconds(1'800'000'000), "done").ok());
  EXPECT_EQ((*ledger)->PendingDeletion(), std::vector<std::string>{"c"});
  ASSERT_TRUE((*ledger)->MarkDeleted("c").ok());
  EXPECT_TRUE((*ledger)->PendingDeletion().empty());
  auto reopened = policy::CovenantLedger::Open(path, /*first_start=*/true);
  ASSERT_TRUE(reopened.ok());
  absl::Status revived = (*reopened)->Admit("c", 3, "dd", {"k1", "k2"});
  EXPECT_TRUE(absl::StrContains(revived.message(), "ended at 2027-01-15T08:00:00Z (done)"))
      << revived;
  EXPECT_TRUE((*reopened)->Admit("other", 1, "ee", {"k3"}).ok());
}

TEST(CovenantLedgerTest, ANewVersionKeepsTheOfficersWhoSignedTheOld) {
  test::TempDir dir;
  auto ledger = policy::CovenantLedger::Open(dir.path() / "covenants.json", /*first_start=*/true);
  ASSERT_TRUE(ledger.ok());
  ASSERT_TRUE((*ledger)->Admit("c", 1, "aa", {"k1", "k2"}).ok());
  // Version 2 signed only by an officer of its own choosing: refused.
  absl::Status replaced = (*ledger)->Admit("c", 2, "bb", {"k1", "k9"});
  EXPECT_TRUE(absl::IsFailedPrecondition(replaced));
  EXPECT_TRUE(absl::StrContains(replaced.message(), "key k2 is missing")) << replaced;
  EXPECT_TRUE((*ledger)->Admit("c", 2, "bb", {"k1", "k2", "k3"}).ok());  // adding is fine
  EXPECT_FALSE((*ledger)->Admit("c", 3, "cc", {"k1", "k2"}).ok());       // k3 now pinned too
}

TEST(CovenantLedgerTest, AMissingLedgerIsRefusedAfterTheFirstStart) {
  test::TempDir dir;
  auto ledger = policy::CovenantLedger::Open(dir.path() / "covenants.json", /*first_start=*/false);
  ASSERT_FALSE(ledger.ok());
  EXPECT_TRUE(absl::IsDataLoss(ledger.status()));
  EXPECT_TRUE(absl::StrContains(ledger.status().message(), "restore the ledger"));
}

TEST(CovenantLedgerTest, ACorruptLedgerIsRefusedNotReset) {
  test::TempDir dir;
  const std::filesystem::path path = dir.path() / "covenants.json";
  test::WriteFile(path, "{\"covenants\": {\"c\": {\"version\": \"one\"}}}");
  auto ledger = policy::CovenantLedger::Open(path, /*first_start=*/true);
  ASSERT_FALSE(ledger.ok());
  EXPECT_TRUE(absl::IsDataLoss(ledger.status()));
  EXPECT_TRUE(absl::StrContains(ledger.status().message(), path.string()));
  EXPECT_TRUE(absl::StrContains(ledger.status().message(), "restore it from a backup"));
}

}  // namespace
}  // namespace koppel
