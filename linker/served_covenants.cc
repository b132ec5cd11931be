#include "linker/served_covenants.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <optional>

#include "core/identifier_rules.h"
#include "core/log_safe.h"
#include "core/refusal.h"
#include "core/status_macros.h"

namespace koppel::linker {

absl::StatusOr<std::unique_ptr<ServedCovenant>> ServedCovenant::Create(
    policy::SignedCovenant signed_covenant, LinkerKeys keys, LinkerStore* store,
    VaultKeyEpoch vault) {
  std::unique_ptr<ServedCovenant> served(new ServedCovenant());
  served->sha256_ = signed_covenant.sha256;
  ASSIGN_OR_RETURN(std::unique_ptr<analysis::PerturbationTable> perturbation,
                   LoadPerturbationTable(signed_covenant.covenant, signed_covenant.path));
  RETURN_IF_ERROR(store->OpenCovenant(signed_covenant.covenant.id, keys.data_key));
  ASSIGN_OR_RETURN(served->ingester_,
                   BatchIngester::Create(std::move(signed_covenant.covenant), std::move(keys),
                                         store, std::move(vault)));
  const BatchIngester& ingester = *served->ingester_;
  served->queries_ = std::make_unique<QueryRunner>(&ingester.covenant(), &ingester.data_key(),
                                                   store, std::move(perturbation));
  served->flags_ = std::make_unique<FlagResponder>(&ingester.covenant(), &ingester.rekey(),
                                                   &ingester.data_key(), store);
  // Household indexes: built in the background now, then kept current by every register batch.
  FlagResponder* flags = served->flags_.get();
  served->ingester_->SetCommitObserver(
      [flags](const v1::BatchHeader& header, const std::vector<StoredRecord>& records) {
        flags->BatchCommitted(header, records);
      });
  flags->StartBuilding();
  return served;
}

void ServedCovenants::Add(std::unique_ptr<ServedCovenant> covenant) {
  absl::MutexLock lock(&mutex_);
  const std::string id = covenant->covenant().id;
  served_[id] = std::move(covenant);
}

absl::StatusOr<std::shared_ptr<ServedCovenant>> ServedCovenants::Find(const std::string& id) const {
  {
    absl::MutexLock lock(&mutex_);
    auto it = served_.find(id);
    if (it != served_.end()) return it->second;
  }
  std::optional<policy::CovenantLedger::Entry> entry = ledger_->Find(id);
  if (entry.has_value() && !entry->ended_at.empty()) {
    return WithCovenantRule(
        absl::FailedPreconditionError(
            fmt::format("covenant {} ended at {} ({}); its data is deleted (rule: retention)", id,
                        entry->ended_at, entry->end_reason)),
        "retention", id, entry->version);
  }
  std::vector<std::string> ids;
  for (const auto& s : All()) ids.push_back(s->covenant().id);
  return absl::NotFoundError(
      fmt::format("this linker serves no covenant '{}' (it serves: {})", id,
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
    return WithCovenantRule(
        absl::PermissionDeniedError(fmt::format(
            "no covenant this linker serves names '{}' as a recipient of analyses (rule: "
            "analysis.recipients)",
            party)),
        "analysis.recipients", "", 0);
  }
  std::vector<std::string> ids;
  for (const auto& s : matches) ids.push_back(s->covenant().id);
  return absl::InvalidArgumentError(
      fmt::format("'{}' is a recipient under several covenants ({}); say which with --covenant-id",
                  party, fmt::join(ids, ", ")));
}

absl::Status ServedCovenants::Admit(std::string_view peer, std::string_view method) const {
  bool party = false;
  bool data_holder = false;
  for (const auto& s : All()) {
    const auto& parties = s->covenant().parties;
    auto it = parties.find(peer);
    if (it == parties.end()) continue;
    party = true;
    data_holder |= it->second.roles.contains("data_holder");
  }
  if (!party && !IsName(peer)) {  // never quoted: it may be anything the CA signed
    return WithServiceRule(
        absl::PermissionDeniedError(
            fmt::format("the certificate's common name ({} bytes) is not a party name (rule: {})",
                        peer.size(), kNameRule)),
        "party_name");
  }
  // An end statement is authorised by the officers' signatures, not by the certificate that
  // carries it; and it is small.
  if (method == "/koppel.v1.LinkerService/EndCovenant") return absl::OkStatus();
  if (!party) {
    return WithCovenantRule(
        absl::PermissionDeniedError(fmt::format(
            "'{}' is not a party of any covenant this linker serves (rule: parties)", peer)),
        "parties", "", 0);
  }
  if ((method == "/koppel.v1.LinkerService/Deliver" ||
       method == "/koppel.v1.LinkerService/CheckHeld") &&
      !data_holder) {
    return WithCovenantRule(
        absl::PermissionDeniedError(fmt::format(
            "'{}' is not a data holder under any covenant this linker serves, so it may not "
            "deliver (rule: parties[{}].roles)",
            peer, peer)),
        fmt::format("parties[{}].roles", peer), "", 0);
  }
  return absl::OkStatus();
}

std::vector<std::shared_ptr<ServedCovenant>> ServedCovenants::All() const {
  absl::MutexLock lock(&mutex_);
  std::vector<std::shared_ptr<ServedCovenant>> all;
  for (const auto& [id, s] : served_) all.push_back(s);
  return all;
}

namespace {

// A request for a covenant whose end has begun (it waits for the requests in flight) or is done.
absl::Status JustEnded(const ServedCovenant& served) {
  return WithCovenantRule(absl::FailedPreconditionError(fmt::format(
                              "covenant {} has just ended; its data is deleted (rule: retention)",
                              served.covenant().id)),
                          "retention", served.covenant().id, served.covenant().version);
}

}  // namespace

absl::StatusOr<CovenantHold> ServedCovenants::Hold(const std::string& id,
                                                   const std::string& recipient,
                                                   absl::Time now) const {
  std::shared_ptr<ServedCovenant> served;
  if (id.empty() && !recipient.empty()) {
    ASSIGN_OR_RETURN(served, FindForRecipient(recipient));
  } else {
    ASSIGN_OR_RETURN(served, Find(id));
  }
  if (served->ending()) {
    return JustEnded(*served);
  }
  CovenantHold hold(std::move(served));
  if (hold->ended()) {
    return JustEnded(*hold);
  }
  RETURN_IF_ERROR(hold->covenant().InForce(now));
  return hold;
}

absl::StatusOr<LinkerStore::Deleted> ServedCovenants::End(const std::string& id,
                                                          const std::string& event,
                                                          const std::string& actor,
                                                          const std::string& reason,
                                                          absl::Time at) {
  RETURN_IF_ERROR(ledger_->MarkEnded(id, at, reason, event, actor));
  return FinishEnd(id, /*resumed=*/false);
}

absl::Status ServedCovenants::ResumePendingDeletions() {
  for (const std::string& id : ledger_->PendingDeletion()) {
    spdlog::warn("covenant {} ended but its deletion was cut short; finishing it now", id);
    RETURN_IF_ERROR(FinishEnd(id, /*resumed=*/true).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<LinkerStore::Deleted> ServedCovenants::Held(const std::string& id) const {
  return store_->Held(id);  // from the open store, or the counts kept beside a closed one
}

absl::StatusOr<uint64_t> ServedCovenants::FindEndEntry(const std::string& id,
                                                       const std::string& ended_at) const {
  ASSIGN_OR_RETURN(std::vector<AuditEntry> entries, ReadAuditLog(audit_->path()));
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->covenant != id || (it->event != "covenant_end" && it->event != "retention_deletion")) {
      continue;
    }
    auto at = it->details.find("ended_at");
    if (at != it->details.end() && at->is_string() && at->get<std::string>() == ended_at) {
      return it->seq;
    }
  }
  return 0;
}

absl::StatusOr<LinkerStore::Deleted> ServedCovenants::FinishEnd(const std::string& id,
                                                                bool resumed) {
  absl::MutexLock one_at_a_time(&ending_);
  std::optional<policy::CovenantLedger::Entry> entry = ledger_->Find(id);
  if (!entry.has_value() || entry->ended_at.empty()) {
    return absl::InternalError(
        fmt::format("covenant {} is to be deleted but the ledger does not record its end", id));
  }
  if (entry->deleted) return LinkerStore::Deleted{};  // another caller finished it meanwhile
  std::shared_ptr<ServedCovenant> served;
  {
    absl::MutexLock lock(&mutex_);
    auto it = served_.find(id);
    if (it != served_.end()) {
      served = std::move(it->second);
      served_.erase(it);
    }
  }
  std::optional<absl::MutexLock> exclusive;  // released before `served` goes
  if (served != nullptr) {           // requests in flight finish first; later ones are refused
    served->flags().StopBuilding();  // and answers waiting for a household index give up
    served->MarkEnding();
    exclusive.emplace(&served->in_use());
    served->MarkEnded();
  }
  // The end, who ended it, why and what is about to be deleted go to the audit log before
  // anything is deleted; a deletion resumed after a crash refers to that entry.
  uint64_t end_seq = entry->end_audit_seq;
  if (end_seq == 0 && resumed && audit_ != nullptr) {
    // A crash between the end entry and the ledger noting it: find the entry by its ended_at.
    ASSIGN_OR_RETURN(end_seq, FindEndEntry(id, entry->ended_at));
    if (end_seq != 0) RETURN_IF_ERROR(ledger_->MarkEndRecorded(id, end_seq));
  }
  if (end_seq == 0 && audit_ != nullptr) {
    ASSIGN_OR_RETURN(LinkerStore::Deleted held, Held(id));
    nlohmann::json details = {{"reason", entry->end_reason},
                              {"ended_at", entry->ended_at},
                              {"records", held.records},
                              {"batches", held.batches}};
    if (resumed) details["resumed"] = true;
    // A ledger written before ends were recorded there knows neither event nor actor.
    const std::string event = entry->end_event.empty() ? "retention_deletion" : entry->end_event;
    const std::string actor = entry->ended_by.empty() ? "linker" : entry->ended_by;
    RETURN_IF_ERROR(audit_->Append(event, actor, id, details, &end_seq));
    RETURN_IF_ERROR(ledger_->MarkEndRecorded(id, end_seq));
  }
  ASSIGN_OR_RETURN(LinkerStore::Deleted deleted, store_->DeleteCovenant(id));
  if (served != nullptr) {
    exclusive.reset();
    served.reset();  // the keys are wiped when the last request lets go
  }
  spdlog::info("covenant {} ended ({}): deleted {} records of {} batches", id,
               LogSafe(entry->end_reason), deleted.records, deleted.batches);
  // Before the ledger says "deleted": a crash in between repeats this entry rather than lose it.
  if (audit_ != nullptr) {
    nlohmann::json details = {{"end_seq", end_seq},
                              {"records_deleted", deleted.records},
                              {"batches_deleted", deleted.batches}};
    if (resumed) details["resumed"] = true;
    RETURN_IF_ERROR(audit_->Append("deletion_complete", "linker", id, details));
  }
  RETURN_IF_ERROR(ledger_->MarkDeleted(id));
  return deleted;
}

bool ServedCovenants::DeletionPending(const std::string& id) const {
  std::optional<policy::CovenantLedger::Entry> entry = ledger_->Find(id);
  return entry.has_value() && !entry->ended_at.empty() && !entry->deleted;
}

absl::StatusOr<LinkerStore::Deleted> ServedCovenants::FinishPendingDeletion(const std::string& id) {
  spdlog::warn("covenant {} ended but its deletion did not finish; retrying it now", id);
  return FinishEnd(id, /*resumed=*/true);
}

int ServedCovenants::RetryPendingDeletions() {
  int finished = 0;
  for (const std::string& id : ledger_->PendingDeletion()) {
    absl::StatusOr<LinkerStore::Deleted> deleted = FinishPendingDeletion(id);
    if (!deleted.ok()) {
      spdlog::error(
          "retrying the deletion of ended covenant {} failed again (retried at the next "
          "retention check): {}",
          id, std::string(deleted.status().message()));
      continue;
    }
    ++finished;
  }
  return finished;
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

absl::Status ServedCovenants::RetireKeyEpochs(ServedCovenant& served, bool wait) {
  ASSIGN_OR_RETURN(std::optional<QueryRunner::EpochRetirement> retired,
                   served.queries().RetireCompleteEpochs(wait));
  if (!retired.has_value() || audit_ == nullptr) return absl::OkStatus();
  return audit_->Append("key_epoch_retired", "linker", served.covenant().id,
                        {{"through_epoch", retired->through},
                         {"records", retired->deleted.records},
                         {"batches", retired->deleted.batches},
                         {"runs", retired->deleted.runs}});
}

void ServedCovenants::RetireKeyEpochs() {
  for (const auto& served : All()) {
    if (served->ending()) continue;
    const CovenantHold hold(served);
    if (hold->ended()) continue;
    if (absl::Status s = RetireKeyEpochs(*hold, /*wait=*/false); !s.ok()) {
      spdlog::error("retiring the old key epochs of covenant {} failed: {}", served->covenant().id,
                    std::string(s.message()));
    }
  }
}

}  // namespace koppel::linker
