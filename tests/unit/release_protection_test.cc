// Disclosure control of what releases imply (linker/analysis/implied_sets.h,
// release_protection.h), on synthetic households: the complement, single-family and
// cross-release attacks of issue #11 succeed against protection of the requested cells alone
// and fail against ProtectRelease; random releases with negations, `any` groups and flags,
// protected one after the other with their history, let an independent brute-force attacker
// (tests/testing/group_attacker.h) derive no count of 1 to 9 households; and sums with few
// contributors or a dominant one in a difference are suppressed the same way.
#include "linker/analysis/release_protection.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "linker/analysis/implied_sets.h"
#include "tests/testing/group_attacker.h"

namespace koppel {
namespace {

constexpr int64_t kMinCell = 10;

// A household of the synthetic world: its area, whether it is a family, and its facts.
struct Household {
  std::array<char, 16> key{};
  int area = 0;
  bool family = false;
  std::map<std::string, bool> facts;
  std::map<std::string, int64_t> cents;  // cost item -> amount
};

using Selector = std::function<bool(const Household&)>;

struct CellDefinition {
  std::string label;
  Selector test;
  bool total = false;
};

struct SumDefinition {
  std::string label;
  Selector test;
  std::vector<std::string> items;  // the items the cell adds up
};

// The engine's result for a release over `households`: atoms by area, type and the facts the
// release uses; one count cell per definition; sums over (atom, item) for the cost items.
analysis::AnalysisResult MakeResult(const std::vector<Household>& households,
                                    const std::vector<std::string>& predicates,
                                    const std::vector<CellDefinition>& cells,
                                    const std::vector<std::string>& items = {},
                                    const std::vector<SumDefinition>& sums = {}) {
  analysis::AnalysisResult result;
  result.predicates = predicates;
  result.household_types = {"family"};
  for (int area = 0; area < 12; ++area) result.area_codes.push_back(std::to_string(area));
  result.reference_days = {0};
  std::map<std::tuple<int, bool, std::vector<bool>>, uint32_t> atom_of;
  std::vector<uint32_t> atom_of_household;
  for (const Household& h : households) {
    std::vector<bool> bits;
    for (const std::string& p : predicates) bits.push_back(h.facts.at(p));
    auto [it, inserted] = atom_of.emplace(std::make_tuple(h.area, h.family, bits),
                                          static_cast<uint32_t>(result.atoms.size()));
    if (inserted) {
      analysis::AtomDescription atom;
      atom.area = static_cast<uint16_t>(h.area);
      atom.type = h.family ? 0 : 1;
      atom.holds.assign((predicates.size() + 63) / 64, 0);
      for (size_t p = 0; p < bits.size(); ++p) {
        if (bits[p]) atom.holds[p / 64] |= uint64_t{1} << (p % 64);
      }
      result.atoms.push_back(atom);
    }
    ++result.atoms[it->second].households;
    atom_of_household.push_back(it->second);
    analysis::ResultUnit unit;
    unit.household = h.key;
    unit.atom = it->second;
    for (size_t i = 0; i < items.size(); ++i) {
      auto cents = h.cents.find(items[i]);
      if (cents != h.cents.end() && cents->second != 0) {
        unit.cents.emplace_back(static_cast<uint16_t>(i), cents->second);
      }
    }
    result.units.push_back(unit);
  }
  std::sort(result.units.begin(), result.units.end(),
            [](const analysis::ResultUnit& x, const analysis::ResultUnit& y) {
              return x.household < y.household;
            });
  result.count_atoms = static_cast<uint32_t>(result.atoms.size());
  for (const CellDefinition& definition : cells) {
    analysis::PublishedCell cell;
    std::vector<bool> in(result.atoms.size(), false);
    for (size_t h = 0; h < households.size(); ++h) {
      if (definition.test(households[h])) in[atom_of_household[h]] = true;
    }
    for (uint32_t a = 0; a < in.size(); ++a) {
      if (!in[a]) continue;
      cell.atoms.push_back(a);
      cell.value += static_cast<double>(result.atoms[a].households);
    }
    cell.is_total = definition.total;
    result.count_cells.push_back(cell);
  }
  // Sums: one cost item per name; groups are single items or all of them.
  const size_t n_items = items.size();
  for (size_t i = 0; i < n_items; ++i) {
    result.items.push_back({items[i], "payer", "definition " + items[i], "volume " + items[i]});
  }
  if (n_items == 0) return result;
  result.sum_atoms = static_cast<uint32_t>(result.atoms.size() * n_items);
  result.sum_atom_stats.resize(result.sum_atoms);
  for (size_t i = 0; i < n_items; ++i) result.group_items.push_back({static_cast<uint16_t>(i)});
  std::vector<uint16_t> all(n_items);
  for (size_t i = 0; i < n_items; ++i) all[i] = static_cast<uint16_t>(i);
  result.group_items.push_back(all);
  const size_t groups = result.group_items.size();
  result.group_stats.resize(result.atoms.size() * groups);
  auto add = [](analysis::SumAtomStats* stats, int64_t cents) {
    ++stats->contributors;
    stats->cents += cents;
    stats->largest.push_back(static_cast<double>(cents) / 100.0);
    std::sort(stats->largest.begin(), stats->largest.end(), std::greater<>());
    if (stats->largest.size() > 4) stats->largest.resize(4);
  };
  for (size_t h = 0; h < households.size(); ++h) {
    const uint32_t a = atom_of_household[h];
    int64_t total = 0;
    for (size_t i = 0; i < n_items; ++i) {
      auto cents = households[h].cents.find(items[i]);
      if (cents == households[h].cents.end() || cents->second == 0) continue;
      add(&result.sum_atom_stats[a * n_items + i], cents->second);
      add(&result.group_stats[a * groups + i], cents->second);
      total += cents->second;
    }
    if (total != 0) add(&result.group_stats[a * groups + n_items], total);
  }
  for (const SumDefinition& definition : sums) {
    std::vector<bool> in(result.atoms.size(), false);
    for (size_t h = 0; h < households.size(); ++h) {
      if (definition.test(households[h])) in[atom_of_household[h]] = true;
    }
    uint16_t group = static_cast<uint16_t>(n_items);
    if (definition.items.size() == 1) {
      group = static_cast<uint16_t>(std::find(items.begin(), items.end(), definition.items[0]) -
                                    items.begin());
    }
    analysis::PublishedCell cell;
    cell.kind = analysis::CellKind::kSum;
    analysis::SumAtomStats money;
    for (uint32_t a = 0; a < in.size(); ++a) {
      if (!in[a]) continue;
      for (uint16_t item : result.group_items[group]) {
        cell.atoms.push_back(static_cast<uint32_t>(a * n_items + item));
      }
      const analysis::SumAtomStats& stats = result.group_stats[a * groups + group];
      money.contributors += stats.contributors;
      money.cents += stats.cents;
      money.largest.insert(money.largest.end(), stats.largest.begin(), stats.largest.end());
    }
    std::sort(cell.atoms.begin(), cell.atoms.end());
    std::sort(money.largest.begin(), money.largest.end(), std::greater<>());
    if (money.largest.size() > 4) money.largest.resize(4);
    cell.value = static_cast<double>(money.cents) / 100.0;
    cell.contributors = money.contributors;
    cell.largest = money.largest;
    result.sum_cells.push_back(cell);
    result.sum_cell_group.push_back(group);
  }
  return result;
}

// The groups of 1..9 households an attacker holding these releases can solve for
// (tests/testing/group_attacker.h), with every conjunction of up to `literals` literals.
std::vector<test::DisclosedGroup> Disclosed(
    const std::vector<const analysis::AnalysisResult*>& releases,
    const std::vector<const std::vector<analysis::CellState>*>& states, int literals = 4) {
  absl::StatusOr<test::HeldReleases> held = test::JoinReleases(releases, states);
  EXPECT_TRUE(held.ok()) << held.status();
  if (!held.ok()) return {};
  absl::StatusOr<std::vector<test::DisclosedGroup>> disclosed =
      test::FindDisclosedGroups(held->atoms, held->published, kMinCell, literals);
  EXPECT_TRUE(disclosed.ok()) << disclosed.status();
  return disclosed.ok() ? *disclosed : std::vector<test::DisclosedGroup>{};
}

// A municipality of 12 areas where some facts are rare.
std::vector<Household> World(uint32_t seed, int households,
                             const std::map<std::string, double>& rates) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Household> world;
  for (int i = 0; i < households; ++i) {
    Household h;
    for (size_t b = 0; b < 16; ++b) h.key[b] = static_cast<char>(rng());
    h.area = static_cast<int>(rng() % 12);
    h.family = u(rng) < 0.4;
    for (const auto& [name, rate] : rates) h.facts[name] = u(rng) < rate;
    world.push_back(std::move(h));
  }
  return world;
}

bool Family(const Household& h) { return h.family; }

std::vector<analysis::CellState> StatesOf(const analysis::ProtectedRelease& protection) {
  return protection.counts.state;
}

analysis::Protection RequestedCellsOnly(const analysis::AnalysisResult& result) {
  absl::StatusOr<analysis::Protection> p =
      analysis::ProtectCells(result.count_cells, result.count_atoms, analysis::DisclosureRules{});
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

// ---------------------------------------------------------------------------------------------

TEST(ImpliedGroupsTest, ComplementAttackFailsAgainstImpliedProtection) {
  // Per area: families N, families without bijstand, families without moves. Small counts of
  // families on bijstand (and with moves) exist in several areas.
  const std::vector<Household> world = World(1, 3000, {{"bijstand", 0.03}, {"moves", 0.02}});
  std::vector<CellDefinition> cells;
  for (int area = 0; area < 12; ++area) {
    auto in = [area](const Household& h) { return h.area == area && h.family; };
    cells.push_back({"N", in});
    cells.push_back(
        {"no_bijstand", [in](const Household& h) { return in(h) && !h.facts.at("bijstand"); }});
    cells.push_back(
        {"no_moves", [in](const Household& h) { return in(h) && !h.facts.at("moves"); }});
  }
  cells.push_back({"total", Family, true});
  const analysis::AnalysisResult result = MakeResult(world, {"bijstand", "moves"}, cells);

  // Protecting only what is asked publishes every cell, and the complements give the counts.
  const analysis::Protection requested = RequestedCellsOnly(result);
  EXPECT_EQ(requested.primary + requested.secondary, 0);
  const std::vector<analysis::CellState> requested_states = requested.state;
  const std::vector<test::DisclosedGroup> leaked = Disclosed({&result}, {&requested_states}, 4);
  EXPECT_FALSE(leaked.empty()) << "the test world must have small complements";

  absl::StatusOr<analysis::ProtectedRelease> protection =
      analysis::ProtectRelease(result, {}, analysis::DisclosureRules{});
  ASSERT_TRUE(protection.ok()) << protection.status();
  EXPECT_GT(protection->implied_groups, 0);
  EXPECT_GT(protection->counts.secondary, 0);
  const std::vector<analysis::CellState> states = StatesOf(*protection);
  const std::vector<test::DisclosedGroup> disclosed = Disclosed({&result}, {&states}, 4);
  EXPECT_TRUE(disclosed.empty()) << test::Describe(disclosed);
}

TEST(ImpliedGroupsTest, SingleFamilyAttackFailsAgainstImpliedProtection) {
  // Columns "families without (bijstand and youth care and suspect)": N minus the column is
  // the count of families with all three, often exactly 1.
  std::vector<Household> world =
      World(2, 3000, {{"bijstand", 0.10}, {"youth_care", 0.10}, {"suspect", 0.10}});
  for (Household& h : world) {
    h.facts["all_three"] = h.facts["bijstand"] && h.facts["youth_care"] && h.facts["suspect"];
  }
  std::vector<CellDefinition> cells;
  for (int area = 0; area < 12; ++area) {
    auto in = [area](const Household& h) { return h.area == area && h.family; };
    cells.push_back({"N", in});
    cells.push_back(
        {"none_all_three", [in](const Household& h) { return in(h) && !h.facts.at("all_three"); }});
  }
  const analysis::AnalysisResult result = MakeResult(world, {"all_three"}, cells);
  const analysis::Protection requested = RequestedCellsOnly(result);
  const std::vector<analysis::CellState> requested_states = requested.state;
  const std::vector<test::DisclosedGroup> leaked = Disclosed({&result}, {&requested_states}, 4);
  ASSERT_FALSE(leaked.empty());

  absl::StatusOr<analysis::ProtectedRelease> protection =
      analysis::ProtectRelease(result, {}, analysis::DisclosureRules{});
  ASSERT_TRUE(protection.ok()) << protection.status();
  const std::vector<analysis::CellState> states = StatesOf(*protection);
  const std::vector<test::DisclosedGroup> disclosed = Disclosed({&result}, {&states}, 4);
  EXPECT_TRUE(disclosed.empty()) << test::Describe(disclosed);
}

TEST(ReleaseHistoryProtectionTest, CrossReleaseAttackFailsWhenTheHistoryIsChecked) {
  // Release 1: families without bijstand per area. Release 2: the official table with
  // families N and families on bijstand (small ones suppressed).
  const std::vector<Household> world = World(3, 3000, {{"bijstand", 0.03}});
  std::vector<CellDefinition> first_cells;
  std::vector<CellDefinition> second_cells;
  for (int area = 0; area < 12; ++area) {
    auto in = [area](const Household& h) { return h.area == area && h.family; };
    first_cells.push_back(
        {"no_bijstand", [in](const Household& h) { return in(h) && !h.facts.at("bijstand"); }});
    second_cells.push_back({"N", in});
    second_cells.push_back(
        {"bijstand", [in](const Household& h) { return in(h) && h.facts.at("bijstand"); }});
  }
  second_cells.push_back({"total", Family, true});
  const analysis::AnalysisResult first = MakeResult(world, {"bijstand"}, first_cells);
  const analysis::AnalysisResult second = MakeResult(world, {"bijstand"}, second_cells);

  absl::StatusOr<analysis::ProtectedRelease> p1 =
      analysis::ProtectRelease(first, {}, analysis::DisclosureRules{});
  ASSERT_TRUE(p1.ok()) << p1.status();
  const std::vector<analysis::CellState> s1 = StatesOf(*p1);

  // Protected on its own, the second release gives the small counts by difference.
  absl::StatusOr<analysis::ProtectedRelease> alone =
      analysis::ProtectRelease(second, {}, analysis::DisclosureRules{});
  ASSERT_TRUE(alone.ok()) << alone.status();
  const std::vector<analysis::CellState> s2_alone = StatesOf(*alone);
  const std::vector<test::DisclosedGroup> leaked =
      Disclosed({&first, &second}, {&s1, &s2_alone}, 4);
  ASSERT_FALSE(leaked.empty());

  analysis::EarlierRelease earlier{&first, s1, p1->sums.state};
  absl::StatusOr<analysis::ProtectedRelease> p2 =
      analysis::ProtectRelease(second, {earlier}, analysis::DisclosureRules{});
  ASSERT_TRUE(p2.ok()) << p2.status();
  EXPECT_GT(p2->suppressed_for_history, 0);
  const std::vector<analysis::CellState> s2 = StatesOf(*p2);
  const std::vector<test::DisclosedGroup> disclosed = Disclosed({&first, &second}, {&s1, &s2}, 4);
  EXPECT_TRUE(disclosed.empty()) << test::Describe(disclosed);
}

TEST(ReleaseHistoryProtectionTest, ANewDeliveryIsADifferentQuantity) {
  // The same table twice; between the releases three families got bijstand. Each release is
  // safe alone; together, the changed households are a group the joint system must protect.
  std::vector<Household> before = World(4, 2000, {{"bijstand", 0.05}});
  std::vector<Household> after = before;
  int changed = 0;
  for (Household& h : after) {
    if (changed < 3 && h.area == 0 && h.family && !h.facts["bijstand"]) {
      h.facts["bijstand"] = true;
      ++changed;
    }
  }
  std::vector<CellDefinition> cells;
  for (int area = 0; area < 12; ++area) {
    auto in = [area](const Household& h) { return h.area == area && h.family; };
    cells.push_back({"N", in});
    cells.push_back(
        {"no_bijstand", [in](const Household& h) { return in(h) && !h.facts.at("bijstand"); }});
  }
  const analysis::AnalysisResult first = MakeResult(before, {"bijstand"}, cells);
  const analysis::AnalysisResult second = MakeResult(after, {"bijstand"}, cells);
  absl::StatusOr<analysis::ProtectedRelease> p1 =
      analysis::ProtectRelease(first, {}, analysis::DisclosureRules{});
  ASSERT_TRUE(p1.ok()) << p1.status();
  const std::vector<analysis::CellState> s1 = StatesOf(*p1);
  analysis::EarlierRelease earlier{&first, s1, {}};
  absl::StatusOr<analysis::ProtectedRelease> p2 =
      analysis::ProtectRelease(second, {earlier}, analysis::DisclosureRules{});
  ASSERT_TRUE(p2.ok()) << p2.status();
  const std::vector<analysis::CellState> s2 = StatesOf(*p2);
  const std::vector<test::DisclosedGroup> disclosed = Disclosed({&first, &second}, {&s1, &s2}, 4);
  EXPECT_TRUE(disclosed.empty()) << test::Describe(disclosed);
}

// Random releases: populations with negations, `any` groups and a flag, rows by area, over a
// world with rare facts; three releases protected one after the other with their history.
// The attacker enumerates every conjunction (all predicates), so an empty answer is a proof.
TEST(ReleaseHistoryProtectionTest, RandomReleasesDiscloseNothing) {
  for (uint32_t seed = 10; seed < 22; ++seed) {
    SCOPED_TRACE(fmt::format("seed {}", seed));
    std::mt19937 rng(seed);
    std::vector<Household> world =
        World(seed, 1500, {{"a", 0.04}, {"b", 0.08}, {"c", 0.15}, {"d", 0.3}});
    for (Household& h : world) h.facts["flag"] = h.facts["a"] || (h.facts["b"] && h.facts["c"]);
    const std::vector<std::string> names = {"a", "b", "c", "d", "flag"};
    std::vector<analysis::AnalysisResult> releases;
    std::vector<std::vector<analysis::CellState>> states;
    for (int r = 0; r < 3; ++r) {
      // A random selection: every name required, excluded or ignored.
      auto random_selection = [&]() {
        std::vector<int> mode(names.size());
        for (int& m : mode) m = static_cast<int>(rng() % 4);  // 0,1: ignore; 2: all; 3: none
        const bool any_group = rng() % 3 == 0;
        const size_t x = rng() % names.size();
        const size_t y = rng() % names.size();
        const bool family_only = rng() % 2 == 0;
        return [=](const Household& h) {
          if (family_only && !h.family) return false;
          for (size_t n = 0; n < names.size(); ++n) {
            if (mode[n] == 2 && !h.facts.at(names[n])) return false;
            if (mode[n] == 3 && h.facts.at(names[n])) return false;
          }
          if (any_group && !(h.facts.at(names[x]) || h.facts.at(names[y]))) return false;
          return true;
        };
      };
      const auto population = random_selection();
      std::vector<CellDefinition> cells;
      std::vector<Selector> columns = {[](const Household&) { return true; }};
      for (int c = 0; c < 3; ++c) columns.push_back(random_selection());
      for (int area = -1; area < 12; ++area) {
        for (const Selector& column : columns) {
          cells.push_back({"cell",
                           [=](const Household& h) {
                             return (area < 0 || h.area == area) && population(h) && column(h);
                           },
                           area < 0});
        }
      }
      // The names are the predicates; the `any` groups are functions of them.
      const std::vector<std::string>& predicates = names;
      releases.push_back(MakeResult(world, predicates, cells));
    }
    for (size_t r = 0; r < releases.size(); ++r) {
      std::vector<analysis::EarlierRelease> earlier;
      for (size_t e = 0; e < r; ++e) earlier.push_back({&releases[e], states[e], {}});
      absl::StatusOr<analysis::ProtectedRelease> p =
          analysis::ProtectRelease(releases[r], earlier, analysis::DisclosureRules{});
      ASSERT_TRUE(p.ok()) << p.status();
      states.push_back(StatesOf(*p));
      std::vector<const analysis::AnalysisResult*> held;
      std::vector<const std::vector<analysis::CellState>*> held_states;
      for (size_t e = 0; e <= r; ++e) {
        held.push_back(&releases[e]);
        held_states.push_back(&states[e]);
      }
      // Every conjunction of the area, the family bit and the five names is enumerated.
      const std::vector<test::DisclosedGroup> disclosed = Disclosed(held, held_states, 7);
      EXPECT_TRUE(disclosed.empty()) << "after release " << r << ":\n" << test::Describe(disclosed);
    }
  }
}

// Per area: the number of families, the cost of item "care" for families and for families
// without bijstand (whose difference is the cost of families on bijstand).
analysis::AnalysisResult CareCostsWithAndWithoutBijstand(const std::vector<Household>& world) {
  std::vector<CellDefinition> counts;
  std::vector<SumDefinition> sums;
  for (int area = 0; area < 12; ++area) {
    auto in = [area](const Household& h) { return h.area == area && h.family; };
    counts.push_back({"N", in});
    sums.push_back({"all", in, {"care"}});
    sums.push_back({"no_bijstand",
                    [in](const Household& h) { return in(h) && !h.facts.at("bijstand"); },
                    {"care"}});
  }
  return MakeResult(world, {"bijstand"}, counts, {"care"}, sums);
}

TEST(ImpliedSumsTest, CostsOfAComplementWithFewContributorsAreProtected) {
  // Cost of item "care" for families, and for families without bijstand, per area: the
  // difference is the cost of families on bijstand, with few contributors in some areas.
  std::vector<Household> world = World(5, 3000, {{"bijstand", 0.03}});
  std::mt19937 rng(5);
  for (Household& h : world) {
    if (h.facts["bijstand"] || rng() % 5 == 0)
      h.cents["care"] = 10000 + static_cast<int64_t>(rng() % 90000);
  }
  const analysis::AnalysisResult result = CareCostsWithAndWithoutBijstand(world);
  absl::StatusOr<analysis::ProtectedRelease> protection =
      analysis::ProtectRelease(result, {}, analysis::DisclosureRules{});
  ASSERT_TRUE(protection.ok()) << protection.status();
  // In every area where families on bijstand with care costs number 1..9, not both sums of
  // that area may be published.
  int areas_at_risk = 0;
  for (int area = 0; area < 12; ++area) {
    int contributors = 0;
    for (const Household& h : world) {
      if (h.area == area && h.family && h.facts.at("bijstand") && h.cents.contains("care"))
        ++contributors;
    }
    if (contributors < 1 || contributors >= kMinCell) continue;
    ++areas_at_risk;
    const size_t first = 2 * static_cast<size_t>(area);
    const bool both = protection->sums.state[first] == analysis::CellState::kPublished &&
                      protection->sums.state[first + 1] == analysis::CellState::kPublished;
    EXPECT_FALSE(both) << "area " << area << ": " << contributors << " contributors";
  }
  EXPECT_GT(areas_at_risk, 0);
}

TEST(ImpliedSumsTest, DominanceWithManyLargestContributionsAndAHistory) {
  // An (n, k) rule with n larger than the engine's default: every hidden and joined sum must
  // carry n largest contributions.
  std::vector<Household> world = World(8, 2000, {{"bijstand", 0.05}});
  std::mt19937 rng(8);
  for (Household& h : world) {
    if (rng() % 3 == 0) h.cents["care"] = 1000 + static_cast<int64_t>(rng() % 100000);
  }
  const analysis::AnalysisResult result = CareCostsWithAndWithoutBijstand(world);
  analysis::DisclosureRules rules;
  rules.dominance_n = 3;
  rules.dominance_k = 0.9;
  absl::StatusOr<analysis::ProtectedRelease> first = analysis::ProtectRelease(result, {}, rules);
  ASSERT_TRUE(first.ok()) << first.status();
  analysis::EarlierRelease earlier{&result, first->counts.state, first->sums.state};
  absl::StatusOr<analysis::ProtectedRelease> again =
      analysis::ProtectRelease(result, {earlier}, rules);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->sums.state, first->sums.state);
  EXPECT_EQ(again->suppressed_for_history, 0);
}

TEST(ImpliedSumsTest, ADominatedDifferenceOfNestedSumsIsProtected) {
  // Two nested sums, neither dominated; their difference (12 households, so enough
  // contributors) holds one household whose amount dwarfs the others': publishing both would
  // reveal it within 1%.
  std::vector<Household> world = World(6, 5000, {{"x", 0.0}});
  for (Household& h : world) {
    h.area = 0;
    h.family = true;
    h.cents["care"] = 2000;
  }
  for (size_t i = 0; i < 12; ++i) world[i].facts["x"] = true;
  world[0].cents["care"] = 1'000'000;
  const auto everyone = [](const Household&) { return true; };
  const auto without_x = [](const Household& h) { return !h.facts.at("x"); };
  const analysis::AnalysisResult result =
      MakeResult(world, {"x"}, {{"N", everyone}}, {"care"},
                 {{"all", everyone, {"care"}}, {"without_x", without_x, {"care"}}});
  ASSERT_FALSE(analysis::IsSensitive(result.sum_cells[0], analysis::DisclosureRules{}));
  ASSERT_FALSE(analysis::IsSensitive(result.sum_cells[1], analysis::DisclosureRules{}));
  absl::StatusOr<analysis::ProtectedRelease> protection =
      analysis::ProtectRelease(result, {}, analysis::DisclosureRules{});
  ASSERT_TRUE(protection.ok()) << protection.status();
  EXPECT_FALSE(protection->sums.state[0] == analysis::CellState::kPublished &&
               protection->sums.state[1] == analysis::CellState::kPublished);
  // Without the nested difference, both would be published.
  const analysis::Protection requested =
      *analysis::ProtectCells(result.sum_cells, result.sum_atoms, analysis::DisclosureRules{});
  EXPECT_EQ(requested.state[0], analysis::CellState::kPublished);
  EXPECT_EQ(requested.state[1], analysis::CellState::kPublished);
}

// A cost item priced per household (`volume: units`) makes a sum the price times a count of
// households: the count system must see it, or "low income total" minus "low income of
// households without x" (from the sum) gives the few households with x and low income.
TEST(ImpliedSumsTest, ASumOverAPerHouseholdItemIsACountTheCountSystemSees) {
  const int64_t kPrice = 50000;
  int target = 0;
  uint32_t seed = 1;
  std::vector<Household> world;
  for (; seed < 50; ++seed) {
    world = World(seed, 3000, {{"x", 0.03}, {"r", 0.3}});
    target = 0;
    for (Household& h : world) {
      h.family = true;
      h.facts["low_income"] = h.facts["x"] ? h.facts["r"] && h.area == 0 : h.facts["r"];
      if (h.facts["low_income"]) h.cents["li"] = kPrice;
      if (h.facts["x"] && h.facts["low_income"]) ++target;
    }
    if (target >= 1 && target <= 9) break;
  }
  ASSERT_TRUE(target >= 1 && target <= 9);
  const auto li = [](const Household& h) { return h.facts.at("low_income"); };
  const auto no_x = [](const Household& h) { return !h.facts.at("x"); };
  const auto all = [](const Household&) { return true; };
  std::vector<CellDefinition> counts = {{"N total", all, true}, {"low_income total", li, true}};
  for (int area = 0; area < 12; ++area) {
    counts.push_back({"N", [area](const Household& h) { return h.area == area; }});
    counts.push_back({"li", [area, li](const Household& h) { return h.area == area && li(h); }});
  }
  counts.push_back({"households no_x", no_x, true});
  analysis::AnalysisResult result =
      MakeResult(world, {"low_income", "x"}, counts, {"li"}, {{"li no_x", no_x, {"li"}}});
  result.items[0].per_household = true;
  absl::StatusOr<analysis::ProtectedRelease> p =
      analysis::ProtectRelease(result, {}, analysis::DisclosureRules{});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->counts.state[1] == analysis::CellState::kPublished &&
               p->sums.state[0] == analysis::CellState::kPublished)
      << "low income total - sum/price = " << target << " households with x and low income";
}

