// The cost-benefit cohort through the analysis engine on a store of a few hand-made households
// (no agent, no network): starts from exactly the records that make the cohort indicator hold,
// relative years across 29 February, spells crossing the windows' borders or still running,
// address-keyed events, child-only outcomes, members who left before the reference date, the
// comparison's cells and lower-median starts, and the same volumes whatever the number of token
// ranges. Every expected figure is computed by hand from docs/analysis.md, "Cost-benefit".
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/civil_date.h"
#include "core/secret.h"
#include "linker/analysis/analysis_engine.h"
#include "linker/analysis/engine_limits.h"
#include "linker/linker_store.h"
#include "linker/query_runner.h"
#include "linker/release_history.h"
#include "linker/store_record_source.h"
#include "tests/testing/record_values.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using test::AmountValue;
using test::Attribute;
using test::CodeValue;
using test::DateValue;
using test::Day;
using test::IntegerValue;
using test::YearValue;

using analysis::AnalysisSpec;
using analysis::CostItemSpec;
using analysis::OutcomeSpec;

constexpr char kCovenant[] = "cost-benefit";

v1::Record RecordOf(const std::string& address, std::vector<v1::Value> values) {
  v1::Record record;
  if (!address.empty()) record.set_address_token(address);
  for (v1::Value& v : values) *record.add_values() = std::move(v);
  return record;
}

// A 32-byte token whose first byte places it in a token range (64 per quarter of four ranges).
std::string Token(uint8_t first, char fill) {
  std::string token(32, fill);
  token[0] = static_cast<char>(first);
  return token;
}

// Households: H1..H3 in the cohort, H4 a comparison household, H5 excluded, H6 alone in its
// cell. Persons' tokens put the members of a household in different token ranges.
const std::map<std::string, std::string>& Addresses() {
  static const auto* addresses = new std::map<std::string, std::string>{
      {"H1", Token(0x08, 'a')}, {"H2", Token(0x88, 'b')}, {"H3", Token(0x48, 'c')},
      {"H4", Token(0xc8, 'd')}, {"H5", Token(0x28, 'e')}, {"H6", Token(0xa8, 'f')}};
  return *addresses;
}

struct Person {
  std::string name;
  std::string token;
  std::string household;
  int birth = 0;
  std::optional<int> left;  // the day the person moved away
};

std::vector<Person> Persons() {
  return {
      {"A1", Token(0x10, '1'), "H1", Day(1980, 3, 3), std::nullopt},
      {"C1", Token(0x90, '1'), "H1", Day(2008, 6, 1), std::nullopt},
      {"A2", Token(0x50, '2'), "H2", Day(1970, 1, 1), std::nullopt},
      {"C2", Token(0xd0, '2'), "H2", Day(2010, 1, 1), std::nullopt},
      {"X2", Token(0x30, '2'), "H2", Day(1975, 1, 1), Day(2016, 6, 1)},
      {"A3", Token(0x70, '3'), "H3", Day(1985, 1, 1), std::nullopt},
      {"A4", Token(0x20, '4'), "H4", Day(1982, 1, 1), std::nullopt},
      {"C4", Token(0xa0, '4'), "H4", Day(2009, 1, 1), std::nullopt},
      {"A5", Token(0x60, '5'), "H5", Day(1983, 1, 1), std::nullopt},
      {"C5", Token(0xe0, '5'), "H5", Day(2011, 1, 1), std::nullopt},
      {"A6", Token(0x40, '6'), "H6", Day(1990, 1, 1), std::nullopt},
  };
}

std::string TokenOf(const std::string& person) {
  for (const Person& p : Persons()) {
    if (p.name == person) return p.token;
  }
  ADD_FAILURE() << person;
  return "";
}

void Commit(linker::LinkerStore* store, const Secret& key, int batch, const std::string& dataset,
            bool has_bsn, const std::vector<v1::AttributeSchema>& attributes,
            const std::vector<std::pair<std::string, v1::Record>>& records) {
  v1::BatchHeader header;
  header.set_dataset(dataset);
  header.set_covenant_id(kCovenant);
  header.set_run_id(fmt::format("run-{}", batch));
  header.set_has_bsn(has_bsn);
  header.set_token_scheme("koppel/v1/hmac");
  for (const v1::AttributeSchema& a : attributes) *header.add_attributes() = a;
  v1::Receipt receipt;
  receipt.set_batch_id(fmt::format("{:064x}", batch));
  receipt.set_dataset(dataset);
  receipt.set_covenant_id(kCovenant);
  std::vector<linker::StoredRecord> stored;
  for (const auto& [token, record] : records) {
    linker::StoredRecord r;
    r.token = token;
    r.value = record.SerializeAsString();
    stored.push_back(std::move(r));
  }
  if (!store->IsOpen(kCovenant)) {
    ASSERT_TRUE(store->OpenCovenant(kCovenant, key).ok());
  }
  absl::StatusOr<v1::Receipt> committed = store->Commit(receipt, header, stored);
  ASSERT_TRUE(committed.ok()) << committed.status();
}

