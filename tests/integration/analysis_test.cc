// The Almelo study end to end (issue #4): the synthetic municipality's exports are sealed by the
// real agents and delivered to the real linker over mutual TLS; the research unit runs
// analyses/almelo-mpg.yaml with `koppel query`. Asserts that the engine's unprotected results
// equal the generator's plaintext truth table by table, that what is released is protected (no
// suppressed cell can be solved from the published ones, checked by an independent solver),
// and that the covenant's rules refuse what they do not allow.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <thread>
#include <tuple>

#include "absl/strings/match.h"
#include "cli/release_writer.h"
#include "core/csv_reader.h"
#include "core/hmac.h"
#include "core/key_file.h"
#include "core/status_macros.h"
#include "linker/analysis/analysis_engine.h"
#include "linker/analysis/release.h"
#include "linker/analysis/release_protection.h"
#include "linker/linker_store.h"
#include "linker/query_runner.h"
#include "linker/store_encryption.h"
#include "linker/store_record_source.h"
#include "tests/testing/browser_check.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/delivered_municipality.h"
#include "tests/testing/group_attacker.h"
#include "tests/testing/linear_attacker.h"
#include "tests/testing/plaintext_scanner.h"
#include "tests/testing/port_file.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/xlsx_reader.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::BackgroundProcess;
using test::Contains;
using test::DeliveredMunicipality;
using test::ProcessResult;
using test::ReadFile;
using test::RunProcess;
using test::WriteFile;

const std::string kBin = KOPPEL_BIN_DIR;
const std::string kSource = KOPPEL_SOURCE_DIR;
const std::string kCovenant = test::DeliveredMunicipality::kCovenant;

const std::string kAlmeloSpec = kSource + "/analyses/almelo-mpg.yaml";

double Value(const analysis::ResultTable& table, const std::string& row,
             const std::string& column) {
  const analysis::ResultCell* cell = table.Find(row, column);
  EXPECT_NE(cell, nullptr) << table.name << ": no cell " << row << " / " << column;
  return cell == nullptr ? -1 : cell->value;
}

double Round2(double x) { return std::round(x * 100) / 100; }

// The attacker of issue #11: holds every release (the published count cells of each result),
// joins them on the households they count (the common refinement), and solves for every group
// of 1 to 9 households that a conjunction of at most `max_literals` predicates describes (the
// date, the area, each release's household type and names), every single group of the
// refinement, and every difference of two nested published cells
// (tests/testing/group_attacker.h). Expects it to find nothing.
void ExpectNoGroupDisclosed(const std::vector<const analysis::AnalysisResult*>& releases,
                            const std::vector<const std::vector<analysis::CellState>*>& states,
                            int max_literals) {
  absl::StatusOr<test::HeldReleases> held = test::JoinReleases(releases, states);
  ASSERT_TRUE(held.ok()) << held.status();
  absl::StatusOr<std::vector<test::DisclosedGroup>> disclosed =
      test::FindDisclosedGroups(held->atoms, held->published, 10, max_literals);
  ASSERT_TRUE(disclosed.ok()) << disclosed.status();
  EXPECT_TRUE(disclosed->empty()) << disclosed->size() << " groups disclosed:\n"
                                  << test::Describe(*disclosed);
}

// Which count cells of `result` a release published: those a released count shows.
std::vector<analysis::CellState> PublishedIn(const json& release,
                                             const analysis::AnalysisResult& result) {
  std::vector<analysis::CellState> states(result.count_cells.size(),
                                          analysis::CellState::kSecondary);
  for (const json& table : release["tables"]) {
    const analysis::ResultTable* internal = result.FindTable(table["name"].get<std::string>());
    EXPECT_NE(internal, nullptr) << table["name"];
    if (internal == nullptr) continue;
    const std::vector<std::string> columns = table["columns"];
    for (const json& row : table["rows"]) {
      for (size_t c = 0; c < columns.size(); ++c) {
        const analysis::ResultCell* cell =
            internal->Find(row["label"].get<std::string>(), columns[c]);
        if (cell == nullptr || cell->kind != analysis::ResultKind::kCount) continue;
        if (row["cells"][c].is_number()) {
          states[static_cast<size_t>(cell->sources[0].index)] = analysis::CellState::kPublished;
        }
      }
    }
  }
  return states;
}

// A spec with the Almelo spec's register, indicators and flags and other tables: the research
// unit's own, as in issue #11's attacks. `flags` and `populations` add lines to those sections
// (flags at its end, so they may use every indicator and flag).
std::string SpecLike(const std::string& name, const std::string& flags,
                     const std::string& populations, const std::string& tables) {
  std::string text = ReadFile(kSource + "/analyses/almelo-mpg.yaml");
  text = text.substr(0, text.find("\nprices:"));
  auto replace = [&text](const std::string& what, const std::string& with) {
    const size_t at = text.find(what);
    if (at == std::string::npos) throw std::runtime_error("no " + what + " in almelo-mpg.yaml");
    text.replace(at, what.size(), with);
  };
  replace("analysis: almelo-mpg\n", "analysis: " + name + "\n");
  replace("\npopulations:\n", "\npopulations:\n" + populations);
  // The flags section is the last before prices: new flags go at its end, after every name.
  return text + "\n" + flags + "\ntables:\n" + tables;
}

const std::string kComplementTables = R"(  - name: complement
    population: families
    rows: area
    total: Almelo totaal
    columns:
      - {label: families_N}
      - {label: no_bijstand, where: {none: [bijstand]}}
      - {label: no_moves, where: {none: [moves]}}
)";

std::string ComplementSpec() { return SpecLike("attack-complement", "", "", kComplementTables); }

std::string SingleFamilySpec() {
  return SpecLike("attack-single-family",
                  "  three_problems: {all: [bijstand, youth_care, adult_crime_suspect]}\n"
                  "  two_problems: {all: [low_income, youth_ambulant]}\n",
                  "",
                  "  - name: single_family\n"
                  "    population: families\n"
                  "    rows: area\n"
                  "    columns:\n"
                  "      - {label: families_N}\n"
                  "      - {label: not_three, where: {none: [three_problems]}}\n"
                  "      - {label: not_two, where: {none: [two_problems]}}\n");
}

std::string PopulationSpec() {
  return SpecLike("attack-population", "",
                  "  families_without_bijstand: {household_type: family, none: [bijstand]}\n",
                  "  - name: without_bijstand\n"
                  "    population: families_without_bijstand\n"
                  "    rows: area\n"
                  "    total: Almelo totaal\n"
                  "    columns:\n"
                  "      - {label: families_N}\n");
}

// A random spec over the Almelo names: a flag, a population and the columns of a table per wijk
// combine names with all / any / none at random (fixed seed, so the covenant can approve it).
std::string RandomSpec(uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<std::string> names = {"bijstand",
                                          "ww",
                                          "disability",
                                          "low_income",
                                          "moves",
                                          "adult_basis_ggz",
                                          "adult_crime_suspect",
                                          "youth_care",
                                          "youth_ambulant",
                                          "child_specialist_ggz",
                                          "socio_economic",
                                          "psychosocial_adults",
                                          "psychosocial_children",
                                          "all_three",
                                          "chronic"};
  auto name = [&]() { return names[rng() % names.size()]; };
  auto selection = [&]() -> std::string {
    switch (rng() % 5) {
      case 0:
        return fmt::format("{{all: [{}]}}", name());
      case 1:
        return fmt::format("{{none: [{}]}}", name());
      case 2:
        return fmt::format("{{all: [{}], none: [{}]}}", name(), name());
      case 3:
        return fmt::format("{{any: [{}, {}]}}", name(), name());
      default:
        return "{all: [random_flag]}";
    }
  };
  const std::string flag =
      rng() % 2 == 0
          ? fmt::format("  random_flag: {{all: [{}, {}]}}\n", name(), name())
          : fmt::format("  random_flag: {{any: [{}, {}], none: [{}]}}\n", name(), name(), name());
  std::string population = "{household_type: family}";
  if (rng() % 2 == 0) population = fmt::format("{{household_type: family, none: [{}]}}", name());
  std::string tables = fmt::format(
      "  - name: random_{}\n    population: random_population\n    rows: area\n"
      "    total: Almelo totaal\n    columns:\n      - {{label: n}}\n",
      seed);
  for (int c = 0; c < 3; ++c) {
    tables += fmt::format("      - {{label: c{}, where: {}}}\n", c, selection());
  }
  return SpecLike(fmt::format("random-{}", seed), flag, "  random_population: " + population + "\n",
                  tables);
}

// The averaging attack on noise: per wijk, pairs of columns "bijstand or I" and "I but not
// bijstand" for many indicators I. Each pair differs by exactly the families on bijstand; with
// fresh noise per cell, averaging the differences would give their number.
std::string AveragingSpec() {
  const std::vector<std::string> others = {
      "ww",         "disability",      "other_social",         "low_income",
      "moves",      "adult_basis_ggz", "adult_specialist_ggz", "adult_crime_suspect",
      "youth_care", "child_basis_ggz", "child_specialist_ggz", "ots"};
  std::string columns = "      - {label: families_N}\n";
  for (const std::string& other : others) {
    columns += fmt::format("      - {{label: or_{0}, where: {{any: [bijstand, {0}]}}}}\n", other);
    columns += fmt::format("      - {{label: only_{0}, where: {{all: [{0}], none: [bijstand]}}}}\n",
                           other);
  }
  return SpecLike("explore-averaging", "", "",
                  "  - name: averaging\n    population: families\n    rows: area\n"
                  "    columns:\n" +
                      columns);
}

std::string ExploratorySpec(const std::string& name, const std::string& population) {
  return SpecLike(name, "", "  explored: {household_type: family" + population + "}\n",
                  "  - name: explored\n"
                  "    population: explored\n"
                  "    rows: area\n"
                  "    total: Almelo totaal\n"
                  "    columns:\n"
                  "      - {label: families_N}\n"
                  "      - {label: bijstand, count: bijstand, percent: true}\n"
                  "      - {label: moves, count: moves}\n");
}

