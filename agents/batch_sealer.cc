#include "agents/batch_sealer.h"

#include <sodium.h>

#include "core/hex.h"
#include "core/status_macros.h"

namespace koppel::agent {

BatchSealer::BatchSealer(const Mapping& mapping, const SealerConfig& config, TokenSource& tokens,
                         const BoxPublicKey& linker_public_key, const Secret& signing_key,
                         Outbox* outbox)
    : mapping_(mapping),
      config_(config),
      tokens_(tokens),
      linker_public_key_(linker_public_key),
      signing_key_(signing_key),
      outbox_(outbox) {
  std::array<uint8_t, 16> run{};
  randombytes_buf(run.data(), run.size());
  run_id_ = ToHex(run);
  v1::BatchHeader* header = payload_.mutable_header();
  header->set_dataset(mapping.dataset);
  header->set_covenant_id(config.covenant_id);
  header->set_key_epoch(tokens.key_epoch());
  header->set_covenant_version(tokens.covenant_version());
  header->set_period_from(mapping.period_from);
  header->set_period_to(mapping.period_to);
  header->set_agent(config.agent);
  header->set_run_id(run_id_);
  header->set_token_scheme(std::string(tokens.scheme()));
  header->set_has_bsn(mapping.bsn_column.has_value());
  header->set_has_address(mapping.address_columns.has_value());
  for (v1::AttributeSchema& s : mapping.BatchSchema()) *header->add_attributes() = std::move(s);
}

namespace {

// Keeps `input` at `index`, reusing the string's capacity from earlier batches.
void Keep(std::vector<std::string>* inputs, size_t index, std::string_view input) {
  if (inputs->size() <= index) inputs->resize(index + 1);
  (*inputs)[index].assign(input);
}

void Wipe(std::vector<std::string>* inputs) {
  for (std::string& s : *inputs) sodium_memzero(s.data(), s.size());
}

}  // namespace

absl::Status BatchSealer::Accept(JudgedRow* row) {
  v1::Record* record = payload_.add_records();
  if (mapping_.bsn_column) Keep(&bsn_inputs_, pending_, row->bsn.view());
  if (mapping_.address_columns) Keep(&address_inputs_, pending_, row->address.view());
  ++pending_;
  record->mutable_values()->Swap(&row->values);
  if (static_cast<size_t>(payload_.records_size()) >= config_.batch_size) return Flush();
  return absl::OkStatus();
}

absl::Status BatchSealer::Flush() {
  if (payload_.records_size() == 0) return absl::OkStatus();
  struct Kind {
    bool present;
    IdentifierKind kind;
    std::vector<std::string>* inputs;
    std::string* (v1::Record::*field)();
  };
  for (const Kind& k : {Kind{mapping_.bsn_column.has_value(), IdentifierKind::kBsn, &bsn_inputs_,
                             &v1::Record::mutable_bsn_token},
                        Kind{mapping_.address_columns.has_value(), IdentifierKind::kAddress,
                             &address_inputs_, &v1::Record::mutable_address_token}}) {
    if (!k.present) continue;
    absl::Status s = tokens_.Tokenize(k.kind, *k.inputs, pending_, &token_scratch_);
    Wipe(k.inputs);
    RETURN_IF_ERROR(s);
    for (size_t i = 0; i < pending_; ++i) {
      ((*payload_.mutable_records(static_cast<int>(i))).*k.field)()->assign(
          reinterpret_cast<const char*>(token_scratch_[i].data()), token_scratch_[i].size());
    }
  }
  pending_ = 0;
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

}  // namespace koppel::agent