void AddRecords(linker::LinkerStore* store, const Secret& key) {
  std::vector<std::pair<std::string, v1::Record>> brp;
  for (const Person& p : Persons()) {
    const uint32_t wijk = p.household == "H3" ? 1 : 0;
    brp.emplace_back(p.token,
                     RecordOf(Addresses().at(p.household),
                              {DateValue(p.birth), CodeValue(wijk), DateValue(Day(2010, 1, 1)),
                               p.left ? DateValue(*p.left) : v1::Value{}}));
  }
  Commit(store, key, 1, "brp", true,
         {Attribute("geboortedatum", v1::ATTRIBUTE_TYPE_DATE),
          Attribute("wijk", v1::ATTRIBUTE_TYPE_CATEGORY, {"WK01", "WK02"}),
          Attribute("adres_van", v1::ATTRIBUTE_TYPE_DATE),
          Attribute("adres_tot", v1::ATTRIBUTE_TYPE_DATE)},
         brp);
  // The wijkteam's records: start, kind (A counts for the cohort), cost.
  auto wijkteam = [](const std::string& person, int start, uint32_t kind,
                     std::optional<int64_t> cents) {
    return std::pair{TokenOf(person), RecordOf("", {DateValue(start), CodeValue(kind),
                                                    cents ? AmountValue(*cents) : v1::Value{}})};
  };
  Commit(store, key, 2, "wijkteam", true,
         {Attribute("start", v1::ATTRIBUTE_TYPE_DATE),
          Attribute("soort", v1::ATTRIBUTE_TYPE_CATEGORY, {"A", "B"}),
          Attribute("kosten", v1::ATTRIBUTE_TYPE_AMOUNT)},
         {
             wijkteam("A1", Day(2016, 2, 29), 0, 120050),
             wijkteam("A1", Day(2015, 5, 1), 0, 10000),  // outside the indicator's 2016
             wijkteam("C1", Day(2016, 1, 10), 1, 5000),  // kind B: filtered out
             wijkteam("A2", Day(2016, 6, 15), 0, 30000), wijkteam("C2", Day(2016, 3, 1), 0, 2000),
             wijkteam("X2", Day(2016, 1, 5), 0, 99900),  // no member on the reference date
             wijkteam("A3", Day(2016, 9, 1), 0, std::nullopt),
             wijkteam("A5", Day(2016, 4, 1), 1, 1000),  // kind B: not the cohort, yet excluded
         });
  auto police = [](const std::string& person, int day) {
    return std::pair{TokenOf(person), RecordOf("", {DateValue(day)})};
  };
  Commit(
      store, key, 3, "politie", true, {Attribute("pleegdatum", v1::ATTRIBUTE_TYPE_DATE)},
      {police("A1", Day(2015, 2, 28)), police("A1", Day(2015, 3, 1)),
       police("A1", Day(2016, 2, 28)), police("A1", Day(2016, 2, 29)),
       police("A1", Day(2017, 2, 28)), police("A1", Day(2017, 3, 1)), police("X2", Day(2016, 5, 1)),
       police("A3", Day(2016, 10, 1)), police("A4", Day(2016, 1, 1)),
       police("A4", Day(2016, 2, 29)), police("A4", Day(2016, 8, 1)), police("A5", Day(2016, 5, 1)),
       police("A6", Day(2016, 5, 1))});
  auto placement = [](const std::string& person, int from, std::optional<int> to) {
    return std::pair{TokenOf(person),
                     RecordOf("", {DateValue(from), to ? DateValue(*to) : v1::Value{}})};
  };
  Commit(store, key, 4, "jeugdzorg", true,
         {Attribute("van", v1::ATTRIBUTE_TYPE_DATE), Attribute("tot", v1::ATTRIBUTE_TYPE_DATE)},
         {placement("C1", Day(2016, 1, 1), Day(2016, 3, 31)),
          placement("A1", Day(2016, 5, 1), Day(2016, 5, 10)),  // an adult: out of scope
          placement("C2", Day(2017, 1, 1), std::nullopt)});
  auto eviction = [](const std::string& address, int day, int64_t cents) {
    return std::pair{address, RecordOf("", {DateValue(day), AmountValue(cents)})};
  };
  Commit(
      store, key, 5, "ontruiming", false,
      {Attribute("datum", v1::ATTRIBUTE_TYPE_DATE), Attribute("bedrag", v1::ATTRIBUTE_TYPE_AMOUNT)},
      {eviction(Addresses().at("H2"), Day(2015, 9, 1), 50025),
       eviction(Addresses().at("H2"), Day(2017, 4, 1), 10000),
       eviction(Token(0x68, 'z'), Day(2016, 4, 1), 70000)});  // where no one lives
}

