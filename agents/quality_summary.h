// The data-quality summary of one pass over an export (docs/agent.md): counts only, never an
// identifier or a value, so it can be printed, logged and sent anywhere.
#ifndef KOPPEL_AGENTS_QUALITY_SUMMARY_H_
#define KOPPEL_AGENTS_QUALITY_SUMMARY_H_

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/reject_reason.h"

namespace koppel {

struct QualitySummary {
  std::string dataset;
  uint64_t rows = 0;
  uint64_t valid = 0;
  uint64_t duplicates = 0;
  std::map<RejectReason, uint64_t> rejected;
  std::map<std::string, uint64_t> missing;  // mapped column header -> empty cells

  uint64_t rejected_total() const;
  nlohmann::json ToJson() const;
  std::string ToText() const;
};

}  // namespace koppel

#endif  // KOPPEL_AGENTS_QUALITY_SUMMARY_H_
