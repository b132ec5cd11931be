// What a household is on a reference date besides its indicators: its household type and the
// spec's derived flags. Shared by the table builder's atoms (result_builder.h) and the
// cost-benefit cohort's cells (cohort_windows.h), so that both classify a household alike.
#ifndef KOPPEL_LINKER_ANALYSIS_HOUSEHOLD_CLASS_H_
#define KOPPEL_LINKER_ANALYSIS_HOUSEHOLD_CLASS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/households.h"

namespace koppel::analysis {

// The first of the spec's household types whose ranges hold both counts; the number of types
// (a type of its own) when none does.
inline uint16_t HouseholdTypeOf(const AnalysisSpec& spec, int adults, int children) {
  for (size_t t = 0; t < spec.household_types.size(); ++t) {
    const HouseholdTypeSpec& type = spec.household_types[t];
    if (adults >= type.adults.min && adults <= type.adults.max && children >= type.children.min &&
        children <= type.children.max) {
      return static_cast<uint16_t>(t);
    }
  }
  return static_cast<uint16_t>(spec.household_types.size());
}

// Indicator and flag names -> (is a flag, index).
using Operands = std::map<std::string, std::pair<bool, size_t>>;

inline Operands OperandsOf(const AnalysisSpec& spec) {
  Operands operands;
  for (size_t i = 0; i < spec.indicators.size(); ++i)
    operands[spec.indicators[i].name] = {false, i};
  for (size_t f = 0; f < spec.flags.size(); ++f) operands[spec.flags[f].name] = {true, f};
  return operands;
}

template <size_t W>
bool HoldsOperand(const Operands& operands, const std::string& name,
                  const IndicatorBits<W>& indicators, const IndicatorBits<W>& flags) {
  auto [is_flag, index] = operands.at(name);
  return (is_flag ? flags : indicators).Test(index);
}

// The spec's flags that hold for an indicator pattern (each may use the flags before it).
template <size_t W>
IndicatorBits<W> FlagsOf(const AnalysisSpec& spec, const Operands& operands,
                         const IndicatorBits<W>& indicators) {
  IndicatorBits<W> flags;
  auto holds = [&](const std::string& name) {
    return HoldsOperand(operands, name, indicators, flags);
  };
  for (size_t f = 0; f < spec.flags.size(); ++f) {
    const FlagSpec& flag = spec.flags[f];
    bool all = true;
    for (const std::string& name : flag.all) all = all && holds(name);
    bool any = flag.any.empty();
    for (const std::string& name : flag.any) any = any || holds(name);
    bool none = true;
    for (const std::string& name : flag.none) none = none && !holds(name);
    if (all && any && none) flags.Set(f);
  }
  return flags;
}

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_HOUSEHOLD_CLASS_H_