constexpr char kSpecYaml[] =
    "analysis: cost-benefit-engine\n"
    "reference_dates: [2016-12-31]\n"
    "register: {dataset: brp, birth_date: geboortedatum, area: wijk, address_from: adres_van, "
    "address_to: adres_tot}\n"
    "household_types:\n"
    "  family: {adults: {min: 1}, children: {min: 1}}\n"
    "  single: {adults: {min: 1, max: 1}, children: {max: 0}}\n"
    "populations:\n  households: {}\n"
    "indicators:\n"
    "  wijkteam_2016: {dataset: wijkteam, date: start, where: {soort: [A]}}\n"
    "  wijkteam_ever: {dataset: wijkteam}\n"
    "  police: {dataset: politie, date: pleegdatum}\n"
    "  out_of_home: {dataset: jeugdzorg, spell: [van, tot], members: children}\n"
    "  eviction: {dataset: ontruiming, date: datum}\n"
    "tables:\n"
    "  - name: groups\n"
    "    population: households\n"
    "    rows: area\n"
    "    total: all\n"
    "    columns:\n"
    "      - {label: n}\n";

constexpr char kPricesCsv[] =
    "cost_item,unit,price_eur_2014\n"
    "police,per registration,100.00\n"
    "out_of_home_day,per day,250.50\n"
    "eviction,per notice,1500.00\n";

// What the parser appends for a cost_benefit section (design of issue 18), by hand: outcomes
// police, wellbeing (PM), out_of_home_days, evictions, arrears (amount); horizon 2; the
// intervention costs coaching (per household) and kosten (the cohort records' amounts).
// `horizon` and `police` (the police outcome's name) vary what must not change an item's quantity.
void AddCostBenefit(AnalysisSpec* spec, bool comparison, int horizon = 2,
                    const std::string& police = "police") {
  analysis::CostBenefitSpec cb;
  cb.cohort_indicator = "wijkteam_2016";
  cb.start_attribute = "start";
  cb.comparison = comparison;
  if (comparison) {
    cb.exclude = {"wijkteam_ever"};
    cb.match_on = {"household_type", "area"};
  }
  cb.horizon = horizon;
  cb.windows = {{"year_before", -1, -1}, {"after", 1, horizon}};
  auto outcome = [](std::string name, std::string indicator, OutcomeSpec::Volume volume,
                    std::string price) {
    OutcomeSpec o;
    o.name = std::move(name);
    o.indicator = std::move(indicator);
    o.volume = volume;
    o.price = std::move(price);
    o.payer = "justice";
    if (volume == OutcomeSpec::Volume::kAmount) o.amount_attribute = "bedrag";
    return o;
  };
  cb.outcomes.push_back(outcome(police, "police", OutcomeSpec::Volume::kRecords, "police"));
  OutcomeSpec pm;
  pm.name = "wellbeing";
  pm.pm = true;
  pm.note = "no agreed price";
  cb.outcomes.push_back(pm);
  cb.outcomes.push_back(
      outcome("out_of_home_days", "out_of_home", OutcomeSpec::Volume::kDays, "out_of_home_day"));
  cb.outcomes.push_back(
      outcome("evictions", "eviction", OutcomeSpec::Volume::kRecords, "eviction"));
  cb.outcomes.push_back(outcome("arrears", "eviction", OutcomeSpec::Volume::kAmount, ""));
  analysis::InterventionCostSpec coaching;
  coaching.name = "coaching";
  coaching.payer = "participatiewet";
  coaching.per_household = 1975;
  analysis::InterventionCostSpec kosten;
  kosten.name = "kosten";
  kosten.payer = "wmo";
  kosten.amount_attribute = "kosten";
  cb.costs = {coaching, kosten};
  for (const char* name : {"cb_cohort", "cb_comparison", "cb_unmatched"}) {
    analysis::IndicatorSpec indicator;
    indicator.name = name;
    indicator.set_after_scan = true;
    spec->indicators.push_back(indicator);
  }
  cb.cohort_bit = spec->indicators.size() - 3;
  cb.comparison_bit = spec->indicators.size() - 2;
  cb.unmatched_bit = spec->indicators.size() - 1;
  cb.first_item = spec->cost_items.size();
  for (size_t o = 0; o < cb.outcomes.size(); ++o) {
    const OutcomeSpec& out = cb.outcomes[o];
    if (out.pm) continue;
    for (int k : cb.Years()) {
      CostItemSpec item;
      item.name = fmt::format("{}@{}", out.name, k);
      item.payer = out.payer;
      item.indicator = out.indicator;
      item.volume = out.volume == OutcomeSpec::Volume::kRecords ? CostItemSpec::Volume::kRecords
                    : out.volume == OutcomeSpec::Volume::kDays  ? CostItemSpec::Volume::kDaysInYear
                                                                : CostItemSpec::Volume::kAmount;
      item.amount_attribute = out.amount_attribute;
      if (!out.price.empty()) item.prices = {out.price};
      item.in_total = false;
      item.relative_year = k;
      item.outcome = static_cast<int>(o);
      spec->cost_items.push_back(item);
    }
  }
  for (size_t c = 0; c < cb.costs.size(); ++c) {
    CostItemSpec item;
    item.name = cb.costs[c].name + "@1";
    item.payer = cb.costs[c].payer;
    item.indicator = cb.cohort_indicator;
    item.volume =
        cb.costs[c].per_household ? CostItemSpec::Volume::kRecords : CostItemSpec::Volume::kAmount;
    item.amount_attribute = cb.costs[c].amount_attribute;
    item.in_total = false;
    item.relative_year = 1;
    item.intervention = static_cast<int>(c);
    spec->cost_items.push_back(item);
  }
  spec->populations["cb_cohort"].all = {"cb_cohort"};
  spec->populations["cb_comparison"].all = {"cb_comparison"};
  // Counted, so that the atoms say which households have the groups' bits.
  for (const char* name : {"cb_cohort", "cb_comparison", "cb_unmatched"}) {
    analysis::CountColumn column;
    column.label = name;
    column.where.all = {name};
    spec->tables[0].columns.push_back(column);
  }
  spec->cost_benefit = std::move(cb);
}

