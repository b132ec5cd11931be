// The API's time types: absl::Time <-> google.protobuf.Timestamp and calendar dates <->
// koppel.v1.Date survive a round trip, and what a Timestamp or Date cannot hold is refused.
#include "core/proto_time.h"

#include <gtest/gtest.h>

namespace koppel {
namespace {

absl::Time Utc(int y, int m, int d, int hh = 0, int mm = 0, int ss = 0) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

TEST(ProtoTimeTest, TimestampsRoundTripToTheNanosecond) {
  for (absl::Time t : {absl::UnixEpoch(), Utc(2024, 5, 1, 10, 0, 0) + absl::Nanoseconds(1),
                       Utc(1969, 12, 31, 23, 59, 59) + absl::Milliseconds(250), Utc(1, 1, 1),
                       Utc(9999, 12, 31, 23, 59, 59) + absl::Nanoseconds(999'999'999)}) {
    const google::protobuf::Timestamp ts = ToProtoTimestamp(t);
    EXPECT_GE(ts.nanos(), 0);
    EXPECT_LE(ts.nanos(), 999'999'999);
    absl::StatusOr<absl::Time> back = FromProtoTimestamp(ts);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, t) << absl::FormatTime(t);
  }
}

TEST(ProtoTimeTest, BeforeTheEpochTheNanosStayPositive) {
  const google::protobuf::Timestamp ts =
      ToProtoTimestamp(absl::UnixEpoch() - absl::Milliseconds(250));
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 750'000'000);
}

TEST(ProtoTimeTest, TimestampsOutsideTheirRangeAreRefused) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(253402300800);  // 10000-01-01
  EXPECT_EQ(FromProtoTimestamp(ts).status().code(), absl::StatusCode::kInvalidArgument);
  ts.set_seconds(0);
  ts.set_nanos(-1);
  EXPECT_EQ(FromProtoTimestamp(ts).status().code(), absl::StatusCode::kInvalidArgument);
  ts.set_nanos(1'000'000'000);
  EXPECT_EQ(FromProtoTimestamp(ts).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(IsoTime(ts), "");
}

TEST(ProtoTimeTest, IsoTimeIsUtcToTheSecond) {
  EXPECT_EQ(IsoTime(ToProtoTimestamp(Utc(2024, 5, 1, 10, 0, 0) + absl::Milliseconds(900))),
            "2024-05-01T10:00:00Z");
}

TEST(ProtoTimeTest, DatesRoundTrip) {
  for (absl::CivilDay day : {absl::CivilDay(2014, 12, 31), absl::CivilDay(2012, 2, 29),
                             absl::CivilDay(1, 1, 1), absl::CivilDay(9999, 12, 31)}) {
    const v1::Date date = ToProtoDate(day);
    absl::StatusOr<absl::CivilDay> back = FromProtoDate(date);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, day);
  }
  const v1::Date date = ToProtoDate(absl::CivilDay(2014, 12, 31));
  EXPECT_EQ(date.year(), 2014);
  EXPECT_EQ(date.month(), 12);
  EXPECT_EQ(date.day(), 31);
  EXPECT_EQ(IsoDate(date), "2014-12-31");
}

TEST(ProtoTimeTest, DatesThatDoNotExistAreRefused) {
  v1::Date date;  // 0000-00-00: unset
  EXPECT_EQ(FromProtoDate(date).status().code(), absl::StatusCode::kInvalidArgument);
  date.set_year(2013);
  date.set_month(2);
  date.set_day(29);
  EXPECT_EQ(FromProtoDate(date).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(IsoDate(date), "");
  date.set_month(13);
  date.set_day(1);
  EXPECT_EQ(FromProtoDate(date).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace koppel
