// Tests of statistical disclosure control (linker/analysis/disclosure.h): the primary rules,
// secondary suppression on the classic table shapes, and, on fixtures and seeded random
// systems, that the independent linear attacker (tests/testing/linear_attacker.h) finds no
// suppressed cell it can compute.
#include "linker/analysis/disclosure.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/testing/linear_attacker.h"

namespace koppel {
namespace {

using State = analysis::CellState;

analysis::PublishedCell Count(double value, std::vector<uint32_t> atoms, bool is_total = false) {
  analysis::PublishedCell cell;
  cell.kind = analysis::CellKind::kCount;
  cell.value = value;
  cell.atoms = std::move(atoms);
  cell.is_total = is_total;
  return cell;
}

analysis::PublishedCell Sum(double value, int64_t contributors, std::vector<double> largest,
                            std::vector<uint32_t> atoms) {
  analysis::PublishedCell cell;
  cell.kind = analysis::CellKind::kSum;
  cell.value = value;
  cell.contributors = contributors;
  cell.largest = std::move(largest);
  cell.atoms = std::move(atoms);
  return cell;
}

analysis::Protection Protect(const std::vector<analysis::PublishedCell>& cells, uint32_t atom_count,
                             const analysis::DisclosureRules& rules = {}) {
  absl::StatusOr<analysis::Protection> protection =
      analysis::ProtectCells(cells, atom_count, rules);
  EXPECT_TRUE(protection.ok()) << protection.status();
  if (!protection.ok()) return {};
  EXPECT_EQ(protection->state.size(), cells.size());
  return *protection;
}

std::vector<std::vector<uint32_t>> AtomSets(const std::vector<analysis::PublishedCell>& cells) {
  std::vector<std::vector<uint32_t>> sets;
  for (const analysis::PublishedCell& cell : cells) sets.push_back(cell.atoms);
  return sets;
}

std::vector<bool> PublishedFlags(const analysis::Protection& protection) {
  std::vector<bool> published;
  for (State state : protection.state) published.push_back(state == State::kPublished);
  return published;
}

// The suppressed cells the independent attacker can compute from the published ones.
std::vector<size_t> Attack(const std::vector<std::vector<uint32_t>>& atom_sets,
                           const std::vector<bool>& published, uint32_t atom_count) {
  absl::StatusOr<std::vector<size_t>> derivable =
      test::FindDerivableCells(atom_sets, published, atom_count);
  EXPECT_TRUE(derivable.ok()) << derivable.status();
  return derivable.ok() ? *derivable : std::vector<size_t>{};
}

std::vector<size_t> Attack(const std::vector<analysis::PublishedCell>& cells,
                           const analysis::Protection& protection, uint32_t atom_count) {
  return Attack(AtomSets(cells), PublishedFlags(protection), atom_count);
}

std::vector<size_t> CellsIn(const analysis::Protection& protection, State state) {
  std::vector<size_t> indices;
  for (size_t i = 0; i < protection.state.size(); ++i) {
    if (protection.state[i] == state) indices.push_back(i);
  }
  return indices;
}

// ---------------------------------------------------------------------------------------
// Primary suppression.

TEST(PrimarySuppressionTest, CountsFromOneToMinCellMinusOneAreSuppressed) {
  std::vector<analysis::PublishedCell> cells;
  for (uint32_t value = 0; value <= 12; ++value) cells.push_back(Count(value, {value}));
  const analysis::Protection protection = Protect(cells, 13);
  for (uint32_t value = 0; value <= 12; ++value) {
    const State expected = (value >= 1 && value <= 9) ? State::kPrimary : State::kPublished;
    EXPECT_EQ(protection.state[value], expected) << "count " << value;
  }
  EXPECT_EQ(protection.primary, 9);
  EXPECT_EQ(protection.secondary, 0);
}

TEST(PrimarySuppressionTest, CustomMinCell) {
  analysis::DisclosureRules rules;
  rules.min_cell = 3;
  const analysis::Protection protection = Protect(
      {Count(0, {0}), Count(1, {1}), Count(2, {2}), Count(3, {3}), Count(9, {4})}, 5, rules);
  EXPECT_EQ(protection.state,
            (std::vector<State>{State::kPublished, State::kPrimary, State::kPrimary,
                                State::kPublished, State::kPublished}));
}

TEST(PrimarySuppressionTest, DominantContributorSuppressesASum) {
  analysis::DisclosureRules rules;  // (1, 0.8)
  const analysis::Protection protection = Protect(
      {
          Sum(100, 12, {85, 5}, {0}),   // 85 > 80: one unit is most of the sum
          Sum(100, 12, {80, 5}, {1}),   // exactly k of the total is not "more than"
          Sum(100, 12, {30, 20}, {2}),  // no dominant unit
      },
      3, rules);
  EXPECT_EQ(protection.state,
            (std::vector<State>{State::kPrimary, State::kPublished, State::kPublished}));
}

TEST(PrimarySuppressionTest, DominanceWithTwoLargest) {
  analysis::DisclosureRules rules;
  rules.dominance_n = 2;
  rules.dominance_k = 0.6;
  const analysis::Protection protection =
      Protect({Sum(100, 15, {40, 25, 5}, {0}), Sum(100, 15, {40, 15, 5}, {1})}, 2, rules);
  EXPECT_EQ(protection.state, (std::vector<State>{State::kPrimary, State::kPublished}));
}

TEST(PrimarySuppressionTest, SumWithTooFewContributors) {
  const analysis::Protection protection = Protect(
      {
          Sum(1000, 3, {400, 300, 300}, {0}),             // no dominance, but only 3 units
          Sum(1000, 10, {100}, {1}), Sum(0, 0, {}, {2}),  // nothing to hide
      },
      3);
  EXPECT_EQ(protection.state,
            (std::vector<State>{State::kPrimary, State::kPublished, State::kPublished}));
}

TEST(PrimarySuppressionTest, EqualAtomSetsShareTheirState) {
  // The same quantity published in two tables (e.g. a shared total) is one cell.
  const analysis::Protection protection =
      Protect({Count(5, {0, 1}), Count(20, {2}), Count(5, {0, 1}), Count(25, {0, 1, 2}, true)}, 3);
  EXPECT_EQ(protection.state[0], State::kPrimary);
  EXPECT_EQ(protection.state[2], State::kPrimary);
  EXPECT_EQ(protection.primary, 2);
}

TEST(PrimarySuppressionTest, SensitiveSumMakesTheCountOverTheSameAtomsPrimaryToo) {
  const analysis::Protection protection =
      Protect({Sum(1000, 25, {900}, {0, 1}), Count(25, {0, 1}), Count(30, {2})}, 3);
  EXPECT_EQ(protection.state,
            (std::vector<State>{State::kPrimary, State::kPrimary, State::kPublished}));
}

TEST(PrimarySuppressionTest, SecondaryOffSuppressesOnlyPrimaryCells) {
  analysis::DisclosureRules rules;
  rules.secondary = false;
  const analysis::Protection protection = Protect(
      {Count(40, {0}), Count(3, {1}), Count(25, {2}), Count(68, {0, 1, 2}, true)}, 3, rules);
  EXPECT_EQ(CellsIn(protection, State::kPrimary), (std::vector<size_t>{1}));
  EXPECT_EQ(protection.secondary, 0);
}

// ---------------------------------------------------------------------------------------
// Secondary suppression on table shapes.

// Areas 0..4 with one atom each, and their total.
std::vector<analysis::PublishedCell> AreasAndTotal() {
  return {Count(40, {0}), Count(3, {1}),  Count(25, {2}),
          Count(12, {3}), Count(30, {4}), Count(110, {0, 1, 2, 3, 4}, true)};
}

TEST(SecondarySuppressionTest, WithoutItTotalMinusOthersRevealsTheSmallCell) {
  analysis::DisclosureRules rules;
  rules.secondary = false;
  const std::vector<analysis::PublishedCell> cells = AreasAndTotal();
  const analysis::Protection protection = Protect(cells, 5, rules);
  ASSERT_EQ(CellsIn(protection, State::kPrimary), (std::vector<size_t>{1}));
  // The control: the attacker does find the classic leak.
  EXPECT_EQ(Attack(cells, protection, 5), (std::vector<size_t>{1}));
}

TEST(SecondarySuppressionTest, AreasAndTotalSuppressTheSmallestOtherArea) {
  const std::vector<analysis::PublishedCell> cells = AreasAndTotal();
  const analysis::Protection protection = Protect(cells, 5);
  EXPECT_EQ(CellsIn(protection, State::kPrimary), (std::vector<size_t>{1}));
  EXPECT_EQ(CellsIn(protection, State::kSecondary), (std::vector<size_t>{3}));  // 12
  EXPECT_EQ(protection.state[5], State::kPublished);                            // the total
  EXPECT_EQ(protection.secondary, 1);
  EXPECT_TRUE(Attack(cells, protection, 5).empty());
}

// A rows x columns table: inner cell (r, c) is atom r * columns + c; then the row totals,
// the column totals and the grand total.
std::vector<analysis::PublishedCell> TableWithMargins(
    const std::vector<std::vector<double>>& inner) {
  const size_t rows = inner.size();
  const size_t columns = inner[0].size();
  std::vector<analysis::PublishedCell> cells;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < columns; ++c) {
      cells.push_back(Count(inner[r][c], {static_cast<uint32_t>(r * columns + c)}));
    }
  }
  double grand = 0;
  for (size_t r = 0; r < rows; ++r) {
    analysis::PublishedCell total = Count(0, {}, true);
    for (size_t c = 0; c < columns; ++c) {
      total.atoms.push_back(static_cast<uint32_t>(r * columns + c));
      total.value += inner[r][c];
    }
    grand += total.value;
    cells.push_back(total);
  }
  for (size_t c = 0; c < columns; ++c) {
    analysis::PublishedCell total = Count(0, {}, true);
    for (size_t r = 0; r < rows; ++r) {
      total.atoms.push_back(static_cast<uint32_t>(r * columns + c));
      total.value += inner[r][c];
    }
    std::sort(total.atoms.begin(), total.atoms.end());
    cells.push_back(total);
  }
  analysis::PublishedCell total = Count(grand, {}, true);
  for (size_t atom = 0; atom < rows * columns; ++atom) {
    total.atoms.push_back(static_cast<uint32_t>(atom));
  }
  cells.push_back(total);
  return cells;
}

