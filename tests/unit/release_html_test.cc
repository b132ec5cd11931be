// The HTML release report on releases built in code: the metadata page, every released cell in
// its td as FormatCell writes it, suppressed values nowhere, the charts the spec's table kinds
// call for (checked on the real analyses/almelo-mpg.yaml with a release of its shape), escaping
// of hostile labels, no script or external URL, and the same bytes every time.
#include "cli/release_html.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "cli/html_document.h"
#include "cli/release_charts.h"
#include "cli/release_writer.h"
#include "core/proto_time.h"
#include "linker/analysis/released_labels.h"
#include "tests/testing/released_cells.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using analysis::AnalysisSpec;
using analysis::TableKind;
using analysis::TableSpec;
using test::AddRow;
using test::Amount;
using test::Count;
using test::Percent;
using test::SuppressedWithValue;

// Distinctive values that only suppressed cells carry: none may reach the report.
constexpr int64_t kSuppressedCount = 987654;
constexpr double kSuppressedAmount = 13579.24;
constexpr double kSuppressedPercent = 87.65;

size_t Occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The td the DOM contract gives a cell.
std::string ExpectedTd(const v1::ReleasedTable& table, int row, int column) {
  const v1::ReleasedCell& cell = table.rows(row).cells(column);
  const std::string where = HtmlAttribute("data-row", table.rows(row).label()) +
                            HtmlAttribute("data-col", table.columns(column));
  if (cell.suppressed()) {
    return "<td class=\"num suppressed\"" + where +
           " data-suppressed=\"true\" title=\"suppressed\">*</td>";
  }
  return "<td class=\"num\"" + where + ">" + HtmlEscape(FormatCell(cell)) + "</td>";
}

void ExpectEveryCellInItsTd(const v1::Release& release, const std::string& html) {
  for (const v1::ReleasedTable& table : release.tables()) {
    for (int r = 0; r < table.rows_size(); ++r) {
      for (int c = 0; c < table.columns_size(); ++c) {
        EXPECT_NE(html.find(ExpectedTd(table, r, c)), std::string::npos)
            << table.name() << " / " << table.rows(r).label() << " / " << table.columns(c);
      }
    }
  }
}

void ExpectNoSuppressedValue(const std::string& html) {
  EXPECT_EQ(html.find(std::to_string(kSuppressedCount)), std::string::npos);
  EXPECT_EQ(html.find("13579.24"), std::string::npos);
  EXPECT_EQ(html.find("13579.2"), std::string::npos);
  // The suppressed percentage as its text would show it (bare numbers may be SVG coordinates).
  EXPECT_EQ(html.find("87.65"), std::string::npos);
  for (const char* shown : {">87.7<", "\"87.7\"", "87.7%", " 87.7 "}) {
    EXPECT_EQ(html.find(shown), std::string::npos) << shown;
  }
}

void ExpectSelfContained(const std::string& html) {
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<SCRIPT"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(Occurrences(html, "http://"),
            Occurrences(html, "xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<foreignObject"), std::string::npos);
}

// A per-wijk table with hostile labels, suppressed cells that still carry values and a cell that
// does not apply.
v1::ReleasedTable PerWijkTable() {
  v1::ReleasedTable table;
  table.set_name("per_wijk");
  table.set_title("Families <script>alert(1)</script> by \"wijk\"");
  table.set_row_heading("Wijk");
  for (const char* c : {"Families", "Multi-problem", "% multi<problem>", "Mean cost (EUR)"}) {
    table.add_columns(c);
  }
  AddRow(&table, "Centrum", {Count(412), Count(37), Percent(8.98), Amount(12345.678)});
  AddRow(&table, "Noord, \"De Riet\" <img src=x onerror=alert(1)>",
         {SuppressedWithValue(Count(kSuppressedCount)), SuppressedWithValue(Count(3)),
          SuppressedWithValue(Percent(kSuppressedPercent)),
          SuppressedWithValue(Amount(kSuppressedAmount))});
  AddRow(&table, "Oost \xff\xfe broken", {Count(96), Count(12), v1::ReleasedCell(), Amount(2500)});
  AddRow(&table, "Total", {Count(516), Count(52), Percent(10.077), Amount(4321.5)});
  table.set_cells_suppressed(4);
  return table;
}

v1::Release HandRelease() {
  v1::Release release;
  v1::ReleaseMetadata* m = release.mutable_metadata();
  *m = test::TestMetadata();
  m->set_covenant_version(3);
  m->set_prices_sha256("60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752");
  m->clear_reference_dates();
  *m->add_reference_dates() = ToProtoDate(absl::CivilDay(2014, 12, 31));
  *m->add_reference_dates() = ToProtoDate(absl::CivilDay(2013, 12, 31));
  m->set_cells_suppressed_secondary(2);
  m->set_cells_suppressed_history(1);
  m->clear_warnings();
  m->add_warnings("dataset jeugdzorg has no records for 2013 <b>");
  m->set_releases_left(5);
  m->set_mode(v1::RELEASE_MODE_EXACT);
  m->set_approved_analysis("almelo-2014-approved");
  m->set_earlier_releases_checked(2);
  m->set_implied_groups_protected(4);
  m->set_key_epoch(7);
  *release.add_tables() = PerWijkTable();
  return release;
}

