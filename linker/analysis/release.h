// Turns an analysis result into the release the recipient receives (ARCHITECTURE section 5):
// protects both linear systems with the covenant's disclosure settings, shows suppressed cells
// as `*`, releases a percentage, mean or sensitivity bound only when every cell it is derived
// from is released, applies the covenant's rule for percentages of suppressed counts and its
// rounding, and attaches the metadata every released table carries.
#ifndef KOPPEL_LINKER_ANALYSIS_RELEASE_H_
#define KOPPEL_LINKER_ANALYSIS_RELEASE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "koppel/v1/analysis.pb.h"
#include "linker/analysis/analysis_result.h"
#include "policies/covenant.h"

namespace koppel {

struct ReleaseContext {
  std::string covenant_id;
  std::string analysis;
  std::string spec_sha256;
  std::string recipient;
  std::vector<std::string> reference_dates;  // ISO
};

// The disclosure rules of a covenant's analysis policy, tightened by a spec's own min_cell.
DisclosureRules RulesOf(const AnalysisPolicy& policy);

absl::StatusOr<v1::Release> ProtectAndRelease(const AnalysisResult& result,
                                              const AnalysisPolicy& policy,
                                              const ReleaseContext& context);

}  // namespace koppel

#endif  // KOPPEL_LINKER_ANALYSIS_RELEASE_H_
