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
  EXPECT_EQ(*day - absl::CivilDay(1970, 1, 1), DaysSinceEpoch(absl::CivilDay(2014, 3, 7)));
}

// The day count batches carry is absl's own day arithmetic, both ways, on every day of the years
// a date can be written in.
TEST(DaysSinceEpochTest, IsAbslDayArithmeticFrom0001To9999) {
  constexpr absl::CivilDay kEpoch(1970, 1, 1);
  int mismatches = 0;
  for (absl::CivilDay day(1, 1, 1); day <= absl::CivilDay(9999, 12, 31); ++day) {
    const int days = static_cast<int>(day - kEpoch);
    const bool agree = DaysSinceEpoch(day) == days && DayFromDays(days) == day &&
                       DaysFromCivil(static_cast<int>(day.year()), day.month(), day.day()) == days;
    if (!agree && ++mismatches <= 5) ADD_FAILURE() << "disagrees on " << day;
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(DaysSinceEpochTest, CountsFromTheFirstOf1970) {
  EXPECT_EQ(DaysSinceEpoch(absl::CivilDay(1970, 1, 1)), 0);
  EXPECT_EQ(DaysSinceEpoch(absl::CivilDay(1970, 1, 2)), 1);
  EXPECT_EQ(DaysSinceEpoch(absl::CivilDay(1969, 12, 31)), -1);
  EXPECT_EQ(DayFromDays(-1), absl::CivilDay(1969, 12, 31));
  EXPECT_EQ(DayFromDays(16435), absl::CivilDay(2014, 12, 31));
}

TEST(AgeOnTest, CountsCompletedYears) {
  const absl::CivilDay birth(1996, 12, 31);
  EXPECT_EQ(AgeOn(birth, absl::CivilDay(2014, 12, 30)), 17);
  EXPECT_EQ(AgeOn(birth, absl::CivilDay(2014, 12, 31)), 18);
  EXPECT_EQ(AgeOn(absl::CivilDay(2000, 2, 29), absl::CivilDay(2018, 2, 28)), 17);
  EXPECT_EQ(AgeOn(absl::CivilDay(2000, 2, 29), absl::CivilDay(2018, 3, 1)), 18);
  EXPECT_EQ(AgeOn(birth, birth), 0);
}

TEST(FormatDateTest, WritesADayInAPattern) {
  const absl::CivilDay day(2013, 2, 5);
  EXPECT_EQ(FormatDate(day, "dd-mm-yyyy"), "05-02-2013");
  EXPECT_EQ(FormatDate(day, "d/m/yyyy"), "5/2/2013");
  EXPECT_EQ(IsoDate(day), "2013-02-05");
  EXPECT_EQ(IsoDate(absl::CivilDay(1, 1, 1)), "0001-01-01");
  EXPECT_EQ(FormatDate(2013, 2, 31, "dd-mm-yyyy"), "31-02-2013");  // written as asked
}

TEST(AddYearsTest, KeepsMonthAndDay) {
  EXPECT_EQ(AddYears(absl::CivilDay(2014, 12, 31), 1), absl::CivilDay(2015, 12, 31));
  EXPECT_EQ(AddYears(absl::CivilDay(2014, 12, 31), -1), absl::CivilDay(2013, 12, 31));
  EXPECT_EQ(AddYears(absl::CivilDay(2014, 12, 31), 4), absl::CivilDay(2018, 12, 31));
  EXPECT_EQ(AddYears(absl::CivilDay(2014, 1, 1), -1), absl::CivilDay(2013, 1, 1));
  EXPECT_EQ(AddYears(absl::CivilDay(2015, 3, 1), -1), absl::CivilDay(2014, 3, 1));
  EXPECT_EQ(AddYears(absl::CivilDay(2019, 2, 28), -3), absl::CivilDay(2016, 2, 28));
  EXPECT_EQ(AddYears(absl::CivilDay(2014, 6, 15), 0), absl::CivilDay(2014, 6, 15));
}

TEST(AddYearsTest, TakesTwentyNineFebruaryToFirstMarchInACommonYear) {
  const absl::CivilDay leap_day(2016, 2, 29);
  EXPECT_EQ(AddYears(leap_day, 1), absl::CivilDay(2017, 3, 1));
  EXPECT_EQ(AddYears(leap_day, 4), absl::CivilDay(2020, 2, 29));
  EXPECT_EQ(AddYears(leap_day, -1), absl::CivilDay(2015, 3, 1));
  EXPECT_EQ(AddYears(leap_day, -4), absl::CivilDay(2012, 2, 29));
  // 2100 is a common year (a century not divisible by 400), 1600 a leap year.
  EXPECT_EQ(AddYears(absl::CivilDay(2000, 2, 29), 100), absl::CivilDay(2100, 3, 1));
  EXPECT_EQ(AddYears(absl::CivilDay(2000, 2, 29), -400), absl::CivilDay(1600, 2, 29));
  // A household starting on 29 February 2016: its year before has 365 days, its first year 366.
  EXPECT_EQ(leap_day - AddYears(leap_day, -1), 365);
  EXPECT_EQ(AddYears(leap_day, 1) - leap_day, 366);
  EXPECT_EQ(AddYears(leap_day, 2) - AddYears(leap_day, 1), 365);
}

}  // namespace
}  // namespace koppel