// The real Almelo spec, and a release with exactly its tables' shape (rows and columns as the
// linker writes them, linker/analysis/result_builder.cc) and made-up figures; every fifth cell
// or so is suppressed and carries a distinctive value.
AnalysisSpec SpecFile(const std::string& name) {
  const std::filesystem::path path = std::filesystem::path(KOPPEL_SOURCE_DIR) / "analyses" / name;
  absl::StatusOr<AnalysisSpec> spec = analysis::ParseAnalysisSpec(test::ReadFile(path), name);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : AnalysisSpec();
}
AnalysisSpec AlmeloSpec() { return SpecFile("almelo-mpg.yaml"); }

constexpr char kHostileArea[] = "De \"Riet\" <b>&amp; co</b> 'x'";

// What the suppressed cells of a shaped release carry (the linker never sends a value; a
// report must not depend on one if it did).
struct HiddenValues {
  int64_t count = kSuppressedCount;
  double amount = kSuppressedAmount;
  double percent = kSuppressedPercent;
};

class ShapedRelease {
 public:
  explicit ShapedRelease(const AnalysisSpec& spec, HiddenValues hidden = {})
      : spec_(spec), hidden_(hidden) {}

  v1::Release Build() {
    v1::Release release = HandRelease();
    release.clear_tables();
    for (const TableSpec& table : spec_.tables) *release.add_tables() = Table(table);
    return release;
  }

 private:
  bool Suppress() { return ++cells_ % 7 == 3; }
  v1::ReleasedCell NextCount() {
    const int64_t n = 20 + (cells_ * 37) % 900;
    return Suppress() ? SuppressedWithValue(Count(hidden_.count)) : Count(n);
  }
  v1::ReleasedCell NextPercent() {
    const double p = static_cast<double>((cells_ * 13) % 80) + 0.5;
    return Suppress() ? SuppressedWithValue(Percent(hidden_.percent)) : Percent(p);
  }
  v1::ReleasedCell NextAmount() {
    const double euro = 1000.0 + static_cast<double>((cells_ * 7919) % 100000) + 0.25;
    return Suppress() ? SuppressedWithValue(Amount(hidden_.amount)) : Amount(euro);
  }

  v1::ReleasedTable Table(const TableSpec& spec) {
    v1::ReleasedTable table;
    table.set_name(spec.name);
    table.set_title(spec.title);
    switch (spec.kind) {
      case TableKind::kCounts:
        Counts(spec, &table);
        break;
      case TableKind::kOverlap:
        Overlap(spec, &table);
        break;
      case TableKind::kCosts:
        Costs(spec, &table);
        break;
      case TableKind::kSensitivity:
        Sensitivity(&table);
        break;
      case TableKind::kCostBenefit:  // the almelo spec has none (cost_benefit_release_test)
        break;
    }
    int64_t suppressed = 0;
    for (const v1::ReleasedRow& row : table.rows()) {
      for (const v1::ReleasedCell& cell : row.cells()) suppressed += cell.suppressed() ? 1 : 0;
    }
    table.set_cells_suppressed(suppressed);
    return table;
  }

  void Counts(const TableSpec& spec, v1::ReleasedTable* table) {
    std::vector<std::string> rows;
    if (!spec.total_label.empty()) rows.push_back(spec.total_label);
    if (spec.rows == analysis::Dimension::kArea) {
      table->set_row_heading("area");
      for (const auto& [code, label] : spec_.area_labels) rows.push_back(label);
      rows.push_back(kHostileArea);
    } else if (spec.rows == analysis::Dimension::kHouseholdType) {
      table->set_row_heading("household_type");
      for (const auto& type : spec_.household_types) rows.push_back(type.name);
    } else {
      for (const auto& row : spec.row_selections) rows.push_back(row.label);
    }
    for (const auto& column : spec.columns) {
      if (column.percent) {
        table->add_columns(column.label + std::string(analysis::kCountSuffix));
        table->add_columns(column.label + std::string(analysis::kPercentSuffix));
      } else {
        table->add_columns(column.label);
      }
    }
    for (const std::string& label : rows) {
      std::vector<v1::ReleasedCell> cells;
      for (const auto& column : spec.columns) {
        cells.push_back(NextCount());
        if (column.percent) cells.push_back(NextPercent());
      }
      AddRow(table, label, std::move(cells));
    }
  }

