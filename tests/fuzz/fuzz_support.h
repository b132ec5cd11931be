// What the fuzz harnesses share: fixed test keys (derived from constant seeds, published here,
// so they protect nothing), a reproducible random source for libsodium, files in memory for
// readers that take a path, and silence: no harness prints anything of its input.
#ifndef KOPPEL_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define KOPPEL_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

#include "core/sealed_batch.h"
#include "core/secret.h"

namespace koppel::fuzz {

// Call first in LLVMFuzzerInitialize (or main): installs the reproducible random source before
// libsodium starts, initialises libsodium and switches logging off.
void InitForFuzzing();

// Restarts the random stream, so that one input always meets the same random bytes.
void ResetRandom();

// Ed25519 secret keys (64 bytes): the agent that seals, the linker that signs receipts, the
// service that signs audit entries.
const Secret& TestAgentSigningKey();
const Secret& TestLinkerSigningKey();
const Secret& TestAuditSigningKey();
SigningPublicKey PublicKeyOf(const Secret& signing_key);

// The linker's X25519 key pair that batches are sealed to.
const BoxPublicKey& TestLinkerBoxPublicKey();
const Secret& TestLinkerBoxSecretKey();

// Aborts (a crash libFuzzer reports with the input) when `condition` is false; `what` names the
// broken property and never holds input.
void Check(bool condition, const char* what);

// A file in memory (memfd) holding `bytes`, named by a path under /proc/self/fd.
class MemFile {
 public:
  explicit MemFile(std::span<const uint8_t> bytes);
  ~MemFile();
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_;
  std::filesystem::path path_;
};

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace koppel::fuzz

#endif  // KOPPEL_TESTS_FUZZ_FUZZ_SUPPORT_H_