TEST(SecondarySuppressionTest, TwoWayTableWithOneSmallCellSuppressesARectangle) {
  const std::vector<analysis::PublishedCell> cells = TableWithMargins({
      {4, 50, 20},
      {60, 70, 80},
      {15, 90, 11},
      {55, 65, 75},
  });
  const analysis::Protection protection = Protect(cells, 12);
  EXPECT_EQ(CellsIn(protection, State::kPrimary), (std::vector<size_t>{0}));
  // (0, 2) = 20, (2, 0) = 15 and (2, 2) = 11 close the cheapest rectangle with (0, 0).
  EXPECT_EQ(CellsIn(protection, State::kSecondary), (std::vector<size_t>{2, 6, 8}));
  for (size_t margin = 12; margin < cells.size(); ++margin) {
    EXPECT_EQ(protection.state[margin], State::kPublished) << "margin " << margin;
  }
  EXPECT_TRUE(Attack(cells, protection, 12).empty());
}

TEST(SecondarySuppressionTest, TwoWayTableWithSeveralSmallCells) {
  const std::vector<analysis::PublishedCell> cells = TableWithMargins({
      {4, 50, 20},
      {60, 7, 80},
      {15, 90, 11},
      {55, 65, 2},
  });
  analysis::DisclosureRules no_secondary;
  no_secondary.secondary = false;
  EXPECT_FALSE(Attack(cells, Protect(cells, 12, no_secondary), 12).empty());

  const analysis::Protection protection = Protect(cells, 12);
  EXPECT_EQ(CellsIn(protection, State::kPrimary), (std::vector<size_t>{0, 4, 11}));
  EXPECT_GE(protection.secondary, 2);
  EXPECT_TRUE(Attack(cells, protection, 12).empty());
  for (size_t margin = 12; margin < cells.size(); ++margin) {
    EXPECT_EQ(protection.state[margin], State::kPublished) << "margin " << margin;
  }
}