  void Overlap(const TableSpec& spec, v1::ReleasedTable* table) {
    table->set_row_heading("row");
    for (const std::string& flag : spec.flags) table->add_columns(flag);
    std::vector<std::string> rows = {std::string(analysis::kOverlapNoneRow),
                                     std::string(analysis::kOverlapAnyRow),
                                     std::string(analysis::kOverlapOnlyRow)};
    for (const std::string& flag : spec.flags) rows.push_back(analysis::OverlapAlsoRow(flag));
    rows.push_back(std::string(analysis::kOverlapAllRow));
    for (const std::string& label : rows) {
      std::vector<v1::ReleasedCell> cells;
      for (const std::string& flag : spec.flags) {
        cells.push_back(label == analysis::OverlapAlsoRow(flag) ? v1::ReleasedCell() : NextCount());
      }
      AddRow(table, label, std::move(cells));
    }
  }

  void Costs(const TableSpec& spec, v1::ReleasedTable* table) {
    table->set_row_heading("item");
    for (const auto& column : spec.cost_columns) {
      table->add_columns(column.label + std::string(analysis::kSumSuffix));
      table->add_columns(column.label + std::string(analysis::kMeanSuffix));
    }
    std::vector<v1::ReleasedCell> households;
    for (size_t c = 0; c < spec.cost_columns.size(); ++c) {
      households.push_back(NextCount());
      households.emplace_back();
    }
    AddRow(table, std::string(analysis::kCostsHouseholdsRow), std::move(households));
    std::vector<std::string> rows;
    if (spec.by_payer) {
      table->set_row_heading("payer");
      for (const auto& item : spec_.cost_items) {
        if (item.in_total && std::find(rows.begin(), rows.end(), item.payer) == rows.end()) {
          rows.push_back(item.payer);
        }
      }
      for (const auto& item : spec_.cost_items) {
        if (!item.in_total) rows.push_back(item.name);
      }
    } else {
      for (const auto& item : spec_.cost_items) rows.push_back(item.name);
    }
    rows.push_back(analysis::CostsTotalRow(spec.total_label));
    for (const std::string& label : rows) {
      std::vector<v1::ReleasedCell> cells;
      for (size_t c = 0; c < 2 * spec.cost_columns.size(); ++c) cells.push_back(NextAmount());
      AddRow(table, label, std::move(cells));
    }
  }

  void Sensitivity(v1::ReleasedTable* table) {
    table->set_row_heading(std::string(analysis::kSensitivityRowHeading));
    for (std::string_view c : {analysis::kSensitivityBaseColumn, analysis::kSensitivityLowColumn,
                               analysis::kSensitivityHighColumn}) {
      table->add_columns(std::string(c));
    }
    std::vector<std::string> rows;
    for (const auto& variation : spec_.sensitivity) rows.push_back(variation.label);
    rows.push_back(std::string(analysis::kSensitivityRangeRow));
    for (const std::string& label : rows) {
      AddRow(table, label, {Amount(4321.5), NextAmount(), NextAmount()});
    }
  }

  const AnalysisSpec& spec_;
  HiddenValues hidden_;
  int cells_ = 0;
};

// The section of one table, from its start tag to the next section.
std::string Section(const std::string& html, const std::string& table) {
  const size_t start = html.find("<section id=\"t-" + table + "\"");
  if (start == std::string::npos) return "";
  return html.substr(start, html.find("</section>", start) - start);
}

size_t Charts(const std::string& section, const std::string& table) {
  return Occurrences(section, "<figure class=\"chart\" data-table=\"" + table + "\">");
}

TEST(ReleaseHtmlTest, FirstPageHasEveryMetadataField) {
  const std::string html = ReleaseToHtml(HandRelease(), nullptr);
  const size_t body = html.find("<body>");
  ASSERT_NE(body, std::string::npos);
  EXPECT_EQ(html.find("<section", body),
            html.find("<section id=\"release-metadata\" class=\"page\">"));
  const std::string first = html.substr(body, html.find("</section>", body) - body);
  for (const char* fact : {
           "<h1>Release: almelo-2014</h1>",
           "<dt>Covenant</dt><dd>almelo-demo version 3</dd>",
           "<dt>Analysis</dt><dd>almelo-2014</dd>",
           "<dt>Recipient</dt><dd>research-unit</dd>",
           "<dt>Released at</dt><dd>2024-05-01T10:00:00Z</dd>",
           "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
           "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
           "exact (approved analysis almelo-2014-approved), checked with 2 earlier release(s); "
           "4 implied group(s) protected",
           "<dt>Reference dates</dt><dd>2014-12-31, 2013-12-31</dd>",
           "<dt>Key epoch</dt><dd>7</dd>",
           "<dd>5 release(s) left</dd>",
           "minimum cell 10; dominance (1, 80%); percentages of suppressed counts: suppressed with "
           "its count",
           "3 primary, 2 secondary (1 because of earlier releases)",
           "<tr><td>brp</td><td class=\"num\">3</td><td class=\"num\">12000</td></tr>",
           "<tr><td>uwv</td><td class=\"num\">1</td><td class=\"num\">850</td></tr>",
           "<li class=\"warning\">dataset jeugdzorg has no records for 2013 &lt;b&gt;</li>",
           "* = suppressed by disclosure control; such a cell is never drawn in a chart",
           "<a href=\"#t-per_wijk\">",
       }) {
    EXPECT_NE(first.find(fact), std::string::npos) << fact;
  }
}

