// The releases a linker has made under a covenant (docs/disclosure.md, "The release history"):
// for each, the spec and files as sent, the deliveries it read and which of its cells it
// published. Exact releases are protected together with every earlier one
// (release_protection.h), which needs them recomputed on their own deliveries; perturbed ones
// are kept for the record. Entries are sealed (XSalsa20-Poly1305) with a key derived from the
// covenant's data key and live in the covenant's part of the store, so they are unreadable
// without the vault's key and deleted with the covenant (crypto-shredding and deletion alike).
#ifndef KOPPEL_LINKER_ANALYSIS_RELEASE_HISTORY_H_
#define KOPPEL_LINKER_ANALYSIS_RELEASE_HISTORY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "core/secret.h"
#include "koppel/v1/analysis.pb.h"
#include "linker/analysis/analysis_result.h"
#include "linker/linker_store.h"

namespace koppel::linker {

class ReleaseHistory {
 public:
  // `store` must outlive the history.
  static absl::StatusOr<ReleaseHistory> Open(LinkerStore* store, std::string covenant,
                                             const Secret& data_key);

  // Every entry, oldest first. DATA_LOSS naming the entry when one does not open.
  absl::StatusOr<std::vector<v1::ReleaseRecord>> Load() const;

  // Numbers `record`, seals it and appends it while spending one release of the budget, in
  // one durable write.
  absl::Status Append(v1::ReleaseRecord record);

 private:
  ReleaseHistory(LinkerStore* store, std::string covenant, Secret key)
      : store_(store), covenant_(std::move(covenant)), key_(std::move(key)) {}

  LinkerStore* store_;
  std::string covenant_;
  Secret key_;
};

// The data version a result read (AnalysisResult::batches_read).
std::vector<v1::DataVersion> DataVersionOf(const analysis::AnalysisResult& result);

// The raw batch ids of a data version, to recompute a release on it
// (EngineOptions::only_batches).
absl::flat_hash_set<std::string> BatchesOf(
    const google::protobuf::RepeatedPtrField<v1::DataVersion>& version);

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_ANALYSIS_RELEASE_HISTORY_H_
