// Issue 18 end to end: the municipality of `koppel-synth --intervention` is sealed by the real
// agents and delivered to the real linker over mutual TLS; the research unit runs
// analyses/cost-benefit.yaml (a comparison group, difference in differences) with `koppel
// query`, then a before/after variant of it (refused: another cohort design under the same
// covenant) and the same design over three years (released). Every figure of the three tables
// is computed here from truth/cost_benefit.json with this file's own implementation of
// docs/analysis.md "Cost-benefit" (sums per window and payer, the comparison scaled to the
// cohort, discount factors, benefits, costs, saldo, ratio, every sensitivity range and the
// range row), over the study design written out below (not read with the engine's parser).
// Asserts that the engine's unprotected tables (also before/after) equal it, that every
// released cell equals it, that every figure resting on a sum of fewer households than
// min_cell is suppressed, and that nothing per household and no plaintext identifier comes out.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "core/csv_reader.h"
#include "linker/analysis/analysis_engine.h"
#include "linker/analysis/released_labels.h"
#include "tests/testing/delivered_municipality.h"
#include "tests/testing/plaintext_scanner.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::DeliveredMunicipality;
using test::ProcessResult;
using test::ReadFile;

const std::string kSource = KOPPEL_SOURCE_DIR;
const std::string kSpec = kSource + "/analyses/cost-benefit.yaml";
const std::string kPrices = kSource + "/prices/cost_benefit_2014.csv";
const std::string kBeforeAfterFile = "cost-benefit-before-after.yaml";
const std::string kThreeYearsFile = "cost-benefit-three-years.yaml";
// DeliveredMunicipality's covenant.
constexpr int64_t kMinCell = 10;
// Small enough for the suite, large enough for a cohort whose totals are released.
const std::vector<std::string> kSynthFlags = {"--intervention", "--persons", "45000", "--seed",
                                              "18"};

// analyses/cost-benefit.yaml renamed `analysis`, with its prices file by absolute path so that
// it can live in the test's directory, and `edits` (what -> with) made.
std::string VariantSpec(const std::string& analysis,
                        const std::vector<std::pair<std::string, std::string>>& edits) {
  std::string text = ReadFile(kSpec);
  auto replace = [&text](const std::string& what, const std::string& with) {
    const size_t at = text.find(what);
    if (at == std::string::npos) throw std::runtime_error("no '" + what + "' in " + kSpec);
    text.replace(at, what.size(), with);
  };
  replace("analysis: cost-benefit\n", "analysis: " + analysis + "\n");
  replace("prices: ../prices/cost_benefit_2014.csv\n", "prices: " + kPrices + "\n");
  for (const auto& [what, with] : edits) replace(what, with);
  return text;
}

// Without its comparison: before/after within the whole cohort.
std::string BeforeAfterSpec() {
  std::string text = VariantSpec("cost-benefit-before-after", {});
  const size_t from = text.find("  comparison:\n");
  const size_t to = text.find("  horizon:", from);
  if (from == std::string::npos || to == std::string::npos) {
    throw std::runtime_error("no comparison section in " + kSpec);
  }
  text.erase(from, to - from);
  return text;
}

// The same cohort design over three years (its last window years 2-3).
std::string ThreeYearsSpec() {
  return VariantSpec("cost-benefit-three-years",
                     {{"  horizon: 4\n", "  horizon: 3\n"},
                      {"{label: years_2_4, years: [2, 4]}", "{label: years_2_3, years: [2, 3]}"}});
}

// The study design of analyses/cost-benefit.yaml and prices/cost_benefit_2014.csv, written out
// by hand: what the tables must show, independent of the engine's parser.
struct Design {
  struct Window {
    std::string label;
    int first_year = 0, last_year = 0;
  };
  struct Outcome {
    std::string name, price, payer;
  };
  struct Cost {
    std::string name, payer;
  };
  struct Range {
    enum class Varies { kAllPrices, kPrice, kRate, kEffect, kCosts } varies;
    std::string label;
    std::string price;  // kPrice
    double low = 0, high = 0;
  };
  bool comparison = true;
  int horizon = 4;
  double rate = 0.03;  // 2.5% plus a 0.5% risk premium
  std::vector<Window> windows;
  std::vector<Outcome> valued;  // spec order; payers from the prices file
  std::vector<std::string> pm;
  std::vector<Cost> costs;
  std::vector<Range> sensitivity;
};

Design ShippedDesign() {
  using Varies = Design::Range::Varies;
  Design d;
  d.windows = {{"year_before", -1, -1}, {"first_12_months", 1, 1}, {"years_2_4", 2, 4}};
  d.valued = {{"eviction_notice", "eviction_notice", "housing"},
              {"police_registration", "police_registration", "justice"},
              {"out_of_home_days", "out_of_home_day", "jeugdwet"},
              {"bijstand_days", "bijstand_day", "participatiewet"}};
  d.pm = {"quality_of_life"};
  d.costs = {{"coaching", "participatiewet"}, {"debt_help", "wgs"}};
  d.sensitivity = {{Varies::kAllPrices, "all prices -20% / +20%", "", 0.8, 1.2},
                   {Varies::kPrice, "out-of-home day -20% / +20%", "out_of_home_day", 0.8, 1.2},
                   {Varies::kRate, "discount rate 1.5% / 5.5%", "", 0.015, 0.055},
                   {Varies::kEffect, "effects half / one and a half", "", 0.5, 1.5},
                   {Varies::kCosts, "intervention costs -10% / +25%", "", 0.9, 1.25}};
  return d;
}