TEST(ReleaseHtmlTest, PerturbedReleaseShowsItsPerturbation) {
  v1::Release release = HandRelease();
  v1::ReleaseMetadata* m = release.mutable_metadata();
  m->set_mode(v1::RELEASE_MODE_PERTURBED);
  m->set_perturbation_table_sha256("abcdef0123");
  m->set_perturbation_max_noise(2);
  m->set_cells_suppressed_perturbed(9);
  m->clear_releases_left();
  m->set_prices_sha256("");
  const std::string html = ReleaseToHtml(release, nullptr);
  EXPECT_NE(html.find("perturbed (exploratory spec; cell key method, noise of at most 2, table "
                      "<code>abcdef0123</code>)"),
            std::string::npos);
  EXPECT_NE(html.find("<dt>Cells shown as * after perturbation</dt><dd>9</dd>"), std::string::npos);
  EXPECT_NE(html.find("<dt>Release budget</dt><dd>no budget set</dd>"), std::string::npos);
  EXPECT_NE(html.find("<dt>Prices SHA-256</dt><dd>none</dd>"), std::string::npos);
  EXPECT_EQ(html.find("approved analysis"), std::string::npos);
}

TEST(ReleaseHtmlTest, EveryCellIsInItsTdAndNoSuppressedValueAnywhere) {
  const v1::Release release = HandRelease();
  const std::string html = ReleaseToHtml(release, nullptr);
  ExpectEveryCellInItsTd(release, html);
  ExpectNoSuppressedValue(html);
  // The hand-built table has no spec: no chart, and a section with its line.
  EXPECT_EQ(html.find("<figure"), std::string::npos);
  EXPECT_NE(html.find("<p>Table <code>per_wijk</code>, 4 cell(s) suppressed.</p>"),
            std::string::npos);
  EXPECT_NE(html.find("<table class=\"release-table\" data-table=\"per_wijk\">\n<thead>"),
            std::string::npos);
  // Not applicable: an empty cell, not a star.
  EXPECT_NE(html.find("data-col=\"% multi&lt;problem&gt;\"></td>"), std::string::npos);
}

TEST(ReleaseHtmlTest, HostileLabelsAreEscapedAndNothingLoadsOrRuns) {
  const std::string html = ReleaseToHtml(HandRelease(), nullptr);
  ExpectSelfContained(html);
  EXPECT_NE(html.find("Families &lt;script&gt;alert(1)&lt;/script&gt; by &quot;wijk&quot;"),
            std::string::npos);
  EXPECT_NE(html.find("data-row=\"Noord, &quot;De Riet&quot; &lt;img src=x onerror=alert(1)&gt;\""),
            std::string::npos);
  EXPECT_NE(html.find("Oost \xef\xbf\xbd\xef\xbf\xbd broken"), std::string::npos);  // U+FFFD
  EXPECT_EQ(html.find("\xff"), std::string::npos);
}

