#include "core/oprf.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <string>

#include "core/status_macros.h"

namespace koppel {
namespace {

using namespace std::string_view_literals;

constexpr std::string_view kContextString = "OPRFV1-\x00-ristretto255-SHA512"sv;

constexpr size_t kSha512BlockSize = 128;  // s_in_bytes of RFC 9380
constexpr size_t kMaxExpandedSize = 255 * crypto_hash_sha512_BYTES;
constexpr size_t kMaxDstSize = 255;

using ByteParts = std::initializer_list<std::span<const uint8_t>>;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// I2OSP(n, 2).
std::array<uint8_t, 2> LengthPrefix(size_t n) {
  return {static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n & 0xff)};
}

const std::string& HashToGroupDst() {
  static const std::string dst = std::string("HashToGroup-").append(kContextString);
  return dst;
}

const std::string& HashToScalarDst() {
  static const std::string dst = std::string("HashToScalar-").append(kContextString);
  return dst;
}

const std::string& DeriveKeyPairDst() {
  static const std::string dst = std::string("DeriveKeyPair").append(kContextString);
  return dst;
}

// expand_message_xmd over a message given in parts (so a secret seed is never copied into
// one buffer). The caller has checked out.size() <= kMaxExpandedSize and 1 <= |dst| <= 255.
void ExpandXmd(ByteParts message, std::string_view dst, std::span<uint8_t> out) {
  constexpr size_t kHashSize = crypto_hash_sha512_BYTES;
  static constexpr std::array<uint8_t, kSha512BlockSize> kZeroPad{};
  const uint8_t dst_size = static_cast<uint8_t>(dst.size());
  const std::array<uint8_t, 2> out_size = LengthPrefix(out.size());
  const uint8_t zero = 0;

  crypto_hash_sha512_state state;
  uint8_t b0[kHashSize];
  uint8_t chained[kHashSize];
  uint8_t bi[kHashSize];

  // b_0 = H(Z_pad || msg || I2OSP(len_in_bytes, 2) || I2OSP(0, 1) || DST_prime)
  crypto_hash_sha512_init(&state);
  crypto_hash_sha512_update(&state, kZeroPad.data(), kZeroPad.size());
  for (std::span<const uint8_t> part : message) {
    crypto_hash_sha512_update(&state, part.data(), part.size());
  }
  crypto_hash_sha512_update(&state, out_size.data(), out_size.size());
  crypto_hash_sha512_update(&state, &zero, 1);
  crypto_hash_sha512_update(&state, Bytes(dst).data(), dst.size());
  crypto_hash_sha512_update(&state, &dst_size, 1);
  crypto_hash_sha512_final(&state, b0);

  // b_1 = H(b_0 || I2OSP(1, 1) || DST_prime), b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) ||
  // DST_prime); the output is b_1 || b_2 || ... truncated to len_in_bytes.
  std::copy(b0, b0 + kHashSize, chained);
  size_t written = 0;
  for (uint8_t i = 1; written < out.size(); ++i) {
    crypto_hash_sha512_init(&state);
    crypto_hash_sha512_update(&state, chained, kHashSize);
    crypto_hash_sha512_update(&state, &i, 1);
    crypto_hash_sha512_update(&state, Bytes(dst).data(), dst.size());
    crypto_hash_sha512_update(&state, &dst_size, 1);
    crypto_hash_sha512_final(&state, bi);
    const size_t n = std::min(kHashSize, out.size() - written);
    std::copy(bi, bi + n, out.begin() + static_cast<ptrdiff_t>(written));
    written += n;
    for (size_t j = 0; j < kHashSize; ++j) chained[j] = static_cast<uint8_t>(b0[j] ^ bi[j]);
  }

  sodium_memzero(&state, sizeof state);
  sodium_memzero(b0, sizeof b0);
  sodium_memzero(chained, sizeof chained);
  sodium_memzero(bi, sizeof bi);
}

// HashToScalar: 64 uniform bytes read as a little-endian integer, reduced mod the order.
void HashToScalar(ByteParts message, std::string_view dst, uint8_t* scalar) {
  uint8_t wide[crypto_core_ristretto255_NONREDUCEDSCALARBYTES];
  ExpandXmd(message, dst, wide);
  crypto_core_ristretto255_scalar_reduce(scalar, wide);
  sodium_memzero(wide, sizeof wide);
}

bool IsAllZero(std::span<const uint8_t> bytes) {
  return sodium_is_zero(bytes.data(), bytes.size()) != 0;
}

// The identity element encodes as 32 zero bytes.
bool IsIdentity(const OprfElement& element) { return IsAllZero(element); }

bool IsCanonicalNonZeroScalar(std::span<const uint8_t> bytes) {
  if (bytes.size() != kOprfScalarSize) return false;
  uint8_t wide[crypto_core_ristretto255_NONREDUCEDSCALARBYTES] = {};
  std::copy(bytes.begin(), bytes.end(), wide);
  uint8_t reduced[kOprfScalarSize];
  crypto_core_ristretto255_scalar_reduce(reduced, wide);
  const bool canonical = sodium_memcmp(reduced, bytes.data(), kOprfScalarSize) == 0;
  sodium_memzero(wide, sizeof wide);
  sodium_memzero(reduced, sizeof reduced);
  return canonical && !IsAllZero(bytes);
}

absl::Status CheckInputSize(std::span<const uint8_t> input, std::string_view what) {
  if (input.size() > kOprfMaxInputSize) {
    return absl::InvalidArgumentError(fmt::format("the OPRF {} is {} bytes; at most {} allowed",
                                                  what, input.size(), kOprfMaxInputSize));
  }
  return absl::OkStatus();
}

// Says why crypto_scalarmult_ristretto255 refused `element` (`what` names it). With a
// non-zero scalar in a prime-order group it only fails on a bad encoding or the identity.
absl::Status InvalidElementError(std::string_view what, const OprfElement& element) {
  if (crypto_core_ristretto255_is_valid_point(element.data()) == 0) {
    return absl::InvalidArgumentError(
        fmt::format("{} is not a canonical ristretto255 encoding", what));
  }
  if (IsIdentity(element)) {
    return absl::InvalidArgumentError(fmt::format("{} is the identity element", what));
  }
  return absl::InternalError(fmt::format("scalar multiplication of the {} failed", what));
}

// SHA-512(I2OSP(len(input), 2) || input || I2OSP(Ne, 2) || element || "Finalize").
OprfOutput FinalizeHash(std::span<const uint8_t> input, const OprfElement& element) {
  const std::array<uint8_t, 2> input_size = LengthPrefix(input.size());
  const std::array<uint8_t, 2> element_size = LengthPrefix(element.size());
  const std::span<const uint8_t> label = Bytes("Finalize");
  crypto_hash_sha512_state state;
  crypto_hash_sha512_init(&state);
  crypto_hash_sha512_update(&state, input_size.data(), input_size.size());
  crypto_hash_sha512_update(&state, input.data(), input.size());
  crypto_hash_sha512_update(&state, element_size.data(), element_size.size());
  crypto_hash_sha512_update(&state, element.data(), element.size());
  crypto_hash_sha512_update(&state, label.data(), label.size());
  OprfOutput output;
  crypto_hash_sha512_final(&state, output.data());
  sodium_memzero(&state, sizeof state);
  return output;
}

// blind * HashToGroup(input) into `blinded`; `what` names the input in errors.
absl::Status BlindWith(std::span<const uint8_t> input, const uint8_t* blind, std::string_view what,
                       OprfElement* blinded) {
  RETURN_IF_ERROR(CheckInputSize(input, what));
  const OprfElement input_element = OprfHashToGroup(input);
  if (IsIdentity(input_element)) {
    return absl::InvalidArgumentError(
        fmt::format("the OPRF {} hashes to the identity element", what));
  }
  if (crypto_scalarmult_ristretto255(blinded->data(), blind, input_element.data()) != 0) {
    return absl::InternalError(fmt::format("blinding the OPRF {} failed", what));
  }
  return absl::OkStatus();
}

// Finalize with the blind's inverse already computed; `what` names the evaluated element.
absl::StatusOr<OprfOutput> UnblindAndHash(std::span<const uint8_t> input, const uint8_t* inverse,
                                          const OprfElement& evaluated_element,
                                          std::string_view what) {
  OprfElement unblinded;
  if (crypto_scalarmult_ristretto255(unblinded.data(), inverse, evaluated_element.data()) != 0) {
    return InvalidElementError(what, evaluated_element);
  }
  OprfOutput output = FinalizeHash(input, unblinded);
  sodium_memzero(unblinded.data(), unblinded.size());
  return output;
}

// The inverses of `scalars` (all non-zero) by Montgomery's trick: with prefix products
// p_i = s_0 * ... * s_i, one inversion of p_(n-1), then walking back s_i^-1 = p_(i-1) * (p_i)^-1
// and (p_(i-1))^-1 = s_i * (p_i)^-1. `prefix` is scratch of the same size; both are secret.
void InvertAll(std::span<const OprfScalar> scalars, std::span<OprfScalar> prefix,
               std::span<OprfScalar> inverses) {
  const size_t n = scalars.size();
  if (n == 0) return;
  prefix[0] = scalars[0];
  for (size_t i = 1; i < n; ++i) {
    crypto_core_ristretto255_scalar_mul(prefix[i].data(), prefix[i - 1].data(), scalars[i].data());
  }
  OprfScalar running;  // (p_i)^-1
  (void)crypto_core_ristretto255_scalar_invert(running.data(), prefix[n - 1].data());
  for (size_t i = n - 1; i > 0; --i) {
    crypto_core_ristretto255_scalar_mul(inverses[i].data(), running.data(), prefix[i - 1].data());
    crypto_core_ristretto255_scalar_mul(running.data(), running.data(), scalars[i].data());
  }
  inverses[0] = running;
  sodium_memzero(running.data(), running.size());
}

// `status` of one element of a batch, saying which: "element 7 of the batch: ...".
absl::Status AtIndex(const absl::Status& status, size_t index) {
  return absl::Status(status.code(), fmt::format("element {} of the batch: {}", index,
                                                 std::string(status.message())));
}

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Parts of a batch are at least this many elements: a part costs a few microseconds to hand to
// a thread and one scalar inversion, against about 60 per element for a scalar multiplication.
constexpr size_t kMinBatchPart = 64;

}  // namespace