// Two cost items pricing the same volume differently are refused at the first release, before
// the history holds them (and would refuse every later release of the covenant).
TEST(ImpliedSumsTest, TwoPricesForOneVolumeAreRefusedAtOnce) {
  std::vector<Household> world = World(2, 500, {{"y", 0.3}});
  for (Household& h : world) {
    if (h.facts["y"]) {
      h.cents["a"] = 10000;
      h.cents["b"] = 25000;
    }
  }
  const auto all = [](const Household&) { return true; };
  analysis::AnalysisResult result = MakeResult(world, {"y"}, {{"N", all, true}}, {"a", "b"},
                                               {{"a", all, {"a"}}, {"b", all, {"b"}}});
  result.items[0].volume = result.items[1].volume = "same volume";
  result.items[0].definition = "same volume; price 100.00";
  result.items[1].definition = "same volume; price 250.00";
  absl::StatusOr<analysis::ProtectedRelease> p =
      analysis::ProtectRelease(result, {}, analysis::DisclosureRules{});
  ASSERT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition) << p.status();
  EXPECT_NE(std::string(p.status().message()).find("prices the same volume"), std::string::npos);
}

// A price_by item's volume is the records priced by the attribute; the prices of its codes are
// its definition. Two releases whose prices files differ in one code's price would give that
// code's records per cell by difference: the second is refused like any volume priced anew.
TEST(ImpliedSumsTest, APriceByVolumePricedAnewInALaterReleaseIsRefused) {
  std::vector<Household> world = World(3, 500, {{"y", 0.3}});
  for (Household& h : world) {
    if (h.facts["y"]) h.cents["offences"] = 10725;
  }
  const auto all = [](const Household&) { return true; };
  auto release = [&](const std::string& f007_price) {
    analysis::AnalysisResult result = MakeResult(world, {"y"}, {{"N", all, true}}, {"offences"},
                                                 {{"offences", all, {"offences"}}});
    result.items[0].volume = "records of politie priced by feit";
    result.items[0].definition =
        "records of politie priced by feit; price 1.00; prices of feit: "
        "f001=101.25 f007=" +
        f007_price + "; cap -";
    return result;
  };
  const analysis::AnalysisResult first = release("107.25");
  absl::StatusOr<analysis::ProtectedRelease> p =
      analysis::ProtectRelease(first, {}, analysis::DisclosureRules{});
  ASSERT_TRUE(p.ok()) << p.status();
  const analysis::EarlierRelease earlier{&first, p->counts.state, p->sums.state};
  EXPECT_TRUE(
      analysis::ProtectRelease(release("107.25"), {earlier}, analysis::DisclosureRules{}).ok())
      << "the same prices are the same item";
  absl::StatusOr<analysis::ProtectedRelease> second =
      analysis::ProtectRelease(release("1107.25"), {earlier}, analysis::DisclosureRules{});
  ASSERT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_NE(std::string(second.status().message()).find("prices the same volume"),
            std::string::npos);
}