// Every figure of truth/study.json against the engine's unprotected tables; the costs only
// when the spec prices them.
void ExpectMatchesStudy(const analysis::AnalysisResult& result, const json& study,
                        bool with_costs = true) {
  const analysis::ResultTable* t1 = result.FindTable("table1_socio_economic");
  const analysis::ResultTable* t2 = result.FindTable("table2_psychosocial_adults");
  const analysis::ResultTable* t3 = result.FindTable("table3_psychosocial_children_youthcare");
  const analysis::ResultTable* t4 = result.FindTable("table4_psychosocial_children_other");
  const analysis::ResultTable* mpg = result.FindTable("mpg_per_wijk");
  ASSERT_TRUE(t1 && t2 && t3 && t4 && mpg);
  struct Column {
    const analysis::ResultTable* table;
    std::string domain, truth_name, label;
  };
  const std::vector<Column> columns = {
      {t1, "socio_economic", "any", "any"},
      {t1, "socio_economic", "bijstand", "bijstand"},
      {t1, "socio_economic", "moves", "moves"},
      {t1, "socio_economic", "ww", "ww"},
      {t1, "socio_economic", "other_social", "other_social"},
      {t1, "socio_economic", "disability", "disability"},
      {t1, "socio_economic", "low_income", "low_income"},
      {t2, "psychosocial_adults", "any", "any"},
      {t2, "psychosocial_adults", "basis_ggz", "basis_ggz"},
      {t2, "psychosocial_adults", "specialist_ggz", "specialist_ggz"},
      {t2, "psychosocial_adults", "crime_suspect", "crime_suspect"},
      {t2, "psychosocial_adults", "awbz", "awbz"},
      {t3, "psychosocial_children", "any", "any"},
      {t3, "psychosocial_children", "youth_ambulant", "youth_ambulant"},
      {t3, "psychosocial_children", "youth_day_treatment", "youth_day_treatment"},
      {t3, "psychosocial_children", "youth_probation", "youth_probation"},
      {t3, "psychosocial_children", "youth_residential", "youth_residential"},
      {t3, "psychosocial_children", "youth_care", "youth_care"},
      {t4, "psychosocial_children", "basis_ggz", "basis_ggz"},
      {t4, "psychosocial_children", "specialist_ggz", "specialist_ggz"},
      {t4, "psychosocial_children", "guardianship", "guardianship"},
      {t4, "psychosocial_children", "foster_care", "foster_care"},
      {t4, "psychosocial_children", "ots", "ots"},
      {t4, "psychosocial_children", "crime_suspect", "crime_suspect"},
      {t4, "psychosocial_children", "awbz", "awbz"},
  };
  std::vector<std::pair<std::string, json>> rows = {{"Almelo totaal", study["total"]}};
  for (const json& wijk : study["wijken"]) rows.emplace_back(wijk["name"].get<std::string>(), wijk);
  for (const auto& [label, truth] : rows) {
    SCOPED_TRACE(label);
    for (const analysis::ResultTable* table : {t1, t2, t3, t4}) {
      EXPECT_EQ(Value(*table, label, "families_N"), truth["families"].get<double>()) << table->name;
    }
    for (const Column& c : columns) {
      const json& expected = truth[c.domain][c.truth_name];
      EXPECT_EQ(Value(*c.table, label, c.label + "_n"), expected["n"].get<double>())
          << c.table->name << " " << c.label;
      EXPECT_DOUBLE_EQ(Round2(Value(*c.table, label, c.label + "_pct")),
                       expected["pct"].get<double>())
          << c.table->name << " " << c.label;
    }
    EXPECT_EQ(Value(*mpg, label, "households_N"), truth["households"].get<double>());
    EXPECT_EQ(Value(*mpg, label, "families"), truth["families"].get<double>());
    EXPECT_EQ(Value(*mpg, label, "mpg_n"), truth["mpg"]["families"].get<double>());
    EXPECT_DOUBLE_EQ(Round2(Value(*mpg, label, "mpg_pct")),
                     truth["mpg"]["pct_of_households"].get<double>());
  }

  const json& total = study["total"];
  const analysis::ResultTable* overlap = result.FindTable("table5_overlap");
  ASSERT_NE(overlap, nullptr);
  for (const std::string domain :
       {"socio_economic", "psychosocial_adults", "psychosocial_children"}) {
    const json& o = total["overlap"][domain];
    EXPECT_EQ(Value(*overlap, "no problem in this domain", domain), o["none"].get<double>());
    EXPECT_EQ(Value(*overlap, "one or more problems in this domain", domain),
              o["any"].get<double>());
    EXPECT_EQ(Value(*overlap, "problems in this domain only", domain), o["only"].get<double>());
    for (const std::string other :
         {"socio_economic", "psychosocial_adults", "psychosocial_children"}) {
      if (other == domain) continue;
      EXPECT_EQ(Value(*overlap, "also " + other, domain), o["also_" + other].get<double>());
    }
    EXPECT_EQ(Value(*overlap, "in all of these domains", domain),
              total["overlap"]["all_three"].get<double>());
  }
  const analysis::ResultTable* support = result.FindTable("table5_support_years");
  ASSERT_NE(support, nullptr);
  for (const auto& [row, key] : std::vector<std::pair<std::string, std::string>>{
           {"2012", "2012"}, {"2013", "2013"}, {"both 2012 and 2013", "both"}}) {
    EXPECT_EQ(Value(*support, row, "families_with_support"),
              total["support"][key]["families"].get<double>());
    EXPECT_EQ(Value(*support, row, "of_which_problems_in_all_three_domains"),
              total["support"][key]["all_three_domains"].get<double>());
  }

  if (!with_costs) return;
  const analysis::ResultTable* costs = result.FindTable("costs");
  ASSERT_NE(costs, nullptr);
  const json& c = total["costs"];
  for (const auto& [item, euros] : c["by_item_eur"].items()) {
    double engine = 0;
    if (item == "crime") {
      for (const analysis::ResultRow& row : costs->rows) {
        if (row.label.starts_with("crime_")) {
          engine += Value(*costs, row.label, "all_families_eur");
        }
      }
    } else {
      engine = Value(*costs, item, "all_families_eur");
    }
    EXPECT_NEAR(engine, euros.get<double>(), 0.01) << item;
  }
  EXPECT_NEAR(Value(*costs, "total", "all_families_eur"), c["total_eur"].get<double>(), 0.01);
  EXPECT_NEAR(Value(*costs, "total", "mpg_families_eur"), c["mpg_families_total_eur"].get<double>(),
              0.01);
  EXPECT_NEAR(Value(*costs, "total", "mpg_families_mean_eur"),
              c["mean_per_mpg_family_eur"].get<double>(), 0.01);
  EXPECT_NEAR(Value(*costs, "total", "other_families_eur"),
              c["other_families_total_eur"].get<double>(), 0.01);
  EXPECT_NEAR(Value(*costs, "total", "other_families_mean_eur"),
              c["mean_per_other_family_eur"].get<double>(), 0.01);
  EXPECT_EQ(Value(*costs, "households", "mpg_families_eur"),
            total["mpg"]["families"].get<double>());
}

// The protection of the engine's result on its own: no primary-suppressed cell of either system
// is a linear combination of the published ones according to the independent solver, and no
// group of 1 to 9 households that a conjunction of up to two predicates (or a single atom, or a
// difference of two nested published cells) describes can be solved for either.
void ExpectProtected(const analysis::AnalysisResult& result, const policy::AnalysisPolicy& policy) {
  const analysis::DisclosureRules rules = analysis::RulesOf(policy);
  absl::StatusOr<analysis::ProtectedRelease> protection =
      analysis::ProtectRelease(result, {}, rules);
  ASSERT_TRUE(protection.ok()) << protection.status();
  for (const auto* system : {&result.count_cells, &result.sum_cells}) {
    const bool counts = system == &result.count_cells;
    const uint32_t atoms = counts ? result.count_atoms : result.sum_atoms;
    const analysis::Protection& p = counts ? protection->counts : protection->sums;
    std::vector<std::vector<uint32_t>> cells;
    std::vector<bool> published;
    int primary = 0;
    for (size_t i = 0; i < system->size(); ++i) {
      cells.push_back((*system)[i].atoms);
      published.push_back(p.state[i] == analysis::CellState::kPublished);
      if (p.state[i] == analysis::CellState::kPrimary) ++primary;
      if ((*system)[i].kind == analysis::CellKind::kCount &&
          p.state[i] == analysis::CellState::kPublished) {
        const double v = (*system)[i].value;
        EXPECT_TRUE(v == 0 || v >= static_cast<double>(policy.min_cell)) << "published count " << v;
      }
    }
    absl::StatusOr<std::vector<size_t>> derivable =
        test::FindDerivableCells(cells, published, atoms);
    ASSERT_TRUE(derivable.ok()) << derivable.status();
    for (size_t i : *derivable) {
      EXPECT_NE(p.state[i], analysis::CellState::kPrimary)
          << "primary-suppressed cell " << i << " can be solved from the published cells";
    }
    if (counts) {
      EXPECT_GT(primary, 0) << "the test needs small cells";
    }
  }
  std::vector<const std::vector<analysis::CellState>*> states = {&protection->counts.state};
  ExpectNoGroupDisclosed({&result}, states, 2);
}

class AlmeloAnalysisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    municipality_ = new DeliveredMunicipality({}, {{"complement.yaml", ComplementSpec()},
                                                   {"single-family.yaml", SingleFamilySpec()},
                                                   {"population.yaml", PopulationSpec()},
                                                   {"random-1.yaml", RandomSpec(1)},
                                                   {"random-2.yaml", RandomSpec(2)},
                                                   {"random-3.yaml", RandomSpec(3)},
                                                   {"random-4.yaml", RandomSpec(4)}});
  }
  static void TearDownTestSuite() { delete municipality_; }
  static DeliveredMunicipality* municipality_;
};
DeliveredMunicipality* AlmeloAnalysisTest::municipality_ = nullptr;