std::string_view OprfContextString() { return kContextString; }

OprfElement OprfHashToGroup(std::span<const uint8_t> message) {
  uint8_t uniform[crypto_core_ristretto255_HASHBYTES];
  ExpandXmd({message}, HashToGroupDst(), uniform);
  OprfElement element;
  crypto_core_ristretto255_from_hash(element.data(), uniform);
  sodium_memzero(uniform, sizeof uniform);
  return element;
}

OprfScalar OprfHashToScalar(std::span<const uint8_t> message) {
  OprfScalar scalar;
  HashToScalar({message}, HashToScalarDst(), scalar.data());
  return scalar;
}

absl::Status ExpandMessageXmdSha512(std::span<const uint8_t> message, std::string_view dst,
                                    std::span<uint8_t> out) {
  if (out.size() > kMaxExpandedSize) {
    return absl::InvalidArgumentError(fmt::format(
        "expand_message_xmd can produce at most {} bytes, not {}", kMaxExpandedSize, out.size()));
  }
  if (dst.empty() || dst.size() > kMaxDstSize) {
    return absl::InvalidArgumentError(
        fmt::format("a domain separation tag is 1 to {} bytes, not {}", kMaxDstSize, dst.size()));
  }
  ExpandXmd({message}, dst, out);
  return absl::OkStatus();
}

