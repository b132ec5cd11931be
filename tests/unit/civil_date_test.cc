#include "core/civil_date.h"

#include <gtest/gtest.h>

#include <optional>

#include "absl/time/civil_time.h"

namespace koppel {
namespace {

TEST(ParseIsoDayTest, ReadsYyyyMmDd) {
  EXPECT_EQ(ParseIsoDay("2014-12-31"), absl::CivilDay(2014, 12, 31));
  EXPECT_EQ(ParseIsoDay("2016-02-29"), absl::CivilDay(2016, 2, 29));
  EXPECT_EQ(ParseIsoDay("1900-01-01"), absl::CivilDay(1900, 1, 1));
  EXPECT_EQ(ParseIsoDay("2100-12-31"), absl::CivilDay(2100, 12, 31));
}

TEST(ParseIsoDayTest, RefusesAnythingElse) {
  for (const char* bad :
       {"", "2014-12-3", "2014-1-05", "14-12-31", "2014/12/31", "2014-12-31 ", " 2014-12-31",
        "+201-12-31", "2014-+1-05", "2014-12-+5", "2014-13-01", "2014-00-10", "2015-02-29",
        "2014-04-31", "1899-12-31", "2101-01-01", "2014-12-31T00:00", "abcd-ef-gh"}) {
    EXPECT_EQ(ParseIsoDay(bad), std::nullopt) << bad;
  }
}

TEST(ParseIsoDayTest, TakesTheYearsItIsGiven) {
  EXPECT_EQ(ParseIsoDay("9999-12-31"), std::nullopt);
  EXPECT_EQ(ParseIsoDay("9999-12-31", 1, 9999), absl::CivilDay(9999, 12, 31));
  EXPECT_EQ(ParseIsoDay("0001-01-01", 1, 9999), absl::CivilDay(1, 1, 1));
  EXPECT_EQ(ParseIsoDay("0000-01-01", 1, 9999), std::nullopt);
}

TEST(ParseIsoDayTest, AgreesWithTheDayCountOfBatches) {
  const std::optional<absl::CivilDay> day = ParseIsoDay("2014-03-07");
  ASSERT_TRUE(day.has_value());
  EXPECT_EQ(*day - absl::CivilDay(1970, 1, 1), DaysSinceEpoch(Date{2014, 3, 7}));
}

}  // namespace
}  // namespace koppel
