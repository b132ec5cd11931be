// The analysis engine's parts on their own, with hand-made inputs: the planner (what a spec
// makes the engine read and compute) and the table builder (from households to tables), and the
// rule that keeps linker/analysis free of the linker's own headers.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/civil_date.h"
#include "core/status_macros.h"
#include "linker/analysis/analysis_planner.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/households.h"
#include "linker/analysis/prices.h"
#include "linker/analysis/result_builder.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;

constexpr char kRegister[] =
    "register: {dataset: brp, birth_date: geboortedatum, area: wijk, address_from: adres_van, "
    "address_to: adres_tot}\n";

analysis::AnalysisSpec SpecOf(const std::string& yaml) {
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "spec.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : analysis::AnalysisSpec{};
}

analysis::PriceTable PricesOf(const std::string& csv) {
  absl::StatusOr<analysis::PriceTable> prices = analysis::ParsePrices(csv, "prices.csv");
  EXPECT_TRUE(prices.ok()) << prices.status();
  return prices.ok() ? *prices : analysis::PriceTable{};
}

// Indicators over two datasets and the register, and cost items of every kind of volume.
std::string CostsSpec() {
  return std::string("analysis: parts\nreference_dates: [2014-12-31, 2015-12-31]\n") + kRegister +
         "populations:\n  households: {}\n"
         "indicators:\n"
         "  moves: {moves_at_least: 2}\n"
         "  offence: {dataset: politie, date: pleegdatum}\n"
         "  care: {dataset: zorg, year: jaar, year_offset: -1}\n"
         "  adult_offence: {dataset: politie, date: pleegdatum, members: adults}\n"
         "prices: prices.csv\n"
         "costs:\n  items:\n"
         "    offences: {indicator: offence, volume: records, price_by: feit, payer: justice}\n"
         "    care: {indicator: care, volume: amount, amount: kosten, payer: insurer}\n"
         "    moving: {indicator: moves, volume: units, prices: [moving_household], payer: city}\n"
         "tables:\n"
         "  - {name: by_item, kind: costs, population: households, total: total,\n"
         "     columns: [{label: all}]}\n";
}

constexpr char kPricesCsv[] =
    "cost_item,unit,price_eur_2014\nmoving_household,per household,512.40\n"
    "diefstal,per offence,100.00\n";

const analysis::DatasetPlan* PlanOf(const analysis::AnalysisPlan& plan,
                                    const std::string& dataset) {
  for (const analysis::DatasetPlan& d : plan.datasets) {
    if (d.name == dataset) return &d;
  }
  return nullptr;
}

TEST(PlannerTest, ReadsTheRegisterFirstAndEveryOtherDatasetOnceForItsIndicators) {
  const analysis::AnalysisSpec spec = SpecOf(CostsSpec());
  absl::StatusOr<analysis::AnalysisPlan> plan = analysis::PlanAnalysis(spec, PricesOf(kPricesCsv));
  ASSERT_TRUE(plan.ok()) << plan.status();

  ASSERT_EQ(plan->datasets.size(), 3u);
  const analysis::DatasetPlan& brp = plan->datasets[0];
  EXPECT_EQ(brp.name, "brp");
  EXPECT_TRUE(brp.is_register);
  EXPECT_EQ(brp.attributes,
            (std::vector<std::string>{"geboortedatum", "wijk", "adres_van", "adres_tot"}));
  EXPECT_EQ(plan->register_slots.birth, 0);
  EXPECT_EQ(plan->register_slots.area, 1);
  EXPECT_EQ(plan->register_slots.from, 2);
  EXPECT_EQ(plan->register_slots.to, 3);
  EXPECT_EQ(plan->register_slots.moves, -1);
  EXPECT_TRUE(brp.indicators.empty());  // moves is computed from the register rows

  // Both politie indicators read one dataset; the cost item priced by code adds its attribute.
  const analysis::DatasetPlan* politie = PlanOf(*plan, "politie");
  ASSERT_NE(politie, nullptr);
  EXPECT_FALSE(politie->is_register);
  EXPECT_EQ(politie->attributes, (std::vector<std::string>{"pleegdatum", "feit"}));
  ASSERT_EQ(politie->indicators.size(), 2u);
  EXPECT_EQ(politie->indicators[0].index, 1u);  // offence
  EXPECT_EQ(politie->indicators[1].index, 3u);  // adult_offence
  ASSERT_EQ(politie->costs_at.size(), 2u);
  ASSERT_EQ(politie->costs_at[0].size(), 1u);
  EXPECT_EQ(politie->costs_at[0][0].item, 0u);
  EXPECT_EQ(politie->costs_at[0][0].price_slot, 1);
  EXPECT_TRUE(politie->costs_at[1].empty());

  const analysis::DatasetPlan* zorg = PlanOf(*plan, "zorg");
  ASSERT_NE(zorg, nullptr);
  EXPECT_EQ(zorg->attributes, (std::vector<std::string>{"jaar", "kosten"}));
  ASSERT_EQ(zorg->costs_at.size(), 1u);
  ASSERT_EQ(zorg->costs_at[0].size(), 1u);
  EXPECT_EQ(zorg->costs_at[0][0].volume, analysis::CostItemSpec::Volume::kAmount);
  EXPECT_EQ(zorg->costs_at[0][0].amount_slot, 1);

  // Prices: per record for price_by (the code's price comes later), none for amounts, the
  // prices file's for units.
  EXPECT_EQ(plan->item_price, (std::vector<double>{1, 0, 512.40}));
  EXPECT_EQ(plan->indicator_index.at("adult_offence"), 3u);

  // Windows: care looks a year back from each reference date.
  ASSERT_EQ(plan->reference_days.size(), 2u);
  EXPECT_EQ(plan->reference_days[0], DaysSinceEpoch(absl::CivilDay(2014, 12, 31)));
  EXPECT_EQ(plan->windows[2][0].year, 2013);
  EXPECT_EQ(plan->windows[2][1].year, 2014);
  EXPECT_EQ(plan->windows[1][1].first, DaysSinceEpoch(absl::CivilDay(2015, 1, 1)));
  EXPECT_EQ(plan->windows[1][1].last, DaysSinceEpoch(absl::CivilDay(2015, 12, 31)));
  EXPECT_EQ(plan->years_needed.at("politie"), (std::vector<int>{2014, 2015}));
  EXPECT_EQ(plan->years_needed.at("zorg"), (std::vector<int>{2013, 2014}));
  EXPECT_TRUE(plan->years_needed.at("brp").empty());
}

TEST(PlannerTest, RefusesCostItemsItCannotPrice) {
  const analysis::AnalysisSpec spec = SpecOf(CostsSpec());

  absl::StatusOr<analysis::AnalysisPlan> no_prices = analysis::PlanAnalysis(
      spec, PricesOf("cost_item,unit,price_eur_2014\ndiefstal,per offence,100.00\n"));
  EXPECT_EQ(no_prices.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_prices.status().message().find("moving_household"), std::string::npos)
      << no_prices.status();

  analysis::AnalysisSpec unknown = spec;
  unknown.cost_items[0].indicator = "nobody";
  absl::StatusOr<analysis::AnalysisPlan> refused =
      analysis::PlanAnalysis(unknown, PricesOf(kPricesCsv));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("unknown indicator 'nobody'"), std::string::npos)
      << refused.status();

  analysis::AnalysisSpec per_record = spec;
  per_record.cost_items[2].volume = analysis::CostItemSpec::Volume::kRecords;
  refused = analysis::PlanAnalysis(per_record, PricesOf(kPricesCsv));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("only be priced per unit"), std::string::npos)
      << refused.status();
}

