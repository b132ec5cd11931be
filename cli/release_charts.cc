#include "cli/release_charts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_join.h"
#include "cli/release_writer.h"
#include "cli/svg_chart.h"
#include "linker/analysis/released_labels.h"

namespace koppel {
namespace {

using analysis::AnalysisSpec;
using analysis::CostItemSpec;
using analysis::CountColumn;
using analysis::Dimension;
using analysis::Selection;
using analysis::TableKind;
using analysis::TableSpec;

// One released cell as a chart draws it: the value is the figure FormatCell shows, so that the
// chart, the table and every other format agree; a suppressed cell has none.
ChartValue CellValue(const v1::ReleasedTable& table, int row, int column) {
  const v1::ReleasedCell& cell = table.rows(row).cells(column);
  ChartValue value;
  value.row = table.rows(row).label();
  value.column = table.columns(column);
  value.suppressed = cell.suppressed();
  value.text = FormatCell(cell);
  if (!value.suppressed && cell.value_case() != v1::ReleasedCell::VALUE_NOT_SET &&
      cell.value_case() != v1::ReleasedCell::kPm) {
    const double shown = std::strtod(value.text.c_str(), nullptr);
    if (std::isfinite(shown)) value.value = shown;
  }
  return value;
}

// "12.5%", "1234.00 EUR", "suppressed", "not applicable".
std::string Spoken(const ChartValue& value, std::string_view unit) {
  if (value.suppressed) return "suppressed";
  if (!value.value) return "not applicable";
  if (unit == "%") return value.text + "%";
  if (unit.empty()) return value.text;
  return fmt::format("{} {}", value.text, unit);
}

// Which of the drawn cells are not drawn, and why; `name` says which cell a value is.
template <typename Name>
std::string NotDrawn(const std::vector<ChartValue>& values, const Name& name) {
  std::vector<std::string> suppressed;
  std::vector<std::string> missing;
  for (const ChartValue& value : values) {
    if (value.suppressed) {
      suppressed.push_back(name(value));
    } else if (!value.value) {
      missing.push_back(name(value));
    }
  }
  std::string out = suppressed.empty()
                        ? std::string("No value is suppressed.")
                        : fmt::format(
                              "{} value(s) suppressed by disclosure control, marked * and not "
                              "drawn: {}.",
                              suppressed.size(), absl::StrJoin(suppressed, ", "));
  if (!missing.empty()) {
    out += fmt::format(" {} value(s) not applicable, not drawn: {}.", missing.size(),
                       absl::StrJoin(missing, ", "));
  }
  return out;
}

std::string RowName(const ChartValue& value) { return value.row; }
std::string CellName(const ChartValue& value) {
  return fmt::format("{} / {}", value.row, value.column);
}

std::string ValueList(const std::vector<ChartValue>& values, std::string_view unit) {
  std::vector<std::string> parts;
  for (const ChartValue& value : values) {
    parts.push_back(fmt::format("{}: {}", value.row, Spoken(value, unit)));
  }
  return "Values: " + absl::StrJoin(parts, "; ") + ".";
}

bool HasColumns(const v1::ReleasedTable& table, const std::vector<std::string>& expected) {
  if (table.columns_size() != static_cast<int>(expected.size())) return false;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (table.columns(static_cast<int>(i)) != expected[i]) return false;
  }
  return true;
}

bool HasRows(const v1::ReleasedTable& table, int first, const std::vector<std::string>& labels) {
  if (table.rows_size() - first != static_cast<int>(labels.size())) return false;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (table.rows(first + static_cast<int>(i)).label() != labels[i]) return false;
  }
  return true;
}

// The note of a table whose chart would have more bars than print legibly on paper.
std::string TooManyToChart(size_t bars) {
  return fmt::format("{} bars: too many to chart (at most {} per chart), table only.", bars,
                     kMaxChartCategories);
}

bool SameSelection(const Selection& a, const Selection& b) {
  return a.household_type == b.household_type && a.all == b.all && a.any == b.any &&
         a.none == b.none;
}

std::string ChartId(size_t table_index, std::string_view kind, size_t k) {
  return fmt::format("c{}-{}-{}", table_index, kind, k);
}

