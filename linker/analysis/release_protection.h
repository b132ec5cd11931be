// Disclosure control of one release together with every earlier release of its covenant
// (docs/disclosure.md). The release's cells and the earlier releases' cells become one linear
// system over the households they count, joined per household (every release and reference
// date it appears in), so that what several releases, or two reference dates of one, imply
// together is protected like what one implies:
//
//  * cells published earlier stay published and enter the span first (CellRole::kPublished);
//    cells suppressed earlier stay protected when they are sensitive (CellRole::kHidden);
//  * the groups the cells imply (implied_sets.h) and the differences of nested cells become
//    hidden cells, kept underivable like the sensitive cells of the release itself;
//  * sums are treated alike over (households, cost item) atoms: fewer than min_cell
//    contributors, or a dominant contributor in a difference of two nested sums, is sensitive;
//    a sum over an item priced per household is a count of households, so it enters the count
//    system too, and is published only if that count may be.
//
// Earlier releases are recomputed on the deliveries they used (their data version), so a
// household counted differently before a new delivery is a different quantity, and a group
// that only the change between two deliveries isolates is protected too.
#ifndef KOPPEL_LINKER_ANALYSIS_RELEASE_PROTECTION_H_
#define KOPPEL_LINKER_ANALYSIS_RELEASE_PROTECTION_H_

#include <vector>

#include "absl/status/statusor.h"
#include "linker/analysis/analysis_result.h"
#include "linker/analysis/disclosure.h"
#include "linker/analysis/implied_sets.h"

namespace koppel::analysis {

// An earlier release: its result recomputed on its own data version (with units,
// EngineOptions::keep_units) and what it published.
struct EarlierRelease {
  const AnalysisResult* result = nullptr;
  std::vector<CellState> count_states;  // of result->count_cells
  std::vector<CellState> sum_states;    // of result->sum_cells
};

struct ProtectedRelease {
  Protection counts;                 // of now.count_cells
  Protection sums;                   // of now.sum_cells
  int64_t implied_groups = 0;        // hidden cells added for what the cells imply
  int64_t implied_conjunctions = 0;  // of those, groups a conjunction describes
  // Cells of this release suppressed only because of earlier releases: published when the
  // release is protected on its own, suppressed together with the history.
  int64_t suppressed_for_history = 0;
  // Sensitive quantities that earlier releases alone already determine (Protection).
  int64_t determined_earlier = 0;
};

// Every result must carry units (EngineOptions::keep_units): the system joins households.
// FAILED_PRECONDITION when two releases price the same cost volume differently (their sums
// would be related in a way the system cannot express); RESOURCE_EXHAUSTED from the search for
// implied groups (then nothing may be released).
absl::StatusOr<ProtectedRelease> ProtectRelease(const AnalysisResult& now,
                                                const std::vector<EarlierRelease>& earlier,
                                                const DisclosureRules& rules,
                                                const ImpliedSetLimits& limits = {});

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_RELEASE_PROTECTION_H_