v1::AttributeSchema Attribute(const std::string& name, v1::AttributeType type,
                              const std::vector<std::string>& codes = {}) {
  v1::AttributeSchema schema;
  schema.set_name(name);
  schema.set_type(type);
  for (const std::string& code : codes) schema.add_codes(code);
  return schema;
}

TEST(PlannerTest, ResolvesAPlanAgainstABatchAndNamesWhatTheBatchLacks) {
  const analysis::AnalysisSpec spec = SpecOf(CostsSpec());
  const analysis::PriceTable prices = PricesOf(kPricesCsv);
  absl::StatusOr<analysis::AnalysisPlan> plan = analysis::PlanAnalysis(spec, prices);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const analysis::DatasetPlan& politie = *PlanOf(*plan, "politie");

  v1::BatchHeader header;
  header.set_has_bsn(true);
  *header.add_attributes() = Attribute("feit", v1::ATTRIBUTE_TYPE_CATEGORY, {"diefstal"});
  *header.add_attributes() = Attribute("pleegdatum", v1::ATTRIBUTE_TYPE_DATE);
  absl::StatusOr<analysis::ResolvedBatch> resolved =
      analysis::ResolveBatch(politie, header, prices, true);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_TRUE(resolved->has_bsn);
  EXPECT_EQ(resolved->value_index, (std::vector<int>{1, 0}));  // slot -> value
  EXPECT_EQ(resolved->code_prices.at(0), (std::vector<double>{100.0}));

  v1::BatchHeader lacking;
  *lacking.add_attributes() = Attribute("feit", v1::ATTRIBUTE_TYPE_CATEGORY, {"diefstal"});
  resolved = analysis::ResolveBatch(politie, lacking, prices, true);
  EXPECT_EQ(resolved.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(resolved.status().message().find("no attribute 'pleegdatum'"), std::string::npos)
      << resolved.status();
}

// ---------------------------------------------------------------------------------------------
// The table builder.

constexpr char kTablesSpec[] =
    "analysis: tables\nreference_dates: [2014-12-31]\n"
    "register: {dataset: brp, birth_date: geboortedatum, area: wijk, address_from: adres_van, "
    "address_to: adres_tot}\n"
    "areas: {W02: Noord}\n"
    "household_types:\n  family: {adults: {min: 1}, children: {min: 1}}\n"
    "populations:\n  households: {}\n"
    "indicators:\n"
    "  offence: {dataset: politie, date: pleegdatum}\n"
    "prices: prices.csv\n"
    "costs:\n  items:\n"
    "    offences: {indicator: offence, volume: records, prices: [diefstal], payer: justice}\n"
    "tables:\n"
    "  - name: per_area\n"
    "    population: households\n"
    "    rows: area\n"
    "    total: all\n"
    "    columns:\n"
    "      - {label: n}\n"
    "      - {label: families, where: {household_type: family}}\n"
    "      - {label: offence, count: offence, percent: true}\n"
    "  - {name: by_item, kind: costs, population: households, total: total,\n"
    "     columns: [{label: all}]}\n";

analysis::HouseholdKey Key(char first) {
  analysis::HouseholdKey key{};
  key[0] = first;
  return key;
}

analysis::HouseholdAccumulatorT<1> Household(uint16_t area, uint16_t adults, uint16_t children,
                                             bool offence) {
  analysis::HouseholdAccumulatorT<1> household;
  household.area = area;
  household.adults = adults;
  household.children = children;
  if (offence) household.indicators.Set(0);
  return household;
}

class ResultBuilderTest : public ::testing::Test {
 protected:
  // Three households: a family in W02 with two offences, a single adult and a family in W01,
  // the family with one offence.
  absl::StatusOr<analysis::AnalysisResult> Build(const analysis::EngineOptions& options) {
    analysis::ResultBuilder<1> builder(spec_, options, item_price_, area_codes_, prices_,
                                       reference_days_);
    const analysis::CostVolumes two_records = {{0, 2.0}};
    const analysis::CostVolumes one_record = {{0, 1.0}};
    builder.AddHousehold(0, Key(1), Household(0, 2, 1, true), &two_records);
    builder.AddHousehold(0, Key(2), Household(1, 1, 0, false), nullptr);
    builder.AddHousehold(0, Key(3), Household(1, 1, 2, true), &one_record);
    analysis::AnalysisResult result;
    RETURN_IF_ERROR(builder.Finish(&result));
    return result;
  }

  const analysis::AnalysisSpec spec_ = SpecOf(kTablesSpec);
  const analysis::PriceTable prices_ = PricesOf(kPricesCsv);
  const std::vector<double> item_price_ = {100.0};
  const std::vector<std::string> area_codes_ = {"W02", "W01"};  // area index -> code
  const std::vector<int> reference_days_ = {DaysSinceEpoch(absl::CivilDay(2014, 12, 31))};
};

const analysis::ResultCell& CellAt(const analysis::AnalysisResult& result, const std::string& table,
                                   const std::string& row, const std::string& column) {
  static const analysis::ResultCell kMissing;
  const analysis::ResultTable* t = result.FindTable(table);
  EXPECT_NE(t, nullptr) << table;
  const analysis::ResultCell* cell = t == nullptr ? nullptr : t->Find(row, column);
  EXPECT_NE(cell, nullptr) << table << " " << row << " " << column;
  return cell == nullptr ? kMissing : *cell;
}

TEST_F(ResultBuilderTest, CountsByAreaWithATotalRowAndPercentages) {
  absl::StatusOr<analysis::AnalysisResult> result = Build({});
  ASSERT_TRUE(result.ok()) << result.status();
  const analysis::ResultTable* table = result->FindTable("per_area");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->row_heading, "area");
  EXPECT_EQ(table->columns,
            (std::vector<std::string>{"n", "families", "offence_n", "offence_pct"}));
  // The total first, then the areas by code, labelled as the spec says.
  ASSERT_EQ(table->rows.size(), 3u);
  EXPECT_EQ(table->rows[0].label, "all");
  EXPECT_EQ(table->rows[1].label, "W01");
  EXPECT_EQ(table->rows[2].label, "Noord");

  EXPECT_EQ(CellAt(*result, "per_area", "all", "n").value, 3);
  EXPECT_EQ(CellAt(*result, "per_area", "all", "families").value, 2);
  EXPECT_EQ(CellAt(*result, "per_area", "all", "offence_n").value, 2);
  EXPECT_DOUBLE_EQ(CellAt(*result, "per_area", "all", "offence_pct").value, 200.0 / 3);
  EXPECT_EQ(CellAt(*result, "per_area", "W01", "n").value, 2);
  EXPECT_EQ(CellAt(*result, "per_area", "W01", "families").value, 1);
  EXPECT_EQ(CellAt(*result, "per_area", "W01", "offence_n").value, 1);
  EXPECT_DOUBLE_EQ(CellAt(*result, "per_area", "W01", "offence_pct").value, 50);
  EXPECT_EQ(CellAt(*result, "per_area", "Noord", "n").value, 1);

  // Three atoms: no two households share area, type and indicators.
  EXPECT_EQ(result->count_atoms, 3u);
  EXPECT_EQ(result->area_codes, area_codes_);
  // The total row's cells are marked as totals (margins, for secondary suppression); a cell of
  // the same households as another is published once, under both.
  const analysis::ResultCell& all = CellAt(*result, "per_area", "all", "n");
  ASSERT_EQ(all.sources.size(), 1u);
  const analysis::PublishedCell& total =
      result->count_cells[static_cast<size_t>(all.sources[0].index)];
  EXPECT_TRUE(total.is_total);
  EXPECT_EQ(total.atoms.size(), 3u);
  const analysis::ResultCell& w01 = CellAt(*result, "per_area", "W01", "n");
  EXPECT_FALSE(result->count_cells[static_cast<size_t>(w01.sources[0].index)].is_total);
  const analysis::ResultCell& noord_n = CellAt(*result, "per_area", "Noord", "n");
  const analysis::ResultCell& noord_offence = CellAt(*result, "per_area", "Noord", "offence_n");
  EXPECT_EQ(noord_n.sources[0], noord_offence.sources[0]);
  // A percentage derives from its count and its population's.
  const analysis::ResultCell& pct = CellAt(*result, "per_area", "W01", "offence_pct");
  EXPECT_EQ(pct.kind, analysis::ResultKind::kPercent);
  EXPECT_EQ(pct.denominator, 2);
  EXPECT_EQ(pct.sources.size(), 2u);
}

