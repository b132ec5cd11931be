// Key files on disk: one hex-encoded key per file, owner-only permissions. Reading one loads
// it straight into guarded memory and wipes every intermediate copy.
#ifndef KOPPEL_CORE_KEY_FILE_H_
#define KOPPEL_CORE_KEY_FILE_H_

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "core/secret.h"

namespace koppel {

// Reads a key of exactly `size` bytes. Refuses a file that group or others can read, and says
// how to fix it.
absl::StatusOr<Secret> ReadKeyFile(const std::filesystem::path& path, size_t size);

// Writes `key` as hex with mode 0600; refuses to overwrite an existing file.
absl::Status WriteKeyFile(const std::filesystem::path& path, const Secret& key);

// Reads a public key of exactly `size` bytes (hex; no permission requirement).
absl::StatusOr<std::vector<uint8_t>> ReadPublicKeyFile(const std::filesystem::path& path,
                                                       size_t size);

// Writes a public key as hex, mode 0644; refuses to overwrite an existing file.
absl::Status WritePublicKeyFile(const std::filesystem::path& path,
                                std::span<const uint8_t> key);

}  // namespace koppel

#endif  // KOPPEL_CORE_KEY_FILE_H_
