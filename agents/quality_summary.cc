#include "agents/quality_summary.h"

#include <fmt/format.h>

#include "core/progress.h"

namespace koppel {

uint64_t QualitySummary::rejected_total() const {
  uint64_t total = 0;
  for (const auto& [reason, n] : rejected) total += n;
  return total;
}

nlohmann::json QualitySummary::ToJson() const {
  nlohmann::json j;
  j["dataset"] = dataset;
  j["rows"] = rows;
  j["valid"] = valid;
  j["duplicates"] = duplicates;
  j["rejected"] = nlohmann::json::object();
  for (const auto& [reason, n] : rejected) j["rejected"][std::string(RejectReasonName(reason))] = n;
  j["missing"] = nlohmann::json::object();
  for (const auto& [column, n] : missing) j["missing"][column] = n;
  return j;
}

std::string QualitySummary::ToText() const {
  std::string out = fmt::format("dataset     {}\nrows        {:>12}\nvalid       {:>12}\n"
                                "rejected    {:>12}\nduplicates  {:>12}\n",
                                dataset, WithThousands(rows), WithThousands(valid),
                                WithThousands(rejected_total()), WithThousands(duplicates));
  if (!rejected.empty()) {
    out += "rejected by reason:\n";
    for (const auto& [reason, n] : rejected) {
      out += fmt::format("  {:<26} {:>10}  {}\n", RejectReasonName(reason), WithThousands(n),
                         RejectReasonText(reason));
    }
  }
  out += "missing values by column:\n";
  for (const auto& [column, n] : missing) {
    out += fmt::format("  {:<26} {:>10}\n", column, WithThousands(n));
  }
  return out;
}

}  // namespace koppel
