#include "core/address.h"

#include <cstring>

namespace koppel {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsAdditionSeparator(char c) { return c == '-' || c == '/' || IsBlank(c); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Builds the canonical string field by field into a fixed buffer.
class CanonicalWriter {
 public:
  explicit CanonicalWriter(AddressResult* out) : out_(out) {}
  void Append(std::string_view s) {
    std::memcpy(out_->canonical + out_->length, s.data(), s.size());
    out_->length += s.size();
  }
  void Append(char c) { out_->canonical[out_->length++] = c; }
  void Finish() { out_->canonical[out_->length] = '\0'; }

 private:
  AddressResult* out_;
};

// Digits with optional leading zeros -> decimal without them, in 1..99999.
RejectReason ParseNumber(std::string_view digits, std::string_view* out) {
  if (digits.empty()) return RejectReason::kHouseNumberEmpty;
  for (char c : digits) {
    if (!IsDigit(c)) return RejectReason::kHouseNumberBadFormat;
  }
  while (!digits.empty() && digits.front() == '0') digits.remove_prefix(1);
  if (digits.empty() || digits.size() > 5) return RejectReason::kHouseNumberOutOfRange;
  *out = digits;
  return RejectReason::kNone;
}

// Removes separators, upper-cases, and checks 0-4 alphanumerics.
RejectReason NormaliseAddition(std::string_view input, char out[4], size_t* length) {
  *length = 0;
  for (char c : input) {
    if (IsAdditionSeparator(c)) continue;
    if (!IsDigit(c) && !IsAsciiLetter(c)) return RejectReason::kHouseAdditionBad;
    if (*length == 4) return RejectReason::kHouseAdditionBad;
    out[(*length)++] = Upper(c);
  }
  return RejectReason::kNone;
}

AddressResult Assemble(const char postcode[6], std::string_view number, char letter,
                       std::string_view addition) {
  AddressResult result;
  CanonicalWriter w(&result);
  w.Append(std::string_view(postcode, 6));
  w.Append('|');
  w.Append(number);
  w.Append('|');
  if (letter != '\0') w.Append(letter);
  w.Append('|');
  w.Append(addition);
  w.Finish();
  return result;
}

AddressResult Reject(RejectReason reason) {
  AddressResult result;
  result.reason = reason;
  return result;
}

}  // namespace

RejectReason ParsePostcode(std::string_view input, char out[6]) {
  size_t n = 0;
  bool any = false;
  for (char c : input) {
    if (IsBlank(c)) continue;
    any = true;
    if (n == 6) return RejectReason::kPostcodeBadFormat;
    out[n++] = Upper(c);
  }
  if (!any) return RejectReason::kPostcodeEmpty;
  if (n != 6) return RejectReason::kPostcodeBadFormat;
  if (out[0] < '1' || out[0] > '9') return RejectReason::kPostcodeBadFormat;
  for (int i = 1; i < 4; ++i) {
    if (!IsDigit(out[i])) return RejectReason::kPostcodeBadFormat;
  }
  if (!(out[4] >= 'A' && out[4] <= 'Z') || !(out[5] >= 'A' && out[5] <= 'Z')) {
    return RejectReason::kPostcodeBadFormat;
  }
  if (out[4] == 'S' && (out[5] == 'A' || out[5] == 'D' || out[5] == 'S')) {
    return RejectReason::kPostcodeUnusedLetters;
  }
  return RejectReason::kNone;
}

AddressResult ParseAddress(std::string_view postcode_field, std::string_view house) {
  char postcode[6];
  if (RejectReason r = ParsePostcode(postcode_field, postcode); r != RejectReason::kNone) {
    return Reject(r);
  }
  house = Trim(house);
  if (house.empty()) return Reject(RejectReason::kHouseNumberEmpty);
  for (char c : house) {
    if (!IsDigit(c) && !IsAsciiLetter(c) && !IsAdditionSeparator(c)) {
      return Reject(RejectReason::kHouseNumberBadFormat);
    }
  }
  size_t digits_end = 0;
  while (digits_end < house.size() && IsDigit(house[digits_end])) ++digits_end;
  if (digits_end == 0) return Reject(RejectReason::kHouseNumberBadFormat);
  std::string_view number;
  if (RejectReason r = ParseNumber(house.substr(0, digits_end), &number);
      r != RejectReason::kNone) {
    return Reject(r);
  }
  std::string_view rest = house.substr(digits_end);
  size_t pos = 0;
  while (pos < rest.size() && IsBlank(rest[pos])) ++pos;
  // A single letter right after the number (optionally after blanks, never after a dash or
  // slash) is the house letter; "bis", "II" and other words are additions.
  char letter = '\0';
  if (pos < rest.size() && IsAsciiLetter(rest[pos]) &&
      (pos + 1 == rest.size() || !IsAsciiLetter(rest[pos + 1]))) {
    letter = Upper(rest[pos]);
    ++pos;
  }
  char addition[4];
  size_t addition_length = 0;
  if (RejectReason r = NormaliseAddition(rest.substr(pos), addition, &addition_length);
      r != RejectReason::kNone) {
    return Reject(r);
  }
  return Assemble(postcode, number, letter, std::string_view(addition, addition_length));
}

AddressResult ParseAddressFields(std::string_view postcode_field, std::string_view number_field,
                                 std::string_view letter_field, std::string_view addition_field) {
  char postcode[6];
  if (RejectReason r = ParsePostcode(postcode_field, postcode); r != RejectReason::kNone) {
    return Reject(r);
  }
  std::string_view number;
  if (RejectReason r = ParseNumber(Trim(number_field), &number); r != RejectReason::kNone) {
    return Reject(r);
  }
  letter_field = Trim(letter_field);
  char letter = '\0';
  if (!letter_field.empty()) {
    if (letter_field.size() != 1 || !IsAsciiLetter(letter_field[0])) {
      return Reject(RejectReason::kHouseLetterBad);
    }
    letter = Upper(letter_field[0]);
  }
  char addition[4];
  size_t addition_length = 0;
  if (RejectReason r = NormaliseAddition(Trim(addition_field), addition, &addition_length);
      r != RejectReason::kNone) {
    return Reject(r);
  }
  return Assemble(postcode, number, letter, std::string_view(addition, addition_length));
}

}  // namespace koppel
