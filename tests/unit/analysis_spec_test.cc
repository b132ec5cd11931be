#include "linker/analysis/analysis_spec.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "linker/analysis/engine_limits.h"
#include "linker/analysis/prices.h"

namespace koppel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(std::string(KOPPEL_SOURCE_DIR) + "/" + relative, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << relative;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const analysis::IndicatorSpec* FindIndicator(const analysis::AnalysisSpec& spec,
                                             std::string_view name) {
  for (const analysis::IndicatorSpec& i : spec.indicators) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

const analysis::FlagSpec* FindFlag(const analysis::AnalysisSpec& spec, std::string_view name) {
  for (const analysis::FlagSpec& f : spec.flags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const analysis::TableSpec* FindTable(const analysis::AnalysisSpec& spec, std::string_view name) {
  for (const analysis::TableSpec& t : spec.tables) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const analysis::CostItemSpec* FindItem(const analysis::AnalysisSpec& spec, std::string_view name) {
  for (const analysis::CostItemSpec& c : spec.cost_items) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// `text` with the first `from` replaced by `to`.
std::string Replace(std::string text, std::string_view from, std::string_view to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not found";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::vector<std::string> ColumnLabels(const analysis::TableSpec& table) {
  std::vector<std::string> labels;
  for (const analysis::CountColumn& c : table.columns) labels.push_back(c.label);
  return labels;
}

// Euro per unit of volume of a cost item: the sum of its prices.
double UnitCost(const analysis::CostItemSpec& item, const analysis::PriceTable& prices) {
  double sum = 0;
  for (const std::string& p : item.prices) sum += prices.items.at(p).price.value_or(-1e9);
  return sum;
}

// ---------------------------------------------------------------------------------------------
// A small spec using every section; the malformed cases below are edits of it.

constexpr char kBase[] = R"(analysis: test-spec
title: Test
reference_dates: [2014-12-31, 2013-12-31]
register:
  dataset: brp
  birth_date: geboortedatum
  area: wijk
  address_from: adres_van
  address_to: adres_tot
household_types:
  family: {adults: {min: 1}, children: {min: 1}}
  single: {adults: 1, children: 0}
populations:
  households: {}
  families: {household_type: family}
indicators:
  bijstand: {dataset: sociale_zaken, where: {regeling: [bijstand]}, spell: [start, eind]}
  low_income: {dataset: inkomen, where: {inkomen: {below: 9250}}, year: jaar}
  crime: {dataset: politie, date: pleegdatum, members: adults}
  youth: {dataset: jeugdzorg, spell: [start, eind], members: children}
  moves: {moves_at_least: 2}
flags:
  se: {any: [bijstand, low_income, moves]}
  both: {all: [se, crime]}
prices: ../prices/unit_costs_2014.csv
costs:
  items:
    bijstand: {indicator: bijstand, volume: records, prices: [bijstand_benefit], payer: city}
    youth: {indicator: youth, volume: days_in_year, prices: [youth_residential], payer: city}
  sensitivity:
    - {label: benefit, price: bijstand_benefit, low: 0.9, high: 1.1}
tables:
  - name: t1
    population: families
    rows: area
    total: total
    columns:
      - {label: n}
      - {label: se, count: se, percent: true}
  - {name: overlap, kind: overlap, population: families, flags: [se, crime]}
  - name: costs
    kind: costs
    population: families
    rows: item
    columns: [{label: both, count: both}, {label: all}]
  - {name: sens, kind: sensitivity, costs: costs, column: both}
)";

TEST(AnalysisSpecTest, ParsesEverySection) {
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(kBase, "t.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "test-spec");
  ASSERT_EQ(spec->reference_dates.size(), 2u);
  EXPECT_EQ(spec->reference_dates[0], absl::CivilDay(2014, 12, 31));
  EXPECT_EQ(spec->reference_dates[1], absl::CivilDay(2013, 12, 31));
  EXPECT_EQ(spec->register_dataset, "brp");
  EXPECT_EQ(spec->area_attribute, "wijk");
  EXPECT_EQ(spec->valid_to_attribute, "adres_tot");
  EXPECT_EQ(spec->adult_age, 18);

  ASSERT_EQ(spec->household_types.size(), 2u);
  EXPECT_EQ(spec->household_types[0].name, "family");
  EXPECT_EQ(spec->household_types[0].adults.min, 1);
  EXPECT_EQ(spec->household_types[0].adults.max, analysis::CountRange{}.max);
  EXPECT_EQ(spec->household_types[1].adults.min, 1);
  EXPECT_EQ(spec->household_types[1].adults.max, 1);
  EXPECT_EQ(spec->household_types[1].children.max, 0);
  EXPECT_TRUE(spec->populations.at("households").household_type.empty());
  EXPECT_EQ(spec->populations.at("families").household_type, "family");

  ASSERT_EQ(spec->indicators.size(), 5u);
  const analysis::IndicatorSpec& bijstand = spec->indicators[0];
  EXPECT_EQ(bijstand.line, 17);
  EXPECT_EQ(bijstand.dataset, "sociale_zaken");
  ASSERT_EQ(bijstand.filters.size(), 1u);
  EXPECT_THAT(bijstand.filters[0].codes, ElementsAre("bijstand"));
  EXPECT_EQ(bijstand.period.kind, analysis::PeriodKind::kSpell);
  EXPECT_EQ(bijstand.period.from, "start");
  EXPECT_EQ(bijstand.period.to, "eind");
  EXPECT_EQ(bijstand.members, analysis::MemberScope::kAny);
  const analysis::IndicatorSpec& low_income = spec->indicators[1];
  EXPECT_EQ(low_income.filters[0].below, 9250.0);
  EXPECT_FALSE(low_income.filters[0].at_least.has_value());
  EXPECT_EQ(low_income.period.kind, analysis::PeriodKind::kYearEquals);
  EXPECT_EQ(spec->indicators[2].period.kind, analysis::PeriodKind::kDateIn);
  EXPECT_EQ(spec->indicators[2].members, analysis::MemberScope::kAdults);
  EXPECT_EQ(spec->indicators[3].members, analysis::MemberScope::kChildren);
  EXPECT_EQ(spec->indicators[4].min_moves, 2);
  EXPECT_TRUE(spec->indicators[4].dataset.empty());

  ASSERT_EQ(spec->flags.size(), 2u);
  EXPECT_THAT(spec->flags[0].any, ElementsAre("bijstand", "low_income", "moves"));
  EXPECT_THAT(spec->flags[1].all, ElementsAre("se", "crime"));
  EXPECT_EQ(spec->flags[1].line, 24);

  EXPECT_EQ(spec->prices_file, "../prices/unit_costs_2014.csv");
  ASSERT_EQ(spec->cost_items.size(), 2u);
  EXPECT_EQ(spec->cost_items[1].volume, analysis::CostItemSpec::Volume::kDaysInYear);
  EXPECT_EQ(spec->cost_items[1].line, 29);
  ASSERT_EQ(spec->sensitivity.size(), 1u);
  EXPECT_EQ(spec->sensitivity[0].price, "bijstand_benefit");
  EXPECT_DOUBLE_EQ(spec->sensitivity[0].low, 0.9);
  EXPECT_FALSE(spec->min_cell.has_value());

  ASSERT_EQ(spec->tables.size(), 4u);
  const analysis::TableSpec& t1 = spec->tables[0];
  EXPECT_EQ(t1.kind, analysis::TableKind::kCounts);
  EXPECT_EQ(t1.line, 33);
  EXPECT_EQ(t1.rows, analysis::Dimension::kArea);
  EXPECT_EQ(t1.total_label, "total");
  ASSERT_EQ(t1.columns.size(), 2u);
  EXPECT_TRUE(t1.columns[0].where.all.empty());
  EXPECT_FALSE(t1.columns[0].percent);
  EXPECT_THAT(t1.columns[1].where.all, ElementsAre("se"));
  EXPECT_TRUE(t1.columns[1].percent);
  EXPECT_EQ(spec->tables[1].kind, analysis::TableKind::kOverlap);
  EXPECT_THAT(spec->tables[1].flags, ElementsAre("se", "crime"));
  const analysis::TableSpec& costs = spec->tables[2];
  EXPECT_EQ(costs.kind, analysis::TableKind::kCosts);
  EXPECT_FALSE(costs.by_payer);
  ASSERT_EQ(costs.cost_columns.size(), 2u);
  EXPECT_THAT(costs.cost_columns[0].where.all, ElementsAre("both"));
  const analysis::TableSpec& sens = spec->tables[3];
  EXPECT_EQ(sens.kind, analysis::TableKind::kSensitivity);
  EXPECT_EQ(sens.costs_table, "costs");
  EXPECT_EQ(sens.mean_of, "both");
  EXPECT_EQ(sens.population, "families");  // taken from the costs table
}

TEST(AnalysisSpecTest, ParsesOptionalForms) {
  std::string yaml = std::string(kBase) + "disclosure: {min_cell: 15}\n";
  yaml = Replace(yaml, "  area: wijk\n", "  area: wijk\n  adult_age: 21\n");
  yaml = Replace(yaml, "{below: 9250}", "{below: 9250, at_least: -100}");
  yaml = Replace(yaml, "{label: se, count: se, percent: true}",
                 "{label: se13, where: {household_type: single, none: [se]}, reference: 1}");
  yaml = Replace(yaml, "rows: area",
                 "rows: [{label: a, count: se}, {label: b, where: {any: [crime, youth]}}]");
  yaml = Replace(yaml, "    total: total\n", "");
  yaml = Replace(yaml, "rows: item", "rows: payer\n    total: all payers");
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->min_cell, 15);
  EXPECT_EQ(spec->adult_age, 21);
  EXPECT_EQ(spec->indicators[1].filters[0].at_least, -100.0);
  const analysis::TableSpec& t1 = spec->tables[0];
  EXPECT_EQ(t1.rows, analysis::Dimension::kNone);
  ASSERT_EQ(t1.row_selections.size(), 2u);
  EXPECT_THAT(t1.row_selections[1].where.any, ElementsAre("crime", "youth"));
  EXPECT_EQ(t1.columns[1].reference, 1);
  EXPECT_EQ(t1.columns[1].where.household_type, "single");
  EXPECT_THAT(t1.columns[1].where.none, ElementsAre("se"));
  EXPECT_TRUE(spec->tables[2].by_payer);
  EXPECT_EQ(spec->tables[2].total_label, "all payers");
}

// ---------------------------------------------------------------------------------------------
// Malformed specs: each is kBase with `from` replaced by `to`; the error must name the line of
// the first occurrence of `marker` (or `line` when given) and contain every `expect` text.

struct BadSpec {
  const char* what;
  const char* from;
  const char* to;
  const char* marker;
  std::vector<const char*> expect;
  int line = 0;
};

int LineOfMarker(const std::string& yaml, const char* marker) {
  const size_t at = yaml.find(marker);
  EXPECT_NE(at, std::string::npos) << "marker '" << marker << "' not in the edited spec";
  return 1 + static_cast<int>(
                 std::count(yaml.begin(), yaml.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

const std::vector<BadSpec>& BadSpecs() {
  static const std::vector<BadSpec>* const kCases = new std::vector<BadSpec>{
      {"malformed YAML",
       "  birth_date: geboortedatum",
       "  birth_date: [geboortedatum",
       "  area: wijk",
       {"not valid YAML"}},
      {"unknown top-level key",
       "prices:",
       "colour: blue\nprices:",
       "colour",
       {"colour", "unknown key", "allowed here", "indicators"}},
      {"unknown indicator key",
       "members: adults",
       "member: adults",
       "member:",
       {"indicators.crime.member", "allowed here", "members"}},
      {"missing register key",
       "  dataset: brp\n",
       "",
       "  birth_date",
       {"register", "missing required key 'dataset'"}},
      {"missing analysis name",
       "analysis: test-spec\n",
       "",
       "title: Test",
       {"top level: missing required key 'analysis'"}},
      {"reference dates not a list",
       "reference_dates: [2014-12-31, 2013-12-31]",
       "reference_dates: 2014-12-31",
       "reference_dates",
       {"reference_dates", "list"}},
      {"bad date", "2013-12-31", "2013-02-30", "2013-02-30", {"reference_dates[1]", "yyyy-mm-dd"}},
      {"duplicate reference date", "2013-12-31", "2014-12-31", "2014-12-31, 2014", {"twice"}},
      {"bad analysis name",
       "test-spec",
       "Test_Spec",
       "Test_Spec",
       {"analysis", "not a valid analysis name"}},
      {"bad indicator name",
       "  youth: {dataset",
       "  Youth: {dataset",
       "Youth",
       {"indicators.Youth", "not a valid name"}},
      {"duplicate indicator",
       "  moves: {moves_at_least: 2}",
       "  moves: {moves_at_least: 2}\n  crime: {dataset: politie, date: pleegdatum}",
       "date: pleegdatum}",
       {"indicators.crime: the key is given twice"}},
      {"flag named like an indicator",
       "  both: {",
       "  crime: {",
       "  crime: {all",
       {"flags.crime", "already an indicator"}},
      {"flag with unknown operand",
       "[se, crime]}",
       "[se, crim]}",
       "crim]",
       {"flags.both.all[1]", "'crim' is not an indicator or flag"}},
      {"flag using a later flag",
       "{any: [bijstand, low_income, moves]}",
       "{any: [bijstand, both]}",
       "bijstand, both",
       {"flags.se.any[1]", "flag 'both' is not defined before this flag"}},
      {"flag using itself",
       "{any: [bijstand, low_income, moves]}",
       "{any: [se]}",
       "[se]}",
       {"flags.se.any[0]", "a flag cannot use itself"}},
      {"flag with no operands",
       "{all: [se, crime]}",
       "{}",
       "both: {}",
       {"flags.both", "at least one of all, any, none"}},
      {"unknown household type",
       "{household_type: family}",
       "{household_type: famly}",
       "famly",
       {"populations.families.household_type", "'famly' is not a household type"}},
      {"household type min above max",
       "{adults: 1, children: 0}",
       "{adults: {min: 2, max: 1}, children: 0}",
       "min: 2",
       {"min is above max"}},
      {"unknown population",
       "    population: families\n    rows: area",
       "    population: famlies\n    rows: area",
       "famlies",
       {"tables[0].population", "'famlies' is not a population"}},
      {"selection with unknown flag",
       "{label: all}",
       "{label: all, where: {none: [mpg]}}",
       "[mpg]",
       {"tables[2].columns[1].where.none[0]", "'mpg'"}},
      {"count of unknown flag",
       "count: se, percent",
       "count: sse, percent",
       "sse",
       {"tables[0].columns[1].count", "'sse' is not an indicator or flag"}},
      {"spell not a pair",
       "spell: [start, eind], members: children",
       "spell: [start], members: children",
       "[start]",
       {"indicators.youth.spell", "[from, to]"}},
      {"two periods",
       "year: jaar}",
       "year: jaar, date: datum}",
       "date: datum",
       {"indicators.low_income.date", "only one of spell, date and year"}},
      {"bad members",
       "members: adults",
       "members: parents",
       "parents",
       {"'parents' is not one of any, adults, children"}},
      {"year_offset without period",
       "date: pleegdatum, members: adults",
       "members: adults, year_offset: -1",
       "year_offset",
       {"year_offset needs a period"}},
      {"register indicator with a filter",
       "{moves_at_least: 2}",
       "{moves_at_least: 2, where: {wijk: [a]}}",
       "where: {wijk",
       {"indicators.moves.where", "does not go with moves_at_least"}},
      {"indicator without dataset",
       "{moves_at_least: 2}",
       "{members: any}",
       "moves: {",
       {"indicators.moves", "give 'dataset'"}},
      {"filter with unknown bound",
       "{below: 9250}",
       "{above: 9250}",
       "above",
       {"indicators.low_income.where.inkomen.above", "allowed here: below, at_least"}},
      {"filter bound not a number",
       "{below: 9250}",
       "{below: lots}",
       "lots",
       {"where.inkomen.below", "expected a number"}},
      {"empty filter range",
       "{below: 9250}",
       "{below: 9250, at_least: 9250}",
       "{below: 9250",
       {"where.inkomen", "at_least must be below 'below'"}},
      {"amount volume without amount",
       "volume: records, prices: [bijstand_benefit]",
       "volume: amount",
       "bijstand: {indicator",
       {"costs.items.bijstand", "volume amount needs 'amount"}},
      {"records volume without prices",
       "volume: records, prices: [bijstand_benefit],",
       "volume: records,",
       "bijstand: {indicator",
       {"costs.items.bijstand", "volume records needs 'prices"}},
      {"amount volume with prices",
       "volume: records, prices: [bijstand_benefit]",
       "volume: amount, amount: bedrag, prices: [bijstand_benefit]",
       "prices: [bijstand_benefit",
       {"costs.items.bijstand.prices", "remove prices"}},
      {"unknown volume",
       "volume: records",
       "volume: persons",
       "persons",
       {"'persons' is not one of records, units, days_in_year, amount"}},
      {"days of a non-spell indicator",
       "{indicator: youth, volume: days_in_year",
       "{indicator: low_income, volume: days_in_year",
       "days_in_year",
       {"days_in_year needs an indicator with a spell"}},
      {"cost item of unknown indicator",
       "{indicator: youth,",
       "{indicator: yuoth,",
       "yuoth",
       {"costs.items.youth.indicator", "'yuoth' is not an indicator"}},
      {"cost item of a flag",
       "{indicator: youth,",
       "{indicator: se,",
       "indicator: se",
       {"not an indicator", "not a flag"}},
      {"cost item without payer",
       ", payer: city}\n    youth",
       "}\n    youth",
       "bijstand: {indicator",
       {"costs.items.bijstand", "missing required key 'payer'"}},
      {"costs without prices",
       "prices: ../prices/unit_costs_2014.csv\n",
       "",
       "items:",
       {"costs", "add 'prices:"}},
      {"sensitivity with price and item",
       "price: bijstand_benefit, low",
       "price: bijstand_benefit, item: youth, low",
       "- {label: benefit",
       {"costs.sensitivity[0]", "exactly one"}},
      {"sensitivity with neither",
       "price: bijstand_benefit, low",
       "low",
       "- {label: benefit",
       {"costs.sensitivity[0]", "exactly one"}},
      {"sensitivity of unknown item",
       "price: bijstand_benefit, low",
       "item: yuoth, low",
       "yuoth",
       {"costs.sensitivity[0].item", "'yuoth' is not a cost item"}},
      {"sensitivity factor zero",
       "low: 0.9",
       "low: 0",
       "low: 0",
       {"costs.sensitivity[0].low", "above 0"}},
      {"sensitivity low above high",
       "low: 0.9, high: 1.1",
       "low: 1.2, high: 1.1",
       "low: 1.2",
       {"low is above high"}},
      {"overlap with one flag",
       "flags: [se, crime]",
       "flags: [se]",
       "flags: [se]",
       {"tables[1].flags", "at least two flags"}},
      {"overlap with a flag twice",
       "flags: [se, crime]",
       "flags: [se, se]",
       "flags: [se, se]",
       {"tables[1].flags[1]", "listed twice"}},
      {"sensitivity of a counts table",
       "costs: costs, column",
       "costs: t1, column",
       "costs: t1",
       {"tables[3].costs", "'t1' is not a costs table above this one"}},
      {"sensitivity of an unknown column",
       "column: both}",
       "column: mpg}",
       "column: mpg",
       {"tables[3].column", "'mpg' is not a column of costs table 'costs'", "both, all"}},
      {"sensitivity with another population",
       "costs: costs, column",
       "population: households, costs: costs, column",
       "population: households",
       {"tables[3].population", "must be the population of costs table"}},
      {"reference out of range",
       "{label: se, count: se, percent: true}",
       "{label: se, count: se, percent: true, reference: 2}",
       "reference: 2",
       {"tables[0].columns[1].reference", "out of range", "0 to 1"}},
      {"percent not a boolean",
       "percent: true",
       "percent: maybe",
       "maybe",
       {"tables[0].columns[1].percent", "true or false"}},
      {"count and where",
       "{label: se, count: se, percent: true}",
       "{label: se, count: se, where: {any: [crime]}}",
       "where: {any: [crime",
       {"tables[0].columns[1].where", "not both"}},
      {"unknown column key",
       "percent: true}",
       "pct: true}",
       "pct",
       {"tables[0].columns[1].pct", "unknown key 'pct'", "label, count, where, percent"}},
      {"column without label",
       "{label: n}",
       "{percent: true}",
       "{percent: true}",
       {"tables[0].columns[0]", "missing required key 'label'"}},
      {"duplicate column label",
       "{label: n}",
       "{label: se}",
       "{label: se}",
       {"tables[0].columns[1]", "label 'se' is used twice"},
       39},
      {"unknown dimension",
       "rows: area",
       "rows: gemeente",
       "gemeente",
       {"tables[0].rows", "'gemeente' is not a dimension"}},
      {"rows by area without area",
       "  area: wijk\n",
       "",
       "    rows: area",
       {"tables[0].rows", "add register.area"}},
      {"costs rows not item or payer",
       "rows: item",
       "rows: area",
       "rows: area\n    columns: [",
       {"tables[2].rows", "not item or payer"}},
      {"unknown table kind",
       "kind: overlap",
       "kind: venn",
       "venn",
       {"tables[1].kind", "'venn' is not one of counts, overlap, costs, sensitivity"}},
      {"key of another table kind",
       "kind: overlap, population: families,",
       "kind: overlap, population: families, total: x,",
       "total: x",
       {"tables[1].total", "allowed here: name, title, kind, population, flags"}},
      {"duplicate table name",
       "  - name: costs\n",
       "  - name: t1\n",
       "  - name: t1",
       {"table 't1' is defined twice"},
       41},
      {"bad table name",
       "name: t1",
       "name: Table-1",
       "Table-1",
       {"tables[0].name", "not a valid name"}},
      {"min_cell zero",
       "prices:",
       "disclosure: {min_cell: 0}\nprices:",
       "min_cell",
       {"disclosure.min_cell", "out of range"}},
      {"snapshot and an address period",
       "  address_from: adres_van",
       "  snapshot: 2014-12-31\n  address_from: adres_van",
       "address_from: adres_van",
       {"register.address_from", "not both"}},
      {"neither snapshot nor address period",
       "  address_from: adres_van\n  address_to: adres_tot\n",
       "",
       "  dataset: brp",
       {"register:", "snapshot: yyyy-mm-dd"}},
      {"address_from without address_to",
       "  address_to: adres_tot\n",
       "",
       "  dataset: brp",
       {"register:", "missing required key 'address_to'"}},
      {"moves with an address period",
       "  area: wijk\n",
       "  area: wijk\n  moves: verhuizingen\n",
       "moves: verhuizingen",
       {"register.moves", "goes with snapshot"}},
      {"snapshot not a date",
       "  address_from: adres_van\n  address_to: adres_tot\n",
       "  snapshot: end of 2014\n",
       "snapshot:",
       {"register.snapshot", "yyyy-mm-dd"}},
      {"prices and price_by",
       "prices: [bijstand_benefit], payer",
       "prices: [bijstand_benefit], price_by: regeling, payer",
       "price_by",
       {"costs.items.bijstand.price_by", "not both"}},
      {"price_by of units",
       "volume: records, prices: [bijstand_benefit]",
       "volume: units, price_by: regeling",
       "price_by",
       {"costs.items.bijstand.price_by", "volume units counts households"}},
      {"price_by of actual amounts",
       "volume: records, prices: [bijstand_benefit]",
       "volume: amount, amount: bedrag, price_by: regeling",
       "price_by: regeling",
       {"costs.items.bijstand.price_by", "remove price_by"}},
      {"in_total not a boolean",
       "payer: city}\n    youth",
       "payer: city, in_total: no way}\n    youth",
       "no way",
       {"costs.items.bijstand.in_total", "true or false"}},
  };
  return *kCases;
}

TEST(AnalysisSpecTest, RejectsMalformedSpecsNamingLineAndProblem) {
  ASSERT_GE(BadSpecs().size(), 20u);
  for (const BadSpec& c : BadSpecs()) {
    SCOPED_TRACE(c.what);
    const std::string yaml = Replace(kBase, c.from, c.to);
    absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
    ASSERT_FALSE(spec.ok());
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(spec.status().message());
    const int line = c.line > 0 ? c.line : LineOfMarker(yaml, c.marker);
    EXPECT_THAT(message, StartsWith("t.yaml:" + std::to_string(line) + ":")) << message;
    for (const char* text : c.expect) EXPECT_THAT(message, HasSubstr(text));
  }
}

// A snapshot register: a register extract on one date, without address periods.
std::string SnapshotSpec() {
  std::string yaml = Replace(kBase, "  address_from: adres_van\n  address_to: adres_tot\n",
                             "  snapshot: 2014-12-31\n  moves: verhuizingen\n");
  return Replace(yaml, "reference_dates: [2014-12-31, 2013-12-31]",
                 "reference_dates: [2014-12-31]");
}

TEST(AnalysisSpecTest, ParsesASnapshotRegister) {
  std::string yaml = Replace(SnapshotSpec(), "moves: {moves_at_least: 2}",
                             "moves: {moves_at_least: 2}\n  moved: {dataset: brp, where: "
                             "{verhuizingen: {at_least: 2}}}");
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_TRUE(spec->snapshot.has_value());
  EXPECT_EQ(IsoDate(*spec->snapshot), "2014-12-31");
  EXPECT_EQ(spec->moves_attribute, "verhuizingen");
  EXPECT_TRUE(spec->valid_from_attribute.empty());
  EXPECT_TRUE(spec->valid_to_attribute.empty());
  const analysis::IndicatorSpec* moved = FindIndicator(*spec, "moved");
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(moved->dataset, "brp");
  EXPECT_EQ(moved->filters[0].at_least, 2.0);
}

TEST(AnalysisSpecTest, RefusesWhatASnapshotRegisterCannotAnswer) {
  // A comparison date the snapshot does not cover: named with its line and column.
  std::string yaml = Replace(SnapshotSpec(), "reference_dates: [2014-12-31]",
                             "reference_dates: [2014-12-31, 2013-12-31]");
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(Message(spec.status()), StartsWith("t.yaml:3:31: reference_dates[1]: 2013-12-31 "
                                                 "is not the register's snapshot date 2014-12-31"));
  // Moves without the register's count of them.
  yaml = Replace(SnapshotSpec(), "  moves: verhuizingen\n", "");
  spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(Message(spec.status()), HasSubstr("indicators.moves.moves_at_least"));
  EXPECT_THAT(Message(spec.status()), HasSubstr("register.moves"));
  // Moves of another year than the snapshot's.
  yaml = Replace(SnapshotSpec(), "{moves_at_least: 2}", "{moves_at_least: 2, year_offset: -1}");
  spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(Message(spec.status()), HasSubstr("indicators.moves.year_offset"));
}

TEST(AnalysisSpecTest, ParsesCostItemsApartAndPricedByCode) {
  std::string yaml = Replace(kBase, "payer: city}\n    youth",
                             "payer: city}\n    crime: {indicator: crime, volume: records, "
                             "price_by: feit, payer: justice, in_total: false}\n    youth");
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const analysis::CostItemSpec* crime = FindItem(*spec, "crime");
  ASSERT_NE(crime, nullptr);
  EXPECT_EQ(crime->price_by, "feit");
  EXPECT_TRUE(crime->prices.empty());
  EXPECT_FALSE(crime->in_total);
  EXPECT_TRUE(FindItem(*spec, "youth")->in_total);
  EXPECT_EQ(spec->Where("costs.items.crime.price_by"), "t.yaml:29:58: costs.items.crime.price_by");

  // Varying an item outside the total would vary no mean.
  yaml = Replace(yaml, "price: bijstand_benefit, low", "item: crime, low");
  spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(Message(spec.status()), HasSubstr("costs.sensitivity[0].item"));
  EXPECT_THAT(Message(spec.status()), HasSubstr("in_total: false"));
}

TEST(AnalysisSpecTest, RemembersWhereTheAttributesAreWritten) {
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(kBase, "t.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->source, "t.yaml");
  EXPECT_EQ(spec->Where("register.address_from"), "t.yaml:8:17: register.address_from");
  EXPECT_EQ(spec->Where("indicators.low_income.where.inkomen"),
            "t.yaml:18:42: indicators.low_income.where.inkomen");
  EXPECT_EQ(spec->Where("indicators.bijstand.spell[1]"),
            "t.yaml:17:84: indicators.bijstand.spell[1]");
  EXPECT_EQ(spec->Where("indicators"), "t.yaml:17:3: indicators");
  EXPECT_EQ(spec->Where("no.such.key"), "t.yaml: no.such.key");
}

TEST(EngineLimitsTest, ManyIndicatorsPassAndTooManyAreASpecErrorWithItsPlace) {
  auto with_indicators = [](size_t n) {
    std::string extra;
    for (size_t i = 0; i < n; ++i) {
      extra += fmt::format(
          "  offence_{}: {{dataset: politie, where: {{feit: [f{}]}}, date: "
          "pleegdatum}}\n",
          i, i);
    }
    return Replace(kBase, "  moves: {moves_at_least: 2}\n",
                   "  moves: {moves_at_least: 2}\n" + extra);
  };
  absl::StatusOr<analysis::AnalysisSpec> spec =
      analysis::ParseAnalysisSpec(with_indicators(150), "t.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->indicators.size(), 155u);
  EXPECT_TRUE(analysis::CheckEngineLimits(*spec).ok()) << analysis::CheckEngineLimits(*spec);

  spec =
      analysis::ParseAnalysisSpec(with_indicators(analysis::EngineLimits::kIndicators), "t.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::Status over = analysis::CheckEngineLimits(*spec);
  EXPECT_EQ(over.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(over), StartsWith("t.yaml:17:3: indicators: the spec defines 517 "
                                        "indicators; the analysis engine supports at most 512"));
  EXPECT_THAT(Message(over), HasSubstr("not a covenant rule"));
}

TEST(AnalysisSpecTest, RejectsAnEmptyTablesList) {
  std::string yaml = kBase;
  yaml.resize(yaml.find("tables:"));
  yaml += "tables: []\n";
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(Message(spec.status()), StartsWith("t.yaml:32:"));
  EXPECT_THAT(Message(spec.status()), HasSubstr("one or more tables"));
}

TEST(AnalysisSpecTest, RejectsEmptyAndNonMappingDocuments) {
  EXPECT_THAT(analysis::ParseAnalysisSpec("", "t.yaml").status().message(), HasSubstr("empty"));
  absl::StatusOr<analysis::AnalysisSpec> list = analysis::ParseAnalysisSpec("- a\n- b\n", "t.yaml");
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(Message(list.status()), StartsWith("t.yaml:1:1: top level: expected a mapping"));
}

TEST(AnalysisSpecTest, RejectsADuplicateKeyOfAMapping) {
  const std::string yaml =
      Replace(kBase, "  moves: {", "  youth: {dataset: jeugdzorg}\n  moves: {");
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(Message(spec.status()), StartsWith("t.yaml:21:"));
  EXPECT_THAT(Message(spec.status()), HasSubstr("youth: the key is given twice"));
}

// Nested and flow-style mappings too: yaml-cpp alone would keep the first and other readers
// the last, so an approved spec could compute something else elsewhere.
TEST(AnalysisSpecTest, RejectsADuplicateKeyAtAnyDepth) {
  const std::string nested = Replace(kBase, "  moves: {", "  moves: {moves_at_least: 3, ");
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(nested, "t.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(Message(spec.status()), HasSubstr("moves.moves_at_least: the key is given twice"));
  spec = analysis::ParseAnalysisSpec(std::string(kBase) + "---\n" + kBase, "t.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(Message(spec.status()), HasSubstr("a second YAML document"));
}

// ---------------------------------------------------------------------------------------------
// The shipped specs.

absl::StatusOr<analysis::PriceTable> ShippedPrices() {
  return analysis::ParsePrices(ReadSourceFile("prices/unit_costs_2014.csv"), "unit_costs_2014.csv");
}

TEST(ShippedSpecTest, AlmeloSpecDescribesTheWholeStudy) {
  absl::StatusOr<analysis::AnalysisSpec> spec =
      analysis::ParseAnalysisSpec(ReadSourceFile("analyses/almelo-mpg.yaml"), "almelo-mpg.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "almelo-mpg");
  ASSERT_EQ(spec->reference_dates.size(), 2u);
  EXPECT_EQ(spec->reference_dates[0], absl::CivilDay(2014, 12, 31));
  EXPECT_EQ(spec->area_labels.size(), 12u);
  EXPECT_EQ(spec->area_labels.at("WK014100"), "Binnenstad");
  EXPECT_EQ(spec->area_labels.at("WK014105"), "Nieuwstraat-Kwartier");
  EXPECT_EQ(spec->area_labels.at("WK014111"), "Bornerbroek");

  std::vector<std::string> tables;
  for (const analysis::TableSpec& t : spec->tables) tables.push_back(t.name);
  EXPECT_THAT(tables, ElementsAre("table1_socio_economic", "table2_psychosocial_adults",
                                  "table3_psychosocial_children_youthcare",
                                  "table4_psychosocial_children_other", "table5_overlap",
                                  "table5_support_years", "mpg_per_wijk", "costs",
                                  "cost_sensitivity", "year_on_year"));
  // Published column order (reference/nji-almelo/table1_socio_economic.csv).
  const analysis::TableSpec* t1 = FindTable(*spec, "table1_socio_economic");
  EXPECT_THAT(ColumnLabels(*t1), ElementsAre("families_N", "any", "bijstand", "moves", "ww",
                                             "other_social", "disability", "low_income"));
  EXPECT_EQ(t1->total_label, "Almelo totaal");
  EXPECT_EQ(t1->rows, analysis::Dimension::kArea);
  EXPECT_EQ(t1->population, "families");
  EXPECT_THAT(ColumnLabels(*FindTable(*spec, "table4_psychosocial_children_other")),
              ElementsAre("families_N", "basis_ggz", "specialist_ggz", "guardianship",
                          "foster_care", "ots", "crime_suspect", "awbz"));
  EXPECT_THAT(FindTable(*spec, "table5_overlap")->flags,
              ElementsAre("socio_economic", "psychosocial_adults", "psychosocial_children"));
  EXPECT_EQ(FindTable(*spec, "mpg_per_wijk")->population, "households");
  EXPECT_EQ(FindTable(*spec, "year_on_year")->columns[1].reference, 1);
  EXPECT_EQ(FindTable(*spec, "cost_sensitivity")->costs_table, "costs");

  // Definitions of docs/synth.md.
  EXPECT_EQ(spec->populations.at("families").household_type, "family");
  EXPECT_EQ(spec->household_types[0].adults.min, 1);
  EXPECT_EQ(spec->household_types[0].children.min, 1);
  EXPECT_EQ(FindIndicator(*spec, "moves")->min_moves, 2);
  EXPECT_EQ(FindIndicator(*spec, "low_income")->filters[0].below, 9250.0);
  EXPECT_EQ(FindIndicator(*spec, "adult_crime_suspect")->members, analysis::MemberScope::kAdults);
  EXPECT_EQ(FindIndicator(*spec, "child_specialist_ggz")->members,
            analysis::MemberScope::kChildren);
  EXPECT_EQ(FindIndicator(*spec, "youth_care_2y")->period.year_offset, -2);
  EXPECT_EQ(FindIndicator(*spec, "youth_care_2y")->members, analysis::MemberScope::kAny);
  EXPECT_EQ(FindIndicator(*spec, "care_1y")->period.year_offset, -1);
  EXPECT_THAT(FindFlag(*spec, "mpg")->all, ElementsAre("all_three", "chronic"));
  EXPECT_THAT(FindFlag(*spec, "chronic")->all, ElementsAre("support_2012", "support_2013"));
  EXPECT_EQ(FindFlag(*spec, "psychosocial_children")->any.size(), 12u);

  // Cost items and their unit costs as synth.md states them.
  EXPECT_EQ(spec->cost_items.size(), 26u);
  absl::StatusOr<analysis::PriceTable> prices = ShippedPrices();
  ASSERT_TRUE(prices.ok()) << prices.status();
  EXPECT_TRUE(analysis::CheckSpecPrices(*spec, *prices, "almelo-mpg.yaml").ok());
  EXPECT_NEAR(UnitCost(*FindItem(*spec, "ww"), *prices), 26956.90, 1e-6);
  EXPECT_NEAR(UnitCost(*FindItem(*spec, "bijstand"), *prices), 18969.89, 1e-6);
  EXPECT_NEAR(UnitCost(*FindItem(*spec, "disability"), *prices), 13789.00, 1e-6);
  EXPECT_NEAR(UnitCost(*FindItem(*spec, "other_social"), *prices), 15646.00, 1e-6);
  EXPECT_NEAR(UnitCost(*FindItem(*spec, "foster_care"), *prices), 17.91 + 16.76, 1e-6);
  EXPECT_EQ(FindItem(*spec, "foster_care")->volume, analysis::CostItemSpec::Volume::kDaysInYear);
  EXPECT_EQ(FindItem(*spec, "low_income")->volume, analysis::CostItemSpec::Volume::kUnits);
  const analysis::CostItemSpec* ggz = FindItem(*spec, "ggz_basic_and_specialist");
  ASSERT_NE(ggz, nullptr);
  EXPECT_EQ(ggz->volume, analysis::CostItemSpec::Volume::kAmount);
  EXPECT_EQ(ggz->amount_attribute, "kosten");
  int crime_items = 0;
  for (const analysis::CostItemSpec& item : spec->cost_items) {
    if (item.name.starts_with("crime_")) {
      ++crime_items;
      EXPECT_THAT(item.prices, ElementsAre(item.name));
      EXPECT_EQ(FindIndicator(*spec, item.indicator)->members, analysis::MemberScope::kAny);
    }
  }
  EXPECT_EQ(crime_items, 10);
}

TEST(ShippedSpecTest, CohortMonitorSpec) {
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(
      ReadSourceFile("analyses/cohort-monitor.yaml"), "cohort-monitor.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  std::vector<std::string> types;
  for (const analysis::HouseholdTypeSpec& t : spec->household_types) types.push_back(t.name);
  EXPECT_THAT(types, ElementsAre("single", "couple_or_more", "one_parent", "two_parents"));
  EXPECT_EQ(spec->household_types[1].adults.min, 2);
  EXPECT_EQ(spec->household_types[1].children.max, 0);
  EXPECT_THAT(spec->populations.at("cohort").all, ElementsAre("in_cohort"));
  const analysis::IndicatorSpec* cohort = FindIndicator(*spec, "in_cohort");
  EXPECT_EQ(cohort->dataset, "wijkteam");
  EXPECT_EQ(cohort->period.kind, analysis::PeriodKind::kSpell);
  EXPECT_EQ(FindIndicator(*spec, "eviction_notice")->dataset, "woningcorporatie");
  EXPECT_EQ(FindIndicator(*spec, "eviction_notice")->period.kind, analysis::PeriodKind::kDateIn);

  ASSERT_EQ(spec->tables.size(), 2u);
  EXPECT_EQ(spec->tables[0].rows, analysis::Dimension::kHouseholdType);
  EXPECT_THAT(ColumnLabels(spec->tables[0]), ElementsAre("households_N", "eviction_notice", "ots",
                                                         "out_of_home", "crime_suspect"));
  EXPECT_TRUE(spec->tables[1].by_payer);
  EXPECT_EQ(spec->tables[1].cost_columns.size(), 5u);

  std::map<std::string, std::set<std::string>> by_payer;
  for (const analysis::CostItemSpec& item : spec->cost_items)
    by_payer[item.payer].insert(item.name);
  EXPECT_THAT(by_payer["municipality"],
              ElementsAre("bijstand", "foster_care", "low_income", "youth_ambulant",
                          "youth_day_treatment", "youth_residential"));
  EXPECT_THAT(by_payer["uwv"], ElementsAre("disability", "other_social", "ww"));
  EXPECT_THAT(by_payer["insurer"], ElementsAre("awbz_intellectual", "awbz_physical",
                                               "awbz_psychosocial", "ggz_basic_and_specialist"));
  EXPECT_EQ(by_payer["justice"].size(), 13u);
  EXPECT_EQ(by_payer.size(), 4u);
  absl::StatusOr<analysis::PriceTable> prices = ShippedPrices();
  ASSERT_TRUE(prices.ok()) << prices.status();
  EXPECT_TRUE(analysis::CheckSpecPrices(*spec, *prices, "cohort-monitor.yaml").ok());
}

// ---------------------------------------------------------------------------------------------
// Prices.

TEST(PricesTest, ParsesTheShippedFile) {
  absl::StatusOr<analysis::PriceTable> prices = ShippedPrices();
  ASSERT_TRUE(prices.ok()) << prices.status();
  EXPECT_EQ(prices->items.size(), 31u);
  EXPECT_DOUBLE_EQ(*prices->items.at("ww_benefit").price, 24700.90);
  EXPECT_DOUBLE_EQ(*prices->items.at("foster_care_guidance").price, 16.76);
  EXPECT_DOUBLE_EQ(*prices->items.at("crime_murder").price, 993293.44);
  EXPECT_EQ(prices->items.at("youth_residential").unit, "per admission day");
  EXPECT_FALSE(prices->items.at("ggz_basic_and_specialist").price.has_value());
}

TEST(PricesTest, ReadsQuotingBomCrlfAndAnyColumnOrder) {
  absl::StatusOr<analysis::PriceTable> prices = analysis::ParsePrices(
      "\xEF\xBB\xBFnote,price_eur_2014,unit,cost_item\r\n"
      "\"a, b\",12.5,per day,x\r\n"
      "\r\n"
      ",,actual cost,y\r\n",
      "p.csv");
  ASSERT_TRUE(prices.ok()) << prices.status();
  ASSERT_EQ(prices->items.size(), 2u);
  EXPECT_DOUBLE_EQ(*prices->items.at("x").price, 12.5);
  EXPECT_EQ(prices->items.at("x").unit, "per day");
  EXPECT_FALSE(prices->items.at("y").price.has_value());
}

struct BadPrices {
  const char* what;
  const char* csv;
  std::vector<const char*> expect;
};

TEST(PricesTest, RejectsMalformedFilesNamingLineAndColumn) {
  const std::vector<BadPrices> cases = {
      {"bad number",
       "cost_item,unit,price_eur_2014\na,u,1.5\nb,u,12,5\n",
       {"p.csv:3:", "has 4 fields, the header 3"}},
      {"quoted comma number",
       "cost_item,unit,price_eur_2014\na,u,1.5\nb,u,\"24,700.90\"\n",
       {"p.csv:3: column price_eur_2014:", "'24,700.90' is not a price"}},
      {"text price",
       "cost_item,unit,price_eur_2014\na,u,n.v.t.\n",
       {"p.csv:2: column price_eur_2014:", "'n.v.t.'"}},
      {"three decimals", "cost_item,unit,price_eur_2014\na,u,1.234\n", {"p.csv:2:", "1.234"}},
      {"negative price", "cost_item,unit,price_eur_2014\na,u,-5.00\n", {"p.csv:2:", "-5.00"}},
      {"missing column",
       "cost_item,unit,price\na,u,1\n",
       {"p.csv:1:", "no column 'price_eur_2014'"}},
      {"missing item column",
       "item,unit,price_eur_2014\na,u,1\n",
       {"p.csv:1:", "no column 'cost_item'"}},
      {"duplicate item",
       "cost_item,unit,price_eur_2014\na,u,1\nb,u,2\na,u,3\n",
       {"p.csv:4: column cost_item:", "'a' is listed twice (first on line 2)"}},
      {"bad item name",
       "cost_item,unit,price_eur_2014\nWW benefit,u,1\n",
       {"p.csv:2: column cost_item:", "not a valid item name"}},
      {"bad quoting", "cost_item,unit,price_eur_2014\na,u\"x,1\n", {"p.csv:2:"}},
      {"header only", "cost_item,unit,price_eur_2014\n", {"p.csv:", "no prices"}},
      {"empty", "", {"p.csv:", "empty"}},
      {"not UTF-8", "cost_item,unit,price_eur_2014\na,caf\xE9,1\n", {"UTF-8"}},
  };
  for (const BadPrices& c : cases) {
    SCOPED_TRACE(c.what);
    absl::StatusOr<analysis::PriceTable> prices = analysis::ParsePrices(c.csv, "p.csv");
    ASSERT_FALSE(prices.ok());
    EXPECT_EQ(prices.status().code(), absl::StatusCode::kInvalidArgument);
    for (const char* text : c.expect) EXPECT_THAT(Message(prices.status()), HasSubstr(text));
  }
}

TEST(PricesTest, ChecksThePricesASpecNames) {
  absl::StatusOr<analysis::PriceTable> prices = ShippedPrices();
  ASSERT_TRUE(prices.ok()) << prices.status();
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(kBase, "t.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(analysis::CheckSpecPrices(*spec, *prices, "t.yaml").ok());

  std::string yaml = Replace(kBase, "prices: [youth_residential]", "prices: [youth_residentail]");
  spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::Status status = analysis::CheckSpecPrices(*spec, *prices, "t.yaml");
  EXPECT_THAT(Message(status), StartsWith("t.yaml:29: costs.items.youth.prices:"));
  EXPECT_THAT(Message(status), HasSubstr("'youth_residentail' is not in the prices file"));

  yaml = Replace(kBase, "price: bijstand_benefit", "price: ggz_basic_and_specialist");
  spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  status = analysis::CheckSpecPrices(*spec, *prices, "t.yaml");
  EXPECT_THAT(Message(status), StartsWith("t.yaml:31: costs.sensitivity[0].price:"));
  EXPECT_THAT(Message(status), HasSubstr("has no price"));
}

}  // namespace
}  // namespace koppel
