// Statistical disclosure control of a release (ARCHITECTURE section 5, DOMAIN.md section 2):
// which published cells must be shown as `*`. A release is described as linear systems: every
// published cell is the sum of some "atoms" (disjoint groups of units, e.g. families of one
// area with one exact pattern of flags). Primary suppression hides counts from 1 to
// min_cell - 1 (zero stays 0) and sums with too few contributors or a dominant contributor;
// secondary suppression then hides further cells until no primary-suppressed cell is a linear
// combination of published cells (Gaussian elimination, as Statistics Norway's
// GaussSuppression does). The attacker is assumed to know which atoms exist.
#ifndef KOPPEL_LINKER_ANALYSIS_DISCLOSURE_H_
#define KOPPEL_LINKER_ANALYSIS_DISCLOSURE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace koppel {

struct DisclosureRules {
  int64_t min_cell = 10;        // counts 1..min_cell-1 are suppressed; sums need this many contributors
  int dominance_n = 1;          // (n, k) rule: a sum is sensitive when its n largest
  double dominance_k = 0.8;     //   contributions exceed k of the total
  bool secondary = true;        // secondary suppression (never off in a covenant's default)
};

enum class CellKind { kCount, kSum };

// One published cell. `atoms` index the atoms of its system; a cell's value is the sum of
// its atoms' values (the caller guarantees that).
struct PublishedCell {
  CellKind kind = CellKind::kCount;
  double value = 0;                     // the count, or the sum
  int64_t contributors = 0;             // kSum: units with a nonzero contribution
  std::vector<double> largest;          // kSum: the largest contributions, descending (>= n)
  std::vector<uint32_t> atoms;          // sorted, distinct
  bool is_total = false;                // prefer not to suppress secondarily (margins)
};

enum class CellState { kPublished, kPrimary, kSecondary };

struct Protection {
  std::vector<CellState> state;         // per cell, in input order
  int64_t primary = 0;
  int64_t secondary = 0;
};

// Decides the suppression pattern of one linear system (cells over atoms 0..atom_count-1).
// Cells with equal atom sets are the same quantity and get the same state. Deterministic.
absl::StatusOr<Protection> ProtectCells(const std::vector<PublishedCell>& cells,
                                        uint32_t atom_count, const DisclosureRules& rules);

// True when the cell `target` (as an atom set) is a linear combination of the `published`
// cells' atom sets: then publishing them reveals it. Exposed for tests and for the check the
// release runs after protection.
bool IsDerivable(const std::vector<std::vector<uint32_t>>& published,
                 const std::vector<uint32_t>& target, uint32_t atom_count);

}  // namespace koppel

#endif  // KOPPEL_LINKER_ANALYSIS_DISCLOSURE_H_
