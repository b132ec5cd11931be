// What the analysis engine can hold, checked on a parsed spec: by `koppel query` before it
// connects (a spec error, not a covenant rule) and by the engine before it reads a record.
#ifndef KOPPEL_LINKER_ANALYSIS_ENGINE_LIMITS_H_
#define KOPPEL_LINKER_ANALYSIS_ENGINE_LIMITS_H_

#include <cstddef>

#include "absl/status/status.h"
#include "linker/analysis/analysis_spec.h"

namespace koppel::analysis {

struct EngineLimits {
  static constexpr size_t kIndicators = 512;  // bits of a household's indicator pattern
  static constexpr size_t kFlags = 512;
  static constexpr size_t kReferenceDates = 65535;  // 16-bit indices
  static constexpr size_t kHouseholdTypes = 65534;  // one more index means "no type"
  static constexpr size_t kCostGroups = 65535;  // cost items + payers + the total (+ cost-benefit)
  static constexpr size_t kAreas = 65535;       // area labels of the spec and the register
  // Outcomes and intervention costs of a cost-benefit spec: 16-bit indices (CohortEvent::what)
  // of which the last means a start.
  static constexpr size_t kCostBenefitMeasures = 65534;
};

// At most how many groups the cost-benefit tables sum over besides the cost items, the payers
// and the total (ResultBuilder); 0 without a cost_benefit section.
size_t CostBenefitGroups(const AnalysisSpec& spec);

// INVALID_ARGUMENT "<spec>:<line>:<col>: <key>: ..." naming the limit a spec exceeds.
absl::Status CheckEngineLimits(const AnalysisSpec& spec);

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_ENGINE_LIMITS_H_
