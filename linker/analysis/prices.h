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
  std::string payer;            // the optional `payer` column (law domain, e.g. jeugdwet)
};

struct PriceTable {
  std::map<std::string, UnitPrice, std::less<>> items;
};

// Parses the CSV (header cost_item,unit,price_eur_2014,..., optionally payer; other columns
// ignored). Errors name the source, line and column.
absl::StatusOr<PriceTable> ParsePrices(std::string_view csv, std::string_view source_name);

// Checks that every price a spec's cost items and sensitivity ranges name is in `prices` and
// has a price, and that every cost-benefit outcome's price is listed and the outcome has a
// payer. Errors read "<spec_source>:<line>: <key path>: <problem>".
absl::Status CheckSpecPrices(const AnalysisSpec& spec, const PriceTable& prices,
                             std::string_view spec_source);

// Completes a cost_benefit section from the prices file, before the spec is checked or run:
// an outcome without a payer takes its price item's `payer` column (an error naming both places
// when neither gives one); an outcome whose item is listed without a unit price becomes PM
// ("the prices file lists no unit price for '<item>'"), and the cost-benefit items are laid
// out again (AppendCostBenefitItems). Idempotent; nothing to do without cost_benefit.
absl::Status ResolveCostBenefitPrices(AnalysisSpec* spec, const PriceTable& prices);

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_PRICES_H_
