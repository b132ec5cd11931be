#include "linker/linker_service.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <map>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "core/hmac.h"
#include "core/identifier_rules.h"
#include "core/log_safe.h"
#include "core/refusal.h"
#include "core/service_metrics.h"
#include "core/status_macros.h"
#include "core/tls.h"
#include "linker/key_epochs.h"
#include "linker/release_history.h"
#include "policies/end_statement.h"

namespace koppel::linker {
namespace {

constexpr char kService[] = "linker";

// Seconds since `start`, for a latency histogram.
double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

grpc::Status Unauthenticated() {
  return ToGrpcStatus(WithServiceRule(
      absl::UnauthenticatedError("no verified client certificate (rule: every party presents one)"),
      "client_certificate"));
}

// Key rotation, for the dataset `status` names (DatasetStatus, fields 5 to 8).
void FillEpochs(const KeyEpochs& epochs, v1::DatasetStatus* status) {
  for (uint32_t epoch : epochs.Of(status->dataset())) status->add_key_epochs(epoch);
  status->set_newest_key_epoch(epochs.newest());
  status->set_redeliver(!epochs.ToRedeliver({status->dataset()}).empty());
  absl::StatusOr<uint32_t> complete = epochs.CompleteFor(epochs.Datasets());
  if (complete.ok()) status->set_analysis_key_epoch(*complete);
}

}  // namespace

absl::Status LinkerService::Audit(std::string_view event, std::string_view actor,
                                  std::string_view covenant, const nlohmann::json& details) {
  if (audit_ == nullptr) return absl::OkStatus();
  absl::Status s = audit_->Append(event, actor, covenant, details);
  if (!s.ok()) {
    spdlog::error("cannot write the audit log: {}", std::string(s.message()));
    return absl::UnavailableError(
        "the linker cannot write its audit log and refuses every request until its operator "
        "fixes the log's disk and restarts it");
  }
  return s;
}

void LinkerService::CountRefusal(std::string_view method, const absl::Status& why) {
  koppel::CountRefusal(*metrics_, kService, method, why);
}

void LinkerService::CountIngested(const v1::Receipt& receipt) {
  const MetricLabels labels = {{"covenant", receipt.covenant_id()}, {"dataset", receipt.dataset()}};
  if (receipt.duplicate()) {
    metrics_
        ->GetCounter("koppel_linker_batches_reacknowledged_total",
                     "Batches delivered again and acknowledged as already held", labels)
        .Increment();
    return;
  }
  metrics_->GetCounter("koppel_linker_batches_ingested_total", "Batches stored", labels)
      .Increment();
  metrics_
      ->GetCounter("koppel_linker_records_ingested_total", "Records stored from batches", labels)
      .Increment(receipt.records_accepted());
  metrics_
      ->GetCounter("koppel_linker_records_rejected_total",
                   "Records of stored batches the linker rejected", labels)
      .Increment(receipt.records_rejected());
}

std::optional<grpc::Status> LinkerService::RefuseMalformed(
    std::string_view operation, std::string_view event, std::string_view method,
    const std::string& caller, const google::protobuf::Message& request) {
  if (!IsName(caller)) {
    spdlog::warn("refused {}: the certificate identity {} ({} bytes) is not a party name",
                 operation, LogSafe(caller), caller.size());
    const absl::Status refused = WithServiceRule(
        absl::UnauthenticatedError(fmt::format(
            "the client certificate's common name is not a party name (rule: {})", kNameRule)),
        "party_name");
    CountRefusal(method, refused);
    (void)Audit(event, "", "",
                {{"field", "certificate common name"},
                 {"length", caller.size()},
                 {"reason", std::string(refused.message())},
                 {"rule", RefusalRule(refused)}});
    return ToGrpcStatus(refused);
  }
  std::optional<FieldViolation> violation = CheckRequestFields(request);
  if (!violation.has_value()) return std::nullopt;
  const absl::Status refused = WithServiceRule(violation->ToStatus(), "request_field");
  CountRefusal(method, refused);
  spdlog::warn("refused {} from {}: {}", operation, LogSafe(caller), LogSafe(refused));
  (void)Audit(event, caller, "",
              {{"field", violation->field},
               {"length", violation->length},
               {"reason", std::string(refused.message())},
               {"rule", RefusalRule(refused)}});
  return ToGrpcStatus(refused);
}

absl::StatusOr<v1::Receipt> LinkerService::Ingest(const std::string& sender,
                                                  const v1::SealedBatch& batch) {
  if (batch.covenant_id().empty()) {
    return absl::InvalidArgumentError(
        fmt::format("batch {} names no covenant; seal it again with this version of koppel-agent",
                    batch.batch_id()));
  }
  ASSIGN_OR_RETURN(CovenantHold hold, covenants_->Hold(batch.covenant_id(), "", absl::Now()));
  return hold->ingester().Ingest(sender, batch);
}

grpc::Status LinkerService::Deliver(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::DeliverResponse, v1::DeliverRequest>* stream) {
  const std::string sender = PeerIdentity(*context);
  if (sender.empty()) return Unauthenticated();
  v1::DeliverRequest request;
  while (stream->Read(&request)) {
    if (std::optional<grpc::Status> refused =
            RefuseMalformed("a delivery", "delivery_refused", "Deliver", sender, request)) {
      return *refused;
    }
    const v1::SealedBatch& batch = request.batch();
    const absl::Time start = absl::Now();
    absl::StatusOr<v1::Receipt> receipt = Ingest(sender, batch);
    if (!receipt.ok()) {
      CountRefusal("Deliver", receipt.status());
      // Batch ids and party names only: the linker never sees an identifier to log.
      spdlog::warn("refused batch {} of {} from {}: {}", LogSafe(batch.batch_id()),
                   LogSafe(batch.dataset()), LogSafe(sender), LogSafe(receipt.status()));
      (void)Audit("delivery_refused", sender, batch.covenant_id(),
                  {{"batch_id", batch.batch_id()},
                   {"dataset", batch.dataset()},
                   {"reason", std::string(receipt.status().message())},
                   {"rule", RefusalRule(receipt.status())}});
      return ToGrpcStatus(receipt.status());
    }
    if (absl::Status s = Audit("delivery", sender, receipt->covenant_id(),
                               {{"batch_id", receipt->batch_id()},
                                {"dataset", receipt->dataset()},
                                {"records", receipt->records_accepted()},
                                {"rejected", receipt->records_rejected()},
                                {"duplicate", receipt->duplicate()}});
        !s.ok()) {
      return ToGrpcStatus(s);  // stored, but not acknowledged: the agent sends it again
    }
    metrics_
        ->GetHistogram("koppel_linker_batch_ingest_seconds",
                       "Time to check, re-key and store a batch durably", kLatencyBuckets)
        .Observe(SecondsSince(start));
    CountIngested(*receipt);
    if (!receipt->duplicate()) ++batches_stored_;
    spdlog::info("{} batch {} of {} from {} under {}: {} records",
                 receipt->duplicate() ? "re-acknowledged" : "stored", LogSafe(receipt->batch_id()),
                 LogSafe(receipt->dataset()), LogSafe(sender), LogSafe(receipt->covenant_id()),
                 receipt->records_accepted());
    v1::DeliverResponse response;
    *response.mutable_receipt() = std::move(*receipt);
    if (!stream->Write(response)) break;
  }
  return grpc::Status::OK;
}

grpc::Status LinkerService::GetStatus(grpc::ServerContext* context,
                                      const v1::GetStatusRequest* /*request*/,
                                      v1::GetStatusResponse* response) {
  const std::string caller = PeerIdentity(*context);
  if (caller.empty()) return Unauthenticated();
  if (!IsName(caller)) {
    spdlog::warn(
        "refused a status request: the certificate identity {} ({} bytes) is not a "
        "party name",
        LogSafe(caller), caller.size());
    return Unauthenticated();
  }
  absl::StatusOr<std::vector<v1::DatasetStatus>> status = store_->Status();
  if (!status.ok()) return ToGrpcStatus(status.status());
  // A party sees the counts of the covenants it is a party to, and no others.
  std::map<std::string, std::optional<KeyEpochs>> epochs;  // per covenant, read once
  for (v1::DatasetStatus& s : *status) {
    absl::StatusOr<std::shared_ptr<ServedCovenant>> served = covenants_->Find(s.covenant_id());
    if (!served.ok() || !(*served)->covenant().parties.contains(caller)) continue;
    auto [it, fresh] = epochs.try_emplace(s.covenant_id());
    if (fresh) {
      absl::StatusOr<HeldEpochs> held = store_->Epochs(s.covenant_id());
      if (held.ok()) it->second.emplace(s.covenant_id(), std::move(*held));
    }
    if (it->second.has_value()) FillEpochs(*it->second, &s);
    *response->add_datasets() = std::move(s);
  }
  return grpc::Status::OK;
}

grpc::Status LinkerService::Query(grpc::ServerContext* context, const v1::QueryRequest* request,
                                  v1::QueryResponse* response) {
  const std::string caller = PeerIdentity(*context);
  if (caller.empty()) return Unauthenticated();
  if (std::optional<grpc::Status> refused =
          RefuseMalformed("a query", "query_refused", "Query", caller, *request)) {
    return *refused;
  }
  const absl::Time start = absl::Now();
  absl::Cleanup observe = [this, start] {
    metrics_
        ->GetHistogram("koppel_linker_query_seconds", "Time to answer a query or release",
                       kLatencyBuckets, {{"method", "Query"}})
        .Observe(SecondsSince(start));
  };
  std::string covenant_id = request->covenant_id();  // the one held, once known
  SealedRelease recorded;
  absl::StatusOr<v1::Release> release = [&]() -> absl::StatusOr<v1::Release> {
    ASSIGN_OR_RETURN(CovenantHold hold,
                     covenants_->Hold(request->covenant_id(), caller, absl::Now()));
    covenant_id = hold->covenant().id;
    RETURN_IF_ERROR(Audit("query", caller, hold->covenant().id,
                          {{"analysis", request->spec_name()},
                           {"spec_sha256", Sha256Hex(request->spec_yaml())},
                           {"mode", v1::ReleaseMode_Name(request->mode())}}));
    return hold->queries().Run(caller, *request, &recorded);
  }();
  if (!release.ok()) {
    CountRefusal("Query", release.status());
    spdlog::warn("refused query {} from {}: {}", LogSafe(request->spec_name()), LogSafe(caller),
                 LogSafe(release.status()));
    (void)Audit("query_refused", caller, covenant_id,
                {{"analysis", request->spec_name()},
                 {"reason", std::string(release.status().message())},
                 {"rule", RefusalRule(release.status())}});
    return ToGrpcStatus(release.status());
  }
  const v1::ReleaseMetadata& meta = release->metadata();
  nlohmann::json details = {
      {"analysis", meta.analysis()},
      {"spec_sha256", meta.spec_sha256()},
      {"covenant_version", meta.covenant_version()},
      {"key_epoch", meta.key_epoch()},
      {"tables", release->tables_size()},
      {"cells_suppressed_primary", meta.cells_suppressed_primary()},
      {"cells_suppressed_secondary", meta.cells_suppressed_secondary()},
      {"mode", meta.mode() == v1::RELEASE_MODE_PERTURBED ? "perturbed" : "exact"},
      {"earlier_releases_checked", meta.earlier_releases_checked()},
      {"cells_suppressed_history", meta.cells_suppressed_history()},
      {"implied_groups_protected", meta.implied_groups_protected()},
      {"releases_left", meta.has_releases_left() && meta.releases_left() >= 0
                            ? nlohmann::json(meta.releases_left())
                            : nlohmann::json(nullptr)}};
  AddHistoryEntry(recorded, &details);
  if (absl::Status s = Audit("release", caller, meta.covenant_id(), details); !s.ok()) {
    return ToGrpcStatus(s);
  }
  spdlog::info(
      "released analysis {} (spec {}, {}) under {} to {}: {} tables, {} cells "
      "suppressed primarily, {} secondarily ({} because of {} earlier releases)",
      LogSafe(meta.analysis()), meta.spec_sha256(),
      meta.mode() == v1::RELEASE_MODE_PERTURBED ? "perturbed" : "exact",
      LogSafe(meta.covenant_id()), LogSafe(caller), release->tables_size(),
      meta.cells_suppressed_primary(), meta.cells_suppressed_secondary(),
      meta.cells_suppressed_history(), meta.earlier_releases_checked());
  *response->mutable_release() = std::move(*release);
  return grpc::Status::OK;
}

grpc::Status LinkerService::AskFlags(grpc::ServerContext* context,
                                     const v1::AskFlagsRequest* request,
                                     v1::AskFlagsResponse* response) {
  // The agent-side tokens are pseudonyms of the caller's clients: wiped once answered (gRPC
  // owns the request and would free them as they are).
  absl::Cleanup wipe = [request] {
    for (std::string& token : *const_cast<v1::AskFlagsRequest*>(request)->mutable_tokens()) {
      sodium_memzero(token.data(), token.size());
    }
  };
  const std::string caller = PeerIdentity(*context);
  if (caller.empty()) return Unauthenticated();
  if (std::optional<grpc::Status> refused = RefuseMalformed(
          "a purpose-bound release", "flags_refused", "AskFlags", caller, *request)) {
    return *refused;
  }
  const absl::Time start = absl::Now();
  absl::Cleanup observe = [this, start] {
    metrics_
        ->GetHistogram("koppel_linker_query_seconds", "Time to answer a query or release",
                       kLatencyBuckets, {{"method", "AskFlags"}})
        .Observe(SecondsSince(start));
  };
  absl::StatusOr<v1::AskFlagsResponse> answer = [&]() -> absl::StatusOr<v1::AskFlagsResponse> {
    ASSIGN_OR_RETURN(CovenantHold hold, covenants_->Hold(request->covenant_id(), "", absl::Now()));
    const auto deadline = context->deadline();  // a household answer waits for its index
    return hold->flags().Answer(caller, *request,
                                deadline == std::chrono::system_clock::time_point::max()
                                    ? absl::InfiniteFuture()
                                    : absl::FromChrono(deadline));
  }();
  if (!answer.ok()) {
    CountRefusal("AskFlags", answer.status());
    spdlog::warn("refused release {} to {}: {}", LogSafe(request->release()), LogSafe(caller),
                 LogSafe(answer.status()));
    (void)Audit("flags_refused", caller, request->covenant_id(),
                {{"release", request->release()},
                 {"reason", std::string(answer.status().message())},
                 {"rule", RefusalRule(answer.status())}});
    return ToGrpcStatus(answer.status());
  }
  uint64_t delivered = 0;
  for (const v1::FlagAnswer& a : answer->answers()) delivered += a.delivered() ? 1U : 0U;
  nlohmann::json flags = nlohmann::json::array();
  for (const std::string& f : answer->flags()) flags.push_back(f);
  if (absl::Status s = Audit("flags_release", caller, request->covenant_id(),
                             {{"release", request->release()},
                              {"tokens", request->tokens_size()},
                              {"delivered", delivered},
                              {"flags", flags}});
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  spdlog::info("answered release {} under {} to {}: {} tokens, {} delivered by it",
               LogSafe(request->release()), LogSafe(request->covenant_id()), LogSafe(caller),
               request->tokens_size(), delivered);
  *response = std::move(*answer);
  return grpc::Status::OK;
}

absl::StatusOr<v1::CheckHeldResponse> LinkerService::FindNotHeld(
    const std::string& caller, const v1::CheckHeldRequest& request) {
  if (request.batch_ids_size() > kMaxCheckHeldBatches) {
    return absl::InvalidArgumentError(
        fmt::format("a held check asks about at most {} batch ids, this one about {}; ask in pages",
                    kMaxCheckHeldBatches, request.batch_ids_size()));
  }
  ASSIGN_OR_RETURN(CovenantHold hold, covenants_->Hold(request.covenant_id(), "", absl::Now()));
  // The caller must hold the grant a delivery of the dataset needs: the answer is about its
  // own batches, and no party learns what another one delivered.
  RETURN_IF_ERROR(hold->covenant().MayCarry(caller, request.dataset(), {}, false, false));
  v1::CheckHeldResponse response;
  for (const std::string& batch_id : request.batch_ids()) {
    ASSIGN_OR_RETURN(std::optional<v1::Receipt> held,
                     store_->FindReceipt(hold->covenant().id, batch_id));
    if (!held.has_value() || held->dataset() != request.dataset() || held->sender() != caller) {
      response.add_not_held(batch_id);
    }
  }
  return response;
}

grpc::Status LinkerService::CheckHeld(grpc::ServerContext* context,
                                      const v1::CheckHeldRequest* request,
                                      v1::CheckHeldResponse* response) {
  const std::string caller = PeerIdentity(*context);
  if (caller.empty()) return Unauthenticated();
  if (std::optional<grpc::Status> refused =
          RefuseMalformed("a held check", "held_check_refused", "CheckHeld", caller, *request)) {
    return *refused;
  }
  absl::StatusOr<v1::CheckHeldResponse> answer = FindNotHeld(caller, *request);
  if (!answer.ok()) {
    CountRefusal("CheckHeld", answer.status());
    spdlog::warn("refused a held check of {} under {} from {}: {}", LogSafe(request->dataset()),
                 LogSafe(request->covenant_id()), LogSafe(caller), LogSafe(answer.status()));
    (void)Audit("held_check_refused", caller, request->covenant_id(),
                {{"dataset", request->dataset()},
                 {"batches", request->batch_ids_size()},
                 {"reason", std::string(answer.status().message())},
                 {"rule", RefusalRule(answer.status())}});
    return ToGrpcStatus(answer.status());
  }
  const MetricLabels labels = {{"covenant", request->covenant_id()},
                               {"dataset", request->dataset()}};
  metrics_
      ->GetCounter("koppel_linker_held_checks_total",
                   "Agents' checks of which delivered batches the linker still holds", labels)
      .Increment();
  metrics_
      ->GetCounter("koppel_linker_batches_not_held_total",
                   "Batches an agent held receipts for that the linker did not hold", labels)
      .Increment(static_cast<uint64_t>(answer->not_held_size()));
  if (answer->not_held_size() > 0) {
    if (absl::Status s = Audit("held_check", caller, request->covenant_id(),
                               {{"dataset", request->dataset()},
                                {"batches", request->batch_ids_size()},
                                {"not_held", answer->not_held_size()}});
        !s.ok()) {
      return ToGrpcStatus(s);
    }
    spdlog::warn(
        "{} of {} batches of {} that {} holds receipts for are not held here (restored from a "
        "backup?); its agent delivers them again",
        answer->not_held_size(), request->batch_ids_size(), LogSafe(request->dataset()),
        LogSafe(caller));
  }
  *response = std::move(*answer);
  return grpc::Status::OK;
}

grpc::Status LinkerService::EndCovenant(grpc::ServerContext* context,
                                        const v1::EndCovenantRequest* request,
                                        v1::EndCovenantResponse* response) {
  const std::string caller = PeerIdentity(*context);
  if (caller.empty()) return Unauthenticated();
  if (std::optional<grpc::Status> refused =
          RefuseMalformed("a covenant end", "end_refused", "EndCovenant", caller, *request)) {
    return *refused;
  }
  response->set_covenant_id(request->covenant_id());
  response->set_service(v1::SERVICE_LINKER);
  response->set_legacy_service("linker");
  absl::StatusOr<std::shared_ptr<ServedCovenant>> served = covenants_->Find(request->covenant_id());
  if (!served.ok()) {
    if (absl::IsFailedPrecondition(served.status())) {  // ended before
      if (covenants_->DeletionPending(request->covenant_id())) {
        // Its deletion failed before: this end finishes it instead of reporting it done.
        absl::StatusOr<LinkerStore::Deleted> deleted =
            covenants_->FinishPendingDeletion(request->covenant_id());
        if (!deleted.ok()) return ToGrpcStatus(deleted.status());
        response->set_records_deleted(deleted->records);
        response->set_batches_deleted(deleted->batches);
        return grpc::Status::OK;
      }
      response->set_already_ended(true);
      return grpc::Status::OK;
    }
    return ToGrpcStatus(served.status());
  }
  absl::StatusOr<std::string> officer =
      policy::VerifyEndStatement((*served)->covenant(), *request, absl::Now());
  if (!officer.ok()) {
    CountRefusal("EndCovenant", officer.status());
    (void)Audit("end_refused", caller, request->covenant_id(),
                {{"reason", std::string(officer.status().message())},
                 {"rule", RefusalRule(officer.status())}});
    return ToGrpcStatus(officer.status());
  }
  served->reset();
  absl::StatusOr<LinkerStore::Deleted> deleted = covenants_->End(
      request->covenant_id(), "covenant_end", *officer, request->reason(), absl::Now());
  if (!deleted.ok()) return ToGrpcStatus(deleted.status());
  response->set_records_deleted(deleted->records);
  response->set_batches_deleted(deleted->batches);
  return grpc::Status::OK;
}

}  // namespace koppel::linker
