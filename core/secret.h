// Key material in libsodium guarded memory: allocated with sodium_malloc (guard pages,
// mlock'd, kept out of core dumps), read-only while unused, wiped with sodium_memzero on
// destruction. Every long-term or derived key in koppel lives in one of these.
#ifndef KOPPEL_CORE_SECRET_H_
#define KOPPEL_CORE_SECRET_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/statusor.h"

namespace koppel {

class Secret {
 public:
  // Zero-filled secret of `size` bytes, writable until Seal() is called.
  static absl::StatusOr<Secret> Allocate(size_t size);
  // Copies `bytes` into guarded memory and seals it. The caller wipes its own copy.
  static absl::StatusOr<Secret> FromBytes(std::span<const uint8_t> bytes);
  static absl::StatusOr<Secret> Random(size_t size);

  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret();

  uint8_t* mutable_data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> span() const { return {data_, size_}; }

  // Makes the memory read-only; any later write faults instead of silently changing a key.
  void Seal();

 private:
  Secret(uint8_t* data, size_t size) : data_(data), size_(size) {}
  void Release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Initialises libsodium once per process; safe to call from anywhere, any number of times.
absl::Status EnsureSodium();

}  // namespace koppel

#endif  // KOPPEL_CORE_SECRET_H_