// Two reference dates of one release (a year-on-year table) count the same households: joined
// per household, "families on 31-12" minus "families without b on 30-12" is a group like any
// other, not two unrelated unknowns.
TEST(ReleaseHistoryProtectionTest, ReferenceDatesOfOneHouseholdAreJoined) {
  const std::vector<Household> world = World(21, 3000, {{"b", 0.03}});
  analysis::AnalysisResult result;
  result.predicates = {"b"};
  result.household_types = {"family"};
  for (int area = 0; area < 12; ++area) result.area_codes.push_back(std::to_string(area));
  result.reference_days = {16435, 16434};
  std::map<std::tuple<int, int, bool>, uint32_t> atom_of;
  for (int d = 0; d < 2; ++d) {
    for (const Household& h : world) {
      auto [it, inserted] = atom_of.emplace(std::make_tuple(d, h.area, h.facts.at("b")),
                                            static_cast<uint32_t>(result.atoms.size()));
      if (inserted) {
        analysis::AtomDescription a;
        a.date = static_cast<uint16_t>(d);
        a.area = static_cast<uint16_t>(h.area);
        a.holds = {h.facts.at("b") ? 1u : 0u};
        result.atoms.push_back(a);
      }
      ++result.atoms[it->second].households;
      analysis::ResultUnit unit;
      unit.household = h.key;
      unit.day = result.reference_days[static_cast<size_t>(d)];
      unit.atom = it->second;
      result.units.push_back(unit);
    }
  }
  result.count_atoms = static_cast<uint32_t>(result.atoms.size());
  auto cell = [&](uint16_t d, int area, bool without_b) {
    analysis::PublishedCell c;
    for (uint32_t a = 0; a < result.atoms.size(); ++a) {
      const analysis::AtomDescription& x = result.atoms[a];
      if (x.date != d || (area >= 0 && x.area != area) || (without_b && (x.holds[0] & 1))) continue;
      c.atoms.push_back(a);
      c.value += static_cast<double>(x.households);
    }
    c.is_total = area < 0;
    return c;
  };
  for (int area = -1; area < 12; ++area) {
    result.count_cells.push_back(cell(0, area, false));
    result.count_cells.push_back(cell(1, area, true));
  }
  absl::StatusOr<analysis::ProtectedRelease> p =
      analysis::ProtectRelease(result, {}, analysis::DisclosureRules{});
  ASSERT_TRUE(p.ok()) << p.status();
  int small_differences = 0;
  for (size_t i = 0; i < 13; ++i) {
    const double difference = result.count_cells[2 * i].value - result.count_cells[2 * i + 1].value;
    if (difference < 1 || difference > 9) continue;
    ++small_differences;
    EXPECT_FALSE(p->counts.state[2 * i] == analysis::CellState::kPublished &&
                 p->counts.state[2 * i + 1] == analysis::CellState::kPublished)
        << "row " << i << ": difference " << difference;
  }
  EXPECT_GT(small_differences, 0);
}

