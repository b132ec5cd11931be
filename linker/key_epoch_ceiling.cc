#include "linker/key_epoch_ceiling.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/refusal.h"

namespace koppel::linker {

absl::Status KeyEpochCeiling::Check(const std::string& covenant, const std::string& batch_id,
                                    uint32_t epoch, uint32_t newest_held) {
  uint32_t ceiling = newest_held + 1;
  if (ask_) {
    absl::MutexLock lock(&mutex_);
    if (epoch > vault_epoch_ && absl::Now() - last_asked_ >= min_interval_) {
      last_asked_ = absl::Now();
      absl::StatusOr<uint32_t> current = ask_();
      vault_answered_ = current.ok();
      if (current.ok()) {
        vault_epoch_ = std::max(vault_epoch_, *current);
      } else {
        spdlog::warn("covenant {}: could not ask the vault for its current key epoch: {}", covenant,
                     std::string(current.status().message()));
      }
    }
    // A vault that does not answer keeps no rotated holder out: then as offline.
    ceiling = vault_answered_ ? vault_epoch_ : std::max(vault_epoch_, ceiling);
  }
  if (epoch >= 1 && epoch <= ceiling) return absl::OkStatus();
  return WithServiceRule(
      absl::FailedPreconditionError(fmt::format(
          "batch {} is sealed under key epoch {}, which covenant {} {}; nothing of it is stored "
          "(rule: key_epoch_unknown): seal the export again with the vault's current key",
          batch_id, epoch, covenant,
          epoch == 0 ? "does not have (epochs start at 1)"
                     : fmt::format("has not reached (its newest is {})", ceiling))),
      "key_epoch_unknown", covenant);
}

}  // namespace koppel::linker