TEST_F(AlmeloAnalysisTest, EngineResultsEqualTheGroundTruthTableByTable) {
  absl::StatusOr<analysis::AnalysisResult> result = municipality_->RunEngine(kAlmeloSpec);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectMatchesStudy(*result, municipality_->study());
}

// The second spec: an Arnhem-style cohort monitor over the outreach team's cohort, per
// household type, against truth/cohort.json.
TEST_F(AlmeloAnalysisTest, CohortMonitorEqualsItsGroundTruth) {
  absl::StatusOr<analysis::AnalysisResult> result =
      municipality_->RunEngine(kSource + "/analyses/cohort-monitor.yaml");
  ASSERT_TRUE(result.ok()) << result.status();
  const json truth = json::parse(ReadFile(municipality_->dir() / "m/truth/cohort.json"));
  const analysis::ResultTable* escalations = result->FindTable("escalations");
  const analysis::ResultTable* costs = result->FindTable("costs_by_payer");
  ASSERT_TRUE(escalations && costs);
  std::vector<std::pair<std::string, json>> rows = {{"total", truth["total"]}};
  for (const auto& [type, t] : truth["household_types"].items()) {
    if (type != "other") rows.emplace_back(type, t);
  }
  EXPECT_EQ(truth["household_types"]["other"]["households"], 0);
  for (const auto& [row, t] : rows) {
    SCOPED_TRACE(row);
    EXPECT_EQ(Value(*escalations, row, "households_N"), t["households"].get<double>());
    for (const auto& [escalation, n] : t["escalations"].items()) {
      EXPECT_EQ(Value(*escalations, row, escalation + "_n"), n.get<double>()) << escalation;
    }
    const std::string column = row == "total" ? "all_households_eur" : row + "_eur";
    for (const auto& [payer, cents] : t["costs_cents"]["by_payer"].items()) {
      EXPECT_NEAR(Value(*costs, payer, column), cents.get<double>() / 100, 0.01) << payer;
    }
    EXPECT_NEAR(Value(*costs, "total", column), t["costs_cents"]["total"].get<double>() / 100,
                0.01);
  }
  EXPECT_GT(truth["total"]["households"].get<int>(), 100);

  const fs::path out = municipality_->dir() / "cohort-release";
  ProcessResult query =
      municipality_->Query(kSource + "/analyses/cohort-monitor.yaml", "csv", out.string());
  ASSERT_EQ(query.exit_code, 0) << query.err;
  EXPECT_TRUE(Contains(ReadFile(out / "escalations.csv"), "two_parents,"))
      << ReadFile(out / "escalations.csv");
}

TEST_F(AlmeloAnalysisTest, QueryReleasesOnlyProtectedTablesThatMatchTheEngine) {
  const fs::path out = municipality_->dir() / "release";
  ProcessResult query = municipality_->Query(kAlmeloSpec, "json", out.string());
  ASSERT_EQ(query.exit_code, 0) << query.err;
  const json release = json::parse(ReadFile(out / "release.json"));
  analysis::EngineOptions with_units;
  with_units.keep_units = true;
  absl::StatusOr<analysis::AnalysisResult> result =
      municipality_->RunEngine(kAlmeloSpec, with_units);
  ASSERT_TRUE(result.ok()) << result.status();
  policy::AnalysisPolicy policy;  // the covenant's settings: the defaults
  ExpectProtected(*result, policy);

  // Metadata: covenant, spec hash, deliveries, suppression counts.
  const json& meta = release["metadata"];
  EXPECT_EQ(meta["covenant_id"], kCovenant);
  EXPECT_EQ(meta["recipient"], "research-unit");
  EXPECT_EQ(meta["spec_sha256"].get<std::string>().size(), 64u);
  EXPECT_GT(meta["cells_suppressed_primary"].get<int64_t>(), 0);
  EXPECT_GT(meta["cells_suppressed_secondary"].get<int64_t>(), 0);
  // The datasets the spec reads, each with what the linker holds of it.
  std::set<std::string> used;
  for (const json& delivery : meta["deliveries"]) {
    used.insert(delivery["dataset"].get<std::string>());
    EXPECT_GT(delivery["records"].get<int64_t>(), 0) << delivery;
    EXPECT_GT(delivery["batches"].get<int64_t>(), 0) << delivery;
  }
  EXPECT_EQ(used, (std::set<std::string>{"brp", "inkomen", "jeugdzorg", "politie", "sociale_zaken",
                                         "uwv", "zorg"}));

  // Every released count equals the engine's; every shown count is 0 or at least min_cell;
  // a wijk's suppressed count cannot be recovered as total minus the other wijken.
  int compared = 0, stars = 0;
  for (const json& table : release["tables"]) {
    const analysis::ResultTable* internal = result->FindTable(table["name"].get<std::string>());
    ASSERT_NE(internal, nullptr) << table["name"];
    const std::vector<std::string> columns = table["columns"];
    for (const json& row : table["rows"]) {
      for (size_t c = 0; c < columns.size(); ++c) {
        const json& cell = row["cells"][c];
        const analysis::ResultCell* exact =
            internal->Find(row["label"].get<std::string>(), columns[c]);
        ASSERT_NE(exact, nullptr);
        if (cell == "*") {
          ++stars;
          continue;
        }
        if (exact->kind == analysis::ResultKind::kCount) {
          EXPECT_EQ(cell.get<double>(), exact->value) << table["name"] << " " << row["label"];
          EXPECT_TRUE(exact->value == 0 || exact->value >= 10)
              << table["name"] << " " << columns[c];
          ++compared;
        }
      }
    }
    if (table["name"] == "table1_socio_economic") {
      // The published Almelo table leaks moves per wijk; ours must not.
      const auto& rows = table["rows"];
      const size_t moves = static_cast<size_t>(
          std::find(columns.begin(), columns.end(), "moves_n") - columns.begin());
      int suppressed = 0;
      for (const json& row : rows) suppressed += row["cells"][moves] == "*" ? 1 : 0;
      EXPECT_NE(suppressed, 1) << "a single suppressed cell in a column with a total is derivable";
    }
  }
  EXPECT_GT(compared, 300);
  EXPECT_GT(stars, 10);
}

// The covenant's choices for percentages of suppressed counts and rounding, and the warnings
// the release carries.
TEST_F(AlmeloAnalysisTest, PercentRuleRoundingAndWarningsFollowTheCovenant) {
  analysis::EngineOptions with_units;
  with_units.keep_units = true;
  absl::StatusOr<analysis::AnalysisResult> result =
      municipality_->RunEngine(kAlmeloSpec, with_units);
  ASSERT_TRUE(result.ok()) << result.status();
  analysis::ReleaseContext context;
  context.covenant_id = kCovenant;
  context.analysis = "almelo-mpg";
  context.spec_sha256 = std::string(64, '0');
  context.recipient = "research-unit";
  policy::AnalysisPolicy as_if;
  as_if.suppressed_percent = "as_if:5";
  absl::StatusOr<v1::Release> release = analysis::ProtectAndRelease(*result, as_if, context);
  ASSERT_TRUE(release.ok()) << release.status();
  const v1::ReleasedTable& t1 = release->tables(0);
  ASSERT_EQ(t1.name(), "table1_socio_economic");
  int as_if_shown = 0;
  for (const v1::ReleasedRow& row : t1.rows()) {
    const double families = static_cast<double>(row.cells(0).count());
    for (int c = 1; c + 1 < row.cells_size(); c += 2) {
      const v1::ReleasedCell& count = row.cells(c);
      const v1::ReleasedCell& pct = row.cells(c + 1);
      if (count.suppressed() && !pct.suppressed()) {
        EXPECT_NEAR(pct.percent(), std::round(1000.0 * 5 / families) / 10, 1e-9) << row.label();
        ++as_if_shown;
      }
    }
  }
  EXPECT_GT(as_if_shown, 0);

  policy::AnalysisPolicy rounded;
  rounded.rounding_base = 5;
  release = analysis::ProtectAndRelease(*result, rounded, context);
  ASSERT_TRUE(release.ok()) << release.status();
  int rounded_shares = 0;
  for (const v1::ReleasedRow& row : release->tables(0).rows()) {
    for (const v1::ReleasedCell& cell : row.cells()) {
      if (cell.value_case() == v1::ReleasedCell::kCount) {
        EXPECT_EQ(cell.count() % 5, 0);
      }
    }
    // Shares of the rounded counts: the exact share would give the exact count back.
    const double families = static_cast<double>(row.cells(0).count());
    for (int c = 1; c + 1 < row.cells_size(); c += 2) {
      if (row.cells(c).value_case() != v1::ReleasedCell::kCount ||
          row.cells(c + 1).value_case() != v1::ReleasedCell::kPercent) {
        continue;
      }
      EXPECT_NEAR(row.cells(c + 1).percent(),
                  std::round(1000.0 * static_cast<double>(row.cells(c).count()) / families) / 10,
                  1e-9)
          << row.label();
      ++rounded_shares;
    }
  }
  EXPECT_GT(rounded_shares, 10);
  // Warnings carry no counts: a spec could make one count a few persons of its choice.
  for (const std::string& warning : release->metadata().warnings()) {
    EXPECT_FALSE(std::isdigit(static_cast<unsigned char>(warning[0]))) << warning;
    EXPECT_FALSE(
        Contains(warning, " persons or addresses") &&
        std::any_of(warning.begin(),
                    warning.begin() + static_cast<std::ptrdiff_t>(warning.find(" persons")),
                    ::isdigit))
        << warning;
  }

  // The year-on-year columns at 2013-12-31 need support in 2011, which no dataset has.
  bool warned = false;
  for (const std::string& warning : result->warnings) {
    warned = warned || (Contains(warning, "2011") && Contains(warning, "2013-12-31"));
  }
  EXPECT_TRUE(warned) << "no warning about the missing year 2011";
}

