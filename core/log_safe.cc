#include "core/log_safe.h"

#include <fmt/format.h>

#include <algorithm>

#include "absl/strings/escaping.h"

namespace koppel {

std::string LogSafe(std::string_view untrusted) {
  const size_t kept = std::min(untrusted.size(), kLogSafeMaxBytes);
  std::string escaped = absl::CHexEscape(absl::string_view(untrusted.data(), kept));
  if (kept == untrusted.size()) return escaped;
  return fmt::format("{}... ({} bytes)", escaped, untrusted.size());
}

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` and its code point, or 0.
size_t Utf8Sequence(std::string_view s, char32_t* code_point) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  size_t length = lead < 0x80           ? 1
                  : (lead >> 5) == 0x6  ? 2
                  : (lead >> 4) == 0xE  ? 3
                  : (lead >> 3) == 0x1E ? 4
                                        : 0;
  if (length == 0 || length > s.size()) return 0;
  char32_t c = length == 1 ? lead : lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    c = (c << 6) | (byte(i) & 0x3F);
  }
  static constexpr char32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < kMinimum[length] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  *code_point = c;
  return length;
}

bool Displayable(char32_t c) {
  if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F)) return false;  // C0, DEL, C1
  if (c == 0x2028 || c == 0x2029) return false;                         // line breaks
  if ((c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x200E || c == 0x200F ||
      c == 0x061C) {
    return false;  // bidirectional controls
  }
  if (c == 0x00AD || (c >= 0x200B && c <= 0x200D) || (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF ||
      (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0xE0000 && c <= 0xE007F)) {
    return false;  // invisible: "bsn" and "bsn" with a zero-width space would look alike
  }
  if ((c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE) return false;  // noncharacters
  return true;
}

}  // namespace

std::string DisplaySafe(std::string_view untrusted) {
  const size_t kept = std::min(untrusted.size(), kLogSafeMaxBytes);
  std::string_view rest = untrusted.substr(0, kept);
  std::string out;
  while (!rest.empty()) {
    char32_t c = 0;
    const size_t length = Utf8Sequence(rest, &c);
    if (length > 0 && Displayable(c)) {
      out.append(rest.substr(0, length));
    } else {
      const size_t escaped = length == 0 ? 1 : length;
      out += absl::CHexEscape(absl::string_view(rest.data(), escaped));
    }
    rest.remove_prefix(length == 0 ? 1 : length);
  }
  if (kept == untrusted.size()) return out;
  return fmt::format("{}... ({} bytes)", out, untrusted.size());
}

std::string LogSafe(const absl::Status& status) {
  return LogSafe(std::string_view(status.message().data(), status.message().size()));
}

}  // namespace koppel
