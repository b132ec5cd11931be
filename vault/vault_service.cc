#include "vault/vault_service.h"

#include <fmt/format.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "core/identifier_rules.h"
#include "core/key_transport.h"
#include "core/log_safe.h"
#include "core/oprf.h"
#include "core/proto_time.h"
#include "core/refusal.h"
#include "core/service_metrics.h"
#include "core/status_macros.h"
#include "core/tls.h"
#include "policies/end_statement.h"

namespace koppel::vault {

void VaultService::Serve(policy::SignedCovenant covenant) {
  absl::MutexLock lock(&covenants_mutex_);
  const std::string id = covenant.covenant.id;
  covenants_.insert_or_assign(id, std::move(covenant.covenant));
}

absl::Status VaultService::Audit(std::string_view event, const std::string& party,
                                 const std::string& covenant, const nlohmann::json& details) {
  if (audit_ == nullptr) return absl::OkStatus();
  if (absl::Status s = audit_->Append(event, party, covenant, details); !s.ok()) {
    spdlog::error("cannot write the audit log: {}", std::string(s.message()));
    return absl::UnavailableError(
        "the vault cannot write its audit log and refuses every request until its operator "
        "fixes the log's disk and restarts it");
  }
  return absl::OkStatus();
}

namespace {

absl::Status NoClientCertificate() {
  return WithServiceRule(absl::UnauthenticatedError("no verified client certificate"),
                         "client_certificate");
}

}  // namespace

grpc::Status VaultService::Refuse(std::string_view operation, const std::string& party,
                                  const std::string& covenant, const absl::Status& status) {
  CountRefusal(*metrics_, "vault", operation, status);
  (void)Audit("refused", party, covenant,
              {{"operation", operation},
               {"reason", std::string(status.message())},
               {"rule", RefusalRule(status)}});
  return ToGrpcStatus(status);
}

std::optional<grpc::Status> VaultService::RefuseMalformed(
    std::string_view operation, const std::string& party,
    const google::protobuf::Message& request) {
  if (party.empty()) return std::nullopt;  // refused as unauthenticated by the caller
  absl::Status refused;
  nlohmann::json details;
  if (!IsName(party)) {
    refused = WithServiceRule(
        absl::UnauthenticatedError(fmt::format(
            "the client certificate's common name is not a party name (rule: {})", kNameRule)),
        "party_name");
    details = {{"field", "certificate common name"}, {"length", party.size()}};
  } else if (std::optional<FieldViolation> violation = CheckRequestFields(request)) {
    refused = WithServiceRule(violation->ToStatus(), "request_field");
    details = {{"field", violation->field}, {"length", violation->length}};
  } else {
    return std::nullopt;
  }
  spdlog::warn("refused {} from {}: {}", operation, LogSafe(party), LogSafe(refused));
  CountRefusal(*metrics_, "vault", operation, refused);
  details["operation"] = operation;
  details["reason"] = std::string(refused.message());
  details["rule"] = RefusalRule(refused);
  (void)Audit("refused", IsName(party) ? party : "", "", details);
  return ToGrpcStatus(refused);
}

absl::StatusOr<policy::Covenant> VaultService::Find(const std::string& covenant_id,
                                                    bool in_force) const {
  auto it = covenants_.find(covenant_id);
  if (it != covenants_.end()) {
    if (in_force) RETURN_IF_ERROR(it->second.InForce(absl::Now()));
    return it->second;
  }
  std::optional<policy::CovenantLedger::Entry> entry = ledger_->Find(covenant_id);
  if (entry.has_value() && !entry->ended_at.empty()) {
    return WithCovenantRule(
        absl::FailedPreconditionError(
            fmt::format("covenant {} ended at {} ({}); its keys are destroyed (rule: retention)",
                        covenant_id, entry->ended_at, entry->end_reason)),
        "retention", covenant_id, entry->version);
  }
  return absl::NotFoundError(fmt::format("this vault does not serve covenant '{}'", covenant_id));
}

absl::StatusOr<KeyEpochState> VaultService::EpochState(const policy::Covenant& covenant,
                                                       uint32_t epoch, absl::Time now) const {
  ASSIGN_OR_RETURN(absl::Time created, keys_->Created(covenant.id, epoch));
  return KeyEpochStateOf(covenant, epoch, EpochStart(covenant, created), now);
}

grpc::Status VaultService::GetCovenantKey(grpc::ServerContext* context,
                                          const v1::GetCovenantKeyRequest* request,
                                          v1::GetCovenantKeyResponse* response) {
  // Held until the answer is complete: ending the covenant waits, so no key outlives it.
  absl::ReaderMutexLock hold(&covenants_mutex_);
  const std::string party = PeerIdentity(*context);
  if (auto refused = RefuseMalformed("get_covenant_key", party, *request)) return *refused;
  const std::string& id = request->covenant_id();
  absl::StatusOr<policy::Covenant> covenant = [&]() -> absl::StatusOr<policy::Covenant> {
    covenants_mutex_.AssertReaderHeld();  // `hold`, which the analysis does not see in here
    if (party.empty()) return NoClientCertificate();
    ASSIGN_OR_RETURN(policy::Covenant c, Find(id, /*in_force=*/true));
    RETURN_IF_ERROR(c.MayTokenise(party));
    return c;
  }();
  if (!covenant.ok()) return Refuse("get_covenant_key", party, id, covenant.status());
  absl::StatusOr<uint32_t> epoch = keys_->CurrentEpoch(id);
  if (!epoch.ok()) return ToGrpcStatus(epoch.status());
  absl::StatusOr<KeyEpochState> state = EpochState(*covenant, *epoch, absl::Now());
  if (!state.ok()) return ToGrpcStatus(state.status());
  *response->mutable_key_schedule() = ToProto(*state);
  response->set_token_mode(covenant->token_mode == "oprf" ? v1::TOKEN_MODE_OPRF
                                                          : v1::TOKEN_MODE_HMAC);
  response->set_legacy_token_mode(covenant->token_mode);  // agents from before the enum
  response->set_key_epoch(*epoch);
  response->set_covenant_version(covenant->version);
  if (covenant->token_mode == "oprf") {
    return ToGrpcStatus(Audit(
        "key_issue", party, id,
        {{"epoch", *epoch}, {"kind", "oprf"}}));  // hardened mode: the agent never holds the key
  }
  absl::StatusOr<const Secret*> key = keys_->Key(id, *epoch);
  if (!key.ok()) return ToGrpcStatus(key.status());
  absl::StatusOr<std::string> sealed = SealKeyTo(request->recipient_public_key(), **key);
  if (!sealed.ok()) return ToGrpcStatus(sealed.status());
  if (absl::Status s = Audit("key_issue", party, id, {{"epoch", *epoch}, {"kind", "hmac"}});
      !s.ok()) {
    return ToGrpcStatus(s);  // no key leaves the vault without its audit entry
  }
  response->set_sealed_key(*sealed);
  return grpc::Status::OK;
}

grpc::Status VaultService::EvaluateOprf(grpc::ServerContext* context,
                                        const v1::EvaluateOprfRequest* request,
                                        v1::EvaluateOprfResponse* response) {
  // Held until the answer is complete: ending the covenant waits, so no key outlives it.
  absl::ReaderMutexLock hold(&covenants_mutex_);
  const std::string party = PeerIdentity(*context);
  if (auto refused = RefuseMalformed("evaluate_oprf", party, *request)) return *refused;
  const std::string& id = request->covenant_id();
  const uint64_t count = static_cast<uint64_t>(request->blinded_elements_size());
  auto refuse = [&](const absl::Status& status) {
    return Refuse("evaluate_oprf", party, id, status);
  };
  if (party.empty()) return refuse(NoClientCertificate());
  absl::StatusOr<policy::Covenant> covenant = Find(id, /*in_force=*/true);
  if (!covenant.ok()) return refuse(covenant.status());
  if (absl::Status s = covenant->MayTokenise(party); !s.ok()) return refuse(s);
  if (covenant->token_mode != "oprf") {
    return refuse(WithCovenantRule(
        absl::FailedPreconditionError(
            fmt::format("covenant {} uses HMAC tokens (rule: token_mode); ask GetCovenantKey", id)),
        "token_mode", id, covenant->version));
  }
  if (count == 0 || count > kMaxElementsPerCall) {
    return refuse(
        WithServiceRule(absl::InvalidArgumentError(fmt::format(
                            "send 1 to {} blinded elements per call", kMaxElementsPerCall)),
                        "request_field", id));
  }
  std::vector<OprfElement> blinded(count), evaluated(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string& e = request->blinded_elements(static_cast<int>(i));
    if (e.size() != kOprfElementSize) {
      return refuse(WithServiceRule(
          absl::InvalidArgumentError(fmt::format("blinded element {} is not 32 bytes", i)),
          "request_field", id));
    }
    std::copy(e.begin(), e.end(), reinterpret_cast<char*>(blinded[i].data()));
  }
  // One epoch for the whole answer: its quota, its key and its schedule, even when a rotation
  // starts the next epoch meanwhile.
  absl::StatusOr<uint32_t> epoch = keys_->CurrentEpoch(id);
  if (!epoch.ok()) return refuse(epoch.status());
  uint64_t remaining = 0;
  absl::Status quota;
  {
    const QuotaKey key{id, party, *epoch};
    const absl::Duration window = absl::Hours(24 * covenant->oprf_quota_window_days);
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&quota_mutex_);
    if (std::optional<uint64_t> left =
            evaluations_.Spend(key, count, covenant->oprf_quota, now, window)) {
      remaining = *left;
    } else {
      quota = WithCovenantRule(
          absl::ResourceExhaustedError(
              fmt::format("'{}' has used {} of its {} OPRF evaluations in the last {} days (rule: "
                          "oprf_quota)",
                          party, evaluations_.Used(key, now, window), covenant->oprf_quota,
                          covenant->oprf_quota_window_days)),
          "oprf_quota", id, covenant->version);
    }
  }
  if (!quota.ok()) return refuse(quota);
  absl::StatusOr<KeyEpochState> state = EpochState(*covenant, *epoch, absl::Now());
  if (!state.ok()) return refuse(state.status());
  absl::StatusOr<const Secret*> key = keys_->Key(id, *epoch);
  if (!key.ok()) return refuse(key.status());
  absl::StatusOr<OprfServerKey> server_key = OprfServerKey::Derive(
      (*key)->span(), std::span(reinterpret_cast<const uint8_t*>("koppel/v1/oprf"), 14));
  if (!server_key.ok()) return refuse(server_key.status());
  if (absl::Status s = server_key->BlindEvaluateBatch(blinded, evaluated, oprf_pool_.get());
      !s.ok()) {
    return refuse(s);
  }
  if (absl::Status s = Audit("oprf_evaluation", party, id, {{"epoch", *epoch}, {"count", count}});
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  for (const OprfElement& e : evaluated) {
    response->add_evaluated_elements(reinterpret_cast<const char*>(e.data()), e.size());
  }
  response->set_key_epoch(*epoch);
  response->set_quota_remaining(remaining);
  *response->mutable_key_schedule() = ToProto(*state);
  // The party passed MayTokenise: a name from the covenant, as the covenant id is.
  const MetricLabels labels = {{"covenant", id}, {"party", party}};
  metrics_->GetCounter("koppel_vault_oprf_evaluations_total", "Blinded elements evaluated", labels)
      .Increment(count);
  metrics_
      ->GetGauge("koppel_vault_oprf_quota_remaining",
                 "OPRF evaluations the party has left under the covenant", labels)
      .Set(static_cast<double>(remaining));
  return grpc::Status::OK;
}

grpc::Status VaultService::GetDataKey(grpc::ServerContext* context,
                                      const v1::GetDataKeyRequest* request,
                                      v1::GetDataKeyResponse* response) {
  // Held until the answer is complete: ending the covenant waits, so no key outlives it.
  absl::ReaderMutexLock hold(&covenants_mutex_);
  const std::string party = PeerIdentity(*context);
  if (auto refused = RefuseMalformed("get_data_key", party, *request)) return *refused;
  const std::string& id = request->covenant_id();
  absl::StatusOr<policy::Covenant> covenant = Find(id, /*in_force=*/false);
  if (!party.empty() && !covenant.ok() && absl::IsFailedPrecondition(covenant.status())) {
    // Ended: the linker that asks learns it explicitly and deletes its copy of the data.
    (void)Audit("refused", party, id,
                {{"operation", "get_data_key"},
                 {"reason", std::string(covenant.status().message())},
                 {"rule", RefusalRule(covenant.status())}});
    response->set_covenant_ended(true);
    return grpc::Status::OK;
  }
  absl::Status allowed = [&]() -> absl::Status {
    if (party.empty()) return NoClientCertificate();
    RETURN_IF_ERROR(covenant.status());
    return covenant->HasRole(party, "linker");
  }();
  if (!allowed.ok()) return Refuse("get_data_key", party, id, allowed);
  // The data key is a key of its own, not derived from K_cov, so that rotating the token key
  // does not touch stored records.
  const std::string name = DataKeyName(id);
  absl::StatusOr<uint32_t> epoch = keys_->CurrentEpoch(name);
  if (!epoch.ok()) return ToGrpcStatus(epoch.status());
  absl::StatusOr<const Secret*> key = keys_->Key(name, *epoch);
  if (!key.ok()) return ToGrpcStatus(key.status());
  absl::StatusOr<std::string> sealed = SealKeyTo(request->recipient_public_key(), **key);
  if (!sealed.ok()) return ToGrpcStatus(sealed.status());
  absl::StatusOr<uint32_t> token_epoch = keys_->CurrentEpoch(id);
  if (!token_epoch.ok()) return ToGrpcStatus(token_epoch.status());
  absl::StatusOr<KeyEpochState> state = EpochState(*covenant, *token_epoch, absl::Now());
  if (!state.ok()) return ToGrpcStatus(state.status());
  if (absl::Status s = Audit("key_issue", party, id, {{"epoch", *epoch}, {"kind", "data"}});
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  response->set_sealed_key(*sealed);
  *response->mutable_key_schedule() = ToProto(*state);
  return grpc::Status::OK;
}

absl::StatusOr<uint64_t> VaultService::End(const std::string& id, const std::string& event,
                                           const std::string& actor, const std::string& reason,
                                           absl::Time at) {
  RETURN_IF_ERROR(ledger_->MarkEnded(id, at, reason));
  absl::ReleasableMutexLock lock(&covenants_mutex_);
  covenants_.erase(id);
  ASSIGN_OR_RETURN(uint64_t token_keys, keys_->Destroy(id));
  ASSIGN_OR_RETURN(uint64_t data_keys, keys_->Destroy(DataKeyName(id)));
  RETURN_IF_ERROR(ledger_->MarkDeleted(id));
  lock.Release();
  spdlog::info("covenant {} ended ({}): destroyed {} keys", id, LogSafe(reason),
               token_keys + data_keys);
  RETURN_IF_ERROR(
      Audit(event, actor, id, {{"reason", reason}, {"keys_destroyed", token_keys + data_keys}}));
  return token_keys + data_keys;
}

int VaultService::EndExpired(absl::Time now) {
  std::vector<std::string> expired;
  {
    absl::ReaderMutexLock lock(&covenants_mutex_);
    for (const auto& [id, c] : covenants_) {
      if (now >= c.RetentionEndsAt()) expired.push_back(id);
    }
  }
  int ended = 0;
  for (const std::string& id : expired) {
    absl::StatusOr<uint64_t> destroyed =
        End(id, "key_destruction", "vault", "retention period over", now);
    if (!destroyed.ok()) {
      spdlog::error("destroying the keys of covenant {} failed: {}", id,
                    std::string(destroyed.status().message()));
      continue;
    }
    ++ended;
  }
  return ended;
}

int VaultService::RotateDue(absl::Time now) {
  // Shared with requests, exclusive against End: a covenant ending waits for its rotation, and
  // a covenant that ended is no longer in covenants_.
  absl::ReaderMutexLock hold(&covenants_mutex_);
  int rotated = 0;
  for (const auto& [id, covenant] : covenants_) {
    if (covenant.key_rotation_days == 0) continue;
    absl::StatusOr<uint32_t> epoch = keys_->CurrentEpoch(id);
    absl::StatusOr<absl::Time> started =
        epoch.ok() ? keys_->Created(id, *epoch) : absl::StatusOr<absl::Time>(epoch.status());
    if (started.ok()) started = EpochStart(covenant, *started);
    if (!started.ok()) {
      spdlog::error("covenant {}: cannot read its key epoch: {}", id,
                    std::string(started.status().message()));
      continue;
    }
    if (!ScheduledRotationDue(covenant, *started, now)) continue;
    absl::StatusOr<uint32_t> next = keys_->Rotate(id);
    if (!next.ok()) {
      spdlog::error("covenant {}: rotating key epoch {} failed: {}", id, *epoch,
                    std::string(next.status().message()));
      continue;
    }
    ++rotated;
    const KeyEpochState state = KeyEpochStateOf(covenant, *next, now, now);
    spdlog::warn(
        "covenant {}: key epoch {} is {} days old (key_rotation.period_days {}): started key "
        "epoch {}; holders re-deliver their full export under it within {} days (grace)",
        id, *epoch, absl::ToInt64Hours(now - *started) / 24, covenant.key_rotation_days, *next,
        covenant.key_rotation_grace_days);
    nlohmann::json details = {{"epoch", *next},
                              {"previous_epoch", *epoch},
                              {"period_days", covenant.key_rotation_days},
                              {"grace_days", covenant.key_rotation_grace_days}};
    if (state.previous_grace_end) {
      details["grace_end"] = IsoTime(ToProtoTimestamp(*state.previous_grace_end));
    }
    // The epoch has started; a request that cannot be audited is refused (Audit), so a vault
    // whose log fails serves nothing further, and the operator learns why here.
    if (absl::Status s = Audit("key_rotation", "vault schedule", id, details); !s.ok()) {
      spdlog::error(
          "covenant {}: key epoch {} started but its key_rotation audit entry was not "
          "written: {}",
          id, *next, std::string(s.message()));
    }
  }
  return rotated;
}

void VaultService::CountAuditedOprfEvaluations(const std::vector<AuditEntry>& entries,
                                               absl::Time now) {
  absl::MutexLock lock(&quota_mutex_);
  for (const AuditEntry& e : entries) {
    if (e.event != "oprf_evaluation" || !e.details.is_object()) continue;
    const nlohmann::json& epoch = e.details["epoch"];
    const nlohmann::json& count = e.details["count"];
    if (!epoch.is_number_unsigned() || !count.is_number_unsigned()) continue;
    // An entry whose time cannot be read counts as spent now: a restart never over-grants.
    absl::Time when;
    std::string error;
    if (!absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", e.time, absl::UTCTimeZone(), &when, &error) ||
        when > now) {
      when = now;
    }
    evaluations_.Record({e.covenant, e.actor, epoch.get<uint32_t>()}, when, count.get<uint64_t>());
  }
}

void VaultService::RegisterKeyEpochMetrics(MetricsRegistry& registry) {
  // One scrape reads every covenant's state once; the three families share it.
  auto collect = [this](auto value) {
    return [this, value] {
      std::vector<CollectedSample> samples;
      const absl::Time now = absl::Now();
      absl::ReaderMutexLock hold(&covenants_mutex_);
      for (const auto& [id, covenant] : covenants_) {
        absl::StatusOr<uint32_t> epoch = keys_->CurrentEpoch(id);
        if (!epoch.ok()) continue;
        absl::StatusOr<KeyEpochState> state = EpochState(covenant, *epoch, now);
        if (!state.ok()) continue;
        if (std::optional<double> v = value(*state, now)) {
          samples.push_back({{{"covenant", id}}, *v});
        }
      }
      return samples;
    };
  };
  registry.AddCollector("koppel_vault_key_epoch", "The covenant's current token key epoch",
                        MetricType::kGauge,
                        collect([](const KeyEpochState& s, absl::Time) -> std::optional<double> {
                          return static_cast<double>(s.epoch);
                        }));
  registry.AddCollector(
      "koppel_vault_key_epoch_age_seconds", "Seconds since the current key epoch started",
      MetricType::kGauge,
      collect([](const KeyEpochState& s, absl::Time now) -> std::optional<double> {
        return absl::ToDoubleSeconds(now - s.epoch_start);
      }));
  registry.AddCollector(
      "koppel_vault_key_rotation_in_seconds",
      "Seconds until the scheduled rotation (absent: none scheduled before the covenant ends)",
      MetricType::kGauge,
      collect([](const KeyEpochState& s, absl::Time now) -> std::optional<double> {
        if (!s.next_rotation) return std::nullopt;
        return absl::ToDoubleSeconds(*s.next_rotation - now);
      }));
  registry.AddCollector(
      "koppel_vault_key_grace_remaining_seconds",
      "Seconds left for holders to re-deliver under the current epoch (absent: no grace running)",
      MetricType::kGauge,
      collect([](const KeyEpochState& s, absl::Time now) -> std::optional<double> {
        if (!s.previous_grace_end) return std::nullopt;
        return absl::ToDoubleSeconds(*s.previous_grace_end - now);
      }));
}

grpc::Status VaultService::EndCovenant(grpc::ServerContext* context,
                                       const v1::EndCovenantRequest* request,
                                       v1::EndCovenantResponse* response) {
  const std::string party = PeerIdentity(*context);
  if (auto refused = RefuseMalformed("end_covenant", party, *request)) return *refused;
  const std::string& id = request->covenant_id();
  response->set_covenant_id(id);
  response->set_service(v1::SERVICE_VAULT);
  response->set_legacy_service("vault");
  if (party.empty()) {
    return Refuse("end_covenant", party, id, NoClientCertificate());
  }
  absl::StatusOr<policy::Covenant> covenant = [&] {
    absl::ReaderMutexLock hold(&covenants_mutex_);
    return Find(id, /*in_force=*/false);
  }();
  if (!covenant.ok()) {
    if (absl::IsFailedPrecondition(covenant.status())) {
      response->set_already_ended(true);
      return grpc::Status::OK;
    }
    return Refuse("end_covenant", party, id, covenant.status());
  }
  absl::StatusOr<std::string> officer =
      policy::VerifyEndStatement(*covenant, *request, absl::Now());
  if (!officer.ok()) return Refuse("end_covenant", party, id, officer.status());
  absl::StatusOr<uint64_t> destroyed =
      End(id, "key_destruction", *officer, request->reason(), absl::Now());
  if (!destroyed.ok()) return ToGrpcStatus(destroyed.status());
  response->set_keys_destroyed(*destroyed);
  return grpc::Status::OK;
}

}  // namespace koppel::vault
