#include "agents/held_check.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "core/status_macros.h"
#include "core/tls.h"

namespace koppel::agent {

absl::StatusOr<HeldCheck> OrphanUnheldReceipts(Outbox& outbox,
                                               v1::LinkerService::StubInterface& stub,
                                               int page_size, std::chrono::seconds deadline) {
  ASSIGN_OR_RETURN(std::vector<v1::Receipt> receipts, outbox.DeliveredReceipts());
  HeldCheck check;
  // Per covenant and dataset, each in run order.
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> groups;
  for (const v1::Receipt& r : receipts) {
    groups[{r.covenant_id(), r.dataset()}].push_back(r.batch_id());
  }
  std::set<std::string> not_held;
  const size_t page = static_cast<size_t>(std::max(page_size, 1));
  for (const auto& [key, ids] : groups) {
    for (size_t begin = 0; begin < ids.size(); begin += page) {
      v1::CheckHeldRequest request;
      request.set_covenant_id(key.first);
      request.set_dataset(key.second);
      const size_t end = std::min(ids.size(), begin + page);
      for (size_t i = begin; i < end; ++i) request.add_batch_ids(ids[i]);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + deadline);
      v1::CheckHeldResponse response;
      const grpc::Status status = stub.CheckHeld(&context, request, &response);
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
        HeldCheck unanswered;
        unanswered.linker_cannot_check = true;
        return unanswered;
      }
      if (!status.ok()) return FromGrpcStatus(status);
      ++check.calls;
      check.receipts_checked += end - begin;
      const std::set<std::string> asked(ids.begin() + static_cast<std::ptrdiff_t>(begin),
                                        ids.begin() + static_cast<std::ptrdiff_t>(end));
      for (const std::string& id : response.not_held()) {
        if (asked.contains(id)) not_held.insert(id);  // only what was asked is orphaned
      }
    }
  }
  // In run order, as the send delivers them.
  for (const v1::Receipt& r : receipts) {
    if (!not_held.contains(r.batch_id())) continue;
    if (!std::filesystem::exists(outbox.BatchPath(r.batch_id()))) {
      check.lost.push_back(r.batch_id());
      continue;
    }
    RETURN_IF_ERROR(outbox.OrphanReceipt(r.batch_id()).status());
    check.resend.push_back(r.batch_id());
  }
  return check;
}

}  // namespace koppel::agent
