#include "core/date_format.h"

#include <fmt/format.h>

#include <array>

#include "core/civil_date.h"

namespace koppel {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Reads a text left to right. A failed Take consumes nothing; a failed Digits may have consumed
// digits (the text is then refused anyway).
class TextCursor {
 public:
  explicit TextCursor(std::string_view text) : text_(text) {}

  bool AtEnd() const { return pos_ == text_.size(); }
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  bool Take(char c) {
    if (AtEnd() || Peek() != c) return false;
    ++pos_;
    return true;
  }
  // Between `min_digits` and `max_digits` decimal digits.
  bool Digits(size_t min_digits, size_t max_digits, int* out) {
    size_t start = pos_;
    int value = 0;
    while (pos_ < text_.size() && pos_ - start < max_digits && IsDigit(text_[pos_])) {
      value = value * 10 + (text_[pos_] - '0');
      ++pos_;
    }
    *out = value;
    return pos_ - start >= min_digits;
  }
  // Any number of decimal digits; how many.
  size_t SkipDigits() {
    const size_t start = pos_;
    while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    return pos_ - start;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

struct TimeOfDay {
  int hour = 0;
  int minute = 0;
  int second = 0;
  bool has_seconds = false;
  // Second 60 is a leap second, which only ever follows 23:59:59.
  bool Valid() const {
    return hour <= 23 && minute <= 59 &&
           (second <= 59 || (second == 60 && hour == 23 && minute == 59));
  }
};

// UTC offsets in use run from -12:00 to +14:00.
constexpr int kMinOffsetMinutes = -12 * 60;
constexpr int kMaxOffsetMinutes = 14 * 60;

// `Z`, or `+`/`-` and HH, optionally followed by MM or :MM. Nothing is fine too.
bool ReadOptionalUtcOffset(TextCursor& c) {
  if (c.Take('Z')) return true;
  const bool west = c.Peek() == '-';
  if (!c.Take('+') && !c.Take('-')) return true;
  int hours = 0, minutes = 0;
  if (!c.Digits(2, 2, &hours)) return false;
  if (c.Take(':') || IsDigit(c.Peek())) {
    if (!c.Digits(2, 2, &minutes)) return false;
  }
  if (minutes > 59) return false;
  const int offset = (west ? -1 : 1) * (hours * 60 + minutes);
  return offset >= kMinOffsetMinutes && offset <= kMaxOffsetMinutes;
}

// What may follow the last time part of a pattern: seconds when the pattern has none (after
// `seconds_separator`, '\0' for none), a fraction after seconds, a UTC offset.
bool ReadTimeEnd(TextCursor& c, std::optional<char> seconds_separator, TimeOfDay* time) {
  if (seconds_separator) {
    const bool present = *seconds_separator == '\0'
                             ? IsDigit(c.Peek())
                             : c.Peek() == *seconds_separator && IsDigit(c.Peek(1));
    if (present) {
      if (*seconds_separator != '\0') c.Take(*seconds_separator);
      if (!c.Digits(2, 2, &time->second)) return false;
      time->has_seconds = true;
    }
  }
  if (time->has_seconds && (c.Peek() == '.' || c.Peek() == ',') && IsDigit(c.Peek(1))) {
    c.Take(c.Peek());
    c.SkipDigits();
  }
  return ReadOptionalUtcOffset(c);
}

}  // namespace

absl::StatusOr<DateFormat> DateFormat::Parse(std::string_view pattern) {
  DateFormat format;
  format.pattern_ = std::string(pattern);
  if (pattern == "iso8601") {
    format.elements_ = {{Part::kYear4, 0},     {Part::kLiteral, '-'}, {Part::kMonth2, 0},
                        {Part::kLiteral, '-'}, {Part::kDay2, 0},      {Part::kOptionalIsoTime, 0}};
    return format;
  }
  for (size_t i = 0; i < pattern.size();) {
    std::string_view rest = pattern.substr(i);
    if (rest.starts_with("yyyy")) {
      format.elements_.push_back({Part::kYear4, 0});
      i += 4;
    } else if (rest.starts_with("dd") || rest.starts_with("mm")) {
      format.elements_.push_back({rest[0] == 'd' ? Part::kDay2 : Part::kMonth2, 0});
      i += 2;
    } else if (rest[0] == 'd' || rest[0] == 'm') {
      format.elements_.push_back({rest[0] == 'd' ? Part::kDay1 : Part::kMonth1, 0});
      i += 1;
    } else if (rest.starts_with("HH") || rest.starts_with("MM") || rest.starts_with("SS")) {
      format.elements_.push_back({rest[0] == 'H'   ? Part::kHour
                                  : rest[0] == 'M' ? Part::kMinute
                                                   : Part::kSecond,
                                  0});
      i += 2;
    } else if (rest[0] == 'T') {
      format.elements_.push_back({Part::kLiteral, 'T'});
      i += 1;
    } else if (IsAsciiLetter(rest[0]) || IsDigit(rest[0])) {
      const bool time_letter = rest[0] == 'H' || rest[0] == 'M' || rest[0] == 'S';
      return absl::InvalidArgumentError(fmt::format(
          "date format '{}' has '{}' at position {}; {}", pattern, rest[0], i + 1,
          time_letter ? "hours, minutes and seconds are written HH, MM and SS (two letters)"
                      : "use dd, d, mm, m, yyyy for the date, HH, MM, SS for a time, separators "
                        "such as - / . : T or a space, or the named format iso8601"));
    } else {
      format.elements_.push_back({Part::kLiteral, rest[0]});
      i += 1;
    }
  }

  struct Kind {
    const char* name;
    Part one, two;
  };
  static constexpr std::array<Kind, 6> kKinds = {{{"day", Part::kDay1, Part::kDay2},
                                                  {"month", Part::kMonth1, Part::kMonth2},
                                                  {"year", Part::kYear4, Part::kYear4},
                                                  {"hour", Part::kHour, Part::kHour},
                                                  {"minute", Part::kMinute, Part::kMinute},
                                                  {"second", Part::kSecond, Part::kSecond}}};
  for (const Kind& kind : kKinds) {
    int count = 0;
    for (const Element& e : format.elements_) count += e.part == kind.one || e.part == kind.two;
    if (count > 1) {
      return absl::InvalidArgumentError(
          fmt::format("date format '{}' gives the {} more than once", pattern, kind.name));
    }
  }
  auto has = [&](Part a, Part b) {
    for (const Element& e : format.elements_) {
      if (e.part == a || e.part == b) return true;
    }
    return false;
  };
  if (!has(Part::kDay1, Part::kDay2) || !has(Part::kMonth1, Part::kMonth2) ||
      !has(Part::kYear4, Part::kYear4)) {
    return absl::InvalidArgumentError(fmt::format(
        "date format '{}' must contain a day (d or dd), a month (m or mm) and yyyy", pattern));
  }
  if (absl::Status s = CheckTimeParts(pattern, format.elements_); !s.ok()) return s;

  // Optional seconds, fraction and offset follow the last time part.
  for (size_t i = format.elements_.size(); i-- > 0;) {
    const Part part = format.elements_[i].part;
    if (part != Part::kHour && part != Part::kMinute && part != Part::kSecond) continue;
    if (part == Part::kMinute) {
      const Element& before = format.elements_[i - 1];
      format.optional_seconds_separator_ = before.part == Part::kLiteral ? before.literal : '\0';
    }
    format.elements_.insert(format.elements_.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                            {Part::kTimeEnd, 0});
    break;
  }
  return format;
}

absl::Status DateFormat::CheckTimeParts(std::string_view pattern,
                                        const std::vector<Element>& elements) {
  int hour = -1, minute = -1, second = -1, last_date = -1;
  for (size_t i = 0; i < elements.size(); ++i) {
    const int at = static_cast<int>(i);
    switch (elements[i].part) {
      case Part::kHour:
        hour = at;
        break;
      case Part::kMinute:
        minute = at;
        break;
      case Part::kSecond:
        second = at;
        break;
      case Part::kLiteral:
        break;
      default:
        last_date = at;
        break;
    }
  }
  auto refuse = [&](std::string_view problem) {
    return absl::InvalidArgumentError(fmt::format("date format '{}' {}", pattern, problem));
  };
  if (minute >= 0 && hour < 0) {
    return refuse("has minutes (MM) but no hour (HH); the month is mm, in lower case");
  }
  if (hour >= 0 && minute < 0) return refuse("has an hour (HH) but no minutes (MM)");
  if (second >= 0 && minute < 0) return refuse("has seconds (SS) but no HH and MM");
  if (hour < 0) return absl::OkStatus();
  if (hour < last_date) {
    return refuse("has a time (HH, MM, SS) before or inside the date; write the date first");
  }
  if (minute < hour || (second >= 0 && second < minute)) {
    return refuse("must write the time in the order HH, MM, SS");
  }
  return absl::OkStatus();
}

std::optional<int32_t> DateFormat::ToDays(std::string_view text) const {
  int day = 0, month = 0, year = 0;
  TimeOfDay time;
  TextCursor c(text);
  for (const Element& e : elements_) {
    bool ok = true;
    switch (e.part) {
      case Part::kDay1:
        ok = c.Digits(1, 2, &day);
        break;
      case Part::kDay2:
        ok = c.Digits(2, 2, &day);
        break;
      case Part::kMonth1:
        ok = c.Digits(1, 2, &month);
        break;
      case Part::kMonth2:
        ok = c.Digits(2, 2, &month);
        break;
      case Part::kYear4:
        ok = c.Digits(4, 4, &year);
        break;
      case Part::kHour:
        ok = c.Digits(2, 2, &time.hour);
        break;
      case Part::kMinute:
        ok = c.Digits(2, 2, &time.minute);
        break;
      case Part::kSecond:
        ok = c.Digits(2, 2, &time.second);
        time.has_seconds = true;
        break;
      case Part::kTimeEnd:
        ok = ReadTimeEnd(c, optional_seconds_separator_, &time);
        break;
      case Part::kOptionalIsoTime:
        if (c.AtEnd()) break;
        ok = (c.Take('T') || c.Take(' ')) && c.Digits(2, 2, &time.hour) && c.Take(':') &&
             c.Digits(2, 2, &time.minute) && ReadTimeEnd(c, ':', &time);
        break;
      case Part::kLiteral:
        ok = c.Take(e.literal);
        break;
    }
    if (!ok) return std::nullopt;
  }
  if (!c.AtEnd() || !time.Valid() || year < 1900 || year > 2100 || !IsValidDate(year, month, day)) {
    return std::nullopt;
  }
  return DaysFromCivil(year, month, day);
}

}  // namespace koppel
