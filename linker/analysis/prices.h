// Unit prices for cost estimates (DOMAIN.md section 2): a CSV in the shape of
// reference/nji-almelo/unit_costs_2014.csv, one row per cost item with its price in euro of the
// price year, already indexed. Items without a price (actual amounts) are listed without one.
#ifndef KOPPEL_LINKER_ANALYSIS_PRICES_H_
#define KOPPEL_LINKER_ANALYSIS_PRICES_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "linker/analysis/analysis_spec.h"

namespace koppel::analysis {

struct UnitPrice {
  std::string item;
  std::string unit;             // e.g. "per benefit per year"
  std::optional<double> price;  // euro, indexed to the price year; none: actual amounts
};

struct PriceTable {
  std::map<std::string, UnitPrice, std::less<>> items;
};

// Parses the CSV (header cost_item,unit,price_eur_2014,...; extra columns ignored). Errors
// name the source, line and column.
absl::StatusOr<PriceTable> ParsePrices(std::string_view csv, std::string_view source_name);

// Checks that every price a spec's cost items and sensitivity ranges name is in `prices` and
// has a price. Errors read "<spec_source>:<line>: <key path>: <problem>".
absl::Status CheckSpecPrices(const AnalysisSpec& spec, const PriceTable& prices,
                             std::string_view spec_source);

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_PRICES_H_