TEST_F(ResultBuilderTest, CostsSumPricedVolumesAndBoundContributions) {
  absl::StatusOr<analysis::AnalysisResult> result = Build({});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(CellAt(*result, "by_item", "households", "all_eur").value, 3);
  EXPECT_EQ(CellAt(*result, "by_item", "offences", "all_eur").value, 300);
  EXPECT_EQ(CellAt(*result, "by_item", "total", "all_eur").value, 300);
  EXPECT_EQ(CellAt(*result, "by_item", "total", "all_mean_eur").value, 100);
  const analysis::ResultCell& total = CellAt(*result, "by_item", "total", "all_eur");
  ASSERT_EQ(total.sources.size(), 1u);
  EXPECT_EQ(total.sources[0].system, analysis::SystemCellRef::System::kSums);
  const analysis::PublishedCell& sum =
      result->sum_cells[static_cast<size_t>(total.sources[0].index)];
  EXPECT_TRUE(sum.is_total);
  EXPECT_EQ(sum.contributors, 2);
  EXPECT_EQ(sum.largest, (std::vector<double>{200, 100}));

  analysis::EngineOptions capped;
  capped.max_contribution_eur = 150;
  result = Build(capped);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(CellAt(*result, "by_item", "total", "all_eur").value, 250);
}

TEST_F(ResultBuilderTest, KeepsAUnitPerHouseholdWhenAsked) {
  analysis::EngineOptions options;
  options.keep_units = true;
  absl::StatusOr<analysis::AnalysisResult> result = Build(options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->units.size(), 3u);
  EXPECT_EQ(result->units[0].household, Key(1));
  EXPECT_EQ(result->units[0].day, reference_days_[0]);
  EXPECT_EQ(result->units[0].cents, (std::vector<std::pair<uint16_t, int64_t>>{{0, 20000}}));
  EXPECT_TRUE(result->units[1].cents.empty());
}

// ---------------------------------------------------------------------------------------------
// Cost-benefit tables, on a spec made by hand as the parser leaves it (design of issue 18): an
// ordinary cost item, then the items "<outcome>@<year>" per valued outcome and year -1, 1, 2,
// then "<cost>@1"; the groups cb_cohort, cb_comparison and cb_unmatched as the last indicators.

