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

// ---------------------------------------------------------------------------------------------
// Cost-benefit (docs/analysis.md, "Cost-benefit"): the section of the design, the groups and
// items the parser appends, and its validation.

namespace cost_benefit_test {

constexpr char kCostBenefit[] = R"(analysis: cb
reference_dates: [2014-12-31]
register: {dataset: brp, birth_date: geboortedatum, area: wijk, address_from: adres_van, address_to: adres_tot}
household_types:
  single: {adults: 1, children: 0}
  family: {adults: {min: 1}, children: {min: 1}}
populations:
  households: {}
indicators:
  wijkteam_2014: {dataset: wijkteam, date: start}
  wijkteam_ever: {dataset: wijkteam}
  eviction_notice: {dataset: woningcorporatie, date: datum}
  police_registration: {dataset: politie, date: pleegdatum}
  out_of_home_placement: {dataset: jeugdzorg, spell: [start, eind], members: children}
  bijstand_spell: {dataset: sociale_zaken, spell: [start, eind]}
  low_income: {dataset: inkomen, where: {inkomen: {below: 9250}}, year: jaar}
  moves: {moves_at_least: 2}
flags:
  socio_economic: {any: [bijstand_spell, low_income, moves]}
prices: prices.csv
cost_benefit:
  cohort: {indicator: wijkteam_2014, start: start}
  comparison:
    exclude: [wijkteam_ever]
    match_on: [household_type, area, socio_economic]
  horizon: 4
  discount_rate: 0.025
  risk_premium: 0.005
  windows:
    - {label: year_before, years: [-1, -1]}
    - {label: first_12_months, years: [1, 1]}
    - {label: years_2_4, years: [2, 4]}
  outcomes:
    eviction_notice: {indicator: eviction_notice, volume: records, price: eviction_notice}
    police_registration: {indicator: police_registration, volume: records, price: police_registration, payer: justice}
    out_of_home_days: {indicator: out_of_home_placement, volume: days, price: out_of_home_day}
    bijstand_days: {indicator: bijstand_spell, volume: days, price: bijstand_day}
    quality_of_life: {pm: "wellbeing of the children; no agreed price"}
  costs:
    coaching: {per_household: 1975, payer: participatiewet}
    debt_help: {per_household: 800, payer: wgs}
  sensitivity:
    - {label: "prices -20% / +20%", varies: prices, low: 0.8, high: 1.2}
    - {label: "out-of-home day price -20% / +20%", varies: price, price: out_of_home_day, low: 0.8, high: 1.2}
    - {label: "discount rate 1.5% / 5.5%", varies: rate, low: 0.015, high: 0.055}
    - {label: "effects half / one and a half", varies: effect, low: 0.5, high: 1.5}
    - {label: "intervention costs -10% / +25%", varies: costs, low: 0.9, high: 1.25}
tables:
  - {name: cost_benefit_outcomes, title: "o", kind: cost_benefit, show: outcomes}
  - {name: who_pays_who_gains, title: "p", kind: cost_benefit}
  - {name: cost_benefit_sensitivity, title: "s", kind: cost_benefit, show: sensitivity}
)";

constexpr char kPrices[] =
    "cost_item,unit,price_eur_2014,payer\n"
    "eviction_notice,per notice,2500.00,housing\n"
    "police_registration,per registration,1950.00,\n"
    "out_of_home_day,per day,255.16,jeugdwet\n"
    "bijstand_day,per day,51.97,participatiewet\n";

using analysis::CostBenefitRange;
using analysis::CostBenefitSpec;
using analysis::CostItemSpec;
using analysis::OutcomeSpec;

absl::StatusOr<analysis::AnalysisSpec> Parse(const std::string& yaml) {
  return analysis::ParseAnalysisSpec(yaml, "cb.yaml");
}

std::vector<std::string> ItemNames(const analysis::AnalysisSpec& spec) {
  std::vector<std::string> names;
  for (const CostItemSpec& item : spec.cost_items) names.push_back(item.name);
  return names;
}

