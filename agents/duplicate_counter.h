// Finds rows that repeat an earlier row, in bounded memory: each row is reduced to a 128-bit
// keyed fingerprint (SipHash-128 under a key random per run and held only in guarded memory, so
// the fingerprints reveal nothing and cannot be tested against guesses), kept with its record
// and line numbers in sorted runs that spill to an anonymous temporary file (sorted_runs.h),
// and merged at the end. What comes out is row numbers only, never content.
#ifndef KOPPEL_AGENTS_DUPLICATE_COUNTER_H_
#define KOPPEL_AGENTS_DUPLICATE_COUNTER_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string_view>
#include <tuple>

#include "absl/status/statusor.h"
#include "agents/sorted_runs.h"
#include "core/secret.h"

namespace koppel::agent {

// A row equal to an earlier one: its record and line numbers and the line of the first row
// with the same content.
struct DuplicateRow {
  uint64_t record = 0;
  uint64_t line = 0;
  uint64_t first_line = 0;
  bool operator<(const DuplicateRow& other) const { return record < other.record; }
};

class DuplicateCounter {
 public:
  using Fingerprint = std::array<uint64_t, 2>;

  // `max_in_memory` bounds the rows (and, separately, the duplicates) held before spilling.
  static absl::StatusOr<DuplicateCounter> Create(size_t max_in_memory = 1 << 20);
  DuplicateCounter(DuplicateCounter&&) noexcept = default;
  DuplicateCounter& operator=(DuplicateCounter&&) = delete;

  // `normalised` is the row's canonical content; rows are added in file order.
  absl::Status Add(std::string_view normalised, uint64_t record, uint64_t line);
  // Number of added rows equal to an earlier one; `each`, when given, sees every such row in
  // file order. Call once, after the last Add().
  absl::StatusOr<uint64_t> CountDuplicates(
      const std::function<absl::Status(const DuplicateRow&)>& each = nullptr);

 private:
  struct Entry {
    Fingerprint fingerprint;
    uint64_t record;
    uint64_t line;
    bool operator<(const Entry& other) const {
      return std::tie(fingerprint, record) < std::tie(other.fingerprint, other.record);
    }
  };

  DuplicateCounter(Secret key, size_t max_in_memory)
      : key_(std::move(key)), max_in_memory_(max_in_memory), rows_(max_in_memory) {}

  Secret key_;
  size_t max_in_memory_;
  SortedRuns<Entry> rows_;
};

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_DUPLICATE_COUNTER_H_
