#include "core/date_format.h"

#include <gtest/gtest.h>

#include "core/civil_date.h"

namespace koppel {
namespace {

std::optional<int32_t> Days(int year, int month, int day) {
  return DaysSinceEpoch(absl::CivilDay(year, month, day));
}

DateFormat Format(std::string_view pattern) {
  absl::StatusOr<DateFormat> format = DateFormat::Parse(pattern);
  EXPECT_TRUE(format.ok()) << pattern << ": " << format.status();
  return format.ok() ? *format : DateFormat();
}

TEST(DateFormatTest, ReadsDatesWithAndWithoutPadding) {
  EXPECT_EQ(Format("dd-mm-yyyy").ToDays("07-03-2014"), Days(2014, 3, 7));
  EXPECT_EQ(Format("d-m-yyyy").ToDays("7-3-2014"), Days(2014, 3, 7));
  EXPECT_EQ(Format("d-m-yyyy").ToDays("07-03-2014"), Days(2014, 3, 7));
  EXPECT_EQ(Format("d/m/yyyy").ToDays("31/12/2014"), Days(2014, 12, 31));
  EXPECT_EQ(Format("yyyymmdd").ToDays("20140307"), Days(2014, 3, 7));
  for (const char* bad : {"7-3-14", "7-3-2014 ", "31-2-2014", "7-3-2014T14:22"}) {
    EXPECT_FALSE(Format("d-m-yyyy").ToDays(bad).has_value()) << bad;
  }
}

TEST(DateFormatTest, ReadsDateTimesAndCarriesTheDateAsWritten) {
  const std::optional<int32_t> march7 = Days(2014, 3, 7);
  EXPECT_EQ(Format("yyyy-mm-ddTHH:MM:SS").ToDays("2014-03-07T14:22:05"), march7);
  EXPECT_EQ(Format("yyyy-mm-ddTHH:MM:SS").ToDays("2014-03-07T14:22:05.123"), march7);
  EXPECT_EQ(Format("yyyy-mm-ddTHH:MM:SS").ToDays("2014-03-07T14:22:05,5Z"), march7);
  const DateFormat dutch = Format("dd-mm-yyyy HH:MM");
  EXPECT_EQ(dutch.ToDays("07-03-2014 14:22"), march7);
  EXPECT_EQ(dutch.ToDays("07-03-2014 14:22:05"), march7);
  EXPECT_EQ(dutch.ToDays("07-03-2014 14:22:05.250"), march7);
  EXPECT_EQ(dutch.ToDays("07-03-2014 00:00+01:00"), march7);
  EXPECT_EQ(Format("yyyymmddHHMMSS").ToDays("20140307142205"), march7);
  // Without a separator between HH and MM, optional seconds follow MM directly.
  EXPECT_EQ(Format("yyyymmddHHMM").ToDays("201403071422"), march7);
  EXPECT_EQ(Format("yyyymmddHHMM").ToDays("20140307142205"), march7);
  // The holder's local date: an offset never moves it to another day.
  EXPECT_EQ(Format("yyyy-mm-ddTHH:MM:SS").ToDays("2014-03-07T23:30:00-05:00"), march7);
  EXPECT_EQ(Format("yyyy-mm-ddTHH:MM:SS").ToDays("2014-03-07T00:30:00+14:00"), march7);
}

TEST(DateFormatTest, Iso8601ReadsADateWithOrWithoutATimeAndOffset) {
  const DateFormat iso = Format("iso8601");
  const std::optional<int32_t> march7 = Days(2014, 3, 7);
  for (const char* text :
       {"2014-03-07", "2014-03-07T14:22", "2014-03-07 14:22", "2014-03-07T14:22:05",
        "2014-03-07T14:22:05.123+01:00", "2014-03-07T14:22:05Z", "2014-03-07T14:22:05+0100",
        "2014-03-07T14:22:05-05", "2014-03-07T14:22+01:00", "2014-03-07T23:59:60Z"}) {
    EXPECT_EQ(iso.ToDays(text), march7) << text;
  }
  for (const char* bad :
       {"2014-3-7", "20140307", "2014-03-07T", "2014-03-07T14", "2014-03-07T14:2",
        "2014-03-07X14:22", "2014-03-07T14:22:05.", "2014-03-07T14:22:05+1", "2014-03-07T14:22+",
        "2014-03-07T14:22:05+01:", "2014-03-07T14:22:05+24:00", "2014-03-07T14:22:05+01:60",
        "2014-03-07T14:22:05ZZ", "2014-03-07T14:22 "}) {
    EXPECT_FALSE(iso.ToDays(bad).has_value()) << bad;
  }
}

TEST(DateFormatTest, RefusesTimesOutOfRangeAndMissingParts) {
  const DateFormat format = Format("yyyy-mm-ddTHH:MM:SS");
  for (const char* bad : {"2014-03-07T24:00:00", "2014-03-07T14:60:00", "2014-03-07T14:22:61",
                          "2014-03-07T14:22", "2014-03-07 14:22:05", "2014-03-07T1:22:05",
                          "2014-02-30T14:22:05", "1899-12-31T14:22:05"}) {
    EXPECT_FALSE(format.ToDays(bad).has_value()) << bad;
  }
  EXPECT_TRUE(format.ToDays("2014-03-07T23:59:60").has_value());  // a leap second
  EXPECT_FALSE(Format("dd-mm-yyyy HH:MM").ToDays("07-03-2014 14:22:5").has_value());
  EXPECT_FALSE(Format("yyyy-mm-dd").ToDays("2014-03-07T14:22:05").has_value());
  EXPECT_FALSE(Format("yyyy-mm-dd").ToDays("2014-03-07Z").has_value());
}

TEST(DateFormatTest, ReadsALeapSecondOnlyAt235960) {
  const DateFormat format = Format("yyyy-mm-ddTHH:MM:SS");
  const DateFormat optional_seconds = Format("dd-mm-yyyy HH:MM");
  EXPECT_EQ(format.ToDays("2016-12-31T23:59:60"), Days(2016, 12, 31));
  EXPECT_EQ(optional_seconds.ToDays("31-12-2016 23:59:60"), Days(2016, 12, 31));
  for (const char* bad : {"2014-03-07T14:22:60", "2014-03-07T00:00:60", "2014-03-07T23:58:60",
                          "2014-03-07T22:59:60"}) {
    EXPECT_FALSE(format.ToDays(bad).has_value()) << bad;
  }
  EXPECT_FALSE(optional_seconds.ToDays("07-03-2014 14:22:60").has_value());
  EXPECT_FALSE(Format("iso8601").ToDays("2014-03-07T12:00:60Z").has_value());
}

TEST(DateFormatTest, ReadsUtcOffsetsFromMinus12To14Only) {
  const DateFormat iso = Format("iso8601");
  const std::optional<int32_t> march7 = Days(2014, 3, 7);
  for (const char* text :
       {"2014-03-07T12:00-12:00", "2014-03-07T12:00+14:00", "2014-03-07T12:00+05:45",
        "2014-03-07T12:00-09:30", "2014-03-07T12:00+1345", "2014-03-07T12:00-00:00"}) {
    EXPECT_EQ(iso.ToDays(text), march7) << text;
  }
  for (const char* bad :
       {"2014-03-07T12:00-12:01", "2014-03-07T12:00-13:00", "2014-03-07T12:00+14:01",
        "2014-03-07T12:00+15:00", "2014-03-07T12:00+23:59", "2014-03-07T12:00-23",
        "2014-03-07T12:00+05:60"}) {
    EXPECT_FALSE(iso.ToDays(bad).has_value()) << bad;
  }
}

TEST(DateFormatTest, ReadsAFractionOfAnyLength) {
  const std::optional<int32_t> march7 = Days(2014, 3, 7);
  EXPECT_EQ(Format("iso8601").ToDays("2014-03-07T14:22:05.1234567890"), march7);
  EXPECT_EQ(Format("yyyy-mm-ddTHH:MM:SS").ToDays("2014-03-07T14:22:05.123456789012345678Z"),
            march7);
  EXPECT_EQ(Format("dd-mm-yyyy HH:MM").ToDays("07-03-2014 14:22:05,0000000000001+01:00"), march7);
  EXPECT_FALSE(Format("iso8601").ToDays("2014-03-07T14:22:05.12345678901x").has_value());
}

TEST(DateFormatTest, RefusesPatternsThatMixUpTheParts) {
  struct {
    const char* pattern;
    const char* expected;
  } cases[] = {
      {"yyyy-mm-dd MM", "has minutes (MM) but no hour (HH); the month is mm"},
      {"yyyy-mm-dd HH", "has an hour (HH) but no minutes (MM)"},
      {"dd-mm-yyyy SS", "has seconds (SS) but no HH and MM"},
      {"HH:MM dd-mm-yyyy", "before or inside the date"},
      {"dd-mm HH:MM yyyy", "before or inside the date"},
      {"yyyy-mm-dd MM:HH", "in the order HH, MM, SS"},
      {"yyyy-mm-dd HH:SS:MM", "in the order HH, MM, SS"},
      {"yyyy-mm-dd HH:MM:HH", "gives the hour more than once"},
      {"dd-mm-yyyy-dd", "gives the day more than once"},
      {"yyyy-mm-dd H:MM", "'H' at position 12; hours, minutes and seconds are written HH, MM"},
      {"yyyy-mm-dd HH:M", "'M' at position 15"},
      {"yyyy-mm-ddZ", "'Z' at position 11; use dd, d, mm, m, yyyy for the date, HH, MM, SS"},
      {"ISO8601", "'I' at position 1"},
      {"HH:MM", "must contain a day"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<DateFormat> format = DateFormat::Parse(c.pattern);
    ASSERT_FALSE(format.ok()) << c.pattern;
    EXPECT_NE(std::string(format.status().message()).find(c.expected), std::string::npos)
        << c.pattern << ": " << format.status().message();
  }
}

}  // namespace
}  // namespace koppel