TEST_F(AlmeloAnalysisTest, EveryFormatIsWritten) {
  for (const std::string format : {"csv", "md"}) {
    const fs::path out = municipality_->dir() / ("release-" + format);
    ProcessResult query = municipality_->Query(kAlmeloSpec, format, out.string());
    ASSERT_EQ(query.exit_code, 0) << query.err;
    if (format == "csv") {
      const std::string table1 = ReadFile(out / "table1_socio_economic.csv");
      EXPECT_TRUE(Contains(table1, "Almelo totaal,")) << table1;
      EXPECT_TRUE(Contains(table1, "families_N,any_n,any_pct")) << table1;
    } else {
      const std::string md = ReadFile(out / "release.md");
      EXPECT_TRUE(Contains(md, "Table 1")) << md.substr(0, 500);
      EXPECT_TRUE(Contains(md, kCovenant));
    }
  }
}

// Issue 17: the HTML report as a person sees it, rendered in a real headless chromium.

// One released table as its CSV file has it.
struct CsvReleaseTable {
  std::string name;
  std::string row_heading;
  std::vector<std::string> columns;                                    // after the row heading
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;  // label, cell texts
};

// The tables of a csv release, in release order (release-metadata.json lists them).
std::vector<CsvReleaseTable> ReadCsvRelease(const fs::path& dir) {
  std::vector<CsvReleaseTable> tables;
  const json metadata = json::parse(ReadFile(dir / "release-metadata.json"));
  for (const json& entry : metadata["tables"]) {
    CsvReleaseTable table;
    table.name = entry["name"].get<std::string>();
    absl::StatusOr<std::unique_ptr<CsvReader>> reader =
        CsvReader::Open(dir / entry["file"].get<std::string>(), CsvOptions());
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return {};
    CsvRecord record;
    for (bool header = true;; header = false) {
      absl::StatusOr<bool> more = (*reader)->Next(&record);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) break;
      EXPECT_EQ(record.problem, RejectReason::kNone) << table.name << " line " << record.line;
      if (record.fields.empty()) continue;
      std::vector<std::string> fields(record.fields.begin() + 1, record.fields.end());
      if (header) {
        table.row_heading = std::string(record.fields[0]);
        table.columns = std::move(fields);
      } else {
        table.rows.emplace_back(std::string(record.fields[0]), std::move(fields));
      }
    }
    tables.push_back(std::move(table));
  }
  return tables;
}

// The research unit's workbook read back by a spreadsheet reader (openpyxl) holds what the CSV
// release of the same query holds: every table in release order, every label equal, every figure
// a number equal to the CSV's, every `*` the text `*`, and the spec digest of the metadata.
TEST_F(AlmeloAnalysisTest, XlsxWorkbookEqualsTheCsvReleaseCellByCell) {
  const fs::path out = municipality_->dir() / "release-csv-xlsx";
  ProcessResult query = municipality_->Query(kAlmeloSpec, "csv,xlsx", out.string());
  ASSERT_EQ(query.exit_code, 0) << query.err;
  absl::StatusOr<json> workbook = test::ReadXlsx(out / "release.xlsx");
  ASSERT_TRUE(workbook.ok()) << workbook.status();
  const json metadata = json::parse(ReadFile(out / "release-metadata.json"));
  const std::vector<CsvReleaseTable> tables = ReadCsvRelease(out);
  ASSERT_EQ(tables.size(), metadata["tables"].size());

  const json& sheets = (*workbook)["sheets"];
  ASSERT_EQ(sheets.size(), tables.size() + 1);
  const json& meta_sheet = sheets[0];
  EXPECT_EQ(meta_sheet["name"], "release");
  std::string spec_sha256;
  for (const json& cell : meta_sheet["cells"]) {
    if (cell["col"] == 1 && cell["value"] == "spec_sha256") {
      const json* value = test::XlsxCell(meta_sheet, cell["row"].get<int>(), 2);
      ASSERT_NE(value, nullptr);
      spec_sha256 = (*value)["value"].get<std::string>();
    }
  }
  EXPECT_EQ(spec_sha256, metadata["metadata"]["spec_sha256"].get<std::string>());
  EXPECT_EQ(spec_sha256.size(), 64u);

  size_t figures = 0;
  size_t stars = 0;
  for (size_t t = 0; t < tables.size(); ++t) {
    const CsvReleaseTable& table = tables[t];
    const json& sheet = sheets[t + 1];
    SCOPED_TRACE(table.name);
    const json* subtitle = test::XlsxCell(sheet, 2, 1);
    ASSERT_NE(subtitle, nullptr);
    EXPECT_TRUE(Contains((*subtitle)["value"].get<std::string>(), "Table " + table.name + ","));
    EXPECT_EQ(sheet["freeze_panes"], "B4");
    EXPECT_EQ(table.rows.size(), metadata["tables"][t]["rows"].get<size_t>());

    // The header (row 3), then a row per released row; a label or heading is text, a figure a
    // number, `*` text, an empty CSV field an empty cell.
    size_t cells_in_csv = 0;
    auto expect_cell = [&](int row, int col, const std::string& field, bool label) {
      const json* cell = test::XlsxCell(sheet, row, col);
      SCOPED_TRACE(fmt::format("row {} column {}: '{}'", row, col, field));
      if (field.empty()) {
        EXPECT_EQ(cell, nullptr) << cell->dump();
        return;
      }
      ++cells_in_csv;
      ASSERT_NE(cell, nullptr);
      if (label || field == "*") {
        EXPECT_EQ((*cell)["type"], "s");
        EXPECT_EQ((*cell)["value"], field);
        if (!label) ++stars;
      } else {
        EXPECT_EQ((*cell)["type"], "n");
        EXPECT_EQ((*cell)["value"].get<double>(), std::strtod(field.c_str(), nullptr));
        ++figures;
      }
    };
    expect_cell(3, 1, table.row_heading, true);
    for (size_t c = 0; c < table.columns.size(); ++c) {
      expect_cell(3, static_cast<int>(c) + 2, table.columns[c], true);
    }
    for (size_t r = 0; r < table.rows.size(); ++r) {
      const auto& [label, fields] = table.rows[r];
      const int row = static_cast<int>(r) + 4;
      expect_cell(row, 1, label, true);
      ASSERT_EQ(fields.size(), table.columns.size());
      for (size_t c = 0; c < fields.size(); ++c) {
        expect_cell(row, static_cast<int>(c) + 2, fields[c], false);
      }
    }
    // Nothing in the header and the rows that the CSV does not have.
    size_t cells_in_sheet = 0;
    for (const json& cell : sheet["cells"]) {
      const int row = cell["row"].get<int>();
      if (row >= 3 && row < static_cast<int>(table.rows.size()) + 4) ++cells_in_sheet;
    }
    EXPECT_EQ(cells_in_sheet, cells_in_csv);
  }
  EXPECT_GT(figures, 100u);
  EXPECT_GT(stars, 0u);
}

// A workbook that cannot be made (here: no temporary directory can be created in $TMPDIR) is
// not an output directory that cannot be written: koppel exits 1 and says why, before it asks
// the linker for a release it could not keep.
TEST_F(AlmeloAnalysisTest, AWorkbookThatCannotBeMadeIsNamedNotTheOutputDirectory) {
  const fs::path out = municipality_->dir() / "release-xlsx-no-tmp";
  const char* old = std::getenv("TMPDIR");
  const std::optional<std::string> saved =
      old == nullptr ? std::nullopt : std::optional<std::string>(old);
  ::setenv("TMPDIR", "/proc", 1);  // not even root can make a directory there
  ProcessResult query = municipality_->Query(kAlmeloSpec, "xlsx", out.string());
  if (saved) {
    ::setenv("TMPDIR", saved->c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  EXPECT_EQ(query.exit_code, 1) << query.err;
  EXPECT_TRUE(Contains(query.err,
                       "the xlsx workbook could not be written: creating a temporary directory "
                       "in /proc: "))
      << query.err;
  EXPECT_FALSE(Contains(query.err, "output directory")) << query.err;
  EXPECT_TRUE(fs::is_empty(out));  // made by the output directory check, then nothing
}

// The text a release shows for a value (FormatCell's), had the cell been released.
std::string ReleasedText(const analysis::ResultCell& exact) {
  v1::ReleasedCell cell;
  switch (exact.kind) {
    case analysis::ResultKind::kCount:
      cell.set_count(static_cast<int64_t>(std::llround(exact.value)));
      break;
    case analysis::ResultKind::kAmount:
      cell.set_amount(exact.value);
      break;
    case analysis::ResultKind::kPercent:
      cell.set_percent(exact.value);
      break;
    case analysis::ResultKind::kRatio:
      cell.set_ratio(exact.value);
      break;
    case analysis::ResultKind::kPm:
      cell.set_pm(true);
      break;
    case analysis::ResultKind::kEmpty:
      return "";
  }
  return FormatCell(cell);
}

// How often `text` holds `figure` as a whole number: "3" is not in "13", "3.5" or "0.3". With
// `word`, a figure inside a word or a hex digest ("a135b") does not count either.
size_t CountFigure(std::string_view text, std::string_view figure, bool word = false) {
  size_t count = 0;
  const auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  const auto joins = [&](char c) {
    return digit(c) || (word && std::isalpha(static_cast<unsigned char>(c)) != 0);
  };
  for (size_t at = text.find(figure); at != std::string_view::npos;
       at = text.find(figure, at + 1)) {
    const size_t end = at + figure.size();
    const bool before =
        at > 0 && (joins(text[at - 1]) || (text[at - 1] == '.' && at > 1 && digit(text[at - 2])));
    const bool after =
        end < text.size() &&
        (joins(text[end]) || (text[end] == '.' && end + 1 < text.size() && digit(text[end + 1])));
    if (!before && !after) ++count;
  }
  return count;
}

bool ContainsFigure(std::string_view text, std::string_view figure, bool word = false) {
  return CountFigure(text, figure, word) > 0;
}

// The figures in `text`: its runs of digits with at most one decimal point.
std::set<std::string> Figures(std::string_view text) {
  std::set<std::string> figures;
  for (size_t i = 0; i < text.size();) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t end = i;
    bool point = false;
    while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) ||
                                 (!point && text[end] == '.' && end + 1 < text.size() &&
                                  std::isdigit(static_cast<unsigned char>(text[end + 1]))))) {
      point = point || text[end] == '.';
      ++end;
    }
    figures.insert(std::string(text.substr(i, end - i)));
    i = end;
  }
  return figures;
}

