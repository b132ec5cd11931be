// After `koppel-vault rotate`, the linker reads every dataset in one key epoch: a dataset held
// only under older epochs keeps analyses on the old epoch until it is delivered again
// (docs/services.md, "Key epochs"). `koppel-agent send` asks the linker's status and warns the
// data holder when its own dataset lags behind its covenant's newest epoch.
#ifndef KOPPEL_AGENTS_KEY_EPOCH_WARNING_H_
#define KOPPEL_AGENTS_KEY_EPOCH_WARNING_H_

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "koppel/v1/linker.pb.h"

namespace koppel::agent {

// One warning per (covenant, dataset) of `delivered` that the linker's `status` says is still
// to be delivered again under the covenant's newest key epoch.
std::vector<std::string> KeyEpochWarnings(
    const v1::GetStatusResponse& status,
    const std::set<std::pair<std::string, std::string>>& delivered);

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_KEY_EPOCH_WARNING_H_
