// Sealing and signing batches (ARCHITECTURE section 3): the payload is encrypted to the
// linker's X25519 key with crypto_box_seal, so only the linker can open it, and signed with the
// agent's Ed25519 key, so the linker knows who sent it and that nothing changed on the way.
// The batch id is the SHA-256 of the sealed bytes: the same batch always has the same id.
#ifndef KOPPEL_CORE_SEALED_BATCH_H_
#define KOPPEL_CORE_SEALED_BATCH_H_

#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "core/secret.h"
#include "koppel/v1/batch.pb.h"

namespace koppel {

inline constexpr uint32_t kSealedBatchFormat = 1;
using BoxPublicKey = std::array<uint8_t, crypto_box_PUBLICKEYBYTES>;
using SigningPublicKey = std::array<uint8_t, crypto_sign_PUBLICKEYBYTES>;

// The bytes the signature covers: a domain tag, the format, the dataset, the record count and
// the batch id, so that no field of the envelope can be changed without breaking it.
std::string SignedBytes(const v1::SealedBatch& batch);

// Seals `payload` for the linker and signs it. `scratch` is reused between calls to avoid
// allocating a buffer per batch; it is wiped before returning.
absl::StatusOr<v1::SealedBatch> SealBatch(const v1::BatchPayload& payload,
                                          const BoxPublicKey& linker_public_key,
                                          const Secret& signing_secret_key, std::string* scratch);

// Checks format, id and signature without opening the batch.
absl::Status VerifySealedBatch(const v1::SealedBatch& batch);

// Verifies, opens and parses a batch; checks the envelope agrees with the payload.
absl::StatusOr<v1::BatchPayload> OpenSealedBatch(const v1::SealedBatch& batch,
                                                 const BoxPublicKey& linker_public_key,
                                                 const Secret& linker_secret_key);

// Public half of an Ed25519 secret key (libsodium keeps it in the last 32 bytes).
SigningPublicKey SigningPublicKeyOf(const Secret& signing_secret_key);

}  // namespace koppel

#endif  // KOPPEL_CORE_SEALED_BATCH_H_