TEST(CostBenefitSpecTest, ParsesTheSectionOfTheDesign) {
  absl::StatusOr<analysis::AnalysisSpec> spec = Parse(kCostBenefit);
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_TRUE(spec->cost_benefit.has_value());
  const CostBenefitSpec& cb = *spec->cost_benefit;
  EXPECT_EQ(cb.cohort_indicator, "wijkteam_2014");
  EXPECT_EQ(cb.start_attribute, "start");
  EXPECT_TRUE(cb.comparison);
  EXPECT_THAT(cb.exclude, ElementsAre("wijkteam_ever"));
  EXPECT_THAT(cb.match_on, ElementsAre("household_type", "area", "socio_economic"));
  EXPECT_EQ(cb.horizon, 4);
  EXPECT_DOUBLE_EQ(cb.discount_rate, 0.025);
  EXPECT_DOUBLE_EQ(cb.risk_premium, 0.005);
  EXPECT_DOUBLE_EQ(cb.Rate(), 0.03);
  EXPECT_THAT(cb.Years(), ElementsAre(-1, 1, 2, 3, 4));
  ASSERT_EQ(cb.windows.size(), 3u);
  EXPECT_EQ(cb.windows[0].label, "year_before");
  EXPECT_EQ(cb.windows[0].first_year, -1);
  EXPECT_EQ(cb.windows[0].last_year, -1);
  EXPECT_EQ(cb.windows[2].label, "years_2_4");
  EXPECT_EQ(cb.windows[2].first_year, 2);
  EXPECT_EQ(cb.windows[2].last_year, 4);

  ASSERT_EQ(cb.outcomes.size(), 5u);  // spec order, not sorted
  EXPECT_EQ(cb.outcomes[0].name, "eviction_notice");
  EXPECT_EQ(cb.outcomes[1].name, "police_registration");
  EXPECT_EQ(cb.outcomes[1].payer, "justice");
  EXPECT_EQ(cb.outcomes[0].payer, "");  // from the prices file later
  EXPECT_EQ(cb.outcomes[2].volume, OutcomeSpec::Volume::kDays);
  EXPECT_EQ(cb.outcomes[2].indicator, "out_of_home_placement");
  EXPECT_EQ(cb.outcomes[2].price, "out_of_home_day");
  EXPECT_TRUE(cb.outcomes[4].pm);
  EXPECT_EQ(cb.outcomes[4].note, "wellbeing of the children; no agreed price");
  ASSERT_EQ(cb.costs.size(), 2u);
  EXPECT_EQ(cb.costs[0].name, "coaching");
  EXPECT_DOUBLE_EQ(*cb.costs[0].per_household, 1975);
  EXPECT_EQ(cb.costs[1].payer, "wgs");
  ASSERT_EQ(cb.sensitivity.size(), 5u);
  EXPECT_EQ(cb.sensitivity[0].varies, CostBenefitRange::Varies::kAllPrices);
  EXPECT_EQ(cb.sensitivity[1].varies, CostBenefitRange::Varies::kPrice);
  EXPECT_EQ(cb.sensitivity[1].price, "out_of_home_day");
  EXPECT_EQ(cb.sensitivity[2].varies, CostBenefitRange::Varies::kRate);
  EXPECT_DOUBLE_EQ(cb.sensitivity[2].high, 0.055);
  EXPECT_EQ(cb.sensitivity[3].varies, CostBenefitRange::Varies::kEffect);
  EXPECT_EQ(cb.sensitivity[4].varies, CostBenefitRange::Varies::kCosts);
  EXPECT_DOUBLE_EQ(cb.sensitivity[4].low, 0.9);

  ASSERT_EQ(spec->tables.size(), 3u);
  for (const analysis::TableSpec& table : spec->tables) {
    EXPECT_EQ(table.kind, analysis::TableKind::kCostBenefit);
  }
  EXPECT_EQ(spec->tables[0].view, analysis::CostBenefitView::kOutcomes);
  EXPECT_EQ(spec->tables[1].view, analysis::CostBenefitView::kPayers);  // the default
  EXPECT_EQ(spec->tables[2].view, analysis::CostBenefitView::kSensitivity);
}

TEST(CostBenefitSpecTest, AppendsTheGroupsAfterTheSpecsIndicators) {
  absl::StatusOr<analysis::AnalysisSpec> spec = Parse(kCostBenefit);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const CostBenefitSpec& cb = *spec->cost_benefit;
  ASSERT_EQ(spec->indicators.size(), 8u + 3u);
  EXPECT_EQ(cb.cohort_bit, 8u);
  EXPECT_EQ(cb.comparison_bit, 9u);
  EXPECT_EQ(cb.unmatched_bit, 10u);
  const char* names[] = {"cb_cohort", "cb_comparison", "cb_unmatched"};
  for (size_t i = 0; i < 3; ++i) {
    const analysis::IndicatorSpec& group = spec->indicators[8 + i];
    EXPECT_EQ(group.name, names[i]);
    EXPECT_TRUE(group.set_after_scan);
    EXPECT_EQ(group.dataset, "");
    EXPECT_EQ(group.period.kind, analysis::PeriodKind::kAlways);
  }
  EXPECT_FALSE(spec->indicators[7].set_after_scan);  // moves, the spec's last
  EXPECT_EQ(spec->flags.size(), 1u);
  EXPECT_THAT(spec->populations.at("cb_cohort").all, ElementsAre("cb_cohort"));
  EXPECT_THAT(spec->populations.at("cb_comparison").all, ElementsAre("cb_comparison"));
  EXPECT_EQ(spec->populations.size(), 3u);
  EXPECT_EQ(spec->tables[0].population, "cb_cohort");
}

