#include "linker/release_history.h"

#include <fmt/format.h>
#include <sodium.h>

#include "absl/strings/escaping.h"
#include "core/hmac.h"
#include "core/status_macros.h"

namespace koppel::linker {

absl::StatusOr<ReleaseHistory> ReleaseHistory::Open(LinkerStore* store, std::string covenant,
                                                    const Secret& data_key) {
  ASSIGN_OR_RETURN(Secret key, HkdfSha256(data_key.span(), {}, "koppel/v1/release-history",
                                          crypto_secretbox_KEYBYTES));
  return ReleaseHistory(store, std::move(covenant), std::move(key));
}

std::optional<v1::ReleaseRecord> ReleaseHistory::Open(std::string_view entry) const {
  const size_t overhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
  if (entry.size() < overhead) return std::nullopt;
  std::string plain(entry.size() - overhead, '\0');
  const auto* bytes = reinterpret_cast<const unsigned char*>(entry.data());
  bool ok = crypto_secretbox_open_easy(
                reinterpret_cast<unsigned char*>(plain.data()), bytes + crypto_secretbox_NONCEBYTES,
                entry.size() - crypto_secretbox_NONCEBYTES, bytes, key_.data()) == 0;
  v1::ReleaseRecord record;
  ok = ok && record.ParseFromString(plain);
  sodium_memzero(plain.data(), plain.size());
  if (!ok) return std::nullopt;
  return record;
}

absl::StatusOr<std::vector<v1::ReleaseRecord>> ReleaseHistory::Load() const {
  ASSIGN_OR_RETURN(std::vector<std::string> sealed, store_->ReleaseHistory(covenant_));
  std::vector<v1::ReleaseRecord> records;
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::optional<v1::ReleaseRecord> record = Open(sealed[i]);
    if (!record.has_value()) {
      return absl::DataLossError(fmt::format(
          "entry {} of covenant {}'s release history does not open (altered, or sealed with "
          "another key); the linker releases nothing until the store is restored",
          i, covenant_));
    }
    records.push_back(std::move(*record));
  }
  return records;
}

absl::Status ReleaseHistory::Check(const SealedRelease& entry) const {
  std::optional<v1::ReleaseRecord> record = Open(entry.sealed);
  if (!record.has_value() || record->sequence() != entry.sequence) {
    return absl::DataLossError(fmt::format(
        "release history entry {} of covenant {} {}: it is not an entry of this covenant's "
        "history (altered, or sealed with another key)",
        entry.sequence, covenant_,
        record.has_value() ? "holds a record of another number" : "does not open"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SealedRelease> ReleaseHistory::Append(v1::ReleaseRecord record) {
  ASSIGN_OR_RETURN(int64_t spent, store_->ReleasesSpent(covenant_));
  record.set_sequence(static_cast<uint64_t>(spent));
  std::string plain = record.SerializeAsString();
  std::string sealed(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  randombytes_buf(out, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), out,
                        key_.data());
  sodium_memzero(plain.data(), plain.size());
  RETURN_IF_ERROR(store_->RecordRelease(covenant_, sealed));
  return SealedRelease{.sequence = record.sequence(), .sealed = std::move(sealed)};
}

void AddHistoryEntry(const SealedRelease& entry, nlohmann::json* details) {
  std::string encoded = absl::Base64Escape(entry.sealed);
  if (encoded.size() > kMaxAuditedHistoryEntry) {
    (*details)["history_entry_omitted"] = true;
    return;
  }
  (*details)["history_sequence"] = entry.sequence;
  (*details)["history_entry"] = std::move(encoded);
}

absl::StatusOr<std::optional<SealedRelease>> HistoryEntryOf(const nlohmann::json& details) {
  if (!details.is_object() || !details.contains("history_entry")) return std::nullopt;
  const nlohmann::json& encoded = details["history_entry"];
  const nlohmann::json sequence = details.value("history_sequence", nlohmann::json());
  SealedRelease entry;
  if (!encoded.is_string() || !sequence.is_number_unsigned() ||
      !absl::Base64Unescape(encoded.get<std::string>(), &entry.sealed)) {
    return absl::DataLossError("a release audit entry holds a malformed history entry");
  }
  entry.sequence = sequence.get<uint64_t>();
  return entry;
}

std::vector<v1::DataVersion> DataVersionOf(const analysis::AnalysisResult& result) {
  std::vector<v1::DataVersion> version;
  for (const auto& [dataset, ids] : result.batches_read) {
    v1::DataVersion& entry = version.emplace_back();
    entry.set_dataset(dataset);
    for (const std::string& id : ids) entry.add_batch_ids(id);
  }
  return version;
}

absl::flat_hash_set<std::string> BatchesOf(
    const google::protobuf::RepeatedPtrField<v1::DataVersion>& version) {
  absl::flat_hash_set<std::string> batches;
  for (const v1::DataVersion& entry : version) {
    for (const std::string& id : entry.batch_ids()) batches.insert(id);
  }
  return batches;
}

}  // namespace koppel::linker
