// Sealed batches as the linker receives them. The first byte picks the mode; the rest is a
// SealedBatch message.
//   even: the message as it came, verified and opened with the test linker key.
//   odd:  the message's sealed_payload taken as plaintext: sealed to the test linker key, its id
//         set and signed with the test agent key, then opened, so that the payload parser and
//         the envelope checks see fuzzed bytes behind a valid seal and signature. A payload
//         that opens is sealed again with SealBatch and must open to the same payload.
#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/hex.h"
#include "core/sealed_batch.h"
#include "koppel/v1/batch.pb.h"
#include "tests/fuzz/fuzz_support.h"

using koppel::fuzz::Check;

namespace {

void SealAndSign(koppel::v1::SealedBatch* batch) {
  const std::string plain = batch->sealed_payload();
  std::string sealed(plain.size() + crypto_box_SEALBYTES, '\0');
  crypto_box_seal(reinterpret_cast<unsigned char*>(sealed.data()),
                  reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
                  koppel::fuzz::TestLinkerBoxPublicKey().data());
  std::array<uint8_t, crypto_hash_sha256_BYTES> id;
  crypto_hash_sha256(id.data(), reinterpret_cast<const unsigned char*>(sealed.data()),
                     sealed.size());
  batch->set_sealed_payload(std::move(sealed));
  batch->set_batch_id(koppel::ToHex(id));
  const koppel::Secret& agent = koppel::fuzz::TestAgentSigningKey();
  const koppel::SigningPublicKey pk = koppel::fuzz::PublicKeyOf(agent);
  batch->set_signer_public_key(pk.data(), pk.size());
  const std::string signed_bytes = koppel::SignedBytes(*batch);
  std::array<uint8_t, crypto_sign_BYTES> signature;
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(signed_bytes.data()),
                       signed_bytes.size(), agent.data());
  batch->set_signature(signature.data(), signature.size());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  koppel::fuzz::InitForFuzzing();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  koppel::fuzz::ResetRandom();
  const bool reseal = (data[0] & 1) != 0;
  koppel::v1::SealedBatch batch;
  if (!batch.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
  if (reseal) {
    batch.set_format_version(koppel::kSealedBatchFormat);
    SealAndSign(&batch);
    Check(koppel::VerifySealedBatch(batch).ok(),
          "a batch signed with the test key fails to verify");
  } else {
    (void)koppel::VerifySealedBatch(batch);
  }
  const koppel::BoxPublicKey& linker_pk = koppel::fuzz::TestLinkerBoxPublicKey();
  const koppel::Secret& linker_sk = koppel::fuzz::TestLinkerBoxSecretKey();
  absl::StatusOr<koppel::v1::BatchPayload> payload =
      koppel::OpenSealedBatch(batch, linker_pk, linker_sk);
  if (reseal && !payload.ok()) {
    Check(!absl::IsUnauthenticated(payload.status()) && !absl::IsPermissionDenied(payload.status()),
          "a batch sealed and signed with the test keys is refused as forged");
  }
  if (!payload.ok()) return 0;

  std::string scratch;
  absl::StatusOr<koppel::v1::SealedBatch> again =
      koppel::SealBatch(*payload, linker_pk, koppel::fuzz::TestAgentSigningKey(), &scratch);
  Check(again.ok(), "an opened payload cannot be sealed again");
  absl::StatusOr<koppel::v1::BatchPayload> reopened =
      koppel::OpenSealedBatch(*again, linker_pk, linker_sk);
  Check(reopened.ok(), "a payload sealed by SealBatch does not open");
  Check(reopened->SerializeAsString() == payload->SerializeAsString(),
        "a payload sealed again opens to other content");
  return 0;
}
