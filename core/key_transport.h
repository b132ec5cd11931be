// Handing a key from the vault to a party without it ever travelling in the clear, even inside
// TLS: the requester makes a key pair for this one request, the vault seals the key to its
// public half (crypto_box_seal), the requester opens it into guarded memory. The one-time secret
// is wiped when the OneTimeBox goes away.
#ifndef KOPPEL_CORE_KEY_TRANSPORT_H_
#define KOPPEL_CORE_KEY_TRANSPORT_H_

#include <sodium.h>

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/secret.h"

namespace koppel {

class OneTimeBox {
 public:
  static absl::StatusOr<OneTimeBox> Create();
  std::string public_key() const {
    return std::string(reinterpret_cast<const char*>(public_.data()), public_.size());
  }
  // Opens a key of `key_size` bytes sealed to public_key().
  absl::StatusOr<Secret> Open(std::string_view sealed, size_t key_size) const;

 private:
  OneTimeBox(Secret secret, std::array<uint8_t, crypto_box_PUBLICKEYBYTES> pk)
      : secret_(std::move(secret)), public_(pk) {}
  Secret secret_;
  std::array<uint8_t, crypto_box_PUBLICKEYBYTES> public_;
};

// The vault's half: `key` sealed to a requester's one-time public key.
absl::StatusOr<std::string> SealKeyTo(std::string_view recipient_public_key, const Secret& key);

}  // namespace koppel

#endif  // KOPPEL_CORE_KEY_TRANSPORT_H_
