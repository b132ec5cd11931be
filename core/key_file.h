// Key files on disk: one hex-encoded key per file, owner-only permissions; and passphrase files.
// Reading one loads it straight into guarded memory and wipes every intermediate copy.
#ifndef KOPPEL_CORE_KEY_FILE_H_
#define KOPPEL_CORE_KEY_FILE_H_

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "core/file.h"
#include "core/secret.h"

namespace koppel {

// Reads a key of exactly `size` bytes. Refuses a file that group or others can read, and says
// how to fix it.
absl::StatusOr<Secret> ReadKeyFile(const std::filesystem::path& path, size_t size);

// The longest passphrase ReadPassphraseFile accepts, in bytes.
inline constexpr size_t kMaxPassphraseSize = 1024;

// Reads a passphrase: the file's bytes without the line breaks that end it. Refuses a file that
// group or others can read, as ReadKeyFile does (systemd's LoadCredential= hands a service a
// copy only it can read), an empty one and one longer than kMaxPassphraseSize.
absl::StatusOr<Secret> ReadPassphraseFile(const std::filesystem::path& path);

// Writes `key` as hex with mode 0600, synced; refuses to overwrite an existing file
// (ALREADY_EXISTS). A file that could not be written whole is removed again.
absl::Status WriteKeyFile(const std::filesystem::path& path, const Secret& key,
                          FileSystem& fs = *FileSystem::Default());

// Reads a public key of exactly `size` bytes (hex; no permission requirement).
absl::StatusOr<std::vector<uint8_t>> ReadPublicKeyFile(const std::filesystem::path& path,
                                                       size_t size);

// Writes a public key as hex, mode 0644, as WriteKeyFile does.
absl::Status WritePublicKeyFile(const std::filesystem::path& path, std::span<const uint8_t> key,
                                FileSystem& fs = *FileSystem::Default());

}  // namespace koppel

#endif  // KOPPEL_CORE_KEY_FILE_H_
