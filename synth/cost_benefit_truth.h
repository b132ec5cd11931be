// The ground truth of analyses/cost-benefit.yaml, truth/cost_benefit.json: the wijkteam's 2014
// cohort, its comparison group (households that never had a trajectory, matched on household
// type, wijk and the Almelo domains on 2014-12-31) and per group and item (an outcome in a year
// relative to the household's start, an intervention cost) the sum in cents and its
// contributors, computed household by household from the records that survive validation with
// the definitions of docs/analysis.md, "Cost-benefit" (docs/synth.md, "Intervention").
#ifndef KOPPEL_SYNTH_COST_BENEFIT_TRUTH_H_
#define KOPPEL_SYNTH_COST_BENEFIT_TRUTH_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"
#include "nlohmann/json.hpp"
#include "synth/household.h"
#include "synth/intervention.h"

namespace koppel::synth {

// The spec's years relative to a household's start: the year before, then 1..horizon (4).
inline constexpr int kRelativeYears[] = {-1, 1, 2, 3, 4};
inline constexpr size_t kRelativeYearCount = std::size(kRelativeYears);

// Unit prices of prices/cost_benefit_2014.csv in euro (per record or per day), per Outcome; the
// synth reads no input files, and synth_test checks them against the file.
inline constexpr double kOutcomePriceEur[kOutcomeCount] = {2500.00, 1950.00, 255.16, 51.97};

struct InterventionCost {
  std::string_view name;
  int64_t cents;  // per cohort household, in relative year 1
};
inline constexpr InterventionCost kInterventionCosts[] = {{"coaching", 197500},
                                                          {"debt_help", 80000}};
inline constexpr size_t kInterventionCostCount = std::size(kInterventionCosts);

// Items in the spec's order: each outcome in each relative year ("<outcome>@<k>"), then each
// intervention cost ("<cost>@1").
inline constexpr size_t kCostBenefitItemCount =
    kOutcomeCount * kRelativeYearCount + kInterventionCostCount;
using ItemCents = std::array<int64_t, kCostBenefitItemCount>;

// One record of an outcome indicator: a dated event (`to` unused) or a spell [from, to], `to`
// inclusive, nullopt while running.
struct OutcomeRecord {
  Outcome outcome = Outcome::kEvictionNotice;
  absl::CivilDay from;
  std::optional<absl::CivilDay> to;
};

// [begin, end) of relative year k of `start`: k >= 1 [start + (k-1) years, start + k years),
// k = -1 [start - 1 year, start), with core's AddYears.
std::pair<absl::CivilDay, absl::CivilDay> RelativeYear(absl::CivilDay start, int k);

// 1 for an event dated in the year; for a spell its days inside the year.
int64_t VolumeIn(const OutcomeRecord& record, std::pair<absl::CivilDay, absl::CivilDay> year);

// A household's money per outcome item: its volume summed over `records` times the price,
// rounded to cents once per household and item (intervention costs 0).
ItemCents OutcomeCents(const std::vector<OutcomeRecord>& records, absl::CivilDay start);

class CostBenefitAccumulator {
 public:
  // `snapshot_register`: the register of --dialects, for the moves indicator (Evaluate).
  explicit CostBenefitAccumulator(bool snapshot_register = false)
      : snapshot_register_(snapshot_register) {}

  // `visible[i]` tells whether h.facts[i] reached the linkage (its row was valid).
  void Add(const Household& h, const std::vector<bool>& visible);

  // Everything of truth/cost_benefit.json but the seed.
  nlohmann::ordered_json ToJson(const InterventionEffects& effects) const;

 private:
  struct Tally {
    uint64_t households = 0;
    ItemCents cents = {};
    std::array<uint64_t, kCostBenefitItemCount> contributors = {};
    void Add(const ItemCents& household);
    void Merge(const Tally& other);
  };
  // Households of one matching cell. Only candidates with outcome records are kept; their
  // money waits for the cell's comparison start.
  struct Cell {
    std::vector<absl::CivilDay> cohort_starts;
    Tally cohort;
    uint64_t candidates = 0;
    std::vector<std::vector<OutcomeRecord>> candidate_records;
  };
  static nlohmann::ordered_json TallyJson(const Tally& t);

  bool snapshot_register_;
  std::map<uint64_t, Cell> cells_;
};

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_COST_BENEFIT_TRUTH_H_
