// Where an agent's tokens come from (ARCHITECTURE section 2): HMAC mode computes them locally
// from K_cov (from the vault, or a local key file until a vault is deployed); OPRF mode asks the
// vault to evaluate an oblivious PRF on blinded inputs, so the agent never holds the key and the
// vault never sees an identifier.
#ifndef KOPPEL_AGENTS_TOKEN_SOURCE_H_
#define KOPPEL_AGENTS_TOKEN_SOURCE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/token.h"
#include "koppel/v1/vault.pb.h"

namespace koppel::agent {

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  virtual std::string_view scheme() const = 0;  // "koppel/v1/hmac" or "koppel/v1/oprf"
  virtual uint32_t key_epoch() const = 0;
  // Tokens of `canonical` inputs of one kind, in order, into `out` (resized).
  virtual absl::Status Tokenize(IdentifierKind kind, const std::vector<std::string>& canonical,
                                size_t count, std::vector<Token>* out) = 0;

  // The covenant version the tokens are made under (the vault says which is in force); batches
  // carry it, and the linker refuses a superseded one.
  uint32_t covenant_version() const { return covenant_version_; }
  void set_covenant_version(uint32_t version) { covenant_version_ = version; }

  // Where the covenant's key rotation stands, as the vault said (none: a local key file, or a
  // vault from before key_rotation schedules).
  const std::optional<v1::KeyEpochSchedule>& key_schedule() const { return key_schedule_; }
  void set_key_schedule(v1::KeyEpochSchedule schedule) { key_schedule_ = std::move(schedule); }

 private:
  uint32_t covenant_version_ = 1;
  std::optional<v1::KeyEpochSchedule> key_schedule_;
};

// HMAC mode with a tokenizer made from a key the caller holds.
std::unique_ptr<TokenSource> MakeHmacTokenSource(Tokenizer tokenizer, uint32_t key_epoch);

// HMAC mode with a covenant key read from a local file.
absl::StatusOr<std::unique_ptr<TokenSource>> HmacTokenSourceFromKeyFile(const std::string& key_file,
                                                                        uint32_t key_epoch);

// Asks the vault for the covenant's mode: HMAC mode gets K_cov sealed to a one-time key, opens
// it into guarded memory and never writes it anywhere; OPRF mode evaluates through the vault,
// blinding and finalizing on `oprf_threads` threads (0: every core; the tokens are the same
// for any number).
absl::StatusOr<std::unique_ptr<TokenSource>> TokenSourceFromVault(
    std::shared_ptr<grpc::Channel> vault, const std::string& covenant_id, size_t oprf_threads = 0);

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_TOKEN_SOURCE_H_
