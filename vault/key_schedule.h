// When a covenant's token key rotates (the covenant's key_rotation): whether a rotation is due,
// and where the current key epoch stands, as the vault tells holders in its answers and shows
// in its metrics. Pure functions of the covenant, the epoch's start and the time now.
#ifndef KOPPEL_VAULT_KEY_SCHEDULE_H_
#define KOPPEL_VAULT_KEY_SCHEDULE_H_

#include <cstdint>
#include <optional>

#include "absl/time/time.h"
#include "koppel/v1/vault.pb.h"
#include "policies/covenant.h"

namespace koppel::vault {

struct KeyEpochState {
  uint32_t epoch = 0;
  absl::Time epoch_start;
  // None when the covenant schedules no rotation or ends before the next one is due.
  std::optional<absl::Time> next_rotation;
  // While the previous epoch is within its grace (holders re-deliver under `epoch` until then).
  std::optional<absl::Time> previous_grace_end;
};

// When a key epoch whose key was created at `key_created` starts to age: not before the
// covenant is in force, so a covenant deployed before its valid_from does not rotate at once
// on its first day (nothing was sealed under its first epoch yet).
absl::Time EpochStart(const policy::Covenant& covenant, absl::Time key_created);

// True when an epoch that started at `epoch_start` is `period` old or older at `now`; never for
// a period of zero (no scheduled rotation).
bool RotationDue(absl::Time epoch_start, absl::Time now, absl::Duration period);

// True when the vault rotates `covenant`'s key now: it is in force (a covenant not yet or no
// longer in force issues no keys, so a new epoch would serve nobody) and its rotation is due.
bool ScheduledRotationDue(const policy::Covenant& covenant, absl::Time epoch_start, absl::Time now);

KeyEpochState KeyEpochStateOf(const policy::Covenant& covenant, uint32_t epoch,
                              absl::Time epoch_start, absl::Time now);

v1::KeyEpochSchedule ToProto(const KeyEpochState& state);

}  // namespace koppel::vault

#endif  // KOPPEL_VAULT_KEY_SCHEDULE_H_