Design BeforeAfterDesign() {
  Design d = ShippedDesign();
  d.comparison = false;
  return d;
}

Design ThreeYearsDesign() {
  Design d = ShippedDesign();
  d.horizon = 3;
  d.windows.back() = {"years_2_3", 2, 3};
  return d;
}

// One group of truth/cost_benefit.json: its households and per item its cents and the
// households with a nonzero amount.
struct GroupTruth {
  int64_t households = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> items;
};

GroupTruth GroupOf(const json& group) {
  GroupTruth truth;
  truth.households = group.at("households").get<int64_t>();
  for (const auto& [name, item] : group.at("items").items()) {
    truth.items[name] = {item.at("cents").get<int64_t>(), item.at("contributors").get<int64_t>()};
  }
  return truth;
}

// A figure as this file computes it: its value (none: not applicable), and whether a sum or
// count it is computed from is certainly sensitive (a nonzero sum of fewer than min_cell
// households, a count of 1..min_cell-1), so that the release must suppress it.
struct Figure {
  enum class Kind { kEmpty, kCount, kAmount, kRatio, kPm } kind = Kind::kEmpty;
  double value = 0;
  bool must_suppress = false;

  static Figure Empty() { return {}; }
  static Figure Pm() { return {Kind::kPm, 0, false}; }
  static Figure Count(int64_t n) {
    return {Kind::kCount, static_cast<double>(n), n > 0 && n < kMinCell};
  }
  static Figure Amount(double euro, bool must_suppress) {
    return {Kind::kAmount, euro, must_suppress};
  }
};

// The money of a set of items in one group: exact cents, and at most how many households
// contribute (those of a group of items are at most those of its items together; exact for one
// item), which is all the truth says about a group of items.
struct Money {
  int64_t cents = 0;
  int64_t contributors_at_most = 0;
  bool Sensitive() const { return cents != 0 && contributors_at_most < kMinCell; }
};

std::string ItemName(const std::string& outcome_or_cost, int year) {
  return outcome_or_cost + "@" + std::to_string(year);
}

// docs/analysis.md "Cost-benefit", implemented once more over the truth's sums.
class ExpectedCostBenefit {
 public:
  // The valued outcomes are those the truth has items of, in the design's order; the design's
  // list must be exactly them.
  ExpectedCostBenefit(Design design, GroupTruth cohort, std::optional<GroupTruth> comparison)
      : spec_(std::move(design)), cohort_(std::move(cohort)), comparison_(std::move(comparison)) {
    EXPECT_EQ(spec_.comparison, comparison_.has_value());
    std::set<std::string> in_truth;
    for (const auto& [item, sum] : cohort_.items) {
      const std::string name = item.substr(0, item.find('@'));
      if (std::none_of(spec_.costs.begin(), spec_.costs.end(),
                       [&](const Design::Cost& c) { return c.name == name; })) {
        in_truth.insert(name);
      }
    }
    for (const Design::Outcome& o : spec_.valued) {
      if (in_truth.erase(o.name) == 0) {
        ADD_FAILURE() << "the truth has no items of outcome " << o.name;
        continue;
      }
      valued_.push_back(o);
      AddPayer(o.payer);
    }
    for (const std::string& name : in_truth) ADD_FAILURE() << "the design lacks outcome " << name;
    pm_ = spec_.pm;
    for (const Design::Cost& c : spec_.costs) AddPayer(c.payer);
  }

  bool comparison() const { return comparison_.has_value(); }
  int64_t cohort_households() const { return cohort_.households; }

  // Columns and rows of each view, in the order the tables must have them.
  std::vector<std::string> OutcomeColumns() const {
    std::vector<std::string> columns;
    for (const Design::Window& w : spec_.windows) {
      columns.push_back(analysis::CbWindowColumn(w.label));
    }
    if (comparison()) {
      for (const Design::Window& w : spec_.windows) {
        columns.push_back(analysis::CbComparisonColumn(w.label));
      }
    }
    columns.emplace_back(analysis::kCbBenefitNpvColumn);
    columns.emplace_back(analysis::kCbCostNpvColumn);
    return columns;
  }
  std::vector<std::string> OutcomeRows() const {
    std::vector<std::string> rows = {std::string(analysis::kCbHouseholdsRow)};
    for (const Valued& o : valued_) rows.push_back(o.name);
    for (const Design::Cost& c : spec_.costs) rows.push_back(c.name);
    for (const std::string& o : pm_) rows.push_back(std::string(analysis::kCbPmPrefix) + o);
    return rows;
  }
  std::vector<std::string> PayerColumns() const {
    std::vector<std::string> columns = {std::string(analysis::kCbCohortColumn)};
    if (comparison()) columns.emplace_back(analysis::kCbComparisonColumn);
    for (std::string_view c : {analysis::kCbCostsColumn, analysis::kCbBenefitsColumn,
                               analysis::kCbSaldoColumn, analysis::kCbRatioColumn}) {
      columns.emplace_back(c);
    }
    return columns;
  }
  std::vector<std::string> PayerRows() const {
    std::vector<std::string> rows = payers_;
    rows.emplace_back(analysis::kCbTotalRow);
    return rows;
  }
  std::vector<std::string> SensitivityColumns() const {
    return {std::string(analysis::kCbSaldoBaseColumn), std::string(analysis::kCbSaldoLowColumn),
            std::string(analysis::kCbSaldoHighColumn), std::string(analysis::kCbRatioBaseColumn),
            std::string(analysis::kCbRatioLowColumn),  std::string(analysis::kCbRatioHighColumn)};
  }
  std::vector<std::string> SensitivityRows() const {
    std::vector<std::string> rows;
    for (const Design::Range& r : spec_.sensitivity) rows.push_back(r.label);
    rows.emplace_back(analysis::kSensitivityRangeRow);
    return rows;
  }

