#include "core/category_code.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

#include "absl/strings/ascii.h"

namespace koppel {
namespace {

bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// NFKC maps every Unicode space (U+00A0, U+2000..U+200A, U+3000, ...) to U+0020, so ASCII
// whitespace is all that is left to collapse.
std::string CollapseWhitespace(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char c : text) {
    if (IsWhitespace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string FoldCategoryCode(std::string_view code) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* folder = icu::Normalizer2::getNFKCCasefoldInstance(status);
  std::string folded;
  if (U_SUCCESS(status)) {
    icu::StringByteSink<std::string> sink(&folded);
    folder->normalizeUTF8(0, icu::StringPiece(code.data(), static_cast<int32_t>(code.size())), sink,
                          nullptr, status);
  }
  // ICU's data is linked in, so this only fails on an ICU build without it: fold ASCII then.
  if (U_FAILURE(status)) folded = absl::AsciiStrToLower(std::string(code));
  return CollapseWhitespace(folded);
}

}  // namespace koppel
