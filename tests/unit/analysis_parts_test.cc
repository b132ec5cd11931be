// The analysis engine's parts on their own, with hand-made inputs: the planner (what a spec
// makes the engine read and compute) and the table builder (from households to tables), and the
// rule that keeps linker/analysis free of the linker's own headers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
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
