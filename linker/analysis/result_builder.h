// The table builder: groups an analysis's households into atoms (households of one reference
// date, area, household type and exact indicator pattern, with the money their cost items add)
// and sums every table cell of the spec from the atoms, so that disclosure control sees the
// exact linear structure: a cell names the atoms it adds up. Builds the five table kinds:
// counts (by area, household type or selections, with percentages), overlap of flags, costs
// (by item or payer, sums and means), sensitivity of a costs table's mean to its prices, and
// cost-benefit (an intervention cohort's outcomes, payers and sensitivity in net present value).
// Cells that several tables share are published once; a total row marks its cells as totals.
#ifndef KOPPEL_LINKER_ANALYSIS_RESULT_BUILDER_H_
#define KOPPEL_LINKER_ANALYSIS_RESULT_BUILDER_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "linker/analysis/analysis_result.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/engine_options.h"
#include "linker/analysis/households.h"
#include "linker/analysis/prices.h"

namespace koppel::analysis {

// One group of households: same date, area, household type and indicator pattern.
template <size_t W>
struct AtomKeyT {
  uint16_t date = 0;
  uint16_t area = 0;
  uint16_t type = 0;
  IndicatorBits<W> indicators;
  bool operator==(const AtomKeyT&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const AtomKeyT& k) {
    return H::combine(std::move(h), k.date, k.area, k.type, k.indicators);
  }
};

template <size_t W>
struct AtomT {
  AtomKeyT<W> key;
  IndicatorBits<W> flags;
  int64_t households = 0;
};

// Money of one atom in one group of cost items (an item, a payer, or all).
// Sums are kept in whole cents (every price and amount has two decimals), so totals are exact
// and do not depend on the order in which households are visited.
struct MoneyStats {
  int64_t cents = 0;
  int64_t contributors = 0;
  std::vector<double> largest;  // descending, at most `keep`
  void Add(double amount, size_t keep) {
    cents += std::llround(amount * 100);
    ++contributors;
    auto at = std::upper_bound(largest.begin(), largest.end(), amount, std::greater<>());
    largest.insert(at, amount);
    if (largest.size() > keep) largest.pop_back();
  }
};

// W: 64-bit words of indicator bits (households.h). Instantiated for 1, 2, 4 and 8.
template <size_t W>
class ResultBuilder {
  using Atom = AtomT<W>;
  using AtomKey = AtomKeyT<W>;
  using HouseholdAccumulator = HouseholdAccumulatorT<W>;
  using AtomTest = std::function<bool(const Atom&)>;  // a predicate over atoms

 public:
  // `item_price`: per cost item, the price of a unit of its volume (AnalysisPlan::item_price);
  // `area_codes`: area index -> code; `reference_days`: per reference date. All must outlive
  // the builder.
  ResultBuilder(const AnalysisSpec& spec, const EngineOptions& options,
                const std::vector<double>& item_price, const std::vector<std::string>& area_codes,
                const PriceTable& prices, const std::vector<int>& reference_days)
      : spec_(spec),
        options_(options),
        item_price_(item_price),
        area_codes_(area_codes),
        prices_(prices),
        reference_days_(reference_days) {
    for (size_t i = 0; i < spec.indicators.size(); ++i)
      operand_[spec.indicators[i].name] = {false, i};
    for (size_t f = 0; f < spec.flags.size(); ++f) operand_[spec.flags[f].name] = {true, f};
    for (size_t t = 0; t < spec.household_types.size(); ++t)
      type_index_[spec.household_types[t].name] = t;
    for (const CostItemSpec& item : spec.cost_items) {
      if (!item.in_total || item.cost_benefit()) continue;  // in no payer's sum
      if (std::find(payers_.begin(), payers_.end(), item.payer) == payers_.end()) {
        payers_.push_back(item.payer);
      }
    }
    CollectPredicates();
    for (const CostItemSpec& item : spec.cost_items) {
      unit_indicator_.push_back(
          item.volume == CostItemSpec::Volume::kUnits ? operand_.at(item.indicator).second : 0);
      payer_group_.push_back(PayerGroup(item.payer));
    }
    item_extra_groups_.resize(spec.cost_items.size());
    if (spec.cost_benefit) LayOutCostBenefit(*spec.cost_benefit);
    groups_laid_out_ = true;
  }