namespace cb {

constexpr size_t kCare = 0;      // the ordinary item
constexpr size_t kEviction = 1;  // eviction@-1, @1, @2: items 1, 2, 3
constexpr size_t kPolice = 4;    // police@-1, @1, @2: items 4, 5, 6
constexpr size_t kCoaching = 7;  // coaching@1
constexpr size_t kCohortBit = 1;
constexpr size_t kComparisonBit = 2;
constexpr size_t kUnmatchedBit = 3;

analysis::AnalysisSpec Spec(bool comparison) {
  analysis::AnalysisSpec spec;
  spec.name = "cb";
  spec.reference_dates = {absl::CivilDay(2014, 12, 31)};
  for (const char* name : {"care", "cb_cohort", "cb_comparison", "cb_unmatched"}) {
    analysis::IndicatorSpec indicator;
    indicator.name = name;
    indicator.set_after_scan = std::string(name).starts_with("cb_");
    spec.indicators.push_back(indicator);
  }
  analysis::CostItemSpec care;
  care.name = "care";
  care.indicator = "care";
  care.payer = "insurer";
  spec.cost_items.push_back(care);

  analysis::CostBenefitSpec& cb = spec.cost_benefit.emplace();
  cb.cohort_indicator = "care";
  cb.start_attribute = "start";
  cb.comparison = comparison;
  cb.horizon = 2;
  cb.discount_rate = 0.025;
  cb.risk_premium = 0.005;
  cb.windows = {{"year_before", -1, -1}, {"after", 1, 2}};
  analysis::OutcomeSpec eviction;
  eviction.name = "eviction";
  eviction.price = "eviction_notice";
  eviction.payer = "housing";
  analysis::OutcomeSpec quality;
  quality.name = "quality";
  quality.pm = true;
  quality.note = "no agreed price";
  analysis::OutcomeSpec police;
  police.name = "police";
  police.price = "police_registration";
  police.payer = "justice";
  cb.outcomes = {eviction, quality, police};
  analysis::InterventionCostSpec coaching;
  coaching.name = "coaching";
  coaching.payer = "participatiewet";
  coaching.per_household = 1000;
  cb.costs = {coaching};
  using Varies = analysis::CostBenefitRange::Varies;
  cb.sensitivity = {{"prices", 0, Varies::kAllPrices, "", 0.8, 1.2},
                    {"eviction price", 0, Varies::kPrice, "eviction_notice", 0.5, 1.5},
                    {"rate", 0, Varies::kRate, "", 0.0, 0.1},
                    {"effect", 0, Varies::kEffect, "", 0.5, 1.5},
                    {"costs", 0, Varies::kCosts, "", 0.9, 1.25}};
  cb.cohort_bit = kCohortBit;
  cb.comparison_bit = kComparisonBit;
  cb.unmatched_bit = kUnmatchedBit;
  cb.first_item = 1;
  const size_t outcome_index[] = {0, 2};  // eviction, police (quality is PM: no items)
  for (size_t o : outcome_index) {
    for (int year : cb.Years()) {
      analysis::CostItemSpec item;
      item.name = fmt::format("{}@{}", cb.outcomes[o].name, year);
      item.payer = cb.outcomes[o].payer;
      item.indicator = "care";
      item.prices = {cb.outcomes[o].price};
      item.in_total = false;
      item.relative_year = year;
      item.outcome = static_cast<int>(o);
      spec.cost_items.push_back(item);
    }
  }
  analysis::CostItemSpec item;
  item.name = "coaching@1";
  item.payer = "participatiewet";
  item.indicator = "care";
  item.in_total = false;
  item.relative_year = 1;
  item.intervention = 0;
  spec.cost_items.push_back(item);

  spec.populations["households"] = {};
  analysis::TableSpec costs;
  costs.name = "costs_by_payer";
  costs.kind = analysis::TableKind::kCosts;
  costs.population = "households";
  costs.by_payer = true;
  costs.total_label = "total";
  costs.cost_columns = {{"all", {}}};
  spec.tables.push_back(costs);
  for (auto [name, view] : {std::pair{"outcomes", analysis::CostBenefitView::kOutcomes},
                            std::pair{"payers", analysis::CostBenefitView::kPayers},
                            std::pair{"sensitivity", analysis::CostBenefitView::kSensitivity}}) {
    analysis::TableSpec table;
    table.name = name;
    table.kind = analysis::TableKind::kCostBenefit;
    table.view = view;
    spec.tables.push_back(table);
  }
  return spec;
}

// Prices per unit of volume: care 10, an eviction 100, a police registration 50, coaching 1000.
const std::vector<double> kItemPrice = {10, 100, 100, 100, 50, 50, 50, 1000};

analysis::HouseholdAccumulatorT<1> InGroup(size_t bit) {
  analysis::HouseholdAccumulatorT<1> household;
  household.adults = 1;
  household.indicators.Set(bit);
  return household;
}

// Volumes per relative year -1, 1, 2 of eviction and police.
analysis::CostVolumes Volumes(std::array<double, 3> eviction, std::array<double, 3> police,
                              bool coached) {
  analysis::CostVolumes volumes;
  for (size_t y = 0; y < 3; ++y) {
    if (eviction[y] != 0) volumes.emplace_back(kEviction + y, eviction[y]);
    if (police[y] != 0) volumes.emplace_back(kPolice + y, police[y]);
  }
  if (coached) volumes.emplace_back(kCoaching, 1);
  return volumes;
}

struct Built {
  analysis::AnalysisSpec spec;
  analysis::AnalysisResult result;
};

// Two cohort households, three comparison households, an unmatched cohort household and one
// outside every group, each with known volumes:
//                 eviction -1/1/2   police -1/1/2   coaching
//   cohort  A        2  1  0          1  0  1          1
//   cohort  B        1  0  0          2  1  0          1
//   compar. C        1  1  1          0  1  0
//   compar. D        0  0  1          1  1  1
//   compar. E        -                -
//   unmatched F      5  0  0          -                1
//   outside G        care: 2 records
// In euro: cohort eviction 300 / 100 / 0, police 150 / 50 / 50, coaching 2000; comparison
// eviction 100 / 100 / 200, police 50 / 100 / 50.
Built Build(bool comparison, bool with_households = true) {
  Built built{Spec(comparison), {}};
  const analysis::PriceTable prices;
  const std::vector<std::string> areas = {"W01"};
  const std::vector<int> days = {DaysSinceEpoch(absl::CivilDay(2014, 12, 31))};
  const analysis::EngineOptions options;
  analysis::ResultBuilder<1> builder(built.spec, options, kItemPrice, areas, prices, days);
  if (with_households) {
    const analysis::CostVolumes a = Volumes({2, 1, 0}, {1, 0, 1}, true);
    const analysis::CostVolumes b = Volumes({1, 0, 0}, {2, 1, 0}, true);
    const analysis::CostVolumes c = Volumes({1, 1, 1}, {0, 1, 0}, false);
    const analysis::CostVolumes d = Volumes({0, 0, 1}, {1, 1, 1}, false);
    const analysis::CostVolumes f = Volumes({5, 0, 0}, {0, 0, 0}, true);
    const analysis::CostVolumes g = {{kCare, 2}};
    builder.AddHousehold(0, Key(1), InGroup(kCohortBit), &a);
    builder.AddHousehold(0, Key(2), InGroup(kCohortBit), &b);
    builder.AddHousehold(0, Key(3), InGroup(kComparisonBit), &c);
    builder.AddHousehold(0, Key(4), InGroup(kComparisonBit), &d);
    builder.AddHousehold(0, Key(5), InGroup(kComparisonBit), nullptr);
    builder.AddHousehold(0, Key(6), InGroup(kUnmatchedBit), &f);
    analysis::HouseholdAccumulatorT<1> outside;
    outside.indicators.Set(0);
    builder.AddHousehold(0, Key(7), outside, &g);
  }
  const absl::Status status = builder.Finish(&built.result);
  EXPECT_TRUE(status.ok()) << status;
  return built;
}

// B of one set of outcomes from its yearly sums (year -1, 1, 2), by hand: year 1 undiscounted,
// year 2 at 1 / (1 + rate).
double Npv(std::array<double, 3> cohort, std::array<double, 3> comparison, double scale,
           double rate) {
  const double year1 = (cohort[0] - cohort[1]) - scale * (comparison[0] - comparison[1]);
  const double year2 = (cohort[0] - cohort[2]) - scale * (comparison[0] - comparison[2]);
  return year1 + year2 / (1 + rate);
}

constexpr double kScale = 2.0 / 3.0;  // cohort households / comparison households
constexpr double kRate = 0.03;

double EvictionNpv(double rate = kRate) {
  return Npv({300, 100, 0}, {100, 100, 200}, kScale, rate);
}
double PoliceNpv(double rate = kRate) { return Npv({150, 50, 50}, {50, 100, 50}, kScale, rate); }

std::vector<double> SumValues(const analysis::AnalysisResult& result,
                              const analysis::ResultCell& cell) {
  std::vector<double> values;
  for (const analysis::SystemCellRef& ref : cell.sources) {
    if (ref.system == analysis::SystemCellRef::System::kSums) {
      values.push_back(result.sum_cells[static_cast<size_t>(ref.index)].value);
    }
  }
  std::sort(values.begin(), values.end());
  return values;
}

std::vector<double> CountValues(const analysis::AnalysisResult& result,
                                const analysis::ResultCell& cell) {
  std::vector<double> values;
  for (const analysis::SystemCellRef& ref : cell.sources) {
    if (ref.system == analysis::SystemCellRef::System::kCounts) {
      values.push_back(result.count_cells[static_cast<size_t>(ref.index)].value);
    }
  }
  std::sort(values.begin(), values.end());
  return values;
}

}  // namespace cb

