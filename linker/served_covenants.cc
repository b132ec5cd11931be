#include "linker/served_covenants.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/status_macros.h"

namespace koppel {

absl::StatusOr<std::unique_ptr<ServedCovenant>> ServedCovenant::Create(
    SignedCovenant signed_covenant, LinkerKeys keys, LinkerStore* store) {
  std::unique_ptr<ServedCovenant> served(new ServedCovenant());
  served->sha256_ = signed_covenant.sha256;
  ASSIGN_OR_RETURN(std::unique_ptr<PerturbationTable> perturbation,
                   LoadPerturbationTable(signed_covenant.covenant, signed_covenant.path));
  ASSIGN_OR_RETURN(served->ingester_,
                   BatchIngester::Create(std::move(signed_covenant.covenant), std::move(keys), store));
  const BatchIngester& ingester = *served->ingester_;
  served->queries_ = std::make_unique<QueryRunner>(&ingester.covenant(), &ingester.data_key(), store,
                                                   std::move(perturbation));
  served->flags_ = std::make_unique<FlagResponder>(&ingester.covenant(), &ingester.rekey(),
                                                   &ingester.data_key(), store);
  return served;
}

void ServedCovenants::Add(std::unique_ptr<ServedCovenant> covenant) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string id = covenant->covenant().id;
  served_[id] = std::move(covenant);
}

absl::StatusOr<std::shared_ptr<ServedCovenant>> ServedCovenants::Find(const std::string& id) const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = served_.find(id);
    if (it != served_.end()) return it->second;
  }
  std::optional<CovenantLedger::Entry> entry = ledger_->Find(id);
  if (entry.has_value() && !entry->ended_at.empty()) {
    return absl::FailedPreconditionError(fmt::format(
        "covenant {} ended at {} ({}); its data is deleted (rule: retention)", id,
        entry->ended_at, entry->end_reason));
  }
  std::vector<std::string> ids;
  for (const auto& s : All()) ids.push_back(s->covenant().id);
  return absl::NotFoundError(fmt::format("this linker serves no covenant '{}' (it serves: {})", id,
                                         ids.empty() ? "none" : fmt::format("{}", fmt::join(ids, ", "))));
}

absl::StatusOr<std::shared_ptr<ServedCovenant>> ServedCovenants::FindForRecipient(
    const std::string& party) const {
  std::vector<std::shared_ptr<ServedCovenant>> matches;
  for (const auto& s : All()) {
    if (s->covenant().analysis.MayQuery(s->covenant(), party).ok()) matches.push_back(s);
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty()) {
    return absl::PermissionDeniedError(fmt::format(
        "no covenant this linker serves names '{}' as a recipient of analyses (rule: "
        "analysis.recipients)", party));
  }
  std::vector<std::string> ids;
  for (const auto& s : matches) ids.push_back(s->covenant().id);
  return absl::InvalidArgumentError(fmt::format(
      "'{}' is a recipient under several covenants ({}); say which with --covenant-id", party,
      fmt::join(ids, ", ")));
}

std::vector<std::shared_ptr<ServedCovenant>> ServedCovenants::All() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::shared_ptr<ServedCovenant>> all;
  for (const auto& [id, s] : served_) all.push_back(s);
  return all;
}

absl::StatusOr<CovenantHold> ServedCovenants::Hold(const std::string& id,
                                                   const std::string& recipient,
                                                   absl::Time now) const {
  CovenantHold hold;
  if (id.empty() && !recipient.empty()) {
    ASSIGN_OR_RETURN(hold.served, FindForRecipient(recipient));
  } else {
    ASSIGN_OR_RETURN(hold.served, Find(id));
  }
  hold.lock = std::shared_lock<std::shared_mutex>(hold.served->in_use());
  if (hold.served->ended()) {
    return absl::FailedPreconditionError(fmt::format(
        "covenant {} has just ended; its data is deleted (rule: retention)",
        hold.served->covenant().id));
  }
  RETURN_IF_ERROR(hold.served->covenant().InForce(now));
  return hold;
}

absl::StatusOr<LinkerStore::Deleted> ServedCovenants::End(const std::string& id,
                                                          const std::string& event,
                                                          const std::string& actor,
                                                          const std::string& reason,
                                                          absl::Time at) {
  RETURN_IF_ERROR(ledger_->MarkEnded(id, at, reason));
  std::shared_ptr<ServedCovenant> served;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = served_.find(id);
    if (it != served_.end()) {
      served = std::move(it->second);
      served_.erase(it);
    }
  }
  std::unique_lock<std::shared_mutex> exclusive;
  if (served != nullptr) {
    exclusive = std::unique_lock<std::shared_mutex>(served->in_use());
    served->MarkEnded();
  }
  ASSIGN_OR_RETURN(LinkerStore::Deleted deleted, store_->DeleteCovenant(id));
  RETURN_IF_ERROR(ledger_->MarkDeleted(id));
  if (served != nullptr) {
    exclusive.unlock();
    served.reset();  // the keys are wiped when the last request lets go
  }
  spdlog::info("covenant {} ended ({}): deleted {} records of {} batches", id, reason,
               deleted.records, deleted.batches);
  if (audit_ != nullptr) {
    RETURN_IF_ERROR(audit_->Append(event, actor, id,
                                   {{"reason", reason},
                                    {"records_deleted", deleted.records},
                                    {"batches_deleted", deleted.batches}}));
  }
  return deleted;
}

int ServedCovenants::EndExpired(absl::Time now) {
  int ended = 0;
  for (const auto& s : All()) {
    if (now < s->covenant().RetentionEndsAt()) continue;
    const std::string id = s->covenant().id;
    absl::StatusOr<LinkerStore::Deleted> deleted =
        End(id, "retention_deletion", "linker", "retention period over", now);
    if (!deleted.ok()) {
      spdlog::error("ending covenant {} at the end of its retention failed: {}", id,
                    std::string(deleted.status().message()));
      continue;
    }
    ++ended;
  }
  return ended;
}

}  // namespace koppel
