#include "tests/fuzz/fuzz_support.h"

#include <sodium.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "spdlog/spdlog.h"

namespace koppel::fuzz {
namespace {

uint64_t random_calls = 0;

void FillRandom(void* buf, size_t size) {
  std::array<uint8_t, randombytes_SEEDBYTES> seed{};
  for (size_t i = 0; i < 8; ++i) seed[i] = static_cast<uint8_t>(random_calls >> (8 * i));
  seed[8] = 0x6b;  // 'k'
  ++random_calls;
  randombytes_buf_deterministic(buf, size, seed.data());
}

uint32_t Random() {
  uint32_t value;
  FillRandom(&value, sizeof value);
  return value;
}

uint32_t Uniform(const uint32_t upper_bound) {
  if (upper_bound < 2) return 0;
  const uint32_t min = (1U + ~upper_bound) % upper_bound;
  uint32_t value;
  do {
    value = Random();
  } while (value < min);
  return value % upper_bound;
}

const char* ImplementationName() { return "koppel-fuzz-deterministic"; }

randombytes_implementation deterministic = {
    ImplementationName, Random, nullptr, Uniform, FillRandom, nullptr,
};

const Secret& SigningKeyFromSeed(uint8_t tag) {
  std::array<uint8_t, crypto_sign_SEEDBYTES> seed{};
  seed.fill(tag);
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk;
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> sk;
  crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
  absl::StatusOr<Secret> secret = Secret::FromBytes(sk);
  Check(secret.ok(), "cannot allocate a test key");
  return *new Secret(std::move(*secret));
}

struct BoxKeys {
  BoxPublicKey public_key;
  Secret* secret_key;
};

const BoxKeys& LinkerBoxKeys() {
  static const BoxKeys* keys = [] {
    std::array<uint8_t, crypto_box_SEEDBYTES> seed{};
    seed.fill(0x4c);
    auto* result = new BoxKeys{};
    std::array<uint8_t, crypto_box_SECRETKEYBYTES> sk;
    crypto_box_seed_keypair(result->public_key.data(), sk.data(), seed.data());
    absl::StatusOr<Secret> secret = Secret::FromBytes(sk);
    Check(secret.ok(), "cannot allocate a test key");
    result->secret_key = new Secret(std::move(*secret));
    return result;
  }();
  return *keys;
}

}  // namespace

void InitForFuzzing() {
  randombytes_set_implementation(&deterministic);
  Check(EnsureSodium().ok(), "libsodium does not start");
  spdlog::set_level(spdlog::level::off);
}

void ResetRandom() { random_calls = 0; }

const Secret& TestAgentSigningKey() {
  static const Secret& key = SigningKeyFromSeed(0x41);
  return key;
}

const Secret& TestLinkerSigningKey() {
  static const Secret& key = SigningKeyFromSeed(0x4b);
  return key;
}

const Secret& TestAuditSigningKey() {
  static const Secret& key = SigningKeyFromSeed(0x55);
  return key;
}

SigningPublicKey PublicKeyOf(const Secret& signing_key) { return SigningPublicKeyOf(signing_key); }

const BoxPublicKey& TestLinkerBoxPublicKey() { return LinkerBoxKeys().public_key; }
const Secret& TestLinkerBoxSecretKey() { return *LinkerBoxKeys().secret_key; }

void Check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "fuzz property broken: %s\n", what);
  std::abort();
}

MemFile::MemFile(std::span<const uint8_t> bytes) : fd_(memfd_create("koppel-fuzz", MFD_CLOEXEC)) {
  Check(fd_ >= 0, "memfd_create failed");
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + written, bytes.size() - written);
    Check(n > 0, "cannot write the memfd");
    written += static_cast<size_t>(n);
  }
  path_ = "/proc/self/fd/" + std::to_string(fd_);
}

MemFile::~MemFile() { ::close(fd_); }

}  // namespace koppel::fuzz