// Builds one table's charts; the methods return false when the table does not have the shape
// the spec gives it (then it gets no chart).
class TableCharter {
 public:
  TableCharter(const v1::ReleasedTable& table, size_t table_index, const AnalysisSpec& spec,
               const TableSpec& table_spec)
      : table_(table), table_index_(table_index), spec_(spec), table_spec_(table_spec) {}

  bool Counts(ChartedTable* out);
  bool Overlap(ChartedTable* out);
  bool Costs(ChartedTable* out);
  bool Sensitivity(ChartedTable* out);
  bool CostBenefit(ChartedTable* out);

 private:
  // A counts column as released: the count and, for a percent column, its percentage.
  struct CountsColumn {
    const CountColumn* spec = nullptr;
    int count = -1;
    int percent = -1;
  };

  std::string Heading() const {
    return table_.row_heading().empty() ? std::string("row") : table_.row_heading();
  }
  std::string Year(int reference) const;
  ReleaseChart ShareBars(const CountsColumn& column, const std::vector<int>& rows,
                         std::optional<int> total, size_t k) const;
  ReleaseChart SharePairs(const CountsColumn& now, const CountsColumn& then,
                          const std::vector<int>& rows, std::optional<int> total, size_t k) const;

  const v1::ReleasedTable& table_;
  size_t table_index_;
  const AnalysisSpec& spec_;
  const TableSpec& table_spec_;
};

std::string TableCharter::Year(int reference) const {
  if (reference >= 0 && static_cast<size_t>(reference) < spec_.reference_dates.size()) {
    return std::to_string(spec_.reference_dates[static_cast<size_t>(reference)].year());
  }
  return fmt::format("reference date {}", reference);
}

bool TableCharter::Counts(ChartedTable* out) {
  std::vector<std::string> expected;
  std::vector<CountsColumn> columns;
  for (const CountColumn& column : table_spec_.columns) {
    CountsColumn released;
    released.spec = &column;
    released.count = static_cast<int>(expected.size());
    if (column.percent) {
      expected.push_back(column.label + std::string(analysis::kCountSuffix));
      released.percent = static_cast<int>(expected.size());
      expected.push_back(column.label + std::string(analysis::kPercentSuffix));
    } else {
      expected.push_back(column.label);
    }
    columns.push_back(released);
  }
  if (!HasColumns(table_, expected)) return false;
  int first = 0;
  std::optional<int> total;
  if (!table_spec_.total_label.empty()) {
    if (table_.rows_size() == 0 || table_.rows(0).label() != table_spec_.total_label) return false;
    total = 0;
    first = 1;
  }
  if (table_spec_.rows == Dimension::kHouseholdType) {
    std::vector<std::string> types;
    for (const auto& type : spec_.household_types) types.push_back(type.name);
    if (!HasRows(table_, first, types)) return false;
  } else if (table_spec_.rows == Dimension::kNone) {
    std::vector<std::string> labels;
    for (const auto& row : table_spec_.row_selections) labels.push_back(row.label);
    if (!HasRows(table_, first, labels)) return false;
  }
  out->total_row = total;
  if (table_spec_.rows == Dimension::kNone) {
    out->note = "Rows are selections, not a dimension: table only, no chart.";
    return true;
  }
  std::vector<int> rows;
  for (int r = first; r < table_.rows_size(); ++r) rows.push_back(r);
  if (rows.empty()) {
    out->note = fmt::format("No {} rows: no chart.", Heading());
    return true;
  }
  if (rows.size() > kMaxChartCategories) {
    out->note = TooManyToChart(rows.size());
    return true;
  }

  // Year-on-year pairs: a column of the first reference date and one of a later date counting
  // the same selection, both as percentages.
  std::map<size_t, size_t> pair_of;  // reference-0 column -> its comparison column
  std::set<size_t> paired;
  for (size_t i = 0; i < columns.size(); ++i) {
    const CountColumn& now = *columns[i].spec;
    if (!now.percent || now.reference != 0) continue;
    for (size_t j = 0; j < columns.size(); ++j) {
      const CountColumn& then = *columns[j].spec;
      if (!then.percent || then.reference == 0 || paired.contains(j)) continue;
      if (!SameSelection(now.where, then.where)) continue;
      pair_of[i] = j;
      paired.insert(i);
      paired.insert(j);
      break;
    }
  }

  std::vector<std::string> charted;
  std::vector<std::string> left_out;
  for (size_t i = 0; i < columns.size(); ++i) {
    const CountsColumn& column = columns[i];
    if (column.percent < 0) continue;
    auto pair = pair_of.find(i);
    if (pair == pair_of.end() && paired.contains(i)) continue;  // drawn with its pair
    const std::string name = table_.columns(column.percent);
    std::string what = name;
    if (pair != pair_of.end()) {
      what = fmt::format("{} with {}", name, table_.columns(columns[pair->second].percent));
    }
    if (out->charts.size() == kMaxChartsPerTable) {
      left_out.push_back(what);
      continue;
    }
    const size_t k = out->charts.size();
    out->charts.push_back(pair == pair_of.end()
                              ? ShareBars(column, rows, total, k)
                              : SharePairs(column, columns[pair->second], rows, total, k));
    charted.push_back(what);
  }
  if (charted.empty()) {
    out->note = "No percentage column: table only, no chart.";
    return true;
  }
  out->note = fmt::format("Charted per {}: {}.", Heading(), absl::StrJoin(charted, ", "));
  if (!left_out.empty()) {
    out->note += fmt::format(" In the table only (at most {} charts per table): {}.",
                             kMaxChartsPerTable, absl::StrJoin(left_out, ", "));
  }
  return true;
}

