// Which charts fit a released table, read from the analysis spec's table of the same name
// (docs/query.md, "html"): per-area shares against the total row, year-on-year pairs, the
// overlap of problem domains as an UpSet diagram, costs stacked by item and payer, the
// one-at-a-time ranges of a mean cost, and of a cost-benefit analysis the costs beside the
// benefits per paying party and the ranges of the saldo. Charts draw released cells only, as
// released; a table the spec does not describe exactly (no spec, another shape) gets no chart.
#ifndef KOPPEL_CLI_RELEASE_CHARTS_H_
#define KOPPEL_CLI_RELEASE_CHARTS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "koppel/v1/analysis.pb.h"
#include "linker/analysis/analysis_spec.h"

namespace koppel {

// One chart: the inline <svg> and its caption (plain text, not yet escaped).
struct ReleaseChart {
  std::string svg;
  std::string caption;
};

struct ChartedTable {
  std::optional<int> total_row;  // the spec's total row, by index into the table's rows
  std::vector<ReleaseChart> charts;
  std::string note;  // plain text: which columns are charted, or why there is no chart
};

// Charts for `table`, the `table_index`-th of its release (chart ids are unique per release).
// `spec` may be null.
ChartedTable ChartTable(const v1::ReleasedTable& table, size_t table_index,
                        const analysis::AnalysisSpec* spec);

// At most this many charts per table; the note names the columns charted.
inline constexpr size_t kMaxChartsPerTable = 8;

// At most this many bars (areas, intersections, ranges) per chart: more would print at under a
// millimetre a bar on A4. A larger table gets the table only and a note "N rows: too many to
// chart".
inline constexpr size_t kMaxChartCategories = 40;

}  // namespace koppel

#endif  // KOPPEL_CLI_RELEASE_CHARTS_H_
