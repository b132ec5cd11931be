#include "synth/reference_judge.h"

#include <cstdint>

#include "core/address.h"
#include "core/bsn.h"
#include "core/date_format.h"
#include "fmt/format.h"

namespace koppel::synth {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return !s.empty();
}

// "-"? digits, within limits; digits capped so the value fits in int64.
bool ParseInteger(std::string_view s, int64_t* out) {
  bool negative = false;
  if (!s.empty() && s.front() == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  if (!AllDigits(s) || s.size() > 18) return false;
  int64_t value = 0;
  for (char c : s) value = value * 10 + (c - '0');
  *out = negative ? -value : value;
  return true;
}

bool ParseAmountCents(std::string_view s, const AttributeSpec& a, int64_t* cents) {
  bool negative = false;
  if (!s.empty() && s.front() == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  const char decimal = a.decimal_comma ? ',' : '.';
  std::string_view whole = s, fraction;
  if (size_t mark = s.find(decimal); mark != std::string_view::npos) {
    whole = s.substr(0, mark);
    fraction = s.substr(mark + 1);
    if (fraction.empty() || fraction.size() > 2 || !AllDigits(fraction)) return false;
  }
  std::string digits;
  if (!a.thousands.empty() && whole.find(a.thousands[0]) != std::string_view::npos) {
    size_t group_start = 0;
    bool first = true;
    while (true) {
      size_t sep = whole.find(a.thousands[0], group_start);
      std::string_view group = whole.substr(
          group_start, sep == std::string_view::npos ? std::string_view::npos : sep - group_start);
      if (!AllDigits(group)) return false;
      if (first ? group.size() > 3 : group.size() != 3) return false;
      digits += group;
      first = false;
      if (sep == std::string_view::npos) break;
      group_start = sep + 1;
    }
  } else {
    if (!AllDigits(whole)) return false;
    digits = whole;
  }
  if (digits.size() > 15) return false;
  int64_t value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  int64_t frac = 0;
  for (size_t i = 0; i < 2; ++i) {
    frac = frac * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
  }
  *cents = (negative ? -1 : 1) * (value * 100 + frac);
  return true;
}

// Lower case (ASCII: the generator's codes are ASCII), blanks trimmed and inner runs of blanks
// made one space: what `ignore_case: true` compares.
std::string FoldCode(std::string_view code) {
  std::string out;
  bool blank = false;
  for (char c : TrimBlanks(code)) {
    if (c == ' ' || c == '\t') {
      blank = true;
      continue;
    }
    if (blank) out += ' ';
    blank = false;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

}  // namespace

RejectReason ReferenceJudge::CheckAttribute(const AttributeSpec& a, std::string_view value,
                                            std::string* normalized) {
  value = TrimBlanks(value);
  if (value.empty()) {
    if (a.required) return RejectReason::kMissingValue;
    *normalized += "\x1e";
    return RejectReason::kNone;
  }
  switch (a.type) {
    case AttributeType::kCategory:
      for (const auto& [export_code, code] : a.codes) {
        const std::string& listed = a.codes_as_list ? code : export_code;
        if (a.ignore_case ? FoldCode(listed) == FoldCode(value) : listed == value) {
          *normalized += code;
          return RejectReason::kNone;
        }
      }
      return RejectReason::kCategoryUnknown;
    case AttributeType::kInteger: {
      int64_t v = 0;
      if (!ParseInteger(value, &v) || (a.min && v < *a.min) || (a.max && v > *a.max)) {
        return RejectReason::kIntegerInvalid;
      }
      *normalized += fmt::format("{}", v);
      return RejectReason::kNone;
    }
    case AttributeType::kAmount: {
      int64_t cents = 0;
      if (!ParseAmountCents(value, a, &cents)) return RejectReason::kAmountInvalid;
      *normalized += fmt::format("{}", cents);
      return RejectReason::kNone;
    }
    case AttributeType::kDate: {
      absl::StatusOr<DateFormat> format = DateFormat::Parse(a.date_format);
      std::optional<int32_t> days = format.ok() ? format->ToDays(value) : std::nullopt;
      if (!days) return RejectReason::kDateInvalid;
      *normalized += fmt::format("{}", *days);
      return RejectReason::kNone;
    }
    case AttributeType::kYear: {
      if (value.size() != 4 || !AllDigits(value)) return RejectReason::kYearInvalid;
      int year = (value[0] - '0') * 1000 + (value[1] - '0') * 100 + (value[2] - '0') * 10 +
                 (value[3] - '0');
      if (year < 1900 || year > 2100) return RejectReason::kYearInvalid;
      *normalized += value;
      return RejectReason::kNone;
    }
  }
  return RejectReason::kNone;
}

Verdict ReferenceJudge::Judge(const std::vector<std::string>& fields) const {
  Verdict verdict;
  auto fail = [&verdict](RejectReason reason, int column) {
    verdict.reason = reason;
    verdict.column = column;
    verdict.normalized.clear();
    return verdict;
  };
  auto field = [&fields](int column) -> std::string_view {
    return column < 0 ? std::string_view() : std::string_view(fields[static_cast<size_t>(column)]);
  };

  if (int bsn_column = spec_.ColumnWith(ColumnRole::kBsn); bsn_column >= 0) {
    BsnResult bsn = ParseBsn(field(bsn_column));
    if (!bsn.ok()) return fail(bsn.reason, bsn_column);
    verdict.normalized += bsn.view();
  }
  verdict.normalized += '\x1f';
  if (int postcode = spec_.ColumnWith(ColumnRole::kPostcode); postcode >= 0) {
    const int house = spec_.ColumnWith(ColumnRole::kHouse);
    AddressResult address;
    if (house >= 0) {
      address = ParseAddress(field(postcode), field(house));
    } else {
      address =
          ParseAddressFields(field(postcode), field(spec_.ColumnWith(ColumnRole::kHouseNumber)),
                             field(spec_.ColumnWith(ColumnRole::kHouseLetter)),
                             field(spec_.ColumnWith(ColumnRole::kHouseAddition)));
    }
    if (!address.ok()) {
      const RejectReason r = address.reason;
      const bool postcode_problem = r == RejectReason::kPostcodeEmpty ||
                                    r == RejectReason::kPostcodeBadFormat ||
                                    r == RejectReason::kPostcodeUnusedLetters;
      const int column =
          postcode_problem                       ? postcode
          : house >= 0                           ? house
          : r == RejectReason::kHouseLetterBad   ? spec_.ColumnWith(ColumnRole::kHouseLetter)
          : r == RejectReason::kHouseAdditionBad ? spec_.ColumnWith(ColumnRole::kHouseAddition)
                                                 : spec_.ColumnWith(ColumnRole::kHouseNumber);
      return fail(r, column);
    }
    if (known_postcodes_ != nullptr &&
        !known_postcodes_->contains(std::string(address.view().substr(0, 6)))) {
      return fail(RejectReason::kPostcodeUnknown, postcode);
    }
    verdict.normalized += address.view();
  }
  for (size_t i = 0; i < spec_.columns.size(); ++i) {
    const ColumnSpec& column = spec_.columns[i];
    if (column.role != ColumnRole::kAttribute) continue;
    verdict.normalized += '\x1f';
    RejectReason reason = CheckAttribute(*column.attribute, fields[i], &verdict.normalized);
    if (reason != RejectReason::kNone) return fail(reason, static_cast<int>(i));
  }
  return verdict;
}

}  // namespace koppel::synth
