#include "linker/admin_service.h"

#include <fmt/format.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <fstream>

#include "absl/cleanup/cleanup.h"
#include "absl/time/clock.h"
#include "core/atomic_file.h"
#include "core/backup_files.h"
#include "core/file_contents.h"
#include "core/status_macros.h"
#include "core/tls.h"

#ifndef KOPPEL_VERSION
#define KOPPEL_VERSION "unknown"
#endif

namespace koppel::linker {
namespace {

constexpr size_t kChunkBytes = 1 << 20;
// How long one backup may take to stream; a stalled client loses it (and its checkpoint).
constexpr absl::Duration kBackupStreamLimit = absl::Hours(6);

std::string RandomSuffix() {
  std::array<unsigned char, 8> bytes;
  randombytes_buf(bytes.data(), bytes.size());
  std::string hex(2 * bytes.size() + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes.data(), bytes.size());
  hex.pop_back();
  return hex;
}

// The audit log as it is now, up to its last complete line.
absl::Status CopyAuditLog(const std::filesystem::path& from, const std::filesystem::path& to) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileContents(from, "audit log"));
  const size_t end = bytes.rfind('\n');
  bytes.resize(end == std::string::npos ? 0 : end + 1);
  return WriteFileAtomically(to, bytes);
}

}  // namespace

void LinkerAdminService::RemoveLeftovers(const std::filesystem::path& data_dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir, ec)) {
    if (entry.path().filename().string().starts_with(kBackupTempPrefix)) {
      std::filesystem::remove_all(entry.path(), ec);
    }
  }
}

absl::Status LinkerAdminService::TakeBackup(const std::filesystem::path& dir,
                                            std::vector<std::string>* progress) {
  BackupManifest manifest;
  manifest.format = std::string(kLinkerBackupFormat);
  manifest.version = KOPPEL_VERSION;
  manifest.time = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  // Every covenant is held while its point is taken: an end waits, a delivery does not.
  std::vector<CovenantHold> holds;
  for (const std::shared_ptr<ServedCovenant>& served : covenants_->All()) {
    CovenantHold hold(served);
    if (!hold->ended()) holds.push_back(std::move(hold));
  }
  // The entry comes before the checkpoints, so that every release a checkpoint misses is
  // audited after it: a restore counts them from there (RestoreLinker).
  nlohmann::json ids = nlohmann::json::array();
  for (const CovenantHold& hold : holds) ids.push_back(hold->covenant().id);
  uint64_t backup_seq = 0;
  RETURN_IF_ERROR(
      audit_->Append("backup", "linker operator", "", {{"covenants", ids}}, &backup_seq));
  nlohmann::json covenants = nlohmann::json::object();
  for (const CovenantHold& hold : holds) {
    const std::string& id = hold->covenant().id;
    ASSIGN_OR_RETURN(HighWaterMark mark, store_->Checkpoint(id, dir / "covenants" / id));
    covenants[id] = {{"version", hold->covenant().version},
                     {"records", mark.records},
                     {"batches", mark.batches},
                     {"releases", mark.releases},
                     {"sequence", mark.sequence}};
    progress->push_back(fmt::format("covenant {} version {}: {} records of {} batches, {} releases",
                                    id, hold->covenant().version, mark.records, mark.batches,
                                    mark.releases));
  }
  std::error_code ec;
  if (std::filesystem::exists(ledger_file_, ec)) {
    RETURN_IF_ERROR(CopyFileDurably(ledger_file_, dir / "covenants.json"));
  }
  RETURN_IF_ERROR(CopyAuditLog(audit_->path(), dir / "audit.log"));
  holds.clear();
  ASSIGN_OR_RETURN(std::vector<AuditEntry> entries, ReadAuditLog(dir / "audit.log"));
  std::string backup_hash;
  for (const AuditEntry& entry : entries) {
    if (entry.seq == backup_seq) backup_hash = entry.hash;
  }
  manifest.contents = {{"covenants", covenants},
                       {"audit", {{"seq", backup_seq}, {"hash", backup_hash}}},
                       {"store_format", std::string(LinkerStore::kFormat)}};
  RETURN_IF_ERROR(WriteBackupManifest(dir, std::move(manifest), signing_key_));
  spdlog::info("backup taken: {} covenants (audit entry {})", covenants.size(), backup_seq);
  return absl::OkStatus();
}

grpc::Status LinkerAdminService::Backup(grpc::ServerContext* context,
                                        const v1::BackupRequest* /*request*/,
                                        grpc::ServerWriter<v1::BackupChunk>* writer) {
  absl::MutexLock one_at_a_time(&one_backup_);
  const std::filesystem::path dir = data_dir_ / (std::string(kBackupTempPrefix) + RandomSuffix());
  absl::Cleanup remove = [&dir] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  };
  std::vector<std::string> progress;
  if (absl::Status s = PrepareBackupDirectory(dir); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = TakeBackup(dir, &progress); !s.ok()) {
    spdlog::error("backup failed: {}", std::string(s.message()));
    return ToGrpcStatus(s);
  }
  for (const std::string& line : progress) {
    v1::BackupChunk chunk;
    chunk.set_progress(line);
    if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
  }
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string relative = std::filesystem::relative(it->path(), dir, ec).generic_string();
    if (relative != kBackupManifestFile && relative != kBackupSignatureFile) {
      files.push_back(std::move(relative));
    }
  }
  std::sort(files.begin(), files.end());
  files.emplace_back(kBackupManifestFile);  // last: a backup cut short has none
  files.emplace_back(kBackupSignatureFile);
  std::vector<char> buffer(kChunkBytes);
  // A client that stops reading must not hold the one backup (and its checkpoint) forever.
  const absl::Time give_up = absl::Now() + kBackupStreamLimit;
  for (const std::string& file : files) {
    std::ifstream in(dir / file, std::ios::binary);
    for (;;) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const auto n = static_cast<size_t>(in.gcount());
      v1::BackupChunk chunk;
      chunk.set_path(file);
      chunk.set_data(buffer.data(), n);
      chunk.set_end_of_file(n < buffer.size());
      if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      if (absl::Now() > give_up) {
        spdlog::error("backup given up: the client did not take it within {}",
                      absl::FormatDuration(kBackupStreamLimit));
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "backup stream too slow");
      }
      if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
      if (chunk.end_of_file()) break;
    }
    if (in.bad()) return grpc::Status(grpc::StatusCode::INTERNAL, "cannot read " + file);
  }
  return grpc::Status::OK;
}

}  // namespace koppel::linker
