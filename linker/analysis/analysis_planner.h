// The planner: what an analysis spec, with its prices, makes the engine read and compute. It
// compiles the spec into one plan per dataset (the register first): the attributes read from it
// (slots), the indicators over it and the cost items their records add to; the price of every
// cost item, the year window of every indicator on every reference date, and the years each
// dataset must have records for. A plan is then resolved against each stored batch's attribute
// schema (ResolveBatch), which checks that the batch delivers what the plan reads. Refuses a
// spec whose cost items name prices or indicators that do not exist.
#ifndef KOPPEL_LINKER_ANALYSIS_ANALYSIS_PLANNER_H_
#define KOPPEL_LINKER_ANALYSIS_ANALYSIS_PLANNER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "koppel/v1/batch.pb.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/prices.h"
#include "linker/analysis/spec_attributes.h"

namespace koppel::analysis {

// The days of a calendar year, inclusive.
struct YearWindow {
  int year = 0;
  int first = 0;
  int last = 0;
};

YearWindow WindowOf(int year);

// A cost-benefit outcome measured from an indicator's records (CostBenefitSpec::outcomes).
struct OutcomeUse {
  size_t outcome = 0;
  OutcomeSpec::Volume volume = OutcomeSpec::Volume::kRecords;
  int amount_slot = -1;  // kAmount
};

// An intervention cost summed from the cohort indicator's records (`amount:`).
struct InterventionAmountUse {
  size_t cost = 0;  // index into CostBenefitSpec::costs
  int amount_slot = -1;
};

// What an indicator needs from its dataset, as attribute slots of that dataset's plan.
struct IndicatorPlan {
  size_t index = 0;  // bit in the indicator pattern
  const IndicatorSpec* spec = nullptr;
  std::vector<int> filter_slots;
  int from_slot = -1;
  int to_slot = -1;
  // Cost-benefit: the scan logs the events of its records on the first reference date
  // (cohort_windows.h). The cohort indicator's records give the starts (and amounts).
  bool cohort = false;
  int start_slot = -1;
  std::vector<InterventionAmountUse> intervention_amounts;
  std::vector<OutcomeUse> outcomes;  // outcomes measured from its records
};

struct CostPlan {
  size_t item = 0;
  CostItemSpec::Volume volume = CostItemSpec::Volume::kRecords;
  int amount_slot = -1;
  int price_slot = -1;  // price_by: the category whose code prices each record
};

// Everything one dataset is read for: its attribute names (slots) and the indicators over it.
struct DatasetPlan {
  std::string name;
  bool is_register = false;
  std::vector<std::string> attributes;  // slot -> attribute name
  std::vector<IndicatorPlan> indicators;
  std::map<size_t, std::vector<CostPlan>> costs_by_indicator;  // position in `indicators`
  std::vector<std::vector<CostPlan>> costs_at;  // the same, by position, for the scans
  std::vector<AttributeUse> uses;  // what the spec reads from this dataset, with fitting types
  // The slot of `attribute`, added when the plan does not read it yet.
  int Slot(const std::string& attribute);
};

// The register's slots the households are built from (-1: not read).
struct RegisterSlots {
  int birth = -1;
  int area = -1;
  int from = -1;
  int to = -1;
  int moves = -1;
};

// What the engine reads and computes for one spec. Points into the spec, which must outlive it.
struct AnalysisPlan {
  std::vector<int> reference_days;          // per reference date, days since the epoch
  std::vector<YearWindow> reference_years;  // per reference date
  std::vector<DatasetPlan> datasets;        // the register first
  RegisterSlots register_slots;
  std::map<std::string, size_t> indicator_index;  // name -> index in the spec
  // Per cost item (0 for amounts). A cost-benefit outcome item's is its outcome's price, an
  // intervention's its price per household: their volumes are set after the scan.
  std::vector<double> item_price;
  std::vector<std::vector<YearWindow>> windows;  // indicator, reference date
  // Per dataset: the years its indicators look at, for which it must have records (with a
  // cost_benefit section, an outcome's dataset also the years of `outcome_days`).
  std::map<std::string, std::vector<int>> years_needed;
  // Cost-benefit: the days (inclusive) the relative years of any start can reach; the scan logs
  // only the outcome events that touch them. Bounded on a side when the cohort indicator's
  // period bounds the start there: `date:` on the start attribute puts every start in the
  // period's year Y, so [1 Jan Y-1, 31 Dec Y+horizon]; `spell:` from the start attribute only
  // bounds it above (a spell running into Y may have started years before).
  YearWindow outcome_days{0, INT32_MIN, INT32_MAX};
};

// INVALID_ARGUMENT when a cost item names a price the prices file does not list (or lists
// without a unit price), an unknown indicator, or prices a register indicator otherwise than
// per unit.
absl::StatusOr<AnalysisPlan> PlanAnalysis(const AnalysisSpec& spec, const PriceTable& prices);

// A plan resolved against one batch's schema.
struct ResolvedBatch {
  std::vector<int> value_index;                       // slot -> index into Record.values
  std::vector<v1::AttributeType> type;                // slot -> type
  std::vector<std::vector<std::vector<char>>> codes;  // indicator, filter -> allowed code index
  std::vector<std::string> area_codes;                // register: code index -> area code
  std::vector<uint16_t> area_index;                   // register: code index -> area index
  std::map<size_t, std::vector<double>> code_prices;  // price_by cost item -> code -> euro
  std::map<size_t, std::vector<std::string>> price_codes;  // price_by cost item -> codes
  bool has_bsn = false;
  // The batch's run lacks what the spec reads (an attribute, a code, a type): its records are
  // left out of this analysis and the release says so, rather than one run stopping it.
  bool left_out = false;
};

// Resolves `plan` against the schema of one batch. FAILED_PRECONDITION when the batch lacks an
// attribute, delivers one as another type or lacks a filtered code; `check_uses`: also refuse
// what EngineOptions::check_attribute_use describes. Leaves the register's areas empty.
absl::StatusOr<ResolvedBatch> ResolveBatch(const DatasetPlan& plan, const v1::BatchHeader& header,
                                           const PriceTable& prices, bool check_uses);

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_ANALYSIS_PLANNER_H_
