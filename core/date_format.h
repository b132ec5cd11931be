// Reading dates as exports write them ("dd-mm-yyyy", "yyyymmdd", "d/m/yyyy", ...) into the day
// count batches carry (days since 1970-01-01; see civil_date.h).
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
  // Pattern of `dd`, `d`, `mm`, `m`, `yyyy` and literal separators.
  static absl::StatusOr<DateFormat> Parse(std::string_view pattern);

  // Days since 1970-01-01, or nullopt when `text` does not match or is no date in 1900..2100.
  std::optional<int32_t> ToDays(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  enum class Part : uint8_t { kDay1, kDay2, kMonth1, kMonth2, kYear4, kLiteral };
  struct Element {
    Part part;
    char literal;
  };
  std::string pattern_;
  std::vector<Element> elements_;
};

}  // namespace koppel

#endif  // KOPPEL_CORE_DATE_FORMAT_H_
