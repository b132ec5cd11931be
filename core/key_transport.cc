#include "core/key_transport.h"

namespace koppel {

absl::StatusOr<OneTimeBox> OneTimeBox::Create() {
  absl::StatusOr<Secret> secret = Secret::Allocate(crypto_box_SECRETKEYBYTES);
  if (!secret.ok()) return secret.status();
  std::array<uint8_t, crypto_box_PUBLICKEYBYTES> pk;
  crypto_box_keypair(pk.data(), secret->mutable_data());
  secret->Seal();
  return OneTimeBox(std::move(*secret), pk);
}

absl::StatusOr<Secret> OneTimeBox::Open(std::string_view sealed, size_t key_size) const {
  if (sealed.size() != crypto_box_SEALBYTES + key_size) {
    return absl::DataLossError("the sealed key has the wrong size");
  }
  absl::StatusOr<Secret> key = Secret::Allocate(key_size);
  if (!key.ok()) return key.status();
  if (crypto_box_seal_open(key->mutable_data(),
                           reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(),
                           public_.data(), secret_.data()) != 0) {
    return absl::DataLossError("the sealed key does not open with this one-time key");
  }
  key->Seal();
  return key;
}

absl::StatusOr<std::string> SealKeyTo(std::string_view recipient_public_key, const Secret& key) {
  if (recipient_public_key.size() != crypto_box_PUBLICKEYBYTES) {
    return absl::InvalidArgumentError("recipient_public_key must be a 32-byte X25519 public key");
  }
  std::string sealed(crypto_box_SEALBYTES + key.size(), '\0');
  crypto_box_seal(reinterpret_cast<unsigned char*>(sealed.data()), key.data(), key.size(),
                  reinterpret_cast<const unsigned char*>(recipient_public_key.data()));
  return sealed;
}

}  // namespace koppel