TEST(CostBenefitTablesTest, OutcomesPerWindowWithTheComparisonScaledToTheCohort) {
  const cb::Built built = cb::Build(/*comparison=*/true);
  const analysis::AnalysisResult& result = built.result;
  const analysis::ResultTable* table = result.FindTable("outcomes");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->row_heading, "outcome");
  EXPECT_EQ(table->columns,
            (std::vector<std::string>{"year_before_eur", "after_eur", "comparison_year_before_eur",
                                      "comparison_after_eur", "benefit_npv_eur", "cost_npv_eur"}));
  std::vector<std::string> rows;
  for (const analysis::ResultRow& row : table->rows) rows.push_back(row.label);
  EXPECT_EQ(rows, (std::vector<std::string>{"households", "eviction", "police", "coaching",
                                            "PM: quality"}));

  auto at = [&](const std::string& row, const std::string& column) -> const analysis::ResultCell& {
    return CellAt(result, "outcomes", row, column);
  };
  EXPECT_EQ(at("households", "year_before_eur").kind, analysis::ResultKind::kCount);
  EXPECT_EQ(at("households", "year_before_eur").value, 2);
  EXPECT_EQ(at("households", "after_eur").value, 2);
  EXPECT_EQ(at("households", "comparison_after_eur").value, 3);
  EXPECT_EQ(at("households", "benefit_npv_eur").kind, analysis::ResultKind::kEmpty);

  EXPECT_DOUBLE_EQ(at("eviction", "year_before_eur").value, 300);
  EXPECT_DOUBLE_EQ(at("eviction", "after_eur").value, 100);  // years 1 and 2: 100 + 0
  EXPECT_DOUBLE_EQ(at("eviction", "comparison_year_before_eur").value, 100 * cb::kScale);
  EXPECT_DOUBLE_EQ(at("eviction", "comparison_after_eur").value, 300 * cb::kScale);
  EXPECT_DOUBLE_EQ(at("eviction", "benefit_npv_eur").value, 200 + (300 + 100 * cb::kScale) / 1.03);
  EXPECT_DOUBLE_EQ(at("eviction", "benefit_npv_eur").value, cb::EvictionNpv());
  EXPECT_EQ(at("eviction", "cost_npv_eur").kind, analysis::ResultKind::kEmpty);
  EXPECT_DOUBLE_EQ(at("police", "year_before_eur").value, 150);
  EXPECT_DOUBLE_EQ(at("police", "after_eur").value, 100);
  EXPECT_DOUBLE_EQ(at("police", "comparison_after_eur").value, 150 * cb::kScale);
  EXPECT_DOUBLE_EQ(at("police", "benefit_npv_eur").value, 100 + 50 * cb::kScale + 100 / 1.03);

  // The intervention cost in the window that holds year 1 only.
  EXPECT_EQ(at("coaching", "year_before_eur").kind, analysis::ResultKind::kEmpty);
  EXPECT_DOUBLE_EQ(at("coaching", "after_eur").value, 2000);
  EXPECT_EQ(at("coaching", "comparison_after_eur").kind, analysis::ResultKind::kEmpty);
  EXPECT_EQ(at("coaching", "benefit_npv_eur").kind, analysis::ResultKind::kEmpty);
  EXPECT_DOUBLE_EQ(at("coaching", "cost_npv_eur").value, 2000);

  for (const std::string& column : table->columns) {
    EXPECT_EQ(at("PM: quality", column).kind, analysis::ResultKind::kPm) << column;
    EXPECT_TRUE(at("PM: quality", column).sources.empty());
  }
  EXPECT_EQ(result.warnings,
            (std::vector<std::string>{"outcome 'quality' is not valued (PM): no agreed price"}));

  // A cohort window's sum is one cell over both years' items; the scaled comparison names the
  // comparison's sum and both groups' counts.
  const analysis::ResultCell& after = at("eviction", "after_eur");
  ASSERT_EQ(after.sources.size(), 1u);
  const size_t after_cell = static_cast<size_t>(after.sources[0].index);
  EXPECT_EQ(result.group_items[result.sum_cell_group[after_cell]], (std::vector<uint16_t>{2, 3}));
  EXPECT_EQ(result.sum_cells[after_cell].contributors, 1);  // only A had evictions after
  const analysis::ResultCell& scaled = at("eviction", "comparison_after_eur");
  EXPECT_EQ(cb::SumValues(result, scaled), (std::vector<double>{300}));
  EXPECT_EQ(cb::CountValues(result, scaled), (std::vector<double>{2, 3}));
  // The NPV names every year's sums of both groups and both counts.
  const analysis::ResultCell& npv = at("eviction", "benefit_npv_eur");
  EXPECT_EQ(cb::SumValues(result, npv), (std::vector<double>{0, 100, 100, 100, 200, 300}));
  EXPECT_EQ(cb::CountValues(result, npv), (std::vector<double>{2, 3}));
  EXPECT_TRUE(npv.cost_benefit);
}

TEST(CostBenefitTablesTest, WhoPaysWhoGainsPerPayerAndInTotal) {
  const cb::Built built = cb::Build(/*comparison=*/true);
  const analysis::AnalysisResult& result = built.result;
  const analysis::ResultTable* table = result.FindTable("payers");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->row_heading, "payer");
  EXPECT_EQ(table->columns,
            (std::vector<std::string>{"cohort_n", "comparison_n", "costs_npv_eur",
                                      "benefits_npv_eur", "saldo_npv_eur", "ratio"}));
  std::vector<std::string> rows;
  for (const analysis::ResultRow& row : table->rows) rows.push_back(row.label);
  EXPECT_EQ(rows, (std::vector<std::string>{"housing", "justice", "participatiewet", "total"}));
  auto at = [&](const std::string& row, const std::string& column) -> const analysis::ResultCell& {
    return CellAt(result, "payers", row, column);
  };
  EXPECT_EQ(at("housing", "cohort_n").value, 2);
  EXPECT_EQ(at("housing", "comparison_n").value, 3);
  // Housing gains and pays nothing: its costs are a 0 from no cell, its ratio not applicable.
  EXPECT_EQ(at("housing", "costs_npv_eur").kind, analysis::ResultKind::kAmount);
  EXPECT_EQ(at("housing", "costs_npv_eur").value, 0);
  EXPECT_TRUE(at("housing", "costs_npv_eur").sources.empty());
  EXPECT_DOUBLE_EQ(at("housing", "benefits_npv_eur").value, cb::EvictionNpv());
  EXPECT_DOUBLE_EQ(at("housing", "saldo_npv_eur").value, cb::EvictionNpv());
  EXPECT_EQ(at("housing", "ratio").kind, analysis::ResultKind::kEmpty);
  EXPECT_DOUBLE_EQ(at("justice", "benefits_npv_eur").value, cb::PoliceNpv());
  // The Participatiewet invests and gains nothing here.
  EXPECT_DOUBLE_EQ(at("participatiewet", "costs_npv_eur").value, 2000);
  EXPECT_EQ(at("participatiewet", "benefits_npv_eur").value, 0);
  EXPECT_DOUBLE_EQ(at("participatiewet", "saldo_npv_eur").value, -2000);
  EXPECT_EQ(at("participatiewet", "ratio").kind, analysis::ResultKind::kRatio);
  EXPECT_EQ(at("participatiewet", "ratio").value, 0);

  const double benefit = cb::EvictionNpv() + cb::PoliceNpv();
  EXPECT_DOUBLE_EQ(at("total", "benefits_npv_eur").value, benefit);
  EXPECT_DOUBLE_EQ(at("total", "costs_npv_eur").value, 2000);
  EXPECT_DOUBLE_EQ(at("total", "saldo_npv_eur").value, benefit - 2000);
  EXPECT_DOUBLE_EQ(at("total", "ratio").value, benefit / 2000);
  // The total's benefit is summed over all outcomes per year: 3 years x 2 groups, both counts;
  // its ratio adds the costs' sum.
  EXPECT_EQ(cb::SumValues(result, at("total", "benefits_npv_eur")),
            (std::vector<double>{50, 150, 150, 200, 250, 450}));
  EXPECT_EQ(cb::CountValues(result, at("total", "benefits_npv_eur")), (std::vector<double>{2, 3}));
  EXPECT_EQ(cb::SumValues(result, at("total", "ratio")),
            (std::vector<double>{50, 150, 150, 200, 250, 450, 2000}));
}