TEST(CostBenefitSpecTest, AppendsAnItemPerValuedOutcomeAndYearThenPerInterventionCost) {
  const std::string yaml =
      Replace(Replace(kCostBenefit, "prices: prices.csv\n",
                      "prices: prices.csv\ncosts:\n  items:\n    own: {indicator: "
                      "police_registration, volume: records, prices: [police_registration], "
                      "payer: justice}\n"),
              "\ntables:\n",
              "\ntables:\n  - {name: c, kind: costs, population: households, columns: "
              "[{label: all}]}\n");
  absl::StatusOr<analysis::AnalysisSpec> spec = Parse(yaml);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const CostBenefitSpec& cb = *spec->cost_benefit;
  EXPECT_EQ(cb.first_item, 1u);  // after the spec's own item
  EXPECT_THAT(ItemNames(*spec),
              ElementsAre("own", "eviction_notice@-1", "eviction_notice@1", "eviction_notice@2",
                          "eviction_notice@3", "eviction_notice@4", "police_registration@-1",
                          "police_registration@1", "police_registration@2", "police_registration@3",
                          "police_registration@4", "out_of_home_days@-1", "out_of_home_days@1",
                          "out_of_home_days@2", "out_of_home_days@3", "out_of_home_days@4",
                          "bijstand_days@-1", "bijstand_days@1", "bijstand_days@2",
                          "bijstand_days@3", "bijstand_days@4", "coaching@1", "debt_help@1"));
  EXPECT_FALSE(spec->cost_items[0].cost_benefit());
  EXPECT_TRUE(spec->cost_items[0].in_total);

  // (o, k) at first_item + o * Years().size() + position of k: out_of_home_days (2), year 3.
  const CostItemSpec& days = spec->cost_items[1 + 2 * 5 + 3];
  EXPECT_EQ(days.name, "out_of_home_days@3");
  EXPECT_EQ(days.volume, CostItemSpec::Volume::kDaysInYear);
  EXPECT_EQ(days.indicator, "out_of_home_placement");
  EXPECT_THAT(days.prices, ElementsAre("out_of_home_day"));
  EXPECT_EQ(days.relative_year, 3);
  EXPECT_EQ(days.outcome, 2);
  EXPECT_EQ(days.intervention, -1);
  EXPECT_FALSE(days.in_total);
  EXPECT_TRUE(days.cost_benefit());
  const CostItemSpec& before = spec->cost_items[1];
  EXPECT_EQ(before.volume, CostItemSpec::Volume::kRecords);
  EXPECT_EQ(before.relative_year, -1);
  EXPECT_EQ(spec->cost_items[1 + 5 + 1].payer, "justice");

  // Intervention c at first_item + valued outcomes * Years().size() + c.
  const CostItemSpec& debt = spec->cost_items[1 + 4 * 5 + 1];
  EXPECT_EQ(debt.name, "debt_help@1");
  EXPECT_EQ(debt.payer, "wgs");
  EXPECT_EQ(debt.indicator, "wijkteam_2014");
  EXPECT_EQ(debt.volume, CostItemSpec::Volume::kRecords);
  EXPECT_TRUE(debt.prices.empty());
  EXPECT_EQ(debt.relative_year, 1);
  EXPECT_EQ(debt.intervention, 1);
  EXPECT_EQ(debt.outcome, -1);
}

