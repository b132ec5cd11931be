// The row and column labels the linker gives the tables it releases (result_builder.cc), for
// the readers that recognise a table by its shape: the HTML report's charts (cli/
// release_charts.cc) and their tests. One definition, so that a rename cannot silently turn a
// chart into "table only".
#ifndef KOPPEL_LINKER_ANALYSIS_RELEASED_LABELS_H_
#define KOPPEL_LINKER_ANALYSIS_RELEASED_LABELS_H_

#include <string>
#include <string_view>

namespace koppel::analysis {

// Counts tables: a percent column is released as a count and a percentage.
inline constexpr std::string_view kCountSuffix = "_n";
inline constexpr std::string_view kPercentSuffix = "_pct";

// Overlap tables: one column per flag and these rows, "also <flag>" once per flag.
inline constexpr std::string_view kOverlapNoneRow = "no problem in this domain";
inline constexpr std::string_view kOverlapAnyRow = "one or more problems in this domain";
inline constexpr std::string_view kOverlapOnlyRow = "problems in this domain only";
inline constexpr std::string_view kOverlapAlsoPrefix = "also ";
inline constexpr std::string_view kOverlapAllRow = "in all of these domains";

// Costs tables: per cost column a sum and a mean; the first row counts the households; the
// last is the total, named by the spec or this default.
inline constexpr std::string_view kSumSuffix = "_eur";
inline constexpr std::string_view kMeanSuffix = "_mean_eur";
inline constexpr std::string_view kCostsHouseholdsRow = "households";
inline constexpr std::string_view kDefaultTotalRow = "total";

// Sensitivity tables: one row per variation, then the range over all of them.
inline constexpr std::string_view kSensitivityBaseColumn = "base_mean_eur";
inline constexpr std::string_view kSensitivityLowColumn = "low_mean_eur";
inline constexpr std::string_view kSensitivityHighColumn = "high_mean_eur";
inline constexpr std::string_view kSensitivityRangeRow = "range (one at a time)";
inline constexpr std::string_view kSensitivityRowHeading = "varied";

// Cost-benefit tables (CostBenefitView). Outcomes: per window of the spec a cohort column
// "<window>_eur" and, with a comparison, "comparison_<window>_eur" (the comparison group's money
// scaled to the cohort's size), then the NPV of the benefit (an outcome's avoided cost) and of
// the cost (an intervention cost); the first row counts the households behind the columns.
inline constexpr std::string_view kCbOutcomeRowHeading = "outcome";
inline constexpr std::string_view kCbHouseholdsRow = "households";
inline constexpr std::string_view kCbComparisonPrefix = "comparison_";
inline constexpr std::string_view kCbBenefitNpvColumn = "benefit_npv_eur";
inline constexpr std::string_view kCbCostNpvColumn = "cost_npv_eur";
inline constexpr std::string_view kCbPmPrefix = "PM: ";  // a row of an outcome not valued
// Payers ("who pays, who gains"): a row per paying party, then the total.
inline constexpr std::string_view kCbPayerRowHeading = "payer";
inline constexpr std::string_view kCbCohortColumn = "cohort_n";
inline constexpr std::string_view kCbComparisonColumn = "comparison_n";
inline constexpr std::string_view kCbCostsColumn = "costs_npv_eur";
inline constexpr std::string_view kCbBenefitsColumn = "benefits_npv_eur";
inline constexpr std::string_view kCbSaldoColumn = "saldo_npv_eur";
inline constexpr std::string_view kCbRatioColumn = "ratio";
inline constexpr std::string_view kCbTotalRow = "total";
// Sensitivity: a row per range of the spec, then the range over all of them.
inline constexpr std::string_view kCbSaldoBaseColumn = "saldo_base_eur";
inline constexpr std::string_view kCbSaldoLowColumn = "saldo_low_eur";
inline constexpr std::string_view kCbSaldoHighColumn = "saldo_high_eur";
inline constexpr std::string_view kCbRatioBaseColumn = "ratio_base";
inline constexpr std::string_view kCbRatioLowColumn = "ratio_low";
inline constexpr std::string_view kCbRatioHighColumn = "ratio_high";

inline std::string CbWindowColumn(std::string_view window) {
  return std::string(window) + std::string(kSumSuffix);
}
inline std::string CbComparisonColumn(std::string_view window) {
  return std::string(kCbComparisonPrefix) + CbWindowColumn(window);
}

inline std::string OverlapAlsoRow(std::string_view flag) {
  return std::string(kOverlapAlsoPrefix) + std::string(flag);
}

inline std::string CostsTotalRow(std::string_view total_label) {
  return std::string(total_label.empty() ? kDefaultTotalRow : total_label);
}

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_RELEASED_LABELS_H_
