// The highest key epoch a delivered batch may be sealed under (docs/services.md, "Key epochs").
// A batch of an epoch that does not exist yet (99, or 0) would make every dataset look as if
// it had to be delivered again; such a batch is refused before anything of it is stored.
#ifndef KOPPEL_LINKER_KEY_EPOCH_CEILING_H_
#define KOPPEL_LINKER_KEY_EPOCH_CEILING_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace koppel::linker {

// The vault's current key epoch for a covenant, given with its data key, and how to ask it
// again; `ask` empty: no vault (offline).
struct VaultKeyEpoch {
  uint32_t current = 0;
  std::function<absl::StatusOr<uint32_t>()> ask;
};

class KeyEpochCeiling {
 public:
  // With a vault: its current epoch as known at start, asked again (at most once per
  // `min_interval`) when a batch carries a higher one. Without (offline), or while the vault
  // does not answer: one above the newest epoch the store holds.
  KeyEpochCeiling(VaultKeyEpoch vault, absl::Duration min_interval)
      : ask_(std::move(vault.ask)), min_interval_(min_interval), vault_epoch_(vault.current) {}

  // OK when `epoch` may be stored; FAILED_PRECONDITION (rule key_epoch_unknown) otherwise.
  // `newest_held` is the newest epoch the covenant's store holds.
  absl::Status Check(const std::string& covenant, const std::string& batch_id, uint32_t epoch,
                     uint32_t newest_held) ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  const std::function<absl::StatusOr<uint32_t>()> ask_;
  const absl::Duration min_interval_;
  absl::Mutex mutex_;
  uint32_t vault_epoch_ ABSL_GUARDED_BY(mutex_);
  absl::Time last_asked_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  bool vault_answered_ ABSL_GUARDED_BY(mutex_) = true;  // when last asked
};

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_KEY_EPOCH_CEILING_H_
