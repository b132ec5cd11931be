#include "core/hmac.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/hex.h"

namespace koppel {

Digest256 Sha256(std::string_view bytes) {
  Digest256 out;
  crypto_hash_sha256(out.data(), reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size());
  return out;
}

std::string Sha256Hex(std::string_view bytes) { return ToHex(Sha256(bytes)); }

Digest256 HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> message) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  crypto_auth_hmacsha256_update(&st, message.data(), message.size());
  Digest256 out;
  crypto_auth_hmacsha256_final(&st, out.data());
  sodium_memzero(&st, sizeof st);
  return out;
}

absl::StatusOr<HmacSha256Key> HmacSha256Key::Create(std::span<const uint8_t> key) {
  absl::StatusOr<Secret> state = Secret::Allocate(sizeof(crypto_auth_hmacsha256_state));
  if (!state.ok()) return state.status();
  crypto_auth_hmacsha256_init(
      reinterpret_cast<crypto_auth_hmacsha256_state*>(state->mutable_data()), key.data(),
      key.size());
  state->Seal();
  return HmacSha256Key(std::move(*state));
}

Digest256 HmacSha256Key::Mac(std::span<const uint8_t> message) const {
  crypto_auth_hmacsha256_state st = *state();
  crypto_auth_hmacsha256_update(&st, message.data(), message.size());
  Digest256 out;
  crypto_auth_hmacsha256_final(&st, out.data());
  sodium_memzero(&st, sizeof st);
  return out;
}

absl::StatusOr<Secret> HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                                  std::string_view info, size_t length) {
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr),
                                                        &EVP_KDF_free);
  if (!kdf) return absl::InternalError("OpenSSL has no HKDF implementation");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                &EVP_KDF_CTX_free);
  if (!ctx) return absl::InternalError("cannot create an HKDF context");
  char digest[] = "SHA256";
  // RFC 5869: a missing salt is HashLen zero bytes. OpenSSL refuses an empty salt parameter,
  // so the zeros are passed explicitly (HMAC pads short keys with zeros: the result is equal).
  uint8_t zero_salt[32] = {};
  if (salt.empty()) salt = zero_salt;
  // OpenSSL takes the parameters through non-const pointers but does not write them.
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()), ikm.size()),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()), salt.size()),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
                         OSSL_PARAM_construct_end()};
  absl::StatusOr<Secret> out = Secret::Allocate(length);
  if (!out.ok()) return out;
  if (EVP_KDF_derive(ctx.get(), out->mutable_data(), length, params) != 1) {
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("HKDF-SHA256 derivation failed: ", reason));
  }
  out->Seal();
  return out;
}

}  // namespace koppel
