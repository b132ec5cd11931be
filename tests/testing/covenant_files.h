// Signed covenants for tests: officers with fresh keys, a covenant's YAML built from a few
// parts with sensible defaults, and the file plus its .sig written in one call, e.g.
//   TestOfficer po = TestOfficer::Create("po-almelo");
//   TestCovenant c{.id = "test", .officers = {&po}, .parties = TestParty::Services()};
//   c.parties.push_back(TestParty::DataHolder("agent-brp", agent_key_hex, {brp}));
//   c.analysis_yaml = "recipients: [research-unit]\n" + ApprovedYaml({{"almelo-mpg", spec}});
//   ASSERT_TRUE(WriteSignedCovenant(dir / "covenant.yaml", c.Yaml(), {&po}).ok());
#ifndef KOPPEL_TESTS_TESTING_COVENANT_FILES_H_
#define KOPPEL_TESTS_TESTING_COVENANT_FILES_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/secret.h"

namespace koppel::test {

// A privacy officer with a fresh Ed25519 key pair.
struct TestOfficer {
  std::string name;
  std::string organisation;
  Secret secret_key;       // 64-byte crypto_sign secret key
  std::string public_hex;  // 32-byte public key, hex

  // Aborts the test binary when libsodium cannot make a key (it never should).
  static TestOfficer Create(std::string name, std::string organisation = "");

  // dir/<name>.key (secret, mode 600) and dir/<name>.key.pub, as `koppel policy keygen` writes
  // them. Refuses to overwrite.
  absl::Status WriteKeyFiles(const std::filesystem::path& dir) const;
  std::filesystem::path KeyFile(const std::filesystem::path& dir) const {
    return dir / (name + ".key");
  }
};

// A dataset grant: identifier kinds (bsn, address) and mapping attribute names.
struct TestDataset {
  std::string name;
  std::vector<std::string> identifiers;
  std::vector<std::string> fields;
};

struct TestParty {
  std::string name;
  std::vector<std::string> roles;
  std::string officer;          // empty: the covenant's first officer
  std::string signing_key_hex;  // data holders; empty: a fresh random key
  std::vector<TestDataset> datasets;

  static TestParty DataHolder(std::string name, std::string signing_key_hex,
                              std::vector<TestDataset> datasets);
  // A party with one role that delivers nothing (linker, vault, research_unit).
  static TestParty Service(std::string name, std::string role);
  // linker (linker), vault (vault) and research-unit (research_unit): the services every
  // covenant needs besides its data holders.
  static std::vector<TestParty> Services();
};

// A covenant's YAML from parts. Defaults: valid from yesterday for a year, retention 0, no
// rotation, hmac tokens, the first officer signing for every party without one.
struct TestCovenant {
  std::string id = "test-covenant";
  uint32_t version = 1;
  std::string title = "A covenant for tests";
  std::string token_mode = "hmac";
  std::string valid_from;   // yyyy-mm-dd; empty: yesterday (UTC)
  std::string valid_until;  // yyyy-mm-dd; empty: a year after today (UTC)
  int64_t retention_days_after_end = 0;
  int64_t key_rotation_days = 0;
  std::optional<int64_t> key_rotation_grace_days;  // none: not written (the default applies)
  std::vector<const TestOfficer*> officers;
  std::vector<TestParty> parties;
  std::string analysis_yaml;  // the `analysis:` block's body (indented or not), or empty
  std::string releases_yaml;  // the `purpose_bound_releases:` list, or empty

  std::string Yaml() const;
};

// An analysis a covenant approves for exact release (ApprovedYaml).
struct TestApproval {
  std::string name;              // the spec's `analysis:`
  std::filesystem::path spec;    // written into the covenant as given
  std::filesystem::path prices;  // empty: the spec has no prices file
};

// The `approved:` key of an analysis section (unindented, as TestCovenant::analysis_yaml takes
// it): one entry per approval, its files pinned by the SHA-256 of their bytes as they are now.
// Aborts the test binary when a file cannot be read.
std::string ApprovedYaml(const std::vector<TestApproval>& approvals);

// The grant of the dataset that `mapping_yaml` (an agent mapping file) describes: its
// identifier kinds and attribute names.
absl::StatusOr<TestDataset> DatasetFromMapping(const std::filesystem::path& mapping_yaml);

// Writes `yaml` to `path` and its .sig signed by each of `officers` in turn.
absl::Status WriteSignedCovenant(const std::filesystem::path& path, const std::string& yaml,
                                 const std::vector<const TestOfficer*>& officers);

// A day relative to today (UTC) as yyyy-mm-dd: DaysFromToday(-1) is yesterday.
std::string DaysFromToday(int days);

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_COVENANT_FILES_H_