TEST(ReleaseHtmlTest, AlmeloSpecGetsTheChartEachTableKindCallsFor) {
  const AnalysisSpec spec = AlmeloSpec();
  const v1::Release release = ShapedRelease(spec).Build();
  const std::string html = ReleaseToHtml(release, &spec);
  EXPECT_NE(html.find("<h1>Multi-problem families, Almelo</h1>"), std::string::npos);
  // Per-area shares: one bar chart per percentage column, none for the counts.
  struct Expected {
    const char* table;
    size_t charts;
    const char* kind;
  };
  const std::vector<Expected> expected = {
      {"table1_socio_economic", 7, "bar"},
      {"table2_psychosocial_adults", 5, "bar"},
      {"table3_psychosocial_children_youthcare", 6, "bar"},
      {"table4_psychosocial_children_other", 7, "bar"},
      {"table5_overlap", 2, "upset"},
      {"table5_support_years", 0, ""},
      {"mpg_per_wijk", 1, "bar"},
      {"costs", 3, "stack"},
      {"cost_sensitivity", 1, "range"},
      {"year_on_year", 4, "pair"},
  };
  ASSERT_EQ(static_cast<size_t>(release.tables_size()), expected.size());
  for (size_t t = 0; t < expected.size(); ++t) {
    ASSERT_EQ(release.tables(static_cast<int>(t)).name(), expected[t].table);
    const std::string section = Section(html, expected[t].table);
    ASSERT_FALSE(section.empty()) << expected[t].table;
    EXPECT_EQ(Charts(section, expected[t].table), expected[t].charts) << expected[t].table;
    for (size_t k = 0; k < expected[t].charts; ++k) {
      const std::string id =
          "c" + std::to_string(t) + "-" + expected[t].kind + "-" + std::to_string(k);
      EXPECT_NE(section.find("id=\"" + id + "-title\""), std::string::npos) << id;
    }
    EXPECT_EQ(Occurrences(section, "<figcaption>"), expected[t].charts) << expected[t].table;
  }
  // The spec's total rows.
  EXPECT_NE(Section(html, "table1_socio_economic")
                .find("<tr class=\"total\"><th scope=\"row\">Almelo totaal</th>"),
            std::string::npos);
  EXPECT_NE(Section(html, "costs").find("<tr class=\"total\"><th scope=\"row\">total</th>"),
            std::string::npos);
  EXPECT_EQ(Occurrences(Section(html, "costs"), "<tr class=\"total\">"), 1u);
  EXPECT_EQ(Occurrences(Section(html, "table5_overlap"), "<tr class=\"total\">"), 0u);
  // Year-on-year pairs are series of the reference dates' years.
  const std::string years = Section(html, "year_on_year");
  EXPECT_NE(years.find("socio_economic_2014_pct (2014) beside column socio_economic_2013_pct "
                       "(2013)"),
            std::string::npos);
  // The overlap's pairwise bars are labelled as inclusive.
  const std::string overlap = Section(html, "table5_overlap");
  EXPECT_NE(overlap.find("at least socio_economic and psychosocial_adults"), std::string::npos);
  EXPECT_NE(overlap.find("data-row=\"also psychosocial_adults\""), std::string::npos);
  // Costs are stacked per sum, not per mean, and grouped by payer.
  const std::string costs = Section(html, "costs");
  EXPECT_NE(costs.find("Charted: each sum column (mpg_families_eur, other_families_eur, "
                       "all_families_eur) stacked by item"),
            std::string::npos);
  EXPECT_NE(costs.find("coloured by paying party (uwv, municipality, justice, insurer)"),
            std::string::npos);
  EXPECT_EQ(costs.substr(0, costs.find("<table")).find("_mean_eur\""), std::string::npos);
}

TEST(ReleaseHtmlTest, AlmeloReleaseHasEveryCellAndNoSuppressedValueInTablesOrCharts) {
  const AnalysisSpec spec = AlmeloSpec();
  const v1::Release release = ShapedRelease(spec).Build();
  const std::string html = ReleaseToHtml(release, &spec);
  ExpectEveryCellInItsTd(release, html);
  ExpectNoSuppressedValue(html);
  ExpectSelfContained(html);
  EXPECT_NE(html.find("De &quot;Riet&quot; &lt;b&gt;&amp;amp; co&lt;/b&gt; &#39;x&#39;"),
            std::string::npos);
  EXPECT_NE(html.find("class=\"suppressed-mark\""), std::string::npos);
}

TEST(ReleaseHtmlTest, CohortMonitorStacksCostsByPayerAndChartsHouseholdTypes) {
  AnalysisSpec spec = SpecFile("cohort-monitor.yaml");
  // An item outside the total has a row of its own after the payers, and is not stacked.
  ASSERT_FALSE(spec.cost_items.empty());
  spec.cost_items.back().in_total = false;
  const std::string apart = spec.cost_items.back().name;
  const v1::Release release = ShapedRelease(spec).Build();
  const std::string html = ReleaseToHtml(release, &spec);
  ASSERT_EQ(release.tables(0).name(), "escalations");
  EXPECT_EQ(Charts(Section(html, "escalations"), "escalations"), 4u);
  EXPECT_NE(Section(html, "escalations").find("id=\"c0-bar-3-title\""), std::string::npos);
  const std::string costs = Section(html, "costs_by_payer");
  EXPECT_EQ(Charts(costs, "costs_by_payer"), 5u);
  EXPECT_NE(costs.find("id=\"c1-stack-4-title\""), std::string::npos);
  EXPECT_NE(costs.find("coloured by paying party (municipality, uwv, insurer, justice)"),
            std::string::npos);
  EXPECT_NE(costs.find("Not in the total, so not stacked (table only): " + apart + "."),
            std::string::npos);
  const std::string figure = costs.substr(0, costs.find("<table"));
  EXPECT_NE(figure.find("data-row=\"municipality\""), std::string::npos);
  EXPECT_EQ(figure.find("data-row=\"" + apart + "\""), std::string::npos);
  EXPECT_EQ(figure.find("data-col=\"single_mean_eur\""), std::string::npos);
  EXPECT_NE(costs.find("<tr class=\"total\"><th scope=\"row\">total</th>"), std::string::npos);
  ExpectEveryCellInItsTd(release, html);
  ExpectNoSuppressedValue(html);
  ExpectSelfContained(html);
}