ReleaseChart TableCharter::ShareBars(const CountsColumn& column, const std::vector<int>& rows,
                                     std::optional<int> total, size_t k) const {
  std::vector<ChartValue> bars;
  for (int r : rows) bars.push_back(CellValue(table_, r, column.percent));
  const std::string name = table_.columns(column.percent);
  std::optional<ReferenceLine> reference;
  std::string reference_text = "No total row: no reference line.";
  if (total) {
    const ChartValue value = CellValue(table_, *total, column.percent);
    if (value.value) {
      reference = ReferenceLine{*value.value, fmt::format("{} {}%", value.row, value.text), value};
      reference_text =
          fmt::format("Dashed line: the total row, {}, at {}%.", value.row, value.text);
    } else {
      reference_text = fmt::format("The total row, {}, is {}: no reference line.", value.row,
                                   Spoken(value, "%"));
    }
  }
  ChartFrame frame;
  frame.id = ChartId(table_index_, "bar", k);
  frame.title = fmt::format("{}: percentage of {} per {}", name, table_spec_.population, Heading());
  frame.unit = "%";
  ReleaseChart chart;
  chart.caption = fmt::format("Bars: column {} (percent of {}) for each of the {} {} rows. {} {}",
                              name, table_spec_.population, bars.size(), Heading(), reference_text,
                              NotDrawn(bars, RowName));
  frame.description = chart.caption + " " + ValueList(bars, "%");
  chart.svg = BarChartSvg(frame, bars, reference);
  return chart;
}

ReleaseChart TableCharter::SharePairs(const CountsColumn& now, const CountsColumn& then,
                                      const std::vector<int>& rows, std::optional<int> total,
                                      size_t k) const {
  std::vector<std::pair<ChartValue, ChartValue>> pairs;
  std::vector<ChartValue> values;
  for (int r : rows) {
    pairs.emplace_back(CellValue(table_, r, now.percent), CellValue(table_, r, then.percent));
    values.push_back(pairs.back().first);
    values.push_back(pairs.back().second);
  }
  const std::string now_name = table_.columns(now.percent);
  const std::string then_name = table_.columns(then.percent);
  const std::vector<std::string> series = {Year(now.spec->reference), Year(then.spec->reference)};
  std::optional<ReferenceLine> reference;
  std::string reference_text = "No total row: no reference line.";
  if (total) {
    const ChartValue total_now = CellValue(table_, *total, now.percent);
    const ChartValue total_then = CellValue(table_, *total, then.percent);
    if (total_now.value) {
      reference = ReferenceLine{*total_now.value,
                                fmt::format("{} {} {}%", total_now.row, series[0], total_now.text),
                                total_now};
      reference_text = fmt::format("Dashed line: the total row, {}, in {} at {}%", total_now.row,
                                   series[0], total_now.text);
    } else {
      reference_text = fmt::format("The total row, {}, is {} in {}: no reference line",
                                   total_now.row, Spoken(total_now, "%"), series[0]);
    }
    reference_text += fmt::format(" (in {}: {}, not drawn).", series[1], Spoken(total_then, "%"));
  }
  ChartFrame frame;
  frame.id = ChartId(table_index_, "pair", k);
  frame.title = fmt::format("{} and {}: percentage of {} per {}, {} against {}", now_name,
                            then_name, table_spec_.population, Heading(), series[0], series[1]);
  frame.unit = "%";
  ReleaseChart chart;
  chart.caption = fmt::format(
      "Paired bars: for each of the {} {} rows, column {} ({}) beside column {} ({}), percent of "
      "{}. {} {}",
      pairs.size(), Heading(), now_name, series[0], then_name, series[1], table_spec_.population,
      reference_text, NotDrawn(values, CellName));
  frame.description = chart.caption + " " + ValueList(values, "%");
  chart.svg = PairedBarChartSvg(frame, series, pairs, reference);
  return chart;
}

