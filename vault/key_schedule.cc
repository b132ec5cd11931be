#include "vault/key_schedule.h"

#include <algorithm>

#include "core/proto_time.h"

namespace koppel::vault {

absl::Time EpochStart(const policy::Covenant& covenant, absl::Time key_created) {
  return std::max(key_created, covenant.StartsAt());
}

bool RotationDue(absl::Time epoch_start, absl::Time now, absl::Duration period) {
  return period > absl::ZeroDuration() && now - epoch_start >= period;
}

bool ScheduledRotationDue(const policy::Covenant& covenant, absl::Time epoch_start,
                          absl::Time now) {
  return covenant.InForce(now).ok() && RotationDue(epoch_start, now, covenant.KeyRotationPeriod());
}

KeyEpochState KeyEpochStateOf(const policy::Covenant& covenant, uint32_t epoch,
                              absl::Time epoch_start, absl::Time now) {
  KeyEpochState state;
  state.epoch = epoch;
  state.epoch_start = epoch_start;
  if (covenant.key_rotation_days > 0) {
    const absl::Time next = epoch_start + covenant.KeyRotationPeriod();
    if (next < covenant.EndsAt()) state.next_rotation = next;
    const absl::Time grace_end = epoch_start + covenant.KeyRotationGrace();
    if (epoch > 1 && now < grace_end) state.previous_grace_end = grace_end;
  }
  return state;
}

v1::KeyEpochSchedule ToProto(const KeyEpochState& state) {
  v1::KeyEpochSchedule proto;
  proto.set_key_epoch(state.epoch);
  *proto.mutable_epoch_start_time() = ToProtoTimestamp(state.epoch_start);
  if (state.next_rotation) {
    *proto.mutable_next_rotation_time() = ToProtoTimestamp(*state.next_rotation);
  }
  if (state.previous_grace_end) {
    *proto.mutable_previous_epoch_grace_end_time() = ToProtoTimestamp(*state.previous_grace_end);
  }
  return proto;
}

}  // namespace koppel::vault
