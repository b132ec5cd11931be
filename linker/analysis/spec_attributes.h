// The attributes an analysis spec reads, with the types that fit each use: what the linker
// checks against every delivery run's attribute schema before an analysis runs (a register
// date delivered as an integer would otherwise count nobody), and what the engine checks per
// run while it reads.
#ifndef KOPPEL_LINKER_ANALYSIS_SPEC_ATTRIBUTES_H_
#define KOPPEL_LINKER_ANALYSIS_SPEC_ATTRIBUTES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "koppel/v1/batch.pb.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/prices.h"

namespace koppel::analysis {

struct AttributeUse {
  std::string dataset;
  std::string attribute;
  std::string path;                          // the key path in the spec (AnalysisSpec::Where)
  std::vector<v1::AttributeType> types;      // the types that fit
  const AttributeFilter* filter = nullptr;   // codes filters: the codes must be delivered
  const CostItemSpec* price_by = nullptr;    // price_by: every code that counts needs a price
  const IndicatorSpec* indicator = nullptr;  // whose filters narrow the codes priced
};

// Every attribute the spec reads, register uses first.
std::vector<AttributeUse> AttributeUsesOf(const AnalysisSpec& spec);

// "a date", "an integer or an amount", ...
std::string TypeNames(const std::vector<v1::AttributeType>& types);
std::string TypeName(v1::AttributeType type);

// Whether `schema` (the attribute `use` names, as one delivery run has it) fits the use. Errors
// say what was delivered and what the spec needs (no location; callers add it).
//
// The type: FAILED_PRECONDITION when the run delivers another type (such a run can be left out).
absl::Status CheckAttributeType(const AttributeUse& use, const v1::AttributeSchema& schema);

// The codes: INVALID_ARGUMENT when a code the spec filters on is not delivered, or a delivered
// code that counts has no price in `prices` (price_by). A run that fits but for its codes is
// never left out: its records would silently count for nothing.
absl::Status CheckAttributeCodes(const AttributeUse& use, const v1::AttributeSchema& schema,
                                 const PriceTable& prices);

// Both.
absl::Status CheckAttributeUse(const AttributeUse& use, const v1::AttributeSchema& schema,
                               const PriceTable& prices);

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_SPEC_ATTRIBUTES_H_
