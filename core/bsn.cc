#include "core/bsn.h"

namespace koppel {
namespace {

constexpr int kWeights[9] = {9, 8, 7, 6, 5, 4, 3, 2, -1};

bool IsSeparator(char c) { return c == ' ' || c == '.' || c == '-'; }

}  // namespace

bool PassesElevenTest(std::string_view nine_digits) {
  if (nine_digits.size() != 9) return false;
  int sum = 0;
  for (size_t i = 0; i < 9; ++i) sum += kWeights[i] * (nine_digits[i] - '0');
  return sum % 11 == 0;
}

BsnResult ParseBsn(std::string_view input) {
  BsnResult result;
  char digits[9];
  size_t n = 0;
  bool any_character = false;
  for (char c : input) {
    if (IsSeparator(c) || c == '\t') continue;
    any_character = true;
    if (c < '0' || c > '9') {
      result.reason = RejectReason::kBsnBadCharacters;
      return result;
    }
    if (n == 9) {
      result.reason = RejectReason::kBsnBadLength;
      return result;
    }
    digits[n++] = c;
  }
  if (!any_character) {
    result.reason = RejectReason::kBsnEmpty;
    return result;
  }
  if (n != 8 && n != 9) {
    result.reason = RejectReason::kBsnBadLength;
    return result;
  }
  size_t pad = 9 - n;
  for (size_t i = 0; i < pad; ++i) result.canonical[i] = '0';
  for (size_t i = 0; i < n; ++i) result.canonical[pad + i] = digits[i];
  result.canonical[9] = '\0';
  std::string_view canonical(result.canonical, 9);
  if (canonical == "000000000") {
    result.reason = RejectReason::kBsnAllZero;
    return result;
  }
  if (!PassesElevenTest(canonical)) {
    result.reason = RejectReason::kBsnElevenTest;
    return result;
  }
  return result;
}

bool BsnFromStem(uint32_t stem, char out[9]) {
  if (stem > 99999999u) return false;
  int sum = 0;
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>('0' + stem % 10);
    stem /= 10;
  }
  for (int i = 0; i < 8; ++i) sum += kWeights[i] * (out[i] - '0');
  // Need sum - d9 == 0 (mod 11), so d9 == sum mod 11, which must be a single digit.
  int check = sum % 11;
  if (check > 9) return false;
  out[8] = static_cast<char>('0' + check);
  return std::string_view(out, 9) != "000000000";
}

}  // namespace koppel