TEST(ReleaseHtmlTest, ReferenceLineIsTheTotalRowAsReleased) {
  const AnalysisSpec spec = AlmeloSpec();
  v1::Release release = ShapedRelease(spec).Build();
  v1::ReleasedTable* table = release.mutable_tables(0);
  ASSERT_EQ(table->rows(0).label(), "Almelo totaal");
  ASSERT_EQ(table->columns(2), "any_pct");
  *table->mutable_rows(0)->mutable_cells(2) = Percent(42.14);
  *table->mutable_rows(0)->mutable_cells(4) = SuppressedWithValue(Percent(kSuppressedPercent));
  const std::string section = Section(ReleaseToHtml(release, &spec), "table1_socio_economic");
  EXPECT_NE(section.find("Almelo totaal 42.1%"), std::string::npos);
  // The line is the total row's cell, marked like any drawn cell.
  EXPECT_NE(section.find("data-row=\"Almelo totaal\" data-col=\"any_pct\" data-value=\"42.1\""),
            std::string::npos);
  EXPECT_NE(section.find("The total row, Almelo totaal, is suppressed: no reference line."),
            std::string::npos);
  ExpectNoSuppressedValue(section);
}

TEST(ReleaseHtmlTest, ChartsPerTableAreCappedAndTheNoteNamesTheRest) {
  AnalysisSpec spec = AlmeloSpec();
  TableSpec& table = spec.tables[0];
  const analysis::CountColumn model = table.columns[1];
  for (int i = 0; i < 4; ++i) {
    table.columns.push_back(model);
    table.columns.back().label = "extra" + std::to_string(i);
  }
  const std::string html = ReleaseToHtml(ShapedRelease(spec).Build(), &spec);
  const std::string section = Section(html, "table1_socio_economic");
  EXPECT_EQ(Charts(section, "table1_socio_economic"), 8u);
  EXPECT_NE(section.find("In the table only (at most 8 charts per table): extra1_pct, "
                         "extra2_pct, extra3_pct."),
            std::string::npos);
}

TEST(ReleaseHtmlTest, ATableTheSpecDoesNotDescribeGetsNoChartAndNoFailure) {
  const AnalysisSpec spec = AlmeloSpec();
  v1::Release release = ShapedRelease(spec).Build();
  // Another shape: a column less.
  v1::ReleasedTable* table = release.mutable_tables(0);
  table->mutable_columns()->RemoveLast();
  for (v1::ReleasedRow& row : *table->mutable_rows()) row.mutable_cells()->RemoveLast();
  // A table the spec does not have.
  *release.add_tables() = PerWijkTable();
  const std::string html = ReleaseToHtml(release, &spec);
  EXPECT_EQ(Charts(Section(html, "table1_socio_economic"), "table1_socio_economic"), 0u);
  EXPECT_NE(Section(html, "table1_socio_economic")
                .find("does not have the rows and columns the analysis spec gives it"),
            std::string::npos);
  EXPECT_EQ(Charts(Section(html, "per_wijk"), "per_wijk"), 0u);
  EXPECT_NE(Section(html, "per_wijk").find("has no table of this name"), std::string::npos);
  EXPECT_EQ(Charts(Section(html, "table2_psychosocial_adults"), "table2_psychosocial_adults"), 5u);
  ExpectEveryCellInItsTd(release, html);
  // Without a spec: tables only.
  const std::string plain = ReleaseToHtml(release, nullptr);
  EXPECT_EQ(plain.find("<figure"), std::string::npos);
  ExpectEveryCellInItsTd(release, plain);
}

TEST(ReleaseHtmlTest, SameReleaseSameBytes) {
  const AnalysisSpec spec = AlmeloSpec();
  const v1::Release release = ShapedRelease(spec).Build();
  EXPECT_EQ(ReleaseToHtml(release, &spec), ReleaseToHtml(release, &spec));
  EXPECT_EQ(ReleaseToHtml(HandRelease(), nullptr), ReleaseToHtml(HandRelease(), nullptr));
}

// Every <figure> of a section, start tag to end tag.
std::vector<std::string> Figures(const std::string& section) {
  std::vector<std::string> figures;
  for (size_t at = section.find("<figure"); at != std::string::npos;
       at = section.find("<figure", at + 1)) {
    figures.push_back(section.substr(at, section.find("</figure>", at) - at));
  }
  return figures;
}

