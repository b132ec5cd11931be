// `koppel-vault backup` and `koppel-vault restore` (docs/operations.md, "Backups and restore"):
// the vault's directory (sealed key files, master.salt, ledger, audit log, ...) copied with a
// manifest (core/backup_files.h). Only while the vault is stopped: key files are written once,
// but a running vault creates and rotates them, so both commands take the audit log's lock,
// which a running vault holds (and a vault starting meanwhile waits for). The master key file or
// passphrase is not in the directory and not in the backup: keep it apart.
//
// A restore adds only what the vault's directory lacks: key files already there stay (they
// never change), the directory's own ledger and audit log stay (they are newer), and the keys
// of a covenant the ledger says has ended are not brought back (crypto-shredding holds).
#ifndef KOPPEL_VAULT_VAULT_BACKUP_H_
#define KOPPEL_VAULT_VAULT_BACKUP_H_

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace koppel::vault {

inline constexpr std::string_view kVaultBackupFormat = "koppel-vault-backup 1";

// UNAVAILABLE while a vault runs on `dir`; FAILED_PRECONDITION for a `to` that holds anything.
// Returns how many files were copied.
absl::StatusOr<size_t> BackupVault(const std::filesystem::path& dir,
                                   const std::filesystem::path& to);

struct VaultRestoreReport {
  std::vector<std::string> restored;  // relative paths
  std::vector<std::string> kept;      // already there, left as they are
  std::vector<std::string> skipped;   // keys of ended covenants, with why
};

// UNAVAILABLE while a vault runs on `dir`; DATA_LOSS for a damaged or altered backup (nothing
// is changed).
absl::StatusOr<VaultRestoreReport> RestoreVault(const std::filesystem::path& from,
                                                const std::filesystem::path& dir);

}  // namespace koppel::vault

#endif  // KOPPEL_VAULT_VAULT_BACKUP_H_
