// One streaming pass over an export: checks first that the whole file decodes in its encoding,
// then reads it with its mapping, judges every row, counts the data-quality summary, writes the
// reject report and hands each valid row to a sink (the sealer, or nothing for a dry run).
// Memory stays flat whatever the file size.
#ifndef KOPPEL_AGENTS_EXPORT_SCAN_H_
#define KOPPEL_AGENTS_EXPORT_SCAN_H_

#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agents/quality_summary.h"
#include "agents/reject_report.h"
#include "agents/row_judge.h"
#include "core/mapping.h"

namespace koppel::agent {

class ValidRowSink {
 public:
  virtual ~ValidRowSink() = default;
  // Called for every valid row in file order. May take row->values by swapping.
  virtual absl::Status Accept(JudgedRow* row) = 0;
};

struct ScanOptions {
  RejectReport* rejects = nullptr;  // optional
  ValidRowSink* sink = nullptr;     // optional
  bool progress = true;             // progress on stderr
  std::string label = "check";
  // When set, more than this percentage of rejected data rows fails the scan after the last
  // row (QualitySummary::CheckRejectRate); the sink has then seen the valid rows.
  std::optional<double> max_reject_percent;
};

// Errors: kNotFound when the export cannot be opened, kFailedPrecondition when it does not
// decode in its encoding (before any row reaches the sink), when its header does not fit the
// mapping or when the reject rate is exceeded, kDataLoss on a read error; a bad row is never an
// error.
absl::StatusOr<QualitySummary> ScanExport(const Mapping& mapping,
                                          const std::filesystem::path& input,
                                          const ScanOptions& options);

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_EXPORT_SCAN_H_
