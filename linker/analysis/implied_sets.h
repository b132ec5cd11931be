// The groups of households that released cells imply (docs/disclosure.md, "What is
// protected"). A cell is a sum of atoms; whoever holds the published values can work out every
// linear combination of them, so a release can determine the count of a group no table asks
// for: a complement (N - cell), a family that only a difference of two columns isolates, a
// group that only the union of several releases pins down.
//
// The protected groups are the unions of atoms that a conjunction of predicate literals
// describes (reference date, area, household type, each indicator and flag a release uses,
// each negated or not). FindImpliedSets finds every such group whose weight is from 1 to
// min_cell - 1 and that the cells could determine if every cell not sensitive by itself were
// published. Those groups become hidden cells (disclosure.h, CellRole::kHidden) that secondary
// suppression keeps underivable. Because any publication is a subset of that upper bound, a
// group the search does not report cannot become determined, whatever is suppressed.
//
// How: a determined group is a vector of the published span supported only on "small" classes
// (classes are atoms grouped by the cells they lie in, small ones weigh less than min_cell).
// An echelon form that pivots on heavy classes first leaves that subspace as the rows whose
// leading class is small; in reduced form a vector of it is fixed by its values at the pivots.
// The search grows sets of pivot classes, closing each under the conjunction its atoms share
// (the smallest describable union of classes containing them) and pruning as soon as the
// closure weighs min_cell or more or contains an atom that no cell holds. Every describable
// determined group is reached this way; other sensitive unions of classes the search meets
// are reported too.
//
// All arithmetic is exact (integers, overflow-checked). When it would overflow, or the search
// exceeds its budget, the answer is RESOURCE_EXHAUSTED: nothing can then be promised, so the
// caller must not release.
#ifndef KOPPEL_LINKER_ANALYSIS_IMPLIED_SETS_H_
#define KOPPEL_LINKER_ANALYSIS_IMPLIED_SETS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "linker/analysis/disclosure.h"

namespace koppel::analysis {

// The atoms of a linear system, described by the predicates conjunctions are made of.
struct AtomSpace {
  uint32_t atom_count = 0;
  // Per atom: its weight towards min_cell (households for counts, contributors for sums).
  std::vector<int64_t> weight;
  // Per atom: the unit group it belongs to. A set weighs the sum over its unit groups of the
  // largest weight of its atoms in that group: for sums, whose atoms are (households, cost
  // item) pairs, that is a lower bound on the households contributing. Empty: every atom is its
  // own group and a set weighs the sum of its atoms' weights.
  std::vector<uint32_t> unit_group;
  // Predicates with several values (reference date, area, cost item): a conjunction fixes one
  // value or leaves the predicate free. values[atom * multi_valued + p].
  uint32_t multi_valued = 0;
  std::vector<uint32_t> values;
  // Yes/no predicates (household types, indicators, flags, payers): a conjunction requires
  // yes, no, or neither. bits[atom * Words() + w].
  uint32_t binary = 0;
  std::vector<uint64_t> bits;

  uint32_t Words() const { return (binary + 63) / 64; }
};

struct ImpliedSetLimits {
  uint64_t max_closures = 20'000'000;           // closures computed by the search
  uint64_t max_atoms_examined = 2'000'000'000;  // atoms tested against a closure's conjunction
};

struct ImpliedSets {
  // Sorted atom lists of the groups found, with their weights.
  std::vector<std::vector<uint32_t>> sets;
  std::vector<int64_t> weights;
  int64_t conjunctions = 0;           // of `sets`, those a conjunction describes
  uint32_t small_classes = 0;         // classes that weigh less than min_cell
  uint32_t small_only_dimension = 0;  // dimension of the span reaching only small classes
  uint64_t closures = 0;              // work done
  uint64_t atoms_examined = 0;
};

// INVALID_ARGUMENT for an AtomSpace whose sizes do not match or cells naming atoms out of
// range; RESOURCE_EXHAUSTED as above. With min_cell <= 1 or secondary suppression off there
// is nothing to find.
absl::StatusOr<ImpliedSets> FindImpliedSets(const std::vector<PublishedCell>& cells,
                                            const AtomSpace& atoms, const DisclosureRules& rules,
                                            const ImpliedSetLimits& limits = {});

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_IMPLIED_SETS_H_