TEST(CostBenefitSpecTest, AmountsOfOutcomesAndInterventionCosts) {
  std::string yaml =
      Replace(kCostBenefit, "{per_household: 800, payer: wgs}", "{amount: kosten, payer: wgs}");
  yaml = Replace(yaml, "{indicator: bijstand_spell, volume: days, price: bijstand_day}",
                 "{indicator: bijstand_spell, volume: amount, amount: bedrag, payer: "
                 "participatiewet}");
  absl::StatusOr<analysis::AnalysisSpec> spec = Parse(yaml);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const CostItemSpec* bijstand = FindItem(*spec, "bijstand_days@2");
  ASSERT_NE(bijstand, nullptr);
  EXPECT_EQ(bijstand->volume, CostItemSpec::Volume::kAmount);
  EXPECT_EQ(bijstand->amount_attribute, "bedrag");
  EXPECT_TRUE(bijstand->prices.empty());
  EXPECT_EQ(bijstand->payer, "participatiewet");
  const CostItemSpec* debt = FindItem(*spec, "debt_help@1");
  ASSERT_NE(debt, nullptr);
  EXPECT_EQ(debt->volume, CostItemSpec::Volume::kAmount);
  EXPECT_EQ(debt->amount_attribute, "kosten");
  EXPECT_FALSE(spec->cost_benefit->costs[1].per_household.has_value());
}

TEST(CostBenefitSpecTest, WithoutComparisonAndWithDefaults) {
  std::string yaml = Replace(kCostBenefit,
                             "  comparison:\n    exclude: [wijkteam_ever]\n    match_on: "
                             "[household_type, area, socio_economic]\n  horizon: 4\n  "
                             "discount_rate: 0.025\n  risk_premium: 0.005\n",
                             "");
  absl::StatusOr<analysis::AnalysisSpec> spec = Parse(yaml);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->cost_benefit->comparison);
  EXPECT_EQ(spec->cost_benefit->horizon, 4);
  EXPECT_DOUBLE_EQ(spec->cost_benefit->Rate(), 0.03);
}

struct BadCostBenefit {
  const char* what;
  std::string from;
  std::string to;
  std::string expect;  // the start of the message: "<source>:<line>:<col>: <path>: <problem>"
};