bool TableCharter::Overlap(ChartedTable* out) {
  const std::vector<std::string>& flags = table_spec_.flags;
  if (!HasColumns(table_, flags) || flags.empty()) return false;
  std::vector<std::string> labels = {std::string(analysis::kOverlapNoneRow),
                                     std::string(analysis::kOverlapAnyRow),
                                     std::string(analysis::kOverlapOnlyRow)};
  for (const std::string& flag : flags) labels.push_back(analysis::OverlapAlsoRow(flag));
  labels.push_back(std::string(analysis::kOverlapAllRow));
  if (!HasRows(table_, 0, labels)) return false;
  const int any_row = 1;
  const int only_row = 2;
  const int all_row = table_.rows_size() - 1;
  const std::string& population = table_spec_.population;

  // Bars are labelled by the domains' letters ("A + B (at least)"), short enough to print whole;
  // the caption spells out the letters and every bar's full label.
  std::vector<std::string> letters;
  std::vector<std::string> set_names;
  std::vector<std::string> legend;
  for (size_t i = 0; i < flags.size(); ++i) {
    letters.push_back(i < 26 ? std::string(1, static_cast<char>('A' + i))
                             : fmt::format("D{}", i + 1));
    set_names.push_back(fmt::format("{}: {}", letters[i], flags[i]));
    legend.push_back(fmt::format("{} = {}", letters[i], flags[i]));
  }
  std::vector<size_t> everything;
  for (size_t i = 0; i < flags.size(); ++i) everything.push_back(i);
  const std::string all_short = flags.size() <= 4 ? absl::StrJoin(letters, " + ") + " (all)"
                                                  : fmt::format("all {} domains", flags.size());
  const std::string all_full = "in all of " + absl::StrJoin(flags, ", ");
  struct OverlapBar {
    SetIntersection drawn;
    std::string full_label;
  };

  // Inclusive: each bar counts every unit with problems in (at least) the marked domains, as the
  // rows "one or more problems", "also <domain>" and "in all of these domains" release them.
  std::vector<OverlapBar> at_least;
  for (size_t i = 0; i < flags.size(); ++i) {
    at_least.push_back(
        {{{i}, CellValue(table_, any_row, static_cast<int>(i)), letters[i] + " (at least)"},
         fmt::format("at least {}", flags[i])});
  }
  for (size_t i = 0; i < flags.size(); ++i) {
    for (size_t j = i + 1; j < flags.size(); ++j) {
      const int also_row = 3 + static_cast<int>(j);
      at_least.push_back({{{i, j},
                           CellValue(table_, also_row, static_cast<int>(i)),
                           fmt::format("{} + {} (at least)", letters[i], letters[j])},
                          fmt::format("at least {} and {}", flags[i], flags[j])});
    }
  }
  if (flags.size() > 2) {
    at_least.push_back({{everything, CellValue(table_, all_row, 0), all_short}, all_full});
  }
  // Exclusive: the regions the release gives exactly: one domain only, and all domains. The
  // other exact regions (two domains but not the third) are not released and not derived.
  std::vector<OverlapBar> exactly;
  for (size_t i = 0; i < flags.size(); ++i) {
    exactly.push_back(
        {{{i}, CellValue(table_, only_row, static_cast<int>(i)), letters[i] + " only"},
         fmt::format("{} only", flags[i])});
  }
  if (flags.size() > 1) {
    exactly.push_back({{everything, CellValue(table_, all_row, 0), all_short}, all_full});
  }
  if (at_least.size() > kMaxChartCategories) {
    out->note = TooManyToChart(at_least.size());
    return true;
  }

  auto chart = [&](std::string_view kind, size_t k, std::string title, std::string what,
                   const std::vector<OverlapBar>& bars) {
    std::vector<SetIntersection> drawn;
    std::vector<ChartValue> values;
    std::vector<std::string> named;
    std::vector<std::string> listed;
    for (const OverlapBar& bar : bars) {
      drawn.push_back(bar.drawn);
      values.push_back(bar.drawn.value);
      named.push_back(fmt::format("{}: {}", bar.drawn.label, bar.full_label));
      listed.push_back(fmt::format("{} ({} / {}): {}", bar.full_label, bar.drawn.value.row,
                                   bar.drawn.value.column, Spoken(bar.drawn.value, "")));
    }
    ChartFrame frame;
    frame.id = ChartId(table_index_, kind, k);
    frame.title = std::move(title);
    ReleaseChart out_chart;
    out_chart.caption = fmt::format(
        "UpSet diagram of {} over the domains {}: {} A dot marks each domain a bar involves. "
        "Bars, top to bottom: {}. {}",
        population, absl::StrJoin(legend, ", "), what, absl::StrJoin(named, "; "),
        NotDrawn(values, CellName));
    frame.description = out_chart.caption + " Values: " + absl::StrJoin(listed, "; ") + ".";
    out_chart.svg = UpSetChartSvg(frame, set_names, drawn);
    return out_chart;
  };
  out->charts.push_back(
      chart("upset", 0, fmt::format("{} with problems in at least the marked domains", population),
            "each bar counts every unit with problems in at least the marked domains, whatever its "
            "other domains (inclusive: the bars overlap and do not add up).",
            at_least));
  out->charts.push_back(chart(
      "upset", 1, fmt::format("{} with problems in exactly the marked domains", population),
      "each bar counts the units with problems in exactly the marked domains, as released (one "
      "domain only; all domains). Units in several domains but not in all are not released apart "
      "and are not shown.",
      exactly));
  out->note =
      "Charted: the overlap as two UpSet diagrams, at least the marked domains (inclusive) and "
      "exactly the marked domains (the rows \"only\" and \"in all\").";
  return true;
}