// A household as the engine left it: its group and its cents per cost-benefit item.
struct Household {
  std::string group;  // cohort, comparison, unmatched or none
  std::map<std::string, int64_t> cents;
  bool operator==(const Household&) const = default;
};

void PrintTo(const Household& h, std::ostream* out) {
  *out << h.group << " {";
  for (const auto& [item, cents] : h.cents) *out << item << ":" << cents << " ";
  *out << "}";
}

class CostBenefitEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    absl::StatusOr<std::unique_ptr<linker::LinkerStore>> store =
        linker::LinkerStore::Open(dir_->path() / "db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = store->release();
    absl::StatusOr<Secret> key = Secret::Random(32);
    ASSERT_TRUE(key.ok());
    key_ = new Secret(std::move(*key));
    AddRecords(store_, *key_);
  }
  static void TearDownTestSuite() {
    delete key_;
    delete store_;
    delete dir_;
  }

  // Runs the spec with `threads` token ranges; per household (H1..H6), what it got.
  std::map<std::string, Household> Run(
      bool comparison, int threads, std::vector<std::string>* warnings = nullptr,
      std::vector<analysis::CostItemDescription>* items = nullptr) {
    absl::StatusOr<AnalysisSpec> spec = analysis::ParseAnalysisSpec(kSpecYaml, "spec.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status();
    if (!spec.ok()) return {};
    AddCostBenefit(&*spec, comparison);
    absl::StatusOr<analysis::PriceTable> prices = analysis::ParsePrices(kPricesCsv, "prices.csv");
    EXPECT_TRUE(prices.ok()) << prices.status();
    analysis::EngineOptions options;
    options.keep_units = true;
    options.scan_threads = threads;
    const linker::StoreRecordSource source(store_, kCovenant);
    absl::StatusOr<analysis::AnalysisResult> result =
        analysis::AnalysisEngine(&source).Run(*spec, *prices, options);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return {};
    if (warnings != nullptr) *warnings = result->warnings;
    if (items != nullptr) *items = result->items;
    std::map<std::string, size_t> predicate;
    for (size_t p = 0; p < result->predicates.size(); ++p) predicate[result->predicates[p]] = p;
    std::map<std::string, Household> out;
    for (const analysis::ResultUnit& unit : result->units) {
      std::string name;
      for (const auto& [h, address] : Addresses()) {
        if (std::string(unit.household.data(), unit.household.size()) == address.substr(0, 16))
          name = h;
      }
      EXPECT_FALSE(name.empty());
      const analysis::AtomDescription& atom = result->atoms.at(unit.atom);
      auto holds = [&](const std::string& bit) {
        const size_t p = predicate.at(bit);
        return (atom.holds.at(p / 64) >> (p % 64)) & 1;
      };
      Household& household = out[name];
      household.group = "none";
      for (const char* group : {"cohort", "comparison", "unmatched"}) {
        if (holds(fmt::format("cb_{}", group))) {
          EXPECT_EQ(household.group, "none") << name << " is in two groups";
          household.group = group;
        }
      }
      for (const auto& [item, cents] : unit.cents) {
        household.cents[spec->cost_items.at(item).name] = cents;
      }
    }
    return out;
  }

  static test::TempDir* dir_;
  static linker::LinkerStore* store_;
  static Secret* key_;
};
test::TempDir* CostBenefitEngineTest::dir_ = nullptr;
linker::LinkerStore* CostBenefitEngineTest::store_ = nullptr;
Secret* CostBenefitEngineTest::key_ = nullptr;