TEST(SecondarySuppressionTest, LeakOnlyThroughAnotherTableOfTheSystem) {
  // Atoms are (area a, age group g) = 2 * a + g. Table 1: areas without a total. Table 2: age
  // groups with their total, which is also the total of table 1.
  const std::vector<analysis::PublishedCell> cells = {
      Count(4, {0, 1}),     Count(30, {2, 3}),    Count(25, {4, 5}),  // areas
      Count(27, {0, 2, 4}), Count(32, {1, 3, 5}), Count(59, {0, 1, 2, 3, 4, 5}, true),
  };
  // Table 1 on its own does not reveal area 0.
  EXPECT_FALSE(analysis::IsDerivable({cells[1].atoms, cells[2].atoms}, cells[0].atoms, 6));

  analysis::DisclosureRules no_secondary;
  no_secondary.secondary = false;
  EXPECT_EQ(Attack(cells, Protect(cells, 6, no_secondary), 6), (std::vector<size_t>{0}));

  const analysis::Protection protection = Protect(cells, 6);
  EXPECT_EQ(CellsIn(protection, State::kPrimary), (std::vector<size_t>{0}));
  EXPECT_EQ(CellsIn(protection, State::kSecondary), (std::vector<size_t>{2}));  // area of 25
  EXPECT_TRUE(Attack(cells, protection, 6).empty());
}

