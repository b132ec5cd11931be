#include "agents/batch_sealer.h"

#include <sodium.h>

#include "core/hex.h"
#include "core/status_macros.h"

namespace koppel {

BatchSealer::BatchSealer(const Mapping& mapping, const SealerConfig& config,
                         const Tokenizer& tokenizer, const BoxPublicKey& linker_public_key,
                         const Secret& signing_key, Outbox* outbox)
    : mapping_(mapping),
      config_(config),
      tokenizer_(tokenizer),
      linker_public_key_(linker_public_key),
      signing_key_(signing_key),
      outbox_(outbox) {
  std::array<uint8_t, 16> run{};
  randombytes_buf(run.data(), run.size());
  run_id_ = ToHex(run);
  v1::BatchHeader* header = payload_.mutable_header();
  header->set_dataset(mapping.dataset);
  header->set_covenant_id(config.covenant_id);
  header->set_key_epoch(config.key_epoch);
  header->set_period_from(mapping.period_from);
  header->set_period_to(mapping.period_to);
  header->set_agent(config.agent);
  header->set_run_id(run_id_);
  header->set_token_scheme("koppel/v1/hmac");
  header->set_has_bsn(mapping.bsn_column.has_value());
  header->set_has_address(mapping.address_columns.has_value());
  for (v1::AttributeSchema& s : mapping.BatchSchema()) *header->add_attributes() = std::move(s);
}

absl::Status BatchSealer::Accept(JudgedRow* row) {
  v1::Record* record = payload_.add_records();
  if (mapping_.bsn_column) {
    Token t = tokenizer_.Tokenize(IdentifierKind::kBsn, row->bsn.view());
    record->set_bsn_token(t.data(), t.size());
  }
  if (mapping_.address_columns) {
    Token t = tokenizer_.Tokenize(IdentifierKind::kAddress, row->address.view());
    record->set_address_token(t.data(), t.size());
  }
  record->mutable_values()->Swap(&row->values);
  if (static_cast<size_t>(payload_.records_size()) >= config_.batch_size) return Flush();
  return absl::OkStatus();
}

absl::Status BatchSealer::Flush() {
  if (payload_.records_size() == 0) return absl::OkStatus();
  payload_.mutable_header()->set_sequence(sequence_++);
  ASSIGN_OR_RETURN(v1::SealedBatch batch,
                   SealBatch(payload_, linker_public_key_, signing_key_, &scratch_));
  RETURN_IF_ERROR(outbox_->Write(batch));
  records_sealed_ += static_cast<uint64_t>(payload_.records_size());
  batch_ids_.push_back(batch.batch_id());
  // Clear() keeps the record objects for reuse, so steady state allocates nothing per row.
  payload_.mutable_records()->Clear();
  return absl::OkStatus();
}

absl::Status BatchSealer::Finish() { return Flush(); }

}  // namespace koppel