// H1 starts on 2016-02-29 (its 2015 record is outside the indicator's year, C1's kind B is
// filtered out): year -1 is [2015-03-01, 2016-02-29), year 1 [2016-02-29, 2017-03-01), year 2
// [2017-03-01, 2018-03-01). Police: 2015-03-01 and 2016-02-28 in -1 (2015-02-28 before it),
// 2016-02-29 and 2017-02-28 in 1, 2017-03-01 in 2, at 100.00. C1's placement 2016-01-01..03-31:
// 59 days before the start, 32 from it, at 250.50 (14779.50 and 8016.00); A1's is an adult's.
// H2 starts on 2016-03-01 (C2's record; X2 left on 2016-06-01): C2's running placement from
// 2017-01-01 has 59 days in year 1 and 365 in year 2 (91432.50); the address's evictions of
// 2015-09-01 (500.25) and 2017-04-01 (100.00) at 1500.00 each. Coaching 1975.00 each; kosten
// 1200.50 (A1's 2016 record) and 320.00 (A2's and C2's).
std::map<std::string, int64_t> H1() {
  return {{"police@-1", 20000},
          {"police@1", 20000},
          {"police@2", 10000},
          {"out_of_home_days@-1", 1477950},
          {"out_of_home_days@1", 801600},
          {"coaching@1", 197500},
          {"kosten@1", 120050}};
}
std::map<std::string, int64_t> H2() {
  return {{"out_of_home_days@1", 1477950}, {"out_of_home_days@2", 9143250},
          {"evictions@-1", 150000},        {"evictions@2", 150000},
          {"arrears@-1", 50025},           {"arrears@2", 10000},
          {"coaching@1", 197500},          {"kosten@1", 32000}};
}

TEST_F(CostBenefitEngineTest, WithAComparisonEachHouseholdGetsItsGroupAndItsYears) {
  std::vector<std::string> warnings;
  const std::map<std::string, Household> got = Run(true, 1, &warnings);
  // (family, WK01) holds H1 and H2 (starts 2016-02-29, 2016-03-01) and the candidate H4, whose
  // start is the lower median 2016-02-29: its police 2016-01-01 in year -1, 2016-02-29 and
  // 2016-08-01 in year 1 (from the upper median, 2016-03-01, 2016-02-29 would be in year -1). H3
  // (single, WK02) has no candidate: unmatched. H5 has a wijkteam record (excluded), H6 is in a
  // cell without cohort households.
  const std::map<std::string, Household> expected = {
      {"H1", {"cohort", H1()}},
      {"H2", {"cohort", H2()}},
      {"H3", {"unmatched", {}}},
      {"H4", {"comparison", {{"police@-1", 10000}, {"police@1", 20000}}}},
      {"H5", {"none", {}}},
      {"H6", {"none", {}}},
  };
  EXPECT_EQ(got, expected);
  EXPECT_THAT(warnings,
              ::testing::Not(::testing::Contains(::testing::HasSubstr("left out of the cohort"))));
}

// What the release says of what its figures leave out, without a count: H3 unmatched; and the
// calendar years 2015..2018 that the relative years of the starts (2016-02-29, 2016-03-01, and
// 2016-09-01 before/after) reach, for which politie and ontruiming have no records of 2018,
// jeugdzorg none touching 2015.
TEST_F(CostBenefitEngineTest, WarningsSayWhatTheFiguresLeaveOut) {
  auto missing = [](const std::string& dataset, int year, const std::string& outcome) {
    return fmt::format(
        "dataset '{}' has no records for {}: outcome '{}' counts nothing in the years relative "
        "to a start that fall in {}; if that year's records were not delivered (rather than "
        "none happened), its benefit is overstated (understated where {} is the year before a "
        "start)",
        dataset, year, outcome, year, year);
  };
  const std::vector<std::string> missing_years = {
      missing("politie", 2018, "police"), missing("jeugdzorg", 2015, "out_of_home_days"),
      missing("ontruiming", 2018, "evictions"), missing("ontruiming", 2018, "arrears")};
  auto about_the_figures = [](const std::vector<std::string>& warnings) {
    std::vector<std::string> out;
    for (const std::string& warning : warnings) {
      if (warning.find("counts nothing in the years") != std::string::npos ||
          warning.find("comparison household") != std::string::npos) {
        out.push_back(warning);
      }
    }
    return out;
  };
  std::vector<std::string> warnings;
  Run(true, 2, &warnings);
  std::vector<std::string> expected = {
      "cost-benefit: cohort households whose cell has no comparison household are left out of "
      "the comparison"};
  expected.insert(expected.end(), missing_years.begin(), missing_years.end());
  EXPECT_EQ(about_the_figures(warnings), expected);
  Run(false, 1, &warnings);
  EXPECT_EQ(about_the_figures(warnings), missing_years);
}

TEST_F(CostBenefitEngineTest, BeforeAfterTakesEveryCohortHouseholdAndNoComparison) {
  // H3 starts on 2016-09-01: its police of 2016-10-01 is in year 1; it has no kosten amount.
  std::map<std::string, Household> expected = {
      {"H1", {"cohort", H1()}},
      {"H2", {"cohort", H2()}},
      {"H3", {"cohort", {{"police@1", 10000}, {"coaching@1", 197500}}}},
      {"H4", {"none", {}}},
      {"H5", {"none", {}}},
      {"H6", {"none", {}}},
  };
  EXPECT_EQ(Run(false, 1), expected);
}

TEST_F(CostBenefitEngineTest, TheSameWhateverTheNumberOfTokenRanges) {
  for (bool comparison : {true, false}) {
    const std::map<std::string, Household> one = Run(comparison, 1);
    ASSERT_EQ(one.size(), 6u);
    for (int threads : {2, 3, 4, 64}) {
      SCOPED_TRACE(fmt::format("comparison {} threads {}", comparison, threads));
      EXPECT_EQ(Run(comparison, threads), one);
    }
  }
}

