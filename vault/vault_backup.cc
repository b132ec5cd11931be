#include "vault/vault_backup.h"

#include <fmt/format.h>

#include <memory>
#include <optional>

#include "absl/time/clock.h"
#include "core/backup_files.h"
#include "core/file.h"
#include "core/status_macros.h"
#include "policies/covenant_ledger.h"

#ifndef KOPPEL_VERSION
#define KOPPEL_VERSION "unknown"
#endif

namespace koppel::vault {
namespace {

// The audit log's lock (none when the vault never ran); UNAVAILABLE while a vault holds it.
absl::StatusOr<std::unique_ptr<FileLock>> LockStoppedVault(const std::filesystem::path& dir) {
  const std::filesystem::path audit = dir / "audit.log";
  std::error_code ec;
  if (!std::filesystem::exists(audit, ec)) return std::unique_ptr<FileLock>();
  absl::StatusOr<std::unique_ptr<FileLock>> lock = FileSystem::Default()->LockFile(audit);
  if (absl::IsUnavailable(lock.status())) {
    return absl::UnavailableError(fmt::format(
        "a vault is running on {} (it holds {}); stop it first: a running vault creates and "
        "rotates key files",
        dir.string(), audit.string()));
  }
  return lock;
}

// The covenant of a key file "keys/<covenant>.<epoch>.sealed" or of its data key
// "keys/<covenant>.DATA.<epoch>.sealed", or nullopt.
std::optional<std::string> KeyFileCovenant(const std::string& relative) {
  constexpr std::string_view kPrefix = "keys/";
  constexpr std::string_view kSuffix = ".sealed";
  if (!relative.starts_with(kPrefix) || !relative.ends_with(kSuffix)) return std::nullopt;
  const std::string name =
      relative.substr(kPrefix.size(), relative.size() - kPrefix.size() - kSuffix.size());
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return std::nullopt;
  std::string covenant = name.substr(0, dot);
  // The covenant's data key (vault_service.h, DataKeyName) is destroyed with it too.
  constexpr std::string_view kDataKey = ".DATA";
  if (covenant.ends_with(kDataKey)) covenant.resize(covenant.size() - kDataKey.size());
  return covenant;
}

}  // namespace

absl::StatusOr<size_t> BackupVault(const std::filesystem::path& dir,
                                   const std::filesystem::path& to) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(fmt::format("--dir {} is no directory", dir.string()));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock, LockStoppedVault(dir));
  RETURN_IF_ERROR(PrepareBackupDirectory(to));
  ASSIGN_OR_RETURN(std::vector<std::string> files, CopyTreeDurably(dir, to));
  BackupManifest manifest;
  manifest.format = std::string(kVaultBackupFormat);
  manifest.version = KOPPEL_VERSION;
  manifest.time = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  nlohmann::json keys = nlohmann::json::object();
  for (const std::string& file : files) {
    if (std::optional<std::string> covenant = KeyFileCovenant(file)) {
      keys[*covenant] = keys.value(*covenant, 0) + 1;
    }
  }
  manifest.contents = {{"key_files", keys}};
  RETURN_IF_ERROR(WriteBackupManifest(to, std::move(manifest), /*signing_key=*/nullptr));
  return files.size();
}

absl::StatusOr<VaultRestoreReport> RestoreVault(const std::filesystem::path& from,
                                                const std::filesystem::path& dir) {
  ASSIGN_OR_RETURN(BackupManifest manifest, ReadBackupManifest(from, kVaultBackupFormat));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock, LockStoppedVault(dir));
  RETURN_IF_ERROR(VerifyBackupFiles(from, manifest));
  VaultRestoreReport report;
  // The directory's ledger says which covenants ended; the backup's only when it has none.
  const std::filesystem::path ledger_file = dir / "covenants.json";
  if (!std::filesystem::exists(ledger_file, ec) && manifest.files.contains("covenants.json")) {
    RETURN_IF_ERROR(CopyFileDurably(from / "covenants.json", ledger_file));
    report.restored.push_back("covenants.json");
  }
  std::unique_ptr<policy::CovenantLedger> ledger;
  if (std::filesystem::exists(ledger_file, ec)) {
    ASSIGN_OR_RETURN(ledger, policy::CovenantLedger::Open(ledger_file, true));
  }
  for (const auto& [file, sha256] : manifest.files) {
    const std::filesystem::path target = dir / file;
    if (std::filesystem::exists(target, ec)) {
      if (file != "covenants.json") report.kept.push_back(file);
      continue;
    }
    if (std::optional<std::string> covenant = KeyFileCovenant(file); covenant && ledger) {
      if (std::optional<policy::CovenantLedger::Entry> entry = ledger->Find(*covenant);
          entry.has_value() && !entry->ended_at.empty()) {
        report.skipped.push_back(
            fmt::format("{}: covenant {} ended at {}; its keys were destroyed and stay destroyed",
                        file, *covenant, entry->ended_at));
        continue;
      }
    }
    std::filesystem::path staged = target;
    staged += ".restoring";
    std::filesystem::remove(staged, ec);
    RETURN_IF_ERROR(CopyFileDurably(from / file, staged));
    RETURN_IF_ERROR(FileSystem::Default()->RenameFile(staged, target));
    RETURN_IF_ERROR(FileSystem::Default()->SyncDirectory(target.parent_path()));
    report.restored.push_back(file);
  }
  return report;
}

}  // namespace koppel::vault
