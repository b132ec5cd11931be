// The scanner: reads a covenant's records for a plan (analysis_planner.h) and builds the
// households of every reference date. One ordered merge scan walks the person-keyed datasets
// together, token by token, so that a person's records from every source meet without random
// lookups; the register places each person in a household on every reference date and the
// person's indicators and cost volumes roll up into it. Address-keyed datasets are scanned
// next and joined on the household token. Both scans split the token space into ranges read on
// every core at once from one snapshot of the records; households live in shards by the first
// byte of their key, and each person range logs the cost volumes it adds, replayed in token
// order, so that the households come out the same doubles whatever the number of ranges. For a
// cost-benefit spec the ranges also log the events its cohort and outcomes are measured from
// (cohort_windows.h): whole numbers, merged in any order.
#ifndef KOPPEL_LINKER_ANALYSIS_ANALYSIS_SCANNER_H_
#define KOPPEL_LINKER_ANALYSIS_ANALYSIS_SCANNER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/progress.h"
#include "core/worker_pool.h"
#include "linker/analysis/analysis_planner.h"
#include "linker/analysis/cohort_windows.h"
#include "linker/analysis/engine_options.h"
#include "linker/analysis/households.h"
#include "linker/analysis/record_source.h"

namespace koppel::analysis {

// Which of the years the spec's indicators look at a dataset has any record for, so that a
// year without data is reported instead of silently counting nobody. Checks stop once every
// needed year has been seen.
class YearCoverage {
 public:
  void Need(int year);
  void Note(const IndicatorPlan& indicator, const ResolvedBatch& batch, const v1::Record& record);
  bool Seen(int year) const;
  bool Needs(int year) const;
  // Adds what another scan of the same dataset (another token range) has seen.
  void Add(const YearCoverage& other);

 private:
  std::vector<int> years_;
  std::vector<char> seen_;
  size_t missing_ = 0;
};

class BatchCache;
class RecordGroup;
template <size_t W>
struct RangeState;

// W: 64-bit words of indicator bits (households.h). Instantiated for 1, 2, 4 and 8.
template <size_t W>
class AnalysisScanner {
 public:
  using State = RangeState<W>;

  // Everything given must outlive the scanner; `progress` may be null.
  AnalysisScanner(const RecordSource* source, const AnalysisSpec& spec, const AnalysisPlan& plan,
                  const PriceTable& prices, const EngineOptions& options,
                  ProgressReporter* progress);
  ~AnalysisScanner();

  // Sizes the households of every date for about this many households, never to be rehashed.
  void Reserve(size_t households);
  // Scans every dataset of the plan on `snapshot`: the person-keyed datasets together, then
  // each address-keyed one. FAILED_PRECONDITION when the register has not been delivered, a
  // batch does not fit the plan (and may not be left out), or there are too many areas.
  absl::Status Scan(const RecordSnapshot& snapshot);