// True when `label` is an axis tick as svg_chart.cc writes one: a number, with k, M or bn for
// large ones ("0", "2.5", "20k", "150M"), or a label with no figure (the unit).
bool IsTickLabel(const std::string& label) {
  static const std::regex kTick(R"(-?[0-9]+(\.[0-9]+)?(k|M|bn)?)");
  return Figures(label).empty() || std::regex_match(label, kTick);
}

// The notes release_charts.cc writes when a released table does not fit its spec (table only,
// no chart): a real release never carries one.
const char* const kChartMismatchNotes[] = {
    "does not have the rows and columns the analysis spec gives it",
    "A row does not have one cell per column",
    "The analysis spec has no table of this name",
};

// The attributes that place and size a chart's shapes. Their values are computed positions:
// one may equal a figure by chance, and none is drawn from a suppressed cell (the per-cell
// checks assert that its only mark is the fixed-size suppressed-mark).
bool IsGeometry(const std::string& attribute) {
  static const std::set<std::string> kGeometry = {
      "x",           "y",         "x1",      "y1",      "x2",           "y2",
      "cx",          "cy",        "r",       "rx",      "ry",           "width",
      "height",      "d",         "points",  "viewBox", "transform",    "dx",
      "dy",          "font-size", "opacity", "offset",  "stroke-width", "stroke-dasharray",
      "fill-opacity"};
  return kGeometry.count(attribute) > 0;
}

// The file's bytes without its style sheet (font sizes, margins) and without the values of
// geometry attributes: what is left is text, labels and values a reader can see or a program
// can read.
std::string WithoutStyleAndGeometry(std::string html) {
  for (size_t at = html.find("<style"); at != std::string::npos; at = html.find("<style", at)) {
    const size_t end = html.find("</style>", at);
    if (end == std::string::npos) break;
    html.erase(at, end - at);
    ++at;
  }
  for (size_t at = html.find("=\""); at != std::string::npos; at = html.find("=\"", at + 2)) {
    size_t name = at;
    while (name > 0 && html[name - 1] != ' ' && html[name - 1] != '\n' && html[name - 1] != '<') {
      --name;
    }
    const size_t close = html.find('"', at + 2);
    if (close == std::string::npos) break;
    if (IsGeometry(html.substr(name, at - name))) {
      html.replace(at + 2, close - at - 2, "");
    }
  }
  return html;
}

// Compares a report as chromium showed it (`view`) with the CSV release of the same query in
// `csv_dir`, and its suppressed cells with the engine's exact values (`result`).
void ExpectReportReadsLikeTheCsvRelease(const fs::path& report, const test::BrowserView& view,
                                        const fs::path& csv_dir,
                                        const analysis::AnalysisResult& result,
                                        const std::string& name) {
  const std::vector<CsvReleaseTable> tables = ReadCsvRelease(csv_dir);
  ASSERT_FALSE(tables.empty());

  // As a reader gets it: drawn, quiet, offline, printable, the metadata first.
  EXPECT_TRUE(view.loaded);
  EXPECT_TRUE(view.non_blank) << view.screenshot << ": " << view.distinct_colours << " colours, "
                              << view.non_white_fraction << " not white";
  EXPECT_EQ(view.Complaints(), std::vector<std::string>{});
  EXPECT_EQ(view.requests, std::vector<std::string>{});
  EXPECT_EQ(view.data_urls, std::vector<std::string>{});  // the CSP allows no data: image
  EXPECT_EQ(view.scripts, 0);
  EXPECT_GT(view.pdf_pages, 1);
  for (const char* note : kChartMismatchNotes) {
    EXPECT_FALSE(Contains(view.text, note)) << "a table of the release lost its charts: " << note;
  }
  EXPECT_EQ(view.first_section_id, "release-metadata");
  EXPECT_EQ(view.tables, static_cast<int>(tables.size()));
  EXPECT_GT(view.charts, 0);
  EXPECT_EQ(view.charts_with_text_alternative, view.charts);
  const json metadata = json::parse(ReadFile(csv_dir / "release-metadata.json"))["metadata"];
  ASSERT_TRUE(view.metadata_text.has_value());
  EXPECT_TRUE(Contains(*view.metadata_text, metadata["spec_sha256"].get<std::string>()))
      << *view.metadata_text;
  ASSERT_FALSE(metadata["deliveries"].empty());
  for (const json& delivery : metadata["deliveries"]) {
    EXPECT_TRUE(Contains(*view.metadata_text, delivery["dataset"].get<std::string>()) &&
                ContainsFigure(*view.metadata_text, delivery["records"].dump()))
        << delivery << " not in " << *view.metadata_text;
  }

  // Every cell of the CSV is a td with exactly its text; every chart mark draws the CSV's text
  // of its cell, and a suppressed cell has none but its suppressed-marks.
  std::set<std::tuple<std::string, std::string, std::string>> cells;
  // Every figure the report may show: the CSV release's (cells, labels, column names, metadata).
  // A suppressed value equal to one of them is checked per cell only (below). The charts' own
  // text is not a source: it is checked against this set.
  std::set<std::string> published;
  // The metadata's figures, but not the digits inside its hex digests (a suppressed "78" is not
  // published because a SHA-256 happens to contain it).
  json metadata_file = json::parse(ReadFile(csv_dir / "release-metadata.json"));
  std::function<void(json&)> drop_digests = [&](json& node) {
    if (node.is_object()) {
      for (auto it = node.begin(); it != node.end();) {
        if (absl::EndsWith(it.key(), "sha256")) {
          it = node.erase(it);
        } else {
          drop_digests(*it);
          ++it;
        }
      }
    } else if (node.is_array()) {
      for (json& element : node) drop_digests(element);
    }
  };
  drop_digests(metadata_file);
  for (const std::string& figure : Figures(metadata_file.dump())) published.insert(figure);
  size_t compared = 0, marks = 0, stars = 0;
  for (const CsvReleaseTable& table : tables) {
    for (const std::string& figure : Figures(ReadFile(csv_dir / (table.name + ".csv")))) {
      published.insert(figure);
    }
    for (const auto& [row, texts] : table.rows) {
      for (size_t c = 0; c < texts.size(); ++c) {
        const std::string& col = table.columns[c];
        const std::string& text = texts[c];
        SCOPED_TRACE(table.name + " / " + row + " / " + col + ": '" + text + "'");
        cells.emplace(table.name, row, col);
        std::vector<const test::RenderedElement*> tds;
        for (const test::RenderedElement* element : view.ElementsFor(table.name, row, col)) {
          if (element->tag == "td") {
            tds.push_back(element);
            continue;
          }
          EXPECT_TRUE(element->in_chart) << element->tag;
          ++marks;
          if (text == "*") {
            EXPECT_TRUE(element->HasClass("suppressed-mark") && element->suppressed)
                << element->tag << " " << element->class_name;
            EXPECT_EQ(element->value, std::nullopt);
          } else {
            EXPECT_FALSE(element->HasClass("suppressed-mark"));
            EXPECT_EQ(element->value, text) << element->tag << " " << element->class_name;
          }
        }
        ASSERT_EQ(tds.size(), 1u);
        EXPECT_EQ(tds[0]->text, text);
        EXPECT_EQ(tds[0]->suppressed, text == "*");
        EXPECT_EQ(tds[0]->HasClass("suppressed"), text == "*");
        if (text == "*") ++stars;
        ++compared;
      }
    }
  }
  // Chart text tied to no cell (names, reference lines, legends) shows only published figures,
  // so a suppressed value cannot hide in it; axis ticks are round positions, not figures.
  for (const std::string& label : view.chart_labels) {
    for (const std::string& figure : Figures(label)) {
      EXPECT_EQ(published.count(figure), 1u)
          << "chart text '" << label << "' shows a figure the release does not have";
    }
  }
  // A suppressed value equal to a tick (a position) is checked per cell only, as one equal to a
  // published figure is.
  std::set<std::string> ticks;
  ASSERT_FALSE(view.tick_labels.empty());
  for (const std::string& tick : view.tick_labels) {
    EXPECT_TRUE(IsTickLabel(tick)) << "axis text '" << tick << "' is not a round tick";
    for (const std::string& figure : Figures(tick)) ticks.insert(figure);
  }
  // Nothing drawn for a cell the release does not have (no derived figure).
  for (const test::RenderedElement& element : view.elements) {
    EXPECT_EQ(cells.count({element.table, element.row, element.col}), 1u)
        << element.tag << " " << element.table << " / " << element.row << " / " << element.col;
  }
  // A suppressed mark's size depends on nothing: one width and height (as the SVG gives them)
  // per chart.
  std::map<int, std::pair<std::string, std::string>> mark_size;
  for (const test::RenderedElement& element : view.elements) {
    if (!element.HasClass("suppressed-mark")) continue;
    EXPECT_GE(element.chart, 0) << element.table;
    EXPECT_FALSE(element.svg_width.empty() || element.svg_height.empty()) << element.table;
    const auto [it, first] =
        mark_size.emplace(element.chart, std::make_pair(element.svg_width, element.svg_height));
    if (!first) {
      EXPECT_EQ(it->second, std::make_pair(element.svg_width, element.svg_height))
          << element.table << " / " << element.row << " / " << element.col;
    }
  }
  EXPECT_GT(compared, 20u);
  EXPECT_GT(marks, 0u);
  EXPECT_GT(stars, 0u);

  // The ground truth: the exact values of the suppressed cells. A small count such as 3 occurs
  // all over a document (other cells, labels, page and record counts), so its absence from the
  // bytes proves nothing and its presence leaks nothing; it is checked where it would leak: in
  // the cell's own td and in every element drawn for that cell (text and every attribute other
  // than its labels and geometry). A value that the release shows nowhere else (in practice the
  // amounts and percentages, and large counts) must in addition be absent from the whole file.
  const std::string bytes = WithoutStyleAndGeometry(ReadFile(report));
  size_t checked = 0, checked_in_bytes = 0, checked_in_charts = 0;
  for (const CsvReleaseTable& table : tables) {
    const analysis::ResultTable* exact_table = result.FindTable(table.name);
    ASSERT_NE(exact_table, nullptr) << table.name;
    for (const auto& [row, texts] : table.rows) {
      for (size_t c = 0; c < texts.size(); ++c) {
        if (texts[c] != "*") continue;
        const std::string& col = table.columns[c];
        const analysis::ResultCell* exact = exact_table->Find(row, col);
        ASSERT_NE(exact, nullptr) << table.name << " / " << row << " / " << col;
        const std::string value = ReleasedText(*exact);
        if (value.empty()) continue;
        // The figure itself is not printed here: the trace names the cell only.
        SCOPED_TRACE("suppressed cell " + table.name + " / " + row + " / " + col);
        for (const test::RenderedElement* element : view.ElementsFor(table.name, row, col)) {
          EXPECT_FALSE(ContainsFigure(element->text, value)) << element->tag;
          for (const auto& [attribute, text] : element->attributes) {
            if (attribute == "data-row" || attribute == "data-col" || IsGeometry(attribute)) {
              continue;
            }
            EXPECT_FALSE(ContainsFigure(text, value)) << element->tag << " " << attribute;
          }
        }
        // The charts' text alternatives list "ROW: value" per drawn cell ("LABEL (ROW / COL):
        // value" in the overlap charts), so "ROW: value" occurs in a chart's desc once per cell
        // of that row the chart draws with that value, never more: the suppressed cell's true
        // value is never listed. (Counted, not just searched: another column of the same row
        // may publish the same figure, a percentage more often than a count.)
        for (const test::BrowserView::ChartText& chart : view.chart_texts) {
          if (chart.table != table.name) continue;
          size_t drawn = 0;
          for (const test::BrowserView::ChartCell& cell : chart.cells) {
            if (cell.row == row && cell.value == value) ++drawn;
          }
          const std::string listed = row + ": " + value;
          EXPECT_LE(CountFigure(chart.desc, listed), drawn) << "chart desc";
          for (const std::string* text : {&chart.title, &chart.caption}) {
            EXPECT_EQ(CountFigure(*text, listed), 0u) << "chart title or caption";
          }
          for (const std::string* text : {&chart.title, &chart.desc, &chart.caption}) {
            EXPECT_FALSE(ContainsFigure(*text, row + " / " + col + "): " + value)) << "chart text";
          }
          ++checked_in_charts;
        }
        ++checked;
        if (published.count(value) == 0 && ticks.count(value) == 0) {
          EXPECT_FALSE(ContainsFigure(bytes, value, /*word=*/true))
              << "the suppressed value is in " << report;
          ++checked_in_bytes;
        }
      }
    }
  }
  EXPECT_EQ(checked, stars);
  EXPECT_GT(checked_in_bytes, 0u);
  EXPECT_GT(checked_in_charts, 0u);
  std::cout << name << ": " << compared << " cells, " << marks << " chart marks, " << stars
            << " suppressed (" << checked_in_bytes << " checked in the bytes), " << view.pdf_pages
            << " A4 pages, rendered in " << view.seconds << " s\n";
}