  // The expected figure of a row and column of each view.
  Figure Outcomes(const std::string& row, const std::string& column) const {
    const int window = WindowOfColumn(column, false);
    const int comparison_window = WindowOfColumn(column, true);
    const bool benefit = column == analysis::kCbBenefitNpvColumn;
    const bool cost = column == analysis::kCbCostNpvColumn;
    if (row.starts_with(analysis::kCbPmPrefix)) return Figure::Pm();
    if (row == analysis::kCbHouseholdsRow) {
      if (window >= 0) return Figure::Count(cohort_.households);
      if (comparison_window >= 0) return Figure::Count(comparison_->households);
      return Figure::Empty();
    }
    for (const Valued& o : valued_) {
      if (o.name != row) continue;
      if (window >= 0) {
        const Money m = Sum(cohort_, {o.name}, Years(window));
        return Figure::Amount(Euro(m.cents), m.Sensitive());
      }
      if (comparison_window >= 0) {
        const Money m = Sum(*comparison_, {o.name}, Years(comparison_window));
        return Figure::Amount(Scale() * Euro(m.cents), m.Sensitive() || CountsSensitive());
      }
      if (benefit) return Benefit({o.name}, spec_.rate);
      return Figure::Empty();
    }
    for (const Design::Cost& c : spec_.costs) {
      if (c.name != row) continue;
      if (window >= 0) {
        const Design::Window& w = spec_.windows[static_cast<size_t>(window)];
        if (w.first_year > 1 || w.last_year < 1) return Figure::Empty();
        return Costs({c.name});
      }
      if (cost) return Costs({c.name});
      return Figure::Empty();
    }
    ADD_FAILURE() << "no outcome row " << row;
    return Figure::Empty();
  }

  Figure Payers(const std::string& row, const std::string& column) const {
    if (column == analysis::kCbCohortColumn) return Figure::Count(cohort_.households);
    if (column == analysis::kCbComparisonColumn) return Figure::Count(comparison_->households);
    const bool total = row == analysis::kCbTotalRow;
    std::vector<std::string> outcomes;
    for (const Valued& o : valued_) {
      if (total || o.payer == row) outcomes.push_back(o.name);
    }
    std::vector<std::string> costs;
    for (const Design::Cost& c : spec_.costs) {
      if (total || c.payer == row) costs.push_back(c.name);
    }
    const Figure b = outcomes.empty() ? Figure::Amount(0, false) : Benefit(outcomes, spec_.rate);
    // A payer without intervention costs: a released 0 that no cell is behind.
    const Figure k = costs.empty() ? Figure::Amount(0, false) : Costs(costs);
    if (column == analysis::kCbCostsColumn) return k;
    if (column == analysis::kCbBenefitsColumn) return b;
    if (column == analysis::kCbSaldoColumn) return Saldo(b, k);
    if (column == analysis::kCbRatioColumn) return Ratio(b, k);
    ADD_FAILURE() << "no payer column " << column;
    return Figure::Empty();
  }

  Figure Sensitivity(const std::string& row, const std::string& column) const {
    const Figure b = TotalBenefit(spec_.rate);
    const Figure k = TotalCosts();
    if (column == analysis::kCbSaldoBaseColumn) return Saldo(b, k);
    if (column == analysis::kCbRatioBaseColumn) return Ratio(b, k);
    const bool saldo =
        column == analysis::kCbSaldoLowColumn || column == analysis::kCbSaldoHighColumn;
    const bool low = column == analysis::kCbSaldoLowColumn || column == analysis::kCbRatioLowColumn;
    if (row == analysis::kSensitivityRangeRow) {
      // The lowest and highest figure over every range's low and high ends.
      std::optional<Figure> extreme;
      bool must_suppress = false;
      for (const Design::Range& r : spec_.sensitivity) {
        for (double f : {r.low, r.high}) {
          const auto [b2, k2] = Varied(r, f);
          const Figure x = saldo ? Saldo(b2, k2) : Ratio(b2, k2);
          must_suppress = must_suppress || b2.must_suppress || k2.must_suppress;
          if (x.kind == Figure::Kind::kEmpty) continue;
          if (!extreme || (low ? x.value < extreme->value : x.value > extreme->value)) extreme = x;
        }
      }
      if (!extreme) return Figure::Empty();
      extreme->must_suppress = must_suppress;
      return *extreme;
    }
    for (const Design::Range& r : spec_.sensitivity) {
      if (r.label != row) continue;
      const auto [b2, k2] = Varied(r, low ? r.low : r.high);
      return saldo ? Saldo(b2, k2) : Ratio(b2, k2);
    }
    ADD_FAILURE() << "no sensitivity row " << row;
    return Figure::Empty();
  }

