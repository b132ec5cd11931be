#include "vault/vault_service.h"

#include <fmt/format.h>
#include <sodium.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "core/key_transport.h"
#include "core/oprf.h"
#include "core/tls.h"

namespace koppel {

VaultService::VaultService(Covenant covenant, KeyStore* keys, const std::filesystem::path& log_path)
    : covenant_(std::move(covenant)), keys_(keys), log_(std::fopen(log_path.c_str(), "a")) {}

VaultService::~VaultService() {
  if (log_ != nullptr) std::fclose(log_);
}

void VaultService::Log(const std::string& party, std::string_view operation, uint32_t epoch,
                       uint64_t count, const absl::Status& outcome) {
  nlohmann::json line = {{"time", static_cast<int64_t>(std::time(nullptr))},
                         {"party", party},
                         {"operation", operation},
                         {"covenant", covenant_.id},
                         {"epoch", epoch},
                         {"count", count},
                         {"outcome", outcome.ok() ? "ok" : std::string(outcome.message())}};
  std::lock_guard<std::mutex> lock(mutex_);
  if (log_ == nullptr) return;
  fmt::print(log_, "{}\n", line.dump());
  std::fflush(log_);
}

absl::StatusOr<std::string> VaultService::Authorise(grpc::ServerContext* context,
                                                    const std::string& covenant_id) const {
  std::string party = PeerIdentity(*context);
  if (party.empty()) {
    return absl::UnauthenticatedError("no verified client certificate (rule: every party presents one)");
  }
  if (covenant_id != covenant_.id) {
    return absl::NotFoundError(fmt::format("this vault does not serve covenant '{}'", covenant_id));
  }
  if (absl::Status s = covenant_.MayTokenise(party); !s.ok()) return s;
  return party;
}

grpc::Status VaultService::GetCovenantKey(grpc::ServerContext* context,
                                          const v1::GetCovenantKeyRequest* request,
                                          v1::GetCovenantKeyResponse* response) {
  absl::StatusOr<std::string> party = Authorise(context, request->covenant_id());
  if (!party.ok()) {
    Log(PeerIdentity(*context), "get_covenant_key", 0, 0, party.status());
    return ToGrpcStatus(party.status());
  }
  absl::StatusOr<uint32_t> epoch = keys_->CurrentEpoch(covenant_.id);
  if (!epoch.ok()) return ToGrpcStatus(epoch.status());
  response->set_token_mode(covenant_.token_mode);
  response->set_key_epoch(*epoch);
  if (covenant_.token_mode == "oprf") {
    Log(*party, "get_covenant_key", *epoch, 0, absl::OkStatus());
    return grpc::Status::OK;  // hardened mode: the agent never holds the key
  }
  absl::StatusOr<const Secret*> key = keys_->Key(covenant_.id, *epoch);
  if (!key.ok()) return ToGrpcStatus(key.status());
  absl::StatusOr<std::string> sealed = SealKeyTo(request->recipient_public_key(), **key);
  if (!sealed.ok()) return ToGrpcStatus(sealed.status());
  response->set_sealed_key(*sealed);
  Log(*party, "get_covenant_key", *epoch, 1, absl::OkStatus());
  return grpc::Status::OK;
}

grpc::Status VaultService::EvaluateOprf(grpc::ServerContext* context,
                                        const v1::EvaluateOprfRequest* request,
                                        v1::EvaluateOprfResponse* response) {
  absl::StatusOr<std::string> party = Authorise(context, request->covenant_id());
  const uint64_t count = static_cast<uint64_t>(request->blinded_elements_size());
  auto refuse = [&](const absl::Status& status) {
    Log(party.ok() ? *party : PeerIdentity(*context), "evaluate_oprf", 0, count, status);
    return ToGrpcStatus(status);
  };
  if (!party.ok()) return refuse(party.status());
  if (covenant_.token_mode != "oprf") {
    return refuse(absl::FailedPreconditionError(fmt::format(
        "covenant {} uses HMAC tokens (rule: token_mode); ask GetCovenantKey", covenant_.id)));
  }
  if (count == 0 || count > kMaxElementsPerCall) {
    return refuse(absl::InvalidArgumentError(
        fmt::format("send 1 to {} blinded elements per call", kMaxElementsPerCall)));
  }
  uint64_t remaining = 0;
  absl::Status quota;
  {
    std::lock_guard<std::mutex> lock(mutex_);  // Log() takes it too: refuse after unlocking
    uint64_t& used = evaluations_[*party];
    if (used + count > covenant_.oprf_quota) {
      quota = absl::ResourceExhaustedError(fmt::format(
          "'{}' has used {} of its {} OPRF evaluations (rule: oprf_quota)", *party, used,
          covenant_.oprf_quota));
    } else {
      used += count;
      remaining = covenant_.oprf_quota - used;
    }
  }
  if (!quota.ok()) return refuse(quota);
  absl::StatusOr<uint32_t> epoch = keys_->CurrentEpoch(covenant_.id);
  if (!epoch.ok()) return refuse(epoch.status());
  absl::StatusOr<const Secret*> key = keys_->Key(covenant_.id, *epoch);
  if (!key.ok()) return refuse(key.status());
  absl::StatusOr<OprfServerKey> server_key = OprfServerKey::Derive((*key)->span(),
      std::span(reinterpret_cast<const uint8_t*>("koppel/v1/oprf"), 14));
  if (!server_key.ok()) return refuse(server_key.status());
  std::vector<OprfElement> blinded(count), evaluated(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string& e = request->blinded_elements(static_cast<int>(i));
    if (e.size() != kOprfElementSize) {
      return refuse(absl::InvalidArgumentError(fmt::format("blinded element {} is not 32 bytes", i)));
    }
    std::copy(e.begin(), e.end(), reinterpret_cast<char*>(blinded[i].data()));
  }
  if (absl::Status s = server_key->BlindEvaluateBatch(blinded, evaluated); !s.ok()) return refuse(s);
  for (const OprfElement& e : evaluated) {
    response->add_evaluated_elements(reinterpret_cast<const char*>(e.data()), e.size());
  }
  response->set_key_epoch(*epoch);
  response->set_quota_remaining(remaining);
  Log(*party, "evaluate_oprf", *epoch, count, absl::OkStatus());
  return grpc::Status::OK;
}

grpc::Status VaultService::GetDataKey(grpc::ServerContext* context,
                                      const v1::GetDataKeyRequest* request,
                                      v1::GetDataKeyResponse* response) {
  const std::string party = PeerIdentity(*context);
  absl::Status allowed = party.empty() ? absl::UnauthenticatedError("no verified client certificate")
                         : request->covenant_id() != covenant_.id
                             ? absl::NotFoundError(fmt::format("this vault does not serve covenant '{}'",
                                                               request->covenant_id()))
                             : covenant_.HasRole(party, "linker");
  if (!allowed.ok()) {
    Log(party, "get_data_key", 0, 0, allowed);
    return ToGrpcStatus(allowed);
  }
  // The data key is a key of its own (name "<covenant>.data"), not derived from K_cov, so that
  // rotating the token key does not touch stored records.
  const std::string name = covenant_.id + ".data";
  absl::StatusOr<uint32_t> epoch = keys_->CurrentEpoch(name);
  if (!epoch.ok()) return ToGrpcStatus(epoch.status());
  absl::StatusOr<const Secret*> key = keys_->Key(name, *epoch);
  if (!key.ok()) return ToGrpcStatus(key.status());
  absl::StatusOr<std::string> sealed = SealKeyTo(request->recipient_public_key(), **key);
  if (!sealed.ok()) return ToGrpcStatus(sealed.status());
  response->set_sealed_key(*sealed);
  Log(party, "get_data_key", *epoch, 1, absl::OkStatus());
  return grpc::Status::OK;
}

}  // namespace koppel
