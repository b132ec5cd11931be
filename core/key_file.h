// Key files on disk: one hex-encoded key per file, owner-only permissions. Reading one loads
// it straight into guarded memory and wipes every intermediate copy.
#ifndef KOPPEL_CORE_KEY_FILE_H_
#define KOPPEL_CORE_KEY_FILE_H_

#include <filesystem>

#include "absl/status/statusor.h"
#include "core/secret.h"

namespace koppel {

// Reads a key of exactly `size` bytes. Refuses a file that group or others can read, and says
// how to fix it.
absl::StatusOr<Secret> ReadKeyFile(const std::filesystem::path& path, size_t size);

// Writes `key` as hex with mode 0600; refuses to overwrite an existing file.
absl::Status WriteKeyFile(const std::filesystem::path& path, const Secret& key);

}  // namespace koppel

#endif  // KOPPEL_CORE_KEY_FILE_H_
