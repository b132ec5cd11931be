// Checks an analysis spec against what has been delivered under a covenant before anything
// runs: every attribute the spec reads must exist with a type that fits (a date for an address
// period, a category for codes, a number for bounds, ...), with the codes it filters on and a
// price for every code it prices by. A spec that does not fit is refused naming its file, line
// and column, so that it never releases tables of zeros.
#ifndef KOPPEL_LINKER_ANALYSIS_DELIVERY_CHECK_H_
#define KOPPEL_LINKER_ANALYSIS_DELIVERY_CHECK_H_

#include <string>

#include "absl/status/status.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/prices.h"
#include "linker/linker_store.h"

namespace koppel {

// INVALID_ARGUMENT "<spec>:<line>:<col>: <key path>: <what was delivered, what is needed>".
// The register must fit in every delivery run; another dataset in at least one (runs that do
// not fit are left out of the analysis and named in its warnings). Datasets nothing has been
// delivered for pass (the release warns about them).
absl::Status CheckSpecFitsDeliveries(const AnalysisSpec& spec, const PriceTable& prices,
                                     const LinkerStore& store, const std::string& covenant);

}  // namespace koppel

#endif  // KOPPEL_LINKER_ANALYSIS_DELIVERY_CHECK_H_
