// The releases a linker has made under a covenant (docs/disclosure.md, "The release history"):
// for each, the spec and files as sent, the deliveries it read and which of its cells it
// published. Exact releases are protected together with every earlier one
// (release_protection.h), which needs them recomputed on their own deliveries; perturbed ones
// are kept for the record. Entries are sealed (XSalsa20-Poly1305) with a key derived from the
// covenant's data key and live in the covenant's part of the store, so they are unreadable
// without the vault's key and deleted with the covenant (crypto-shredding and deletion alike).
#ifndef KOPPEL_LINKER_ANALYSIS_RELEASE_HISTORY_H_
#define KOPPEL_LINKER_ANALYSIS_RELEASE_HISTORY_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "core/secret.h"
#include "koppel/v1/analysis.pb.h"
#include "linker/analysis/analysis_result.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/linker_store.h"

namespace koppel::linker {

// One entry of the history as stored: its number (the release count before it) and its sealed
// bytes. The `release` audit entry carries it (docs/audit.md), so that a restore to an earlier
// point puts back the entries made after its backup (LinkerStore::ApplyRestoreNote).
struct SealedRelease {
  uint64_t sequence = 0;
  std::string sealed;
};

class ReleaseHistory {
 public:
  // `store` must outlive the history.
  static absl::StatusOr<ReleaseHistory> Open(LinkerStore* store, std::string covenant,
                                             const Secret& data_key);

  // Every entry, oldest first. DATA_LOSS naming the entry when one does not open.
  absl::StatusOr<std::vector<v1::ReleaseRecord>> Load() const;

  // Numbers `record`, seals it and appends it while spending one release of the budget, in
  // one durable write. Returns the entry as stored.
  absl::StatusOr<SealedRelease> Append(v1::ReleaseRecord record);

  // Whether `entry` is an entry of this history: it opens under the key and holds a record
  // numbered entry.sequence. DATA_LOSS saying which when it is not.
  absl::Status Check(const SealedRelease& entry) const;

 private:
  ReleaseHistory(LinkerStore* store, std::string covenant, Secret key)
      : store_(store), covenant_(std::move(covenant)), key_(std::move(key)) {}
  // The record sealed in `entry`; nullopt when it does not open under the key.
  std::optional<v1::ReleaseRecord> Open(std::string_view entry) const;

  LinkerStore* store_;
  std::string covenant_;
  Secret key_;
};

// A `release` audit entry carries the release's history entry (docs/audit.md): base64 under
// "history_entry" with its "history_sequence", or "history_entry_omitted": true when its base64
// is longer than this, so that the line stays well under the audit log's 1 MiB.
inline constexpr size_t kMaxAuditedHistoryEntry = 512 << 10;
void AddHistoryEntry(const SealedRelease& entry, nlohmann::json* details);
// The history entry a `release` audit entry's details carry; nullopt when they carry none.
// DATA_LOSS when they carry a malformed one.
absl::StatusOr<std::optional<SealedRelease>> HistoryEntryOf(const nlohmann::json& details);

// The data version a result read (AnalysisResult::batches_read).
std::vector<v1::DataVersion> DataVersionOf(const analysis::AnalysisResult& result);

// The raw batch ids of a data version, to recompute a release on it
// (EngineOptions::only_batches).
absl::flat_hash_set<std::string> BatchesOf(
    const google::protobuf::RepeatedPtrField<v1::DataVersion>& version);

// The cohort design of a cost-benefit spec, part by part (name, definition): what puts a
// household in its cohort, its comparison group or neither (reference date, adult age, cohort
// indicator, start, comparison, exclude, match_on). Outcomes, windows, horizon, rates,
// sensitivity and costs move no household between groups and are no part of it. Empty without
// a cost_benefit section.
std::vector<std::pair<std::string, std::string>> CostBenefitDesign(
    const analysis::AnalysisSpec& spec);

// Why `spec` may not be released after `earlier` (a covenant's history): two cost-benefit
// releases of different cohort designs differ by the households one design counts and the
// other does not, so their difference could isolate a few households' money, which the
// release history cannot see (their cost items are different quantities). Empty when every
// earlier cost-benefit release has the design of `spec`, or `spec` has none. An error when an
// earlier spec does not parse.
absl::StatusOr<std::string> CostBenefitDesignConflict(
    const analysis::AnalysisSpec& spec, const std::vector<v1::ReleaseRecord>& earlier);

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_ANALYSIS_RELEASE_HISTORY_H_