TEST(CostBenefitSpecTest, RefusesMalformedSectionsNamingLineAndKey) {
  const std::vector<BadCostBenefit> cases = {
      {"two reference dates", "reference_dates: [2014-12-31]",
       "reference_dates: [2014-12-31, 2013-12-31]",
       "cb.yaml:22:3: cost_benefit: a cost-benefit analysis measures every household from one "
       "reference date; reference_dates lists 2: keep one"},
      {"unknown key", "  horizon: 4\n", "  horizon: 4\n  horizont: 4\n",
       "cb.yaml:27:3: cost_benefit.horizont: unknown key 'horizont'"},
      {"cohort is a flag", "{indicator: wijkteam_2014, start: start}",
       "{indicator: socio_economic, start: start}",
       "cb.yaml:22:23: cost_benefit.cohort.indicator: 'socio_economic' is not an indicator"},
      {"cohort without records", "{indicator: wijkteam_2014, start: start}",
       "{indicator: moves, start: start}",
       "cb.yaml:22:23: cost_benefit.cohort.indicator: 'moves' has no records"},
      {"empty start", "{indicator: wijkteam_2014, start: start}",
       "{indicator: wijkteam_2014, start: \"\"}",
       "cb.yaml:22:45: cost_benefit.cohort.start: '' is not a valid name"},
      {"outcome not dated", "{indicator: eviction_notice, volume: records",
       "{indicator: low_income, volume: records",
       "cb.yaml:34:34: cost_benefit.outcomes.eviction_notice.indicator: 'low_income' is not "
       "dated"},
      {"outcome always", "{indicator: eviction_notice, volume: records",
       "{indicator: wijkteam_ever, volume: records",
       "cb.yaml:34:34: cost_benefit.outcomes.eviction_notice.indicator: 'wijkteam_ever' is not "
       "dated"},
      {"days of a date", "{indicator: bijstand_spell, volume: days",
       "{indicator: eviction_notice, volume: days",
       "cb.yaml:37:57: cost_benefit.outcomes.bijstand_days.volume: days needs an indicator "
       "with a spell"},
      {"bad volume", "{indicator: eviction_notice, volume: records",
       "{indicator: eviction_notice, volume: events",
       "cb.yaml:34:59: cost_benefit.outcomes.eviction_notice.volume: 'events' is not one of "
       "records, days, amount"},
      {"amount without attribute",
       "{indicator: eviction_notice, volume: records, price: "
       "eviction_notice}",
       "{indicator: eviction_notice, volume: amount, payer: housing}",
       "cb.yaml:34:22: cost_benefit.outcomes.eviction_notice: volume amount needs 'amount: "
       "<attribute>'"},
      {"no price", ", price: eviction_notice}", "}",
       "cb.yaml:34:22: cost_benefit.outcomes.eviction_notice: give price"},
      {"pm with more", "{pm: \"wellbeing", "{indicator: eviction_notice, pm: \"wellbeing",
       "cb.yaml:38:23: cost_benefit.outcomes.quality_of_life.indicator: a PM outcome is not "
       "valued"},
      {"overlapping windows", "years: [2, 4]", "years: [1, 4]",
       "cb.yaml:32:33: cost_benefit.windows[2].years: relative year 1 is already in window "
       "'first_12_months'"},
      {"year beyond horizon", "years: [2, 4]", "years: [2, 5]",
       "cb.yaml:32:37: cost_benefit.windows[2].years[1]: 5 is out of range; use -1 to 4"},
      {"year zero", "years: [1, 1]", "years: [0, 1]",
       "cb.yaml:31:40: cost_benefit.windows[1].years[0]: there is no relative year 0"},
      {"first above last", "years: [2, 4]", "years: [4, 2]",
       "cb.yaml:32:33: cost_benefit.windows[2].years: first is above last"},
      {"year before not alone", "years: [-1, -1]", "years: [-1, 1]",
       "cb.yaml:30:35: cost_benefit.windows[0].years: the year before the start stands alone"},
      {"match on unknown", "match_on: [household_type, area, socio_economic]",
       "match_on: [household_type, wijk]",
       "cb.yaml:25:32: cost_benefit.comparison.match_on[1]: 'wijk' is not household_type, "
       "area, or an indicator or flag"},
      {"exclude unknown", "exclude: [wijkteam_ever]", "exclude: [wijkteam_nooit]",
       "cb.yaml:24:15: cost_benefit.comparison.exclude[0]: 'wijkteam_nooit' is not an "
       "indicator or flag"},
      {"horizon", "horizon: 4", "horizon: 11",
       "cb.yaml:26:12: cost_benefit.horizon: 11 is out of range; use 1 to 10"},
      {"rate", "discount_rate: 0.025", "discount_rate: 1.5",
       "cb.yaml:27:18: cost_benefit.discount_rate: a rate is at least 0 and below 1"},
      {"negative premium", "risk_premium: 0.005", "risk_premium: -0.01",
       "cb.yaml:28:17: cost_benefit.risk_premium: a rate is at least 0 and below 1"},
      {"varies", "varies: effect", "varies: effects",
       "cb.yaml:46:56: cost_benefit.sensitivity[3].varies: 'effects' is not one of prices, "
       "price, rate, effect, costs"},
      {"price range without price", "varies: price, price: out_of_home_day,", "varies: price,",
       "cb.yaml:44:7: cost_benefit.sensitivity[1]: varies: price needs 'price: <item>'"},
      {"price range of no outcome", "price: out_of_home_day, low", "price: youth_day, low",
       "cb.yaml:44:74: cost_benefit.sensitivity[1].price: 'youth_day' prices no outcome"},
      {"negative factor", "low: 0.5, high: 1.5", "low: -0.5, high: 1.5",
       "cb.yaml:46:69: cost_benefit.sensitivity[3].low: a factor must be 0 or more"},
      {"rate of 1", "low: 0.015, high: 0.055", "low: 0.015, high: 1",
       "cb.yaml:45:76: cost_benefit.sensitivity[2].high: a rate is at least 0 and below 1"},
      {"reserved indicator", "  moves: {moves_at_least: 2}\n",
       "  moves: {moves_at_least: 2}\n  cb_cohort: {dataset: x}\n",
       "cb.yaml:18:3: indicators.cb_cohort: 'cb_cohort' is reserved for the groups of "
       "cost_benefit"},
      {"reserved flag", "  socio_economic:", "  cb_unmatched:",
       "cb.yaml:19:3: flags.cb_unmatched: 'cb_unmatched' is reserved"},
      {"both intervention kinds", "{per_household: 800, payer: wgs}",
       "{per_household: 800, amount: kosten, payer: wgs}",
       "cb.yaml:41:16: cost_benefit.costs.debt_help: give either per_household"},
      {"intervention named like an outcome", "    debt_help: {per_household",
       "    eviction_notice: {per_household",
       "cb.yaml:41:5: cost_benefit.costs.eviction_notice: outcome or intervention cost "
       "'eviction_notice' is defined twice"},
      {"show", "show: outcomes", "show: outcome",
       "cb.yaml:49:73: tables[0].show: 'outcome' is not one of outcomes, payers, sensitivity"},
  };
  for (const BadCostBenefit& c : cases) {
    SCOPED_TRACE(c.what);
    absl::StatusOr<analysis::AnalysisSpec> spec = Parse(Replace(kCostBenefit, c.from, c.to));
    ASSERT_FALSE(spec.ok());
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(spec.status()), StartsWith(c.expect));
  }
}