bool TableCharter::Costs(ChartedTable* out) {
  std::vector<std::string> expected;
  for (const auto& column : table_spec_.cost_columns) {
    expected.push_back(column.label + std::string(analysis::kSumSuffix));
    expected.push_back(column.label + std::string(analysis::kMeanSuffix));
  }
  if (!HasColumns(table_, expected)) return false;
  // The rows the linker writes (linker/analysis/result_builder.cc): the households, then the
  // items, or the payers and the items outside the total, then the total.
  // A row in the total is stacked with its payer as its group; a row is matched by its place,
  // never by its label (an item outside the total may be named like a payer).
  std::vector<std::string> labels = {std::string(analysis::kCostsHouseholdsRow)};
  std::vector<std::optional<std::string>> group_of = {std::nullopt};  // per row
  if (table_spec_.by_payer) {
    std::set<std::string> payers_seen;
    for (const CostItemSpec& item : spec_.cost_items) {
      if (!item.in_total || item.cost_benefit() || !payers_seen.insert(item.payer).second) {
        continue;
      }
      labels.push_back(item.payer);
      group_of.push_back(item.payer);
    }
    for (const CostItemSpec& item : spec_.cost_items) {
      if (item.in_total || item.cost_benefit()) continue;
      labels.push_back(item.name);
      group_of.push_back(std::nullopt);
    }
  } else {
    for (const CostItemSpec& item : spec_.cost_items) {
      if (item.cost_benefit()) continue;  // cost-benefit tables only
      labels.push_back(item.name);
      group_of.push_back(item.in_total ? std::optional<std::string>(item.payer) : std::nullopt);
    }
  }
  labels.push_back(analysis::CostsTotalRow(table_spec_.total_label));
  if (!HasRows(table_, 0, labels)) return false;
  const int total = table_.rows_size() - 1;
  out->total_row = total;
  if (static_cast<size_t>(total - 1) > kMaxChartCategories) {
    out->note = TooManyToChart(static_cast<size_t>(total - 1));
    return true;
  }

  std::vector<std::string> apart;
  for (int r = 1; r < total; ++r) {
    if (!group_of[static_cast<size_t>(r)]) apart.push_back(table_.rows(r).label());
  }
  // One chart per sum column, each on its own scale (the columns' totals differ by orders of
  // magnitude); the means are not stacked.
  const std::string by = table_spec_.by_payer ? "paying party" : "item";
  std::vector<std::string> charted;
  std::vector<std::string> left_out;
  for (int c = 0; c < table_.columns_size(); c += 2) {
    const std::string column = table_.columns(c);
    if (out->charts.size() == kMaxChartsPerTable) {
      left_out.push_back(column);
      continue;
    }
    StackedBar bar;
    bar.label = column;
    std::vector<ChartValue> values;
    std::vector<std::string> payers;  // in the order of the rows, as the legend lists them
    for (int r = 1; r < total; ++r) {
      const std::optional<std::string>& group = group_of[static_cast<size_t>(r)];
      if (!group) continue;
      bar.segments.push_back({CellValue(table_, r, c), *group});
      values.push_back(bar.segments.back().value);
      if (std::find(payers.begin(), payers.end(), *group) == payers.end()) {
        payers.push_back(*group);
      }
    }
    const ChartValue total_value = CellValue(table_, total, c);
    ChartFrame frame;
    frame.id = ChartId(table_index_, "stack", out->charts.size());
    frame.title = fmt::format("{}: costs per {}, stacked (EUR)", column, by);
    frame.unit = "EUR";
    ReleaseChart chart;
    chart.caption = fmt::format(
        "Stacked bar: column {}, its segments the {} {} rows in the total, coloured by paying "
        "party ({}). The published total (row {}): {}.",
        column, values.size(), by, absl::StrJoin(payers, ", "), total_value.row,
        Spoken(total_value, "EUR"));
    if (!apart.empty()) {
      chart.caption += fmt::format(" Not in the total, so not stacked (table only): {}.",
                                   absl::StrJoin(apart, ", "));
    }
    chart.caption += " " + NotDrawn(values, RowName);
    const auto published = std::count_if(values.begin(), values.end(),
                                         [](const ChartValue& v) { return !v.suppressed; });
    if (published != static_cast<std::ptrdiff_t>(values.size())) {
      // The bar end is not the total: no reader may take it for one (and no tick says where
      // the total would be, which would place the suppressed sum).
      chart.caption += fmt::format(
          " The bar shows the {} published {} only; it is shorter than the total by the "
          "suppressed ones.",
          published, table_spec_.by_payer ? "paying parties" : "items");
    }
    frame.description = chart.caption + " " + ValueList(values, "EUR");
    chart.svg = StackedBarChartSvg(frame, {bar});
    out->charts.push_back(std::move(chart));
    charted.push_back(column);
  }
  if (charted.empty()) {
    out->note = "No cost column: table only, no chart.";
    return true;
  }
  out->note =
      fmt::format("Charted: each sum column ({}) stacked by {}; the means are in the table only.",
                  absl::StrJoin(charted, ", "), by);
  if (!left_out.empty()) {
    out->note += fmt::format(" In the table only (at most {} charts per table): {}.",
                             kMaxChartsPerTable, absl::StrJoin(left_out, ", "));
  }
  return true;
}

