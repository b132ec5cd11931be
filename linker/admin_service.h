// The linker's administration service (proto/koppel/v1/admin.proto): online backups for the
// linker's own operator, served only on the Unix domain socket <data>/admin.sock (mode 600),
// never on TCP. A backup holds every served covenant (an end waits for it), takes a checkpoint
// of each covenant's store together with the high-water mark of exactly that point
// (CovenantStore::Checkpoint) in a temporary directory inside the data directory, copies the
// ledger and the audit log, writes the manifest and streams the files; the temporary
// directory is removed afterwards. Nothing in a backup is plaintext that the store keeps
// encrypted: the stores' files stay encrypted under their covenants' data keys.
#ifndef KOPPEL_LINKER_ADMIN_SERVICE_H_
#define KOPPEL_LINKER_ADMIN_SERVICE_H_

#include <filesystem>
#include <string>

#include "absl/synchronization/mutex.h"
#include "core/audit_log.h"
#include "koppel/v1/admin.grpc.pb.h"
#include "linker/linker_store.h"
#include "linker/served_covenants.h"

namespace koppel::linker {

// What the backup format is called in its manifest (core/backup_files.h).
inline constexpr std::string_view kLinkerBackupFormat = "koppel-linker-backup 1";
// The socket's name in the data directory.
inline constexpr std::string_view kAdminSocketFile = "admin.sock";
// Where a backup's checkpoints are taken (removed afterwards, and at start if left over).
inline constexpr std::string_view kBackupTempPrefix = "backup.tmp-";

class LinkerAdminService final : public v1::LinkerAdmin::Service {
 public:
  // `signing_key` (the linker's, which signs its receipts) signs every backup's manifest.
  LinkerAdminService(ServedCovenants* covenants, LinkerStore* store, AuditLog* audit,
                     const Secret* signing_key, std::filesystem::path data_dir,
                     std::filesystem::path ledger_file)
      : covenants_(covenants),
        store_(store),
        audit_(audit),
        signing_key_(signing_key),
        data_dir_(std::move(data_dir)),
        ledger_file_(std::move(ledger_file)) {}

  grpc::Status Backup(grpc::ServerContext* context, const v1::BackupRequest* request,
                      grpc::ServerWriter<v1::BackupChunk>* writer) override;

  // Removes checkpoint directories a backup cut short left behind (called at start).
  static void RemoveLeftovers(const std::filesystem::path& data_dir);

 private:
  // Fills `dir` with a consistent backup (manifest last); the progress lines go to `progress`.
  absl::Status TakeBackup(const std::filesystem::path& dir, std::vector<std::string>* progress);

  ServedCovenants* covenants_;
  LinkerStore* store_;
  AuditLog* audit_;
  const Secret* signing_key_;
  const std::filesystem::path data_dir_;
  const std::filesystem::path ledger_file_;
  absl::Mutex one_backup_;  // one backup at a time
};

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_ADMIN_SERVICE_H_
