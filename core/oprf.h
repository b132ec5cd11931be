// RFC 9497 OPRF in mode OPRF (0x00) with the ciphersuite ristretto255-SHA512. A client learns
//   F(skS, input) = SHA-512(I2OSP(len(input), 2) || input || I2OSP(32, 2) ||
//                           skS * HashToGroup(input) || "Finalize")
// while the server, which holds skS, sees only a blinded group element, and the client never
// sees skS. No verifiability (VOPRF) and no public info (POPRF).
//
//   client:  BlindOprfInput(input)              -> blind, blinded_element  --> server
//   server:  OprfServerKey::BlindEvaluate(...)  -> evaluated_element       --> client
//   client:  FinalizeOprf(input, blind, evaluated_element) -> 64-byte output
//
// Everything is built on libsodium's ristretto255 and SHA-512; the RFC 9380 hashing
// construction (expand_message_xmd) is implemented here. Elements received from the other
// party are validated: a non-canonical encoding or the identity element is an error Status.
#ifndef KOPPEL_CORE_OPRF_H_
#define KOPPEL_CORE_OPRF_H_

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/secret.h"
#include "core/worker_pool.h"

namespace koppel {

inline constexpr size_t kOprfElementSize = crypto_core_ristretto255_BYTES;       // Ne
inline constexpr size_t kOprfScalarSize = crypto_core_ristretto255_SCALARBYTES;  // Ns
inline constexpr size_t kOprfOutputSize = crypto_hash_sha512_BYTES;              // Nh
// Inputs and key info are length-prefixed with two bytes, so they are at most 2^16 - 1 bytes.
inline constexpr size_t kOprfMaxInputSize = 65535;

using OprfElement = std::array<uint8_t, kOprfElementSize>;
using OprfScalar = std::array<uint8_t, kOprfScalarSize>;  // little-endian, canonical
using OprfOutput = std::array<uint8_t, kOprfOutputSize>;

// "OPRFV1-" || I2OSP(0x00, 1) || "-ristretto255-SHA512".
std::string_view OprfContextString();

// RFC 9380 section 5.3.1 expand_message_xmd with SHA-512: fills `out` (at most 255 * 64
// bytes) with uniform bytes. `dst` must be 1 to 255 bytes.
absl::Status ExpandMessageXmdSha512(std::span<const uint8_t> message, std::string_view dst,
                                    std::span<uint8_t> out);

// The suite's hash functions. HashToGroup is hash_to_ristretto255 (RFC 9380) with DST
// "HashToGroup-" || contextString: 64 bytes of expand_message_xmd through the ristretto255
// one-way map. HashToScalar is 64 bytes of expand_message_xmd with DST "HashToScalar-" ||
// contextString, read little-endian and reduced mod the group order.
OprfElement OprfHashToGroup(std::span<const uint8_t> message);
OprfScalar OprfHashToScalar(std::span<const uint8_t> message);

// The client's blinding scalar for one input: canonical and non-zero, wiped on destruction.
// Keep it from BlindOprfInput until FinalizeOprf; never send it.
class OprfBlind {
 public:
  // A uniformly random non-zero scalar.
  static absl::StatusOr<OprfBlind> Random();
  // A serialized scalar (32 bytes, little-endian). Refuses zero and values >= the group
  // order. For known-answer tests; production code uses Random().
  static absl::StatusOr<OprfBlind> FromBytes(std::span<const uint8_t> bytes);

  OprfBlind(OprfBlind&& other) noexcept;
  OprfBlind& operator=(OprfBlind&& other) noexcept;
  OprfBlind(const OprfBlind&) = delete;
  OprfBlind& operator=(const OprfBlind&) = delete;
  ~OprfBlind();

  std::span<const uint8_t, kOprfScalarSize> bytes() const { return scalar_; }

