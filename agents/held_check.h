// After the linker's store is restored from a backup to an earlier point, it no longer holds
// some batches an agent holds receipts for. Before a send, the agent asks the linker which of
// its delivered batches (those with receipts, of completed runs) it does not hold, and moves
// their receipts aside to receipts.orphaned/, kept: the send that follows delivers those
// batches again, with the undelivered ones. The linker acknowledges a batch it still holds as
// a duplicate, so nothing is counted twice whatever the answer.
#ifndef KOPPEL_AGENTS_HELD_CHECK_H_
#define KOPPEL_AGENTS_HELD_CHECK_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agents/outbox.h"
#include "koppel/v1/linker.grpc.pb.h"

namespace koppel::agent {

// Batch ids per CheckHeld call: the most the linker answers in one.
inline constexpr int kHeldCheckPageSize = 10000;

struct HeldCheck {
  uint64_t receipts_checked = 0;
  uint64_t calls = 0;
  // The linker answers no CheckHeld (it predates it): nothing was checked.
  bool linker_cannot_check = false;
  // Not held, with their receipts moved to receipts.orphaned/: delivered again by this send.
  std::vector<std::string> resend;
  // Not held, but their sealed batch is gone from the outbox: the receipt stays where it is,
  // and the holder seals the export again to deliver the records.
  std::vector<std::string> lost;
};

// Asks the linker about every receipt of `outbox` (per covenant and dataset, in pages of
// `page_size`) and orphans the receipts of what it does not hold. Errors: the linker's refusal
// as it gave it (its rule attached), UNAVAILABLE and the like as gRPC reported them, the
// outbox's file errors.
absl::StatusOr<HeldCheck> OrphanUnheldReceipts(
    Outbox& outbox, v1::LinkerService::StubInterface& stub, int page_size = kHeldCheckPageSize,
    std::chrono::seconds deadline = std::chrono::seconds(60));

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_HELD_CHECK_H_