bool TableCharter::Sensitivity(ChartedTable* out) {
  if (!HasColumns(table_, {std::string(analysis::kSensitivityBaseColumn),
                           std::string(analysis::kSensitivityLowColumn),
                           std::string(analysis::kSensitivityHighColumn)})) {
    return false;
  }
  if (table_.rows_size() == 0) {
    out->note = "No rows (the column varied has no households): no chart.";
    return true;
  }
  std::vector<std::string> labels;
  for (const auto& variation : spec_.sensitivity) labels.push_back(variation.label);
  labels.push_back(std::string(analysis::kSensitivityRangeRow));
  if (!HasRows(table_, 0, labels)) return false;
  if (static_cast<size_t>(table_.rows_size()) > kMaxChartCategories) {
    out->note = TooManyToChart(static_cast<size_t>(table_.rows_size()));
    return true;
  }
  const ChartValue base = CellValue(table_, 0, 0);
  std::vector<Range> ranges;
  std::vector<ChartValue> values = {base};
  std::vector<std::string> listed;
  for (int r = 0; r < table_.rows_size(); ++r) {
    ranges.push_back({table_.rows(r).label(), CellValue(table_, r, 1), CellValue(table_, r, 2)});
    values.push_back(ranges.back().low);
    values.push_back(ranges.back().high);
    listed.push_back(fmt::format("{}: low {}, high {}", ranges.back().label,
                                 Spoken(ranges.back().low, "EUR"),
                                 Spoken(ranges.back().high, "EUR")));
  }
  ChartFrame frame;
  frame.id = ChartId(table_index_, "range", 0);
  frame.title = fmt::format("Mean cost of column {} of table {}: low and high per varied input",
                            table_spec_.mean_of, table_spec_.costs_table);
  frame.unit = "EUR";
  ReleaseChart chart;
  chart.caption = fmt::format(
      "Range chart: the base line is the mean, {} (row {}, column {}); one bar per varied input "
      "from its low to its high mean, the last ({}) over all inputs varied one at a time. {}",
      Spoken(base, "EUR"), base.row, base.column, analysis::kSensitivityRangeRow,
      NotDrawn(values, CellName));
  frame.description = chart.caption + " " + absl::StrJoin(listed, "; ") + ".";
  chart.svg = RangeChartSvg(frame, base, ranges, fmt::format("base: mean {}", base.text));
  out->charts.push_back(std::move(chart));
  out->note = "Charted: every row as a range around the base mean.";
  return true;
}

