// Cost-benefit figures from the table builder's result to the recipient's files: a net present
// value, saldo or ratio is released only when every sum and count it is computed from is, is
// never re-based on rounded counts as a mean is, a ratio has two decimals, a PM cell (an effect
// not valued) is always shown; and every format writes ratios and PM cells alike.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/release_charts.h"
#include "cli/release_html.h"
#include "cli/release_writer.h"
#include "cli/release_xlsx.h"
#include "linker/analysis/release.h"
#include "linker/analysis/released_labels.h"

namespace koppel {
namespace {

using analysis::CellState;
using analysis::ResultCell;
using analysis::ResultKind;
using analysis::SystemCellRef;

constexpr SystemCellRef kCohortN{SystemCellRef::System::kCounts, 0};
constexpr SystemCellRef kComparisonN{SystemCellRef::System::kCounts, 1};
constexpr SystemCellRef kBenefitSum{SystemCellRef::System::kSums, 0};  // an outcome's sums
constexpr SystemCellRef kCostSum{SystemCellRef::System::kSums, 1};     // the intervention's

ResultCell Cell(ResultKind kind, double value, std::vector<SystemCellRef> sources) {
  ResultCell cell;
  cell.kind = kind;
  cell.value = value;
  cell.sources = std::move(sources);
  cell.cost_benefit = kind != ResultKind::kCount;
  return cell;
}

// A payers table as the builder makes it: 27 cohort and 43 comparison households; housing gains
// 1234.567 and pays nothing; the total gains 3000.456 against 2000 of costs.
analysis::AnalysisResult PayersResult() {
  analysis::AnalysisResult result;
  result.count_cells.resize(2);
  result.count_cells[0].value = 27;
  result.count_cells[1].value = 43;
  result.sum_cells.resize(2);
  result.sum_cells[0].kind = analysis::CellKind::kSum;
  result.sum_cells[1].kind = analysis::CellKind::kSum;
  analysis::ResultTable table;
  table.name = "who_pays_who_gains";
  table.row_heading = std::string(analysis::kCbPayerRowHeading);
  table.columns = {"cohort_n",         "comparison_n",  "costs_npv_eur",
                   "benefits_npv_eur", "saldo_npv_eur", "ratio"};
  const std::vector<SystemCellRef> benefit = {kBenefitSum, kCohortN, kComparisonN};
  const std::vector<SystemCellRef> both = {kBenefitSum, kCohortN, kComparisonN, kCostSum};
  const ResultCell cohort_n = Cell(ResultKind::kCount, 27, {kCohortN});
  const ResultCell comparison_n = Cell(ResultKind::kCount, 43, {kComparisonN});
  table.rows.push_back({"housing",
                        {cohort_n, comparison_n, Cell(ResultKind::kAmount, 0, {}),
                         Cell(ResultKind::kAmount, 1234.567, benefit),
                         Cell(ResultKind::kAmount, 1234.567, benefit), ResultCell{}}});
  table.rows.push_back(
      {"participatiewet",
       {cohort_n, comparison_n, Cell(ResultKind::kAmount, 2000, {kCostSum}),
        Cell(ResultKind::kAmount, 0, {}), Cell(ResultKind::kAmount, -2000, {kCostSum}),
        Cell(ResultKind::kRatio, 0, {kCostSum})}});
  table.rows.push_back(
      {"total",
       {cohort_n, comparison_n, Cell(ResultKind::kAmount, 2000, {kCostSum}),
        Cell(ResultKind::kAmount, 3000.456, benefit), Cell(ResultKind::kAmount, 1000.456, both),
        Cell(ResultKind::kRatio, 3000.456 / 2000, both)}});
  ResultCell pm;
  pm.kind = ResultKind::kPm;
  table.rows.push_back({"PM: quality_of_life", std::vector<ResultCell>(6, pm)});
  result.tables.push_back(std::move(table));
  return result;
}

analysis::ProtectedRelease Published() {
  analysis::ProtectedRelease protection;
  protection.counts.state = {CellState::kPublished, CellState::kPublished};
  protection.sums.state = {CellState::kPublished, CellState::kPublished};
  return protection;
}

v1::Release Release(const analysis::ProtectedRelease& protection, int64_t rounding_base = 0) {
  policy::AnalysisPolicy policy;
  policy.rounding_base = rounding_base;
  absl::StatusOr<v1::Release> release =
      analysis::BuildRelease(PayersResult(), protection, policy, {});
  EXPECT_TRUE(release.ok()) << release.status();
  return release.ok() ? *release : v1::Release();
}

const v1::ReleasedCell& At(const v1::Release& release, int row, int column) {
  return release.tables(0).rows(row).cells(column);
}

TEST(CostBenefitReleaseTest, RatiosHaveTwoDecimalsAndPmCellsHoldNoFigure) {
  const v1::Release release = Release(Published());
  EXPECT_EQ(At(release, 2, 5).value_case(), v1::ReleasedCell::kRatio);
  EXPECT_DOUBLE_EQ(At(release, 2, 5).ratio(), 1.5);  // 1.500228
  EXPECT_DOUBLE_EQ(At(release, 2, 3).amount(), 3000.46);
  EXPECT_EQ(At(release, 1, 5).value_case(), v1::ReleasedCell::kRatio);  // 0 / 2000: a ratio of 0
  EXPECT_EQ(At(release, 0, 5).value_case(), v1::ReleasedCell::VALUE_NOT_SET);  // no costs
  EXPECT_EQ(At(release, 0, 2).amount(), 0);  // no costs: a 0 from no cell, released
  for (int c = 0; c < 6; ++c) {
    EXPECT_TRUE(At(release, 3, c).pm());
    EXPECT_FALSE(At(release, 3, c).suppressed());
  }
  EXPECT_EQ(release.tables(0).cells_suppressed(), 0);
}

TEST(CostBenefitReleaseTest, ASuppressedSumSuppressesEveryFigureComputedFromIt) {
  analysis::ProtectedRelease protection = Published();
  protection.sums.state[0] = CellState::kPrimary;  // the outcome's sums: too few contributors
  const v1::Release release = Release(protection);
  // Housing's benefit and saldo, the total's benefit, saldo and ratio.
  EXPECT_TRUE(At(release, 0, 3).suppressed());
  EXPECT_TRUE(At(release, 0, 4).suppressed());
  EXPECT_TRUE(At(release, 2, 3).suppressed());
  EXPECT_TRUE(At(release, 2, 4).suppressed());
  EXPECT_TRUE(At(release, 2, 5).suppressed());
  EXPECT_FALSE(At(release, 2, 5).has_ratio());
  // What rests on other cells stays: the counts, the costs, the Participatiewet's row, PM.
  EXPECT_EQ(At(release, 2, 0).count(), 27);
  EXPECT_DOUBLE_EQ(At(release, 2, 2).amount(), 2000);
  EXPECT_DOUBLE_EQ(At(release, 1, 4).amount(), -2000);
  EXPECT_TRUE(At(release, 3, 0).pm());
  EXPECT_EQ(release.tables(0).cells_suppressed(), 5);

  protection = Published();
  protection.counts.state[1] = CellState::kSecondary;  // the comparison group's size
  const v1::Release without_comparison = Release(protection);
  EXPECT_TRUE(At(without_comparison, 0, 3).suppressed());
  EXPECT_TRUE(At(without_comparison, 2, 5).suppressed());
  EXPECT_DOUBLE_EQ(At(without_comparison, 1, 5).ratio(), 0);  // costs only: released
}

TEST(CostBenefitReleaseTest, FiguresAreNotRebasedOnRoundedCounts) {
  // A mean would be re-based on the rounded count; a cohort's total is not money per household.
  const v1::Release release = Release(Published(), /*rounding_base=*/5);
  EXPECT_EQ(At(release, 2, 0).count(), 25);
  EXPECT_EQ(At(release, 2, 1).count(), 45);
  EXPECT_DOUBLE_EQ(At(release, 0, 3).amount(), 1234.57);
  EXPECT_DOUBLE_EQ(At(release, 2, 5).ratio(), 1.5);
}

TEST(CostBenefitReleaseTest, EveryFormatWritesRatiosAndPmCells) {
  analysis::ProtectedRelease protection = Published();
  protection.sums.state[0] = CellState::kPrimary;
  v1::Release release = Release(protection);
  release.mutable_tables(0)->set_title("Who pays, who gains");
  const v1::ReleasedTable& table = release.tables(0);

  EXPECT_EQ(FormatCell(At(release, 1, 5)), "0.00");
  EXPECT_EQ(FormatCell(At(release, 3, 0)), "PM");
  const std::string csv = TableToCsv(table);
  EXPECT_NE(csv.find("participatiewet,27,43,2000.00,0.00,-2000.00,0.00\n"), std::string::npos)
      << csv;
  EXPECT_NE(csv.find("total,27,43,2000.00,*,*,*\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("PM: quality_of_life,PM,PM,PM,PM,PM,PM\n"), std::string::npos) << csv;
  const std::string md = ReleaseToMarkdown(release);
  EXPECT_NE(md.find("| participatiewet | 27 | 43 | 2000.00 | 0.00 | -2000.00 | 0.00 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| PM: quality\\_of\\_life | PM | PM | PM | PM | PM | PM |"), std::string::npos)
      << md;
  const nlohmann::ordered_json json = ReleaseToJson(release);
  const nlohmann::ordered_json& rows = json["tables"][0]["rows"];
  EXPECT_EQ(rows[1]["cells"][5], 0.0);
  EXPECT_EQ(rows[2]["cells"][5], "*");
  EXPECT_EQ(rows[3]["cells"][0], "PM");
  EXPECT_TRUE(rows[0]["cells"][5].is_null());  // not applicable

  const std::string html = ReleaseToHtml(release, nullptr);
  EXPECT_NE(html.find("<td class=\"num pm\" data-row=\"PM: quality_of_life\" data-col=\"ratio\" "
                      "title=\"not valued (pro memorie)\">PM</td>"),
            std::string::npos);
  EXPECT_NE(
      html.find("<td class=\"num\" data-row=\"participatiewet\" data-col=\"ratio\">0.00</td>"),
      std::string::npos);
  absl::StatusOr<std::string> xlsx = ReleaseToXlsx(release);
  ASSERT_TRUE(xlsx.ok()) << xlsx.status();
  EXPECT_FALSE(xlsx->empty());
}

// The spec of the payers table above: outcomes of housing (valued) and a PM outcome, a
// coaching cost of the Participatiewet, with a comparison group.
analysis::AnalysisSpec PayersSpec() {
  analysis::AnalysisSpec spec;
  analysis::CostBenefitSpec& cb = spec.cost_benefit.emplace();
  cb.comparison = true;
  cb.horizon = 1;
  analysis::CostItemSpec eviction;
  eviction.name = "eviction@-1";
  eviction.payer = "housing";
  eviction.relative_year = -1;
  eviction.outcome = 0;
  spec.cost_items.push_back(eviction);
  eviction.name = "eviction@1";
  eviction.relative_year = 1;
  spec.cost_items.push_back(eviction);
  analysis::CostItemSpec coaching;
  coaching.name = "coaching@1";
  coaching.payer = "participatiewet";
  coaching.relative_year = 1;
  coaching.intervention = 0;
  spec.cost_items.push_back(coaching);
  analysis::TableSpec table;
  table.name = "who_pays_who_gains";
  table.kind = analysis::TableKind::kCostBenefit;
  table.view = analysis::CostBenefitView::kPayers;
  spec.tables.push_back(table);
  return spec;
}

TEST(CostBenefitReleaseTest, TheHtmlReportPairsCostsAndBenefitsPerPayer) {
  v1::Release release = Release(Published());
  release.mutable_tables(0)->mutable_rows()->RemoveLast();  // the spec has no PM outcome
  const analysis::AnalysisSpec spec = PayersSpec();
  const ChartedTable charted = ChartTable(release.tables(0), 0, &spec);
  ASSERT_EQ(charted.charts.size(), 1u) << charted.note;
  EXPECT_EQ(charted.total_row, 2);
  EXPECT_NE(charted.charts[0].caption.find("2 paying parties"), std::string::npos)
      << charted.charts[0].caption;
  EXPECT_NE(charted.charts[0].svg.find("<svg"), std::string::npos);
  EXPECT_NE(charted.charts[0].svg.find("1234.57"), std::string::npos);

  // A table of another shape than the spec gives it gets no chart.
  analysis::AnalysisSpec other = spec;
  other.cost_benefit->comparison = false;
  EXPECT_TRUE(ChartTable(release.tables(0), 0, &other).charts.empty());
}

}  // namespace
}  // namespace koppel