absl::StatusOr<OprfBlind> OprfBlind::Random() {
  RETURN_IF_ERROR(EnsureSodium());
  OprfBlind blind;
  crypto_core_ristretto255_scalar_random(blind.scalar_.data());
  return blind;
}

absl::StatusOr<OprfBlind> OprfBlind::FromBytes(std::span<const uint8_t> bytes) {
  if (!IsCanonicalNonZeroScalar(bytes)) {
    return absl::InvalidArgumentError(
        "an OPRF blind is a 32-byte little-endian scalar, non-zero and below the group order");
  }
  OprfBlind blind;
  std::copy(bytes.begin(), bytes.end(), blind.scalar_.begin());
  return blind;
}

OprfBlind::OprfBlind(OprfBlind&& other) noexcept : scalar_(other.scalar_) {
  sodium_memzero(other.scalar_.data(), other.scalar_.size());
}

OprfBlind& OprfBlind::operator=(OprfBlind&& other) noexcept {
  if (this != &other) {
    scalar_ = other.scalar_;
    sodium_memzero(other.scalar_.data(), other.scalar_.size());
  }
  return *this;
}

OprfBlind::~OprfBlind() { sodium_memzero(scalar_.data(), scalar_.size()); }

absl::StatusOr<OprfBlindedInput> BlindOprfInput(std::span<const uint8_t> input) {
  ASSIGN_OR_RETURN(OprfBlind blind, OprfBlind::Random());
  return BlindOprfInput(input, std::move(blind));
}

