#include "core/hex.h"

#include <sodium.h>

namespace koppel {

std::string ToHex(std::span<const uint8_t> bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

absl::StatusOr<std::vector<uint8_t>> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError("hex text has an odd number of characters");
  }
  std::vector<uint8_t> out(hex.size() / 2);
  if (out.empty()) return out;
  size_t written = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &written, &end) !=
          0 ||
      written != out.size() || end != hex.data() + hex.size()) {
    return absl::InvalidArgumentError("text is not hexadecimal");
  }
  return out;
}

}  // namespace koppel
