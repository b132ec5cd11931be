// SHA-256, HMAC-SHA256 and HKDF-SHA256 (FIPS 180-4, RFC 2104/4231, RFC 5869) over libsodium and
// OpenSSL. Nothing here implements a primitive: these are thin, typed wrappers with Status
// errors.
#ifndef KOPPEL_CORE_HMAC_H_
#define KOPPEL_CORE_HMAC_H_

#include <sodium.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/secret.h"

namespace koppel {

using Digest256 = std::array<uint8_t, 32>;

// SHA-256 of bytes, raw and as lowercase hex (what `sha256sum` prints).
Digest256 Sha256(std::string_view bytes);
std::string Sha256Hex(std::string_view bytes);

// One-shot HMAC-SHA256 with a key of any length.
Digest256 HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> message);

// HMAC-SHA256 with the key schedule computed once: each Mac() copies the keyed state, so a
// token costs two SHA-256 compressions instead of four. The state lives in guarded memory
// because it is as secret as the key it was made from.
class HmacSha256Key {
 public:
  static absl::StatusOr<HmacSha256Key> Create(std::span<const uint8_t> key);
  Digest256 Mac(std::span<const uint8_t> message) const;
  Digest256 Mac(std::string_view message) const {
    return Mac(std::span(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
  }

 private:
  explicit HmacSha256Key(Secret state) : state_(std::move(state)) {}
  const crypto_auth_hmacsha256_state* state() const {
    return reinterpret_cast<const crypto_auth_hmacsha256_state*>(state_.data());
  }
  Secret state_;
};

// HKDF-SHA256 (RFC 5869) into guarded memory. An empty salt means HashLen zero bytes.
absl::StatusOr<Secret> HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                                  std::string_view info, size_t length);

}  // namespace koppel

#endif  // KOPPEL_CORE_HMAC_H_