TEST(SecondarySuppressionTest, TwoTablesSharingATotal) {
  // Same as above but each table carries the total; the two total cells are one quantity.
  const std::vector<analysis::PublishedCell> cells = {
      Count(4, {0, 1}),
      Count(30, {2, 3}),
      Count(25, {4, 5}),
      Count(59, {0, 1, 2, 3, 4, 5}, true),
      Count(27, {0, 2, 4}),
      Count(32, {1, 3, 5}),
      Count(59, {0, 1, 2, 3, 4, 5}, true),
  };
  const analysis::Protection protection = Protect(cells, 6);
  EXPECT_EQ(protection.state[3], State::kPublished);
  EXPECT_EQ(protection.state[6], State::kPublished);
  EXPECT_EQ(CellsIn(protection, State::kSecondary), (std::vector<size_t>{2}));
  EXPECT_TRUE(Attack(cells, protection, 6).empty());
}

TEST(SecondarySuppressionTest, HierarchicalAreasWithinRegions) {
  // Areas 0..2 form region 0, areas 3..5 region 1.
  const std::vector<analysis::PublishedCell> cells = {
      Count(30, {0}),
      Count(5, {1}),
      Count(18, {2}),
      Count(12, {3}),
      Count(40, {4}),
      Count(25, {5}),
      Count(53, {0, 1, 2}, true),
      Count(77, {3, 4, 5}, true),
      Count(130, {0, 1, 2, 3, 4, 5}, true),
  };
  const analysis::Protection protection = Protect(cells, 6);
  EXPECT_EQ(CellsIn(protection, State::kPrimary), (std::vector<size_t>{1}));
  // Not area 3 (12), the smallest overall: it is in the other region and protects nothing.
  EXPECT_EQ(CellsIn(protection, State::kSecondary), (std::vector<size_t>{2}));
  EXPECT_TRUE(Attack(cells, protection, 6).empty());
}

TEST(SecondarySuppressionTest, PublishedZeroRevealsItsAtoms) {
  // Atoms a, b, c, d = 0..3. X = a + b is 0, so a = 0 (counts are not negative), and then
  // Y = a + c = Z - V although Y is not a linear combination of X, Z and V.
  const std::vector<analysis::PublishedCell> cells = {Count(0, {0, 1}), Count(5, {0, 2}),
                                                      Count(30, {2, 3}), Count(25, {3})};
  std::vector<std::vector<uint32_t>> with_zeros = AtomSets(cells);
  with_zeros.push_back({0});
  with_zeros.push_back({1});
  auto published_with_zeros = [](const analysis::Protection& protection) {
    std::vector<bool> published = PublishedFlags(protection);
    published.push_back(true);
    published.push_back(true);
    return published;
  };

  analysis::DisclosureRules linear_only;
  linear_only.zero_cells_reveal_atoms = false;
  const analysis::Protection linear = Protect(cells, 4, linear_only);
  EXPECT_EQ(CellsIn(linear, State::kPrimary), (std::vector<size_t>{1}));
  EXPECT_EQ(linear.secondary, 0);
  // The linear attacker misses it; one that also uses a = 0 and b = 0 finds cell Y.
  EXPECT_TRUE(Attack(cells, linear, 4).empty());
  EXPECT_EQ(Attack(with_zeros, published_with_zeros(linear), 4), (std::vector<size_t>{1}));

  const analysis::Protection protection = Protect(cells, 4);
  EXPECT_EQ(protection.state, (std::vector<State>{State::kPublished, State::kPrimary,
                                                  State::kPublished, State::kSecondary}));
  EXPECT_TRUE(Attack(with_zeros, published_with_zeros(protection), 4).empty());
}

