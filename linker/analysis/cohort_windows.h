// The cost-benefit cohort (CostBenefitSpec; docs/analysis.md, "Cost-benefit"): which households
// of the first reference date are the cohort, its comparison group or left unmatched, each
// household's start, and the volumes of every outcome in every year relative to that start and
// of the intervention costs. The scanner logs the events these are measured from (CohortEvent);
// CohortWindows turns them into the groups' indicator bits and into cost volumes of the
// households, which the table builder then prices, rounds and sums like any cost item.
#ifndef KOPPEL_LINKER_ANALYSIS_COHORT_WINDOWS_H_
#define KOPPEL_LINKER_ANALYSIS_COHORT_WINDOWS_H_

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/household_class.h"
#include "linker/analysis/households.h"

namespace koppel::analysis {

// One counted record of a household on the first reference date: an outcome's event or spell,
// a cohort record's start, or a cohort record's amount of an intervention cost.
struct CohortEvent {
  static constexpr int32_t kRunning = INT32_MAX;  // `last` of a spell without an end
  static constexpr uint16_t kStart = UINT16_MAX;  // `what` of a start (day in `first`)

  HouseholdKey household{};
  int32_t first = 0;  // days since the epoch: the event's date, or the spell's first day
  int32_t last = 0;   // the spell's last day (inclusive)
  int64_t cents = 0;  // an amount: the outcome's, or the intervention cost's
  // An outcome (index into CostBenefitSpec::outcomes), kStart, or outcomes.size() + the index
  // of an intervention cost summed from amounts.
  uint16_t what = 0;
};

// W: 64-bit words of indicator bits (households.h).
template <size_t W>
class CohortWindows {
 public:
  // `spec` must have a cost_benefit section and outlive this.
  explicit CohortWindows(const AnalysisSpec& spec);

  // Sets cb_cohort, cb_comparison and cb_unmatched on `households` (those of the first reference
  // date) and adds the volumes of the cost-benefit items to the cohort's and the comparison's.
  // The same whatever order `events` come in.
  void Apply(std::vector<CohortEvent> events, HouseholdShards<W>* households);

  // What Apply found: households per group, and cohort households left out because none of
  // their cohort records has a start date.
  int64_t cohort() const { return cohort_; }
  int64_t comparison() const { return comparison_; }
  int64_t unmatched() const { return unmatched_; }
  int64_t without_start() const { return without_start_; }
  // The distinct days the cohort's and the comparison's households were measured from.
  const std::set<int32_t>& starts() const { return starts_; }

 private:
  using Cell = std::vector<uint32_t>;
  struct CellMembers {
    std::vector<int32_t> starts;  // of its cohort households
    int64_t candidates = 0;
  };
  enum class Role { kNone, kCohort, kCandidate };

  Role RoleOf(const HouseholdAccumulatorT<W>& household) const;
  Cell CellOf(const HouseholdAccumulatorT<W>& household) const;
  // The household's events, from the events sorted by household.
  std::pair<const CohortEvent*, const CohortEvent*> EventsOf(const HouseholdKey& household) const;
  // Adds the volumes of the outcome items, measured from `start`, and for a cohort household
  // the intervention costs.
  void AddVolumes(const HouseholdKey& household, int32_t start, bool cohort,
                  CostVolumes* volumes) const;

  const AnalysisSpec& spec_;
  const CostBenefitSpec& cost_benefit_;
  Operands operands_;
  std::vector<int> years_;
  std::vector<int> valued_;  // per outcome: its position among the valued ones, -1: PM
  std::vector<CohortEvent> events_;
  std::map<Cell, CellMembers> cells_;
  int64_t cohort_ = 0;
  int64_t comparison_ = 0;
  int64_t unmatched_ = 0;
  int64_t without_start_ = 0;
  std::set<int32_t> starts_;
};

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_COHORT_WINDOWS_H_
