#include "linker/analysis/engine_limits.h"

#include <fmt/format.h>

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
