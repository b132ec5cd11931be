#include "linker/backup.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <sodium.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "core/atomic_file.h"
#include "core/audit_log.h"
#include "core/backup_files.h"
#include "core/file.h"
#include "core/file_contents.h"
#include "core/identifier_rules.h"
#include "core/key_file.h"
#include "core/log_safe.h"
#include "core/status_macros.h"
#include "koppel/v1/admin.grpc.pb.h"
#include "linker/admin_service.h"
#include "linker/linker_store.h"
#include "linker/release_history.h"
#include "policies/covenant_ledger.h"

#ifndef KOPPEL_VERSION
#define KOPPEL_VERSION "unknown"
#endif

namespace koppel::linker {
namespace {

// The locks a running linker holds: the data directory's, and its audit log's (a linker of an
// earlier version holds only that one). UNAVAILABLE, saying `what`, when either is held.
struct StoppedLinker {
  std::unique_ptr<FileLock> data;
  std::unique_ptr<FileLock> audit;
};

absl::StatusOr<StoppedLinker> LockStoppedLinker(const std::filesystem::path& data,
                                                const std::filesystem::path& audit,
                                                std::string_view what) {
  StoppedLinker locks;
  absl::StatusOr<std::unique_ptr<FileLock>> data_lock = LockDataDirectory(data);
  if (absl::IsUnavailable(data_lock.status())) {
    return absl::UnavailableError(fmt::format("a linker is running on {} (it holds {}); {}",
                                              data.string(), (data / kDataLockFile).string(),
                                              what));
  }
  if (!data_lock.ok()) return data_lock.status();
  locks.data = *std::move(data_lock);
  std::error_code ec;
  if (!std::filesystem::exists(audit, ec)) return locks;
  absl::StatusOr<std::unique_ptr<FileLock>> audit_lock = FileSystem::Default()->LockFile(audit);
  if (absl::IsUnavailable(audit_lock.status())) {
    return absl::UnavailableError(fmt::format(
        "a linker is running on this data directory (it holds {}); {}", audit.string(), what));
  }
  if (!audit_lock.ok()) return audit_lock.status();
  locks.audit = *std::move(audit_lock);
  return locks;
}

// Whether a linker answers on the admin socket `socket` (a stale socket file answers nothing).
bool SocketAnswers(const std::filesystem::path& socket) {
  std::error_code ec;
  if (!std::filesystem::exists(socket, ec)) return false;
  auto channel = grpc::CreateChannel("unix:" + socket.string(), grpc::InsecureChannelCredentials());
  return channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

// FAILED_PRECONDITION unless `data` holds a linker's store (its STORE_FORMAT): a wrong --data
// must not look like a stopped linker's empty directory.
absl::Status CheckIsLinkerData(const std::filesystem::path& data) {
  std::error_code ec;
  if (std::filesystem::exists(data / "STORE_FORMAT", ec)) return absl::OkStatus();
  return absl::FailedPreconditionError(fmt::format(
      "{} holds no STORE_FORMAT: it is not a linker's data directory (give the `data` of the "
      "linker's configuration, e.g. --config /etc/koppel/linker.yaml); nothing was done",
      data.string()));
}

// Streams a backup from the running linker's admin socket into `to`.
absl::Status OnlineBackup(const std::string& socket, const std::filesystem::path& to,
                          const ProgressLine& progress) {
  auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
  auto stub = v1::LinkerAdmin::NewStub(channel);
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::BackupChunk>> reader =
      stub->Backup(&context, v1::BackupRequest());
  v1::BackupChunk chunk;
  std::unique_ptr<WritableFile> file;
  std::string current;
  while (reader->Read(&chunk)) {
    if (!chunk.progress().empty()) progress(chunk.progress());
    if (chunk.path().empty()) continue;
    if (chunk.path() != current) {
      if (file != nullptr || !IsSafeBackupPath(chunk.path())) {
        context.TryCancel();
        return absl::DataLossError(
            fmt::format("the linker sent a malformed backup stream (file {})", chunk.path()));
      }
      current = chunk.path();
      const std::filesystem::path path = to / current;
      std::error_code ec;
      std::filesystem::create_directories(path.parent_path(), ec);
      std::filesystem::permissions(path.parent_path(), std::filesystem::perms::owner_all, ec);
      ASSIGN_OR_RETURN(file, FileSystem::Default()->NewWritableFile(
                                 path, {.mode = OpenMode::kExclusive, .permissions = 0600}));
    }
    RETURN_IF_ERROR(file->Append(chunk.data()));
    if (chunk.end_of_file()) {
      RETURN_IF_ERROR(file->Sync());
      RETURN_IF_ERROR(file->Close());
      file.reset();
      current.clear();
    }
  }
  grpc::Status status = reader->Finish();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return absl::UnavailableError(
        fmt::format("the linker holds the data directory but does not answer on {}: {}; retry",
                    socket, status.error_message()));
  }
  if (!status.ok()) {  // the linker's own failure: not the operator's flags
    return absl::AbortedError(
        fmt::format("the linker's backup failed: {}", status.error_message()));
  }
  if (file != nullptr) return absl::DataLossError("the linker's backup stream was cut short");
  return SyncTree(to);
}

// The counts a stopped linker's `held` file records (plaintext; its MAC is checked when the
// store opens).
nlohmann::json HeldCountsOf(const std::filesystem::path& held) {
  absl::StatusOr<std::string> text = ReadFileContents(held);
  if (!text.ok()) return nlohmann::json::object();
  nlohmann::json json = nlohmann::json::parse(*text, nullptr, false);
  if (!json.is_object()) return nlohmann::json::object();
  json.erase("mac");
  return json;
}

absl::Status ColdBackup(const std::filesystem::path& data, const std::filesystem::path& audit,
                        const Secret& signing_key, const std::filesystem::path& to,
                        const ProgressLine& progress) {
  BackupManifest manifest;
  manifest.format = std::string(kLinkerBackupFormat);
  manifest.version = KOPPEL_VERSION;
  manifest.time = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  nlohmann::json covenants = nlohmann::json::object();
  std::error_code ec;
  size_t stores = 0;
  for (auto it = std::filesystem::directory_iterator(data / "covenants", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string id = it->path().filename().string();
    if (id.starts_with(".")) continue;
    ++stores;
    if (!std::filesystem::exists(it->path() / "held", ec)) continue;
    RETURN_IF_ERROR(CopyTreeDurably(it->path(), to / "covenants" / id).status());
    covenants[id] = HeldCountsOf(it->path() / "held");
    progress(fmt::format("covenant {}: {}", id, covenants[id].dump()));
  }
  if (ec) {
    return absl::InternalError(
        fmt::format("cannot list {}: {}", (data / "covenants").string(), ec.message()));
  }
  if (covenants.empty() && stores > 0) {
    return absl::DataLossError(fmt::format(
        "{} holds {} covenant director(ies) but none with a `held` file: no backup was made",
        (data / "covenants").string(), stores));
  }
  if (std::filesystem::exists(data / "covenants.json", ec)) {
    RETURN_IF_ERROR(CopyFileDurably(data / "covenants.json", to / "covenants.json"));
  }
  nlohmann::json anchor = {{"seq", 0}, {"hash", ""}};
  if (std::filesystem::exists(audit, ec)) {
    RETURN_IF_ERROR(CopyFileDurably(audit, to / "audit.log"));
    ASSIGN_OR_RETURN(std::vector<AuditEntry> entries, ReadAuditLog(to / "audit.log"));
    if (!entries.empty()) anchor = {{"seq", entries.back().seq}, {"hash", entries.back().hash}};
  }
  manifest.contents = {{"covenants", covenants},
                       {"audit", anchor},
                       {"cold", true},
                       {"store_format", std::string(LinkerStore::kFormat)}};
  return WriteBackupManifest(to, std::move(manifest), &signing_key);
}

// The releases of a covenant the audit log records after the backup's entry, with the history
// entries they carry (docs/audit.md, `release`).
struct ReleasesAfterBackup {
  int64_t count = 0;
  std::vector<SealedRelease> history;
  int64_t without_entry = 0;  // too large for the audit log, or audited before it held them
  bool continues = false;     // whether the log continues from the backup's entry
};

// The releases of `covenant` the audit log records after the entry `anchor_seq` (or in all,
// when the log does not continue from the backup's entry `anchor_hash`).
absl::StatusOr<ReleasesAfterBackup> ReleasesAfter(const std::vector<AuditEntry>& entries,
                                                  const std::string& covenant, uint64_t anchor_seq,
                                                  const std::string& anchor_hash) {
  ReleasesAfterBackup after;
  for (const AuditEntry& entry : entries) {
    if (entry.seq == anchor_seq && entry.hash == anchor_hash) after.continues = true;
  }
  for (const AuditEntry& entry : entries) {
    if (entry.event != "release" || entry.covenant != covenant) continue;
    if (after.continues && entry.seq <= anchor_seq) continue;
    ++after.count;
    absl::StatusOr<std::optional<SealedRelease>> sealed = HistoryEntryOf(entry.details);
    if (!sealed.ok()) {
      return absl::DataLossError(
          fmt::format("audit log line {}: {}", entry.line, std::string(sealed.status().message())));
    }
    if (sealed->has_value()) {
      after.history.push_back(std::move(**sealed));
    } else {
      ++after.without_entry;
    }
  }
  return after;
}

// A restore cut short leaves covenants/.<id>.old (the store it replaced) and .<id>.restoring
// (a partial copy). The old store goes back in place when the crash came between the two
// renames (it is then the only copy); otherwise both are obsolete.
absl::Status FinishCutShortRestore(const std::filesystem::path& covenants_dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> leftovers;
  for (auto it = std::filesystem::directory_iterator(covenants_dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(".") && (name.ends_with(".old") || name.ends_with(".restoring"))) {
      leftovers.push_back(it->path());
    }
  }
  if (ec) {
    return absl::InternalError(
        fmt::format("cannot list {}: {}", covenants_dir.string(), ec.message()));
  }
  for (const std::filesystem::path& leftover : leftovers) {
    const std::string name = leftover.filename().string();
    if (name.ends_with(".old")) {
      const std::filesystem::path target =
          covenants_dir / name.substr(1, name.size() - 1 - std::string_view(".old").size());
      if (!std::filesystem::exists(target, ec)) {
        RETURN_IF_ERROR(FileSystem::Default()->RenameFile(leftover, target));
        RETURN_IF_ERROR(FileSystem::Default()->SyncDirectory(covenants_dir));
        continue;
      }
    }
    std::filesystem::remove_all(leftover, ec);
    if (ec) {
      return absl::InternalError(
          fmt::format("cannot remove {}: {}", leftover.string(), ec.message()));
    }
  }
  return absl::OkStatus();
}

// Copies `from` to `to` through a temporary file beside it and a rename: `to` is never seen
// half written.
absl::Status CopyFileByRename(const std::filesystem::path& from, const std::filesystem::path& to) {
  const std::filesystem::path temp = to.parent_path() / ("." + to.filename().string() + ".tmp");
  std::error_code ec;
  std::filesystem::remove(temp, ec);
  RETURN_IF_ERROR(CopyFileDurably(from, temp));
  RETURN_IF_ERROR(FileSystem::Default()->RenameFile(temp, to));
  return FileSystem::Default()->SyncDirectory(to.parent_path());
}

absl::Status ReplaceDirectory(const std::filesystem::path& staged,
                              const std::filesystem::path& target) {
  std::error_code ec;
  std::filesystem::path old = target.parent_path() / ("." + target.filename().string() + ".old");
  if (std::filesystem::exists(old, ec) && !std::filesystem::exists(target, ec)) {
    RETURN_IF_ERROR(FileSystem::Default()->RenameFile(old, target));
  }
  std::filesystem::remove_all(old, ec);
  if (std::filesystem::exists(target, ec)) {
    RETURN_IF_ERROR(FileSystem::Default()->RenameFile(target, old));
  }
  RETURN_IF_ERROR(FileSystem::Default()->RenameFile(staged, target));
  RETURN_IF_ERROR(FileSystem::Default()->SyncDirectory(target.parent_path()));
  std::filesystem::remove_all(old, ec);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileLock>> LockDataDirectory(const std::filesystem::path& data_dir) {
  const std::filesystem::path path = data_dir / kDataLockFile;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    // Empty and readable by all (in a mode-700 directory): a backup run as root must not
    // leave a lock file the linker's user cannot open.
    ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                     FileSystem::Default()->NewWritableFile(
                         path, {.mode = OpenMode::kAppend, .permissions = 0644}));
    RETURN_IF_ERROR(file->Close());
  }
  return FileSystem::Default()->LockFile(path);
}

absl::Status CheckNoRestoreLeftovers(const std::filesystem::path& data_dir) {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(data_dir / "covenants", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(".") && (name.ends_with(".old") || name.ends_with(".restoring"))) {
      return absl::FailedPreconditionError(fmt::format(
          "a restore into {} was cut short ({} is left): run `koppel-linker restore` with the "
          "same backup again, which completes it, before starting the linker",
          data_dir.string(), it->path().string()));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLinkerManifest(const BackupManifest& manifest) {
  const auto refuse = [](std::string_view what) {
    return absl::DataLossError(
        fmt::format("the backup's {} is not a linker backup's manifest: {}; nothing was restored",
                    kBackupManifestFile, what));
  };
  const nlohmann::json& contents = manifest.contents;
  if (!contents.contains("store_format") || !contents["store_format"].is_string()) {
    return refuse("it names no store format");
  }
  if (contents["store_format"].get<std::string>() != LinkerStore::kFormat) {
    return absl::FailedPreconditionError(fmt::format(
        "the backup holds a store of format '{}', this linker reads '{}'; nothing was restored",
        LogSafe(contents["store_format"].get<std::string>().substr(0, 64)), LinkerStore::kFormat));
  }
  if (!contents.contains("covenants") || !contents["covenants"].is_object()) {
    return refuse("it lists no covenants");
  }
  for (const auto& [id, counts] : contents["covenants"].items()) {
    if (!IsName(id)) return refuse(fmt::format("a covenant id breaks the rule ({})", kNameRule));
    if (!counts.is_object()) return refuse(fmt::format("covenant {} has no counts", id));
    for (const char* key : {"records", "batches", "releases", "version", "sequence"}) {
      if (counts.contains(key) && !counts[key].is_number_unsigned()) {
        return refuse(fmt::format("covenant {}: `{}` is not a count", id, key));
      }
    }
  }
  if (contents.contains("audit")) {
    const nlohmann::json& audit = contents["audit"];
    if (!audit.is_object() || !audit.contains("seq") || !audit["seq"].is_number_unsigned() ||
        !audit.contains("hash") || !audit["hash"].is_string()) {
      return refuse("its audit entry is not a sequence number and a hash");
    }
  }
  for (const auto& [file, sha256] : manifest.files) {
    if (file == "covenants.json" || file == "audit.log") continue;
    const size_t slash = file.find('/', std::string_view("covenants/").size());
    if (!file.starts_with("covenants/") || slash == std::string::npos ||
        !contents["covenants"].contains(
            file.substr(std::string_view("covenants/").size(),
                        slash - std::string_view("covenants/").size()))) {
      return refuse(fmt::format("it lists a file of no listed covenant ({})", LogSafe(file)));
    }
  }
  return absl::OkStatus();
}

absl::Status BackupLinker(const std::filesystem::path& data_dir,
                          const std::filesystem::path& audit_file,
                          const std::filesystem::path& keys_dir, const std::filesystem::path& to,
                          const ProgressLine& progress) {
  std::error_code ec;
  if (!std::filesystem::is_directory(data_dir, ec)) {
    return absl::NotFoundError(fmt::format("--data {} is no directory", data_dir.string()));
  }
  RETURN_IF_ERROR(CheckIsLinkerData(data_dir));
  RETURN_IF_ERROR(PrepareBackupDirectory(to));
  const std::filesystem::path socket = data_dir / kAdminSocketFile;
  if (SocketAnswers(socket)) {
    progress(fmt::format("online backup through {}", socket.string()));
    return OnlineBackup(socket.string(), to, progress);
  }
  absl::StatusOr<StoppedLinker> stopped =
      LockStoppedLinker(data_dir, audit_file,
                        "it did not answer on its admin socket " + socket.string() +
                            " (a linker of an earlier version, or one still starting?); retry");
  if (!stopped.ok()) return stopped.status();
  if (keys_dir.empty()) {
    return absl::InvalidArgumentError(
        "no linker is running: a backup made by copying the files is signed with the linker's "
        "key: give --keys (or --config with `keys`)");
  }
  ASSIGN_OR_RETURN(Secret signing_key,
                   ReadKeyFile(keys_dir / "linker-signing.key", crypto_sign_SECRETKEYBYTES));
  progress("no linker is running: copying the files (a start waits for the data directory's lock)");
  return ColdBackup(data_dir, audit_file, signing_key, to, progress);
}

absl::StatusOr<RestoreReport> RestoreLinker(const std::filesystem::path& from,
                                            const std::filesystem::path& data_dir,
                                            const std::filesystem::path& audit_file,
                                            const std::filesystem::path& keys_dir, bool new_data,
                                            const ProgressLine& progress) {
  ASSIGN_OR_RETURN(BackupManifest manifest, ReadBackupManifest(from, kLinkerBackupFormat));
  ASSIGN_OR_RETURN(
      std::vector<uint8_t> public_key,
      ReadPublicKeyFile(keys_dir / "linker-signing.key.pub", crypto_sign_PUBLICKEYBYTES));
  RETURN_IF_ERROR(VerifyBackupManifestSignature(from, public_key));
  RETURN_IF_ERROR(CheckLinkerManifest(manifest));
  RETURN_IF_ERROR(VerifyBackupFiles(from, manifest));
  std::error_code ec;
  const bool fresh = !std::filesystem::exists(data_dir / "STORE_FORMAT", ec);
  if (fresh && !new_data) {
    return absl::InvalidArgumentError(std::string(CheckIsLinkerData(data_dir).message()) +
                                      "; to restore into a new, empty directory, pass --new-data");
  }
  if (fresh && std::filesystem::exists(data_dir, ec) && !std::filesystem::is_empty(data_dir, ec)) {
    return absl::InvalidArgumentError(
        fmt::format("--new-data: {} is not empty; nothing was restored", data_dir.string()));
  }
  if (SocketAnswers(data_dir / kAdminSocketFile)) {
    return absl::UnavailableError(fmt::format(
        "a linker is running on {} (it answers on its admin socket); stop it before restoring; "
        "nothing was restored",
        data_dir.string()));
  }
  progress(fmt::format("backup of {} by koppel-linker {} verified: {} files", manifest.time,
                       manifest.version, manifest.files.size()));
  // Every check passed: from here on the data directory is written.
  std::filesystem::create_directories(data_dir / "covenants", ec);
  std::filesystem::permissions(data_dir, std::filesystem::perms::owner_all, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        fmt::format("cannot create {}: {}", (data_dir / "covenants").string(), ec.message()));
  }
  ASSIGN_OR_RETURN(
      StoppedLinker lock,
      LockStoppedLinker(data_dir, audit_file, "stop it before restoring; nothing was restored"));
  RestoreReport report;
  RETURN_IF_ERROR(FinishCutShortRestore(data_dir / "covenants"));
  if (fresh) {
    RETURN_IF_ERROR(
        WriteFileAtomically(data_dir / "STORE_FORMAT", std::string(LinkerStore::kFormat) + "\n"));
  }
  // The data directory's own ledger and audit log are newer than the backup's: kept.
  const std::filesystem::path ledger_file = data_dir / "covenants.json";
  if (!std::filesystem::exists(ledger_file, ec) && manifest.files.contains("covenants.json")) {
    RETURN_IF_ERROR(CopyFileByRename(from / "covenants.json", ledger_file));
    report.notes.push_back("the data directory had no ledger: the backup's was restored");
  }
  if (!std::filesystem::exists(audit_file, ec) && manifest.files.contains("audit.log")) {
    RETURN_IF_ERROR(CopyFileByRename(from / "audit.log", audit_file));
    report.notes.push_back("the data directory had no audit log: the backup's was restored");
  }
  std::vector<AuditEntry> entries;
  if (std::filesystem::exists(audit_file, ec)) {
    size_t torn = 0;
    ASSIGN_OR_RETURN(entries, ReadAuditLog(audit_file, &torn));
  }
  std::unique_ptr<policy::CovenantLedger> ledger;
  if (std::filesystem::exists(ledger_file, ec)) {
    ASSIGN_OR_RETURN(ledger, policy::CovenantLedger::Open(ledger_file, true));
  }
  const nlohmann::json audit_anchor =
      manifest.contents.contains("audit") ? manifest.contents["audit"] : nlohmann::json::object();
  const nlohmann::json covenants = manifest.contents.contains("covenants")
                                       ? manifest.contents["covenants"]
                                       : nlohmann::json::object();
  const uint64_t anchor_seq = audit_anchor.value("seq", uint64_t{0});
  const std::string anchor_hash = audit_anchor.value("hash", std::string());
  for (const auto& [id, counts] : covenants.items()) {
    if (ledger != nullptr) {
      if (std::optional<policy::CovenantLedger::Entry> entry = ledger->Find(id);
          entry.has_value() && !entry->ended_at.empty()) {
        report.skipped.push_back(fmt::format(
            "covenant {} ended at {} ({}): not restored; an ended covenant does not return", id,
            entry->ended_at, entry->end_reason));
        continue;
      }
    }
    const std::filesystem::path staged = data_dir / "covenants" / ("." + id + ".restoring");
    std::filesystem::remove_all(staged, ec);
    const std::string prefix = "covenants/" + id + "/";
    for (const auto& [file, sha256] : manifest.files) {
      if (!file.starts_with(prefix)) continue;
      RETURN_IF_ERROR(CopyFileDurably(from / file, staged / file.substr(prefix.size())));
    }
    std::filesystem::permissions(staged, std::filesystem::perms::owner_all, ec);
    const int64_t in_backup = counts.value("releases", int64_t{0});
    ASSIGN_OR_RETURN(ReleasesAfterBackup after,
                     ReleasesAfter(entries, id, anchor_seq, anchor_hash));
    const int64_t at_least =
        after.continues ? in_backup + after.count : std::max(in_backup, after.count);
    if (at_least > in_backup || !after.history.empty()) {
      nlohmann::json history = nlohmann::json::array();
      for (const SealedRelease& entry : after.history) {
        history.push_back(
            {{"sequence", entry.sequence}, {"entry", absl::Base64Escape(entry.sealed)}});
      }
      RETURN_IF_ERROR(WriteFileAtomically(staged / LinkerStore::kRestoreNoteFile,
                                          nlohmann::json({{"releases_at_least", at_least},
                                                          {"backup_time", manifest.time},
                                                          {"history", std::move(history)}})
                                                  .dump() +
                                              "\n"));
      report.notes.push_back(fmt::format(
          "covenant {}: the audit log records {} release(s) made after the backup; they stay "
          "spent (the count is raised to {} when the linker opens the covenant) and {} of their "
          "history entries, which the audit log holds sealed, are put back then{}",
          id, after.count, at_least, after.history.size(),
          after.without_entry == 0
              ? std::string()
              : fmt::format("; {} are not in the audit log (too large, or audited by an earlier "
                            "version): later exact releases are not checked against them",
                            after.without_entry)));
    }
    RETURN_IF_ERROR(SyncTree(staged));
    RETURN_IF_ERROR(ReplaceDirectory(staged, data_dir / "covenants" / id));
    progress(fmt::format("covenant {}: restored ({} records of {} batches)", id,
                         counts.value("records", uint64_t{0}),
                         counts.value("batches", uint64_t{0})));
    report.restored.push_back(id);
  }
  report.notes.push_back(
      "a covenant the vault ended since the backup is deleted again when the linker starts (the "
      "vault reports it ended; its data key is destroyed, so its restored files cannot be read)");
  report.notes.push_back(
      "agents resend what the linker no longer holds: run `koppel-agent send` for every outbox");
  return report;
}

}  // namespace koppel::linker