TEST(SecondarySuppressionTest, SumWithoutContributorsRevealsItsAtomsInASumSystem) {
  // The same shape with sums: X has no contributors, so a and b sum to 0.
  std::vector<analysis::PublishedCell> cells = {
      Sum(0, 0, {}, {0, 1}), Sum(500, 3, {300, 100, 100}, {0, 2}), Sum(3000, 40, {100}, {2, 3}),
      Sum(2500, 37, {100}, {3})};
  analysis::Protection protection = Protect(cells, 5);
  EXPECT_EQ(protection.state, (std::vector<State>{State::kPublished, State::kPrimary,
                                                  State::kPublished, State::kSecondary}));

  // With counts in the system, a sum without contributors says nothing about them, and
  // treating its atoms as 0 for all cells would be wrong; only zero counts are used then.
  cells.push_back(Count(50, {4}));
  protection = Protect(cells, 5);
  EXPECT_EQ(protection.state[3], State::kPublished);
}

// ---------------------------------------------------------------------------------------
// IsDerivable.

TEST(IsDerivableTest, SpanMembership) {
  EXPECT_TRUE(analysis::IsDerivable({{0, 1}, {1}}, {0}, 2));
  EXPECT_TRUE(analysis::IsDerivable({{0, 1, 2}, {1, 2}}, {0}, 3));
  EXPECT_TRUE(analysis::IsDerivable({{0, 1}, {1, 2}, {0, 2}}, {0}, 3));  // (x + y - z) / 2
  EXPECT_FALSE(analysis::IsDerivable({{0, 1}, {1, 2}}, {0}, 3));
  EXPECT_FALSE(analysis::IsDerivable({}, {0}, 1));
  EXPECT_TRUE(analysis::IsDerivable({}, {}, 1));  // the empty cell is always 0
  EXPECT_FALSE(analysis::IsDerivable({{0, 1}}, {0, 1, 2}, 3));
}

// ---------------------------------------------------------------------------------------
// The attacker itself (the oracle of the other tests must be right too).

TEST(LinearAttackerTest, FindsExactlyTheDeterminedSuppressedCells) {
  const std::vector<std::vector<uint32_t>> cells = {
      {0, 1},    {1, 2}, {0, 2},  // published: x + y, y + z, x + z
      {0},                        // (first + third - second) / 2: needs fractions
      {0, 1, 2},                  // half the sum of the three
      {0, 3},                     // atom 3 is in no published cell
      {},                         // the empty cell is always 0
  };
  const std::vector<bool> published = {true, true, true, false, false, false, false};
  EXPECT_EQ(Attack(cells, published, 4), (std::vector<size_t>{3, 4, 6}));
  EXPECT_EQ(Attack(cells, {true, true, false, false, false, false, true}, 4),
            (std::vector<size_t>{}));
}

