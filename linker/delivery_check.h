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

namespace koppel::linker {

// INVALID_ARGUMENT "<spec>:<line>:<col>: <key path>: <what was delivered, what is needed>".
// The register must fit in every delivery run, and for a snapshot register every run's period
// must end on the snapshot date; another dataset in at least one (runs of another type are left
// out of the analysis and named in its warnings, but a run that lacks a code the spec filters
// on or has a code it prices by without a price refuses the spec). Datasets nothing has been
// delivered for pass (the release warns about them).
absl::Status CheckSpecFitsDeliveries(const analysis::AnalysisSpec& spec,
                                     const analysis::PriceTable& prices, const LinkerStore& store,
                                     const std::string& covenant);

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_ANALYSIS_DELIVERY_CHECK_H_
