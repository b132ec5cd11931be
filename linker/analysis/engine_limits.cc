#include "linker/analysis/engine_limits.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace koppel::analysis {
namespace {

absl::Status Over(const AnalysisSpec& spec, const std::string& path, size_t count,
                  std::string_view what, size_t limit, std::string_view advice) {
  return absl::InvalidArgumentError(
      fmt::format("{}: the spec defines {} {}; the analysis engine supports at most {} ({}). "
                  "This is a limit of the engine, not a covenant rule",
                  spec.Where(path), count, what, limit, advice));
}

}  // namespace

size_t CostBenefitGroups(const AnalysisSpec& spec) {
  if (!spec.cost_benefit) return 0;
  const CostBenefitSpec& cost_benefit = *spec.cost_benefit;
  const size_t years = cost_benefit.Years().size();
  size_t valued = 0;
  std::set<std::string> payers;
  for (size_t i = cost_benefit.first_item; i < spec.cost_items.size(); ++i) {
    if (spec.cost_items[i].cost_benefit()) payers.insert(spec.cost_items[i].payer);
  }
  for (const OutcomeSpec& outcome : cost_benefit.outcomes) valued += outcome.pm ? 0 : 1;
  size_t multi_year_windows = 0;  // a window of one year sums one item: no group of its own
  for (const CostBenefitWindow& window : cost_benefit.windows) {
    const std::vector<int> all = cost_benefit.Years();
    if (std::count_if(all.begin(), all.end(),
                      [&](int k) { return k >= window.first_year && k <= window.last_year; }) > 1) {
      ++multi_year_windows;
    }
  }
  size_t price_ranges = 0;
  for (const CostBenefitRange& range : cost_benefit.sensitivity) {
    if (range.varies == CostBenefitRange::Varies::kPrice) ++price_ranges;
  }
  // As ResultBuilder lays them out, before groups that coincide are merged: outcome x window,
  // payer x (year, costs), all outcomes x year and all costs, price range x year.
  return valued * multi_year_windows + payers.size() * (years + 1) + years + 1 +
         price_ranges * years;
}

absl::Status CheckEngineLimits(const AnalysisSpec& spec) {
  if (spec.indicators.size() > EngineLimits::kIndicators) {
    return Over(spec, "indicators", spec.indicators.size(), "indicators", EngineLimits::kIndicators,
                "split the study into several specs, or price a category with price_by instead "
                "of one indicator per code");
  }
  if (spec.flags.size() > EngineLimits::kFlags) {
    return Over(spec, "flags", spec.flags.size(), "flags", EngineLimits::kFlags,
                "split the study into several specs");
  }
  if (spec.reference_dates.size() > EngineLimits::kReferenceDates) {
    return Over(spec, "reference_dates", spec.reference_dates.size(), "reference dates",
                EngineLimits::kReferenceDates, "split the study into several specs");
  }
  if (spec.household_types.size() > EngineLimits::kHouseholdTypes) {
    return Over(spec, "household_types", spec.household_types.size(), "household types",
                EngineLimits::kHouseholdTypes, "merge household types");
  }
  std::set<std::string> payers;
  for (const CostItemSpec& item : spec.cost_items) payers.insert(item.payer);
  const size_t groups = spec.cost_items.size() + payers.size() + 1;
  if (spec.cost_benefit) {
    const CostBenefitSpec& cost_benefit = *spec.cost_benefit;
    const size_t measured = cost_benefit.outcomes.size() + cost_benefit.costs.size();
    if (measured > EngineLimits::kCostBenefitMeasures) {
      return Over(spec, "cost_benefit.outcomes", measured, "outcomes and intervention costs",
                  EngineLimits::kCostBenefitMeasures, "split the study into several specs");
    }
    const size_t with_tables = groups + CostBenefitGroups(spec);
    if (with_tables > EngineLimits::kCostGroups) {
      return Over(spec, "cost_benefit.outcomes", with_tables,
                  "summed groups with the cost-benefit tables' (an item per outcome and relative "
                  "year, a group per outcome and window, per payer and year, per price range and "
                  "year, and the totals)",
                  EngineLimits::kCostGroups,
                  "fewer outcomes, windows or years of horizon, or several specs");
    }
  }
  if (groups > EngineLimits::kCostGroups) {
    return Over(spec, "costs.items", groups, "cost items, payers and a total together",
                EngineLimits::kCostGroups, "use price_by, or fewer items");
  }
  if (spec.area_labels.size() > EngineLimits::kAreas) {
    return Over(spec, "areas", spec.area_labels.size(), "area labels", EngineLimits::kAreas,
                "label fewer areas");
  }
  return absl::OkStatus();
}

}  // namespace koppel::analysis