TEST(LinearAttackerTest, RejectsInvalidInput) {
  EXPECT_EQ(test::FindDerivableCells({{0}, {1}}, {true}, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(test::FindDerivableCells({{0}, {2}}, {true, false}, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(test::FindDerivableCells({{0, 0}}, {false}, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------
// Invalid input.

void ExpectInvalid(const std::vector<analysis::PublishedCell>& cells, uint32_t atom_count,
                   const std::string& expected_in_message,
                   const analysis::DisclosureRules& rules = {}) {
  absl::StatusOr<analysis::Protection> protection =
      analysis::ProtectCells(cells, atom_count, rules);
  ASSERT_FALSE(protection.ok());
  EXPECT_EQ(protection.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(protection.status().message()).find(expected_in_message), std::string::npos)
      << protection.status();
}

TEST(InvalidInputTest, AtomsOutOfRangeUnsortedOrDuplicate) {
  ExpectInvalid({Count(20, {0}), Count(20, {1, 3})}, 3, "cell 1: atom 3 is out of range");
  ExpectInvalid({Count(20, {0}), Count(20, {0}), Count(20, {2, 1})}, 3,
                "cell 2: atoms are not sorted");
  ExpectInvalid({Count(20, {1, 1})}, 3, "cell 0: atoms are not sorted and distinct");
}

TEST(InvalidInputTest, SumWithoutEnoughLargestContributions) {
  analysis::DisclosureRules rules;
  rules.dominance_n = 2;
  ExpectInvalid({Sum(100, 15, {60, 20}, {0}), Sum(100, 15, {60}, {1})}, 2,
                "cell 1: 1 largest contributions given, the dominance rule needs 2", rules);
  // One contributor needs only one largest contribution.
  EXPECT_TRUE(analysis::ProtectCells({Sum(100, 1, {100}, {0})}, 1, rules).ok());
}

TEST(InvalidInputTest, NonFiniteOrNegativeNumbers) {
  ExpectInvalid({Count(std::numeric_limits<double>::quiet_NaN(), {0})}, 1,
                "cell 0: value is not finite");
  ExpectInvalid({Count(20, {0}), Sum(std::numeric_limits<double>::infinity(), 20, {1}, {1})}, 2,
                "cell 1: value is not finite");
  ExpectInvalid({Sum(100, 20, {std::numeric_limits<double>::infinity()}, {0})}, 1,
                "cell 0: a largest contribution is not finite");
  ExpectInvalid({Count(-3, {0})}, 1, "cell 0: count -3 is negative");
  ExpectInvalid({Sum(100, -1, {}, {0})}, 1, "cell 0: contributors -1 is negative");
}

TEST(InvalidInputTest, InconsistentCells) {
  ExpectInvalid({Count(20, {0}), Count(5, {})}, 1, "cell 1: value 5 but no atoms");
  // Cell 1 lies inside a published zero.
  ExpectInvalid({Count(0, {0, 1}), Count(5, {1}), Count(20, {2})}, 3,
                "cell 1: value 5 but every one of its atoms lies in a cell published as 0");
}

TEST(InvalidInputTest, Rules) {
  analysis::DisclosureRules rules;
  rules.dominance_n = 0;
  ExpectInvalid({Count(20, {0})}, 1, "dominance_n", rules);
  rules = {};
  rules.dominance_k = 1.5;
  ExpectInvalid({Count(20, {0})}, 1, "dominance_k", rules);
  rules = {};
  rules.min_cell = -1;
  ExpectInvalid({Count(20, {0})}, 1, "min_cell", rules);
}

// ---------------------------------------------------------------------------------------
// Seeded random systems.

// Units grouped into atoms; a cell's count and sum follow from its atoms.
struct RandomSystem {
  uint32_t atom_count = 0;
  std::vector<analysis::PublishedCell> cells;
};

analysis::PublishedCell CellOver(std::vector<uint32_t> atoms, bool is_total, bool sums,
                                 const std::vector<std::vector<double>>& contributions_of_atom) {
  std::sort(atoms.begin(), atoms.end());
  atoms.erase(std::unique(atoms.begin(), atoms.end()), atoms.end());
  std::vector<double> contributions;
  for (uint32_t atom : atoms) {
    contributions.insert(contributions.end(), contributions_of_atom[atom].begin(),
                         contributions_of_atom[atom].end());
  }
  analysis::PublishedCell cell;
  cell.atoms = std::move(atoms);
  cell.is_total = is_total;
  if (!sums) {
    cell.kind = analysis::CellKind::kCount;
    cell.value = static_cast<double>(contributions.size());
    return cell;
  }
  cell.kind = analysis::CellKind::kSum;
  std::sort(contributions.begin(), contributions.end(), std::greater<>());
  for (double contribution : contributions) cell.value += contribution;
  cell.contributors = static_cast<int64_t>(contributions.size());
  contributions.resize(std::min<size_t>(contributions.size(), 3));
  cell.largest = contributions;
  return cell;
}

RandomSystem MakeRandomSystem(uint32_t seed) {
  std::mt19937 random(seed);
  auto uniform = [&random](int low, int high) {
    return std::uniform_int_distribution<int>(low, high)(random);
  };
  RandomSystem system;
  system.atom_count = static_cast<uint32_t>(uniform(3, 40));
  const bool sums = uniform(0, 3) == 0;
  std::vector<std::vector<double>> contributions_of_atom(system.atom_count);
  for (auto& contributions : contributions_of_atom) {
    const int units = uniform(0, 3) == 0 ? 0 : uniform(1, 8);
    for (int u = 0; u < units; ++u) contributions.push_back(uniform(1, 100));
  }
  std::vector<uint32_t> all_atoms(system.atom_count);
  for (uint32_t a = 0; a < system.atom_count; ++a) all_atoms[a] = a;

  // A few tables: a random partition of all atoms into categories, with or without a total,
  // sometimes with a level that groups categories (a hierarchy).
  const int tables = uniform(1, 3);
  for (int t = 0; t < tables; ++t) {
    const int categories = uniform(2, 8);
    std::vector<std::vector<uint32_t>> category_atoms(static_cast<size_t>(categories));
    for (uint32_t atom : all_atoms) {
      category_atoms[static_cast<size_t>(uniform(0, categories - 1))].push_back(atom);
    }
    for (const auto& atoms : category_atoms) {
      if (!atoms.empty()) {
        system.cells.push_back(CellOver(atoms, false, sums, contributions_of_atom));
      }
    }
    if (uniform(0, 1) == 1) {
      std::vector<uint32_t> upper;
      for (size_t c = 0; c < category_atoms.size(); ++c) {
        upper.insert(upper.end(), category_atoms[c].begin(), category_atoms[c].end());
        if (uniform(0, 2) == 0 && !upper.empty()) {
          system.cells.push_back(CellOver(upper, true, sums, contributions_of_atom));
          upper.clear();
        }
      }
    }
    if (uniform(0, 2) != 0) {
      system.cells.push_back(CellOver(all_atoms, true, sums, contributions_of_atom));
    }
  }
  // Random overlapping cells.
  const int extra = uniform(0, 12);
  for (int e = 0; e < extra; ++e) {
    std::vector<uint32_t> atoms;
    const int density = uniform(1, 4);
    for (uint32_t atom : all_atoms) {
      if (uniform(0, 9) < density) atoms.push_back(atom);
    }
    if (atoms.empty()) continue;
    system.cells.push_back(CellOver(atoms, uniform(0, 5) == 0, sums, contributions_of_atom));
  }
  std::shuffle(system.cells.begin(), system.cells.end(), random);
  return system;
}

// The published cells plus, as the protection assumes, each atom of a published cell
// without units as a published cell of its own.
void AddZeroKnowledge(const RandomSystem& system, std::vector<std::vector<uint32_t>>* atom_sets,
                      std::vector<bool>* published) {
  const bool has_counts = std::any_of(
      system.cells.begin(), system.cells.end(),
      [](const analysis::PublishedCell& cell) { return cell.kind == analysis::CellKind::kCount; });
  for (size_t i = 0; i < system.cells.size(); ++i) {
    const analysis::PublishedCell& cell = system.cells[i];
    const bool without_units = cell.value == 0 && (cell.kind == analysis::CellKind::kCount ||
                                                   (!has_counts && cell.contributors == 0));
    if (!(*published)[i] || !without_units) continue;
    for (uint32_t atom : cell.atoms) {
      atom_sets->push_back({atom});
      published->push_back(true);
    }
  }
}

TEST(RandomSystemTest, NoSuppressedCellIsDerivableAndEverySecondaryIsNeeded) {
  int systems_with_primaries = 0;
  int leaks_without_secondary = 0;
  int secondary_cells = 0;
  for (uint32_t seed = 1; seed <= 400; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    const RandomSystem system = MakeRandomSystem(seed);
    const std::vector<std::vector<uint32_t>> atom_sets = AtomSets(system.cells);
    analysis::DisclosureRules rules;
    rules.min_cell = 5;
    const analysis::Protection protection = Protect(system.cells, system.atom_count, rules);
    ASSERT_EQ(protection.state.size(), system.cells.size());

    // Primary states follow the rules; equal atom sets share their state.
    auto sensitive = [](const analysis::PublishedCell& cell) {
      if (cell.value == 0) return false;
      if (cell.kind == analysis::CellKind::kCount) return cell.value < 5;
      return cell.contributors < 5 || cell.largest[0] > 0.8 * cell.value;
    };
    for (size_t i = 0; i < system.cells.size(); ++i) {
      bool same_quantity_sensitive = false;
      for (size_t j = 0; j < system.cells.size(); ++j) {
        if (atom_sets[j] != atom_sets[i]) continue;
        same_quantity_sensitive = same_quantity_sensitive || sensitive(system.cells[j]);
        EXPECT_EQ(protection.state[j], protection.state[i]) << "cells " << i << ", " << j;
      }
      EXPECT_EQ(protection.state[i] == State::kPrimary, same_quantity_sensitive) << "cell " << i;
    }
    if (protection.primary > 0) ++systems_with_primaries;
    secondary_cells += static_cast<int>(protection.secondary);

    // The attacker computes none of the suppressed cells; IsDerivable agrees with it.
    const std::vector<bool> published = PublishedFlags(protection);
    EXPECT_TRUE(Attack(atom_sets, published, system.atom_count).empty());
    std::vector<std::vector<uint32_t>> published_sets;
    for (size_t i = 0; i < system.cells.size(); ++i) {
      if (published[i]) published_sets.push_back(atom_sets[i]);
    }
    for (size_t i = 0; i < system.cells.size(); ++i) {
      if (!published[i]) {
        EXPECT_FALSE(analysis::IsDerivable(published_sets, atom_sets[i], system.atom_count)) << i;
      }
    }

    // Not excessive: publishing any secondary cell (with its equals) would reveal a primary
    // cell to an attacker with the knowledge the protection assumes.
    for (size_t s = 0; s < system.cells.size(); ++s) {
      if (protection.state[s] != State::kSecondary) continue;
      std::vector<bool> more = published;
      for (size_t j = 0; j < system.cells.size(); ++j) {
        if (atom_sets[j] == atom_sets[s]) more[j] = true;
      }
      std::vector<std::vector<uint32_t>> sets = atom_sets;
      AddZeroKnowledge(system, &sets, &more);
      const std::vector<size_t> revealed = Attack(sets, more, system.atom_count);
      const bool reveals_primary = std::any_of(revealed.begin(), revealed.end(), [&](size_t i) {
        return i < system.cells.size() && protection.state[i] == State::kPrimary;
      });
      EXPECT_TRUE(reveals_primary) << "secondary cell " << s << " protects nothing";
    }

    // Control: without secondary suppression the same attacker often finds primary cells.
    rules.secondary = false;
    const analysis::Protection primary_only = Protect(system.cells, system.atom_count, rules);
    if (!Attack(system.cells, primary_only, system.atom_count).empty()) ++leaks_without_secondary;
  }
  // The generator makes systems where the protection has work to do.
  EXPECT_GT(systems_with_primaries, 200);
  EXPECT_GT(leaks_without_secondary, 80);
  EXPECT_GT(secondary_cells, 200);
}

// ---------------------------------------------------------------------------------------
// Size. Not timed: one system of the largest expected size, so that a pathological algorithm
// makes this test visibly slow.

TEST(LargeSystemTest, AreasRegionsAndIndicatorsAtMaximumSize) {
  // 300 areas in 30 regions; a family's atom is its area and its pattern of 6 indicator
  // flags: 300 * 64 = 19,200 atoms. Per area, region and in all: the number of families and
  // the number with each flag: 7 * (300 + 30 + 1) = 2,317 cells.
  constexpr uint32_t kAreas = 300;
  constexpr uint32_t kAreasPerRegion = 10;
  constexpr uint32_t kFlags = 6;
  constexpr uint32_t kPatterns = 1u << kFlags;
  const uint32_t atom_count = kAreas * kPatterns;
  std::mt19937 random(20240611);
  std::vector<double> families_in_atom(atom_count, 0);
  for (uint32_t area = 0; area < kAreas; ++area) {
    const int families = std::uniform_int_distribution<int>(5, 400)(random);
    for (int f = 0; f < families; ++f) {
      uint32_t pattern = 0;
      for (uint32_t flag = 0; flag < kFlags; ++flag) {
        if (std::bernoulli_distribution(0.04 + 0.05 * flag)(random)) pattern |= 1u << flag;
      }
      families_in_atom[area * kPatterns + pattern] += 1;
    }
  }
  std::vector<analysis::PublishedCell> cells;
  auto add_level = [&](uint32_t first_area, uint32_t area_count, bool is_total) {
    analysis::PublishedCell all = Count(0, {}, is_total);
    std::vector<analysis::PublishedCell> flagged(kFlags, Count(0, {}, is_total));
    for (uint32_t area = first_area; area < first_area + area_count; ++area) {
      for (uint32_t pattern = 0; pattern < kPatterns; ++pattern) {
        const uint32_t atom = area * kPatterns + pattern;
        all.atoms.push_back(atom);
        all.value += families_in_atom[atom];
        for (uint32_t flag = 0; flag < kFlags; ++flag) {
          if ((pattern & (1u << flag)) == 0) continue;
          flagged[flag].atoms.push_back(atom);
          flagged[flag].value += families_in_atom[atom];
        }
      }
    }
    cells.push_back(all);
    cells.insert(cells.end(), flagged.begin(), flagged.end());
  };
  for (uint32_t area = 0; area < kAreas; ++area) add_level(area, 1, false);
  for (uint32_t region = 0; region < kAreas / kAreasPerRegion; ++region) {
    add_level(region * kAreasPerRegion, kAreasPerRegion, true);
  }
  add_level(0, kAreas, true);
  ASSERT_EQ(cells.size(), 2317u);

  const analysis::Protection protection = Protect(cells, atom_count);
  EXPECT_GT(protection.primary, 100);
  EXPECT_GT(protection.secondary, 0);
  EXPECT_LT(protection.secondary, protection.primary * 3);
  EXPECT_TRUE(Attack(cells, protection, atom_count).empty());
}

}  // namespace
}  // namespace koppel
