// A covenant (ARCHITECTURE section 6): what may be linked, by whom, for what and until when.
// It names the parties by certificate identity with their roles, purpose and legal basis; the
// datasets each data holder may deliver with their fields and identifier kinds; the token mode;
// the analyses and output shapes the research unit may receive and with which disclosure
// settings; the purpose-bound releases; validity, retention and key rotation. The privacy
// officers sign it (covenant_signature.h); services enforce it through the checks below, each of
// which refuses with PERMISSION_DENIED naming the rule.
#ifndef KOPPEL_POLICIES_COVENANT_H_
#define KOPPEL_POLICIES_COVENANT_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace koppel::policy {

struct Covenant;

// A dataset a data holder may deliver: the identifier kinds its records carry ("bsn",
// "address") and the attribute fields (the mapping's attribute names) it may contain.
struct DatasetGrant {
  std::string name;
  std::set<std::string> identifiers;
  std::set<std::string> fields;
};

struct CovenantParty {
  std::string name;             // certificate common name: the party's identity
  std::string organisation;     // who the party is, for people reading the covenant
  std::set<std::string> roles;  // data_holder, linker, vault, research_unit, privacy_officer
  std::string privacy_officer;  // name of the officer (privacy_officers) who signs for it
  std::string purpose;          // why this party takes part
  std::string legal_basis;      // e.g. "AVG art. 6(1)(e); Jeugdwet art. 7.4.4"
  std::map<std::string, DatasetGrant, std::less<>> datasets;  // data holders: what they deliver
  std::string signing_public_key;  // data holders: the agent's Ed25519 batch key, hex
};

// A privacy officer who signs the covenant for one or more parties.
struct PrivacyOfficer {
  std::string name;
  std::string organisation;
  std::string public_key;  // Ed25519, hex (64 characters)
};

// An analysis the officers approved for exact release: the spec (and its prices file) pinned
// by SHA-256 of the files' exact bytes.
struct ApprovedAnalysis {
  std::string name;           // the spec's `analysis:` name
  std::string spec_path;      // as written in the covenant, relative to the covenant file
  std::string spec_sha256;    // lowercase hex
  std::string prices_path;    // empty: the spec has no prices file
  std::string prices_sha256;  // lowercase hex, empty iff prices_path is
};

// What happens to a spec that is not approved: refused, or released with consistent
// perturbation (the cell key method, ARCHITECTURE section 5).
enum class ExploratoryMode { kRefuse, kPerturb };

struct PerturbationSetting {
  std::string table = "default";  // "default" or a path relative to the covenant file
  std::string table_sha256;       // lowercase hex, for a path
};

// What the research unit may get out of the linker (ARCHITECTURE section 5): who may query,
// which analyses are released exactly (approved by digest) and what happens to other specs,
// table kinds, dimensions and measures, and the disclosure settings every release is protected
// with. A spec may ask for stricter settings, never weaker ones.
struct AnalysisPolicy {
  std::set<std::string> recipients;  // parties that may query; empty: every research_unit party
  std::vector<ApprovedAnalysis> approved;  // names unique
  ExploratoryMode exploratory = ExploratoryMode::kRefuse;
  PerturbationSetting perturbation;  // exploratory kPerturb only
  // cost_benefit is granted only by name: a covenant signed before it existed does not allow it.
  std::set<std::string> table_kinds = {"counts", "overlap", "costs", "sensitivity"};
  std::set<std::string> dimensions = {"area", "household_type"};
  std::set<std::string> measures = {"count", "percent", "cost"};
  int64_t min_cell = 10;
  int dominance_n = 1;
  double dominance_k = 0.8;
  bool secondary_suppression = true;
  // Percentages of suppressed counts: "star" shows `*`; "as_if:N" computes them as if the count
  // were N (the Almelo study's practice, N = 5) when only the count itself is too small.
  std::string suppressed_percent = "star";
  // The N of an "as_if:N" suppressed_percent (digits only, N >= 1); nullopt for "star" and
  // anything else. The one reader of the rule: the parser checks with it, the release uses it.
  std::optional<int64_t> SuppressedPercentAsIf() const;
  int64_t rounding_base = 0;  // 0: no rounding; otherwise counts rounded to a multiple
  std::optional<double> max_contribution_eur;  // contribution bounding of sums, per household
  // The release budget for repeated queries: at most this many releases over the covenant's
  // life (0: unlimited). Every release spends one, refused or not it is audited.
  int64_t max_releases = 0;

  // OK when `party` may receive releases.
  absl::Status MayQuery(const Covenant& covenant, std::string_view party) const;

  // The approved analysis pinned by exactly these digests (prices_sha256 empty when the query
  // carries no prices file), or null.
  const ApprovedAnalysis* FindApproved(std::string_view spec_sha256,
                                       std::string_view prices_sha256) const;
};

// One flag of a purpose-bound release: "the person is also known in `dataset`".
struct ReleaseFlag {
  std::string name;     // e.g. known_at_jeugdzorg
  std::string dataset;  // the dataset whose records raise the flag
};

// Where a family-level release finds who lives with whom: the population register's dataset
// (with bsn and address identifiers) and its address period fields.
struct FamilyRegister {
  std::string dataset;       // e.g. brp
  std::string address_from;  // date field: first day at the address
  std::string address_to;    // date field: first day no longer there (empty: still there)
};

