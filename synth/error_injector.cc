#include "synth/error_injector.h"

#include <array>
#include <string_view>

#include "core/bsn.h"
#include "core/civil_date.h"
#include "fmt/format.h"

namespace koppel::synth {
namespace {

using R = RejectReason;

char RandomDigit(Rng& rng) { return static_cast<char>('0' + rng.Below(10)); }

std::string ReplaceFirst(std::string s, std::string_view from, std::string_view to) {
  if (size_t pos = s.find(from); pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

std::string BrokenBsn(R reason, std::string_view canonical, Rng& rng) {
  std::string digits(canonical);
  switch (reason) {
    case R::kBsnElevenTest: {
      size_t k = static_cast<size_t>(rng.Below(9));
      char old_digit = digits[k];
      while (digits[k] == old_digit) digits[k] = RandomDigit(rng);
      return digits;
    }
    case R::kBsnBadLength:
      if (rng.Bernoulli(0.5)) return digits + RandomDigit(rng);
      return digits.substr(0, 7);
    case R::kBsnBadCharacters:
      if (digits.find('0') != std::string::npos) return ReplaceFirst(digits, "0", "O");
      if (digits.find('1') != std::string::npos) return ReplaceFirst(digits, "1", "l");
      digits[static_cast<size_t>(rng.Below(9))] = 'O';
      return digits;
    case R::kBsnEmpty:
      return "";
    case R::kBsnAllZero:
      return rng.Bernoulli(0.5) ? "000000000" : "00000000";
    default:
      return digits;
  }
}

// A canonical-enough view of a postcode field: its six characters without blanks, upper case.
std::string CompactPostcode(std::string_view field) {
  std::string out;
  for (char c : field) {
    if (c == ' ' || c == '\t') continue;
    out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return out;
}

std::string BrokenPostcode(R reason, std::string_view field, Rng& rng) {
  std::string pc = CompactPostcode(field);
  if (reason == R::kPostcodeUnusedLetters) {
    static constexpr std::array<std::string_view, 3> kUnused = {"SA", "SD", "SS"};
    std::string_view letters = kUnused[static_cast<size_t>(rng.Below(kUnused.size()))];
    return rng.Bernoulli(0.5) ? fmt::format("{} {}", pc.substr(0, 4), letters)
                              : fmt::format("{}{}", pc.substr(0, 4), letters);
  }
  switch (rng.Below(4)) {
    case 0:
      return pc.substr(0, 5);
    case 1:
      return "0" + pc.substr(1);
    case 2:
      return pc.substr(0, 4);
    default:
      return fmt::format("{}-{}", pc.substr(0, 4), pc.substr(4));
  }
}

// A date that does not exist, written in `format`; with the format's time of day when it has
// one (FormatDate writes only the date part).
std::string ImpossibleDate(int year, int month, int day, const std::string& format) {
  const size_t time = format.find("HH");
  if (time == std::string::npos) return FormatDate(year, month, day, format);
  return FormatDate(year, month, day, format.substr(0, time)) + "10:00:00";
}

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// `pos`, or the nearest position after it (else before it, but not 0) that does not split a
// UTF-8 sequence, so that a stray quote leaves the field valid UTF-8.
size_t CharacterBoundary(const std::string& s, size_t pos) {
  size_t after = pos;
  while (after < s.size() && IsContinuationByte(s[after])) ++after;
  if (after < s.size()) return after;
  size_t before = pos;
  while (before > 1 && IsContinuationByte(s[before])) --before;
  return IsContinuationByte(s[before]) ? after : before;
}

}  // namespace

ErrorInjector::ErrorInjector(const DatasetSpec& spec)
    : spec_(spec),
      bsn_(spec.ColumnWith(ColumnRole::kBsn)),
      postcode_(spec.ColumnWith(ColumnRole::kPostcode)),
      house_(spec.ColumnWith(ColumnRole::kHouse)),
      number_(spec.ColumnWith(ColumnRole::kHouseNumber)),
      free_text_(spec.ColumnWith(ColumnRole::kFreeText)) {
  applicable_.push_back({R::kFieldCount});
  if (spec.csv.quote != '\0') applicable_.push_back({R::kBadQuoting});
  if (free_text_ >= 0) applicable_.push_back({R::kFieldCount, true});
  if (bsn_ >= 0) {
    for (R r : {R::kBsnElevenTest, R::kBsnBadLength, R::kBsnBadCharacters, R::kBsnEmpty,
                R::kBsnAllZero}) {
      applicable_.push_back({r});
    }
  }
  if (postcode_ >= 0) {
    for (R r : {R::kPostcodeBadFormat, R::kPostcodeUnusedLetters, R::kHouseNumberEmpty,
                R::kHouseNumberOutOfRange, R::kHouseNumberBadFormat}) {
      applicable_.push_back({r});
    }
  }
  bool any_required = false;
  bool has_type[5] = {};
  for (const ColumnSpec& c : spec.columns) {
    if (c.role != ColumnRole::kAttribute) continue;
    any_required = any_required || c.attribute->required;
    has_type[static_cast<int>(c.attribute->type)] = true;
  }
  if (any_required) applicable_.push_back({R::kMissingValue});
  if (has_type[static_cast<int>(AttributeType::kCategory)])
    applicable_.push_back({R::kCategoryUnknown});
  if (has_type[static_cast<int>(AttributeType::kDate)]) applicable_.push_back({R::kDateInvalid});
  if (has_type[static_cast<int>(AttributeType::kAmount)])
    applicable_.push_back({R::kAmountInvalid});
  if (has_type[static_cast<int>(AttributeType::kYear)]) applicable_.push_back({R::kYearInvalid});
  if (has_type[static_cast<int>(AttributeType::kInteger)])
    applicable_.push_back({R::kIntegerInvalid});
}

bool ErrorInjector::IsStructural(RejectReason reason) {
  return reason == R::kFieldCount || reason == R::kBadQuoting || reason == R::kRowTooLong;
}

int ErrorInjector::ColumnOfType(AttributeType type, bool required_only, Rng& rng) const {
  std::vector<int> candidates;
  for (size_t i = 0; i < spec_.columns.size(); ++i) {
    const ColumnSpec& c = spec_.columns[i];
    if (c.role != ColumnRole::kAttribute) continue;
    if (required_only ? c.attribute->required : c.attribute->type == type) {
      candidates.push_back(static_cast<int>(i));
    }
  }
  return candidates.empty() ? -1 : candidates[static_cast<size_t>(rng.Below(candidates.size()))];
}

// A non-empty field of at least two characters without the delimiter, which can be written
// unquoted with a stray quote in it.
int ErrorInjector::SafeRawColumn(const std::vector<std::string>& fields, Rng& rng) const {
  std::vector<int> candidates;
  for (size_t i = 0; i < fields.size(); ++i) {
    const std::string& f = fields[i];
    if (f.size() >= 2 && f.find(spec_.csv.delimiter) == std::string::npos &&
        f.find(spec_.csv.quote) == std::string::npos && f.front() != ' ') {
      candidates.push_back(static_cast<int>(i));
    }
  }
  return candidates.empty() ? -1 : candidates[static_cast<size_t>(rng.Below(candidates.size()))];
}

InjectedRow ErrorInjector::Inject(const ErrorKind& kind, const std::vector<std::string>& fields,
                                  Rng& rng) const {
  InjectedRow row{fields, -1};
  auto at = [&row](int column) -> std::string& { return row.fields[static_cast<size_t>(column)]; };
  const RejectReason reason = kind.reason;
  switch (reason) {
    case R::kFieldCount:
      if (kind.free_text_delimiter || (free_text_ >= 0 && rng.Bernoulli(0.5))) {
        at(free_text_) = fmt::format("{}{} zie dossier", at(free_text_), spec_.csv.delimiter);
        row.raw_column = free_text_;
      } else if (rng.Bernoulli(0.5)) {
        row.fields.pop_back();
      } else {
        row.fields.emplace_back("x");
      }
      break;
    case R::kBadQuoting: {
      int column = SafeRawColumn(row.fields, rng);
      if (column < 0) {
        column = static_cast<int>(row.fields.size()) - 1;
        at(column) = "x";
      }
      std::string& f = at(column);
      if (f.size() < 2) f += "x";
      f.insert(CharacterBoundary(f, 1 + static_cast<size_t>(rng.Below(f.size() - 1))), 1,
               spec_.csv.quote);
      row.raw_column = column;
      break;
    }
    case R::kBsnElevenTest:
    case R::kBsnBadLength:
    case R::kBsnBadCharacters:
    case R::kBsnEmpty:
    case R::kBsnAllZero: {
      BsnResult bsn = ParseBsn(at(bsn_));
      at(bsn_) = BrokenBsn(reason, bsn.view(), rng);
      break;
    }
    case R::kPostcodeBadFormat:
    case R::kPostcodeUnusedLetters:
      at(postcode_) = BrokenPostcode(reason, at(postcode_), rng);
      break;
    case R::kHouseNumberEmpty:
      at(house_ >= 0 ? house_ : number_) = "";
      break;
    case R::kHouseNumberOutOfRange:
      at(house_ >= 0 ? house_ : number_) = rng.Bernoulli(0.5) ? "0" : "123456";
      break;
    case R::kHouseNumberBadFormat:
      if (house_ >= 0) {
        at(house_) = rng.Bernoulli(0.5) ? "nr " + at(house_) : "#" + at(house_);
      } else {
        at(number_) += rng.Bernoulli(0.5) ? "a" : "+";
      }
      break;
    case R::kMissingValue:
      at(ColumnOfType(AttributeType::kCategory, true, rng)) = "";
      break;
    case R::kCategoryUnknown: {
      static constexpr std::array<std::string_view, 3> kUnknown = {"ONBEKEND", "?", "overig"};
      at(ColumnOfType(AttributeType::kCategory, false, rng)) =
          std::string(kUnknown[static_cast<size_t>(rng.Below(kUnknown.size()))]);
      break;
    }
    case R::kDateInvalid: {
      int column = ColumnOfType(AttributeType::kDate, false, rng);
      const std::string& format = spec_.columns[static_cast<size_t>(column)].attribute->date_format;
      int year = rng.Between(2012, 2014);
      switch (rng.Below(3)) {
        case 0:
          at(column) = ImpossibleDate(year, 2, rng.Between(30, 31), format);
          break;
        case 1:
          at(column) = ImpossibleDate(year, 4, 31, format);
          break;
        default:
          at(column) = ImpossibleDate(year, 13, rng.Between(1, 28), format);
          break;
      }
      break;
    }
    case R::kAmountInvalid: {
      static constexpr std::array<std::string_view, 3> kBad = {"n.v.t.", "12,3,4", "EUR 15"};
      at(ColumnOfType(AttributeType::kAmount, false, rng)) =
          std::string(kBad[static_cast<size_t>(rng.Below(kBad.size()))]);
      break;
    }
    case R::kYearInvalid: {
      static constexpr std::array<std::string_view, 3> kBad = {"14", "2O14", "jaar"};
      at(ColumnOfType(AttributeType::kYear, false, rng)) =
          std::string(kBad[static_cast<size_t>(rng.Below(kBad.size()))]);
      break;
    }
    case R::kIntegerInvalid:
      at(ColumnOfType(AttributeType::kInteger, false, rng)) = "1.5";
      break;
    default:
      break;
  }
  return row;
}

}  // namespace koppel::synth