TEST(CostBenefitTablesTest, SensitivityVariesOneInputAtATime) {
  const cb::Built built = cb::Build(/*comparison=*/true);
  const analysis::AnalysisResult& result = built.result;
  const analysis::ResultTable* table = result.FindTable("sensitivity");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->row_heading, "varied");
  EXPECT_EQ(table->columns,
            (std::vector<std::string>{"saldo_base_eur", "saldo_low_eur", "saldo_high_eur",
                                      "ratio_base", "ratio_low", "ratio_high"}));
  const double b = cb::EvictionNpv() + cb::PoliceNpv();
  const double k = 2000;
  struct Expected {
    std::string row;
    double benefit_low, cost_low, benefit_high, cost_high;
  };
  const std::vector<Expected> expected = {
      {"prices", 0.8 * b, k, 1.2 * b, k},
      {"eviction price", b - 0.5 * cb::EvictionNpv(), k, b + 0.5 * cb::EvictionNpv(), k},
      {"rate", cb::EvictionNpv(0) + cb::PoliceNpv(0), k, cb::EvictionNpv(0.1) + cb::PoliceNpv(0.1),
       k},
      {"effect", 0.5 * b, k, 1.5 * b, k},
      {"costs", b, 0.9 * k, b, 1.25 * k},
  };
  // The range row: over the ranges' low and high figures (TheRangeRowSpansTheRangesNotTheBase).
  double lowest = INFINITY, highest = -INFINITY;
  double lowest_ratio = INFINITY, highest_ratio = -INFINITY;
  for (const Expected& e : expected) {
    SCOPED_TRACE(e.row);
    auto at = [&](const std::string& column) -> const analysis::ResultCell& {
      return CellAt(result, "sensitivity", e.row, column);
    };
    EXPECT_DOUBLE_EQ(at("saldo_base_eur").value, b - k);
    EXPECT_DOUBLE_EQ(at("saldo_low_eur").value, e.benefit_low - e.cost_low);
    EXPECT_DOUBLE_EQ(at("saldo_high_eur").value, e.benefit_high - e.cost_high);
    EXPECT_DOUBLE_EQ(at("ratio_base").value, b / k);
    EXPECT_DOUBLE_EQ(at("ratio_low").value, e.benefit_low / e.cost_low);
    EXPECT_DOUBLE_EQ(at("ratio_high").value, e.benefit_high / e.cost_high);
    EXPECT_EQ(at("ratio_low").kind, analysis::ResultKind::kRatio);
    for (double saldo : {e.benefit_low - e.cost_low, e.benefit_high - e.cost_high}) {
      lowest = std::min(lowest, saldo);
      highest = std::max(highest, saldo);
    }
    for (double ratio : {e.benefit_low / e.cost_low, e.benefit_high / e.cost_high}) {
      lowest_ratio = std::min(lowest_ratio, ratio);
      highest_ratio = std::max(highest_ratio, ratio);
    }
  }
  EXPECT_DOUBLE_EQ(CellAt(result, "sensitivity", "range (one at a time)", "saldo_low_eur").value,
                   lowest);
  EXPECT_DOUBLE_EQ(CellAt(result, "sensitivity", "range (one at a time)", "saldo_high_eur").value,
                   highest);
  EXPECT_DOUBLE_EQ(CellAt(result, "sensitivity", "range (one at a time)", "ratio_low").value,
                   lowest_ratio);
  EXPECT_DOUBLE_EQ(CellAt(result, "sensitivity", "range (one at a time)", "ratio_high").value,
                   highest_ratio);
  // Varying one price adds that outcome's own sums to the figure's sources.
  EXPECT_GT(CellAt(result, "sensitivity", "eviction price", "saldo_low_eur").sources.size(),
            CellAt(result, "sensitivity", "prices", "saldo_low_eur").sources.size());
}

// The range row spans the ranges' own figures: with one range that only raises the benefit,
// its lowest saldo is that range's low, not the base.
TEST(CostBenefitTablesTest, TheRangeRowSpansTheRangesNotTheBase) {
  cb::Built built{cb::Spec(/*comparison=*/true), {}};
  built.spec.cost_benefit->sensitivity = {
      {"effect", 0, analysis::CostBenefitRange::Varies::kEffect, "", 1.2, 1.5}};
  const analysis::PriceTable prices;
  const std::vector<std::string> areas = {"W01"};
  const std::vector<int> days = {DaysSinceEpoch(absl::CivilDay(2014, 12, 31))};
  const analysis::EngineOptions options;
  analysis::ResultBuilder<1> builder(built.spec, options, cb::kItemPrice, areas, prices, days);
  const analysis::CostVolumes a = cb::Volumes({2, 1, 0}, {1, 0, 1}, true);
  const analysis::CostVolumes b = cb::Volumes({1, 0, 0}, {2, 1, 0}, true);
  const analysis::CostVolumes c = cb::Volumes({1, 1, 1}, {0, 1, 0}, false);
  const analysis::CostVolumes d = cb::Volumes({0, 0, 1}, {1, 1, 1}, false);
  builder.AddHousehold(0, Key(1), cb::InGroup(cb::kCohortBit), &a);
  builder.AddHousehold(0, Key(2), cb::InGroup(cb::kCohortBit), &b);
  builder.AddHousehold(0, Key(3), cb::InGroup(cb::kComparisonBit), &c);
  builder.AddHousehold(0, Key(4), cb::InGroup(cb::kComparisonBit), &d);
  builder.AddHousehold(0, Key(5), cb::InGroup(cb::kComparisonBit), nullptr);
  ASSERT_TRUE(builder.Finish(&built.result).ok());
  const double benefit = cb::EvictionNpv() + cb::PoliceNpv();
  const double cost = 2000;
  ASSERT_GT(benefit, 0);
  auto range = [&](const std::string& column) {
    return CellAt(built.result, "sensitivity", "range (one at a time)", column).value;
  };
  EXPECT_DOUBLE_EQ(range("saldo_base_eur"), benefit - cost);
  EXPECT_DOUBLE_EQ(range("saldo_low_eur"), 1.2 * benefit - cost);
  EXPECT_DOUBLE_EQ(range("saldo_high_eur"), 1.5 * benefit - cost);
  EXPECT_DOUBLE_EQ(range("ratio_base"), benefit / cost);
  EXPECT_DOUBLE_EQ(range("ratio_low"), 1.2 * benefit / cost);
  EXPECT_DOUBLE_EQ(range("ratio_high"), 1.5 * benefit / cost);
}