TEST(ReleaseHtmlTest, WhatSuppressedCellsCarryChangesNoByte) {
  // Geometry included: a suppressed value that reached a bar length, a stack offset, an UpSet
  // bar, a range end or an axis maximum would change the bytes.
  for (const char* file : {"almelo-mpg.yaml", "cohort-monitor.yaml"}) {
    SCOPED_TRACE(file);
    const AnalysisSpec spec = SpecFile(file);
    const std::string reference = ReleaseToHtml(ShapedRelease(spec).Build(), &spec);
    EXPECT_NE(reference.find("class=\"suppressed-mark\""), std::string::npos);
    for (const HiddenValues& hidden :
         {HiddenValues{1, 1, 1}, HiddenValues{0, 0, 0}, HiddenValues{-987654, -1e9, 1e300}}) {
      EXPECT_EQ(ReleaseToHtml(ShapedRelease(spec, hidden).Build(), &spec), reference)
          << hidden.count;
    }
  }
}

TEST(ReleaseHtmlTest, ATableTooLongToChartGetsTheTableOnly) {
  // Areas in table1 and the other per-area tables: the spec's labels and one hostile label.
  AnalysisSpec spec = AlmeloSpec();
  spec.area_labels.clear();
  for (size_t i = 1; i < kMaxChartCategories; ++i) {
    spec.area_labels[fmt::format("{:03}", i)] = fmt::format("wijk {}", i);
  }
  const std::string fits =
      Section(ReleaseToHtml(ShapedRelease(spec).Build(), &spec), "table1_socio_economic");
  EXPECT_EQ(Charts(fits, "table1_socio_economic"), 7u);
  for (size_t i = kMaxChartCategories; i < 300; ++i) {
    spec.area_labels[fmt::format("{:03}", i)] = fmt::format("wijk {}", i);
  }
  const v1::Release release = ShapedRelease(spec).Build();
  const std::string html = ReleaseToHtml(release, &spec);
  for (const char* table : {"table1_socio_economic", "mpg_per_wijk", "year_on_year"}) {
    const std::string section = Section(html, table);
    EXPECT_EQ(Charts(section, table), 0u) << table;
    EXPECT_NE(section.find("<p class=\"note\">300 bars: too many to chart"), std::string::npos)
        << table;
  }
  // The total row is still the table's total.
  EXPECT_NE(Section(html, "table1_socio_economic")
                .find("<tr class=\"total\"><th scope=\"row\">Almelo totaal</th>"),
            std::string::npos);
  ExpectEveryCellInItsTd(release, html);
}

TEST(ReleaseHtmlTest, StackedCostsAreMatchedToRowsByPlaceNotByLabel) {
  AnalysisSpec spec = SpecFile("cohort-monitor.yaml");
  // An item outside the total named like a payer: its row follows the payers and is not stacked.
  ASSERT_FALSE(spec.cost_items.empty());
  spec.cost_items.back().in_total = false;
  spec.cost_items.back().name = "municipality";
  const v1::Release release = ShapedRelease(spec).Build();
  const std::string costs = Section(ReleaseToHtml(release, &spec), "costs_by_payer");
  const std::vector<std::string> figures = Figures(costs);
  ASSERT_EQ(figures.size(), 5u);
  for (const std::string& figure : figures) {
    EXPECT_EQ(Occurrences(figure, "data-row=\"municipality\""), 1u) << figure;
  }
  EXPECT_NE(costs.find("Not in the total, so not stacked (table only): municipality."),
            std::string::npos);
  ExpectEveryCellInItsTd(release, ReleaseToHtml(release, &spec));
}

TEST(ReleaseHtmlTest, AStackWithSuppressedSegmentsSaysItIsShorterThanTheTotal) {
  const AnalysisSpec spec = AlmeloSpec();
  v1::Release release = ShapedRelease(spec).Build();
  // The first sum column without a suppressed cell.
  for (v1::ReleasedTable& table : *release.mutable_tables()) {
    if (table.name() != "costs") continue;
    for (v1::ReleasedRow& row : *table.mutable_rows()) {
      if (row.cells(0).suppressed()) *row.mutable_cells(0) = Amount(1500.5);
    }
  }
  const std::string costs = Section(ReleaseToHtml(release, &spec), "costs");
  size_t with = 0;
  size_t without = 0;
  for (const std::string& figure : Figures(costs)) {
    const size_t segments = Occurrences(figure, "<g class=\"mark\"");
    const bool suppressed = figure.find("class=\"suppressed-mark\"") != std::string::npos;
    const std::string said = fmt::format(
        "The bar shows the {} published items only; it is shorter than the total by the "
        "suppressed ones.",
        segments);
    // In the caption and in the text alternative.
    EXPECT_EQ(Occurrences(figure, said), suppressed ? 2u : 0u) << figure;
    EXPECT_EQ(Occurrences(figure, "shorter than the total"), suppressed ? 2u : 0u);
    (suppressed ? with : without) += 1;
  }
  EXPECT_GT(with, 0u);
  EXPECT_GT(without, 0u);
}

