// Files that appear whole or not at all: written to a temporary name in the same directory,
// synced, renamed over the target, and the directory synced. Outboxes, receipts, run manifests
// and sealed keys are all written this way, so a crash never leaves half a file.
#ifndef KOPPEL_CORE_ATOMIC_FILE_H_
#define KOPPEL_CORE_ATOMIC_FILE_H_

#include <filesystem>
#include <string_view>

#include "absl/status/status.h"

namespace koppel {

// Writes `bytes` to `path` (mode 600) atomically and durably.
absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes);

}  // namespace koppel

#endif  // KOPPEL_CORE_ATOMIC_FILE_H_
