// The vault's gRPC service: issues a covenant's key only to its data holders, sealed to a
// one-time key of theirs (HMAC mode), or evaluates the OPRF on blinded inputs within a
// per-agent quota (OPRF mode). Every operation is appended to the vault's operation log, with
// party, covenant, epoch and counts, never key material.
#ifndef KOPPEL_VAULT_VAULT_SERVICE_H_
#define KOPPEL_VAULT_VAULT_SERVICE_H_

#include <cstdio>
#include <map>
#include <mutex>
#include <string>

#include "koppel/v1/vault.grpc.pb.h"
#include "policies/covenant.h"
#include "vault/key_store.h"

namespace koppel {

class VaultService final : public v1::VaultService::Service {
 public:
  static constexpr int kMaxElementsPerCall = 4096;

  VaultService(Covenant covenant, KeyStore* keys, const std::filesystem::path& log_path);
  ~VaultService() override;

  grpc::Status GetCovenantKey(grpc::ServerContext* context, const v1::GetCovenantKeyRequest* request,
                              v1::GetCovenantKeyResponse* response) override;
  grpc::Status EvaluateOprf(grpc::ServerContext* context, const v1::EvaluateOprfRequest* request,
                            v1::EvaluateOprfResponse* response) override;
  grpc::Status GetDataKey(grpc::ServerContext* context, const v1::GetDataKeyRequest* request,
                          v1::GetDataKeyResponse* response) override;

 private:
  // Authenticates the caller for `covenant_id`; returns its party name.
  absl::StatusOr<std::string> Authorise(grpc::ServerContext* context,
                                        const std::string& covenant_id) const;
  void Log(const std::string& party, std::string_view operation, uint32_t epoch, uint64_t count,
           const absl::Status& outcome);

  Covenant covenant_;
  KeyStore* keys_;
  std::mutex mutex_;
  std::map<std::string, uint64_t> evaluations_;  // per party, this run
  FILE* log_;
};

}  // namespace koppel

#endif  // KOPPEL_VAULT_VAULT_SERVICE_H_