TEST_F(CostBenefitEngineTest, ItemDefinitionsSayWhatMakesTheFiguresTheSameQuantity) {
  std::vector<analysis::CostItemDescription> with, without;
  Run(true, 1, nullptr, &with);
  Run(false, 1, nullptr, &without);
  ASSERT_EQ(with.size(), without.size());
  ASSERT_EQ(with.size(), 14u);
  const analysis::CostItemDescription& police = with[0];
  EXPECT_EQ(police.name, "police@-1");
  EXPECT_THAT(police.definition, ::testing::HasSubstr("relative year -1 outcome volume"));
  EXPECT_THAT(police.definition, ::testing::HasSubstr("price 100.00"));
  EXPECT_THAT(police.definition, ::testing::HasSubstr("start start comparison exclude"));
  EXPECT_THAT(police.definition, ::testing::HasSubstr("match_on household_type("));
  EXPECT_THAT(with[12].definition, ::testing::HasSubstr("intervention coaching per household"));
  EXPECT_THAT(with[12].definition, ::testing::HasSubstr("price 1975.00"));
  EXPECT_TRUE(with[12].per_household);
  EXPECT_FALSE(with[13].per_household);
  EXPECT_THAT(with[13].definition, ::testing::HasSubstr("intervention kosten amount kosten"));
  EXPECT_THAT(without[0].definition, ::testing::HasSubstr("before/after"));
  // Each item differs from every other, and a comparison's from a before/after's.
  for (size_t i = 0; i < with.size(); ++i) {
    EXPECT_NE(with[i].definition, without[i].definition) << with[i].name;
    for (size_t j = 0; j < i; ++j) EXPECT_NE(with[i].definition, with[j].definition);
  }
}

