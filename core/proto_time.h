// Conversions between the API's time types (google.protobuf.Timestamp, koppel.v1.Date) and
// the ones the code computes with (absl::Time, absl::CivilDay), in one place.
#ifndef KOPPEL_CORE_PROTO_TIME_H_
#define KOPPEL_CORE_PROTO_TIME_H_

#include <google/protobuf/timestamp.pb.h>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "core/civil_date.h"
#include "koppel/v1/date.pb.h"

namespace koppel {

// Exact to the nanosecond; `time` must lie in 0001-01-01..9999-12-31 UTC (the range a
// Timestamp allows).
google::protobuf::Timestamp ToProtoTimestamp(absl::Time time);

// INVALID_ARGUMENT for a Timestamp outside the range or with nanos outside 0..999999999.
absl::StatusOr<absl::Time> FromProtoTimestamp(const google::protobuf::Timestamp& timestamp);

v1::Date ToProtoDate(absl::CivilDay day);

// INVALID_ARGUMENT for a date that does not exist (2013-02-29, month 0, ...).
absl::StatusOr<absl::CivilDay> FromProtoDate(const v1::Date& date);

// yyyy-mm-dd of a valid date; "" for an invalid one (for messages and reports).
std::string IsoDate(const v1::Date& date);

// UTC, ISO 8601 to the second ("2024-05-01T10:00:00Z"); "" for an invalid Timestamp.
std::string IsoTime(const google::protobuf::Timestamp& timestamp);

}  // namespace koppel

#endif  // KOPPEL_CORE_PROTO_TIME_H_
