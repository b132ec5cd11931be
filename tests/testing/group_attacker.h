// An independent attacker on the groups of households a recipient could single out
// (docs/disclosure.md, "What is protected"): a second opinion on FindImpliedSets and
// ProtectRelease for tests.
//
// The attacker holds every released value and knows the groups of households (atoms) each
// released cell sums, for all releases joined (the common refinement). It enumerates candidate
// groups by brute force, a method unlike the linker's search: every conjunction of at most
// `max_literals` literals over the predicates (a value of a multi-valued predicate such as the
// area or the date; a yes/no predicate or its negation), every single atom, and every difference
// of two nested published cells. Each candidate with 1 to min_cell - 1 households is then
// solved for with the exact rational solver of linear_attacker.h. With max_literals at least
// the number of predicates the enumeration covers every conjunction, so an empty answer proves
// the protection for that system; with fewer it is a lower bound.
#ifndef KOPPEL_TESTS_TESTING_GROUP_ATTACKER_H_
#define KOPPEL_TESTS_TESTING_GROUP_ATTACKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "linker/analysis/analysis_result.h"

namespace koppel::test {

struct AttackAtom {
  int64_t households = 0;
  std::vector<int> values;  // one per multi-valued predicate
  std::vector<bool> bits;   // one per yes/no predicate
};

struct DisclosedGroup {
  std::vector<uint32_t> atoms;
  int64_t households = 0;
  std::string description;  // the conjunction, e.g. "v0=3 & b2 & !b5", or how it was found
};

// Groups with 1..min_cell-1 households whose count the published cells determine.
absl::StatusOr<std::vector<DisclosedGroup>> FindDisclosedGroups(
    const std::vector<AttackAtom>& atoms, const std::vector<std::vector<uint32_t>>& published,
    int64_t min_cell, int max_literals);

// What the attacker holds after exact releases: the engine's results of them (with units,
// EngineOptions::keep_units) and which of their count cells each published. Their atoms are
// joined on household and reference date (the common refinement), each joint atom described by
// its date and, per release, its area, whether it is in that release, its household type and the
// release's predicates; the published cells are expressed over the joint atoms.
struct HeldReleases {
  std::vector<AttackAtom> atoms;
  std::vector<std::vector<uint32_t>> published;
};
absl::StatusOr<HeldReleases> JoinReleases(
    const std::vector<const analysis::AnalysisResult*>& releases,
    const std::vector<const std::vector<analysis::CellState>*>& states);

// One line per group, for a failed expectation.
std::string Describe(const std::vector<DisclosedGroup>& groups);

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_GROUP_ATTACKER_H_