TEST(CostBenefitSpecTest, ACostBenefitTableNeedsTheSection) {
  const std::string yaml =
      Replace(kBase, "tables:\n", "tables:\n  - {name: cb, kind: cost_benefit}\n");
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "t.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(Message(spec.status()),
              StartsWith("t.yaml:33:22: tables[0].kind: a cost_benefit table needs the "
                         "cost_benefit section"));
}

TEST(CostBenefitSpecTest, OtherTablesCannotUseTheGroups) {
  const std::string yaml =
      Replace(kCostBenefit, "tables:\n",
              "tables:\n  - {name: n, population: cb_cohort, columns: [{label: n}]}\n");
  absl::StatusOr<analysis::AnalysisSpec> spec = Parse(yaml);
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(Message(spec.status()), HasSubstr("tables[0].population: 'cb_cohort' is a group"));
}

TEST(CostBenefitPricesTest, ReadsThePayerColumn) {
  absl::StatusOr<analysis::PriceTable> prices = analysis::ParsePrices(kPrices, "p.csv");
  ASSERT_TRUE(prices.ok()) << prices.status();
  EXPECT_EQ(prices->items.at("eviction_notice").payer, "housing");
  EXPECT_EQ(prices->items.at("police_registration").payer, "");
  EXPECT_EQ(prices->items.at("bijstand_day").payer, "participatiewet");

  absl::StatusOr<analysis::PriceTable> without =
      analysis::ParsePrices("cost_item,unit,price_eur_2014\na,u,1\n", "p.csv");
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->items.at("a").payer, "");

  absl::StatusOr<analysis::PriceTable> bad =
      analysis::ParsePrices("cost_item,unit,price_eur_2014,payer\na,u,1,Jeugd Wet\n", "p.csv");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Message(bad.status()),
              StartsWith("p.csv:2: column payer: 'Jeugd Wet' is not a valid payer"));
}