// Who pays, who gains: per paying party its costs beside its benefits, both in net present
// value; the sensitivity view: the total saldo's range per input varied. The outcomes view is a
// table only (its columns are windows of different lengths).
bool TableCharter::CostBenefit(ChartedTable* out) {
  if (!spec_.cost_benefit) return false;
  const analysis::CostBenefitSpec& cb = *spec_.cost_benefit;
  switch (table_spec_.view) {
    case analysis::CostBenefitView::kOutcomes:
      out->note = "Windows of different lengths: table only, no chart.";
      return true;
    case analysis::CostBenefitView::kSensitivity: {
      if (!HasColumns(
              table_,
              {std::string(analysis::kCbSaldoBaseColumn), std::string(analysis::kCbSaldoLowColumn),
               std::string(analysis::kCbSaldoHighColumn), std::string(analysis::kCbRatioBaseColumn),
               std::string(analysis::kCbRatioLowColumn),
               std::string(analysis::kCbRatioHighColumn)})) {
        return false;
      }
      std::vector<std::string> labels;
      for (const auto& range : cb.sensitivity) labels.push_back(range.label);
      labels.push_back(std::string(analysis::kSensitivityRangeRow));
      if (!HasRows(table_, 0, labels)) return false;
      if (labels.size() > kMaxChartCategories) {
        out->note = TooManyToChart(labels.size());
        return true;
      }
      const ChartValue base = CellValue(table_, 0, 0);
      std::vector<Range> ranges;
      std::vector<ChartValue> values = {base};
      std::vector<std::string> listed;
      for (int r = 0; r < table_.rows_size(); ++r) {
        ranges.push_back(
            {table_.rows(r).label(), CellValue(table_, r, 1), CellValue(table_, r, 2)});
        values.push_back(ranges.back().low);
        values.push_back(ranges.back().high);
        listed.push_back(fmt::format("{}: low {}, high {}", ranges.back().label,
                                     Spoken(ranges.back().low, "EUR"),
                                     Spoken(ranges.back().high, "EUR")));
      }
      ChartFrame frame;
      frame.id = ChartId(table_index_, "range", 0);
      frame.title =
          "Saldo of benefits and costs (net present value): low and high per varied input";
      frame.unit = "EUR";
      ReleaseChart chart;
      chart.caption = fmt::format(
          "Range chart: the base line is the saldo, {} (row {}, column {}); one bar per varied "
          "input from its low to its high saldo, the last ({}) over all inputs varied one at a "
          "time. {}",
          Spoken(base, "EUR"), base.row, base.column, analysis::kSensitivityRangeRow,
          NotDrawn(values, CellName));
      frame.description = chart.caption + " " + absl::StrJoin(listed, "; ") + ".";
      chart.svg = RangeChartSvg(frame, base, ranges, fmt::format("base: saldo {}", base.text));
      out->charts.push_back(std::move(chart));
      out->note =
          "Charted: the saldo columns as a range around the base; ratios in the table only.";
      return true;
    }
    case analysis::CostBenefitView::kPayers:
      break;
  }
  std::vector<std::string> columns = {std::string(analysis::kCbCohortColumn)};
  if (cb.comparison) columns.push_back(std::string(analysis::kCbComparisonColumn));
  const int costs = static_cast<int>(columns.size());
  const int benefits = costs + 1;
  for (std::string_view column : {analysis::kCbCostsColumn, analysis::kCbBenefitsColumn,
                                  analysis::kCbSaldoColumn, analysis::kCbRatioColumn}) {
    columns.push_back(std::string(column));
  }
  if (!HasColumns(table_, columns)) return false;
  // The rows the linker writes: the payers of the valued outcomes in spec order, then those of
  // the intervention costs (their items are in that order), then the total.
  std::vector<std::string> labels;
  for (const CostItemSpec& item : spec_.cost_items) {
    if (item.cost_benefit() &&
        std::find(labels.begin(), labels.end(), item.payer) == labels.end()) {
      labels.push_back(item.payer);
    }
  }
  labels.push_back(std::string(analysis::kCbTotalRow));
  if (!HasRows(table_, 0, labels)) return false;
  const int total = table_.rows_size() - 1;
  out->total_row = total;
  if (static_cast<size_t>(total) > kMaxChartCategories) {
    out->note = TooManyToChart(static_cast<size_t>(total));
    return true;
  }
  const std::vector<std::string> series = {"costs", "benefits"};
  std::vector<std::pair<ChartValue, ChartValue>> pairs;
  std::vector<ChartValue> values;
  for (int r = 0; r < total; ++r) {
    pairs.emplace_back(CellValue(table_, r, costs), CellValue(table_, r, benefits));
    values.push_back(pairs.back().first);
    values.push_back(pairs.back().second);
  }
  ChartFrame frame;
  frame.id = ChartId(table_index_, "pair", 0);
  frame.title = "Costs and benefits per paying party (net present value, EUR)";
  frame.unit = "EUR";
  ReleaseChart chart;
  chart.caption = fmt::format(
      "Paired bars: for each of the {} paying parties, column {} (what it pays) beside column {} "
      "(what it gains). The total row is in the table only: costs {}, benefits {}. {}",
      pairs.size(), table_.columns(costs), table_.columns(benefits),
      Spoken(CellValue(table_, total, costs), "EUR"),
      Spoken(CellValue(table_, total, benefits), "EUR"), NotDrawn(values, CellName));
  std::vector<std::string> listed;
  for (const ChartValue& value : values) {
    listed.push_back(fmt::format("{}: {}", CellName(value), Spoken(value, "EUR")));
  }
  frame.description = chart.caption + " Values: " + absl::StrJoin(listed, "; ") + ".";
  chart.svg = PairedBarChartSvg(frame, series, pairs, std::nullopt);
  out->charts.push_back(std::move(chart));
  out->note =
      "Charted: costs against benefits per paying party; saldo and ratio in the table only.";
  return true;
}

}  // namespace