  // Per reference date: the households found.
  std::vector<HouseholdShards<W>>& households() { return households_; }
  // Area index -> code, numbered as one thread scanning every token would have met them. This and
  // the other results are read after Scan, when no range thread runs.
  const std::vector<std::string>& area_codes() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return area_codes_;
  }
  const std::map<std::string, uint16_t>& area_index() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return area_index_;
  }
  // Per dataset: the years its records cover, of those the plan needs.
  const std::map<std::string, YearCoverage>& coverage() const { return coverage_; }
  // Per reference date: persons or addresses with counting records but no household.
  const std::vector<uint64_t>& homeless_with_records() const { return homeless_with_records_; }
  uint64_t records_read() const { return records_read_; }
  // Cost-benefit (spec.cost_benefit): the events the scans logged on the first reference date,
  // in no particular order; handed over once, to CohortWindows.
  std::vector<CohortEvent> TakeCohortEvents() { return std::move(cohort_events_); }
  // Dataset -> the raw ids of the batches whose records were read.
  const std::map<std::string, std::set<std::string>>& batches_read() const { return batches_read_; }
  // Dataset -> delivery run -> why its records were left out.
  const std::map<std::string, std::map<std::string, std::string>>& left_out() const
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return left_out_;
  }
  // The codes a price_by cost item's attribute has in the runs of `dataset` read.
  std::set<std::string> PriceCodes(const std::string& dataset, size_t item) const;

 private:
  using ResolvedBatches = absl::node_hash_map<std::string, ResolvedBatch>;
  using PersonGroups = std::vector<std::pair<const DatasetPlan*, RecordGroup*>>;

  absl::Status ScanPersons();
  absl::Status ScanAddresses(const DatasetPlan& plan);
  // The token ranges the scans split into, one thread each.
  size_t Ranges() const;
  // Runs `scan` over every token range on its own thread, with a state per range; the first
  // error stops the others and is returned.
  absl::Status ForEachRange(
      std::vector<State>* states,
      const std::function<absl::Status(std::string_view, std::string_view, State&)>& scan);
  State NewState(size_t range) const;
  // Adds what the ranges found, in token order, to the run's totals.
  absl::Status Merge(std::vector<State>& states);
  absl::Status ScanPersonRange(const std::vector<const DatasetPlan*>& plans, std::string_view begin,
                               std::string_view end, State& state);
  absl::Status ScanAddressRange(const DatasetPlan& plan, std::string_view begin,
                                std::string_view end, State& state);
  // Numbers the areas as one thread scanning every token would have met them.
  void NumberAreas(const std::vector<State>& states);
  absl::StatusOr<const ResolvedBatch*> Batch(const DatasetPlan& plan, std::string_view batch_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(resolve_mutex_);
  // The resolved batch of a record a range's scan meets; null when its records are not read
  // (another data version, or a run left out).
  absl::StatusOr<const ResolvedBatch*> Meet(const DatasetPlan& plan, BatchCache& cache,
                                            std::string_view batch_id, State& state);
  absl::Status Open(const RecordScan& scan, v1::Record* record, State& state);
  size_t IndexOf(const DatasetPlan& plan) const {
    return static_cast<size_t>(&plan - plan_.datasets.data());
  }
  // Whether records of this batch (raw id) count: all of them unless the run is restricted to
  // an earlier release's data version.
  bool Allowed(std::string_view batch_id) const;
  void EvaluatePerson(const PersonGroups& groups, State& state);

  const RecordSource* source_;
  const AnalysisSpec& spec_;
  const AnalysisPlan& plan_;
  const PriceTable& prices_;
  const EngineOptions& options_;
  ProgressReporter* progress_ ABSL_PT_GUARDED_BY(progress_mutex_);

  // The records as the scan found them: every range reads them, so that they read the same
  // batches whatever is committed meanwhile (and batches_read_ names all of each batch).
  const RecordSnapshot* snapshot_ = nullptr;
  std::unique_ptr<WorkerPool> pool_;  // the ranges' threads besides the caller's; null: one range
  // Held by a range's thread while it resolves a batch it meets first.
  mutable absl::Mutex resolve_mutex_;
  // Per dataset plan, by raw batch id. Nodes stay put, so the scan keeps pointers to them.
  std::vector<ResolvedBatches> resolved_ ABSL_GUARDED_BY(resolve_mutex_);
  std::map<std::string, std::map<std::string, std::string>> left_out_
      ABSL_GUARDED_BY(resolve_mutex_);
  std::vector<std::string> area_codes_ ABSL_GUARDED_BY(resolve_mutex_);
  std::map<std::string, uint16_t> area_index_ ABSL_GUARDED_BY(resolve_mutex_);
  std::vector<HouseholdShards<W>> households_;
  std::map<std::string, YearCoverage> coverage_;
  std::vector<uint64_t> homeless_with_records_;
  uint64_t records_read_ = 0;
  std::vector<CohortEvent> cohort_events_;
  std::map<std::string, std::set<std::string>> batches_read_;
  // Shared by the ranges' threads.
  absl::Mutex progress_mutex_;  // progress_'s reporter is not thread-safe
  std::atomic<uint64_t> records_progress_{0};
  std::atomic<bool> stop_{false};  // a range failed: the others stop
};

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_ANALYSIS_SCANNER_H_
