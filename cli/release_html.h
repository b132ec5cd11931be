// The release as one self-contained HTML report for people to read and print (docs/query.md):
// the release metadata on the first page, then every released table, and next to a table a
// chart drawn as inline SVG where a picture reads better (per-area shares against the total,
// the overlap of problem domains, costs stacked by item or payer, year-on-year pairs,
// sensitivity ranges). A suppressed cell is marked in tables and charts and never drawn at any
// value.
#ifndef KOPPEL_CLI_RELEASE_HTML_H_
#define KOPPEL_CLI_RELEASE_HTML_H_

#include <string>

#include "koppel/v1/analysis.pb.h"
#include "linker/analysis/analysis_spec.h"

namespace koppel {

// The report. `spec` is the analysis spec the release answers (the one sent with the query); it
// tells which charts fit which table. Without it (nullptr) the report has the tables only.
std::string ReleaseToHtml(const v1::Release& release, const analysis::AnalysisSpec* spec);

}  // namespace koppel

#endif  // KOPPEL_CLI_RELEASE_HTML_H_