// The Almelo study's report, and the cohort monitor's (costs stacked by paying party).
TEST_F(AlmeloAnalysisTest, HtmlReportReadsInABrowserWithEveryReleasedNumberAndNoSuppressedOne) {
  const std::vector<std::pair<std::string, std::string>> specs = {
      {kAlmeloSpec, "almelo"}, {kSource + "/analyses/cohort-monitor.yaml", "cohort"}};
  // One query per spec writes its one release as both the report and the CSV files.
  std::vector<fs::path> reports;
  for (const auto& [spec, name] : specs) {
    const fs::path dir = municipality_->dir() / ("report-" + name);
    ProcessResult query = municipality_->Query(spec, "html,csv", dir.string());
    ASSERT_EQ(query.exit_code, 0) << query.err;
    reports.push_back(dir / "release.html");
  }
  // Chromium renders both (one start-up) while the engine computes the ground truth.
  std::future<absl::StatusOr<std::vector<test::BrowserView>>> rendering =
      std::async(std::launch::async, [&reports] { return test::RenderInBrowser(reports); });
  analysis::EngineOptions with_units;
  with_units.keep_units = true;
  std::vector<absl::StatusOr<analysis::AnalysisResult>> results;
  for (const auto& [spec, name] : specs) {
    results.push_back(municipality_->RunEngine(spec, with_units));
  }
  absl::StatusOr<std::vector<test::BrowserView>> views = rendering.get();
  ASSERT_TRUE(views.ok()) << views.status();
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string& name = specs[i].second;
    SCOPED_TRACE(name);
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    ExpectReportReadsLikeTheCsvRelease(reports[i], (*views)[i], reports[i].parent_path(),
                                       *results[i], name);
  }
}

TEST_F(AlmeloAnalysisTest, CovenantRulesRefuseWithTheRuleName) {
  const fs::path out = municipality_->dir() / "refused";
  ProcessResult other = municipality_->Query(kAlmeloSpec, "json", out.string(), "other-researcher");
  EXPECT_EQ(other.exit_code, 7) << other.err;
  EXPECT_TRUE(Contains(other.err, "analysis.recipients")) << other.err;
  EXPECT_FALSE(fs::exists(out / "release.json"));

  // A data holder is no recipient either.
  ProcessResult agent = municipality_->Query(kAlmeloSpec, "json", out.string(), "agent-brp");
  EXPECT_EQ(agent.exit_code, 7) << agent.err;
  EXPECT_TRUE(Contains(agent.err, "'agent-brp'")) << agent.err;
  EXPECT_TRUE(Contains(agent.err, "(rule: analysis.recipients)")) << agent.err;
  EXPECT_FALSE(fs::exists(out / "release.json"));

  // A spec may not weaken disclosure control below the covenant's.
  std::string weaker = ReadFile(kAlmeloSpec);
  weaker += "\ndisclosure: {min_cell: 5}\n";
  fs::create_directories(municipality_->dir() / "prices");
  fs::copy_file(kSource + "/prices/unit_costs_2014.csv",
                municipality_->dir() / "prices/unit_costs_2014.csv",
                fs::copy_options::overwrite_existing);
  fs::create_directories(municipality_->dir() / "analyses");
  WriteFile(municipality_->dir() / "analyses/weaker.yaml", weaker);
  ProcessResult weak = municipality_->Query(
      (municipality_->dir() / "analyses/weaker.yaml").string(), "json", out.string());
  EXPECT_EQ(weak.exit_code, 7) << weak.err;
  EXPECT_TRUE(Contains(weak.err, "(rule: analysis.disclosure.min_cell)")) << weak.err;

  // A spec the covenant does not approve is exploratory: its costs cannot be released.
  std::string unnamed = ReadFile(kAlmeloSpec);
  const size_t name_at = unnamed.find("analysis: almelo-mpg\n");
  ASSERT_NE(name_at, std::string::npos);
  unnamed.replace(name_at, std::string("analysis: almelo-mpg").size(), "analysis: almelo-other");
  WriteFile(municipality_->dir() / "analyses/unnamed.yaml", unnamed);
  ProcessResult not_listed = municipality_->Query(
      (municipality_->dir() / "analyses/unnamed.yaml").string(), "json", out.string());
  EXPECT_EQ(not_listed.exit_code, 7) << not_listed.err;
  EXPECT_TRUE(Contains(not_listed.err, "cannot hold costs")) << not_listed.err;
  EXPECT_TRUE(Contains(not_listed.err, "(rule: analysis.exploratory)")) << not_listed.err;
  EXPECT_FALSE(fs::exists(out / "release.json"));

  // The approved spec changed in one byte is no longer approved: an exact release is refused.
  std::string edited = ReadFile(kAlmeloSpec) + "\n";
  WriteFile(municipality_->dir() / "analyses/edited.yaml", edited);
  ProcessResult exact =
      municipality_->Query((municipality_->dir() / "analyses/edited.yaml").string(), "json",
                           out.string(), "research-unit", {"--exact"});
  EXPECT_EQ(exact.exit_code, 7) << exact.err;
  EXPECT_TRUE(Contains(exact.err, "(rule: analysis.approved)")) << exact.err;
  EXPECT_TRUE(Contains(exact.err, Sha256Hex(edited))) << exact.err;
  EXPECT_FALSE(fs::exists(out / "release.json"));
}