// A price that values outcomes of two payers, but not all outcomes, sums a group of items no
// payer or total row has: it is laid out before the first household, so that every household
// adds to it (the sums below are by hand from the households of Build).
TEST(CostBenefitTablesTest, APriceRangeOverOutcomesOfTwoPayersSumsItsOwnGroup) {
  cb::Built built{cb::Spec(/*comparison=*/true), {}};
  analysis::CostBenefitSpec& spec = *built.spec.cost_benefit;
  spec.outcomes[2].price = "eviction_notice";  // police, paid by justice, priced as an eviction
  analysis::OutcomeSpec debts;  // a third valued outcome of justice, with its own price
  debts.name = "debts";
  debts.price = "debt_case";
  debts.payer = "justice";
  spec.outcomes.push_back(debts);
  for (int year : spec.Years()) {  // items 8, 9, 10
    analysis::CostItemSpec item;
    item.name = fmt::format("debts@{}", year);
    item.payer = "justice";
    item.indicator = "care";
    item.prices = {"debt_case"};
    item.in_total = false;
    item.relative_year = year;
    item.outcome = 3;
    built.spec.cost_items.push_back(item);
  }
  using Varies = analysis::CostBenefitRange::Varies;
  spec.sensitivity = {{"eviction price", 0, Varies::kPrice, "eviction_notice", 0.5, 1.5}};
  std::vector<double> item_price = cb::kItemPrice;
  item_price.insert(item_price.end(), {20, 20, 20});

  const analysis::PriceTable prices;
  const std::vector<std::string> areas = {"W01"};
  const std::vector<int> days = {DaysSinceEpoch(absl::CivilDay(2014, 12, 31))};
  const analysis::EngineOptions options;
  analysis::ResultBuilder<1> builder(built.spec, options, item_price, areas, prices, days);
  analysis::CostVolumes a = cb::Volumes({2, 1, 0}, {1, 0, 1}, true);
  a.emplace_back(8, 3);  // debts the year before: 60
  const analysis::CostVolumes b = cb::Volumes({1, 0, 0}, {2, 1, 0}, true);
  const analysis::CostVolumes c = cb::Volumes({1, 1, 1}, {0, 1, 0}, false);
  const analysis::CostVolumes d = cb::Volumes({0, 0, 1}, {1, 1, 1}, false);
  builder.AddHousehold(0, Key(1), cb::InGroup(cb::kCohortBit), &a);
  builder.AddHousehold(0, Key(2), cb::InGroup(cb::kCohortBit), &b);
  builder.AddHousehold(0, Key(3), cb::InGroup(cb::kComparisonBit), &c);
  builder.AddHousehold(0, Key(4), cb::InGroup(cb::kComparisonBit), &d);
  builder.AddHousehold(0, Key(5), cb::InGroup(cb::kComparisonBit), nullptr);
  const absl::Status status = builder.Finish(&built.result);
  ASSERT_TRUE(status.ok()) << status;
  const analysis::AnalysisResult& result = built.result;

  // Eviction and police together, per year -1, 1, 2: cohort 450 / 150 / 50 (A and B; A and B;
  // A), comparison 150 / 200 / 250 (C and D each year).
  struct Sum {
    double value;
    int64_t contributors;
    bool operator==(const Sum&) const = default;
  };
  std::map<std::vector<uint16_t>, std::vector<Sum>> by_group;
  const analysis::ResultCell& low =
      CellAt(result, "sensitivity", "eviction price", "saldo_low_eur");
  for (const analysis::SystemCellRef& ref : low.sources) {
    if (ref.system != analysis::SystemCellRef::System::kSums) continue;
    const auto index = static_cast<size_t>(ref.index);
    by_group[result.group_items[result.sum_cell_group[index]]].push_back(
        {result.sum_cells[index].value, result.sum_cells[index].contributors});
  }
  EXPECT_EQ(by_group[(std::vector<uint16_t>{1, 4})], (std::vector<Sum>{{450, 2}, {150, 2}}));
  EXPECT_EQ(by_group[(std::vector<uint16_t>{2, 5})], (std::vector<Sum>{{150, 2}, {200, 2}}));
  EXPECT_EQ(by_group[(std::vector<uint16_t>{3, 6})], (std::vector<Sum>{{50, 1}, {250, 2}}));
  // The atoms' statistics handed to disclosure control hold the same money.
  const size_t groups = result.group_items.size();
  for (size_t g = 0; g < groups; ++g) {
    int64_t cents = 0;
    for (size_t atom = 0; atom < result.atoms.size(); ++atom) {
      cents += result.group_stats[atom * groups + g].cents;
    }
    int64_t expected = 0;
    if (result.group_items[g] == std::vector<uint16_t>{1, 4}) expected = 450 * 100 + 150 * 100;
    if (result.group_items[g] == std::vector<uint16_t>{3, 6}) expected = 50 * 100 + 250 * 100;
    if (expected != 0) {
      EXPECT_EQ(cents, expected) << g;
    }
  }

  const double rate = cb::kRate;
  const double priced = cb::Npv({450, 150, 50}, {150, 200, 250}, cb::kScale, rate);
  const double debts_npv = cb::Npv({60, 0, 0}, {0, 0, 0}, cb::kScale, rate);
  const double benefit = cb::EvictionNpv() + cb::PoliceNpv() + debts_npv;
  EXPECT_DOUBLE_EQ(CellAt(result, "payers", "total", "benefits_npv_eur").value, benefit);
  EXPECT_DOUBLE_EQ(low.value, benefit - 0.5 * priced - 2000);
  EXPECT_DOUBLE_EQ(CellAt(result, "sensitivity", "eviction price", "saldo_high_eur").value,
                   benefit + 0.5 * priced - 2000);
}