// A renamed outcome or another horizon gives every household the same money for the years both
// measure: the release history must see one quantity, else two releases would difference one
// window's money unseen (a regression review's finding).
TEST_F(CostBenefitEngineTest, ARenamedOutcomeOrAnotherHorizonIsTheSameQuantity) {
  auto items_of = [&](int horizon, const std::string& police) {
    absl::StatusOr<AnalysisSpec> spec = analysis::ParseAnalysisSpec(kSpecYaml, "spec.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status();
    AddCostBenefit(&*spec, true, horizon, police);
    absl::StatusOr<analysis::PriceTable> prices = analysis::ParsePrices(kPricesCsv, "prices.csv");
    EXPECT_TRUE(prices.ok()) << prices.status();
    const linker::StoreRecordSource source(store_, kCovenant);
    absl::StatusOr<analysis::AnalysisResult> result =
        analysis::AnalysisEngine(&source).Run(*spec, *prices, analysis::EngineOptions{});
    EXPECT_TRUE(result.ok()) << result.status();
    std::map<std::string, std::string> definition;
    if (result.ok()) {
      for (const analysis::CostItemDescription& item : result->items) {
        definition[item.name] = item.definition;
      }
    }
    return definition;
  };
  const std::map<std::string, std::string> two = items_of(2, "police");
  const std::map<std::string, std::string> one = items_of(1, "arrests");
  ASSERT_TRUE(two.contains("police@-1") && two.contains("police@2"));
  ASSERT_TRUE(one.contains("arrests@-1") && one.contains("arrests@1"));
  EXPECT_FALSE(one.contains("arrests@2"));
  EXPECT_EQ(one.at("arrests@-1"), two.at("police@-1"));
  EXPECT_EQ(one.at("arrests@1"), two.at("police@1"));
  EXPECT_EQ(one.at("evictions@1"), two.at("evictions@1"));
  EXPECT_EQ(one.at("coaching@1"), two.at("coaching@1"));
  EXPECT_NE(two.at("police@1"), two.at("police@2"));
}

TEST_F(CostBenefitEngineTest, TheSpecParsedFromYamlGivesWhatTheHandMadeOneGives) {
  const std::string yaml = std::string(kSpecYaml) + "prices: prices.csv\n" +
                           "cost_benefit:\n"
                           "  cohort: {indicator: wijkteam_2016, start: start}\n"
                           "  comparison: {exclude: [wijkteam_ever], match_on: [household_type, "
                           "area]}\n"
                           "  horizon: 2\n"
                           "  windows:\n"
                           "    - {label: year_before, years: [-1, -1]}\n"
                           "    - {label: after, years: [1, 2]}\n"
                           "  outcomes:\n"
                           "    police: {indicator: police, volume: records, price: police, "
                           "payer: justice}\n"
                           "    wellbeing: {pm: \"no agreed price\"}\n"
                           "    out_of_home_days: {indicator: out_of_home, volume: days, price: "
                           "out_of_home_day, payer: justice}\n"
                           "    evictions: {indicator: eviction, volume: records, price: eviction, "
                           "payer: justice}\n"
                           "    arrears: {indicator: eviction, volume: amount, amount: bedrag, "
                           "payer: justice}\n"
                           "  costs:\n"
                           "    coaching: {per_household: 1975, payer: participatiewet}\n"
                           "    kosten: {amount: kosten, payer: wmo}\n";
  absl::StatusOr<AnalysisSpec> parsed = analysis::ParseAnalysisSpec(yaml, "spec.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<AnalysisSpec> by_hand = analysis::ParseAnalysisSpec(kSpecYaml, "spec.yaml");
  ASSERT_TRUE(by_hand.ok()) << by_hand.status();
  AddCostBenefit(&*by_hand, true);
  ASSERT_EQ(parsed->cost_items.size(), by_hand->cost_items.size());
  for (size_t i = 0; i < parsed->cost_items.size(); ++i) {
    const CostItemSpec& a = parsed->cost_items[i];
    const CostItemSpec& b = by_hand->cost_items[i];
    EXPECT_EQ(std::tie(a.name, a.indicator, a.volume, a.amount_attribute, a.prices, a.relative_year,
                       a.outcome, a.intervention),
              std::tie(b.name, b.indicator, b.volume, b.amount_attribute, b.prices, b.relative_year,
                       b.outcome, b.intervention));
  }
  EXPECT_EQ(parsed->cost_benefit->cohort_bit, by_hand->cost_benefit->cohort_bit);
  EXPECT_EQ(parsed->cost_benefit->comparison_bit, by_hand->cost_benefit->comparison_bit);
  EXPECT_EQ(parsed->cost_benefit->unmatched_bit, by_hand->cost_benefit->unmatched_bit);
  EXPECT_EQ(parsed->cost_benefit->first_item, by_hand->cost_benefit->first_item);
}

// A cost_benefit section over the hand-made spec; `comparison` is its comparison block (empty:
// before/after), `outcomes` its outcomes.
std::string CostBenefitYaml(const std::string& comparison, int horizon,
                            const std::string& windows = "    - {label: after, years: [1, 2]}\n",
                            const std::string& outcomes =
                                "    police: {indicator: police, volume: records, price: police, "
                                "payer: justice}\n") {
  return std::string(kSpecYaml) + "prices: prices.csv\ncost_benefit:\n" +
         "  cohort: {indicator: wijkteam_2016, start: start}\n" + comparison +
         fmt::format("  horizon: {}\n", horizon) + "  windows:\n" + windows + "  outcomes:\n" +
         outcomes + "  costs:\n    coaching: {per_household: 1975, payer: participatiewet}\n";
}

constexpr char kMatchTypeAndArea[] =
    "  comparison: {exclude: [wijkteam_ever], match_on: [household_type, area]}\n";
constexpr char kMatchType[] =
    "  comparison: {exclude: [wijkteam_ever], match_on: [household_type]}\n";

v1::ReleaseRecord Released(uint64_t sequence, const std::string& yaml) {
  v1::ReleaseRecord record;
  record.set_sequence(sequence);
  record.set_analysis("cost-benefit-engine");
  record.set_spec_name("spec.yaml");
  record.set_spec_yaml(yaml);
  return record;
}

// Two cohort designs differ by the households one counts and the other not, and their items
// are different quantities to the release history: the second design is refused, whatever
// else is the same; another horizon (or outcome, window) of the same design is not.
TEST(CostBenefitDesignTest, EveryCostBenefitReleaseOfACovenantSharesOneCohortDesign) {
  auto parse = [](const std::string& yaml) {
    absl::StatusOr<AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "spec.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status();
    return spec.ok() ? *spec : AnalysisSpec{};
  };
  const std::vector<v1::ReleaseRecord> history = {
      Released(0, kSpecYaml),  // no cost_benefit section: no design
      Released(1, CostBenefitYaml(kMatchTypeAndArea, 2))};
  auto conflict = [&](const std::string& yaml) {
    absl::StatusOr<std::string> why = linker::CostBenefitDesignConflict(parse(yaml), history);
    EXPECT_TRUE(why.ok()) << why.status();
    return why.value_or("");
  };
  EXPECT_EQ(conflict(CostBenefitYaml(kMatchTypeAndArea, 2)), "");
  EXPECT_EQ(conflict(CostBenefitYaml(kMatchTypeAndArea, 3)), "");
  EXPECT_EQ(
      conflict(CostBenefitYaml(kMatchTypeAndArea, 2, "    - {label: before, years: [-1, -1]}\n",
                               "    evictions: {indicator: eviction, volume: records, "
                               "price: eviction, payer: housing}\n")),
      "");
  EXPECT_EQ(conflict(kSpecYaml), "");
  const std::string other_match = conflict(CostBenefitYaml(kMatchType, 2));
  EXPECT_THAT(other_match, ::testing::HasSubstr("otherwise than release 1"));
  EXPECT_THAT(other_match, ::testing::HasSubstr("(it differs in: comparison.match_on)"));
  EXPECT_THAT(other_match, ::testing::HasSubstr("could isolate a few households' money"));
  EXPECT_THAT(other_match, ::testing::HasSubstr("ask the privacy officers"));
  EXPECT_THAT(
      conflict(CostBenefitYaml("", 2)),
      ::testing::HasSubstr("(it differs in: comparison, comparison.exclude, comparison.match_on)"));
  // The cohort indicator by what it selects, not by its name.
  std::string other_cohort = CostBenefitYaml(kMatchTypeAndArea, 2);
  other_cohort.replace(other_cohort.find("where: {soort: [A]}"), 19, "where: {soort: [B]}");
  EXPECT_THAT(conflict(other_cohort), ::testing::HasSubstr("(it differs in: cohort indicator)"));
}

// The design is what the indicators select, never their names (a renamed cohort indicator is the
// same cohort), and every earlier spec is read, however it spells its keys (a regression
// review's findings: names refused a same design; a quoted, escaped key escaped the check).
TEST(CostBenefitDesignTest, TheDesignIsWhatItSelectsHoweverItIsSpelled) {
  auto parse = [](const std::string& yaml) {
    absl::StatusOr<AnalysisSpec> spec = analysis::ParseAnalysisSpec(yaml, "spec.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status();
    return spec.ok() ? *spec : AnalysisSpec{};
  };
  auto replace_all = [](std::string text, const std::string& from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
    return text;
  };
  const std::string design = CostBenefitYaml(kMatchTypeAndArea, 2);
  const std::vector<v1::ReleaseRecord> history = {Released(1, design)};
  absl::StatusOr<std::string> renamed = linker::CostBenefitDesignConflict(
      parse(replace_all(design, "wijkteam_2016", "pilot_2016")), history);
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(*renamed, "");

  const std::string escaped = replace_all(design, "cost_benefit:", "\"cost_\\x62enefit\":");
  ASSERT_NE(escaped, design);
  ASSERT_TRUE(parse(escaped).cost_benefit.has_value());
  absl::StatusOr<std::string> other = linker::CostBenefitDesignConflict(
      parse(CostBenefitYaml(kMatchType, 2)), {Released(1, escaped)});
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_THAT(*other, ::testing::HasSubstr("(it differs in: comparison.match_on)"));
}

// A comparison of cost-benefit figures under rounded counts would give the counts away.
TEST(CostBenefitDesignTest, ACovenantThatRoundsCountsReleasesNoCostBenefit) {
  absl::StatusOr<AnalysisSpec> spec =
      analysis::ParseAnalysisSpec(CostBenefitYaml(kMatchTypeAndArea, 2), "spec.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  policy::Covenant covenant;
  covenant.id = "c";
  EXPECT_TRUE(linker::CheckSpecAllowed(*spec, covenant).ok());
  covenant.analysis.rounding_base = 5;
  absl::Status refused = linker::CheckSpecAllowed(*spec, covenant);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.message(), ::testing::HasSubstr("rounds counts to multiples of 5"));
  EXPECT_THAT(refused.message(), ::testing::HasSubstr("analysis.disclosure.rounding_base"));
  absl::StatusOr<AnalysisSpec> plain = analysis::ParseAnalysisSpec(kSpecYaml, "spec.yaml");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(linker::CheckSpecAllowed(*plain, covenant).ok());
}

// Outcomes sharing one indicator, horizon 10 and windows of two years: 11 items per outcome
// and 5 window groups, a group per payer (justice, participatiewet) and year or costs (2 x 12),
// all outcomes per year and all costs (12). 4000 outcomes: 44001 items + 2 payers + 1 total +
// 20000 + 24 + 12 = 64040 groups; 4100: 45104 + 20536 = 65640, beyond 16-bit group indices.
TEST(CostBenefitLimitsTest, TheCostBenefitTablesGroupsCountTowardsTheEngineLimit) {
  std::string windows;
  for (int k = 1; k <= 9; k += 2) {
    windows += fmt::format("    - {{label: w{}, years: [{}, {}]}}\n", k, k, k + 1);
  }
  auto spec_of = [&](int outcomes) {
    std::string list;
    for (int o = 0; o < outcomes; ++o) {
      list += fmt::format(
          "    o{}: {{indicator: police, volume: records, price: police, payer: justice}}\n", o);
    }
    return analysis::ParseAnalysisSpec(CostBenefitYaml(kMatchTypeAndArea, 10, windows, list),
                                       "spec.yaml");
  };
  absl::StatusOr<AnalysisSpec> fits = spec_of(4000);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(analysis::CostBenefitGroups(*fits), 20036u);
  EXPECT_TRUE(analysis::CheckEngineLimits(*fits).ok()) << analysis::CheckEngineLimits(*fits);
  absl::StatusOr<AnalysisSpec> hostile = spec_of(4100);
  ASSERT_TRUE(hostile.ok()) << hostile.status();
  absl::Status refused = analysis::CheckEngineLimits(*hostile);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), ::testing::HasSubstr("the spec defines 65640 summed groups"));
  EXPECT_THAT(refused.message(), ::testing::HasSubstr("at most 65535"));
}

}  // namespace
}  // namespace koppel