// Specs the covenant does not approve come back perturbed (the cell key method): the same
// query gives the same cells, every count is within the table's noise of the truth and never
// 1 to 9, the difference of two overlapping releases is not the count it would be, and an
// exact release of such a spec is refused.
TEST_F(AlmeloAnalysisTest, ExploratorySpecsArePerturbedConsistently) {
  const fs::path analyses = municipality_->dir() / "analyses";
  WriteFile(analyses / "explore.yaml", ExploratorySpec("explore", ""));
  WriteFile(analyses / "explore-without.yaml",
            ExploratorySpec("explore-without", ", none: [bijstand]"));
  auto release_of = [&](const std::string& file, const std::string& out) {
    ProcessResult query = municipality_->Query((analyses / file).string(), "json",
                                               (municipality_->dir() / out).string());
    EXPECT_EQ(query.exit_code, 0) << query.err;
    EXPECT_TRUE(Contains(query.out, "perturbed release")) << query.out;
    return json::parse(ReadFile(municipality_->dir() / out / "release.json"));
  };
  const json first = release_of("explore.yaml", "explore-1");
  const json again = release_of("explore.yaml", "explore-2");
  const json without = release_of("explore-without.yaml", "explore-3");
  EXPECT_EQ(first["metadata"]["mode"], "perturbed");
  EXPECT_EQ(first["metadata"]["perturbation_max_noise"], 3);
  EXPECT_EQ(first["tables"], again["tables"]) << "the same cells must get the same noise";

  absl::StatusOr<analysis::AnalysisResult> truth =
      municipality_->RunEngine((analyses / "explore.yaml").string());
  ASSERT_TRUE(truth.ok()) << truth.status();
  absl::StatusOr<analysis::AnalysisResult> truth_without =
      municipality_->RunEngine((analyses / "explore-without.yaml").string());
  ASSERT_TRUE(truth_without.ok()) << truth_without.status();
  int noisy = 0, exact = 0, differences_off = 0;
  for (const json& row : first["tables"][0]["rows"]) {
    const std::string label = row["label"];
    const analysis::ResultTable& table = truth->tables[0];
    for (const std::string column : {"families_N", "bijstand_n", "moves"}) {
      const size_t c = static_cast<size_t>(
          std::find(table.columns.begin(), table.columns.end(), column) - table.columns.begin());
      const json& cell = row["cells"][c];
      const double real = Value(table, label, column);
      if (cell == "*") {
        EXPECT_LE(real, 12) << label << " " << column;  // a perturbed value of 1..9
        continue;
      }
      const int64_t shown = cell.get<int64_t>();
      EXPECT_TRUE(shown == 0 || shown >= 10) << label << " " << column << ": " << shown;
      EXPECT_LE(std::abs(static_cast<double>(shown) - real), 3) << label << " " << column;
      (static_cast<double>(shown) == real ? exact : noisy) += 1;
    }
    // families_N minus the families without bijstand, against the true bijstand count.
    for (const json& other : without["tables"][0]["rows"]) {
      if (other["label"] != row["label"] || !row["cells"][0].is_number() ||
          !other["cells"][0].is_number()) {
        continue;
      }
      const int64_t difference = row["cells"][0].get<int64_t>() - other["cells"][0].get<int64_t>();
      if (static_cast<double>(difference) != Value(truth->tables[0], label, "bijstand_n"))
        ++differences_off;
    }
  }
  EXPECT_GT(noisy, 5) << "perturbation must change counts";
  EXPECT_GT(exact, 0);
  EXPECT_GT(differences_off, 3) << "differencing two perturbed releases must not give counts";

  // Averaging many cells that differ by the same few households: every pair that would isolate
  // the families on bijstand of a wijk has a suppressed cell, whatever the noise.
  WriteFile(analyses / "explore-averaging.yaml", AveragingSpec());
  const json averaging = release_of("explore-averaging.yaml", "explore-averaging");
  analysis::EngineOptions with_units;
  with_units.keep_units = true;
  absl::StatusOr<analysis::AnalysisResult> averaged =
      municipality_->RunEngine((analyses / "explore-averaging.yaml").string(), with_units);
  ASSERT_TRUE(averaged.ok()) << averaged.status();
  const std::vector<analysis::CellState> averaging_states = PublishedIn(averaging, *averaged);
  ExpectNoGroupDisclosed({&*averaged}, {&averaging_states}, 2);
  int pairs_shown = 0;
  for (const json& row : averaging["tables"][0]["rows"]) {
    const double on_bijstand = Value(truth->tables[0], row["label"], "bijstand_n");
    if (on_bijstand < 1 || on_bijstand > 9) continue;
    for (size_t c = 1; c + 1 < row["cells"].size(); c += 2) {
      if (row["cells"][c].is_number() && row["cells"][c + 1].is_number()) ++pairs_shown;
    }
  }
  EXPECT_EQ(pairs_shown, 0) << "noise alone can be averaged away";

  ProcessResult refused = municipality_->Query((analyses / "explore.yaml").string(), "json",
                                               (municipality_->dir() / "explore-exact").string(),
                                               "research-unit", {"--exact"});
  EXPECT_EQ(refused.exit_code, 7) << refused.err;
  EXPECT_TRUE(Contains(refused.err, "(rule: analysis.approved)")) << refused.err;
}

// Issue #11's attacks, each spec approved for exact release: the complement columns, the
// single-family columns, a population that leaves out one indicator, and the official study,
// released one after the other. An attacker holding all of them (joined on the households)
// derives no count of 1 to 9 households; protecting each release's requested cells alone
// would have let it.
TEST_F(AlmeloAnalysisTest, AttackerHoldingEveryReleaseDerivesNoSmallCount) {
  const fs::path analyses = municipality_->dir() / "analyses";
  const std::vector<std::string> specs = {(analyses / "complement.yaml").string(),
                                          (analyses / "single-family.yaml").string(),
                                          (analyses / "population.yaml").string(), kAlmeloSpec};
  analysis::EngineOptions with_units;
  with_units.keep_units = true;
  std::vector<analysis::AnalysisResult> results;
  std::vector<std::vector<analysis::CellState>> states;
  int64_t suppressed_for_history = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const fs::path out = municipality_->dir() / fmt::format("attack-{}", i);
    ProcessResult query =
        municipality_->Query(specs[i], "json", out.string(), "research-unit", {"--exact"});
    ASSERT_EQ(query.exit_code, 0) << specs[i] << ": " << query.err;
    const json release = json::parse(ReadFile(out / "release.json"));
    EXPECT_EQ(release["metadata"]["mode"], "exact");
    suppressed_for_history += release["metadata"]["cells_suppressed_history"].get<int64_t>();
    absl::StatusOr<analysis::AnalysisResult> result =
        municipality_->RunEngine(specs[i], with_units);
    ASSERT_TRUE(result.ok()) << result.status();
    states.push_back(PublishedIn(release, *result));
    results.push_back(std::move(*result));
  }
  // The population release and the official table overlap: the history had to suppress more.
  EXPECT_GT(suppressed_for_history, 0);
  std::vector<const analysis::AnalysisResult*> held;
  std::vector<const std::vector<analysis::CellState>*> held_states;
  for (size_t i = 0; i < results.size(); ++i) {
    held.push_back(&results[i]);
    held_states.push_back(&states[i]);
  }
  ExpectNoGroupDisclosed(held, held_states, 3);

  // The same complement release protected the old way (requested cells only) leaks.
  absl::StatusOr<analysis::Protection> naive = analysis::ProtectCells(
      results[0].count_cells, results[0].count_atoms, analysis::DisclosureRules{});
  ASSERT_TRUE(naive.ok()) << naive.status();
  int leaks = 0;
  const analysis::ResultTable* complement = results[0].FindTable("complement");
  ASSERT_NE(complement, nullptr);
  for (const analysis::ResultRow& row : complement->rows) {
    const double families = row.cells[0].value;
    const double without = row.cells[1].value;
    const bool both = naive->state[static_cast<size_t>(row.cells[0].sources[0].index)] ==
                          analysis::CellState::kPublished &&
                      naive->state[static_cast<size_t>(row.cells[1].sources[0].index)] ==
                          analysis::CellState::kPublished;
    if (both && families - without >= 1 && families - without <= 9) ++leaks;
  }
  EXPECT_GT(leaks, 0) << "the municipality must have wijken with 1-9 families on bijstand";
}

// Random specs (populations with negations, flags, `any` groups), each approved and released
// exactly one after the other, then the official study: the attacker holding all of them
// derives no count of 1 to 9 households.
TEST_F(AlmeloAnalysisTest, RandomSpecsReleasedTogetherDiscloseNothing) {
  const fs::path analyses = municipality_->dir() / "analyses";
  std::vector<std::string> specs;
  for (int seed = 1; seed <= 4; ++seed)
    specs.push_back((analyses / fmt::format("random-{}.yaml", seed)).string());
  specs.push_back(kAlmeloSpec);
  analysis::EngineOptions with_units;
  with_units.keep_units = true;
  std::vector<analysis::AnalysisResult> results;
  std::vector<std::vector<analysis::CellState>> states;
  for (size_t i = 0; i < specs.size(); ++i) {
    const fs::path out = municipality_->dir() / fmt::format("random-release-{}", i);
    ProcessResult query =
        municipality_->Query(specs[i], "json", out.string(), "research-unit", {"--exact"});
    ASSERT_EQ(query.exit_code, 0) << specs[i] << ": " << query.err;
    absl::StatusOr<analysis::AnalysisResult> result =
        municipality_->RunEngine(specs[i], with_units);
    ASSERT_TRUE(result.ok()) << result.status();
    states.push_back(PublishedIn(json::parse(ReadFile(out / "release.json")), *result));
    results.push_back(std::move(*result));
  }
  std::vector<const analysis::AnalysisResult*> held;
  std::vector<const std::vector<analysis::CellState>*> held_states;
  for (size_t i = 0; i < results.size(); ++i) {
    held.push_back(&results[i]);
    held_states.push_back(&states[i]);
  }
  ExpectNoGroupDisclosed(held, held_states, 2);
}

TEST_F(AlmeloAnalysisTest, MalformedSpecFailsBeforeTheNetworkWithItsLine) {
  fs::create_directories(municipality_->dir() / "analyses");
  const fs::path spec = municipality_->dir() / "analyses/broken.yaml";
  WriteFile(spec,
            "analysis: broken\nreference_dates: [2014-12-31]\ntables: [{name: t, kind: pie}]\n");
  ProcessResult query =
      municipality_->Query(spec.string(), "json", (municipality_->dir() / "broken-out").string());
  EXPECT_EQ(query.exit_code, 3) << query.err;
  EXPECT_TRUE(Contains(query.err, "broken.yaml:")) << query.err;
}

// The same kind of municipality as its holders really export it (koppel-synth --dialects):
// Windows-1252, ISO-8859-15 and UTF-16 files, date-times, codes in any capitalisation, and a
// register that is a snapshot without address periods, with people at postcodes outside the
// municipality that its postcode list rejects. Read natively, sealed and delivered through the
// real linker, the snapshot study must equal the generator's truth figure by figure.
class DialectMunicipalityAnalysisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    municipality_ = new DeliveredMunicipality({"--dialects", "--persons", "8000", "--seed", "11"});
  }
  static void TearDownTestSuite() { delete municipality_; }
  static DeliveredMunicipality* municipality_;
};
DeliveredMunicipality* DialectMunicipalityAnalysisTest::municipality_ = nullptr;

