// Hexadecimal text for tokens, keys and hashes (libsodium's constant-time codec).
#ifndef KOPPEL_CORE_HEX_H_
#define KOPPEL_CORE_HEX_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace koppel {

std::string ToHex(std::span<const uint8_t> bytes);
// Accepts upper or lower case; surrounding whitespace is an error left to the caller.
absl::StatusOr<std::vector<uint8_t>> FromHex(std::string_view hex);

}  // namespace koppel

#endif  // KOPPEL_CORE_HEX_H_
