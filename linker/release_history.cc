#include "linker/release_history.h"

#include <fmt/format.h>
#include <sodium.h>

#include "core/hmac.h"
#include "core/status_macros.h"

namespace koppel::linker {

absl::StatusOr<ReleaseHistory> ReleaseHistory::Open(LinkerStore* store, std::string covenant,
                                                    const Secret& data_key) {
  ASSIGN_OR_RETURN(Secret key, HkdfSha256(data_key.span(), {}, "koppel/v1/release-history",
                                          crypto_secretbox_KEYBYTES));
  return ReleaseHistory(store, std::move(covenant), std::move(key));
}

absl::StatusOr<std::vector<v1::ReleaseRecord>> ReleaseHistory::Load() const {
  ASSIGN_OR_RETURN(std::vector<std::string> sealed, store_->ReleaseHistory(covenant_));
  std::vector<v1::ReleaseRecord> records;
  std::string plain;
  for (size_t i = 0; i < sealed.size(); ++i) {
    const std::string& entry = sealed[i];
    const size_t overhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
    bool ok = entry.size() >= overhead;
    if (ok) {
      plain.resize(entry.size() - overhead);
      const auto* bytes = reinterpret_cast<const unsigned char*>(entry.data());
      ok = crypto_secretbox_open_easy(
               reinterpret_cast<unsigned char*>(plain.data()), bytes + crypto_secretbox_NONCEBYTES,
               entry.size() - crypto_secretbox_NONCEBYTES, bytes, key_.data()) == 0;
    }
    v1::ReleaseRecord record;
    ok = ok && record.ParseFromString(plain);
    sodium_memzero(plain.data(), plain.size());
    if (!ok) {
      return absl::DataLossError(fmt::format(
          "entry {} of covenant {}'s release history does not open (altered, or sealed with "
          "another key); the linker releases nothing until the store is restored",
          i, covenant_));
    }
    records.push_back(std::move(record));
  }
  return records;
}

absl::Status ReleaseHistory::Append(v1::ReleaseRecord record) {
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
  return store_->RecordRelease(covenant_, sealed);
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
