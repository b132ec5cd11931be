// Statistical disclosure control of a release (ARCHITECTURE section 5, DOMAIN.md section 2):
// which published cells must be shown as `*`. A release is described as linear systems: every
// published cell is the sum of some "atoms" (disjoint groups of units, e.g. families of one
// area with one exact pattern of flags). The attacker is assumed to know which atoms exist,
// which cells sum which atoms, and every published value.
//
// Primary suppression hides counts from 1 to min_cell - 1 (zero stays 0) and sums with too few
// contributors or a dominant contributor ((n, k) rule). Secondary suppression then hides
// further cells until no primary-suppressed cell is a linear combination (over the rationals)
// of the published cells, as Statistics Norway's GaussSuppression does (Langsrud 2024):
//
//  * Cells with equal atom sets are one quantity and share one state; atoms that lie in
//    exactly the same cells are merged (dropping duplicate columns keeps every linear
//    relation between the cells, so this is exact).
//  * Published cells with no units (a count of 0; in a system without counts, a sum with 0
//    contributors) tell the attacker that each of their atoms is 0, which is more than the
//    linear span says (counts are not negative). Those atoms are treated as known, i.e. as
//    if each were published on its own. This only ever suppresses more.
//  * The non-primary cells are tried in order of value to the reader: totals (`is_total`)
//    first, then larger |value| first, then lower index first. A cell is published only if,
//    with it, still no primary cell is derivable; otherwise it is suppressed secondarily.
//    So the cells suppressed secondarily are the small non-total ones wherever possible.
//
// Why this is exact: all arithmetic is on integer vectors (fraction-free elimination with
// content-gcd normalisation in int64, every product and difference overflow-checked), so
// "derivable" is decided exactly over the rationals, never modulo a prime and never in
// floating point. The published cells are kept as an echelon basis in which each basis row is
// zero at the pivots of all earlier rows; every primary cell is kept as its residual modulo
// that basis (zero at every pivot). Those residuals are canonical representatives of the
// quotient space, so a primary cell is derivable exactly when its residual is the zero
// vector, and publishing a new cell reveals it exactly when the updated residual becomes zero.
// Why it is conservative: if any step would overflow int64, the cell being tried is
// suppressed; suppressing more can never make a suppressed cell derivable. IsDerivable answers
// true when it cannot decide.
//
// Scope: the attacker modelled is linear (plus the zero-cell knowledge above). Bounds from
// non-negativity (interval attacks) and differences of two suppressed cells are not
// protected, as in GaussSuppression's default. A system should hold one kind of quantity;
// if it mixes counts and sums they are treated as the same unknowns, which assumes more
// relations than exist and so again only suppresses more.
#ifndef KOPPEL_LINKER_ANALYSIS_DISCLOSURE_H_
#define KOPPEL_LINKER_ANALYSIS_DISCLOSURE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace koppel::analysis {

struct DisclosureRules {
  int64_t min_cell = 10;  // counts 1..min_cell-1 are suppressed; sums need this many contributors
  int dominance_n = 1;    // (n, k) rule: a sum is sensitive when its n largest
  double dominance_k = 0.8;  //   contributions exceed k of the total
  bool secondary = true;     // secondary suppression (never off in a covenant's default)
  // Secondary suppression treats the atoms of published cells without units as known to be 0
  // (see the header comment). Off gives the pure linear model of GaussSuppression.
  bool zero_cells_reveal_atoms = true;
};

enum class CellKind { kCount, kSum };

// Who decides what happens to a cell (docs/disclosure.md, "The release history").
enum class CellRole {
  // A cell of the release being protected: published unless it is sensitive or publishing it
  // would let a sensitive quantity be worked out.
  kCandidate,
  // Published by an earlier release: known to the recipient and never withdrawn. These enter
  // the published span before any candidate.
  kPublished,
  // Never published: a quantity to keep underivable when it is sensitive, such as a group of
  // households that released cells imply (implied_sets.h) or a cell an earlier release
  // suppressed.
  kHidden,
};

// One published cell. `atoms` index the atoms of its system; a cell's value is the sum of
// its atoms' values (the caller guarantees that).
struct PublishedCell {
  CellKind kind = CellKind::kCount;
  double value = 0;             // the count, or the sum
  int64_t contributors = 0;     // kSum: units with a nonzero contribution
  std::vector<double> largest;  // kSum: the largest contributions, descending (>= n)
  std::vector<uint32_t> atoms;  // sorted, distinct
  bool is_total = false;        // prefer not to suppress secondarily (margins)
  CellRole role = CellRole::kCandidate;
};

enum class CellState { kPublished, kPrimary, kSecondary };

// A kPublished cell is always kPublished. A kHidden cell is kPrimary when sensitive and
// kSecondary otherwise; it is never published.
struct Protection {
  std::vector<CellState> state;  // per cell, in input order
  int64_t primary = 0;           // candidate cells in state kPrimary
  int64_t secondary = 0;         // candidate cells in state kSecondary
  // Of those, cells suppressed only because deciding exactly would overflow int64 (see the
  // header comment); 0 on table-shaped systems, worth logging when not.
  int64_t secondary_on_overflow = 0;
  // Sensitive quantities that cells published earlier (kPublished) already determine, so that
  // no suppression now can protect them (e.g. after the covenant raised min_cell). 0 when the
  // release history was protected under the same rules.
  int64_t determined_earlier = 0;
};

// Whether a cell is sensitive on its own (primary suppression): a count from 1 to
// min_cell - 1, or a nonzero sum with fewer than min_cell contributors or a dominant
// contributor ((n, k) rule).
bool IsSensitive(const PublishedCell& cell, const DisclosureRules& rules);

// Decides the suppression pattern of one linear system (cells over atoms 0..atom_count-1).
// Cells with equal atom sets are the same quantity and get the same state (kPrimary when any
// of them is sensitive). Deterministic.
//
// INVALID_ARGUMENT, naming the cell, for: atoms out of range, not sorted or not distinct;
// non-finite values or contributions; negative counts or contributors; a kSum cell whose
// `largest` has fewer than min(dominance_n, contributors) entries; a nonzero cell without
// atoms, or one whose atoms all lie in cells published as 0 (inconsistent input). Also for
// rules with min_cell < 0, dominance_n < 1 or dominance_k outside (0, 1].
absl::StatusOr<Protection> ProtectCells(const std::vector<PublishedCell>& cells,
                                        uint32_t atom_count, const DisclosureRules& rules);

// True when the cell `target` (as an atom set) is a linear combination of the `published`
// cells' atom sets: then publishing them reveals it. Exposed for tests and for the check the
// release runs after protection. Atom sets need not be sorted; atoms >= atom_count are
// accepted as further atoms. Pure linear model (no zero-cell knowledge). Answers true if the
// exact computation would overflow, so a false answer is always exact.
bool IsDerivable(const std::vector<std::vector<uint32_t>>& published,
                 const std::vector<uint32_t>& target, uint32_t atom_count);

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_DISCLOSURE_H_