ChartedTable ChartTable(const v1::ReleasedTable& table, size_t table_index,
                        const AnalysisSpec* spec) {
  ChartedTable out;
  if (spec == nullptr) return out;
  const TableSpec* table_spec = nullptr;
  for (const TableSpec& t : spec->tables) {
    if (t.name == table.name()) table_spec = &t;
  }
  if (table_spec == nullptr) {
    out.note = "The analysis spec has no table of this name: table only, no chart.";
    return out;
  }
  for (const v1::ReleasedRow& row : table.rows()) {
    if (row.cells_size() != table.columns_size()) {
      out.note = "A row does not have one cell per column: table only, no chart.";
      return out;
    }
  }
  TableCharter charter(table, table_index, *spec, *table_spec);
  bool fits = false;
  switch (table_spec->kind) {
    case TableKind::kCounts:
      fits = charter.Counts(&out);
      break;
    case TableKind::kOverlap:
      fits = charter.Overlap(&out);
      break;
    case TableKind::kCosts:
      fits = charter.Costs(&out);
      break;
    case TableKind::kSensitivity:
      fits = charter.Sensitivity(&out);
      break;
    case TableKind::kCostBenefit:
      fits = charter.CostBenefit(&out);
      break;
  }
  if (!fits) {
    out = ChartedTable();
    out.note =
        "The released table does not have the rows and columns the analysis spec gives it: "
        "table only, no chart.";
  }
  return out;
}

}  // namespace koppel
