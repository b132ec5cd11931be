// A covenant as the services enforce it today: its id, the parties by certificate identity,
// their roles, the datasets each data holder may deliver, and the key each agent signs with.
// The full signed covenant of ARCHITECTURE section 6 (issue #5) extends this file format.
#ifndef KOPPEL_POLICIES_COVENANT_H_
#define KOPPEL_POLICIES_COVENANT_H_

#include <filesystem>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace koppel {

struct CovenantParty {
  std::string name;                  // certificate common name
  std::set<std::string> roles;       // data_holder, linker, vault, research_unit, privacy_officer
  std::set<std::string> datasets;    // for a data holder: what it may deliver
  std::string signing_public_key;    // for a data holder: its agent's Ed25519 key, hex
};

struct Covenant;

// What the research unit may get out of the linker (ARCHITECTURE section 5): who may query,
// which dimensions and measures a table may use, and the disclosure settings every release
// is protected with. A spec may ask for stricter settings, never weaker ones.
struct AnalysisPolicy {
  std::set<std::string> recipients;  // parties that may query; empty: every research_unit party
  std::set<std::string> dimensions = {"area", "household_type"};
  std::set<std::string> measures = {"count", "percent", "cost"};
  int64_t min_cell = 10;
  int dominance_n = 1;
  double dominance_k = 0.8;
  bool secondary_suppression = true;
  // Percentages of suppressed counts: "star" shows `*`; "as_if:N" computes them as if the count
  // were N (the Almelo study's practice, N = 5) when only the count itself is too small.
  std::string suppressed_percent = "star";
  int64_t rounding_base = 0;  // 0: no rounding; otherwise counts rounded to a multiple
  std::optional<double> max_contribution_eur;  // contribution bounding of sums, per household

  // OK when `party` may receive releases.
  absl::Status MayQuery(const Covenant& covenant, std::string_view party) const;
};

struct Covenant {
  std::string id;
  std::string token_mode = "hmac";  // hmac | oprf
  uint64_t oprf_quota = 50'000'000; // OPRF evaluations per agent per vault run
  std::map<std::string, CovenantParty, std::less<>> parties;
  AnalysisPolicy analysis;

  // OK when `party` is a data holder listed for `dataset` and signs with `signer_key_hex`;
  // otherwise PERMISSION_DENIED naming the rule that refuses it.
  absl::Status MayDeliver(std::string_view party, std::string_view dataset,
                          std::string_view signer_key_hex) const;

  // OK when `party` is a data holder of this covenant (the parties that may obtain tokens).
  absl::Status MayTokenise(std::string_view party) const;

  // OK when `party` has `role` in this covenant; otherwise PERMISSION_DENIED naming the rule.
  absl::Status HasRole(std::string_view party, std::string_view role) const;
};

absl::StatusOr<Covenant> LoadCovenant(const std::filesystem::path& path);
absl::StatusOr<Covenant> ParseCovenant(std::string_view yaml, std::string_view source_name);

}  // namespace koppel

#endif  // KOPPEL_POLICIES_COVENANT_H_
