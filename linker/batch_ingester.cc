#include "linker/batch_ingester.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <optional>

#include "core/hex.h"
#include "core/identifier_rules.h"
#include "core/proto_time.h"
#include "core/receipt.h"
#include "core/refusal.h"
#include "core/status_macros.h"
#include "linker/key_epochs.h"

namespace koppel::linker {
namespace {

// Why a record's values do not fit its header's attribute schema (the kind of each value, a
// category's code within the code list), or nullopt when they do.
std::optional<std::string> ValueMismatch(const v1::BatchHeader& header, const v1::Record& record) {
  for (int i = 0; i < record.values_size(); ++i) {
    const v1::Value& value = record.values(i);
    const v1::AttributeSchema& attribute = header.attributes(i);
    v1::Value::KindCase expected = v1::Value::KIND_NOT_SET;
    switch (attribute.type()) {
      case v1::ATTRIBUTE_TYPE_CATEGORY:
        expected = v1::Value::kCode;
        break;
      case v1::ATTRIBUTE_TYPE_INTEGER:
        expected = v1::Value::kInteger;
        break;
      case v1::ATTRIBUTE_TYPE_AMOUNT:
        expected = v1::Value::kAmountCents;
        break;
      case v1::ATTRIBUTE_TYPE_DATE:
        expected = v1::Value::kDateDays;
        break;
      case v1::ATTRIBUTE_TYPE_YEAR:
        expected = v1::Value::kYear;
        break;
      default:
        return fmt::format("attribute '{}' has no type", attribute.name());
    }
    if (value.kind_case() == v1::Value::KIND_NOT_SET) continue;  // an empty field
    if (value.kind_case() != expected) {
      return fmt::format("the value of attribute '{}' is not a {}", attribute.name(),
                         v1::AttributeType_Name(attribute.type()));
    }
    if (expected == v1::Value::kCode &&
        value.code() >= static_cast<uint32_t>(attribute.codes_size())) {
      return fmt::format("the value of attribute '{}' is code {}, beyond the {} codes of its list",
                         attribute.name(), value.code(), attribute.codes_size());
    }
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BatchIngester>> BatchIngester::Create(policy::Covenant covenant,
                                                                     LinkerKeys keys,
                                                                     LinkerStore* store,
                                                                     VaultKeyEpoch vault) {
  if (keys.data_key.size() != crypto_secretbox_KEYBYTES) {
    return absl::InvalidArgumentError("the data key must be 32 bytes");
  }
  ASSIGN_OR_RETURN(HmacSha256Key rekey, HmacSha256Key::Create(keys.link_key.span()));
  return std::unique_ptr<BatchIngester>(new BatchIngester(
      std::move(covenant), std::move(keys), std::move(rekey), store, std::move(vault)));
}

absl::StatusOr<v1::Receipt> BatchIngester::Ingest(const std::string& sender,
                                                  const v1::SealedBatch& batch) {
  if (batch.sealed_payload().size() > kMaxSealedBytes) {
    return absl::InvalidArgumentError(
        fmt::format("batch {} is {} bytes; the limit is {} (seal with a smaller --batch-size)",
                    batch.batch_id(), batch.sealed_payload().size(), kMaxSealedBytes));
  }
  RETURN_IF_ERROR(VerifySealedBatch(batch));
  RETURN_IF_ERROR(covenant_.MayDeliver(
      sender, batch.dataset(),
      ToHex(std::span(reinterpret_cast<const uint8_t*>(batch.signer_public_key().data()),
                      batch.signer_public_key().size()))));
  ASSIGN_OR_RETURN(std::optional<v1::Receipt> held,
                   store_->FindReceipt(covenant_.id, batch.batch_id()));
  if (held.has_value()) {
    held->set_duplicate(true);
    RETURN_IF_ERROR(SignReceipt(keys_.signing, &*held));
    return *held;
  }
  ASSIGN_OR_RETURN(v1::BatchPayload payload,
                   OpenSealedBatch(batch, keys_.box_public, keys_.box_secret));
  const v1::BatchHeader& header = payload.header();
  // Its names reach refusals, the audit log and the store: checked before any of them.
  if (std::optional<FieldViolation> violation = CheckRequestFields(header)) {
    return WithServiceRule(
        absl::InvalidArgumentError(fmt::format(
            "batch {}: header field {} ({} bytes) breaks its rule: {}; nothing of the batch is "
            "stored",
            batch.batch_id(), violation->field, violation->length, violation->rule)),
        "request_field", covenant_.id);
  }
  if (header.covenant_id() != covenant_.id) {
    return WithServiceRule(
        absl::PermissionDeniedError(fmt::format(
            "batch {} was sealed under covenant '{}', not '{}' (rule: data stays bound to its "
            "covenant)",
            batch.batch_id(), header.covenant_id(), covenant_.id)),
        "covenant_binding", covenant_.id);
  }
  if (header.covenant_version() != covenant_.version) {
    return WithCovenantRule(
        absl::FailedPreconditionError(fmt::format(
            "batch {} was sealed under version {} of covenant {}, which is {} (rule: version); "
            "seal the export again",
            batch.batch_id(), header.covenant_version(), covenant_.id,
            header.covenant_version() < covenant_.version
                ? fmt::format("superseded by version {}", covenant_.version)
                : fmt::format("not known here (the linker serves version {})", covenant_.version))),
        "version", covenant_.id, covenant_.version);
  }
  RETURN_IF_ERROR(CheckKeyEpoch(batch.batch_id(), header.key_epoch()));
  std::vector<std::string> fields;
  for (const v1::AttributeSchema& attribute : header.attributes())
    fields.push_back(attribute.name());
  RETURN_IF_ERROR(
      covenant_.MayCarry(sender, header.dataset(), fields, header.has_bsn(), header.has_address()));

  std::vector<StoredRecord> records;
  records.reserve(static_cast<size_t>(payload.records_size()));
  uint64_t rejected = 0;
  uint64_t index = 0;
  for (v1::Record& record : *payload.mutable_records()) {
    // The header's grant-checked identifier kinds and attributes bind every record.
    const bool undeclared_identifier = (!header.has_bsn() && !record.bsn_token().empty()) ||
                                       (!header.has_address() && !record.address_token().empty());
    if (undeclared_identifier || record.values_size() > header.attributes_size()) {
      const std::string key = fmt::format("parties[{}].datasets[{}].{}", sender, header.dataset(),
                                          undeclared_identifier ? "identifiers" : "fields");
      return WithCovenantRule(
          absl::PermissionDeniedError(fmt::format(
              "covenant {} v{}: batch {} has a record carrying {} its header does not declare; "
              "nothing of the batch is stored (rule: {})",
              covenant_.id, covenant_.version, batch.batch_id(),
              undeclared_identifier ? "an identifier" : "a value", key)),
          key, covenant_.id, covenant_.version);
    }
    if (std::optional<std::string> mismatch = ValueMismatch(header, record)) {
      return absl::InvalidArgumentError(fmt::format(
          "batch {}: record {} does not match the batch header: {}; nothing of the batch is "
          "stored (seal the export again with this agent's koppel-agent)",
          batch.batch_id(), index + static_cast<uint64_t>(rejected), *mismatch));
    }
    const bool bsn_ok = record.bsn_token().size() == 32 || record.bsn_token().empty();
    const bool address_ok = record.address_token().size() == 32 || record.address_token().empty();
    if (!bsn_ok || !address_ok || (record.bsn_token().empty() && record.address_token().empty())) {
      ++rejected;
      continue;
    }
    // Re-key both tokens; the stored key sorts by person, or by household without a BSN.
    for (std::string* token : {record.mutable_bsn_token(), record.mutable_address_token()}) {
      if (token->empty()) continue;
      Digest256 rekeyed = rekey_.Mac(*token);
      token->assign(reinterpret_cast<const char*>(rekeyed.data()), rekeyed.size());
    }
    StoredRecord stored;
    stored.token = record.bsn_token().empty() ? record.address_token() : record.bsn_token();
    record.SerializeToString(&stored.value);  // the store's files are encrypted as a whole
    ++index;
    records.push_back(std::move(stored));
  }

  v1::Receipt receipt;
  receipt.set_batch_id(batch.batch_id());
  receipt.set_dataset(batch.dataset());
  receipt.set_covenant_id(covenant_.id);
  receipt.set_sender(sender);
  receipt.set_records_accepted(records.size());
  receipt.set_records_rejected(rejected);
  const absl::Time stored = absl::FromTimeT(std::time(nullptr));
  *receipt.mutable_store_time() = ToProtoTimestamp(stored);
  // Agents from before store_time sign and check field 8: the same seconds give them the same
  // signed bytes (docs/api.md, "Compatibility").
  receipt.set_legacy_stored_at_unix_seconds(absl::ToUnixSeconds(stored));
  RETURN_IF_ERROR(SignReceipt(keys_.signing, &receipt));
  ASSIGN_OR_RETURN(v1::Receipt committed, store_->Commit(receipt, payload.header(), records));
  if (committed.signature() != receipt.signature()) {  // another stream stored it first
    committed.set_duplicate(true);
    RETURN_IF_ERROR(SignReceipt(keys_.signing, &committed));
  } else {
    const uint32_t epoch = payload.header().key_epoch();
    if (epoch > newest_held_.load()) newest_held_.store(epoch);
    if (observer_) observer_(payload.header(), records);
  }
  return committed;
}

absl::Status BatchIngester::CheckKeyEpoch(const std::string& batch_id, uint32_t epoch) {
  if (epoch > newest_held_.load() + 1) {  // held epochs move only at commits; read them again
    ASSIGN_OR_RETURN(HeldEpochs held, store_->Epochs(covenant_.id));
    const uint32_t newest = std::max(KeyEpochs(covenant_.id, held).newest(), held.retired_through);
    if (newest > newest_held_.load()) newest_held_.store(newest);
  }
  return ceiling_.Check(covenant_.id, batch_id, epoch, newest_held_.load());
}

}  // namespace koppel::linker
