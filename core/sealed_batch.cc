#include "core/sealed_batch.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <cstring>

#include "core/hex.h"

namespace koppel {
namespace {

constexpr char kSignatureDomain[] = "koppel/v1/sealed-batch";

void AppendU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// SHA-256 through OpenSSL, which uses the CPU's SHA extensions where libsodium does not: the
// id is computed over every sealed byte, so this is on the agent's hot path.
std::string BatchIdOf(const std::string& sealed) {
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest;
  SHA256(reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(), digest.data());
  return ToHex(digest);
}

}  // namespace

std::string SignedBytes(const v1::SealedBatch& batch) {
  std::string out(kSignatureDomain, sizeof kSignatureDomain);  // includes the NUL
  AppendU64(&out, batch.format_version());
  AppendU64(&out, batch.dataset().size());
  out += batch.dataset();
  AppendU64(&out, batch.record_count());
  AppendU64(&out, batch.batch_id().size());
  out += batch.batch_id();
  AppendU64(&out, batch.covenant_id().size());
  out += batch.covenant_id();
  return out;
}

SigningPublicKey SigningPublicKeyOf(const Secret& signing_secret_key) {
  SigningPublicKey pk{};
  if (signing_secret_key.size() == crypto_sign_SECRETKEYBYTES) {
    crypto_sign_ed25519_sk_to_pk(pk.data(), signing_secret_key.data());
  }
  return pk;
}

absl::StatusOr<v1::SealedBatch> SealBatch(const v1::BatchPayload& payload,
                                          const BoxPublicKey& linker_public_key,
                                          const Secret& signing_secret_key, std::string* scratch) {
  if (absl::Status s = EnsureSodium(); !s.ok()) return s;
  if (signing_secret_key.size() != crypto_sign_SECRETKEYBYTES) {
    return absl::InvalidArgumentError("the signing key must be a 64-byte Ed25519 secret key");
  }
  if (!payload.SerializeToString(scratch)) {
    return absl::InternalError("cannot serialise the batch payload");
  }
  v1::SealedBatch batch;
  batch.set_format_version(kSealedBatchFormat);
  batch.set_dataset(payload.header().dataset());
  batch.set_covenant_id(payload.header().covenant_id());
  batch.set_record_count(static_cast<uint64_t>(payload.records_size()));
  std::string* sealed = batch.mutable_sealed_payload();
  sealed->resize(scratch->size() + crypto_box_SEALBYTES);
  int rc = crypto_box_seal(reinterpret_cast<unsigned char*>(sealed->data()),
                           reinterpret_cast<const unsigned char*>(scratch->data()), scratch->size(),
                           linker_public_key.data());
  sodium_memzero(scratch->data(), scratch->size());
  if (rc != 0) return absl::InvalidArgumentError("the linker's public key is not usable");
  batch.set_batch_id(BatchIdOf(*sealed));
  SigningPublicKey pk = SigningPublicKeyOf(signing_secret_key);
  batch.set_signer_public_key(pk.data(), pk.size());
  std::string signed_bytes = SignedBytes(batch);
  std::array<uint8_t, crypto_sign_BYTES> signature;
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(signed_bytes.data()),
                       signed_bytes.size(), signing_secret_key.data());
  batch.set_signature(signature.data(), signature.size());
  return batch;
}

absl::Status VerifySealedBatch(const v1::SealedBatch& batch) {
  if (batch.format_version() != kSealedBatchFormat) {
    return absl::InvalidArgumentError(fmt::format("sealed batch has format {}, expected {}",
                                                  batch.format_version(), kSealedBatchFormat));
  }
  if (batch.signer_public_key().size() != crypto_sign_PUBLICKEYBYTES ||
      batch.signature().size() != crypto_sign_BYTES) {
    return absl::InvalidArgumentError("sealed batch has no valid signer key or signature");
  }
  if (BatchIdOf(batch.sealed_payload()) != batch.batch_id()) {
    return absl::DataLossError("sealed batch id does not match its content (corrupted?)");
  }
  std::string signed_bytes = SignedBytes(batch);
  if (crypto_sign_verify_detached(
          reinterpret_cast<const unsigned char*>(batch.signature().data()),
          reinterpret_cast<const unsigned char*>(signed_bytes.data()), signed_bytes.size(),
          reinterpret_cast<const unsigned char*>(batch.signer_public_key().data())) != 0) {
    return absl::UnauthenticatedError("sealed batch signature is not valid");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::BatchPayload> OpenSealedBatch(const v1::SealedBatch& batch,
                                                 const BoxPublicKey& linker_public_key,
                                                 const Secret& linker_secret_key) {
  if (absl::Status s = VerifySealedBatch(batch); !s.ok()) return s;
  const std::string& sealed = batch.sealed_payload();
  if (sealed.size() < crypto_box_SEALBYTES ||
      linker_secret_key.size() != crypto_box_SECRETKEYBYTES) {
    return absl::InvalidArgumentError("sealed batch is too short or the linker key is wrong");
  }
  absl::StatusOr<Secret> plain = Secret::Allocate(sealed.size() - crypto_box_SEALBYTES + 1);
  if (!plain.ok()) return plain.status();
  if (crypto_box_seal_open(plain->mutable_data(),
                           reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(),
                           linker_public_key.data(), linker_secret_key.data()) != 0) {
    return absl::PermissionDeniedError("sealed batch was not sealed for this linker key");
  }
  v1::BatchPayload payload;
  if (!payload.ParseFromArray(plain->data(), static_cast<int>(plain->size() - 1))) {
    return absl::DataLossError("sealed batch payload is not a valid BatchPayload");
  }
  if (payload.header().dataset() != batch.dataset() ||
      payload.header().covenant_id() != batch.covenant_id() ||
      static_cast<uint64_t>(payload.records_size()) != batch.record_count()) {
    return absl::InvalidArgumentError("sealed batch envelope disagrees with its payload");
  }
  return payload;
}

}  // namespace koppel
