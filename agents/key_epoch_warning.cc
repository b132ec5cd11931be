#include "agents/key_epoch_warning.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace koppel::agent {

std::vector<std::string> KeyEpochWarnings(
    const v1::GetStatusResponse& status,
    const std::set<std::pair<std::string, std::string>>& delivered) {
  std::vector<std::string> warnings;
  for (const v1::DatasetStatus& s : status.datasets()) {
    if (!s.redeliver() || !delivered.contains({s.covenant_id(), s.dataset()})) continue;
    warnings.push_back(fmt::format(
        "covenant {}: the linker holds dataset '{}' only under key epoch(s) {}, but the "
        "covenant's newest key epoch is {}; analyses read the older epoch until every dataset is "
        "delivered under the newest. Seal the export again (it is tokenised under the vault's "
        "newest epoch) and send it",
        s.covenant_id(), s.dataset(), fmt::join(s.key_epochs(), ", "), s.newest_key_epoch()));
  }
  return warnings;
}

}  // namespace koppel::agent