absl::StatusOr<OprfBlindedInput> BlindOprfInput(std::span<const uint8_t> input, OprfBlind blind) {
  if (IsAllZero(blind.bytes())) {
    return absl::InvalidArgumentError("the OPRF blind is zero (a moved-from blind?)");
  }
  OprfElement blinded;
  RETURN_IF_ERROR(BlindWith(input, blind.bytes().data(), "input", &blinded));
  return OprfBlindedInput{std::move(blind), blinded};
}

absl::StatusOr<OprfOutput> FinalizeOprf(std::span<const uint8_t> input, const OprfBlind& blind,
                                        const OprfElement& evaluated_element) {
  RETURN_IF_ERROR(CheckInputSize(input, "input"));
  OprfScalar inverse;
  if (crypto_core_ristretto255_scalar_invert(inverse.data(), blind.bytes().data()) != 0) {
    return absl::InvalidArgumentError("the OPRF blind is zero (a moved-from blind?)");
  }
  absl::StatusOr<OprfOutput> output =
      UnblindAndHash(input, inverse.data(), evaluated_element, "the evaluated element");
  sodium_memzero(inverse.data(), inverse.size());
  return output;
}

absl::StatusOr<OprfClientBatch> OprfClientBatch::Blind(std::span<const std::string> inputs,
                                                       std::vector<OprfElement>* blinded,
                                                       WorkerPool* pool) {
  RETURN_IF_ERROR(EnsureSodium());
  OprfClientBatch batch(inputs.size());
  blinded->resize(inputs.size());
  RETURN_IF_ERROR(ParallelFor(pool, inputs.size(), kMinBatchPart, [&](size_t begin, size_t end) {
    // RandomScalar by reduction: 64 uniform bytes mod the group order are uniform to within
    // 2^-260; zero (about 2^-252) is drawn again.
    constexpr size_t kWide = crypto_core_ristretto255_NONREDUCEDSCALARBYTES;
    std::vector<uint8_t> wide((end - begin) * kWide);
    randombytes_buf(wide.data(), wide.size());
    absl::Status status;
    for (size_t i = begin; i < end && status.ok(); ++i) {
      uint8_t* random = wide.data() + (i - begin) * kWide;
      OprfScalar& blind = batch.blinds_[i];
      crypto_core_ristretto255_scalar_reduce(blind.data(), random);
      while (IsAllZero(blind)) crypto_core_ristretto255_scalar_random(blind.data());
      status = BlindWith(AsBytes(inputs[i]), blind.data(), "input", &(*blinded)[i]);
      if (!status.ok()) status = AtIndex(status, i);
    }
    sodium_memzero(wide.data(), wide.size());
    return status;
  }));
  return batch;
}

