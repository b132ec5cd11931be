// After the vault rotates a covenant's key on its schedule (covenant key_rotation), records
// sealed under the previous epoch no longer join with new deliveries: `koppel-agent seal` tells
// the data holder, from the vault's answer, to re-deliver its full export before the grace ends.
#ifndef KOPPEL_AGENTS_KEY_ROTATION_NOTICE_H_
#define KOPPEL_AGENTS_KEY_ROTATION_NOTICE_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "koppel/v1/vault.pb.h"

namespace koppel::agent {

// The warning when the covenant started `schedule`'s epoch after an earlier run was sealed
// under an older one (`older_epoch_sealed`): re-deliver by the grace end, or now when the grace
// is over; nullopt when no such run is in the outbox.
std::optional<std::string> KeyRotationNotice(std::string_view covenant_id,
                                             const v1::KeyEpochSchedule& schedule,
                                             std::optional<uint32_t> older_epoch_sealed);

// The newest key epoch below `current_epoch` of the completed runs in `outbox` (their manifests
// in runs/) that sealed `dataset` under `covenant_id`; nullopt when there is none, when a run
// was sealed again under `current_epoch`, or when the manifests cannot be read (the notice is
// best effort; a manifest with fields of the wrong type is skipped).
std::optional<uint32_t> OlderEpochSealed(const std::filesystem::path& outbox,
                                         std::string_view dataset, std::string_view covenant_id,
                                         uint32_t current_epoch);

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_KEY_ROTATION_NOTICE_H_