  // Adds one household on reference date `date` (an index) to its atom; `volumes`: what its
  // records add to each cost item (null: nothing), before pricing and bounding.
  void AddHousehold(uint16_t date, const HouseholdKey& key, const HouseholdAccumulator& household,
                    const CostVolumes* volumes);
  // Builds the spec's tables, in its order, and describes the atoms and cells behind them.
  // INVALID_ARGUMENT when a sensitivity table varies a column of no earlier costs table;
  // RESOURCE_EXHAUSTED when the cost-item groups or the sum atoms outgrow their 16- and 32-bit
  // indices.
  absl::Status Finish(AnalysisResult* result);

 private:
  bool Holds(const std::string& name, const IndicatorBits<W>& indicators,
             const IndicatorBits<W>& flags) const {
    auto [is_flag, index] = operand_.at(name);
    return (is_flag ? flags : indicators).Test(index);
  }
  bool Matches(const Selection& selection, const Atom& atom) const;
  IndicatorBits<W> Flags(const IndicatorBits<W>& indicators) const;
  // The names and `any` groups the tables select on: the predicates of the atoms' descriptions.
  void CollectPredicates();
  void AddPredicates(const Selection& selection);
  void Describe(AnalysisResult* result) const;
  uint16_t TypeOf(const HouseholdAccumulator& household) const;
  // Groups of cost items: each item, each payer's items, all items (those in the total), then
  // the groups of several cost-benefit items (GroupOf).
  size_t GroupCount() const { return AllGroup() + 1 + extra_groups_.size(); }
  size_t PayerGroup(const std::string& payer) const {
    return spec_.cost_items.size() +
           static_cast<size_t>(std::find(payers_.begin(), payers_.end(), payer) - payers_.begin());
  }
  size_t AllGroup() const { return spec_.cost_items.size() + payers_.size(); }
  bool InTotal(size_t item) const {
    return spec_.cost_items[item].in_total && !spec_.cost_items[item].cost_benefit();
  }

  int CountCell(const AtomTest& test, bool is_total);
  int SumCell(const AtomTest& test, const std::vector<size_t>& items, size_t group, bool is_total);
  ResultCell Count(const AtomTest& test, bool is_total);
  ResultCell Percent(const ResultCell& part, const ResultCell& whole);

  absl::Status CountsTable(const TableSpec& table, ResultTable* out);
  absl::Status OverlapTable(const TableSpec& table, ResultTable* out);
  absl::Status CostsTable(const TableSpec& table, ResultTable* out);
  absl::Status SensitivityTable(const TableSpec& table, ResultTable* out);

  // Cost-benefit (CostBenefitSpec; docs/analysis.md, "Cost-benefit"). A set of items measured
  // per relative year: the items and the group whose sum cell adds them up, per Years() index.
  struct YearItems {
    std::vector<size_t> items;
    size_t group = 0;
  };
  using ByYear = std::vector<YearItems>;
  // What a benefit is computed from: per relative year the cohort's and the comparison's sums.
  struct BenefitSums {
    std::vector<double> cohort;      // per Years() index
    std::vector<double> comparison;  // empty without a comparison
    std::vector<SystemCellRef> sources;
  };
  struct Amount {
    double value = 0;
    std::vector<SystemCellRef> sources;
  };
  // Finds the cost-benefit items and payers and makes every group the tables sum over, so that
  // AddHousehold accumulates them.
  void LayOutCostBenefit(const CostBenefitSpec& cb);
  ByYear OutcomeYears(const std::function<bool(size_t outcome)>& in_set);
  YearItems WindowItems(size_t outcome, const CostBenefitWindow& window);
  YearItems CostItems(const std::function<bool(size_t cost)>& in_set);
  const std::string& OutcomePayer(size_t outcome) const;
  bool Valued(size_t outcome) const { return outcome_items_[outcome].front() != SIZE_MAX; }
  // The group adding up `items`: the item's own group for one item, else a cost-benefit group.
  // Groups are made while the builder is constructed only (households add to every group from
  // the first one on); asked later for a group it has not made, it records an internal error
  // that Finish returns.
  size_t GroupOf(std::vector<size_t> items);
  absl::Status CheckIndices() const;
  bool InCohort(const Atom& atom) const;
  bool InComparison(const Atom& atom) const;
  Amount Sum(bool comparison, const YearItems& items, bool is_total);
  BenefitSums SumsOf(const ByYear& by_year, bool is_total);
  // The benefit: the cohort's avoided costs (net of the comparison's change, scaled to the
  // cohort), each year after the first discounted at `rate` (incl. the risk premium).
  double Benefit(const BenefitSums& sums, double rate) const;
  // A cost-benefit figure from these cells; empty when not finite.
  ResultCell Figure(ResultKind kind, double value, std::vector<SystemCellRef> sources) const;
  ResultCell Ratio(double benefit, double cost, std::vector<SystemCellRef> sources) const;
  absl::Status CostBenefitTable(const TableSpec& table, ResultTable* out);
  ResultCell Households(bool comparison) const;  // the count of the cohort or the comparison
  void OutcomesView(const CostBenefitSpec& cb, ResultTable* out);
  void PayersView(const CostBenefitSpec& cb, ResultTable* out);
  void SensitivityView(const CostBenefitSpec& cb, ResultTable* out);
  const Selection& Population(const TableSpec& table) const {
    return spec_.populations.at(table.population);
  }