TEST(ReleaseHtmlTest, UpSetBarsHaveShortLabelsThatPrintWhole) {
  const AnalysisSpec spec = AlmeloSpec();
  const std::string overlap =
      Section(ReleaseToHtml(ShapedRelease(spec).Build(), &spec), "table5_overlap");
  const std::vector<std::string> figures = Figures(overlap);
  ASSERT_EQ(figures.size(), 2u);
  for (const char* label : {">A (at least)</text>", ">A + B (at least)</text>",
                            ">B + C (at least)</text>", ">A + B + C (all)</text>"}) {
    EXPECT_NE(figures[0].find(label), std::string::npos) << label;
  }
  for (const char* label : {">A only</text>", ">C only</text>", ">A + B + C (all)</text>"}) {
    EXPECT_NE(figures[1].find(label), std::string::npos) << label;
  }
  for (const std::string& figure : figures) {
    // No bar label is cut; the caption spells out the letters and the full labels.
    const std::string svg = figure.substr(0, figure.find("</svg>"));
    EXPECT_FALSE(std::regex_search(svg, std::regex("<text class=\"category\"[^>]*><title>")))
        << svg;
    const std::string caption = figure.substr(figure.find("<figcaption>"));
    EXPECT_NE(caption.find("A = socio_economic, B = psychosocial_adults"), std::string::npos);
  }
  EXPECT_NE(figures[0].find("A + B (at least): at least socio_economic and psychosocial_adults"),
            std::string::npos);
  EXPECT_EQ(overlap.find("at least socio_economic and\u2026"), std::string::npos);
}

TEST(ReleaseHtmlTest, HostileSpecLabelsAreEscapedInsideTheCharts) {
  const std::string hostile =
      "<script>alert(1)</script>\"><svg onload=alert(2)>\xff\xfe\xe2\x80\xae";
  AnalysisSpec spec = AlmeloSpec();
  spec.title = "title " + hostile;
  spec.area_labels.begin()->second = "area " + hostile;
  for (TableSpec& table : spec.tables) {
    for (std::string& flag : table.flags) flag += hostile;
    for (analysis::CountColumn& column : table.columns) column.label += hostile;
    for (analysis::RowSpec& column : table.cost_columns) column.label += hostile;
  }
  for (analysis::CostItemSpec& item : spec.cost_items) item.payer += hostile;
  const v1::Release release = ShapedRelease(spec).Build();
  const std::string html = ReleaseToHtml(release, &spec);
  ExpectSelfContained(html);
  EXPECT_EQ(html.find("<svg onload"), std::string::npos);
  EXPECT_EQ(html.find("\xff"), std::string::npos);
  EXPECT_EQ(html.find("\xe2\x80\xae"), std::string::npos);  // U+202E, right-to-left override
  EXPECT_NE(html.find("<h1>title &lt;script&gt;"), std::string::npos);
  ExpectEveryCellInItsTd(release, html);
  // The hostile labels reach the charts, escaped.
  const std::string escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;svg onload=";
  for (const char* table : {"table1_socio_economic", "table5_overlap", "costs", "year_on_year"}) {
    const std::string section = Section(html, table);
    const std::vector<std::string> figures = Figures(section);
    ASSERT_FALSE(figures.empty()) << table;
    for (const std::string& figure : figures) {
      EXPECT_NE(figure.find(escaped), std::string::npos) << table;
      EXPECT_EQ(figure.find("<svg onload"), std::string::npos) << table;
    }
  }
  EXPECT_NE(Figures(Section(html, "table1_socio_economic"))[0].find("data-row=\"area " + escaped),
            std::string::npos);
}

TEST(ReleaseHtmlTest, TheFirstPageAndTheMarkdownStateTheSameFacts) {
  v1::Release release = HandRelease();
  for (uint32_t version : {3u, 0u}) {
    SCOPED_TRACE(version);
    release.mutable_metadata()->set_covenant_version(version);
    const std::string html = ReleaseToHtml(release, nullptr);
    const std::string md = ReleaseToMarkdown(release);
    for (const MetadataFact& fact : MetadataFacts(release.metadata())) {
      EXPECT_NE(html.find("<dt>" + HtmlEscape(fact.term) + "</dt><dd>"), std::string::npos)
          << fact.term;
      EXPECT_EQ(md.find("- **" + fact.term + ":**") != std::string::npos, !fact.report_only)
          << fact.term;
    }
    // A release without a covenant version states no budget, in either format.
    EXPECT_EQ(html.find("Release budget") != std::string::npos, version > 0u);
    EXPECT_EQ(md.find("Release budget") != std::string::npos, version > 0u);
  }
}

}  // namespace
}  // namespace koppel
