// Counts rows that repeat an earlier row, in bounded memory: each row is reduced to a 128-bit
// keyed fingerprint (SipHash-128 under a key random per run and held only in guarded memory, so
// the fingerprints reveal nothing and cannot be tested against guesses), fingerprints are held up to a limit, then spilled as sorted
// runs to an anonymous temporary file and merged at the end.
#ifndef KOPPEL_AGENTS_DUPLICATE_COUNTER_H_
#define KOPPEL_AGENTS_DUPLICATE_COUNTER_H_

#include <array>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/secret.h"

namespace koppel {

class DuplicateCounter {
 public:
  using Fingerprint = std::array<uint64_t, 2>;

  static absl::StatusOr<DuplicateCounter> Create(size_t max_in_memory = 1 << 20);
  DuplicateCounter(DuplicateCounter&&) noexcept;
  DuplicateCounter& operator=(DuplicateCounter&&) = delete;
  ~DuplicateCounter();

  // `normalised` is the row's canonical content.
  absl::Status Add(std::string_view normalised);
  // Number of added rows equal to an earlier one. Call once, after the last Add().
  absl::StatusOr<uint64_t> CountDuplicates();

 private:
  DuplicateCounter(Secret key, size_t max_in_memory)
      : key_(std::move(key)), max_in_memory_(max_in_memory) {}
  absl::Status Spill();

  Secret key_;
  size_t max_in_memory_;
  std::vector<Fingerprint> buffer_;
  FILE* spill_ = nullptr;
  std::vector<std::pair<uint64_t, uint64_t>> runs_;  // offset and count, in fingerprints
};

}  // namespace koppel

#endif  // KOPPEL_AGENTS_DUPLICATE_COUNTER_H_
