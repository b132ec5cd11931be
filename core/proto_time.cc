#include "core/proto_time.h"

#include <fmt/format.h>

namespace koppel {
namespace {

constexpr int64_t kMinSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z

}  // namespace

google::protobuf::Timestamp ToProtoTimestamp(absl::Time time) {
  const int64_t seconds = absl::ToUnixSeconds(time);  // rounds down, also before 1970
  google::protobuf::Timestamp out;
  out.set_seconds(seconds);
  out.set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return out;
}

absl::StatusOr<absl::Time> FromProtoTimestamp(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() < kMinSeconds || timestamp.seconds() > kMaxSeconds ||
      timestamp.nanos() < 0 || timestamp.nanos() > 999'999'999) {
    return absl::InvalidArgumentError(
        fmt::format("the timestamp ({} s, {} ns) is outside 0001-01-01..9999-12-31 UTC",
                    timestamp.seconds(), timestamp.nanos()));
  }
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

v1::Date ToProtoDate(absl::CivilDay day) {
  v1::Date out;
  out.set_year(static_cast<int32_t>(day.year()));
  out.set_month(day.month());
  out.set_day(day.day());
  return out;
}

absl::StatusOr<absl::CivilDay> FromProtoDate(const v1::Date& date) {
  if (date.year() < 1 || date.year() > 9999 ||
      !IsValidDate(date.year(), date.month(), date.day())) {
    return absl::InvalidArgumentError(
        fmt::format("{:04}-{:02}-{:02} is not a date", date.year(), date.month(), date.day()));
  }
  return absl::CivilDay(date.year(), date.month(), date.day());
}

std::string IsoDate(const v1::Date& date) {
  absl::StatusOr<absl::CivilDay> day = FromProtoDate(date);
  return day.ok() ? IsoDate(*day) : "";
}

std::string IsoTime(const google::protobuf::Timestamp& timestamp) {
  absl::StatusOr<absl::Time> time = FromProtoTimestamp(timestamp);
  if (!time.ok()) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *time, absl::UTCTimeZone());
}

}  // namespace koppel