TEST(CostBenefitPricesTest, PayersComeFromTheSpecElseThePricesFile) {
  absl::StatusOr<analysis::AnalysisSpec> spec = Parse(kCostBenefit);
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<analysis::PriceTable> prices = analysis::ParsePrices(kPrices, "p.csv");
  ASSERT_TRUE(prices.ok()) << prices.status();
  EXPECT_TRUE(analysis::CheckSpecPrices(*spec, *prices, "cb.yaml").ok());
  ASSERT_TRUE(analysis::ResolveCostBenefitPrices(&*spec, *prices).ok());
  const std::vector<OutcomeSpec>& outcomes = spec->cost_benefit->outcomes;
  EXPECT_EQ(outcomes[0].payer, "housing");
  EXPECT_EQ(outcomes[1].payer, "justice");  // the spec's, the file has none
  EXPECT_EQ(outcomes[2].payer, "jeugdwet");
  EXPECT_EQ(FindItem(*spec, "eviction_notice@3")->payer, "housing");
  EXPECT_EQ(FindItem(*spec, "out_of_home_days@-1")->payer, "jeugdwet");
  EXPECT_EQ(spec->cost_items.size(), 4u * 5u + 2u);
  EXPECT_TRUE(analysis::CheckSpecPrices(*spec, *prices, "cb.yaml").ok());

  // Neither the spec nor the file: an error naming both.
  std::string yaml = Replace(kCostBenefit, "price: police_registration, payer: justice}",
                             "price: police_registration}");
  spec = Parse(yaml);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const std::string expect =
      "cb.yaml:35:5: cost_benefit.outcomes.police_registration: outcome 'police_registration' "
      "has no payer: give payer: in the spec, or fill the payer column of the prices file for "
      "'police_registration'";
  EXPECT_THAT(Message(analysis::CheckSpecPrices(*spec, *prices, "cb.yaml")), StartsWith(expect));
  EXPECT_THAT(Message(analysis::ResolveCostBenefitPrices(&*spec, *prices)), StartsWith(expect));

  // An outcome's price must be listed.
  spec = Parse(Replace(kCostBenefit, "price: bijstand_day}", "price: bijstand_dag}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_THAT(Message(analysis::ResolveCostBenefitPrices(&*spec, *prices)),
              StartsWith("cb.yaml:37:69: cost_benefit.outcomes.bijstand_days.price: "
                         "'bijstand_dag' is not in the prices file"));
  EXPECT_THAT(Message(analysis::CheckSpecPrices(*spec, *prices, "cb.yaml")),
              HasSubstr("'bijstand_dag' is not in the prices file"));
}

constexpr char kOutOfHomeDayRange[] =
    "    - {label: \"out-of-home day price -20% / +20%\", varies: price, price: out_of_home_day, "
    "low: 0.8, high: 1.2}\n";

TEST(CostBenefitPricesTest, AnOutcomeListedWithoutAUnitPriceBecomesPm) {
  // Without the range over its price (refused then: see the next test).
  absl::StatusOr<analysis::AnalysisSpec> spec =
      Parse(Replace(kCostBenefit, kOutOfHomeDayRange, ""));
  ASSERT_TRUE(spec.ok()) << spec.status();
  const std::string csv = Replace(kPrices, "out_of_home_day,per day,255.16,jeugdwet",
                                  "out_of_home_day,per day,,jeugdwet");
  absl::StatusOr<analysis::PriceTable> prices = analysis::ParsePrices(csv, "p.csv");
  ASSERT_TRUE(prices.ok()) << prices.status();
  EXPECT_TRUE(analysis::CheckSpecPrices(*spec, *prices, "cb.yaml").ok());
  ASSERT_TRUE(analysis::ResolveCostBenefitPrices(&*spec, *prices).ok());
  const OutcomeSpec& days = spec->cost_benefit->outcomes[2];
  EXPECT_TRUE(days.pm);
  EXPECT_EQ(days.note, "the prices file lists no unit price for 'out_of_home_day'");
  // Its items are gone; the rest keep the layout (o' counts valued outcomes only).
  EXPECT_EQ(FindItem(*spec, "out_of_home_days@1"), nullptr);
  ASSERT_EQ(spec->cost_items.size(), 3u * 5u + 2u);
  EXPECT_EQ(spec->cost_benefit->first_item, 0u);
  EXPECT_EQ(spec->cost_items[2 * 5 + 0].name, "bijstand_days@-1");
  EXPECT_EQ(spec->cost_items[2 * 5 + 0].outcome, 3);
  EXPECT_EQ(spec->cost_items[3 * 5 + 0].name, "coaching@1");
  EXPECT_TRUE(analysis::CheckSpecPrices(*spec, *prices, "cb.yaml").ok());
  // Idempotent.
  ASSERT_TRUE(analysis::ResolveCostBenefitPrices(&*spec, *prices).ok());
  EXPECT_EQ(spec->cost_items.size(), 3u * 5u + 2u);
}

// A range over a price that values no outcome (its outcomes became PM) would give a row equal
// to the base, looking measured.
TEST(CostBenefitPricesTest, RefusesARangeOverAPriceWithoutAUnitPrice) {
  ASSERT_NE(std::string(kCostBenefit).find(kOutOfHomeDayRange), std::string::npos);
  absl::StatusOr<analysis::AnalysisSpec> spec = Parse(kCostBenefit);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const std::string csv = Replace(kPrices, "out_of_home_day,per day,255.16,jeugdwet",
                                  "out_of_home_day,per day,,jeugdwet");
  absl::StatusOr<analysis::PriceTable> prices = analysis::ParsePrices(csv, "p.csv");
  ASSERT_TRUE(prices.ok()) << prices.status();
  const std::string expect =
      "cb.yaml:44:74: cost_benefit.sensitivity[1].price: range 'out-of-home day price -20% / "
      "+20%' varies the price of 'out_of_home_day', but the prices file lists no unit price for "
      "it, so its outcomes are PM and the range would value nothing; give 'out_of_home_day' a "
      "unit price or remove the range";
  EXPECT_EQ(Message(analysis::CheckSpecPrices(*spec, *prices, "cb.yaml")), expect);
  const absl::Status status = analysis::ResolveCostBenefitPrices(&*spec, *prices);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status), expect);
}

