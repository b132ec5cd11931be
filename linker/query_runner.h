// Answers a research unit's query (ARCHITECTURE section 5, docs/disclosure.md): checks that the
// caller is a recipient the covenant names and that the spec stays within the covenant's
// dimensions, measures and disclosure settings and the release budget; decides how the release
// is protected, runs the engine over the covenant's records and returns only the protected
// release, which it records in the covenant's release history.
//
// A spec the covenant approves (its SHA-256 and its prices file's pinned in analysis.approved)
// is released exactly: protected together with every earlier release of the covenant, each
// recomputed on the deliveries it used (release_protection.h). Any other spec is exploratory:
// refused, or, where the covenant allows it, protected the same way and then released with
// consistent perturbation (the cell key method, cell_key.h); exploratory specs may not release
// costs. Queries run one at
// a time: an analysis scans the whole store and the history must see releases in order.
// Earlier releases are recomputed once per linker run and kept in memory (their values checked
// against the history then; a linker that restarts checks again).
#ifndef KOPPEL_LINKER_ANALYSIS_QUERY_RUNNER_H_
#define KOPPEL_LINKER_ANALYSIS_QUERY_RUNNER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/secret.h"
#include "koppel/v1/analysis.pb.h"
#include "linker/analysis/analysis_result.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/cell_key.h"
#include "linker/analysis/implied_sets.h"
#include "linker/linker_store.h"
#include "linker/release_history.h"
#include "policies/covenant.h"

namespace koppel::linker {

// PERMISSION_DENIED naming the covenant rule when the spec asks for a dimension, measure,
// table kind or disclosure setting the covenant does not allow.
absl::Status CheckSpecAllowed(const analysis::AnalysisSpec& spec, const policy::Covenant& covenant);

// SHA-256 (hex) of the spec file and of the prices file it names as the query carries them
// (empty when it names none).
struct SpecDigests {
  std::string spec;
  std::string prices;
};
SpecDigests DigestsOf(const v1::QueryRequest& request, const analysis::AnalysisSpec& spec);

class QueryRunner {
 public:
  // `covenant`, `data_key` and `store` must outlive the runner. `perturbation` is the
  // covenant's perturbation table (null when exploratory specs are refused).
  QueryRunner(const policy::Covenant* covenant, const Secret* data_key, LinkerStore* store,
              std::unique_ptr<analysis::PerturbationTable> perturbation = nullptr)
      : covenant_(covenant),
        data_key_(data_key),
        store_(store),
        perturbation_(std::move(perturbation)) {}

  // Reads every dataset in one key epoch (key_epochs.h) and names in the release's warnings the
  // datasets still to be delivered again under a newer one. `recorded`, when given, receives the
  // release's entry of the history as stored (for the `release` audit entry).
  absl::StatusOr<v1::Release> Run(const std::string& caller, const v1::QueryRequest& request,
                                  SealedRelease* recorded = nullptr)
      ABSL_LOCKS_EXCLUDED(one_at_a_time_);

  // Retires the key epochs older than the newest one every dataset holds records of
  // (KeyEpochs::RetirableThrough), or finishes a retirement a crash cut short, between
  // analyses: waits for a running one when `wait`, else returns nullopt while one runs.
  // nullopt when there is nothing to retire.
  struct EpochRetirement {
    uint32_t through = 0;
    RetiredCounts deleted;
  };
  absl::StatusOr<std::optional<EpochRetirement>> RetireCompleteEpochs(bool wait)
      ABSL_LOCKS_EXCLUDED(one_at_a_time_);

  // Limits of the search for implied groups (tests and benchmarks lower or raise them).
  void set_implied_set_limits(const analysis::ImpliedSetLimits& limits) { limits_ = limits; }

 private:
  const policy::Covenant* covenant_;
  const Secret* data_key_;
  LinkerStore* store_;
  std::unique_ptr<analysis::PerturbationTable> perturbation_;
  analysis::ImpliedSetLimits limits_;
  absl::StatusOr<std::optional<EpochRetirement>> RetireLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(one_at_a_time_);

  absl::Mutex one_at_a_time_;  // also keeps retirements between analyses
  // Earlier releases recomputed on their data version (immutable: a version is a set of
  // batches), checked against the history once per linker run, by release version key.
  std::map<std::string, std::shared_ptr<const analysis::AnalysisResult>> recomputed_
      ABSL_GUARDED_BY(one_at_a_time_);
};

// The covenant's perturbation table: the default compiled into koppel, or the file it names
// relative to the covenant file, checked against its pinned SHA-256. Null when exploratory
// specs are refused. FAILED_PRECONDITION when the file is missing, altered or malformed.
absl::StatusOr<std::unique_ptr<analysis::PerturbationTable>> LoadPerturbationTable(
    const policy::Covenant& covenant, const std::filesystem::path& covenant_file);

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_ANALYSIS_QUERY_RUNNER_H_
