#include "core/civil_date.h"

#include "fmt/format.h"

namespace koppel {
namespace {

enum class Token { kDay2, kDay, kMonth2, kMonth, kYear4, kLiteral };

// Splits the next token off a date pattern.
Token NextToken(std::string_view pattern, size_t* pos) {
  std::string_view rest = pattern.substr(*pos);
  if (rest.starts_with("yyyy")) {
    *pos += 4;
    return Token::kYear4;
  }
  if (rest.starts_with("dd")) {
    *pos += 2;
    return Token::kDay2;
  }
  if (rest.starts_with("mm")) {
    *pos += 2;
    return Token::kMonth2;
  }
  *pos += 1;
  if (rest.front() == 'd') return Token::kDay;
  if (rest.front() == 'm') return Token::kMonth;
  return Token::kLiteral;
}

}  // namespace

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && IsLeapYear(year)) return 29;
  return kDays[month - 1];
}

bool IsValidDate(int year, int month, int day) {
  return month >= 1 && month <= 12 && day >= 1 && day <= DaysInMonth(year, month);
}

// Howard Hinnant's days_from_civil / civil_from_days.
int DaysFromCivil(int year, int month, int day) {
  const int y = year - (month <= 2 ? 1 : 0);
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int mp = (month + 9) % 12;
  const int doy = (153 * mp + 2) / 5 + day - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int DaysSinceEpoch(absl::CivilDay day) {
  return DaysFromCivil(static_cast<int>(day.year()), day.month(), day.day());
}

absl::CivilDay DayFromDays(int days) {
  const int z = days + 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const int doe = z - era * 146097;
  const int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int mp = (5 * doy + 2) / 153;
  const int day = doy - (153 * mp + 2) / 5 + 1;
  const int month = mp < 10 ? mp + 3 : mp - 9;
  return absl::CivilDay(yoe + era * 400 + (month <= 2 ? 1 : 0), month, day);
}

int AgeOn(absl::CivilDay birth, absl::CivilDay on) {
  int age = static_cast<int>(on.year() - birth.year());
  if (on.month() < birth.month() || (on.month() == birth.month() && on.day() < birth.day())) {
    --age;
  }
  return age;
}

absl::CivilDay AddYears(absl::CivilDay day, int years) {
  return absl::CivilDay(day.year() + years, day.month(), day.day());
}

std::string FormatDate(int year, int month, int day, std::string_view pattern) {
  std::string out;
  size_t pos = 0;
  while (pos < pattern.size()) {
    const char literal = pattern[pos];
    switch (NextToken(pattern, &pos)) {
      case Token::kYear4:
        out += fmt::format("{:04d}", year);
        break;
      case Token::kDay2:
        out += fmt::format("{:02d}", day);
        break;
      case Token::kMonth2:
        out += fmt::format("{:02d}", month);
        break;
      case Token::kDay:
        out += fmt::format("{}", day);
        break;
      case Token::kMonth:
        out += fmt::format("{}", month);
        break;
      case Token::kLiteral:
        out += literal;
        break;
    }
  }
  return out;
}

std::string FormatDate(absl::CivilDay day, std::string_view pattern) {
  return FormatDate(static_cast<int>(day.year()), day.month(), day.day(), pattern);
}

std::string IsoDate(absl::CivilDay day) { return FormatDate(day, "yyyy-mm-dd"); }

std::optional<absl::CivilDay> ParseIsoDay(std::string_view text, int first_year, int last_year) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  auto number = [&](size_t from, size_t to) -> std::optional<int> {
    int value = 0;
    for (size_t i = from; i < to; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const std::optional<int> year = number(0, 4), month = number(5, 7), day = number(8, 10);
  if (!year || !month || !day || *year < first_year || *year > last_year ||
      !IsValidDate(*year, *month, *day)) {
    return std::nullopt;
  }
  return absl::CivilDay(*year, *month, *day);
}

}  // namespace koppel