TEST_F(DialectMunicipalityAnalysisTest, SnapshotStudyEqualsTheGroundTruth) {
  const fs::path spec = municipality_->dir() / "m/analyses/almelo-mpg-snapshot.yaml";
  absl::StatusOr<analysis::AnalysisResult> result = municipality_->RunEngine(spec.string());
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectMatchesStudy(*result, municipality_->study(), /*with_costs=*/false);

  ProcessResult query = municipality_->Query(spec.string(), "json",
                                             (municipality_->dir() / "snapshot.json").string());
  EXPECT_EQ(query.exit_code, 0) << query.err;
}

TEST_F(DialectMunicipalityAnalysisTest, TheSnapshotAnswersOnlyItsOwnDate) {
  const fs::path spec = municipality_->dir() / "m/analyses/almelo-mpg-snapshot.yaml";
  std::string text = ReadFile(spec);
  const std::string dates = "reference_dates: [2014-12-31]";
  ASSERT_NE(text.find(dates), std::string::npos);
  text.replace(text.find(dates), dates.size(), "reference_dates: [2014-12-31, 2013-12-31]");
  const fs::path wider = municipality_->dir() / "snapshot-2013.yaml";
  WriteFile(wider, text);
  ProcessResult query =
      municipality_->Query(wider.string(), "json", (municipality_->dir() / "never.json").string());
  EXPECT_EQ(query.exit_code, 3) << query.err;
  EXPECT_TRUE(Contains(query.err, "snapshot-2013.yaml:")) << query.err;
  EXPECT_TRUE(Contains(query.err, "2013-12-31")) << query.err;
  EXPECT_FALSE(fs::exists(municipality_->dir() / "never.json"));
}

// Wijken of a few hundred households: many small and empty cells.
class SmallMunicipalityAnalysisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    municipality_ = new DeliveredMunicipality({"--persons", "6000", "--seed", "5"});
  }
  static void TearDownTestSuite() { delete municipality_; }
  static DeliveredMunicipality* municipality_;
};
DeliveredMunicipality* SmallMunicipalityAnalysisTest::municipality_ = nullptr;

TEST_F(SmallMunicipalityAnalysisTest, ExactInsideProtectedOutside) {
  ASSERT_LT(municipality_->study()["total"]["households"].get<int>(), 3000);
  analysis::EngineOptions with_units;
  with_units.keep_units = true;
  absl::StatusOr<analysis::AnalysisResult> result =
      municipality_->RunEngine(kAlmeloSpec, with_units);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectMatchesStudy(*result, municipality_->study());
  ExpectProtected(*result, policy::AnalysisPolicy{});

  const fs::path out = municipality_->dir() / "release";
  ProcessResult query = municipality_->Query(kAlmeloSpec, "json", out.string());
  ASSERT_EQ(query.exit_code, 0) << query.err;
  const json release = json::parse(ReadFile(out / "release.json"));
  int zeros = 0, stars = 0;
  for (const json& table : release["tables"]) {
    for (const json& row : table["rows"]) {
      for (const json& cell : row["cells"]) {
        if (cell == "*") ++stars;
        if (cell.is_number_integer() && cell.get<int64_t>() == 0) ++zeros;
        if (cell.is_number_integer()) {
          EXPECT_TRUE(cell.get<int64_t>() == 0 || cell.get<int64_t>() >= 10) << table["name"];
        }
      }
    }
  }
  EXPECT_GT(zeros, 0) << "empty cells stay 0";
  EXPECT_GT(stars, 100);
}

// The release history outlives the linker: after a restart the next exact release is checked
// against the earlier one. If a delivery an earlier release used loses a record, the linker
// cannot recompute that release and releases nothing, saying why.
TEST_F(SmallMunicipalityAnalysisTest, ARunWithoutWhatTheStudyReadsIsLeftOutAndNamed) {
  // A data holder delivers its export again with fewer fields (the covenant allows it): the
  // study neither fails nor changes; the release names the run it left out.
  const fs::path out = municipality_->dir() / "fewer-fields";
  ProcessResult before = municipality_->Query(kAlmeloSpec, "json", (out / "before").string());
  ASSERT_EQ(before.exit_code, 0) << before.err;
  ProcessResult delivered =
      municipality_->DeliverAgain("jeugdzorg", {"--fields", "zorgvorm"}, "outbox-fewer-fields");
  ASSERT_EQ(delivered.exit_code, 0) << delivered.err;
  ProcessResult after = municipality_->Query(kAlmeloSpec, "json", (out / "after").string());
  ASSERT_EQ(after.exit_code, 0) << after.err;
  const json released = json::parse(ReadFile(out / "after/release.json"));
  EXPECT_EQ(json::parse(ReadFile(out / "before/release.json"))["tables"], released["tables"]);
  bool named = false;
  for (const json& warning : released["metadata"]["warnings"]) {
    const std::string text = warning.get<std::string>();
    named |= Contains(text, "dataset 'jeugdzorg': delivery run") &&
             Contains(text, "is left out of this analysis") && Contains(text, "no attribute");
  }
  EXPECT_TRUE(named) << released["metadata"].dump(2);
}

// A spec reading a register attribute of another type than delivered (issue 13: an integer as
// address_from released zeros): the linker refuses it with the spec's line and column before
// anything is computed, and koppel query exits 3, a spec error.
TEST_F(SmallMunicipalityAnalysisTest, ASpecOfTheWrongAttributeTypeIsASpecErrorWithItsPlace) {
  const fs::path dir = municipality_->dir() / "wrong-type";
  fs::create_directories(dir / "analyses");
  fs::create_directories(dir / "prices");
  fs::copy_file(kSource + "/prices/unit_costs_2014.csv", dir / "prices/unit_costs_2014.csv",
                fs::copy_options::overwrite_existing);
  std::string yaml = ReadFile(kAlmeloSpec);
  const std::string from = "  address_from: adres_van\n";
  ASSERT_NE(yaml.find(from), std::string::npos);
  yaml.replace(yaml.find(from), from.size(), "  address_from: wijk\n");
  WriteFile(dir / "analyses/wrong-type.yaml", yaml);
  ProcessResult query = municipality_->Query((dir / "analyses/wrong-type.yaml").string(), "json",
                                             (dir / "out").string());
  EXPECT_EQ(query.exit_code, 3) << query.err;
  EXPECT_TRUE(Contains(query.err,
                       "wrong-type.yaml:14:17: register.address_from: dataset 'brp' "
                       "delivers 'wijk' as a category, but this use needs a date"))
      << query.err;
  EXPECT_FALSE(fs::exists(dir / "out/release.json"));
}

TEST_F(SmallMunicipalityAnalysisTest, HistoryOutlivesARestartAndLostDataStopsReleases) {
  // Runs last in its suite: it damages the store.
  const fs::path out = municipality_->dir() / "history";
  ProcessResult first = municipality_->Query(kAlmeloSpec, "json", (out / "1").string());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  municipality_->StopLinker();
  municipality_->StartLinker();
  ProcessResult second = municipality_->Query(kAlmeloSpec, "json", (out / "2").string());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const json meta = json::parse(ReadFile(out / "2/release.json"))["metadata"];
  EXPECT_GE(meta["earlier_releases_checked"].get<int64_t>(), 1);
  const json first_release = json::parse(ReadFile(out / "1/release.json"));
  EXPECT_EQ(first_release["tables"], json::parse(ReadFile(out / "2/release.json"))["tables"])
      << "the same study on the same deliveries releases the same cells";

  // The social assistance records disappear from the store (their receipts stay).
  municipality_->StopLinker();
  {
    // Through the covenant's encrypted Env, as the linker itself opens its store.
    absl::StatusOr<Secret> master =
        ReadKeyFile(municipality_->dir() / "lkeys/linker-master.key", 32);
    ASSERT_TRUE(master.ok()) << master.status();
    absl::StatusOr<Secret> data_key =
        HkdfSha256(master->span(), {}, "koppel/v1/data/" + kCovenant, 32);
    ASSERT_TRUE(data_key.ok()) << data_key.status();
    absl::StatusOr<std::unique_ptr<rocksdb::Env>> env =
        linker::NewEncryptedStoreEnv(rocksdb::Env::Default(), *data_key);
    ASSERT_TRUE(env.ok()) << env.status();
    rocksdb::Options options;
    options.env = env->get();
    ASSERT_TRUE(linker::ConfigureEncryptedStoreOptions(*data_key, &options).ok());
    rocksdb::DB* raw = nullptr;
    const fs::path covenant_db = municipality_->dir() / "db/covenants" / kCovenant / "db";
    ASSERT_TRUE(rocksdb::DB::Open(options, covenant_db.string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    const std::string prefix = std::string("r\0", 2) + "sociale_zaken";
    ASSERT_TRUE(db->DeleteRange(rocksdb::WriteOptions(), db->DefaultColumnFamily(), prefix + '\0',
                                prefix + '\1')
                    .ok());
  }
  municipality_->StartLinker();
  ProcessResult refused = municipality_->Query(kAlmeloSpec, "json", (out / "3").string());
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(Contains(refused.err, "cannot be recomputed from the deliveries it used"))
      << refused.err;
  EXPECT_FALSE(fs::exists(out / "3/release.json"));
}

TEST(CheckSpecAllowedTest, DimensionsAndMeasuresOutsideTheCovenantAreRefused) {
  absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(
      ReadFile(kSource + "/analyses/cohort-monitor.yaml"), "cohort-monitor.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  policy::Covenant covenant;
  covenant.id = "c";
  EXPECT_TRUE(linker::CheckSpecAllowed(*spec, covenant).ok());
  covenant.analysis.dimensions = {"area"};
  absl::Status no_type = linker::CheckSpecAllowed(*spec, covenant);
  EXPECT_EQ(no_type.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(std::string(no_type.message()), "analysis.dimensions")) << no_type;
  covenant.analysis.dimensions = {"area", "household_type"};
  covenant.analysis.measures = {"count", "percent"};
  absl::Status no_cost = linker::CheckSpecAllowed(*spec, covenant);
  EXPECT_EQ(no_cost.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(std::string(no_cost.message()), "analysis.measures")) << no_cost;
}

}  // namespace
}  // namespace koppel
