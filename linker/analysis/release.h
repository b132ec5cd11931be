// Turns an analysis result into the release the recipient receives (ARCHITECTURE section 5,
// docs/disclosure.md). An exact release shows the cells disclosure control suppressed
// (release_protection.h) as `*`, releases a percentage, mean, sensitivity bound or cost-benefit
// figure (net present value, saldo, ratio) only when every cell it is derived from is released,
// and applies the covenant's rule for percentages of suppressed counts and its rounding; a PM
// cell (an effect not valued) holds no figure and is always shown. A perturbed release shows
// every count with the noise of the cell key method (cell_key.h) and percentages of those
// counts. Both carry the metadata every released table carries.
#ifndef KOPPEL_LINKER_ANALYSIS_RELEASE_H_
#define KOPPEL_LINKER_ANALYSIS_RELEASE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "core/civil_date.h"
#include "koppel/v1/analysis.pb.h"
#include "linker/analysis/analysis_result.h"
#include "linker/analysis/cell_key.h"
#include "linker/analysis/release_protection.h"
#include "policies/covenant.h"

namespace koppel::analysis {

struct ReleaseContext {
  std::string covenant_id;
  std::string analysis;
  std::string spec_sha256;
  std::string prices_sha256;
  std::string approved_analysis;  // exact releases: the covenant's entry the spec matched
  std::string recipient;
  std::vector<absl::CivilDay> reference_dates;
};

// The disclosure rules of a covenant's analysis policy, tightened by a spec's own min_cell.
DisclosureRules RulesOf(const policy::AnalysisPolicy& policy);

// The exact release of `result`, protected as `protection` decided.
absl::StatusOr<v1::Release> BuildRelease(const AnalysisResult& result,
                                         const ProtectedRelease& protection,
                                         const policy::AnalysisPolicy& policy,
                                         const ReleaseContext& context);

// The exact release of `result` protected on its own (no release history).
absl::StatusOr<v1::Release> ProtectAndRelease(const AnalysisResult& result,
                                              const policy::AnalysisPolicy& policy,
                                              const ReleaseContext& context);

// The perturbed release of `result` (cell key method): the cells `protection` suppressed shown
// as `*`; every other count perturbed with `table` by the record keys its atoms carry
// (EngineOptions::record_key), those that come out between 1 and min_cell - 1 shown as `*`;
// percentages computed from the perturbed counts. Suppression first, noise on top: noise alone
// can be averaged away over many cells that differ by the same few households.
// INVALID_ARGUMENT for a result with costs (magnitudes are not perturbed: exploratory specs may
// not have them).
absl::StatusOr<v1::Release> BuildPerturbedRelease(const AnalysisResult& result,
                                                  const ProtectedRelease& protection,
                                                  const PerturbationTable& table,
                                                  const policy::AnalysisPolicy& policy,
                                                  const ReleaseContext& context);

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_RELEASE_H_
