#include "policies/covenant_plan.h"

#include <fmt/format.h>

#include <map>

namespace koppel {

absl::StatusOr<CovenantPlan> PlanCovenants(const std::vector<std::filesystem::path>& files,
                                           CovenantLedger* ledger, absl::Time now) {
  std::map<std::string, SignedCovenant> newest;
  CovenantPlan plan;
  for (const std::filesystem::path& file : files) {
    absl::StatusOr<SignedCovenant> loaded = LoadSignedCovenant(file);
    if (!loaded.ok()) return loaded.status();
    const std::string id = loaded->covenant.id;
    auto it = newest.find(id);
    if (it == newest.end()) {
      newest.emplace(id, std::move(*loaded));
      continue;
    }
    const uint32_t held = it->second.covenant.version, got = loaded->covenant.version;
    if (held == got) {
      return absl::InvalidArgumentError(fmt::format(
          "{} and {} are both version {} of covenant {}; give each version once",
          it->second.path.string(), file.string(), got, id));
    }
    plan.notes.push_back(fmt::format("covenant {} version {} is superseded by version {}", id,
                                     std::min(held, got), std::max(held, got)));
    if (got > held) it->second = std::move(*loaded);
  }
  for (auto& [id, signed_covenant] : newest) {
    std::optional<CovenantLedger::Entry> entry = ledger->Find(id);
    if (entry.has_value() && !entry->ended_at.empty()) {
      plan.notes.push_back(fmt::format("covenant {} ended at {} ({}); not served", id,
                                       entry->ended_at, entry->end_reason));
      continue;
    }
    const Covenant& c = signed_covenant.covenant;
    if (absl::Status s = ledger->Admit(id, c.version, signed_covenant.sha256); !s.ok()) return s;
    if (now >= c.RetentionEndsAt()) {
      plan.end.push_back(std::move(signed_covenant));
    } else {
      plan.serve.push_back(std::move(signed_covenant));
    }
  }
  return plan;
}

}  // namespace koppel
