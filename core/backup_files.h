// What the backup commands of the services share (docs/operations.md, "Backups and restore"):
// a backup is a directory of plain files with a manifest, BACKUP.json, that says what was
// backed up, when and by which version, and holds the SHA-256 of every file, so that a restore
// refuses a damaged or altered backup before it changes anything.
#ifndef KOPPEL_CORE_BACKUP_FILES_H_
#define KOPPEL_CORE_BACKUP_FILES_H_

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/secret.h"

namespace koppel {

inline constexpr std::string_view kBackupManifestFile = "BACKUP.json";
// The Ed25519 signature (hex) of BACKUP.json's bytes by the service that made the backup: a
// manifest edited along with the files it lists does not verify.
inline constexpr std::string_view kBackupSignatureFile = "BACKUP.json.sig";

struct BackupManifest {
  std::string format;                        // "koppel-linker-backup 1", "koppel-vault-backup 1"
  std::string time;                          // UTC, ISO 8601, seconds
  std::string version;                       // of the program that made it
  nlohmann::json contents;                   // what the service held (covenants and their counts)
  std::map<std::string, std::string> files;  // '/'-separated relative path -> hex SHA-256
};

nlohmann::json ManifestToJson(const BackupManifest& manifest);

// Reads `dir`/BACKUP.json; FAILED_PRECONDITION when it is missing or of another `format`,
// DATA_LOSS when it is not a manifest.
absl::StatusOr<BackupManifest> ReadBackupManifest(const std::filesystem::path& dir,
                                                  std::string_view format);

// Recomputes the SHA-256 of every file the manifest lists. DATA_LOSS naming the first file
// that is missing or differs, and saying that nothing was restored.
absl::Status VerifyBackupFiles(const std::filesystem::path& dir, const BackupManifest& manifest);

// Signs `dir`/BACKUP.json with `signing_key` (64-byte Ed25519) into `dir`/BACKUP.json.sig.
absl::Status SignBackupManifest(const std::filesystem::path& dir, const Secret& signing_key);

// DATA_LOSS, saying that nothing was restored, unless `dir`/BACKUP.json.sig is a signature of
// `dir`/BACKUP.json by the key whose public half is `public_key` (32 bytes).
absl::Status VerifyBackupManifestSignature(const std::filesystem::path& dir,
                                           std::span<const uint8_t> public_key);

// The hex SHA-256 of a file, read in pieces.
absl::StatusOr<std::string> FileSha256Hex(const std::filesystem::path& path);

// A path from a manifest or a backup stream: relative, '/'-separated, no "." or ".." part.
bool IsSafeBackupPath(std::string_view path);

// Makes `dir` a backup's directory: creates it (mode 700) or accepts an empty one;
// FAILED_PRECONDITION when it holds anything.
absl::Status PrepareBackupDirectory(const std::filesystem::path& dir);

// Copies a file (mode 600, its modification time kept) and syncs it; creates the parent
// directories (mode 700).
absl::Status CopyFileDurably(const std::filesystem::path& from, const std::filesystem::path& to);

// Copies every regular file under `from` to the same relative path under `to`, durably;
// returns their relative paths. Directories mode 700, files mode 600.
absl::StatusOr<std::vector<std::string>> CopyTreeDurably(const std::filesystem::path& from,
                                                         const std::filesystem::path& to);

// Makes every directory under `dir` private (mode 700) and syncs them and `dir` itself.
absl::Status SyncTree(const std::filesystem::path& dir);

// The last step of every backup: records every regular file under `dir` with its SHA-256 in
// `manifest`, writes `dir`/BACKUP.json (mode 600, atomically), signs it when `signing_key` is
// given, and syncs the tree.
absl::Status WriteBackupManifest(const std::filesystem::path& dir, BackupManifest manifest,
                                 const Secret* signing_key);

}  // namespace koppel

#endif  // KOPPEL_CORE_BACKUP_FILES_H_
