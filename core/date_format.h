// Reading dates and date-times as exports write them ("dd-mm-yyyy", "yyyymmdd", "d/m/yyyy",
// "yyyy-mm-ddTHH:MM:SS", "iso8601", ...) into the day count batches carry (days since
// 1970-01-01; see civil_date.h). A time is checked and dropped: the date is carried as written,
// never shifted by a UTC offset, because it is the holder's local date.
#ifndef KOPPEL_CORE_DATE_FORMAT_H_
#define KOPPEL_CORE_DATE_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace koppel {

class DateFormat {
 public:
  DateFormat() = default;
  // A pattern of `dd`, `d`, `mm`, `m`, `yyyy`, optionally followed by a time of `HH` and `MM`
  // (and `SS`), with literal separators (`-`, `/`, `.`, `:`, `T`, a space, ...). A time
  // pattern also reads, in the text, seconds when it has none (`:SS` after `HH:MM`), a
  // fraction of a second of any length (`.123`, `,5`) and a UTC offset (`Z`, `+01:00`,
  // `+0100`, `-05`) within -12:00..+14:00.
  // The name `iso8601` reads `yyyy-mm-dd`, optionally followed by `T` or a space and a time
  // `HH:MM` as above.
  static absl::StatusOr<DateFormat> Parse(std::string_view pattern);

  // Days since 1970-01-01 of the date part, or nullopt when `text` does not match, is no date
  // in 1900..2100 or has a time outside 00:00:00..23:59:59 (23:59:60, a leap second, is read).
  std::optional<int32_t> ToDays(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  enum class Part : uint8_t {
    kDay1,
    kDay2,
    kMonth1,
    kMonth2,
    kYear4,
    kHour,
    kMinute,
    kSecond,
    kTimeEnd,  // optional seconds, fraction and UTC offset after the pattern's last time part
    kOptionalIsoTime,  // iso8601: nothing, or T/space, HH:MM and what kTimeEnd reads
    kLiteral,
  };
  struct Element {
    Part part;
    char literal;
  };
  static absl::Status CheckTimeParts(std::string_view pattern,
                                     const std::vector<Element>& elements);

  std::string pattern_;
  std::vector<Element> elements_;
  // Patterns with HH and MM but no SS: what separates MM from optional seconds in the text
  // (the separator between HH and MM; '\0' for none).
  std::optional<char> optional_seconds_separator_;
};

}  // namespace koppel

#endif  // KOPPEL_CORE_DATE_FORMAT_H_