// Cells name groups of cost items in 16 bits: a spec with more groups is refused, not wrapped.
TEST(ResultBuilderLimitsTest, RefusesMoreCostGroupsThanSixteenBitsIndex) {
  for (size_t items : {size_t{65534}, size_t{65535}}) {  // groups: items + one payer + total
    SCOPED_TRACE(items);
    analysis::AnalysisSpec spec;
    spec.name = "many";
    spec.reference_dates = {absl::CivilDay(2014, 12, 31)};
    analysis::IndicatorSpec indicator;
    indicator.name = "care";
    spec.indicators.push_back(indicator);
    for (size_t i = 0; i < items; ++i) {
      analysis::CostItemSpec item;
      item.name = fmt::format("item_{}", i);
      item.indicator = "care";
      item.payer = "insurer";
      spec.cost_items.push_back(item);
    }
    const std::vector<double> item_price(items, 1.0);
    const analysis::PriceTable prices;
    const std::vector<std::string> areas = {"W01"};
    const std::vector<int> days = {DaysSinceEpoch(absl::CivilDay(2014, 12, 31))};
    const analysis::EngineOptions options;
    analysis::ResultBuilder<1> builder(spec, options, item_price, areas, prices, days);
    const analysis::CostVolumes volumes = {{items - 1, 1}};
    analysis::HouseholdAccumulatorT<1> household;
    household.adults = 1;
    builder.AddHousehold(0, Key(1), household, &volumes);
    analysis::AnalysisResult result;
    const absl::Status status = builder.Finish(&result);
    if (items + 2 <= 65536) {
      EXPECT_TRUE(status.ok()) << status;
      continue;
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(status.message(),
              "the spec sums money in 65537 groups of cost items (items, payers, the total and "
              "the cost-benefit groups); the engine holds 65536 at most: use fewer cost items, "
              "outcomes or a shorter horizon");
  }
}

TEST(CostBenefitTablesTest, BeforeAndAfterWithinTheCohort) {
  const cb::Built built = cb::Build(/*comparison=*/false);
  const analysis::AnalysisResult& result = built.result;
  const analysis::ResultTable* outcomes = result.FindTable("outcomes");
  ASSERT_NE(outcomes, nullptr);
  EXPECT_EQ(outcomes->columns, (std::vector<std::string>{"year_before_eur", "after_eur",
                                                         "benefit_npv_eur", "cost_npv_eur"}));
  const double eviction = (300 - 100) + (300 - 0) / 1.03;
  const double police = (150 - 50) + (150 - 50) / 1.03;
  EXPECT_DOUBLE_EQ(CellAt(result, "outcomes", "eviction", "benefit_npv_eur").value, eviction);
  EXPECT_DOUBLE_EQ(cb::Npv({300, 100, 0}, {0, 0, 0}, 0, cb::kRate), eviction);
  EXPECT_DOUBLE_EQ(CellAt(result, "outcomes", "police", "benefit_npv_eur").value, police);
  // Without a comparison a benefit rests on the cohort's sums only.
  EXPECT_EQ(cb::CountValues(result, CellAt(result, "outcomes", "eviction", "benefit_npv_eur")),
            std::vector<double>{});
  const analysis::ResultTable* payers = result.FindTable("payers");
  ASSERT_NE(payers, nullptr);
  EXPECT_EQ(payers->columns,
            (std::vector<std::string>{"cohort_n", "costs_npv_eur", "benefits_npv_eur",
                                      "saldo_npv_eur", "ratio"}));
  EXPECT_DOUBLE_EQ(CellAt(result, "payers", "total", "ratio").value, (eviction + police) / 2000);
}

TEST(CostBenefitTablesTest, CostBenefitItemsStayOutOfCostsTablesAndPayerGroups) {
  const cb::Built built = cb::Build(/*comparison=*/true);
  const analysis::AnalysisResult& result = built.result;
  const analysis::ResultTable* costs = result.FindTable("costs_by_payer");
  ASSERT_NE(costs, nullptr);
  std::vector<std::string> rows;
  for (const analysis::ResultRow& row : costs->rows) rows.push_back(row.label);
  EXPECT_EQ(rows, (std::vector<std::string>{"households", "insurer", "total"}));
  EXPECT_EQ(CellAt(result, "costs_by_payer", "total", "all_eur").value, 20);  // care only
  // Groups: 8 items, the one payer, the total, then the cost-benefit groups of several items.
  ASSERT_GE(result.group_items.size(), 10u);
  EXPECT_EQ(result.group_items[8], (std::vector<uint16_t>{0}));  // insurer
  EXPECT_EQ(result.group_items[9], (std::vector<uint16_t>{0}));  // all
  std::set<std::vector<uint16_t>> extra(result.group_items.begin() + 10, result.group_items.end());
  EXPECT_TRUE(extra.contains({2, 3}));  // eviction, years 1..2
  EXPECT_TRUE(extra.contains({1, 4}));  // all outcomes, year -1
  EXPECT_TRUE(extra.contains({3, 6}));  // all outcomes, year 2
  EXPECT_FALSE(extra.contains({7}));    // one item: its own group
  // The groups' predicates describe the atoms, for the implied cells.
  EXPECT_NE(std::find(result.predicates.begin(), result.predicates.end(), "cb_cohort"),
            result.predicates.end());
  EXPECT_NE(std::find(result.predicates.begin(), result.predicates.end(), "cb_comparison"),
            result.predicates.end());
}

TEST(CostBenefitTablesTest, AnEmptyCohortGivesZerosAndNoDivisionByZero) {
  const cb::Built built = cb::Build(/*comparison=*/true, /*with_households=*/false);
  const analysis::AnalysisResult& result = built.result;
  for (const analysis::ResultTable& table : result.tables) {
    for (const analysis::ResultRow& row : table.rows) {
      for (const analysis::ResultCell& cell : row.cells) {
        EXPECT_TRUE(std::isfinite(cell.value)) << table.name << " " << row.label;
        EXPECT_NE(cell.kind, analysis::ResultKind::kRatio) << table.name << " " << row.label;
      }
    }
  }
  EXPECT_EQ(CellAt(result, "payers", "total", "cohort_n").value, 0);
  EXPECT_EQ(CellAt(result, "payers", "total", "comparison_n").value, 0);
  EXPECT_EQ(CellAt(result, "payers", "total", "benefits_npv_eur").value, 0);
  EXPECT_EQ(CellAt(result, "payers", "total", "ratio").kind, analysis::ResultKind::kEmpty);
  EXPECT_EQ(CellAt(result, "outcomes", "eviction", "comparison_after_eur").kind,
            analysis::ResultKind::kEmpty);
}

// The shipped spec as the parser and the planner leave it: the tables have the rows and columns
// the views describe, and a cohort household's money reaches its payer's row.
TEST(CostBenefitTablesTest, TheShippedSpecGivesTheRowsItsViewsDescribe) {
  const fs::path source = KOPPEL_SOURCE_DIR;
  auto read = [](const fs::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  analysis::AnalysisSpec spec = SpecOf(read(source / "analyses" / "cost-benefit.yaml"));
  const analysis::PriceTable prices = PricesOf(read(source / "prices" / "cost_benefit_2014.csv"));
  ASSERT_TRUE(spec.cost_benefit.has_value());
  ASSERT_TRUE(analysis::ResolveCostBenefitPrices(&spec, prices).ok());
  absl::StatusOr<analysis::AnalysisPlan> plan = analysis::PlanAnalysis(spec, prices);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_LE(std::max(spec.indicators.size(), spec.flags.size()), 64u);
  const analysis::CostBenefitSpec& cb = *spec.cost_benefit;
  const size_t eviction_before = cb.first_item;  // eviction_notice@-1
  const size_t coaching = cb.first_item + 4 * cb.Years().size();
  ASSERT_EQ(spec.cost_items[eviction_before].name, "eviction_notice@-1");
  ASSERT_EQ(spec.cost_items[coaching].name, "coaching@1");
  ASSERT_EQ(spec.cost_items[coaching + 1].name, "debt_help@1");

  const analysis::EngineOptions options;
  const std::vector<std::string> areas = {"W01"};
  const std::vector<int> days = {DaysSinceEpoch(absl::CivilDay(2014, 12, 31))};
  analysis::ResultBuilder<1> builder(spec, options, plan->item_price, areas, prices, days);
  analysis::HouseholdAccumulatorT<1> cohort;
  cohort.adults = 1;
  cohort.indicators.Set(cb.cohort_bit);
  analysis::HouseholdAccumulatorT<1> comparison;
  comparison.adults = 1;
  comparison.indicators.Set(cb.comparison_bit);
  const analysis::CostVolumes volumes = {{eviction_before, 2}, {coaching, 1}, {coaching + 1, 1}};
  builder.AddHousehold(0, Key(1), cohort, &volumes);
  builder.AddHousehold(0, Key(2), comparison, nullptr);
  analysis::AnalysisResult result;
  ASSERT_TRUE(builder.Finish(&result).ok());

  auto labels = [&](const std::string& name) {
    std::vector<std::string> rows;
    const analysis::ResultTable* table = result.FindTable(name);
    EXPECT_NE(table, nullptr) << name;
    if (table != nullptr) {
      for (const analysis::ResultRow& row : table->rows) rows.push_back(row.label);
    }
    return rows;
  };
  EXPECT_EQ(labels("cost_benefit_outcomes"),
            (std::vector<std::string>{"households", "eviction_notice", "police_registration",
                                      "out_of_home_days", "bijstand_days", "coaching", "debt_help",
                                      "PM: quality_of_life"}));
  EXPECT_EQ(labels("who_pays_who_gains"),
            (std::vector<std::string>{"housing", "justice", "jeugdwet", "participatiewet", "wgs",
                                      "total"}));
  EXPECT_EQ(labels("cost_benefit_sensitivity").size(), cb.sensitivity.size() + 1);
  // Two evictions the year before, none after: 5000 avoided in each of four years.
  const double d = 1.03;
  EXPECT_DOUBLE_EQ(CellAt(result, "who_pays_who_gains", "housing", "benefits_npv_eur").value,
                   5000 * (1 + 1 / d + 1 / (d * d) + 1 / (d * d * d)));
  EXPECT_DOUBLE_EQ(CellAt(result, "who_pays_who_gains", "total", "costs_npv_eur").value, 2775);
  EXPECT_DOUBLE_EQ(CellAt(result, "who_pays_who_gains", "wgs", "costs_npv_eur").value, 800);
  EXPECT_DOUBLE_EQ(
      CellAt(result, "cost_benefit_outcomes", "eviction_notice", "year_before_eur").value, 5000);
}

// ---------------------------------------------------------------------------------------------
// linker/ depends on linker/analysis, never the reverse: the engine reads records through
// record_source.h, which the linker implements.

TEST(AnalysisDependenciesTest, NothingInLinkerAnalysisIncludesALinkerHeader) {
  const fs::path dir = fs::path(KOPPEL_SOURCE_DIR) / "linker" / "analysis";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  const std::regex linker_include(R"(^\s*#\s*include\s*"linker/([^"]*)\")");
  size_t files = 0;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir)) {
    const std::string extension = entry.path().extension().string();
    if (extension != ".h" && extension != ".cc") continue;
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      std::smatch match;
      if (!std::regex_search(line, match, linker_include)) continue;
      EXPECT_TRUE(match[1].str().starts_with("analysis/"))
          << entry.path().string() << ":" << number << " includes linker/" << match[1]
          << ", outside linker/analysis";
    }
  }
  EXPECT_GT(files, 10u);
}

}  // namespace
}  // namespace koppel
