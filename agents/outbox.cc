#include "agents/outbox.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.h"
#include "core/status_macros.h"

namespace koppel::agent {
namespace {

absl::Status MakePrivateDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        fmt::format("cannot create directory {}: {}", dir.string(), ec.message()));
  }
  ::chmod(dir.c_str(), 0700);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Outbox> Outbox::Open(const std::filesystem::path& dir) {
  RETURN_IF_ERROR(MakePrivateDirectory(dir));
  RETURN_IF_ERROR(MakePrivateDirectory(dir / "runs"));
  RETURN_IF_ERROR(MakePrivateDirectory(dir / "receipts"));
  return Outbox(dir);
}

absl::Status Outbox::Write(const v1::SealedBatch& batch) {
  std::string bytes;
  if (!batch.SerializeToString(&bytes)) return absl::InternalError("cannot serialise a batch");
  return WriteFileAtomically(dir_ / fmt::format("{}{}", batch.batch_id(), kBatchSuffix), bytes);
}

absl::Status Outbox::WriteManifest(std::string_view run_id, std::string_view text) {
  return WriteFileAtomically(dir_ / "runs" / fmt::format("{}.json", run_id), text);
}

absl::StatusOr<std::vector<std::filesystem::path>> Outbox::ListBatches() const {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == kBatchSuffix) {
      out.push_back(entry.path());
    }
  }
  if (ec)
    return absl::InternalError(fmt::format("cannot list {}: {}", dir_.string(), ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

absl::StatusOr<std::vector<nlohmann::json>> ReadManifests(const std::filesystem::path& runs) {
  std::vector<nlohmann::json> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(runs, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    nlohmann::json manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (manifest.is_discarded() || !manifest.is_object()) {
      return absl::DataLossError(
          fmt::format("run manifest {} is not valid JSON; move it away if it is not koppel's",
                      entry.path().string()));
    }
    out.push_back(std::move(manifest));
  }
  if (ec)
    return absl::InternalError(fmt::format("cannot list {}: {}", runs.string(), ec.message()));
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> Outbox::CompletedRuns(std::string_view dataset) const {
  ASSIGN_OR_RETURN(std::vector<nlohmann::json> manifests, ReadManifests(dir_ / "runs"));
  std::vector<std::string> runs;
  for (const nlohmann::json& m : manifests) {
    if (m.value("dataset", "") == dataset) runs.push_back(m.value("run_id", ""));
  }
  return runs;
}

absl::StatusOr<std::vector<std::string>> Outbox::Undelivered() const {
  ASSIGN_OR_RETURN(std::vector<nlohmann::json> manifests, ReadManifests(dir_ / "runs"));
  std::vector<std::string> out;
  for (const nlohmann::json& m : manifests) {
    if (!m.contains("batches") || !m["batches"].is_array()) continue;
    for (const auto& id : m["batches"]) {
      if (!id.is_string()) continue;
      std::string batch_id = id.get<std::string>();
      if (!std::filesystem::exists(dir_ / "receipts" / (batch_id + ".receipt"))) {
        out.push_back(std::move(batch_id));
      }
    }
  }
  return out;
}

absl::Status Outbox::WriteReceipt(const v1::Receipt& receipt) {
  return WriteFileAtomically(ReceiptPath(receipt.batch_id()), receipt.SerializeAsString());
}

absl::StatusOr<std::vector<v1::Receipt>> Outbox::DeliveredReceipts() const {
  ASSIGN_OR_RETURN(std::vector<nlohmann::json> manifests, ReadManifests(dir_ / "runs"));
  std::vector<v1::Receipt> out;
  for (const nlohmann::json& m : manifests) {
    if (!m.contains("batches") || !m["batches"].is_array()) continue;
    for (const auto& id : m["batches"]) {
      if (!id.is_string()) continue;
      const std::filesystem::path path = ReceiptPath(id.get<std::string>());
      if (!std::filesystem::exists(path)) continue;
      std::ifstream in(path, std::ios::binary);
      v1::Receipt receipt;
      if (!in || !receipt.ParseFromIstream(&in)) {
        return absl::DataLossError(fmt::format(
            "receipt {} is unreadable; move it away and send again (the linker acknowledges a "
            "batch it holds as already held)",
            path.string()));
      }
      out.push_back(std::move(receipt));
    }
  }
  return out;
}

absl::StatusOr<std::filesystem::path> Outbox::OrphanReceipt(std::string_view batch_id) {
  const std::filesystem::path orphans = dir_ / "receipts.orphaned";
  RETURN_IF_ERROR(MakePrivateDirectory(orphans));
  std::filesystem::path to = orphans / fmt::format("{}.receipt", batch_id);
  for (int n = 2; std::filesystem::exists(to); ++n) {
    to = orphans / fmt::format("{}.{}.receipt", batch_id, n);
  }
  FileSystem* fs = FileSystem::Default();
  RETURN_IF_ERROR(fs->RenameFile(ReceiptPath(batch_id), to));
  RETURN_IF_ERROR(fs->SyncDirectory(orphans));
  RETURN_IF_ERROR(fs->SyncDirectory(dir_ / "receipts"));
  return to;
}

absl::StatusOr<size_t> Outbox::RemoveIncompleteBatches() {
  ASSIGN_OR_RETURN(std::vector<nlohmann::json> manifests, ReadManifests(dir_ / "runs"));
  std::set<std::string> listed;
  for (const nlohmann::json& m : manifests) {
    if (m.contains("batches") && m["batches"].is_array()) {
      for (const auto& id : m["batches"]) {
        if (id.is_string()) listed.insert(id.get<std::string>());
      }
    }
  }
  ASSIGN_OR_RETURN(std::vector<std::filesystem::path> batches, ListBatches());
  size_t removed = 0;
  for (const auto& path : batches) {
    if (listed.contains(path.stem().string())) continue;
    std::error_code ec;
    std::filesystem::remove(path, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          fmt::format("cannot remove incomplete batch {}: {}", path.string(), ec.message()));
    }
    ++removed;
  }
  return removed;
}

}  // namespace koppel::agent