 private:
  using Valued = Design::Outcome;

  void AddPayer(const std::string& payer) {
    if (std::find(payers_.begin(), payers_.end(), payer) == payers_.end()) {
      payers_.push_back(payer);
    }
  }
  static double Euro(int64_t cents) { return static_cast<double>(cents) / 100; }

  // The window whose cohort (or comparison) column this is; -1 when none.
  int WindowOfColumn(const std::string& column, bool comparison) const {
    for (size_t w = 0; w < spec_.windows.size(); ++w) {
      const std::string label = comparison ? analysis::CbComparisonColumn(spec_.windows[w].label)
                                           : analysis::CbWindowColumn(spec_.windows[w].label);
      if (column == label) return static_cast<int>(w);
    }
    return -1;
  }
  std::vector<int> Years(int window) const {
    const Design::Window& w = spec_.windows[static_cast<size_t>(window)];
    std::vector<int> years;
    for (int k = w.first_year; k <= w.last_year; ++k) {
      if (k != 0) years.push_back(k);
    }
    return years;
  }

  // S_G(X): the items of `names` (outcomes or costs) in `years`.
  static Money Sum(const GroupTruth& group, const std::vector<std::string>& names,
                   const std::vector<int>& years) {
    Money m;
    for (const std::string& name : names) {
      for (int k : years) {
        auto it = group.items.find(ItemName(name, k));
        EXPECT_NE(it, group.items.end()) << "the truth has no item " << ItemName(name, k);
        if (it == group.items.end()) continue;
        m.cents += it->second.first;
        m.contributors_at_most += it->second.second;
      }
    }
    return m;
  }
  double Scale() const {
    return static_cast<double>(cohort_.households) / static_cast<double>(comparison_->households);
  }
  bool CountsSensitive() const {
    return Figure::Count(cohort_.households).must_suppress ||
           Figure::Count(comparison_->households).must_suppress;
  }

  // B(O) at rate r: sum over k = 1..horizon of d_k times the cohort's drop from the year before
  // to year k, less the comparison's drop scaled to the cohort's size.
  Figure Benefit(const std::vector<std::string>& outcomes, double rate) const {
    const Money before = Sum(cohort_, outcomes, {-1});
    bool must_suppress = before.Sensitive();
    std::optional<Money> comparison_before;
    if (comparison()) {
      comparison_before = Sum(*comparison_, outcomes, {-1});
      must_suppress = must_suppress || comparison_before->Sensitive() || CountsSensitive();
    }
    double benefit = 0;
    for (int k = 1; k <= spec_.horizon; ++k) {
      const double d = std::pow(1 + rate, -(k - 1));
      const Money after = Sum(cohort_, outcomes, {k});
      must_suppress = must_suppress || after.Sensitive();
      double drop = Euro(before.cents - after.cents);
      if (comparison()) {
        const Money comparison_after = Sum(*comparison_, outcomes, {k});
        must_suppress = must_suppress || comparison_after.Sensitive();
        drop -= Scale() * Euro(comparison_before->cents - comparison_after.cents);
      }
      benefit += d * drop;
    }
    return Figure::Amount(benefit, must_suppress);
  }
  Figure TotalBenefit(double rate) const {
    std::vector<std::string> all;
    for (const Valued& o : valued_) all.push_back(o.name);
    return Benefit(all, rate);
  }
  // K(C) = S_coh(C, 1): intervention costs fall in year 1, undiscounted.
  Figure Costs(const std::vector<std::string>& costs) const {
    const Money m = Sum(cohort_, costs, {1});
    return Figure::Amount(Euro(m.cents), m.Sensitive());
  }
  Figure TotalCosts() const {
    std::vector<std::string> all;
    for (const Design::Cost& c : spec_.costs) all.push_back(c.name);
    return all.empty() ? Figure::Amount(0, false) : Costs(all);
  }
  static Figure Saldo(const Figure& b, const Figure& k) {
    return Figure::Amount(b.value - k.value, b.must_suppress || k.must_suppress);
  }
  static Figure Ratio(const Figure& b, const Figure& k) {
    if (k.value <= 0) return Figure::Empty();
    return {Figure::Kind::kRatio, b.value / k.value, b.must_suppress || k.must_suppress};
  }

