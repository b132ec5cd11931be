#include "core/receipt.h"

#include <sodium.h>

#include "core/sealed_batch.h"

namespace koppel {
namespace {

void Append(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void Append(std::string* out, const std::string& s) {
  Append(out, s.size());
  *out += s;
}

}  // namespace

int64_t ReceiptStoredAtSeconds(const v1::Receipt& r) {
  return r.has_store_time() ? r.store_time().seconds() : r.legacy_stored_at_unix_seconds();
}

std::string ReceiptSignedBytes(const v1::Receipt& r) {
  std::string out("koppel/v1/receipt", sizeof "koppel/v1/receipt");
  Append(&out, r.batch_id());
  Append(&out, r.dataset());
  Append(&out, r.covenant_id());
  Append(&out, r.sender());
  Append(&out, r.records_accepted());
  Append(&out, r.records_rejected());
  Append(&out, static_cast<uint64_t>(r.duplicate()));
  Append(&out, static_cast<uint64_t>(ReceiptStoredAtSeconds(r)));
  Append(&out, r.linker_public_key());
  return out;
}

absl::Status SignReceipt(const Secret& linker_signing_key, v1::Receipt* receipt) {
  if (linker_signing_key.size() != crypto_sign_SECRETKEYBYTES) {
    return absl::InvalidArgumentError("the linker signing key must be an Ed25519 secret key");
  }
  SigningPublicKey pk = SigningPublicKeyOf(linker_signing_key);
  receipt->set_linker_public_key(pk.data(), pk.size());
  std::string bytes = ReceiptSignedBytes(*receipt);
  unsigned char signature[crypto_sign_BYTES];
  crypto_sign_detached(signature, nullptr, reinterpret_cast<const unsigned char*>(bytes.data()),
                       bytes.size(), linker_signing_key.data());
  receipt->set_signature(signature, sizeof signature);
  return absl::OkStatus();
}

absl::Status VerifyReceipt(const v1::Receipt& receipt, const std::string& batch_id) {
  if (receipt.batch_id() != batch_id) {
    return absl::DataLossError("the receipt is for another batch");
  }
  if (receipt.linker_public_key().size() != crypto_sign_PUBLICKEYBYTES ||
      receipt.signature().size() != crypto_sign_BYTES) {
    return absl::UnauthenticatedError("the receipt carries no valid signature");
  }
  std::string bytes = ReceiptSignedBytes(receipt);
  if (crypto_sign_verify_detached(
          reinterpret_cast<const unsigned char*>(receipt.signature().data()),
          reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
          reinterpret_cast<const unsigned char*>(receipt.linker_public_key().data())) != 0) {
    return absl::UnauthenticatedError("the receipt's signature is not valid");
  }
  return absl::OkStatus();
}

}  // namespace koppel