  const AnalysisSpec& spec_;
  const EngineOptions& options_;
  const std::vector<double>& item_price_;
  const std::vector<std::string>& area_codes_;
  const PriceTable& prices_;
  const std::vector<int>& reference_days_;
  std::map<std::string, std::pair<bool, size_t>> operand_;
  std::map<std::string, size_t> type_index_;
  std::vector<std::string> payers_;
  std::vector<size_t> unit_indicator_;  // per cost item priced per household: its indicator
  std::vector<size_t> payer_group_;     // per cost item: its payer's group
  // Cost-benefit groups of several items: their items; per item, the ones it is in.
  std::vector<std::vector<size_t>> extra_groups_;
  std::map<std::vector<size_t>, size_t> extra_group_index_;
  std::vector<std::vector<size_t>> item_extra_groups_;
  bool groups_laid_out_ = false;
  absl::Status group_error_;
  // The cost-benefit items by outcome (CostBenefitSpec::outcomes) and Years() index, and by
  // intervention cost; SIZE_MAX where the spec has none (a PM outcome).
  std::vector<std::vector<size_t>> outcome_items_;
  std::vector<size_t> intervention_items_;
  std::vector<std::string> cb_payers_;  // outcomes' payers in spec order, then the costs'
  // Set while the cost-benefit tables are built: the groups' sizes and their count cells.
  double cohort_n_ = 0;
  double comparison_n_ = 0;
  std::vector<SystemCellRef> count_sources_;
  std::vector<double> cost_;  // AddHousehold's, reused from household to household
  std::vector<double> by_group_;

  absl::flat_hash_map<AtomKey, uint32_t> atom_index_;
  std::vector<Atom> atoms_;
  std::vector<uint32_t> key_sums_;  // per atom, the cell key method's record keys
  // Predicates: a name, or (name empty) an `any` group.
  struct Predicate {
    std::string name;
    std::vector<std::string> any;
  };
  std::vector<Predicate> predicates_;
  std::vector<ResultUnit> units_;
  // Per atom and cost-item group.
  std::vector<std::vector<MoneyStats>> money_;
  AnalysisResult* result_ = nullptr;
  std::map<std::vector<uint32_t>, int> count_cell_index_;
  std::map<std::pair<std::vector<uint32_t>, size_t>, int> sum_cell_index_;
  // Cost tables already built, for sensitivity: table name -> column label -> cells.
  struct CostColumnCells {
    Selection where;
    int households = -1;  // count cell
    double households_value = 0;
    std::map<size_t, std::pair<int, double>> item_sums;  // item -> sum cell, value
    int total = -1;
    double total_value = 0;
  };
  std::map<std::string, std::map<std::string, CostColumnCells>> cost_tables_;
};

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_RESULT_BUILDER_H_
