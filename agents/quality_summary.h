// The data-quality summary of one pass over an export (docs/agent.md): counts only, never an
// identifier or a value, so it can be printed, logged and sent anywhere.
#ifndef KOPPEL_AGENTS_QUALITY_SUMMARY_H_
#define KOPPEL_AGENTS_QUALITY_SUMMARY_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "core/reject_reason.h"

namespace koppel::agent {

struct QualitySummary {
  std::string dataset;
  std::string encoding;         // what the export was read as, e.g. "windows-1252"
  bool bom = false;             // it starts with a byte-order mark
  std::string encoding_reason;  // "declared in the mapping", or what auto found
  uint64_t rows = 0;
  uint64_t valid = 0;
  uint64_t duplicates = 0;
  std::map<RejectReason, uint64_t> rejected;
  std::map<std::string, uint64_t> missing;  // mapped column header -> empty cells

  uint64_t rejected_total() const;
  // FAILED_PRECONDITION when more than `max_percent` of the data rows, rounded up to whole rows,
  // were rejected (duplicates are not rejects), or when every data row was rejected, whatever
  // `max_percent` is: a broken export or mapping, not dirty data. Names the counts only.
  absl::Status CheckRejectRate(double max_percent) const;
  nlohmann::json ToJson() const;
  std::string ToText() const;
};

}  // namespace koppel::agent

#endif  // KOPPEL_AGENTS_QUALITY_SUMMARY_H_
