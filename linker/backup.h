// `koppel-linker backup` and `koppel-linker restore` (docs/operations.md, "Backups and
// restore"). A backup directory holds, per covenant, covenants/<id>/db/ (the store's files,
// encrypted as in the store) and covenants/<id>/held (its high-water mark of the same point),
// the ledger covenants.json, a copy of the audit log audit.log, and the manifest BACKUP.json
// (core/backup_files.h), whose contents name every covenant with its counts and the audit
// entry ("backup") written just before the checkpoints were taken.
//
// A restore never rolls back what must not go back: the data directory's own ledger and audit
// log are kept when it has them (they are newer than the backup), a covenant that the ledger
// says has ended is not revived, and a covenant's release count is raised at its next open to
// what the audit log shows it reached (LinkerStore::kRestoreNoteFile).
#ifndef KOPPEL_LINKER_BACKUP_H_
#define KOPPEL_LINKER_BACKUP_H_

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/backup_files.h"
#include "core/file.h"

namespace koppel::linker {

using ProgressLine = std::function<void(const std::string& line)>;

// The file in the data directory that a running linker keeps locked (flock) from before it
// opens its store until it exits, so that backup and restore know whether one runs there.
inline constexpr std::string_view kDataLockFile = "LOCK";

// Takes the data directory's lock (creating the file); UNAVAILABLE when a linker holds it.
absl::StatusOr<std::unique_ptr<FileLock>> LockDataDirectory(const std::filesystem::path& data_dir);

// OK unless a restore was cut short in `data_dir` (a covenants/.<id>.old or .<id>.restoring
// is left): then FAILED_PRECONDITION telling to run the restore again, which completes it.
absl::Status CheckNoRestoreLeftovers(const std::filesystem::path& data_dir);

// Backs up the linker running on `data_dir` through its admin socket into `to` (new or
// empty). When no linker runs there (nobody answers the socket, and neither the data
// directory's lock nor the audit log `audit_file` is held), copies the files while holding
// both locks, which keeps a linker from starting meanwhile (a cold backup). FAILED_PRECONDITION
// for a `to` that holds anything, a `data_dir` without STORE_FORMAT (not a linker's data
// directory), or a cold backup that would hold no covenant of a directory that has some;
// UNAVAILABLE when a linker holds a lock but does not answer on the socket. The manifest is
// signed by the linker's signing key: the running linker's, or for a cold backup the one in
// `keys_dir` (INVALID_ARGUMENT when none is given).
absl::Status BackupLinker(const std::filesystem::path& data_dir,
                          const std::filesystem::path& audit_file,
                          const std::filesystem::path& keys_dir, const std::filesystem::path& to,
                          const ProgressLine& progress);

struct RestoreReport {
  std::vector<std::string> restored;  // covenant ids
  std::vector<std::string> skipped;   // ended covenants, with why
  std::vector<std::string> notes;     // for the operator
};

// Restores the backup in `from` into `data_dir`, whose linker must be stopped (UNAVAILABLE
// when it answers on its admin socket or holds the data directory's lock or its audit log
// `audit_file`). Checks the manifest's signature (by `keys_dir`/linker-signing.key.pub), its
// shape and every file of the backup first: DATA_LOSS for a damaged or altered backup,
// FAILED_PRECONDITION for a `data_dir` without STORE_FORMAT unless `new_data` (then it must be
// empty or absent); nothing is written before every check passed. Each covenant's directory is
// replaced as a whole (written beside it, then renamed); a restore cut short is completed by
// running it again.
absl::StatusOr<RestoreReport> RestoreLinker(const std::filesystem::path& from,
                                            const std::filesystem::path& data_dir,
                                            const std::filesystem::path& audit_file,
                                            const std::filesystem::path& keys_dir, bool new_data,
                                            const ProgressLine& progress);

// The checks of a linker backup's manifest beyond its file hashes: DATA_LOSS unless its
// contents name covenants by valid ids with numeric counts, the audit anchor is a number and a
// hash, the store format is this linker's, and every file is the ledger, the audit log or
// under covenants/<a listed id>/.
absl::Status CheckLinkerManifest(const BackupManifest& manifest);

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_BACKUP_H_
