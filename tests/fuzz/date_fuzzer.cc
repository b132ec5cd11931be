// Dates as exports write them, read with a mapping's date format. The input is the pattern, a
// backslash and another character, then the text. A date that reads is in 1900..2100, and the
// same date written in the pattern reads back to it when the pattern is unambiguous (no one- or
// two-digit day or month right before another number). Day counts round-trip through
// absl::CivilDay and agree with absl's own day arithmetic.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/civil_time.h"
#include "core/civil_date.h"
#include "core/date_format.h"
#include "tests/fuzz/fuzz_support.h"

using koppel::fuzz::Check;

namespace {

bool Unambiguous(std::string_view pattern) {
  // FormatDate writes a date only, so a pattern with a time does not read back what it wrote.
  if (pattern == "iso8601" || pattern.find_first_of("HMS") != std::string_view::npos) {
    return false;
  }
  bool after_variable = false;
  for (size_t i = 0; i < pattern.size();) {
    const std::string_view rest = pattern.substr(i);
    const bool number = rest.starts_with("yyyy") || rest[0] == 'd' || rest[0] == 'm';
    if (number && after_variable) return false;
    if (rest.starts_with("yyyy")) {
      after_variable = false;
      i += 4;
    } else if (rest.starts_with("dd") || rest.starts_with("mm")) {
      after_variable = false;
      i += 2;
    } else {
      after_variable = number;
      i += 1;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  koppel::fuzz::InitForFuzzing();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  const std::string pattern = provider.ConsumeRandomLengthString(32);
  const std::string text = provider.ConsumeRemainingBytesAsString();

  absl::StatusOr<koppel::DateFormat> format = koppel::DateFormat::Parse(pattern);
  if (format.ok()) {
    const std::optional<int32_t> days = format->ToDays(text);
    if (days.has_value()) {
      const absl::CivilDay date = koppel::DayFromDays(*days);
      Check(date.year() >= 1900 && date.year() <= 2100, "a date read outside 1900..2100");
      Check(koppel::IsValidDate(static_cast<int>(date.year()), date.month(), date.day()),
            "an invalid date read");
      if (Unambiguous(pattern)) {
        Check(format->ToDays(koppel::FormatDate(date, pattern)) == days,
              "a date written in its pattern reads back to another day");
      }
    }
  }

  if (size >= 8) {
    int32_t a, b;
    std::memcpy(&a, data, sizeof a);
    std::memcpy(&b, data + 4, sizeof b);
    a %= 200000;
    b %= 200000;
    const absl::CivilDay first = koppel::DayFromDays(a);
    const absl::CivilDay second = koppel::DayFromDays(b);
    Check(koppel::DaysSinceEpoch(first) == a, "days do not round-trip through a date");
    Check(koppel::IsValidDate(static_cast<int>(first.year()), first.month(), first.day()),
          "an invalid date from days");
    Check(first - absl::CivilDay(1970, 1, 1) == a, "days disagree with absl's day arithmetic");
    Check((a < b) == (first < second), "dates do not order as their day counts");
    if (first <= second) Check(koppel::AgeOn(first, second) >= 0, "a negative age");
  }
  return 0;
}
