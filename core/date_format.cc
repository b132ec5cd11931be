#include "core/date_format.h"

#include <fmt/format.h>

#include "core/civil_date.h"

namespace koppel {

absl::StatusOr<DateFormat> DateFormat::Parse(std::string_view pattern) {
  DateFormat format;
  format.pattern_ = std::string(pattern);
  bool day = false, month = false, year = false;
  for (size_t i = 0; i < pattern.size();) {
    std::string_view rest = pattern.substr(i);
    if (rest.starts_with("yyyy")) {
      format.elements_.push_back({Part::kYear4, 0});
      year = true;
      i += 4;
    } else if (rest.starts_with("dd") || rest.starts_with("mm")) {
      bool is_day = rest[0] == 'd';
      format.elements_.push_back({is_day ? Part::kDay2 : Part::kMonth2, 0});
      (is_day ? day : month) = true;
      i += 2;
    } else if (rest[0] == 'd' || rest[0] == 'm') {
      bool is_day = rest[0] == 'd';
      format.elements_.push_back({is_day ? Part::kDay1 : Part::kMonth1, 0});
      (is_day ? day : month) = true;
      i += 1;
    } else if (rest[0] == 'y' || (rest[0] >= '0' && rest[0] <= '9') ||
               (rest[0] >= 'a' && rest[0] <= 'z') || (rest[0] >= 'A' && rest[0] <= 'Z')) {
      return absl::InvalidArgumentError(
          fmt::format("date format '{}' has '{}' at position {}; use dd, d, mm, m, yyyy and "
                      "separators such as - / .",
                      pattern, rest[0], i + 1));
    } else {
      format.elements_.push_back({Part::kLiteral, rest[0]});
      i += 1;
    }
  }
  if (!day || !month || !year) {
    return absl::InvalidArgumentError(fmt::format(
        "date format '{}' must contain a day (d or dd), a month (m or mm) and yyyy", pattern));
  }
  return format;
}

std::optional<int32_t> DateFormat::ToDays(std::string_view text) const {
  int day = 0, month = 0, year = 0;
  size_t pos = 0;
  auto read_digits = [&](size_t min_digits, size_t max_digits, int* out) {
    size_t start = pos;
    int value = 0;
    while (pos < text.size() && pos - start < max_digits && text[pos] >= '0' && text[pos] <= '9') {
      value = value * 10 + (text[pos] - '0');
      ++pos;
    }
    *out = value;
    return pos - start >= min_digits;
  };
  for (const Element& e : elements_) {
    bool ok = true;
    switch (e.part) {
      case Part::kDay1: ok = read_digits(1, 2, &day); break;
      case Part::kDay2: ok = read_digits(2, 2, &day); break;
      case Part::kMonth1: ok = read_digits(1, 2, &month); break;
      case Part::kMonth2: ok = read_digits(2, 2, &month); break;
      case Part::kYear4: ok = read_digits(4, 4, &year); break;
      case Part::kLiteral:
        ok = pos < text.size() && text[pos] == e.literal;
        ++pos;
        break;
    }
    if (!ok) return std::nullopt;
  }
  if (pos != text.size() || year < 1900 || year > 2100 || !IsValidDate(year, month, day)) {
    return std::nullopt;
  }
  return DaysSinceEpoch(Date{year, month, day});
}

}  // namespace koppel