  // The total benefit and costs with range `r` at factor (or rate) `f`.
  std::pair<Figure, Figure> Varied(const Design::Range& r, double f) const {
    using Varies = Design::Range::Varies;
    Figure b = TotalBenefit(spec_.rate);
    Figure k = TotalCosts();
    switch (r.varies) {
      case Varies::kAllPrices:
      case Varies::kEffect:
        b.value *= f;
        break;
      case Varies::kPrice: {
        std::vector<std::string> priced;
        for (const Valued& o : valued_) {
          if (o.price == r.price) priced.push_back(o.name);
        }
        if (!priced.empty()) {
          const Figure part = Benefit(priced, spec_.rate);
          b.value += (f - 1) * part.value;
          b.must_suppress = b.must_suppress || part.must_suppress;
        }
        break;
      }
      case Varies::kRate:
        b = TotalBenefit(f);
        break;
      case Varies::kCosts:
        k.value *= f;
        break;
    }
    return {b, k};
  }

  const Design spec_;
  GroupTruth cohort_;
  std::optional<GroupTruth> comparison_;
  std::vector<Valued> valued_;
  std::vector<std::string> pm_;
  std::vector<std::string> payers_;
};

// A table as `koppel query --format csv` writes it.
struct CsvTable {
  std::vector<std::string> header;  // the row heading, then the columns
  std::vector<std::vector<std::string>> rows;
};

CsvTable ReadCsvTable(const fs::path& path) {
  CsvTable table;
  absl::StatusOr<std::unique_ptr<CsvReader>> reader = CsvReader::Open(path, CsvOptions());
  EXPECT_TRUE(reader.ok()) << path << ": " << reader.status();
  if (!reader.ok()) return table;
  CsvRecord record;
  for (;;) {
    absl::StatusOr<bool> next = (*reader)->Next(&record);
    EXPECT_TRUE(next.ok()) << path << ": " << next.status();
    if (!next.ok() || !*next) break;
    EXPECT_EQ(record.problem, RejectReason::kNone) << path << " line " << record.line;
    std::vector<std::string> fields(record.fields.begin(), record.fields.end());
    if (table.header.empty()) {
      table.header = std::move(fields);
    } else {
      table.rows.push_back(std::move(fields));
    }
  }
  return table;
}

// What the cells of one view showed.
struct Tally {
  int released = 0;
  int suppressed = 0;
  int must_suppress = 0;
};

using ExpectedCell = Figure (ExpectedCostBenefit::*)(const std::string&, const std::string&) const;

// The released table `name` of `release_dir` against the expectation: heading, columns and rows
// exactly (nothing else: no household's row), every cell that must be suppressed suppressed,
// every released figure equal to it (money to the cent, ratios to two decimals).
void ExpectReleasedTable(const fs::path& release_dir, const std::string& name,
                         std::string_view row_heading, const std::vector<std::string>& columns,
                         const std::vector<std::string>& rows, const ExpectedCostBenefit& expected,
                         ExpectedCell cell_of, Tally* tally) {
  SCOPED_TRACE(name);
  const CsvTable table = ReadCsvTable(release_dir / (name + ".csv"));
  std::vector<std::string> header = {std::string(row_heading)};
  header.insert(header.end(), columns.begin(), columns.end());
  ASSERT_EQ(table.header, header);
  std::vector<std::string> labels;
  for (const std::vector<std::string>& row : table.rows) labels.push_back(row.at(0));
  ASSERT_EQ(labels, rows);
  for (const std::vector<std::string>& row : table.rows) {
    ASSERT_EQ(row.size(), header.size()) << row[0];
    for (size_t c = 0; c < columns.size(); ++c) {
      const std::string& text = row[c + 1];
      const Figure want = (expected.*cell_of)(row[0], columns[c]);
      SCOPED_TRACE(row[0] + " / " + columns[c] + ": '" + text + "'");
      if (want.kind == Figure::Kind::kPm) {
        EXPECT_EQ(text, "PM");
        continue;
      }
      if (want.kind == Figure::Kind::kEmpty) {
        EXPECT_EQ(text, "");
        continue;
      }
      if (want.must_suppress) {
        ++tally->must_suppress;
        EXPECT_EQ(text, "*") << "rests on a sum or count below min_cell " << kMinCell;
      }
      if (text == "*") {
        ++tally->suppressed;
        continue;
      }
      ++tally->released;
      double value = 0;
      ASSERT_TRUE(absl::SimpleAtod(text, &value)) << "not a number";
      switch (want.kind) {
        case Figure::Kind::kCount:
          EXPECT_EQ(value, want.value);
          EXPECT_TRUE(value == 0 || value >= kMinCell);
          break;
        case Figure::Kind::kAmount:
          EXPECT_NEAR(value, want.value, 0.005 + 1e-9 * std::abs(want.value))
              << "expected " << want.value;
          break;
        case Figure::Kind::kRatio:
          EXPECT_NEAR(value, want.value, 0.005 + 1e-9) << "expected " << want.value;
          EXPECT_EQ(text.size() - text.find('.'), 3u) << "two decimals";
          break;
        default:
          break;
      }
    }
  }
}

