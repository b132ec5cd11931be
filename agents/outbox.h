// The agent's outbox: a directory of sealed, signed batches waiting to be delivered, one file
// per batch named by its id. Files appear atomically (write, fsync, rename), so a crash leaves
// either a whole batch or none. It holds nothing but sealed batches and run manifests, so a copy
// of the outbox reveals nothing about the people in the export.
#ifndef KOPPEL_AGENTS_OUTBOX_H_
#define KOPPEL_AGENTS_OUTBOX_H_

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "koppel/v1/batch.pb.h"
#include "koppel/v1/linker.pb.h"

namespace koppel::agent {

class Outbox {
 public:
  // Creates the directory (mode 0700) when it does not exist.
  static absl::StatusOr<Outbox> Open(const std::filesystem::path& dir);

  absl::Status Write(const v1::SealedBatch& batch);
  // Writes `text` as runs/<run_id>.json, atomically.
  absl::Status WriteManifest(std::string_view run_id, std::string_view text);
  // Paths of the sealed batches present, sorted.
  absl::StatusOr<std::vector<std::filesystem::path>> ListBatches() const;

  // Run ids of the completed runs (those with a manifest) that sealed `dataset`.
  absl::StatusOr<std::vector<std::string>> CompletedRuns(std::string_view dataset) const;

  // Ids of the batches of completed runs that have no receipt yet, in run order.
  absl::StatusOr<std::vector<std::string>> Undelivered() const;
  // Keeps a verified receipt as receipts/<batch id>.receipt, atomically.
  absl::Status WriteReceipt(const v1::Receipt& receipt);
  // The receipts of the batches of completed runs that have one, in run order. DATA_LOSS
  // naming the file when a receipt cannot be read.
  absl::StatusOr<std::vector<v1::Receipt>> DeliveredReceipts() const;
  // Moves the receipt of a batch the linker no longer holds (its store was restored from a
  // backup) to receipts.orphaned/, atomically, so that the batch is undelivered again and the
  // next delivery sends it. Nothing is deleted: a receipt orphaned before under the same id
  // stays, the new one is numbered (<id>.2.receipt, ...). Returns where it went.
  absl::StatusOr<std::filesystem::path> OrphanReceipt(std::string_view batch_id);
  std::filesystem::path ReceiptPath(std::string_view batch_id) const {
    return dir_ / "receipts" / (std::string(batch_id) + ".receipt");
  }
  std::filesystem::path BatchPath(std::string_view batch_id) const {
    return dir_ / (std::string(batch_id) + std::string(kBatchSuffix));
  }

  // Removes batches that no manifest lists: the remains of a seal run that was interrupted
  // before it finished. They were never complete, so nothing may deliver them. Returns how many.
  absl::StatusOr<size_t> RemoveIncompleteBatches();

  const std::filesystem::path& dir() const { return dir_; }
  static constexpr std::string_view kBatchSuffix = ".sealed";

 private:
  explicit Outbox(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_OUTBOX_H_
