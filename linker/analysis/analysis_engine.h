// Runs an analysis spec over the records a linker holds for one covenant (ARCHITECTURE sections
// 4-5). The planner (analysis_planner.h) compiles the spec and its prices into what to read and
// compute; the scanner (analysis_scanner.h) walks the records, the person-keyed datasets
// together in one ordered merge scan and the address-keyed ones after them, on every core at
// once from one snapshot, and rolls every person's indicators up into their household on each
// reference date; the table builder (result_builder.h) groups the households into atoms (area,
// household type, exact indicator pattern) from which every table cell is summed, so that
// disclosure control sees the exact linear structure. The result does not depend on the number
// of token ranges scanned at once.
#ifndef KOPPEL_LINKER_ANALYSIS_ANALYSIS_ENGINE_H_
#define KOPPEL_LINKER_ANALYSIS_ANALYSIS_ENGINE_H_

#include "absl/status/statusor.h"
#include "linker/analysis/analysis_result.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/engine_options.h"
#include "linker/analysis/prices.h"
#include "linker/analysis/record_source.h"

namespace koppel::analysis {

class AnalysisEngine {
 public:
  // `source`: the covenant's records (linker/store_record_source.h); it must outlive the engine.
  explicit AnalysisEngine(const RecordSource* source) : source_(source) {}

  // FAILED_PRECONDITION when the spec needs a dataset or attribute the linker does not hold
  // (naming it), INVALID_ARGUMENT when the spec and the prices file or the delivered codes
  // disagree.
  absl::StatusOr<AnalysisResult> Run(const AnalysisSpec& spec, const PriceTable& prices,
                                     const EngineOptions& options = {}) const;

 private:
  const RecordSource* source_;
};

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_ANALYSIS_ENGINE_H_
