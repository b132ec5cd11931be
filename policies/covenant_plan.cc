#include "policies/covenant_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_join.h"

namespace koppel::policy {

absl::StatusOr<CovenantPlan> PlanCovenants(const std::vector<std::filesystem::path>& files,
                                           CovenantLedger* ledger, absl::Time now) {
  std::map<std::string, std::vector<SignedCovenant>> versions;
  for (const std::filesystem::path& file : files) {
    absl::StatusOr<SignedCovenant> loaded = LoadSignedCovenant(file);
    if (!loaded.ok()) return loaded.status();
    std::vector<SignedCovenant>& same_id = versions[loaded->covenant.id];
    for (const SignedCovenant& other : same_id) {
      if (other.covenant.version == loaded->covenant.version) {
        return absl::InvalidArgumentError(fmt::format(
            "{} and {} are both version {} of covenant {}; give each version once",
            other.path.string(), file.string(), other.covenant.version, other.covenant.id));
      }
    }
    same_id.push_back(std::move(*loaded));
  }
  CovenantPlan plan;
  // Per id the newest version that has started; a newer one that starts later waits (its
  // service takes it up when restarted after its valid_from).
  std::map<std::string, SignedCovenant> newest;
  for (auto& [id, same_id] : versions) {
    std::sort(same_id.begin(), same_id.end(), [](const SignedCovenant& a, const SignedCovenant& b) {
      return a.covenant.version > b.covenant.version;
    });
    size_t chosen = 0;
    while (chosen + 1 < same_id.size() && same_id[chosen].covenant.StartsAt() > now) ++chosen;
    for (size_t i = 0; i < same_id.size(); ++i) {
      if (i < chosen) {
        plan.notes.push_back(fmt::format(
            "covenant {} version {} starts on {}; version {} is served until then (restart the "
            "service after that day)",
            id, same_id[i].covenant.version, absl::FormatCivilTime(same_id[i].covenant.valid_from),
            same_id[chosen].covenant.version));
      } else if (i > chosen) {
        plan.notes.push_back(fmt::format("covenant {} version {} is superseded by version {}", id,
                                         same_id[i].covenant.version,
                                         same_id[chosen].covenant.version));
      }
    }
    newest.emplace(id, std::move(same_id[chosen]));
  }
  for (auto& [id, signed_covenant] : newest) {
    std::optional<CovenantLedger::Entry> entry;
    if (ledger != nullptr) entry = ledger->Find(id);
    if (entry.has_value() && !entry->ended_at.empty()) {
      plan.notes.push_back(fmt::format("covenant {} ended at {} ({}); not served", id,
                                       entry->ended_at, entry->end_reason));
      continue;
    }
    const Covenant& c = signed_covenant.covenant;
    std::vector<std::string> officers;
    for (const auto& [name, officer] : c.privacy_officers) officers.push_back(officer.public_key);
    if (ledger != nullptr) {
      if (absl::Status s = ledger->Admit(id, c.version, signed_covenant.sha256, officers);
          !s.ok()) {
        return s;
      }
    }
    if (now >= c.RetentionEndsAt()) {
      plan.end.push_back(std::move(signed_covenant));
    } else {
      plan.serve.push_back(std::move(signed_covenant));
    }
  }
  return plan;
}

PlanSummary SummarizeForCheck(const CovenantPlan& plan, std::string_view on_end) {
  std::vector<std::string> served;
  for (const SignedCovenant& c : plan.serve) {
    served.push_back(fmt::format("{} version {}", c.covenant.id, c.covenant.version));
  }
  PlanSummary summary;
  summary.serves =
      fmt::format("serves {} covenant(s): {}", served.size(), absl::StrJoin(served, ", "));
  for (const std::string& note : plan.notes) summary.lines.push_back("note: " + note);
  for (const SignedCovenant& c : plan.end) {
    summary.lines.push_back(fmt::format(
        "warning: covenant {} version {} is past its retention period: a start ends it ({})",
        c.covenant.id, c.covenant.version, on_end));
  }
  return summary;
}

}  // namespace koppel::policy
