// Tokenises valid rows and cuts them into sealed, signed batches in the outbox. Plaintext
// identifiers exist only in the row being tokenised; what reaches a batch is tokens and typed
// attribute values, and what reaches the disk is the sealed batch.
#ifndef KOPPEL_AGENTS_BATCH_SEALER_H_
#define KOPPEL_AGENTS_BATCH_SEALER_H_

#include <string>
#include <vector>

#include "agents/export_scan.h"
#include "agents/outbox.h"
#include "agents/token_source.h"
#include "core/mapping.h"
#include "core/sealed_batch.h"
#include "core/token.h"

namespace koppel::agent {

struct SealerConfig {
  std::string covenant_id;
  std::string agent;
  size_t batch_size = 10000;
};

class BatchSealer : public ValidRowSink {
 public:
  BatchSealer(const Mapping& mapping, const SealerConfig& config, TokenSource& tokens,
              const BoxPublicKey& linker_public_key, const Secret& signing_key, Outbox* outbox);

  absl::Status Accept(JudgedRow* row) override;
  // Seals the last partial batch. Call once after the scan.
  absl::Status Finish();

  const std::string& run_id() const { return run_id_; }
  const std::vector<std::string>& batch_ids() const { return batch_ids_; }
  uint64_t records_sealed() const { return records_sealed_; }

 private:
  absl::Status Flush();

  const Mapping& mapping_;
  SealerConfig config_;
  TokenSource& tokens_;
  BoxPublicKey linker_public_key_;
  const Secret& signing_key_;
  Outbox* outbox_;
  std::string run_id_;
  v1::BatchPayload payload_;
  std::string scratch_;
  uint64_t sequence_ = 0;
  uint64_t records_sealed_ = 0;
  std::vector<std::string> batch_ids_;
  // Canonical identifiers of the batch being filled, tokenised together when it is sealed (the
  // OPRF source needs one vault call per batch). Wiped after every batch.
  std::vector<std::string> bsn_inputs_;
  std::vector<std::string> address_inputs_;
  std::vector<Token> token_scratch_;
  size_t pending_ = 0;
};

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_BATCH_SEALER_H_