 private:
  OprfBlind() = default;
  std::array<uint8_t, kOprfScalarSize> scalar_{};
};

struct OprfBlindedInput {
  OprfBlind blind;              // stays with the client
  OprfElement blinded_element;  // goes to the server
};

// RFC 9497 Blind(input) with a fresh random blind. Fails for inputs longer than
// kOprfMaxInputSize and (with negligible probability) inputs that hash to the identity.
absl::StatusOr<OprfBlindedInput> BlindOprfInput(std::span<const uint8_t> input);
// The same with a caller-chosen blind: deterministic, for known-answer tests.
absl::StatusOr<OprfBlindedInput> BlindOprfInput(std::span<const uint8_t> input, OprfBlind blind);

// RFC 9497 Finalize: unblinds the server's answer and hashes it with the input. Fails if
// `evaluated_element` is not a canonical encoding of a non-identity element.
absl::StatusOr<OprfOutput> FinalizeOprf(std::span<const uint8_t> input, const OprfBlind& blind,
                                        const OprfElement& evaluated_element);

// The client's side of the protocol for a batch of inputs, with the outputs BlindOprfInput and
// FinalizeOprf give for each. Blind draws the blinds with one call to the random source per part
// of the batch (RFC 9497 random scalar generation with extra random bits: 64 bytes reduced mod
// the group order); Finalize inverts them with Montgomery's trick, one scalar inversion per part
// and three scalar products per blind instead of an inversion each. Both run on the threads of
// `pool` (none: the caller's). The blinds are wiped on destruction.
//
//   OprfClientBatch::Blind(inputs, &blinded)  -> batch, blinded elements  --> server
//   batch.Finalize(inputs, evaluated, outputs)
class OprfClientBatch {
 public:
  // Blind(input) of every input, with fresh random blinds; `blinded` gets the elements to send,
  // in the order of `inputs`. Fails like BlindOprfInput, naming the input's index.
  static absl::StatusOr<OprfClientBatch> Blind(std::span<const std::string> inputs,
                                               std::vector<OprfElement>* blinded,
                                               WorkerPool* pool = nullptr);
  // The same with caller-chosen blinds, one per input: for known-answer tests.
  static absl::StatusOr<OprfClientBatch> Blind(std::span<const std::string> inputs,
                                               std::span<const OprfBlind> blinds,
                                               std::vector<OprfElement>* blinded,
                                               WorkerPool* pool = nullptr);

  OprfClientBatch(OprfClientBatch&& other) noexcept = default;
  OprfClientBatch& operator=(OprfClientBatch&& other) noexcept;
  OprfClientBatch(const OprfClientBatch&) = delete;
  OprfClientBatch& operator=(const OprfClientBatch&) = delete;
  ~OprfClientBatch();

  size_t size() const { return blinds_.size(); }

  // Finalize of every input with the server's `evaluated` elements, into `outputs`; `inputs`
  // are those given to Blind, all three in the same order and of the batch's size. One invalid
  // evaluated element fails the batch: the error names its index and `outputs` are zeroed.
  absl::Status Finalize(std::span<const std::string> inputs, std::span<const OprfElement> evaluated,
                        std::span<OprfOutput> outputs, WorkerPool* pool = nullptr) const;

 private:
  explicit OprfClientBatch(size_t size) : blinds_(size) {}
  void Wipe();

  std::vector<OprfScalar> blinds_;
};

// The server's private key skS, a non-zero scalar, kept in guarded memory.
class OprfServerKey {
 public:
  // RFC 9497 GenerateKeyPair: a uniformly random non-zero scalar.
  static absl::StatusOr<OprfServerKey> Generate();
  // RFC 9497 section 3.2.1 DeriveKeyPair: deterministic in (seed, info). `seed` must be
  // kOprfScalarSize bytes from a secure random source and is as secret as the key; `info`
  // is public and at most kOprfMaxInputSize bytes.
  static absl::StatusOr<OprfServerKey> Derive(std::span<const uint8_t> seed,
                                              std::span<const uint8_t> info);
  // A serialized key (skSm: 32 bytes, little-endian), e.g. read with ReadKeyFile. Refuses
  // zero and values >= the group order.
  static absl::StatusOr<OprfServerKey> FromSecret(const Secret& serialized);

  // The serialized key (skSm), for WriteKeyFile.
  const Secret& serialized() const { return scalar_; }

  // RFC 9497 BlindEvaluate: skS * blinded_element. Fails if `blinded_element` is not a
  // canonical encoding of a non-identity element.
  absl::StatusOr<OprfElement> BlindEvaluate(const OprfElement& blinded_element) const;
  // BlindEvaluate over a whole batch, on the threads of `pool` (none: the caller's); `evaluated`
  // must have the size of `blinded`. One invalid element fails the batch: the error names its
  // index (the lowest, if several are invalid) and `evaluated` is zeroed.
  absl::Status BlindEvaluateBatch(std::span<const OprfElement> blinded,
                                  std::span<OprfElement> evaluated,
                                  WorkerPool* pool = nullptr) const;
  // RFC 9497 Evaluate: the PRF output computed directly from the input, without blinding.
  // Equal to what a client gets from Blind, BlindEvaluate and Finalize with this key.
  absl::StatusOr<OprfOutput> Evaluate(std::span<const uint8_t> input) const;

 private:
  explicit OprfServerKey(Secret scalar) : scalar_(std::move(scalar)) {}
  Secret scalar_;
};

}  // namespace koppel

#endif  // KOPPEL_CORE_OPRF_H_
