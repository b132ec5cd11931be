// Files that appear whole or not at all: written to a temporary name in the same directory,
// synced, renamed over the target, and the directory synced. Outboxes, receipts, run manifests
// and sealed keys are all written this way, so a crash never leaves half a file.
#ifndef KOPPEL_CORE_ATOMIC_FILE_H_
#define KOPPEL_CORE_ATOMIC_FILE_H_

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "absl/status/status.h"
#include "core/file.h"

namespace koppel {

// Writes `bytes` to `path` (with `permissions`) atomically and durably through `fs`. On any
// failure the old file, if there was one, is left as it was and no temporary file remains.
// The error is the file system's: "cannot write <temp path>: No space left on device" and the
// like.
absl::Status WriteFileAtomically(FileSystem& fs, const std::filesystem::path& path,
                                 std::string_view bytes, uint32_t permissions = 0600);

// The same on the operating system's file system, mode 600.
absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes);

}  // namespace koppel

#endif  // KOPPEL_CORE_ATOMIC_FILE_H_
