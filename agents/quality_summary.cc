#include "agents/quality_summary.h"

#include <fmt/format.h>

#include <cmath>

#include "core/log_safe.h"
#include "core/progress.h"

namespace koppel::agent {

uint64_t QualitySummary::rejected_total() const {
  uint64_t total = 0;
  for (const auto& [reason, n] : rejected) total += n;
  return total;
}

absl::Status QualitySummary::CheckRejectRate(double max_percent) const {
  const uint64_t total = rejected_total();
  // The share is rounded up to whole rows: an export of 15 rows may have one bad row at 5%.
  const double allowed = std::ceil(max_percent * static_cast<double>(rows) / 100.0 - 1e-9);
  // Rounding up would let a tiny export through with no valid row at all: that always trips.
  const bool all_rejected = rows > 0 && valid == 0;
  if (static_cast<double>(total) <= allowed && !all_rejected) return absl::OkStatus();
  constexpr std::string_view kWhy =
      "that is a broken export or mapping (wrong columns, delimiter, date format or encoding?), "
      "not dirty data, so nothing is delivered whatever --allow-rejects says; see the reasons "
      "with --rejects FILE and fix the mapping or the export";
  if (all_rejected) {
    return absl::FailedPreconditionError(
        fmt::format("all {} data row(s) were rejected, whatever --max-reject-rate says: {}",
                    WithThousands(rows), kWhy));
  }
  return absl::FailedPreconditionError(fmt::format(
      "{} of {} data rows ({:.1f}%) were rejected, more than --max-reject-rate {}%: {}, and "
      "raise --max-reject-rate only if the export really is this dirty",
      WithThousands(total), WithThousands(rows),
      100.0 * static_cast<double>(total) / static_cast<double>(rows), max_percent, kWhy));
}

nlohmann::json QualitySummary::ToJson() const {
  nlohmann::json j;
  j["dataset"] = dataset;
  j["encoding"] = {{"name", encoding}, {"bom", bom}, {"reason", encoding_reason}};
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
  std::string out = fmt::format(
      "dataset     {}\nencoding    {}{} ({})\nrows        {:>12}\n"
      "valid       {:>12}\nrejected    {:>12}\nduplicates  {:>12}\n",
      dataset, encoding, bom && encoding != "utf-8-bom" ? " with BOM" : "", encoding_reason,
      WithThousands(rows), WithThousands(valid), WithThousands(rejected_total()),
      WithThousands(duplicates));
  if (!rejected.empty()) {
    out += "rejected by reason:\n";
    for (const auto& [reason, n] : rejected) {
      out += fmt::format("  {:<26} {:>10}  {}\n", RejectReasonName(reason), WithThousands(n),
                         RejectReasonText(reason));
    }
  }
  out += "missing values by column:\n";
  for (const auto& [column, n] : missing) {
    // Column names are the export's header cells: escaped, they cannot drive the terminal.
    out += fmt::format("  {:<26} {:>10}\n", DisplaySafe(column), WithThousands(n));
  }
  return out;
}

}  // namespace koppel::agent
