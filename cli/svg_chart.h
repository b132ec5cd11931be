// Charts of released cells as inline SVG for the HTML release report (cli/release_html.h):
// horizontal bars with a reference line, paired bars (this year against last), stacked bars,
// an UpSet diagram of overlapping sets and a range (tornado) chart. Each chart draws released
// cells only: positions and axis ticks are its only computed numbers. A suppressed cell is a
// fixed-size mark that carries no value. The SVG has no script and no external reference; its
// <title> and <desc> are the text alternative. Pure functions: same input, same bytes.
#ifndef KOPPEL_CLI_SVG_CHART_H_
#define KOPPEL_CLI_SVG_CHART_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace koppel {

// One released cell as a chart draws it.
struct ChartValue {
  std::string row;  // the cell's row label and column name (data-row / data-col)
  std::string column;
  std::optional<double> value;  // nullopt: suppressed or not applicable
  bool suppressed = false;      // drawn as a suppressed-mark, never at a value
  std::string text;             // FormatCell text, shown as the value label ("12.5", "1234.00")
};

// A line across a chart at `value`, e.g. the municipal total.
struct ReferenceLine {
  double value = 0;
  std::string label;
  // Optional: the released cell the line draws. With a row, the line carries its data-row,
  // data-col and data-value like any mark; a suppressed cell draws no line at all.
  ChartValue cell = {};
};

// What every chart carries besides its marks.
struct ChartFrame {
  std::string id;           // unique in the document, [A-Za-z0-9_-] (used for aria ids)
  std::string title;        // <title>
  std::string description;  // <desc>: the text alternative, written by the caller
  std::string unit;         // "%", "EUR" or "": axis label
};

// Horizontal bars, one per category (e.g. wijk), with an optional dashed reference line.
std::string BarChartSvg(const ChartFrame& frame, const std::vector<ChartValue>& bars,
                        const std::optional<ReferenceLine>& reference);

// Per category two bars side by side (e.g. 2014 and 2013): series[i] names series i.
std::string PairedBarChartSvg(const ChartFrame& frame, const std::vector<std::string>& series,
                              const std::vector<std::pair<ChartValue, ChartValue>>& pairs,
                              const std::optional<ReferenceLine>& reference);

// One segment of a stacked bar; `group` picks its colour and pattern (e.g. the payer).
struct StackSegment {
  ChartValue value;
  std::string group;
};
struct StackedBar {
  std::string label;
  std::vector<StackSegment> segments;
};

// Stacked horizontal bars (e.g. costs per column, segments per item coloured by payer). A
// suppressed segment is not stacked: the bar lists it as a suppressed-mark beside the bar.
// Negative segments stack to the left of zero.
std::string StackedBarChartSvg(const ChartFrame& frame, const std::vector<StackedBar>& bars);

// One intersection of an UpSet diagram: `sets` are indices into the set names.
struct SetIntersection {
  std::vector<size_t> sets;
  ChartValue value;
  std::string label = {};  // shown instead of value.row, e.g. "at least A and B"
};

// UpSet diagram: a dot matrix of which sets an intersection involves, a bar per intersection.
std::string UpSetChartSvg(const ChartFrame& frame, const std::vector<std::string>& set_names,
                          const std::vector<SetIntersection>& intersections);

// One row of a range chart: the outcome at the low and at the high end of a varied input.
struct Range {
  std::string label;
  ChartValue low;
  ChartValue high;
};

// Tornado / range chart: per label a bar from low to high around a base line, which is
// labelled `base_label` (the base cell's row when empty).
std::string RangeChartSvg(const ChartFrame& frame, const ChartValue& base,
                          const std::vector<Range>& ranges, std::string_view base_label = {});

}  // namespace koppel

#endif  // KOPPEL_CLI_SVG_CHART_H_