// Euro bounds and comparison designs that would leave every cohort household unmatched.
TEST(CostBenefitSpecTest, RefusesHugeCostsAndComparisonsThatCannotMatch) {
  struct Case {
    const char* what;
    std::string from, to, message;
  };
  const std::vector<Case> cases = {
      {"per household above 1e9", "{per_household: 800, payer: wgs}",
       "{per_household: 2e9, payer: wgs}",
       "cb.yaml:41:32: cost_benefit.costs.debt_help.per_household: 2e9 is out of range; use 0 "
       "to 1000000000 (euro per cohort household)"},
      {"negative per household", "{per_household: 800, payer: wgs}",
       "{per_household: -1, payer: wgs}",
       "cb.yaml:41:32: cost_benefit.costs.debt_help.per_household: -1 is out of range; use 0 to "
       "1000000000 (euro per cohort household)"},
      {"match on the cohort", "match_on: [household_type, area, socio_economic]",
       "match_on: [household_type, wijkteam_2014]",
       "cb.yaml:25:32: cost_benefit.comparison.match_on[1]: 'wijkteam_2014' is the cohort "
       "indicator: no candidate has it, so every cohort household would be left without a "
       "comparison; remove it"},
      {"exclude the cohort", "exclude: [wijkteam_ever]", "exclude: [wijkteam_ever, wijkteam_2014]",
       "cb.yaml:24:30: cost_benefit.comparison.exclude[1]: 'wijkteam_2014' is the cohort "
       "indicator; candidates never have it, so there is nothing to exclude: remove it"},
      {"match on an excluded name", "match_on: [household_type, area, socio_economic]",
       "match_on: [household_type, wijkteam_ever]",
       "cb.yaml:25:32: cost_benefit.comparison.match_on[1]: 'wijkteam_ever' is also in exclude: "
       "no candidate has it, so every cohort household with it would be left without a "
       "comparison; keep it in one of the two"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string yaml = Replace(kCostBenefit, c.from, c.to);
    ASSERT_NE(yaml, kCostBenefit);
    absl::StatusOr<analysis::AnalysisSpec> spec = Parse(yaml);
    ASSERT_FALSE(spec.ok());
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Message(spec.status()), c.message);
  }
  // The bound itself is accepted.
  absl::StatusOr<analysis::AnalysisSpec> spec = Parse(Replace(
      kCostBenefit, "{per_household: 800, payer: wgs}", "{per_household: 1000000000, payer: wgs}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(*spec->cost_benefit->costs[1].per_household, 1e9);
}

}  // namespace cost_benefit_test

TEST(ShippedSpecTest, CostBenefitSpecResolvesAgainstItsPrices) {
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(
      ReadSourceFile("analyses/cost-benefit.yaml"), "cost-benefit.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<analysis::PriceTable> prices = analysis::ParsePrices(
      ReadSourceFile("prices/cost_benefit_2014.csv"), "cost_benefit_2014.csv");
  ASSERT_TRUE(prices.ok()) << prices.status();
  ASSERT_TRUE(analysis::ResolveCostBenefitPrices(&*spec, *prices).ok());
  ASSERT_TRUE(analysis::CheckSpecPrices(*spec, *prices, "cost-benefit.yaml").ok());
  EXPECT_TRUE(analysis::CheckEngineLimits(*spec).ok());
  const analysis::CostBenefitSpec& cb = *spec->cost_benefit;
  EXPECT_EQ(spec->indicators.size(), 28u + 3u);
  EXPECT_EQ(cb.first_item, 0u);
  EXPECT_EQ(spec->cost_items.size(), 4u * 5u + 2u);
  std::vector<std::string> payers;
  for (const analysis::OutcomeSpec& o : cb.outcomes) payers.push_back(o.payer);
  EXPECT_THAT(payers, ElementsAre("housing", "justice", "jeugdwet", "participatiewet", ""));
  EXPECT_TRUE(cb.outcomes[4].pm);
}

// Specs without cost_benefit parse as before: nothing appended.
TEST(ShippedSpecTest, SpecsWithoutCostBenefitAreUnchanged) {
  struct Counts {
    const char* file;
    size_t indicators, flags, items, populations;  // as written in the YAML
  };
  for (const Counts& c :
       {Counts{"almelo-mpg.yaml", 40, 8, 26, 2}, Counts{"cohort-monitor.yaml", 29, 1, 26, 1},
        Counts{"explore-poverty.yaml", 2, 0, 0, 1}}) {
    SCOPED_TRACE(c.file);
    absl::StatusOr<analysis::AnalysisSpec> spec =
        analysis::ParseAnalysisSpec(ReadSourceFile(std::string("analyses/") + c.file), c.file);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_FALSE(spec->cost_benefit.has_value());
    EXPECT_EQ(spec->indicators.size(), c.indicators);
    EXPECT_EQ(spec->flags.size(), c.flags);
    EXPECT_EQ(spec->cost_items.size(), c.items);
    EXPECT_EQ(spec->populations.size(), c.populations);
    for (const analysis::CostItemSpec& item : spec->cost_items) {
      EXPECT_FALSE(item.cost_benefit());
    }
    for (const analysis::IndicatorSpec& indicator : spec->indicators) {
      EXPECT_FALSE(indicator.set_after_scan);
    }
  }
}

}  // namespace
}  // namespace koppel