absl::StatusOr<OprfClientBatch> OprfClientBatch::Blind(std::span<const std::string> inputs,
                                                       std::span<const OprfBlind> blinds,
                                                       std::vector<OprfElement>* blinded,
                                                       WorkerPool* pool) {
  if (blinds.size() != inputs.size()) {
    return absl::InvalidArgumentError(
        fmt::format("{} OPRF inputs but {} blinds", inputs.size(), blinds.size()));
  }
  OprfClientBatch batch(inputs.size());
  blinded->resize(inputs.size());
  RETURN_IF_ERROR(ParallelFor(pool, inputs.size(), kMinBatchPart, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      if (IsAllZero(blinds[i].bytes())) {
        return AtIndex(absl::InvalidArgumentError("the OPRF blind is zero (a moved-from blind?)"),
                       i);
      }
      std::copy(blinds[i].bytes().begin(), blinds[i].bytes().end(), batch.blinds_[i].begin());
      if (absl::Status s =
              BlindWith(AsBytes(inputs[i]), batch.blinds_[i].data(), "input", &(*blinded)[i]);
          !s.ok()) {
        return AtIndex(s, i);
      }
    }
    return absl::OkStatus();
  }));
  return batch;
}

OprfClientBatch& OprfClientBatch::operator=(OprfClientBatch&& other) noexcept {
  if (this != &other) {
    Wipe();
    blinds_ = std::move(other.blinds_);
    other.blinds_.clear();
  }
  return *this;
}

OprfClientBatch::~OprfClientBatch() { Wipe(); }

void OprfClientBatch::Wipe() {
  if (!blinds_.empty()) sodium_memzero(blinds_.data(), blinds_.size() * sizeof(OprfScalar));
}

absl::Status OprfClientBatch::Finalize(std::span<const std::string> inputs,
                                       std::span<const OprfElement> evaluated,
                                       std::span<OprfOutput> outputs, WorkerPool* pool) const {
  if (inputs.size() != size() || evaluated.size() != size() || outputs.size() != size()) {
    return absl::InvalidArgumentError(fmt::format(
        "a batch of {} blinds finalized with {} inputs, {} evaluated elements and room for {} "
        "outputs",
        size(), inputs.size(), evaluated.size(), outputs.size()));
  }
  absl::Status status =
      ParallelFor(pool, size(), kMinBatchPart, [&](size_t begin, size_t end) -> absl::Status {
        const std::span<const OprfScalar> blinds(blinds_.data() + begin, end - begin);
        std::vector<OprfScalar> prefix(blinds.size()), inverses(blinds.size());
        InvertAll(blinds, prefix, inverses);
        absl::Status part;
        for (size_t i = begin; i < end && part.ok(); ++i) {
          part = CheckInputSize(AsBytes(inputs[i]), "input");
          if (part.ok()) {
            absl::StatusOr<OprfOutput> output =
                UnblindAndHash(AsBytes(inputs[i]), inverses[i - begin].data(), evaluated[i],
                               "the evaluated element");
            if (output.ok()) outputs[i] = *output;
            part = output.status();
          }
          if (!part.ok()) part = AtIndex(part, i);
        }
        sodium_memzero(prefix.data(), prefix.size() * sizeof(OprfScalar));
        sodium_memzero(inverses.data(), inverses.size() * sizeof(OprfScalar));
        return part;
      });
  if (!status.ok()) std::fill(outputs.begin(), outputs.end(), OprfOutput{});
  return status;
}

absl::StatusOr<OprfServerKey> OprfServerKey::Generate() {
  ASSIGN_OR_RETURN(Secret scalar, Secret::Allocate(kOprfScalarSize));
  crypto_core_ristretto255_scalar_random(scalar.mutable_data());
  scalar.Seal();
  return OprfServerKey(std::move(scalar));
}