// The engine's unprotected table `name` against the expectation, every cell exactly.
void ExpectEngineTable(const analysis::AnalysisResult& result, const std::string& name,
                       std::string_view row_heading, const std::vector<std::string>& columns,
                       const std::vector<std::string>& rows, const ExpectedCostBenefit& expected,
                       ExpectedCell cell_of) {
  SCOPED_TRACE("engine " + name);
  const analysis::ResultTable* table = result.FindTable(name);
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->row_heading, row_heading);
  ASSERT_EQ(table->columns, columns);
  std::vector<std::string> labels;
  for (const analysis::ResultRow& row : table->rows) labels.push_back(row.label);
  ASSERT_EQ(labels, rows);
  for (const analysis::ResultRow& row : table->rows) {
    for (size_t c = 0; c < columns.size(); ++c) {
      const analysis::ResultCell& cell = row.cells.at(c);
      const Figure want = (expected.*cell_of)(row.label, columns[c]);
      SCOPED_TRACE(row.label + " / " + columns[c]);
      switch (want.kind) {
        case Figure::Kind::kEmpty:
          EXPECT_EQ(cell.kind, analysis::ResultKind::kEmpty);
          break;
        case Figure::Kind::kPm:
          EXPECT_EQ(cell.kind, analysis::ResultKind::kPm);
          EXPECT_TRUE(cell.sources.empty());
          break;
        case Figure::Kind::kCount:
          EXPECT_EQ(cell.kind, analysis::ResultKind::kCount);
          EXPECT_EQ(cell.value, want.value);
          break;
        case Figure::Kind::kAmount:
          EXPECT_EQ(cell.kind, analysis::ResultKind::kAmount);
          EXPECT_NEAR(cell.value, want.value, 1e-6 + 1e-12 * std::abs(want.value));
          break;
        case Figure::Kind::kRatio:
          EXPECT_EQ(cell.kind, analysis::ResultKind::kRatio);
          EXPECT_NEAR(cell.value, want.value, 1e-9);
          break;
      }
    }
  }
}

struct View {
  std::string table;
  std::string_view row_heading;
  std::vector<std::string> (ExpectedCostBenefit::*columns)() const;
  std::vector<std::string> (ExpectedCostBenefit::*rows)() const;
  ExpectedCell cell_of;
};

const std::vector<View>& Views() {
  static const std::vector<View> views = {
      {"cost_benefit_outcomes", analysis::kCbOutcomeRowHeading,
       &ExpectedCostBenefit::OutcomeColumns, &ExpectedCostBenefit::OutcomeRows,
       &ExpectedCostBenefit::Outcomes},
      {"who_pays_who_gains", analysis::kCbPayerRowHeading, &ExpectedCostBenefit::PayerColumns,
       &ExpectedCostBenefit::PayerRows, &ExpectedCostBenefit::Payers},
      {"cost_benefit_sensitivity", analysis::kSensitivityRowHeading,
       &ExpectedCostBenefit::SensitivityColumns, &ExpectedCostBenefit::SensitivityRows,
       &ExpectedCostBenefit::Sensitivity}};
  return views;
}

class CostBenefitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    municipality_ = new DeliveredMunicipality(
        kSynthFlags, {{kBeforeAfterFile, BeforeAfterSpec()}, {kThreeYearsFile, ThreeYearsSpec()}});
  }
  static void TearDownTestSuite() { delete municipality_; }

  static json Truth() {
    return json::parse(ReadFile(municipality_->dir() / "m/truth/cost_benefit.json"));
  }
  static std::string VariantPath(const std::string& file) {
    return (municipality_->dir() / "analyses" / file).string();
  }

  // Queries `spec_path` as csv into `out` and checks every table against `expected`, counting
  // per table; returns the query (its stderr is scanned for identifiers).
  static ProcessResult ExpectRelease(const std::string& spec_path, const fs::path& out,
                                     const ExpectedCostBenefit& expected,
                                     std::map<std::string, Tally>* tallies) {
    ProcessResult query = municipality_->Query(spec_path, "csv", out.string());
    EXPECT_EQ(query.exit_code, 0) << query.err;
    if (query.exit_code != 0) return query;
    std::set<std::string> files;
    for (const fs::directory_entry& entry : fs::directory_iterator(out)) {
      files.insert(entry.path().filename().string());
    }
    EXPECT_EQ(files,
              (std::set<std::string>{"cost_benefit_outcomes.csv", "who_pays_who_gains.csv",
                                     "cost_benefit_sensitivity.csv", "release-metadata.json"}));
    for (const View& view : Views()) {
      ExpectReleasedTable(out, view.table, view.row_heading, (expected.*view.columns)(),
                          (expected.*view.rows)(), expected, view.cell_of, &(*tallies)[view.table]);
    }
    // The PM outcome is named in the release's warnings.
    const json metadata = json::parse(ReadFile(out / "release-metadata.json"));
    bool pm_warned = false;
    for (const json& warning : metadata["metadata"]["warnings"]) {
      pm_warned = pm_warned || warning.get<std::string>().starts_with(
                                   "outcome 'quality_of_life' is not valued (PM): ");
    }
    EXPECT_TRUE(pm_warned) << metadata.dump(2);
    return query;
  }

  static DeliveredMunicipality* municipality_;
};
DeliveredMunicipality* CostBenefitTest::municipality_ = nullptr;