// A purpose-bound release (ARCHITECTURE section 5): `recipient` sends tokens of records it
// delivered itself in `dataset` and gets back, per record, only `flags`: for the person itself
// (unit "person"), or for anyone in the person's household on the day of the question (unit
// "household", via `family`).
struct PurposeBoundRelease {
  std::string name;       // e.g. who-else-involved
  std::string recipient;  // a data holder party
  std::string purpose;
  std::string legal_basis;
  std::string dataset;          // the recipient's own dataset; asked tokens must be in it
  std::string unit = "person";  // person | household
  FamilyRegister family;        // unit household only
  std::vector<ReleaseFlag> flags;
};

struct Covenant {
  std::string id;
  uint32_t version = 1;
  std::string title;
  absl::CivilDay valid_from;
  absl::CivilDay valid_until;            // inclusive
  int64_t retention_days_after_end = 0;  // data kept (read-only) after valid_until, then deleted
  int64_t key_rotation_days = 0;         // key_rotation.period_days; 0: no scheduled rotation
  // key_rotation.grace_days: how long after a rotation holders have to re-deliver under the new
  // key epoch, while the linker keeps the previous epoch's data. Below the period.
  int64_t key_rotation_grace_days = 0;
  std::string token_mode = "hmac";  // hmac | oprf
  // OPRF evaluations per agent and key epoch within any oprf_quota_window_days (a rolling
  // window: evaluations older than the window no longer count).
  uint64_t oprf_quota = 50'000'000;
  int64_t oprf_quota_window_days = 30;
  std::map<std::string, PrivacyOfficer, std::less<>> privacy_officers;
  std::map<std::string, CovenantParty, std::less<>> parties;
  AnalysisPolicy analysis;
  std::vector<PurposeBoundRelease> releases;

  // The start of the first day of validity, the end of the last (UTC).
  absl::Time StartsAt() const;
  absl::Time EndsAt() const;
  // When the linker deletes the data and the vault destroys the keys.
  absl::Time RetentionEndsAt() const;
  absl::Duration KeyRotationPeriod() const { return absl::Hours(24) * key_rotation_days; }
  absl::Duration KeyRotationGrace() const { return absl::Hours(24) * key_rotation_grace_days; }

  // OK when the covenant is in force at `now`; FAILED_PRECONDITION naming valid_from or
  // valid_until otherwise.
  absl::Status InForce(absl::Time now) const;

  // OK when `party` is a data holder listed for `dataset` and signs with `signer_key_hex`;
  // otherwise PERMISSION_DENIED naming the rule that refuses it.
  absl::Status MayDeliver(std::string_view party, std::string_view dataset,
                          std::string_view signer_key_hex) const;

  // OK when a batch of `dataset` from `party` carries only fields and identifier kinds its
  // grant allows; PERMISSION_DENIED naming parties[..].datasets[..].fields or .identifiers.
  absl::Status MayCarry(std::string_view party, std::string_view dataset,
                        const std::vector<std::string>& fields, bool has_bsn,
                        bool has_address) const;

  // OK when `party` is a data holder of this covenant (the parties that may obtain tokens).
  absl::Status MayTokenise(std::string_view party) const;

  // OK when `party` has `role` in this covenant; otherwise PERMISSION_DENIED naming the rule.
  absl::Status HasRole(std::string_view party, std::string_view role) const;

  // The release named `name` when `party` is its recipient and every flag in `flags` is one it
  // lists (empty: all of them); PERMISSION_DENIED naming purpose_bound_releases otherwise.
  absl::StatusOr<const PurposeBoundRelease*> MayReceiveRelease(
      std::string_view party, std::string_view name, const std::vector<std::string>& flags) const;
};

// key_rotation.grace_days when a covenant does not say: 30 days, at most half the period.
inline int64_t DefaultKeyRotationGraceDays(int64_t period_days) {
  return period_days / 2 < 30 ? period_days / 2 : 30;
}

struct CovenantParseOptions {
  // Accept keys and digests still written as placeholders (`<agent-brp.key.pub>`,
  // `<sha256:../analyses/almelo-mpg.yaml>`), kept as written: for `koppel policy explain` on a
  // template. Services never set this.
  bool allow_key_placeholders = false;
};

// Parses and validates a covenant. Errors read "<source>:<line>:<col>: <key path>: <problem>".
absl::StatusOr<Covenant> ParseCovenant(std::string_view yaml, std::string_view source_name,
                                       const CovenantParseOptions& options = {});
absl::StatusOr<Covenant> LoadCovenantFile(const std::filesystem::path& path,
                                          const CovenantParseOptions& options = {});

// True for a digest still written as a placeholder `<sha256:PATH>`.
bool IsDigestPlaceholder(std::string_view digest);

// A file the covenant pins by digest (an approved spec or prices file, a perturbation table),
// read from `path` as written in the covenant (relative to the directory of `covenant_file`):
// its bytes when their SHA-256 is `sha256` or `sha256` is a placeholder; NOT_FOUND when it
// cannot be read; FAILED_PRECONDITION naming both digests when it differs.
absl::StatusOr<std::string> ReadPinnedFile(const std::filesystem::path& covenant_file,
                                           std::string_view path, std::string_view sha256);

// A file the covenant pins: the rule that names it ("analysis.approved[x].spec"), its path as
// written (relative to the covenant file) and its digest.
struct PinnedFile {
  std::string rule;
  std::string path;
  std::string sha256;
};
std::vector<PinnedFile> PinnedFiles(const Covenant& covenant);

// Every pinned file that can be read relative to `covenant_file` but does not match its digest,
// in words (`koppel policy validate` and `verify` warn with them). Files that cannot be read
// are not reported: the covenant may have been moved without the specs.
std::vector<std::string> PinnedFileMismatches(const Covenant& covenant,
                                              const std::filesystem::path& covenant_file);

}  // namespace koppel::policy

#endif  // KOPPEL_POLICIES_COVENANT_H_