absl::StatusOr<OprfServerKey> OprfServerKey::Derive(std::span<const uint8_t> seed,
                                                    std::span<const uint8_t> info) {
  if (seed.size() != kOprfScalarSize) {
    return absl::InvalidArgumentError(
        fmt::format("an OPRF key seed is {} bytes, not {}", kOprfScalarSize, seed.size()));
  }
  RETURN_IF_ERROR(CheckInputSize(info, "key info"));
  ASSIGN_OR_RETURN(Secret scalar, Secret::Allocate(kOprfScalarSize));
  const std::array<uint8_t, 2> info_size = LengthPrefix(info.size());
  // skS = HashToScalar(seed || I2OSP(len(info), 2) || info || I2OSP(counter, 1)) for the
  // first counter that gives a non-zero scalar.
  for (unsigned counter = 0; counter <= 255; ++counter) {
    const uint8_t counter_byte = static_cast<uint8_t>(counter);
    HashToScalar({seed, info_size, info, {&counter_byte, 1}}, DeriveKeyPairDst(),
                 scalar.mutable_data());
    if (!IsAllZero(scalar.span())) {
      scalar.Seal();
      return OprfServerKey(std::move(scalar));
    }
  }
  return absl::InternalError("DeriveKeyPair: every counter gave the zero scalar");
}

absl::StatusOr<OprfServerKey> OprfServerKey::FromSecret(const Secret& serialized) {
  if (!IsCanonicalNonZeroScalar(serialized.span())) {
    return absl::InvalidArgumentError(
        "an OPRF server key is a 32-byte little-endian scalar, non-zero and below the group "
        "order");
  }
  ASSIGN_OR_RETURN(Secret scalar, Secret::FromBytes(serialized.span()));
  return OprfServerKey(std::move(scalar));
}

absl::StatusOr<OprfElement> OprfServerKey::BlindEvaluate(const OprfElement& blinded_element) const {
  OprfElement evaluated;
  if (crypto_scalarmult_ristretto255(evaluated.data(), scalar_.data(), blinded_element.data()) !=
      0) {
    return InvalidElementError("the blinded element", blinded_element);
  }
  return evaluated;
}

absl::Status OprfServerKey::BlindEvaluateBatch(std::span<const OprfElement> blinded,
                                               std::span<OprfElement> evaluated,
                                               WorkerPool* pool) const {
  if (blinded.size() != evaluated.size()) {
    return absl::InvalidArgumentError(fmt::format(
        "{} blinded elements but room for {} evaluated ones", blinded.size(), evaluated.size()));
  }
  const uint8_t* scalar = scalar_.data();
  absl::Status status =
      ParallelFor(pool, blinded.size(), kMinBatchPart, [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i) {
          if (crypto_scalarmult_ristretto255(evaluated[i].data(), scalar, blinded[i].data()) != 0) {
            return InvalidElementError(fmt::format("blinded element {} of the batch", i),
                                       blinded[i]);
          }
        }
        return absl::OkStatus();
      });
  if (!status.ok()) std::fill(evaluated.begin(), evaluated.end(), OprfElement{});
  return status;
}

absl::StatusOr<OprfOutput> OprfServerKey::Evaluate(std::span<const uint8_t> input) const {
  RETURN_IF_ERROR(CheckInputSize(input, "input"));
  const OprfElement input_element = OprfHashToGroup(input);
  if (IsIdentity(input_element)) {
    return absl::InvalidArgumentError("the OPRF input hashes to the identity element");
  }
  OprfElement evaluated;
  if (crypto_scalarmult_ristretto255(evaluated.data(), scalar_.data(), input_element.data()) != 0) {
    return absl::InternalError("evaluating the OPRF failed");
  }
  OprfOutput output = FinalizeHash(input, evaluated);
  sodium_memzero(evaluated.data(), evaluated.size());
  return output;
}

}  // namespace koppel