TEST_F(CostBenefitTest, TruthDescribesACohortWithAComparisonGroup) {
  const json truth = Truth();
  EXPECT_EQ(truth["reference_date"], "2014-12-31");
  const GroupTruth cohort = GroupOf(truth["groups"]["cohort"]);
  const GroupTruth comparison = GroupOf(truth["groups"]["comparison"]);
  const GroupTruth all = GroupOf(truth["cohort_all"]);
  EXPECT_GE(cohort.households, 3 * kMinCell) << "the test needs a cohort whose totals are released";
  EXPECT_GT(comparison.households, cohort.households);
  EXPECT_EQ(all.households,
            cohort.households + truth["groups"]["unmatched"]["households"].get<int64_t>());
  // The 4 valued outcomes in years -1, 1..4, and the two intervention costs in year 1.
  std::set<std::string> names;
  for (const auto& [name, sum] : cohort.items) names.insert(name);
  std::set<std::string> want = {"coaching@1", "debt_help@1"};
  for (const Design::Outcome& o : ShippedDesign().valued) {
    for (int k : {-1, 1, 2, 3, 4}) want.insert(ItemName(o.name, k));
  }
  EXPECT_EQ(names, want);
  // Every cohort household pays for the intervention in year 1, per household.
  EXPECT_EQ(cohort.items.at("coaching@1").first, 197500 * cohort.households);
  EXPECT_EQ(cohort.items.at("coaching@1").second, cohort.households);
  EXPECT_EQ(cohort.items.at("debt_help@1").first, 80000 * cohort.households);
  // The comparison group has no intervention (the truth may list its items as 0 or not at all).
  if (auto it = comparison.items.find("coaching@1"); it != comparison.items.end()) {
    EXPECT_EQ(it->second.first, 0);
  }
}

TEST_F(CostBenefitTest, EngineTablesEqualTheTruthWithAComparisonGroup) {
  const json truth = Truth();
  const ExpectedCostBenefit expected(ShippedDesign(), GroupOf(truth["groups"]["cohort"]),
                                     GroupOf(truth["groups"]["comparison"]));
  absl::StatusOr<analysis::AnalysisResult> result = municipality_->RunEngine(kSpec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->units.empty());
  for (const View& view : Views()) {
    ExpectEngineTable(*result, view.table, view.row_heading, (expected.*view.columns)(),
                      (expected.*view.rows)(), expected, view.cell_of);
  }
}

// The engine without disclosure control (no release history): the before/after design is
// refused as a release under the covenant that released the comparison design (below).
TEST_F(CostBenefitTest, EngineTablesEqualTheTruthBeforeAndAfter) {
  const json truth = Truth();
  const ExpectedCostBenefit expected(BeforeAfterDesign(), GroupOf(truth["cohort_all"]),
                                     std::nullopt);
  absl::StatusOr<analysis::AnalysisResult> result =
      municipality_->RunEngine(VariantPath(kBeforeAfterFile));
  ASSERT_TRUE(result.ok()) << result.status();
  for (const View& view : Views()) {
    ExpectEngineTable(*result, view.table, view.row_heading, (expected.*view.columns)(),
                      (expected.*view.rows)(), expected, view.cell_of);
  }
}

// The csv cell of `row` and `column` of a released table; "?" when there is none.
std::string ReleasedCell(const fs::path& release_dir, const std::string& table,
                         const std::string& row, const std::string& column) {
  const CsvTable t = ReadCsvTable(release_dir / (table + ".csv"));
  const auto c = std::find(t.header.begin(), t.header.end(), column);
  if (c == t.header.end()) return "?";
  for (const std::vector<std::string>& r : t.rows) {
    if (!r.empty() && r[0] == row) return r.at(static_cast<size_t>(c - t.header.begin()));
  }
  return "?";
}

