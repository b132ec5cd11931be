#include "core/secret.h"

#include <sodium.h>

#include <cstring>
#include <utility>

namespace koppel {

absl::Status EnsureSodium() {
  static const int rc = sodium_init();
  if (rc < 0) return absl::InternalError("libsodium failed to initialise");
  return absl::OkStatus();
}

absl::StatusOr<Secret> Secret::Allocate(size_t size) {
  if (absl::Status s = EnsureSodium(); !s.ok()) return s;
  if (size == 0) return absl::InvalidArgumentError("a secret cannot be empty");
  auto* data = static_cast<uint8_t*>(sodium_malloc(size));
  if (data == nullptr) {
    return absl::ResourceExhaustedError(
        "cannot allocate guarded memory for a key (raise the locked-memory limit, ulimit -l)");
  }
  sodium_memzero(data, size);
  return Secret(data, size);
}

absl::StatusOr<Secret> Secret::FromBytes(std::span<const uint8_t> bytes) {
  absl::StatusOr<Secret> secret = Allocate(bytes.size());
  if (!secret.ok()) return secret;
  std::memcpy(secret->data_, bytes.data(), bytes.size());
  secret->Seal();
  return secret;
}

absl::StatusOr<Secret> Secret::Random(size_t size) {
  absl::StatusOr<Secret> secret = Allocate(size);
  if (!secret.ok()) return secret;
  randombytes_buf(secret->data_, size);
  secret->Seal();
  return secret;
}

Secret::Secret(Secret&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Secret::~Secret() { Release(); }

void Secret::Seal() {
  if (data_ != nullptr) sodium_mprotect_readonly(data_);
}

void Secret::Release() {
  if (data_ == nullptr) return;
  // sodium_free wipes the region before unmapping it; it needs write access to do so.
  sodium_mprotect_readwrite(data_);
  sodium_memzero(data_, size_);
  sodium_free(data_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace koppel
