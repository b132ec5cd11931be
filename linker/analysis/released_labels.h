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

inline std::string OverlapAlsoRow(std::string_view flag) {
  return std::string(kOverlapAlsoPrefix) + std::string(flag);
}

inline std::string CostsTotalRow(std::string_view total_label) {
  return std::string(total_label.empty() ? kDefaultTotalRow : total_label);
}

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_RELEASED_LABELS_H_