// Through `koppel query`, one after the other under one covenant: the shipped spec, then the
// before/after variant (another cohort design: refused), then the shipped design over three
// years (released, its figures of the same cells equal the first release's); then a scan of
// everything the run wrote and every query's stderr.
TEST_F(CostBenefitTest, ReleasesEqualTheTruthWhereReleasedAndLeakNothing) {
  const json truth = Truth();
  const GroupTruth cohort = GroupOf(truth["groups"]["cohort"]);
  const GroupTruth comparison = GroupOf(truth["groups"]["comparison"]);
  const fs::path d = municipality_->dir();
  std::vector<std::pair<std::string, ProcessResult>> queries;

  const fs::path first = d / "release-comparison";
  std::map<std::string, Tally> tallies;
  {
    SCOPED_TRACE("with a comparison group");
    const ExpectedCostBenefit expected(ShippedDesign(), cohort, comparison);
    queries.emplace_back("comparison", ExpectRelease(kSpec, first, expected, &tallies));
  }
  // Released cells per table of the first release, at least (the test's municipality has
  // bijstand days in every year for 30 or more cohort households and 1,000 or more comparison
  // households; out-of-home days for at most 3 cohort households): outcomes: the counts (3 + 3),
  // the intervention costs (every cohort household contributes) in their window and cost column
  // (2 x 2), bijstand days in every window, its comparison and its benefit (3 + 3 + 1); payers:
  // the counts (2 per row), the costs column of every row (0 without costs), the total's
  // benefits, saldo and ratio; sensitivity: saldo and ratio at base in every row (6 x 2), and
  // the low and high ends of the ranges over totals (prices, rate, effect, costs: 4 x 4), not
  // those of the out-of-home day price (its sums are small) nor the range row.
  constexpr int kOutcomesReleased = 6 + 4 + 7;
  constexpr int kPayersReleased = 2 * 6 + 6 + 3;
  constexpr int kSensitivityReleased = 6 * 2 + 4 * 4;
  EXPECT_GE(tallies["cost_benefit_outcomes"].released, kOutcomesReleased);
  EXPECT_GE(tallies["who_pays_who_gains"].released, kPayersReleased);
  EXPECT_GE(tallies["cost_benefit_sensitivity"].released, kSensitivityReleased);
  int must_suppress = 0;
  for (const auto& [table, tally] : tallies) must_suppress += tally.must_suppress;
  EXPECT_GT(must_suppress, 0) << "the test needs sums of fewer than min_cell households";

  // Before/after counts the unmatched cohort households too: differencing it with the
  // comparison design could isolate them, so the covenant refuses it, and writes nothing.
  {
    SCOPED_TRACE("before and after, after the comparison design");
    const fs::path out = d / "release-before-after";
    ProcessResult refused =
        municipality_->Query(VariantPath(kBeforeAfterFile), "csv", out.string());
    EXPECT_EQ(refused.exit_code, 7) << refused.err;
    EXPECT_TRUE(absl::StrContains(refused.err, "cohort design")) << refused.err;
    EXPECT_TRUE(absl::StrContains(refused.err, "differs in: comparison")) << refused.err;
    EXPECT_TRUE(absl::StrContains(refused.err, "(rule: analysis.disclosure)")) << refused.err;
    EXPECT_TRUE(!fs::exists(out) || fs::is_empty(out)) << "a refused query writes nothing";
    queries.emplace_back("before/after", std::move(refused));
  }

  // The same design over another horizon is released; what it shows of the same sums (the
  // counts, the first two windows, the intervention costs) is what the first release showed.
  {
    SCOPED_TRACE("the same design over three years");
    const fs::path out = d / "release-three-years";
    const ExpectedCostBenefit expected(ThreeYearsDesign(), cohort, comparison);
    std::map<std::string, Tally> three_years;
    queries.emplace_back("three years",
                         ExpectRelease(VariantPath(kThreeYearsFile), out, expected, &three_years));
    EXPECT_GE(three_years["cost_benefit_outcomes"].released, kOutcomesReleased);
    EXPECT_GE(three_years["who_pays_who_gains"].released, kPayersReleased);
    EXPECT_GE(three_years["cost_benefit_sensitivity"].released, kSensitivityReleased);
    std::vector<std::string> outcome_rows = {std::string(analysis::kCbHouseholdsRow)};
    for (const Design::Outcome& o : ShippedDesign().valued) outcome_rows.push_back(o.name);
    for (const Design::Cost& c : ShippedDesign().costs) outcome_rows.push_back(c.name);
    int compared = 0;
    for (const std::string& row : outcome_rows) {
      for (std::string_view window : {"year_before", "first_12_months"}) {
        for (const std::string& column :
             {analysis::CbWindowColumn(window), analysis::CbComparisonColumn(window)}) {
          const std::string was = ReleasedCell(first, "cost_benefit_outcomes", row, column);
          EXPECT_EQ(ReleasedCell(out, "cost_benefit_outcomes", row, column), was)
              << row << " / " << column;
          compared += was != "" && was != "*";
        }
      }
    }
    for (const Design::Cost& c : ShippedDesign().costs) {
      const std::string column(analysis::kCbCostNpvColumn);
      EXPECT_EQ(ReleasedCell(out, "cost_benefit_outcomes", c.name, column),
                ReleasedCell(first, "cost_benefit_outcomes", c.name, column))
          << c.name;
    }
    for (const std::string& row :
         ExpectedCostBenefit(ShippedDesign(), cohort, comparison).PayerRows()) {
      for (std::string_view column :
           {analysis::kCbCohortColumn, analysis::kCbComparisonColumn, analysis::kCbCostsColumn}) {
        const std::string was = ReleasedCell(first, "who_pays_who_gains", row, std::string(column));
        EXPECT_EQ(ReleasedCell(out, "who_pays_who_gains", row, std::string(column)), was)
            << row << " / " << column;
        compared += was != "" && was != "*";
      }
    }
    // The counts (4 outcome cells, 12 payer cells), coaching and debt help in the first 12
    // months, and the costs column of every payer row.
    EXPECT_GE(compared, 4 + 12 + 2 + 6) << "released figures of the same cells compared";
  }

  test::PlaintextScanner scanner =
      test::PlaintextScanner::FromPopulation(d / "m/truth/population.csv");
  std::vector<test::Leak> leaks;
  size_t files = 0;
  scanner.ScanTree(d, {d / "m"}, &leaks, &files);
  EXPECT_GT(files, 20u);
  for (const auto& [name, query] : queries) {
    scanner.ScanText(query.err, "stderr of the " + name + " query", &leaks);
    scanner.ScanText(query.out, "stdout of the " + name + " query", &leaks);
  }
  for (const test::Leak& leak : leaks) {
    ADD_FAILURE() << leak.kind << " in " << leak.where << " at " << leak.offset;
  }
}

}  // namespace
}  // namespace koppel