TEST(ImpliedSetsTest, EmptyAndTrivialSystems) {
  analysis::AtomSpace space;
  absl::StatusOr<analysis::ImpliedSets> none =
      analysis::FindImpliedSets({}, space, analysis::DisclosureRules{});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->sets.empty());
  analysis::DisclosureRules off;
  off.secondary = false;
  space.atom_count = 1;
  space.weight = {3};
  analysis::PublishedCell cell;
  cell.value = 3;
  cell.atoms = {0};
  absl::StatusOr<analysis::ImpliedSets> skipped = analysis::FindImpliedSets({cell}, space, off);
  ASSERT_TRUE(skipped.ok());
  EXPECT_TRUE(skipped->sets.empty());
  space.weight = {3, 4};
  absl::StatusOr<analysis::ImpliedSets> bad =
      analysis::FindImpliedSets({cell}, space, analysis::DisclosureRules{});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImpliedSetsTest, BudgetExhaustionFailsClosed) {
  const std::vector<Household> world = World(7, 3000, {{"bijstand", 0.03}, {"moves", 0.02}});
  std::vector<CellDefinition> cells;
  for (int area = 0; area < 12; ++area) {
    auto in = [area](const Household& h) { return h.area == area && h.family; };
    cells.push_back({"N", in});
    cells.push_back(
        {"no_bijstand", [in](const Household& h) { return in(h) && !h.facts.at("bijstand"); }});
  }
  const analysis::AnalysisResult result = MakeResult(world, {"bijstand", "moves"}, cells);
  analysis::ImpliedSetLimits tiny;
  tiny.max_closures = 3;
  absl::StatusOr<analysis::ProtectedRelease> protection =
      analysis::ProtectRelease(result, {}, analysis::DisclosureRules{}, tiny);
  ASSERT_FALSE(protection.ok());
  EXPECT_EQ(protection.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(protection.status().message()).find("nothing is released"),
            std::string::npos);
}

}  // namespace
}  // namespace koppel
