#include "core/attribute_value.h"

#include <limits>
#include <set>

#include "core/category_code.h"

namespace koppel {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Accumulates decimal digits, refusing overflow beyond `limit`.
bool AppendDigit(int64_t* value, char c, int64_t limit) {
  int64_t digit = c - '0';
  if (*value > (limit - digit) / 10) return false;
  *value = *value * 10 + digit;
  return true;
}

}  // namespace

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

AttributeParser::AttributeParser(const AttributeSpec& spec) : spec_(&spec) {
  if (spec.type != AttributeType::kCategory) return;
  std::set<std::string> canonical;
  for (const auto& [from, to] : spec.codes) canonical.insert(to);
  std::map<std::string, uint32_t, std::less<>> index;
  uint32_t i = 0;
  for (const std::string& code : canonical) index[code] = i++;
  for (const auto& [from, to] : spec.codes) {
    code_index_[spec.ignore_case ? FoldCategoryCode(from) : from] = index[to];
  }
}

RejectReason AttributeParser::Parse(std::string_view text, v1::Value* out) const {
  switch (spec_->type) {
    case AttributeType::kCategory: {
      auto it =
          spec_->ignore_case ? code_index_.find(FoldCategoryCode(text)) : code_index_.find(text);
      if (it == code_index_.end()) return RejectReason::kCategoryUnknown;
      out->set_code(it->second);
      return RejectReason::kNone;
    }
    case AttributeType::kInteger:
      return ParseInteger(text, out);
    case AttributeType::kAmount:
      return ParseAmount(text, out);
    case AttributeType::kDate: {
      std::optional<int32_t> days = spec_->date_format.ToDays(text);
      if (!days) return RejectReason::kDateInvalid;
      out->set_date_days(*days);
      return RejectReason::kNone;
    }
    case AttributeType::kYear: {
      if (text.size() != 4) return RejectReason::kYearInvalid;
      int year = 0;
      for (char c : text) {
        if (!IsDigit(c)) return RejectReason::kYearInvalid;
        year = year * 10 + (c - '0');
      }
      if (year < 1900 || year > 2100) return RejectReason::kYearInvalid;
      out->set_year(year);
      return RejectReason::kNone;
    }
  }
  return RejectReason::kNone;
}

RejectReason AttributeParser::ParseInteger(std::string_view text, v1::Value* out) const {
  bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty() || text.size() > 18) return RejectReason::kIntegerInvalid;
  int64_t value = 0;
  for (char c : text) {
    if (!IsDigit(c) || !AppendDigit(&value, c, std::numeric_limits<int64_t>::max())) {
      return RejectReason::kIntegerInvalid;
    }
  }
  if (negative) value = -value;
  if ((spec_->min && value < *spec_->min) || (spec_->max && value > *spec_->max)) {
    return RejectReason::kIntegerInvalid;
  }
  out->set_integer(value);
  return RejectReason::kNone;
}

RejectReason AttributeParser::ParseAmount(std::string_view text, v1::Value* out) const {
  bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  size_t mark = text.find(spec_->decimal_mark);
  std::string_view whole = text.substr(0, mark);
  std::string_view fraction =
      mark == std::string_view::npos ? std::string_view() : text.substr(mark + 1);
  if (whole.empty() ||
      (mark != std::string_view::npos && (fraction.empty() || fraction.size() > 2))) {
    return RejectReason::kAmountInvalid;
  }
  constexpr int64_t kLimit = std::numeric_limits<int64_t>::max() / 100;
  int64_t euros = 0;
  size_t digits_in_group = 0;
  bool grouped = false;
  for (char c : whole) {
    if (spec_->thousands_separator != '\0' && c == spec_->thousands_separator) {
      // Groups of three after the first group of one to three digits.
      if (digits_in_group == 0 || digits_in_group > 3 || (grouped && digits_in_group != 3)) {
        return RejectReason::kAmountInvalid;
      }
      grouped = true;
      digits_in_group = 0;
      continue;
    }
    if (!IsDigit(c) || !AppendDigit(&euros, c, kLimit)) return RejectReason::kAmountInvalid;
    ++digits_in_group;
  }
  if (grouped && digits_in_group != 3) return RejectReason::kAmountInvalid;
  int64_t cents = 0;
  for (char c : fraction) {
    if (!IsDigit(c)) return RejectReason::kAmountInvalid;
    cents = cents * 10 + (c - '0');
  }
  if (fraction.size() == 1) cents *= 10;
  int64_t total = euros * 100 + cents;
  out->set_amount_cents(negative ? -total : total);
  return RejectReason::kNone;
}

}  // namespace koppel
