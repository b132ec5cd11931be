#include "agents/duplicate_counter.h"

#include <sodium.h>

#include "core/status_macros.h"

namespace koppel::agent {

absl::StatusOr<DuplicateCounter> DuplicateCounter::Create(size_t max_in_memory) {
  absl::StatusOr<Secret> key = Secret::Random(crypto_shorthash_siphashx24_KEYBYTES);
  if (!key.ok()) return key.status();
  return DuplicateCounter(std::move(*key), max_in_memory);
}

absl::Status DuplicateCounter::Add(std::string_view normalised, uint64_t record, uint64_t line) {
  Entry entry{{}, record, line};
  static_assert(sizeof entry.fingerprint == crypto_shorthash_siphashx24_BYTES);
  crypto_shorthash_siphashx24(reinterpret_cast<unsigned char*>(entry.fingerprint.data()),
                              reinterpret_cast<const unsigned char*>(normalised.data()),
                              normalised.size(), key_.data());
  return rows_.Add(entry);
}

absl::StatusOr<uint64_t> DuplicateCounter::CountDuplicates(
    const std::function<absl::Status(const DuplicateRow&)>& each) {
  // Sorted by fingerprint, then record: the first of a group is the first occurrence.
  SortedRuns<DuplicateRow> duplicates(max_in_memory_);
  uint64_t count = 0;
  bool any = false;
  Entry first{};
  RETURN_IF_ERROR(rows_.Merge([&](const Entry& entry) -> absl::Status {
    if (!any || entry.fingerprint != first.fingerprint) {
      any = true;
      first = entry;
      return absl::OkStatus();
    }
    ++count;
    if (!each) return absl::OkStatus();
    return duplicates.Add({entry.record, entry.line, first.line});
  }));
  if (each) RETURN_IF_ERROR(duplicates.Merge(each));
  return count;
}

}  // namespace koppel::agent
