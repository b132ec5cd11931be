#include "policies/covenant.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "core/hex.h"
#include "policies/covenant_explain.h"
#include "policies/covenant_signature.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(KOPPEL_SOURCE_DIR) + "/" + relative, std::ios::binary);
  EXPECT_TRUE(in.good()) << relative;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every `<FILE.pub>` placeholder replaced by a fresh Ed25519 public key (one per file name), and
// every `<sha256:PATH>` by the SHA-256 of the source file `dir`/PATH, as `koppel policy
// fill-keys` does for a template in `dir` (relative to the source tree).
std::string FillKeys(const std::string& text, std::map<std::string, std::string>* keys = nullptr,
                     const std::string& dir = "policies") {
  EXPECT_EQ(sodium_init() < 0, false);
  std::map<std::string, std::string> made;
  const std::regex placeholder(R"(<([A-Za-z0-9._-]+\.pub)>|<sha256:([^<>\s]+)>)");
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), placeholder);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += text.substr(last, static_cast<size_t>(it->position()) - last);
    last = static_cast<size_t>(it->position() + it->length());
    if (!(*it)[1].matched) {
      out += policy::CovenantSha256Hex(ReadSource(dir + "/" + (*it)[2].str()));
      continue;
    }
    const std::string file = (*it)[1].str();
    if (!made.contains(file)) {
      std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk{};
      std::array<uint8_t, crypto_sign_SECRETKEYBYTES> sk{};
      crypto_sign_keypair(pk.data(), sk.data());
      made[file] = ToHex(pk);
    }
    out += made[file];
  }
  out += text.substr(last);
  if (keys != nullptr) *keys = made;
  return out;
}

// "line:col" (1-based) of the first occurrence of `needle` in `text`; when `needle` contains a
// '|', of the character after it (the '|' itself is not part of the text searched for).
std::string Pos(const std::string& text, const std::string& marked) {
  const size_t bar = marked.find('|');
  std::string needle = marked;
  if (bar != std::string::npos) needle.erase(bar, 1);
  size_t at = text.find(needle);
  if (at != std::string::npos && bar != std::string::npos) at += bar;
  EXPECT_NE(at, std::string::npos) << needle;
  if (at == std::string::npos) return "?";
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return fmt::format("{}:{}", line, at - line_start + 1);
}

// `text` with the single occurrence of `from` replaced by `to`.
std::string Replace(const std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << from << " occurs twice";
  if (at == std::string::npos) return text;
  std::string out = text;
  out.replace(at, from.size(), to);
  return out;
}

const std::string kKeyA(64, 'a');
const std::string kKeyB(64, 'b');
const std::string kKeyBrp(64, 'c');
const std::string kKeyPolitie(64, 'd');
const std::string kKeyWoning(64, 'e');
const std::string kSpecSha(64, '1');
const std::string kPricesSha(64, '2');

// A small valid covenant; the malformed ones below are edits of it.
const std::string kBase =
    fmt::format(R"(id: test
version: 3
title: A covenant for tests
valid_from: 2026-01-01
valid_until: 2026-12-31
retention:
  days_after_end: 10
key_rotation:
  period_days: 30
token_mode: hmac
privacy_officers:
  - name: po-a
    organisation: Org A
    public_key: {}
  - name: po-b
    organisation: Org B
    public_key: {}
parties:
  - name: agent-brp
    organisation: Burgerzaken
    roles: [data_holder]
    privacy_officer: po-a
    purpose: deliver the register
    legal_basis: AVG art. 6(1)(e)
    signing_key: {}
    datasets:
      - name: brp
        identifiers: [bsn, address]
        fields: [geboortedatum, wijk]
  - name: agent-politie
    organisation: Politie
    roles: [data_holder]
    privacy_officer: po-b
    purpose: deliver suspects
    legal_basis: Wpg art. 22
    signing_key: {}
    datasets:
      - name: politie
        identifiers:
          - bsn
        fields: [feit]
  - name: agent-woning
    organisation: Woningcorporatie
    roles: [data_holder]
    privacy_officer: po-b
    purpose: deliver signals
    legal_basis: AVG art. 6(1)(f)
    signing_key: {}
    datasets:
      - name: woning
        identifiers: [address]
        fields: []
  - name: linker
    organisation: TTP
    roles: [linker, vault]
    privacy_officer: po-a
    purpose: link
    legal_basis: AVG art. 28
  - name: research-unit
    organisation: Onderzoek en Statistiek
    roles: [research_unit]
    privacy_officer: po-a
    purpose: receive tables
    legal_basis: AVG art. 89
  - name: other-unit
    organisation: Another research unit
    roles: [research_unit]
    privacy_officer: po-a
    purpose: receive nothing
    legal_basis: none needed
analysis:
  recipients: [research-unit]
  approved:
    - name: almelo-mpg
      spec: ../analyses/almelo-mpg.yaml
      sha256: {}
      prices: ../prices/unit_costs_2014.csv
      prices_sha256: {}
  disclosure:
    min_cell: 10
    max_releases: 5
purpose_bound_releases:
  - name: who-else
    recipient: agent-brp
    purpose: signal
    legal_basis: test basis
    dataset: brp
    flags:
      - {{name: known_at_politie, dataset: politie}}
)",
                kKeyA, kKeyB, kKeyBrp, kKeyPolitie, kKeyWoning, kSpecSha, kPricesSha);

absl::StatusOr<policy::Covenant> Parse(const std::string& text,
                                       policy::CovenantParseOptions options = {}) {
  return policy::ParseCovenant(text, "c.yaml", options);
}

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<policy::Covenant> c = Parse(text);
  EXPECT_FALSE(c.ok());
  if (c.ok()) return "(parsed)";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

policy::Covenant Base() {
  absl::StatusOr<policy::Covenant> c = Parse(kBase);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : policy::Covenant{};
}

TEST(CovenantParseTest, ParsesEveryKey) {
  const policy::Covenant c = Base();
  EXPECT_EQ(c.id, "test");
  EXPECT_EQ(c.version, 3u);
  EXPECT_EQ(c.title, "A covenant for tests");
  EXPECT_EQ(c.valid_from, absl::CivilDay(2026, 1, 1));
  EXPECT_EQ(c.valid_until, absl::CivilDay(2026, 12, 31));
  EXPECT_EQ(c.retention_days_after_end, 10);
  EXPECT_EQ(c.key_rotation_days, 30);
  EXPECT_EQ(c.key_rotation_grace_days, 15) << "by default 30 days, at most half the period";
  EXPECT_EQ(c.token_mode, "hmac");
  EXPECT_EQ(c.oprf_quota, 50'000'000u);
  EXPECT_EQ(c.oprf_quota_window_days, 30);
  ASSERT_EQ(c.privacy_officers.size(), 2u);
  EXPECT_EQ(c.privacy_officers.at("po-b").organisation, "Org B");
  EXPECT_EQ(c.privacy_officers.at("po-b").public_key, kKeyB);
  ASSERT_EQ(c.parties.size(), 6u);
  const policy::CovenantParty& brp = c.parties.at("agent-brp");
  EXPECT_EQ(brp.organisation, "Burgerzaken");
  EXPECT_EQ(brp.roles, std::set<std::string>{"data_holder"});
  EXPECT_EQ(brp.privacy_officer, "po-a");
  EXPECT_EQ(brp.purpose, "deliver the register");
  EXPECT_EQ(brp.legal_basis, "AVG art. 6(1)(e)");
  EXPECT_EQ(brp.signing_public_key, kKeyBrp);
  EXPECT_EQ(brp.datasets.at("brp").identifiers, (std::set<std::string>{"address", "bsn"}));
  EXPECT_EQ(brp.datasets.at("brp").fields, (std::set<std::string>{"geboortedatum", "wijk"}));
  EXPECT_TRUE(c.parties.at("agent-woning").datasets.at("woning").fields.empty());
  EXPECT_EQ(c.parties.at("linker").roles, (std::set<std::string>{"linker", "vault"}));
  EXPECT_TRUE(c.parties.at("linker").datasets.empty());
  EXPECT_EQ(c.analysis.recipients, std::set<std::string>{"research-unit"});
  ASSERT_EQ(c.analysis.approved.size(), 1u);
  const policy::ApprovedAnalysis& approved = c.analysis.approved[0];
  EXPECT_EQ(approved.name, "almelo-mpg");
  EXPECT_EQ(approved.spec_path, "../analyses/almelo-mpg.yaml");
  EXPECT_EQ(approved.spec_sha256, kSpecSha);
  EXPECT_EQ(approved.prices_path, "../prices/unit_costs_2014.csv");
  EXPECT_EQ(approved.prices_sha256, kPricesSha);
  EXPECT_EQ(c.analysis.exploratory, policy::ExploratoryMode::kRefuse);  // the default
  EXPECT_EQ(c.analysis.perturbation.table, "default");
  EXPECT_TRUE(c.analysis.perturbation.table_sha256.empty());
  EXPECT_EQ(c.analysis.table_kinds.size(), 4u);  // defaults: cost_benefit only by name
  EXPECT_FALSE(c.analysis.table_kinds.contains("cost_benefit"));
  EXPECT_EQ(c.analysis.dimensions.size(), 2u);
  EXPECT_EQ(c.analysis.measures.size(), 3u);
  EXPECT_EQ(c.analysis.min_cell, 10);
  EXPECT_EQ(c.analysis.max_releases, 5);
  ASSERT_EQ(c.releases.size(), 1u);
  EXPECT_EQ(c.releases[0].name, "who-else");
  EXPECT_EQ(c.releases[0].recipient, "agent-brp");
  EXPECT_EQ(c.releases[0].purpose, "signal");
  EXPECT_EQ(c.releases[0].legal_basis, "test basis");
  EXPECT_EQ(c.releases[0].dataset, "brp");
  ASSERT_EQ(c.releases[0].flags.size(), 1u);
  EXPECT_EQ(c.releases[0].flags[0].name, "known_at_politie");
  EXPECT_EQ(c.releases[0].flags[0].dataset, "politie");
}

TEST(AnalysisPolicyTest, ReadsTheAsIfCountOfSuppressedPercent) {
  policy::AnalysisPolicy policy;
  EXPECT_EQ(policy.SuppressedPercentAsIf(), std::nullopt);  // star
  for (const char* rule : {"as_if:", "as_if:0", "as_if:-3", "as_if:+3", "as_if:5.5", "as_if: 5",
                           "as_if:99999999999999999999", "AS_IF:5", "half"}) {
    policy.suppressed_percent = rule;
    EXPECT_EQ(policy.SuppressedPercentAsIf(), std::nullopt) << rule;
  }
  policy.suppressed_percent = "as_if:12";
  EXPECT_EQ(policy.SuppressedPercentAsIf(), 12);
}

TEST(CovenantParseTest, ParsesAnalysisShapesAndDisclosure) {
  const std::string text = Replace(kBase, R"(  disclosure:
    min_cell: 10
    max_releases: 5
)",
                                   R"(  table_kinds: [counts, costs]
  dimensions: [household_type]
  measures: [count]
  disclosure:
    min_cell: 15
    dominance: {n: 2, k: 0.9}
    secondary_suppression: false
    suppressed_percent: as_if:5
    rounding_base: 5
    max_contribution_eur: 50000
    max_releases: 0
)");
  absl::StatusOr<policy::Covenant> c = Parse(Replace(
      text, "token_mode: hmac", "token_mode: oprf\noprf_quota: 1000\noprf_quota_window_days: 7"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->token_mode, "oprf");
  EXPECT_EQ(c->oprf_quota, 1000u);
  EXPECT_EQ(c->oprf_quota_window_days, 7);
  EXPECT_EQ(c->analysis.table_kinds, (std::set<std::string>{"costs", "counts"}));
  EXPECT_EQ(c->analysis.dimensions, std::set<std::string>{"household_type"});
  EXPECT_EQ(c->analysis.measures, std::set<std::string>{"count"});
  EXPECT_EQ(c->analysis.min_cell, 15);
  EXPECT_EQ(c->analysis.dominance_n, 2);
  EXPECT_DOUBLE_EQ(c->analysis.dominance_k, 0.9);
  EXPECT_FALSE(c->analysis.secondary_suppression);
  EXPECT_EQ(c->analysis.suppressed_percent, "as_if:5");
  EXPECT_EQ(c->analysis.SuppressedPercentAsIf(), 5);
  EXPECT_EQ(c->analysis.rounding_base, 5);
  ASSERT_TRUE(c->analysis.max_contribution_eur.has_value());
  EXPECT_DOUBLE_EQ(*c->analysis.max_contribution_eur, 50000);
  EXPECT_EQ(c->analysis.max_releases, 0);
}

int LineOf(const std::string& text, const std::string& needle) {
  const size_t at = text.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

// yaml-cpp keeps the first of two equal keys and other YAML readers the last: `explain` would
// say "unlimited" where another reader reads 25. A signed covenant must mean one thing.
TEST(CovenantParseTest, RefusesAKeyGivenTwiceAtAnyDepthNamingTheSecond) {
  const std::string budget =
      Replace(kBase, "    max_releases: 5\n", "    max_releases: 0\n    max_releases: 25\n");
  EXPECT_THAT(ErrorOf(budget),
              StartsWith(fmt::format("c.yaml:{}:5: analysis.disclosure.max_releases: the key is "
                                     "given twice in one mapping (first on line {})",
                                     LineOf(budget, "max_releases: 25"),
                                     LineOf(budget, "max_releases: 0"))));
  const std::string flow =
      Replace(kBase, "{name: known_at_politie, dataset: politie}",
              "{name: known_at_politie, dataset: politie, name: known_at_brp}");
  EXPECT_THAT(ErrorOf(flow),
              HasSubstr(fmt::format("c.yaml:{}:", LineOf(flow, "name: known_at_brp"))));
  EXPECT_THAT(ErrorOf(flow),
              HasSubstr("purpose_bound_releases[0].flags[0].name: the key is given twice"));
  const std::string quoted = kBase + "\"id\": other\n";
  EXPECT_THAT(ErrorOf(quoted), HasSubstr("id: the key is given twice"));
  EXPECT_THAT(ErrorOf(kBase + "---\nid: other\n"), HasSubstr("a second YAML document"));
}

TEST(CovenantParseTest, KeysAreNormalisedToLowerCase) {
  const std::string upper(64, 'C');
  absl::StatusOr<policy::Covenant> c =
      Parse(Replace(kBase, "signing_key: " + kKeyBrp, "signing_key: " + upper));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->parties.at("agent-brp").signing_public_key, kKeyBrp);
}

struct Malformed {
  std::string name;
  std::string from;  // replaced in kBase
  std::string to;
  std::string at;       // where the error points: first occurrence in the edited text
  std::string message;  // after "c.yaml:<line>:<col>: "
};

void PrintTo(const Malformed& m, std::ostream* os) { *os << m.name; }

class MalformedCovenantTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedCovenantTest, RefusedWithLineAndKeyPath) {
  const Malformed& m = GetParam();
  const std::string text = Replace(kBase, m.from, m.to);
  const std::string where = m.at.empty() ? "" : Pos(text, m.at) + ":";
  EXPECT_EQ(ErrorOf(text), fmt::format("c.yaml:{} {}", where, m.message));
}

const std::string kNamePattern =
    "use 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit";
const std::string kBadDigest =
    "expected a SHA-256 in lowercase hex (64 characters) or a placeholder <sha256:FILE> for "
    "`koppel policy fill-keys`";
// The `approved:` key of kBase's analysis section.
const std::string kApprovedBlock =
    "  approved:\n    - name: almelo-mpg\n      spec: ../analyses/almelo-mpg.yaml\n      sha256: " +
    kSpecSha + "\n      prices: ../prices/unit_costs_2014.csv\n      prices_sha256: " + kPricesSha +
    "\n";

INSTANTIATE_TEST_SUITE_P(
    Rules, MalformedCovenantTest,
    ::testing::Values(
        Malformed{"IdentifierKind", "identifiers: [bsn, address]", "identifiers: [bsn, phone]",
                  "phone",
                  "parties[0].datasets[0].identifiers: 'phone' is not one of bsn, address"},
        Malformed{"IdentifierKindInBlockList", "          - bsn", "          - phone", "phone",
                  "parties[1].datasets[0].identifiers: 'phone' is not one of bsn, address"},
        Malformed{"IdentifiersEmpty", "identifiers: [address]", "identifiers: []", "[]",
                  "parties[2].datasets[0].identifiers: must not be empty"},
        Malformed{"MissingTitle", "title: A covenant for tests\n", "", "id",
                  "top level: missing required key 'title'"},
        Malformed{"UnknownTopLevelKey", "token_mode: hmac", "token_mode: hmac\ncolour: blue",
                  "colour",
                  "colour: unknown key; allowed: id, version, title, valid_from, valid_until, "
                  "retention, key_rotation, token_mode, oprf_quota, oprf_quota_window_days, "
                  "privacy_officers, parties, analysis, purpose_bound_releases"},
        Malformed{"UnknownPartyKey", "    purpose: link\n", "    purpose: link\n    colour: x\n",
                  "colour",
                  "parties[3].colour: unknown key; allowed: name, organisation, roles, "
                  "privacy_officer, purpose, legal_basis, signing_key, datasets"},
        Malformed{"BadId", "id: test", "id: Almelo MPG", "Almelo",
                  "id: 'Almelo MPG' is not a valid name: " + kNamePattern},
        Malformed{"IdTooLong", "id: test", "id: " + std::string(65, 'x'), "xxx",
                  "id: '" + std::string(65, 'x') + "' is not a valid name: " + kNamePattern},
        Malformed{"VersionZero", "version: 3", "version: 0", "0",
                  "version: expected a whole number >= 1"},
        Malformed{"VersionText", "version: 3", "version: three", "three",
                  "version: expected a whole number >= 1"},
        Malformed{"ImpossibleDate", "valid_from: 2026-01-01", "valid_from: 2026-02-30",
                  "2026-02-30", "valid_from: '2026-02-30' is not a date yyyy-mm-dd"},
        Malformed{"DutchDate", "valid_until: 2026-12-31", "valid_until: 31-12-2026", "31-12-2026",
                  "valid_until: '31-12-2026' is not a date yyyy-mm-dd"},
        Malformed{"EndsBeforeStart", "valid_until: 2026-12-31", "valid_until: 2025-12-31",
                  "2025-12-31",
                  "valid_until: is before valid_from; the last day in force must be on or after "
                  "the first"},
        Malformed{"NegativeRetention", "days_after_end: 10", "days_after_end: -1",
                  "days_after_end: |-1", "retention.days_after_end: expected a whole number >= 0"},
        Malformed{"RetentionWithoutDays", "  days_after_end: 10\n", "  days: 10\n", "days",
                  "retention.days: unknown key; allowed: days_after_end"},
        Malformed{"NegativeRotation", "period_days: 30", "period_days: -30", "-30",
                  "key_rotation.period_days: expected a whole number >= 0"},
        Malformed{"GraceNotBelowPeriod", "period_days: 30", "period_days: 30\n  grace_days: 30",
                  "grace_days: |30",
                  "key_rotation.grace_days: must be below period_days (30): holders re-deliver "
                  "under one epoch before the next rotation"},
        Malformed{"GraceWithoutRotation", "period_days: 30", "period_days: 0\n  grace_days: 5",
                  "grace_days: |5",
                  "key_rotation.grace_days: needs a period_days above 0: without rotation there "
                  "is no grace"},
        Malformed{"NegativeGrace", "period_days: 30", "period_days: 30\n  grace_days: -1",
                  "grace_days: |-1", "key_rotation.grace_days: expected a whole number >= 0"},
        Malformed{"TokenMode", "token_mode: hmac", "token_mode: sha1", "sha1",
                  "token_mode: 'sha1' is not one of hmac, oprf"},
        Malformed{"OprfQuotaWindowZero", "token_mode: hmac",
                  "token_mode: oprf\noprf_quota_window_days: 0", "oprf_quota_window_days: |0",
                  "oprf_quota_window_days: expected a whole number of days >= 1"},
        Malformed{"OprfQuotaZero", "token_mode: hmac", "token_mode: oprf\noprf_quota: 0",
                  "oprf_quota: |0", "oprf_quota: expected a whole number >= 1"},
        Malformed{"OfficerKeyPlaceholder", "public_key: " + kKeyB, "public_key: <po-b.key.pub>",
                  "<po-b",
                  "privacy_officers[1].public_key: <po-b.key.pub> is a placeholder: run "
                  "`koppel policy fill-keys` to replace it with the key in po-b.key.pub"},
        Malformed{"SigningKeyPlaceholder", "signing_key: " + kKeyPolitie,
                  "signing_key: <agent-politie.key.pub>", "<agent",
                  "parties[1].signing_key: <agent-politie.key.pub> is a placeholder: run "
                  "`koppel policy fill-keys` to replace it with the key in agent-politie.key.pub"},
        Malformed{"OfficerKeyShort", "public_key: " + kKeyA, "public_key: abc123", "abc123",
                  "privacy_officers[0].public_key: expected an Ed25519 public key in hex (64 "
                  "characters) or a placeholder <FILE.pub> for `koppel policy fill-keys`"},
        Malformed{"SigningKeyNotHex", "signing_key: " + kKeyWoning,
                  "signing_key: " + std::string(63, 'e') + "g", "eeee",
                  "parties[2].signing_key: expected an Ed25519 public key in hex (64 "
                  "characters) or a placeholder <FILE.pub> for `koppel policy fill-keys`"},
        Malformed{"NoOfficers",
                  "privacy_officers:\n  - name: po-a\n    organisation: Org A\n    "
                  "public_key: " +
                      kKeyA +
                      "\n  - name: po-b\n    organisation: Org "
                      "B\n    public_key: " +
                      kKeyB + "\n",
                  "privacy_officers: []\n", "[]",
                  "privacy_officers: must name at least one privacy officer"},
        Malformed{"DuplicateOfficer", "  - name: po-b\n", "  - name: po-a\n",
                  "po-a\n    organisation: Org B",
                  "privacy_officers[1].name: privacy officer 'po-a' is listed twice"},
        Malformed{"UnknownOfficer", "    privacy_officer: po-b\n    purpose: deliver suspects",
                  "    privacy_officer: po-x\n    purpose: deliver suspects", "po-x",
                  "parties[1].privacy_officer: 'po-x' is not listed under privacy_officers"},
        Malformed{"OfficerSignsForNoParty", "parties:\n",
                  "  - name: po-c\n    organisation: Org C\n    public_key: " +
                      std::string(64, 'f') + "\nparties:\n",
                  "name: po-c",
                  "privacy_officers[2]: 'po-c' signs for no party; name it as "
                  "privacy_officer of a party or remove it"},
        Malformed{"DuplicateParty", "  - name: other-unit", "  - name: research-unit",
                  "research-unit\n    organisation: Another",
                  "parties[5].name: party 'research-unit' is listed twice"},
        Malformed{"UnknownRole", "roles: [linker, vault]", "roles: [linker, vault, admin]", "admin",
                  "parties[3].roles: 'admin' is not one of data_holder, linker, vault, "
                  "research_unit, privacy_officer"},
        Malformed{"RoleTwice", "roles: [linker, vault]", "roles: [linker, linker, vault]",
                  "linker, vault", "parties[3].roles: 'linker' is listed twice"},
        Malformed{"NoVault", "roles: [linker, vault]", "roles: [linker]", "- name: agent-brp",
                  "parties: no party has the role vault; a covenant needs at least one"},
        Malformed{"NoLinker", "roles: [linker, vault]", "roles: [vault]", "- name: agent-brp",
                  "parties: no party has the role linker; a covenant needs at least one"},
        Malformed{"EmptyPurpose", "purpose: deliver signals", "purpose: \"  \"", "\"  \"",
                  "parties[2].purpose: must not be empty"},
        Malformed{"MissingLegalBasis", "    legal_basis: AVG art. 28\n", "", "name: linker",
                  "parties[3]: missing required key 'legal_basis'"},
        Malformed{"HolderWithoutKey", "    signing_key: " + kKeyWoning + "\n", "",
                  "name: agent-woning",
                  "parties[2]: missing required key 'signing_key': a data holder needs its "
                  "agent's Ed25519 batch signing key"},
        Malformed{"HolderWithoutDatasets",
                  "    datasets:\n      - name: woning\n        identifiers: [address]\n        "
                  "fields: []\n",
                  "", "name: agent-woning",
                  "parties[2]: missing required key 'datasets': a data holder must be granted at "
                  "least one dataset"},
        Malformed{"HolderWithEmptyDatasets",
                  "    datasets:\n      - name: woning\n        identifiers: [address]\n        "
                  "fields: []\n",
                  "    datasets: []\n", "[]\n  - name: linker",
                  "parties[2].datasets: a data holder must be granted at least one dataset"},
        Malformed{"LinkerWithDatasets", "    legal_basis: AVG art. 28\n",
                  "    legal_basis: AVG art. 28\n    datasets: []\n", "datasets: |[]",
                  "parties[3].datasets: only a party with the role data_holder has this key"},
        Malformed{"LinkerWithKey", "    legal_basis: AVG art. 28\n",
                  "    legal_basis: AVG art. 28\n    signing_key: " + kKeyA + "\n",
                  "    signing_key: |" + kKeyA,
                  "parties[3].signing_key: only a party with the role data_holder has this key"},
        Malformed{"DatasetGrantedTwice", "      - name: woning", "      - name: brp",
                  "brp\n        identifiers: [address]",
                  "parties[2].datasets[0].name: dataset 'brp' is already granted to 'agent-brp'; "
                  "a dataset may be granted to one party only"},
        Malformed{"DatasetMissingFields", "        fields: [feit]\n", "", "name: politie",
                  "parties[1].datasets[0]: missing required key 'fields'"},
        Malformed{"BadFieldName", "fields: [geboortedatum, wijk]",
                  "fields: [geboortedatum, \"w ijk\"]", "\"w ijk\"",
                  "parties[0].datasets[0].fields: 'w ijk' is not a field name: use 1 to 64 of "
                  "A-Z, a-z, 0-9, '.', '_', '-' (the mapping's attribute names)"},
        Malformed{"FieldTwice", "fields: [geboortedatum, wijk]",
                  "fields: [geboortedatum, wijk, wijk]", "wijk]",
                  "parties[0].datasets[0].fields: 'wijk' is listed twice"},
        Malformed{"RecipientNotResearchUnit", "recipients: [research-unit]",
                  "recipients: [agent-brp]", "agent-brp]",
                  "analysis.recipients: 'agent-brp' is not a party with the role research_unit"},
        Malformed{"RecipientUnknown", "recipients: [research-unit]",
                  "recipients: [research-unit, cbs]", "cbs",
                  "analysis.recipients: 'cbs' is not a party with the role research_unit"},
        Malformed{"AnalysesByNameAreGone", "  recipients: [research-unit]\n",
                  "  recipients: [research-unit]\n  analyses: [almelo-mpg]\n", "analyses: [",
                  "analysis.analyses: analyses are no longer allowed by name; pin each approved "
                  "spec by its SHA-256 under analysis.approved (koppel policy approve --spec "
                  "FILE COVENANT)"},
        Malformed{"UnknownAnalysisKey", "  disclosure:\n", "  colour: blue\n  disclosure:\n",
                  "colour",
                  "analysis.colour: unknown key; allowed: recipients, approved, exploratory, "
                  "perturbation, table_kinds, dimensions, measures, disclosure"},
        Malformed{"NothingCanRun", kApprovedBlock, "", "recipients",
                  "analysis: approves no analysis and refuses exploratory specs, so nothing "
                  "could ever run; pin a spec under analysis.approved (koppel policy approve "
                  "--spec FILE COVENANT) or set exploratory: perturb"},
        Malformed{"NothingCanRunEmptyList", kApprovedBlock, "  approved: []\n", "recipients",
                  "analysis: approves no analysis and refuses exploratory specs, so nothing "
                  "could ever run; pin a spec under analysis.approved (koppel policy approve "
                  "--spec FILE COVENANT) or set exploratory: perturb"},
        Malformed{"ApprovedNotAList", kApprovedBlock, "  approved: almelo-mpg\n",
                  "approved: |almelo-mpg", "analysis.approved: expected a list"},
        Malformed{"ApprovedWithoutSha256", "      sha256: " + kSpecSha + "\n", "",
                  "name: almelo-mpg", "analysis.approved[0]: missing required key 'sha256'"},
        Malformed{"ApprovedWithoutSpec", "      spec: ../analyses/almelo-mpg.yaml\n", "",
                  "name: almelo-mpg", "analysis.approved[0]: missing required key 'spec'"},
        Malformed{"ApprovedUnknownKey", "      spec: ../", "      title: MPG\n      spec: ../",
                  "title: MPG",
                  "analysis.approved[0].title: unknown key; allowed: name, spec, sha256, prices, "
                  "prices_sha256"},
        Malformed{"Sha256NotHex", "sha256: " + kSpecSha, "sha256: " + std::string(63, '1') + "x",
                  "111", "analysis.approved[0].sha256: " + kBadDigest},
        Malformed{"Sha256Short", "sha256: " + kSpecSha, "sha256: " + std::string(63, '1'), "111",
                  "analysis.approved[0].sha256: " + kBadDigest},
        Malformed{"Sha256UpperCase", "sha256: " + kSpecSha, "sha256: " + std::string(64, 'A'),
                  "AAA", "analysis.approved[0].sha256: " + kBadDigest},
        Malformed{"PricesSha256NotHex", "prices_sha256: " + kPricesSha,
                  "prices_sha256: sha256-of-the-prices", "sha256-of",
                  "analysis.approved[0].prices_sha256: " + kBadDigest},
        Malformed{"Sha256Placeholder", "sha256: " + kSpecSha,
                  "sha256: <sha256:../analyses/almelo-mpg.yaml>", "<sha256",
                  "analysis.approved[0].sha256: <sha256:../analyses/almelo-mpg.yaml> is a "
                  "placeholder: run `koppel policy fill-keys` to replace it with the SHA-256 of "
                  "../analyses/almelo-mpg.yaml"},
        Malformed{"PricesWithoutSha256", "      prices_sha256: " + kPricesSha + "\n", "",
                  "name: almelo-mpg",
                  "analysis.approved[0]: missing required key 'prices_sha256': the prices file "
                  "is pinned by its SHA-256 too"},
        Malformed{"PricesSha256WithoutPrices", "      prices: ../prices/unit_costs_2014.csv\n", "",
                  "prices_sha256: |" + kPricesSha,
                  "analysis.approved[0].prices_sha256: only an entry with prices has this key"},
        Malformed{"ApprovedBadName", "name: almelo-mpg", "name: Almelo_MPG", "Almelo_MPG",
                  "analysis.approved[0].name: 'Almelo_MPG' is not a valid analysis name: use 1 "
                  "to 64 of a-z, 0-9, '-' (the spec's `analysis:`)"},
        Malformed{"ApprovedTwice", kApprovedBlock,
                  kApprovedBlock + "    - {name: almelo-mpg, spec: other.yaml, sha256: " +
                      std::string(64, '3') + "}\n",
                  "almelo-mpg, spec: other",
                  "analysis.approved[1].name: analysis 'almelo-mpg' is approved twice"},
        Malformed{"SameDigestsUnderTwoNames", kApprovedBlock,
                  kApprovedBlock + "    - {name: mpg, spec: copy.yaml, sha256: " + kSpecSha +
                      ", prices: p.csv, prices_sha256: " + kPricesSha + "}\n",
                  "sha256: |" + kSpecSha + ", prices: p.csv",
                  "analysis.approved[1].sha256: pins the same spec and prices file as "
                  "'almelo-mpg'"},
        Malformed{"ExploratoryUnknown", "  disclosure:\n", "  exploratory: maybe\n  disclosure:\n",
                  "maybe", "analysis.exploratory: 'maybe' is not one of refuse, perturb"},
        Malformed{"PerturbationWhileRefusing", "  disclosure:\n",
                  "  exploratory: refuse\n  perturbation: {table: default}\n  disclosure:\n",
                  "{table",
                  "analysis.perturbation: only exploratory: perturb perturbs; set it or "
                  "remove perturbation"},
        Malformed{"PerturbationTablePathWithoutSha256", "  disclosure:\n",
                  "  exploratory: perturb\n  perturbation: {table: ptable.csv}\n  disclosure:\n",
                  "{table",
                  "analysis.perturbation: missing required key 'table_sha256': a perturbation "
                  "table given by its path is pinned by its SHA-256"},
        Malformed{"PerturbationTableSha256NotHex", "  disclosure:\n",
                  "  exploratory: perturb\n  perturbation: {table: ptable.csv, table_sha256: "
                  "abc}\n  disclosure:\n",
                  "abc}", "analysis.perturbation.table_sha256: " + kBadDigest},
        Malformed{"DefaultTableWithSha256", "  disclosure:\n",
                  "  exploratory: perturb\n  perturbation: {table: default, table_sha256: " +
                      kPricesSha + "}\n  disclosure:\n",
                  kPricesSha + "}",
                  "analysis.perturbation.table_sha256: only a table given by its path has a "
                  "SHA-256; the default table is part of koppel"},
        Malformed{"PerturbationUnknownKey", "  disclosure:\n",
                  "  exploratory: perturb\n  perturbation: {noise: 3}\n  disclosure:\n", "noise",
                  "analysis.perturbation.noise: unknown key; allowed: table, table_sha256"},
        Malformed{"TableKind", "  disclosure:\n", "  table_kinds: [counts, pie]\n  disclosure:\n",
                  "counts, |pie",
                  "analysis.table_kinds: 'pie' is not one of counts, overlap, costs, sensitivity, "
                  "cost_benefit"},
        Malformed{"DimensionsEmpty", "  disclosure:\n", "  dimensions: []\n  disclosure:\n",
                  "dimensions: |[]",
                  "analysis.dimensions: must not be empty; leave the key out to allow area, "
                  "household_type"},
        Malformed{"Measure", "  disclosure:\n", "  measures: [count, median]\n  disclosure:\n",
                  "median", "analysis.measures: 'median' is not one of count, percent, cost"},
        Malformed{"MinCellZero", "min_cell: 10", "min_cell: 0", "min_cell: |0",
                  "analysis.disclosure.min_cell: expected a whole number >= 1"},
        Malformed{"DominanceK", "min_cell: 10", "min_cell: 10\n    dominance: {n: 1, k: 1.5}",
                  "1.5",
                  "analysis.disclosure.dominance.k: expected a fraction greater than 0, "
                  "at most 1"},
        Malformed{"DominanceWithoutN", "min_cell: 10", "min_cell: 10\n    dominance: {k: 0.8}",
                  "{k", "analysis.disclosure.dominance: missing required key 'n'"},
        Malformed{"SuppressedPercent", "min_cell: 10", "min_cell: 10\n    suppressed_percent: half",
                  "half",
                  "analysis.disclosure.suppressed_percent: 'half' is not star or as_if:N with N "
                  ">= 1 (e.g. as_if:5)"},
        Malformed{"SuppressedPercentAsIfZero", "min_cell: 10",
                  "min_cell: 10\n    suppressed_percent: as_if:0", "as_if",
                  "analysis.disclosure.suppressed_percent: 'as_if:0' is not star or as_if:N "
                  "with N >= 1 (e.g. as_if:5)"},
        Malformed{"SecondarySuppression", "min_cell: 10",
                  "min_cell: 10\n    secondary_suppression: maybe", "maybe",
                  "analysis.disclosure.secondary_suppression: expected true or false"},
        Malformed{"NegativeBudget", "max_releases: 5", "max_releases: -5", "-5",
                  "analysis.disclosure.max_releases: expected a whole number >= 0"},
        Malformed{"NoiseIsNotASetting", "max_releases: 5", "max_releases: 5\n    epsilon: 1",
                  "epsilon",
                  "analysis.disclosure.epsilon: unknown key; allowed: min_cell, dominance, "
                  "secondary_suppression, suppressed_percent, rounding_base, "
                  "max_contribution_eur, max_releases"},
        Malformed{"ReleaseRecipientNotHolder", "recipient: agent-brp", "recipient: linker",
                  "recipient: |linker",
                  "purpose_bound_releases[0].recipient: 'linker' is not a party with the role "
                  "data_holder"},
        Malformed{"ReleaseDatasetNotRecipients", "    dataset: brp\n", "    dataset: politie\n",
                  "politie\n    flags",
                  "purpose_bound_releases[0].dataset: 'politie' is not one of agent-brp's "
                  "datasets; a recipient asks only about records it delivered itself"},
        Malformed{"FlagDatasetUnknown", "dataset: politie}", "dataset: zorg}", "zorg}",
                  "purpose_bound_releases[0].flags[0].dataset: no data holder delivers dataset "
                  "'zorg'"},
        Malformed{"FlagDatasetWithoutBsn", "dataset: politie}", "dataset: woning}", "woning}",
                  "purpose_bound_releases[0].flags[0].dataset: dataset 'woning' carries no bsn "
                  "identifier; a flag needs records of persons"},
        Malformed{"NoFlags", "    flags:\n      - {name: known_at_politie, dataset: politie}\n",
                  "    flags: []\n", "flags: |[]",
                  "purpose_bound_releases[0].flags: must name at least one flag"},
        Malformed{"ReleaseWithoutPurpose", "    purpose: signal\n", "", "name: who-else",
                  "purpose_bound_releases[0]: missing required key 'purpose'"},
        Malformed{"ReleaseTwice", "purpose_bound_releases:\n",
                  "purpose_bound_releases:\n  - name: who-else\n    recipient: agent-brp\n    "
                  "purpose: p\n    legal_basis: l\n    dataset: brp\n    flags: [{name: f, "
                  "dataset: politie}]\n",
                  "who-else\n    recipient: agent-brp\n    purpose: signal",
                  "purpose_bound_releases[1].name: release 'who-else' is listed twice"}),
    [](const ::testing::TestParamInfo<Malformed>& param_info) { return param_info.param.name; });

TEST(CovenantParseTest, ReleaseDatasetMustCarryBsn) {
  std::string text = Replace(kBase, "recipient: agent-brp\n", "recipient: agent-woning\n");
  text = Replace(text, "    dataset: brp\n", "    dataset: woning\n");
  EXPECT_EQ(ErrorOf(text),
            fmt::format("c.yaml:{}: purpose_bound_releases[0].dataset: dataset 'woning' carries "
                        "no bsn identifier; flags are looked up by person",
                        Pos(text, "woning\n    flags")));
}

TEST(CovenantParseTest, HouseholdReleasesNameARegisterWithBothIdentifiers) {
  const std::string household =
      "    dataset: brp\n    unit: household\n"
      "    register: {dataset: brp, address_from: geboortedatum, address_to: wijk}\n";
  absl::StatusOr<policy::Covenant> ok = Parse(Replace(kBase, "    dataset: brp\n", household));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->releases[0].unit, "household");
  EXPECT_EQ(ok->releases[0].family.dataset, "brp");
  EXPECT_EQ(ok->releases[0].family.address_from, "geboortedatum");
  EXPECT_EQ(Parse(kBase)->releases[0].unit, "person");  // the default

  const std::string no_register =
      Replace(kBase, "    dataset: brp\n", "    dataset: brp\n    unit: household\n");
  EXPECT_TRUE(absl::StrContains(ErrorOf(no_register),
                                "purpose_bound_releases[0].register: a household release needs "
                                "register: {dataset, address_from, address_to}"))
      << ErrorOf(no_register);
  const std::string bad_unit =
      Replace(kBase, "    dataset: brp\n", "    dataset: brp\n    unit: family\n");
  EXPECT_EQ(ErrorOf(bad_unit), fmt::format("c.yaml:{}: purpose_bound_releases[0].unit: must be "
                                           "person or household",
                                           Pos(bad_unit, "unit: |family")));
  const std::string no_address =
      Replace(kBase, "    dataset: brp\n",
              "    dataset: brp\n    unit: household\n"
              "    register: {dataset: politie, address_from: feit, address_to: feit}\n");
  EXPECT_TRUE(absl::StrContains(ErrorOf(no_address),
                                "dataset 'politie' must carry both bsn and "
                                "address to tell who lives together"))
      << ErrorOf(no_address);
  const std::string ungranted =
      Replace(kBase, "    dataset: brp\n",
              "    dataset: brp\n    unit: household\n"
              "    register: {dataset: brp, address_from: adres_van, address_to: wijk}\n");
  EXPECT_TRUE(
      absl::StrContains(ErrorOf(ungranted), "'adres_van' is not a granted field of dataset 'brp'"))
      << ErrorOf(ungranted);
  const std::string person_with_register = Replace(
      kBase, "    dataset: brp\n",
      "    dataset: brp\n    register: {dataset: brp, address_from: wijk, address_to: wijk}\n");
  EXPECT_TRUE(
      absl::StrContains(ErrorOf(person_with_register), "only a household release has a register"))
      << ErrorOf(person_with_register);
}

TEST(CovenantParseTest, FlagListedTwice) {
  const std::string flag = "      - {name: known_at_politie, dataset: politie}\n";
  const std::string text = Replace(kBase, flag, flag + flag);
  EXPECT_EQ(ErrorOf(text), fmt::format("c.yaml:{}: purpose_bound_releases[0].flags[1].name: "
                                       "flag 'known_at_politie' is listed twice",
                                       Pos(text, flag + "      - {name: |known_at_politie")));
}

TEST(CovenantParseTest, NoParties) {
  const std::string text = kBase.substr(0, kBase.find("parties:\n")) + "parties: []\n";
  EXPECT_EQ(ErrorOf(text), fmt::format("c.yaml:{}: parties: must name at least one party",
                                       Pos(text, "parties: |[]")));
}

TEST(CovenantParseTest, ErrorsPointAtTheExactLineAndColumn) {
  // Pinned literally, so that the Pos() helper itself is checked too.
  EXPECT_EQ(ErrorOf(Replace(kBase, "          - bsn", "          - phone")),
            "c.yaml:40:13: parties[1].datasets[0].identifiers: 'phone' is not one of bsn, "
            "address");
  EXPECT_EQ(ErrorOf(Replace(kBase, "identifiers: [bsn, address]", "identifiers: [bsn, phone]")),
            "c.yaml:28:28: parties[0].datasets[0].identifiers: 'phone' is not one of bsn, "
            "address");
}

TEST(CovenantParseTest, NotYamlAndNotAMapping) {
  EXPECT_THAT(ErrorOf("id: [unclosed\n"), StartsWith("c.yaml:2:1: not valid YAML: "));
  EXPECT_EQ(ErrorOf(""), "c.yaml: top level: expected a mapping");
  EXPECT_EQ(ErrorOf("- a\n- b\n"), "c.yaml:1:1: top level: expected a mapping");
  EXPECT_EQ(ErrorOf(Replace(kBase, "    organisation: Politie\n    roles: [data_holder]",
                            "    organisation: Politie\n    roles: data_holder")),
            fmt::format("c.yaml:{}: parties[1].roles: expected a list",
                        Pos(Replace(kBase, "    organisation: Politie\n    roles: [data_holder]",
                                    "    organisation: Politie\n    roles: data_holder"),
                            "data_holder\n    privacy_officer: po-b")));
}

TEST(CovenantParseTest, PlaceholdersAllowedOnlyOnRequest) {
  const std::string text =
      Replace(Replace(kBase, "public_key: " + kKeyA, "public_key: <po-a.key.pub>"),
              "signing_key: " + kKeyBrp, "signing_key: <agent-brp.key.pub>");
  EXPECT_THAT(ErrorOf(text), HasSubstr("run `koppel policy fill-keys`"));
  absl::StatusOr<policy::Covenant> c = Parse(text, {.allow_key_placeholders = true});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->privacy_officers.at("po-a").public_key, "<po-a.key.pub>");
  EXPECT_EQ(c->parties.at("agent-brp").signing_public_key, "<agent-brp.key.pub>");
  // A placeholder must still look like one: `<FILE.pub>`.
  EXPECT_THAT(ErrorOf(Replace(kBase, "public_key: " + kKeyA, "public_key: <po-a.key>")),
              HasSubstr("privacy_officers[0].public_key: expected an Ed25519 public key in hex"));
}

TEST(CovenantParseTest, NoAnalysisSectionAndNoReleases) {
  std::string text = kBase.substr(0, kBase.find("analysis:\n"));
  absl::StatusOr<policy::Covenant> c = Parse(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->analysis.approved.empty());
  EXPECT_EQ(c->analysis.exploratory, policy::ExploratoryMode::kRefuse);
  EXPECT_TRUE(c->releases.empty());
}

TEST(CovenantParseTest, AnalysisNeedsAResearchUnit) {
  std::string text = kBase.substr(0, kBase.find("  - name: research-unit\n")) +
                     "analysis:\n  exploratory: perturb\n";
  EXPECT_EQ(ErrorOf(text), fmt::format("c.yaml:{}: analysis: no party has the role research_unit "
                                       "to receive analyses",
                                       Pos(text, "exploratory: perturb")));
}

TEST(CovenantParseTest, ExploratorySpecsArePerturbedWithTheDefaultOrAPinnedTable) {
  absl::StatusOr<policy::Covenant> only_exploratory =
      Parse(Replace(kBase, kApprovedBlock, "  exploratory: perturb\n"));
  ASSERT_TRUE(only_exploratory.ok()) << only_exploratory.status();
  EXPECT_TRUE(only_exploratory->analysis.approved.empty());
  EXPECT_EQ(only_exploratory->analysis.exploratory, policy::ExploratoryMode::kPerturb);
  EXPECT_EQ(only_exploratory->analysis.perturbation.table, "default");
  EXPECT_TRUE(only_exploratory->analysis.MayQuery(*only_exploratory, "research-unit").ok());

  absl::StatusOr<policy::Covenant> custom =
      Parse(Replace(kBase, "  disclosure:\n",
                    "  exploratory: perturb\n  perturbation:\n    table: ../ptables/strict.csv\n"
                    "    table_sha256: " +
                        std::string(64, 'f') + "\n  disclosure:\n"));
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(custom->analysis.approved.size(), 1u);
  EXPECT_EQ(custom->analysis.perturbation.table, "../ptables/strict.csv");
  EXPECT_EQ(custom->analysis.perturbation.table_sha256, std::string(64, 'f'));

  absl::StatusOr<policy::Covenant> refusing =
      Parse(Replace(kBase, "  disclosure:\n", "  exploratory: refuse\n  disclosure:\n"));
  ASSERT_TRUE(refusing.ok()) << refusing.status();
  EXPECT_EQ(refusing->analysis.exploratory, policy::ExploratoryMode::kRefuse);

  absl::StatusOr<policy::Covenant> no_prices =
      Parse(Replace(Replace(kBase, "      prices: ../prices/unit_costs_2014.csv\n", ""),
                    "      prices_sha256: " + kPricesSha + "\n", ""));
  ASSERT_TRUE(no_prices.ok()) << no_prices.status();
  EXPECT_TRUE(no_prices->analysis.approved[0].prices_path.empty());
  EXPECT_TRUE(no_prices->analysis.approved[0].prices_sha256.empty());
}

TEST(CovenantParseTest, DigestPlaceholdersAllowedOnlyOnRequest) {
  const std::string text = Replace(
      Replace(kBase, "sha256: " + kSpecSha, "sha256: <sha256:../analyses/almelo-mpg.yaml>"),
      "prices_sha256: " + kPricesSha, "prices_sha256: <sha256:../prices/unit_costs_2014.csv>");
  EXPECT_THAT(ErrorOf(text), HasSubstr("run `koppel policy fill-keys`"));
  absl::StatusOr<policy::Covenant> c = Parse(text, {.allow_key_placeholders = true});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->analysis.approved[0].spec_sha256, "<sha256:../analyses/almelo-mpg.yaml>");
  EXPECT_EQ(c->analysis.approved[0].prices_sha256, "<sha256:../prices/unit_costs_2014.csv>");
  EXPECT_TRUE(policy::IsDigestPlaceholder(c->analysis.approved[0].spec_sha256));
  EXPECT_FALSE(policy::IsDigestPlaceholder(kSpecSha));
  // A placeholder must still look like one, even in a template.
  EXPECT_THAT(std::string(Parse(Replace(kBase, "sha256: " + kSpecSha, "sha256: <spec.yaml>"),
                                {.allow_key_placeholders = true})
                              .status()
                              .message()),
              HasSubstr("analysis.approved[0].sha256: expected a SHA-256 in lowercase hex"));
}

TEST(CovenantParseTest, FindApprovedMatchesExactlyTheDigestsPinned) {
  const std::string second =
      "    - {name: cohort-monitor, spec: ../analyses/cohort-monitor.yaml, sha256: " +
      std::string(64, '3') + "}\n";
  absl::StatusOr<policy::Covenant> c =
      Parse(Replace(kBase, kApprovedBlock, kApprovedBlock + second));
  ASSERT_TRUE(c.ok()) << c.status();
  const policy::AnalysisPolicy& a = c->analysis;
  const policy::ApprovedAnalysis* mpg = a.FindApproved(kSpecSha, kPricesSha);
  ASSERT_NE(mpg, nullptr);
  EXPECT_EQ(mpg->name, "almelo-mpg");
  const policy::ApprovedAnalysis* cohort = a.FindApproved(std::string(64, '3'), "");
  ASSERT_NE(cohort, nullptr);
  EXPECT_EQ(cohort->name, "cohort-monitor");
  // The spec with another prices file, or without its prices file, is not approved.
  EXPECT_EQ(a.FindApproved(kSpecSha, std::string(64, '4')), nullptr);
  EXPECT_EQ(a.FindApproved(kSpecSha, ""), nullptr);
  EXPECT_EQ(a.FindApproved(std::string(64, '3'), kPricesSha), nullptr);
  // Prices alone, another spec, or digests in another case are no match.
  EXPECT_EQ(a.FindApproved(kPricesSha, kPricesSha), nullptr);
  EXPECT_EQ(a.FindApproved(std::string(64, '5'), ""), nullptr);
  EXPECT_EQ(a.FindApproved(std::string(64, 'F'), ""), nullptr);
  EXPECT_EQ(policy::Covenant{}.analysis.FindApproved(kSpecSha, kPricesSha), nullptr);
}

TEST(CovenantParseTest, LoadsFilesAndNamesMissingOnes) {
  absl::StatusOr<policy::Covenant> missing = policy::LoadCovenantFile("/nonexistent/covenant.yaml");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/covenant.yaml"));
  absl::StatusOr<policy::Covenant> templ = policy::LoadCovenantFile(
      std::string(KOPPEL_SOURCE_DIR) + "/policies/almelo-statistical.yaml");
  EXPECT_THAT(std::string(templ.status().message()), HasSubstr("almelo-statistical.yaml:"));
  EXPECT_THAT(std::string(templ.status().message()), HasSubstr("koppel policy fill-keys"));
  absl::StatusOr<policy::Covenant> explained =
      policy::LoadCovenantFile(std::string(KOPPEL_SOURCE_DIR) + "/policies/almelo-statistical.yaml",
                               {.allow_key_placeholders = true});
  EXPECT_TRUE(explained.ok()) << explained.status();
}

// --- Enforcement ---

absl::Time At(int y, int m, int d) {
  return absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone());
}

void ExpectRefused(const absl::Status& s, absl::StatusCode code, const std::string& rule) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_THAT(std::string(s.message()), StartsWith("covenant test v3: "));
  EXPECT_THAT(std::string(s.message()), ::testing::EndsWith("(rule: " + rule + ")"));
}

void ExpectDenied(const absl::Status& s, const std::string& rule) {
  ExpectRefused(s, absl::StatusCode::kPermissionDenied, rule);
}

TEST(CovenantEnforcementTest, ValidityAndRetentionBoundaries) {
  const policy::Covenant c = Base();
  EXPECT_EQ(c.StartsAt(), At(2026, 1, 1));
  EXPECT_EQ(c.EndsAt(), At(2027, 1, 1));
  EXPECT_EQ(c.RetentionEndsAt(), At(2027, 1, 11));
  EXPECT_TRUE(c.InForce(At(2026, 1, 1)).ok());
  EXPECT_TRUE(c.InForce(At(2026, 6, 15)).ok());
  EXPECT_TRUE(c.InForce(At(2027, 1, 1) - absl::Nanoseconds(1)).ok());
  const absl::Status early = c.InForce(At(2026, 1, 1) - absl::Nanoseconds(1));
  ExpectRefused(early, absl::StatusCode::kFailedPrecondition, "valid_from");
  EXPECT_EQ(early.message(), "covenant test v3: not in force before 2026-01-01 (rule: valid_from)");
  const absl::Status late = c.InForce(At(2027, 1, 1));
  ExpectRefused(late, absl::StatusCode::kFailedPrecondition, "valid_until");
  EXPECT_EQ(late.message(), "covenant test v3: ended after 2026-12-31 (rule: valid_until)");
}

TEST(CovenantEnforcementTest, OneDayCovenantAndNoRetention) {
  std::string text = Replace(kBase, "valid_until: 2026-12-31", "valid_until: 2026-01-01");
  text = Replace(text, "days_after_end: 10", "days_after_end: 0");
  absl::StatusOr<policy::Covenant> c = Parse(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->EndsAt(), At(2026, 1, 2));
  EXPECT_EQ(c->RetentionEndsAt(), c->EndsAt());
  EXPECT_TRUE(c->InForce(At(2026, 1, 1) + absl::Hours(23)).ok());
  EXPECT_FALSE(c->InForce(At(2026, 1, 2)).ok());
}

// Covenants have always taken any four-digit year; a signed one cannot be changed to fit a
// narrower range.
TEST(CovenantParseTest, DatesTakeAnyFourDigitYear) {
  std::string text = Replace(kBase, "valid_until: 2026-12-31", "valid_until: 9999-12-31");
  text = Replace(text, "valid_from: 2026-01-01", "valid_from: 0001-01-01");
  absl::StatusOr<policy::Covenant> c = Parse(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->valid_from, absl::CivilDay(1, 1, 1));
  EXPECT_EQ(c->valid_until, absl::CivilDay(9999, 12, 31));
  EXPECT_TRUE(c->InForce(At(2026, 6, 1)).ok());
}

TEST(CovenantEnforcementTest, MayDeliver) {
  const policy::Covenant c = Base();
  EXPECT_TRUE(c.MayDeliver("agent-brp", "brp", kKeyBrp).ok());
  EXPECT_TRUE(c.MayDeliver("agent-brp", "brp", std::string(64, 'C')).ok());
  ExpectDenied(c.MayDeliver("agent-zorg", "zorg", kKeyBrp), "parties");
  ExpectDenied(c.MayDeliver("linker", "brp", kKeyBrp), "parties[linker].roles");
  ExpectDenied(c.MayDeliver("agent-brp", "politie", kKeyBrp), "parties[agent-brp].datasets");
  const absl::Status replay = c.MayDeliver("agent-brp", "brp", kKeyPolitie);
  ExpectDenied(replay, "parties[agent-brp].signing_key");
  EXPECT_THAT(std::string(replay.message()), Not(HasSubstr(kKeyPolitie)));
  EXPECT_EQ(c.MayDeliver("agent-brp", "politie", kKeyBrp).message(),
            "covenant test v3: 'agent-brp' may not deliver dataset 'politie' (rule: "
            "parties[agent-brp].datasets)");
}

TEST(CovenantEnforcementTest, MayCarry) {
  const policy::Covenant c = Base();
  EXPECT_TRUE(c.MayCarry("agent-brp", "brp", {"wijk", "geboortedatum"}, true, true).ok());
  EXPECT_TRUE(c.MayCarry("agent-brp", "brp", {}, true, false).ok());
  EXPECT_TRUE(c.MayCarry("agent-woning", "woning", {}, false, true).ok());
  const absl::Status extra = c.MayCarry("agent-politie", "politie", {"feit", "naam"}, true, false);
  ExpectDenied(extra, "parties[agent-politie].datasets[politie].fields");
  EXPECT_EQ(extra.message(),
            "covenant test v3: dataset 'politie' from 'agent-politie' may not carry the field(s) "
            "naam; allowed: feit (rule: parties[agent-politie].datasets[politie].fields)");
  ExpectDenied(c.MayCarry("agent-woning", "woning", {"signaal"}, false, true),
               "parties[agent-woning].datasets[woning].fields");
  ExpectDenied(c.MayCarry("agent-politie", "politie", {"feit"}, true, true),
               "parties[agent-politie].datasets[politie].identifiers");
  ExpectDenied(c.MayCarry("agent-woning", "woning", {}, true, true),
               "parties[agent-woning].datasets[woning].identifiers");
  ExpectDenied(c.MayCarry("agent-politie", "brp", {}, true, false),
               "parties[agent-politie].datasets");
  ExpectDenied(c.MayCarry("vault", "brp", {}, true, false), "parties");
}

TEST(CovenantEnforcementTest, MayTokeniseAndHasRole) {
  const policy::Covenant c = Base();
  EXPECT_TRUE(c.MayTokenise("agent-woning").ok());
  ExpectDenied(c.MayTokenise("research-unit"), "parties[research-unit].roles");
  ExpectDenied(c.MayTokenise("stranger"), "parties");
  EXPECT_TRUE(c.HasRole("linker", "vault").ok());
  EXPECT_TRUE(c.HasRole("linker", "linker").ok());
  const absl::Status s = c.HasRole("agent-brp", "linker");
  ExpectDenied(s, "parties[agent-brp].roles");
  EXPECT_EQ(s.message(),
            "covenant test v3: 'agent-brp' does not have the role linker (rule: "
            "parties[agent-brp].roles)");
  ExpectDenied(c.HasRole("stranger", "vault"), "parties");
}

TEST(CovenantEnforcementTest, MayReceiveRelease) {
  const policy::Covenant c = Base();
  absl::StatusOr<const policy::PurposeBoundRelease*> all =
      c.MayReceiveRelease("agent-brp", "who-else", {});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ((*all)->name, "who-else");
  EXPECT_TRUE(c.MayReceiveRelease("agent-brp", "who-else", {"known_at_politie"}).ok());
  ExpectDenied(c.MayReceiveRelease("agent-brp", "everything", {}).status(),
               "purpose_bound_releases");
  ExpectDenied(c.MayReceiveRelease("agent-politie", "who-else", {}).status(),
               "purpose_bound_releases[who-else].recipient");
  ExpectDenied(c.MayReceiveRelease("research-unit", "who-else", {}).status(),
               "purpose_bound_releases[who-else].recipient");
  const absl::Status flag =
      c.MayReceiveRelease("agent-brp", "who-else", {"known_at_politie", "known_at_zorg"}).status();
  ExpectDenied(flag, "purpose_bound_releases[who-else].flags");
  EXPECT_THAT(std::string(flag.message()), HasSubstr("'known_at_zorg'"));
}

TEST(CovenantEnforcementTest, MayQuery) {
  const policy::Covenant c = Base();
  EXPECT_TRUE(c.analysis.MayQuery(c, "research-unit").ok());
  const absl::Status other = c.analysis.MayQuery(c, "other-unit");
  ExpectDenied(other, "analysis.recipients");
  EXPECT_EQ(other.message(),
            "covenant test v3: 'other-unit' is not a recipient of analyses "
            "(rule: analysis.recipients)");
  ExpectDenied(c.analysis.MayQuery(c, "agent-brp"), "analysis.recipients");
  ExpectDenied(c.analysis.MayQuery(c, "stranger"), "parties");

  // Without recipients every research unit may query, and only they.
  absl::StatusOr<policy::Covenant> open =
      Parse(Replace(kBase, "  recipients: [research-unit]\n", ""));
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_TRUE(open->analysis.MayQuery(*open, "research-unit").ok());
  EXPECT_TRUE(open->analysis.MayQuery(*open, "other-unit").ok());
  ExpectDenied(open->analysis.MayQuery(*open, "agent-brp"), "parties[agent-brp].roles");

  // Without an analysis section nobody may.
  absl::StatusOr<policy::Covenant> none = Parse(kBase.substr(0, kBase.find("analysis:\n")));
  ASSERT_TRUE(none.ok()) << none.status();
  const absl::Status refused = none->analysis.MayQuery(*none, "research-unit");
  ExpectDenied(refused, "analysis");
  EXPECT_EQ(refused.message(),
            "covenant test v3: this covenant allows no analysis (rule: analysis)");
}

// --- The example covenants in policies/ ---

struct Template {
  std::string file;
  std::string id;
};

const std::vector<Template> kTemplates = {{"policies/almelo-statistical.yaml", "almelo-mpg"},
                                          {"policies/who-else-involved.yaml", "who-else-involved"},
                                          {"policies/cohort-monitor.yaml", "cohort-monitor"}};

policy::Covenant LoadFilled(const std::string& file,
                            std::map<std::string, std::string>* keys = nullptr) {
  const std::string filled = FillKeys(ReadSource(file), keys);
  EXPECT_EQ(filled.find('<'), std::string::npos) << file << " has a placeholder left";
  absl::StatusOr<policy::Covenant> c = policy::ParseCovenant(filled, file);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : policy::Covenant{};
}

TEST(CovenantTemplateTest, EveryTemplateIsValidOnceKeysAreFilled) {
  for (const Template& t : kTemplates) {
    SCOPED_TRACE(t.file);
    const std::string raw = ReadSource(t.file);
    absl::StatusOr<policy::Covenant> unfilled = policy::ParseCovenant(raw, t.file);
    EXPECT_FALSE(unfilled.ok());
    EXPECT_THAT(std::string(unfilled.status().message()), HasSubstr("koppel policy fill-keys"));
    absl::StatusOr<policy::Covenant> explained =
        policy::ParseCovenant(raw, t.file, {.allow_key_placeholders = true});
    EXPECT_TRUE(explained.ok()) << explained.status();

    std::map<std::string, std::string> keys;
    const policy::Covenant c = LoadFilled(t.file, &keys);
    EXPECT_EQ(c.id, t.id);
    EXPECT_EQ(c.version, 1u);
    // Every data holder's key is its agent's key file; every officer's its own.
    for (const auto& [name, party] : c.parties) {
      if (!party.roles.contains("data_holder")) continue;
      EXPECT_EQ(party.signing_public_key, keys[name + ".key.pub"]) << name;
      EXPECT_TRUE(c.MayTokenise(name).ok()) << name;
    }
    for (const auto& [name, officer] : c.privacy_officers) {
      EXPECT_EQ(officer.public_key, keys[name + ".key.pub"]) << name;
    }
    EXPECT_TRUE(c.HasRole("linker", "linker").ok());
    EXPECT_TRUE(c.HasRole("vault", "vault").ok());
    EXPECT_TRUE(c.InForce(At(2026, 6, 1)).ok());
  }
}

const std::map<std::string, std::pair<std::set<std::string>, std::set<std::string>>> kSynth = {
    {"brp", {{"bsn", "address"}, {"geboortedatum", "wijk", "adres_van", "adres_tot"}}},
    {"inkomen", {{"bsn"}, {"jaar", "inkomen"}}},
    {"jeugdzorg", {{"bsn"}, {"zorgvorm", "start", "eind"}}},
    {"politie", {{"bsn"}, {"feit", "pleegdatum"}}},
    {"schuldhulp", {{"bsn"}, {"traject", "start", "eind"}}},
    {"sociale_zaken", {{"bsn"}, {"regeling", "start", "eind", "bedrag"}}},
    {"uwv", {{"bsn"}, {"uitkering", "start", "eind", "dagloon"}}},
    {"wijkteam", {{"bsn"}, {"aanleiding", "start", "eind"}}},
    {"woningcorporatie", {{"address"}, {"signaal", "datum", "achterstand"}}},
    {"zorg", {{"bsn"}, {"jaar", "zorgsoort", "kosten"}}},
};

TEST(CovenantTemplateTest, AlmeloStatistical) {
  const policy::Covenant c = LoadFilled("policies/almelo-statistical.yaml");
  for (const auto& [dataset, shape] : kSynth) {
    const std::string agent = "agent-" + dataset;
    ASSERT_TRUE(c.parties.contains(agent)) << agent;
    const policy::DatasetGrant& grant = c.parties.at(agent).datasets.at(dataset);
    EXPECT_EQ(grant.identifiers, shape.first) << dataset;
    EXPECT_EQ(grant.fields, shape.second) << dataset;
    EXPECT_TRUE(c.MayCarry(agent, dataset, {shape.second.begin(), shape.second.end()},
                           shape.first.contains("bsn"), shape.first.contains("address"))
                    .ok());
  }
  EXPECT_EQ(c.parties.size(), kSynth.size() + 3);
  EXPECT_TRUE(c.analysis.MayQuery(c, "research-unit").ok());
  EXPECT_FALSE(c.analysis.MayQuery(c, "agent-brp").ok());
  ASSERT_EQ(c.analysis.approved.size(), 1u);
  const policy::ApprovedAnalysis& mpg = c.analysis.approved[0];
  EXPECT_EQ(mpg.name, "almelo-mpg");
  EXPECT_EQ(mpg.spec_path, "../analyses/almelo-mpg.yaml");
  EXPECT_EQ(mpg.spec_sha256, policy::CovenantSha256Hex(ReadSource("analyses/almelo-mpg.yaml")));
  EXPECT_EQ(mpg.prices_path, "../prices/unit_costs_2014.csv");
  EXPECT_EQ(mpg.prices_sha256, policy::CovenantSha256Hex(ReadSource("prices/unit_costs_2014.csv")));
  EXPECT_EQ(c.analysis.FindApproved(mpg.spec_sha256, mpg.prices_sha256), &mpg);
  EXPECT_EQ(c.analysis.exploratory, policy::ExploratoryMode::kPerturb);
  EXPECT_EQ(c.analysis.perturbation.table, "default");
  EXPECT_EQ(c.analysis.table_kinds.size(), 4u);
  EXPECT_EQ(c.analysis.min_cell, 10);
  EXPECT_EQ(c.analysis.dominance_n, 1);
  EXPECT_DOUBLE_EQ(c.analysis.dominance_k, 0.8);
  EXPECT_TRUE(c.analysis.secondary_suppression);
  EXPECT_EQ(c.analysis.suppressed_percent, "star");
  EXPECT_EQ(c.analysis.max_releases, 25);
  EXPECT_TRUE(c.releases.empty());
  EXPECT_EQ(c.valid_from, absl::CivilDay(2026, 1, 1));
  EXPECT_EQ(c.valid_until, absl::CivilDay(2027, 12, 31));
}

TEST(CovenantTemplateTest, WhoElseInvolved) {
  const policy::Covenant c = LoadFilled("policies/who-else-involved.yaml");
  EXPECT_TRUE(c.analysis.approved.empty());
  EXPECT_EQ(c.analysis.exploratory, policy::ExploratoryMode::kRefuse);
  EXPECT_FALSE(c.analysis.MayQuery(c, "research-unit").ok());
  EXPECT_FALSE(c.parties.contains("agent-woningcorporatie"));
  for (const auto& [name, party] : c.parties) {
    for (const auto& [dataset, grant] : party.datasets) {
      if (dataset == "brp") {  // the register: who lives with whom, nothing else
        EXPECT_EQ(grant.fields, (std::set<std::string>{"adres_van", "adres_tot"}));
        EXPECT_EQ(grant.identifiers, (std::set<std::string>{"bsn", "address"}));
        continue;
      }
      EXPECT_TRUE(grant.fields.empty()) << dataset << ": flags need identifiers only";
      EXPECT_EQ(grant.identifiers, std::set<std::string>{"bsn"}) << dataset;
    }
  }
  ASSERT_EQ(c.releases.size(), 1u);
  const policy::PurposeBoundRelease& r = c.releases[0];
  EXPECT_EQ(r.unit, "household");
  EXPECT_EQ(r.family.dataset, "brp");
  EXPECT_EQ(r.name, "who-else-involved");
  EXPECT_EQ(r.recipient, "agent-wijkteam");
  EXPECT_EQ(r.dataset, "wijkteam");
  std::vector<std::string> flags;
  for (const policy::ReleaseFlag& f : r.flags) {
    flags.push_back(f.name);
    EXPECT_EQ(f.name, "known_at_" + f.dataset);
  }
  EXPECT_EQ(flags, (std::vector<std::string>{"known_at_jeugdzorg", "known_at_schuldhulp",
                                             "known_at_politie", "known_at_sociale_zaken"}));
  EXPECT_TRUE(c.MayReceiveRelease("agent-wijkteam", "who-else-involved", flags).ok());
  EXPECT_FALSE(c.MayReceiveRelease("agent-politie", "who-else-involved", {}).ok());
  EXPECT_FALSE(c.MayCarry("agent-wijkteam", "wijkteam", {"aanleiding"}, true, false).ok());
  EXPECT_TRUE(c.MayCarry("agent-wijkteam", "wijkteam", {}, true, false).ok());
}

// The (dataset, field) pairs an analysis spec reads: the register's fields, each indicator's
// `where` keys, `spell`, `year` and `date`, and the `amount` of cost items. Read from the spec
// with yaml-cpp (the spec parser lives in the linker, which policies_test does not link).
std::map<std::string, std::set<std::string>> FieldsReadBy(const std::string& spec_file) {
  const YAML::Node spec = YAML::Load(ReadSource(spec_file));
  std::map<std::string, std::set<std::string>> read;
  const YAML::Node reg = spec["register"];
  for (const char* key : {"birth_date", "area", "address_from", "address_to"}) {
    if (reg[key]) read[reg["dataset"].Scalar()].insert(reg[key].Scalar());
  }
  std::map<std::string, std::string> indicator_dataset;
  for (const auto& entry : spec["indicators"]) {
    const YAML::Node ind = entry.second;
    if (!ind["dataset"]) continue;  // register-derived (moves)
    const std::string dataset = ind["dataset"].Scalar();
    indicator_dataset[entry.first.Scalar()] = dataset;
    std::set<std::string>& fields = read[dataset];
    if (ind["where"]) {
      for (const auto& w : ind["where"]) fields.insert(w.first.Scalar());
    }
    if (ind["spell"]) {
      for (const auto& s : ind["spell"]) fields.insert(s.Scalar());
    }
    for (const char* key : {"year", "date"}) {
      if (ind[key]) fields.insert(ind[key].Scalar());
    }
  }
  for (const auto& item : spec["costs"]["items"]) {
    if (item.second["amount"]) {
      read[indicator_dataset.at(item.second["indicator"].Scalar())].insert(
          item.second["amount"].Scalar());
    }
  }
  return read;
}

void ExpectGrantsWhatTheSpecReads(const policy::Covenant& c, const std::string& spec_file,
                                  bool exactly) {
  const YAML::Node spec = YAML::Load(ReadSource(spec_file));
  // The spec and the prices file it names (relative to the spec), pinned by their digests.
  const policy::ApprovedAnalysis* approved = c.analysis.FindApproved(
      policy::CovenantSha256Hex(ReadSource(spec_file)),
      policy::CovenantSha256Hex(ReadSource("analyses/" + spec["prices"].Scalar())));
  ASSERT_NE(approved, nullptr) << spec_file << " is not approved with its prices file";
  EXPECT_EQ(approved->name, spec["analysis"].Scalar());
  EXPECT_EQ(approved->spec_path, "../" + spec_file);
  const auto read = FieldsReadBy(spec_file);
  ASSERT_FALSE(read.empty());
  std::set<std::string> granted_datasets;
  for (const auto& [name, party] : c.parties) {
    for (const auto& [dataset, grant] : party.datasets) {
      granted_datasets.insert(dataset);
      if (!read.contains(dataset)) continue;
      for (const std::string& field : read.at(dataset)) {
        EXPECT_TRUE(grant.fields.contains(field)) << dataset << "." << field << " not granted";
      }
      if (exactly) {
        EXPECT_EQ(grant.fields, read.at(dataset)) << dataset << ": grant more than it reads";
      }
    }
  }
  for (const auto& [dataset, fields] : read) {
    EXPECT_TRUE(granted_datasets.contains(dataset)) << dataset << " not granted";
  }
  if (exactly) {
    EXPECT_EQ(granted_datasets.size(), read.size()) << "a dataset granted that is not read";
  }
  // The register links persons to addresses and households.
  const std::string reg = spec["register"]["dataset"].Scalar();
  for (const auto& [name, party] : c.parties) {
    if (party.datasets.contains(reg)) {
      EXPECT_EQ(party.datasets.at(reg).identifiers, (std::set<std::string>{"bsn", "address"}));
    }
  }
}

TEST(CovenantTemplateTest, AlmeloGrantsEverythingTheSpecReads) {
  const auto read = FieldsReadBy("analyses/almelo-mpg.yaml");
  EXPECT_EQ(read.at("zorg"), (std::set<std::string>{"jaar", "zorgsoort", "kosten"}));
  EXPECT_EQ(read.at("brp"),
            (std::set<std::string>{"geboortedatum", "wijk", "adres_van", "adres_tot"}));
  ExpectGrantsWhatTheSpecReads(LoadFilled("policies/almelo-statistical.yaml"),
                               "analyses/almelo-mpg.yaml", false);
}

TEST(CovenantTemplateTest, CohortMonitorGrantsExactlyWhatTheSpecReads) {
  const policy::Covenant c = LoadFilled("policies/cohort-monitor.yaml");
  ExpectGrantsWhatTheSpecReads(c, "analyses/cohort-monitor.yaml", true);
  ASSERT_EQ(c.analysis.approved.size(), 2u);
  EXPECT_EQ(c.analysis.approved[0].prices_path, "../prices/unit_costs_2014.csv");
  EXPECT_EQ(c.analysis.approved[1].name, "cost-benefit");
  EXPECT_EQ(c.analysis.approved[1].prices_path, "../prices/cost_benefit_2014.csv");
  EXPECT_EQ(c.analysis.exploratory, policy::ExploratoryMode::kRefuse);
  EXPECT_EQ(c.analysis.recipients, std::set<std::string>{"research-unit"});
  EXPECT_TRUE(c.analysis.MayQuery(c, "research-unit").ok());
  EXPECT_EQ(c.analysis.table_kinds, (std::set<std::string>{"costs", "counts", "cost_benefit"}));
  EXPECT_EQ(c.analysis.dimensions, std::set<std::string>{"household_type"});
  EXPECT_TRUE(c.releases.empty());
  EXPECT_FALSE(c.parties.contains("agent-schuldhulp"));
}

TEST(CovenantTemplateTest, TheExampleInTheDocsIsValid) {
  const std::string doc = ReadSource("docs/covenants.md");
  const size_t begin = doc.find("```yaml\n");
  ASSERT_NE(begin, std::string::npos);
  const size_t end = doc.find("```", begin + 8);
  const std::string example = FillKeys(doc.substr(begin + 8, end - begin - 8));
  absl::StatusOr<policy::Covenant> c = policy::ParseCovenant(example, "docs/covenants.md example");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, "almelo-mpg");
  EXPECT_EQ(c->releases.size(), 1u);
  // The error the docs show is the one the parser gives.
  const std::string filled = FillKeys(ReadSource("policies/almelo-statistical.yaml"));
  absl::StatusOr<policy::Covenant> phone = policy::ParseCovenant(
      Replace(filled, "identifiers: [bsn, address]", "identifiers: [bsn, phone]"), "almelo.yaml");
  EXPECT_THAT(doc, HasSubstr(std::string(phone.status().message())));
}

// --- Explanation ---

TEST(CovenantExplainTest, MentionsEveryPartyDatasetFlagDateAndSetting) {
  for (const Template& t : kTemplates) {
    SCOPED_TRACE(t.file);
    const policy::Covenant c = LoadFilled(t.file);
    const std::string text = policy::ExplainCovenant(c);
    EXPECT_EQ(text, policy::ExplainCovenant(c)) << "not deterministic";
    EXPECT_THAT(text, HasSubstr(c.id));
    EXPECT_THAT(text, HasSubstr(c.title));
    EXPECT_THAT(text, HasSubstr(absl::FormatCivilTime(c.valid_from)));
    EXPECT_THAT(text, HasSubstr(absl::FormatCivilTime(c.valid_until)));
    for (const auto& [name, party] : c.parties) {
      EXPECT_THAT(text, HasSubstr(name));
      EXPECT_THAT(text, HasSubstr(party.organisation));
      EXPECT_THAT(text, HasSubstr(party.purpose));
      EXPECT_THAT(text, HasSubstr(party.legal_basis));
      for (const auto& [dataset, grant] : party.datasets) {
        EXPECT_THAT(text, HasSubstr("dataset " + dataset));
        for (const std::string& field : grant.fields) EXPECT_THAT(text, HasSubstr(field));
      }
    }
    for (const auto& [name, officer] : c.privacy_officers) {
      EXPECT_THAT(text, HasSubstr(name + " (" + officer.organisation + ")"));
    }
    for (const policy::PurposeBoundRelease& r : c.releases) {
      EXPECT_THAT(text, HasSubstr(r.name));
      EXPECT_THAT(text, HasSubstr(r.purpose));
      for (const policy::ReleaseFlag& f : r.flags) EXPECT_THAT(text, HasSubstr(f.name));
      EXPECT_THAT(text, HasSubstr("for each record it delivered itself"));
    }
    if (!c.analysis.approved.empty()) {
      EXPECT_THAT(text, HasSubstr("counts below 10 are suppressed and shown as *"));
      EXPECT_THAT(text, HasSubstr("largest 1 contribution makes up more than 80% of it"));
      EXPECT_THAT(text, HasSubstr("secondary suppression is on"));
      EXPECT_THAT(text, HasSubstr("the percentage of a suppressed count is shown as *"));
      EXPECT_THAT(text, HasSubstr(fmt::format("at most {} releases", c.analysis.max_releases)));
    } else {
      EXPECT_THAT(text, HasSubstr("No analysis may run"));
    }
  }
}

TEST(CovenantExplainTest, WordsTheSettingsOfTheBaseCovenant) {
  const std::string text = policy::ExplainCovenant(Base());
  EXPECT_THAT(text, HasSubstr("Covenant test, version 3: A covenant for tests"));
  EXPECT_THAT(text, HasSubstr("In force from 2026-01-01 (00:00 UTC) up to and including "
                              "2026-12-31"));
  EXPECT_THAT(text, HasSubstr("read-only for 10 days after the end; on 2027-01-11"));
  EXPECT_THAT(text, HasSubstr("every 30 days"));
  EXPECT_THAT(text, HasSubstr("keyed hashes (HMAC-SHA256)"));
  EXPECT_THAT(text, HasSubstr("delivers dataset brp, identified by BSN and address; fields: "
                              "geboortedatum, wijk"));
  EXPECT_THAT(text, HasSubstr("delivers dataset woning, identified by address only; fields: "
                              "none (identifiers only)"));
  EXPECT_THAT(text, HasSubstr("Recipients: research-unit (Onderzoek en Statistiek) only."));
  EXPECT_THAT(text, HasSubstr("known_at_politie: the person also has a record in politie "
                              "(delivered by agent-politie)"));
  EXPECT_THAT(text,
              HasSubstr("po-b (Org B), key " + kKeyB + ": signs for agent-politie, agent-woning."));
  EXPECT_THAT(text, HasSubstr("at most 5 releases"));

  std::string other = Replace(kBase, R"(  disclosure:
    min_cell: 10
    max_releases: 5
)",
                              R"(  disclosure:
    min_cell: 15
    dominance: {n: 2, k: 0.9}
    secondary_suppression: false
    suppressed_percent: as_if:5
    rounding_base: 5
    max_contribution_eur: 50000
)");
  other = Replace(other, "token_mode: hmac", "token_mode: oprf\noprf_quota: 1000");
  other = Replace(other, "period_days: 30", "period_days: 0");
  absl::StatusOr<policy::Covenant> c = Parse(other);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string words = policy::ExplainCovenant(*c);
  EXPECT_THAT(words, HasSubstr("counts below 15 are suppressed"));
  EXPECT_THAT(words, HasSubstr("largest 2 contributions make up more than 90% of it"));
  EXPECT_THAT(words, HasSubstr("secondary suppression is OFF"));
  EXPECT_THAT(words, HasSubstr("as if the count were 5"));
  EXPECT_THAT(words, HasSubstr("rounded to a multiple of 5"));
  EXPECT_THAT(words, HasSubstr("at most EUR 50000"));
  EXPECT_THAT(words, HasSubstr("unlimited releases"));
  EXPECT_THAT(words, HasSubstr("oblivious (OPRF)"));
  EXPECT_THAT(words, HasSubstr("at most 1000 evaluations"));
  EXPECT_THAT(words, HasSubstr("Key rotation: none scheduled."));
}

TEST(CovenantParseTest, KeyRotationTakesAGracePeriod) {
  absl::StatusOr<policy::Covenant> c =
      Parse(Replace(kBase, "period_days: 30", "period_days: 90\n  grace_days: 20"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->key_rotation_days, 90);
  EXPECT_EQ(c->key_rotation_grace_days, 20);
  EXPECT_EQ(c->KeyRotationGrace(), absl::Hours(24 * 20));
  const std::string words = policy::ExplainCovenant(*c);
  EXPECT_THAT(words, HasSubstr("Key rotation: every 90 days the vault starts a new key epoch"));
  EXPECT_THAT(words, HasSubstr("20 days (the grace) to re-deliver their full export"));
  absl::StatusOr<policy::Covenant> yearly =
      Parse(Replace(kBase, "period_days: 30", "period_days: 365"));
  ASSERT_TRUE(yearly.ok()) << yearly.status();
  EXPECT_EQ(yearly->key_rotation_grace_days, 30);
  EXPECT_EQ(policy::DefaultKeyRotationGraceDays(0), 0);
  EXPECT_EQ(policy::DefaultKeyRotationGraceDays(1), 0);
}

TEST(CovenantExplainTest, ATemplateSaysWhichKeysAreMissing) {
  absl::StatusOr<policy::Covenant> c =
      policy::ParseCovenant(ReadSource("policies/who-else-involved.yaml"), "who-else-involved.yaml",
                            {.allow_key_placeholders = true});
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string text = policy::ExplainCovenant(*c);
  EXPECT_THAT(text, HasSubstr("not filled in yet (<agent-wijkteam.key.pub>; run `koppel policy "
                              "fill-keys`)"));
  EXPECT_THAT(text, HasSubstr("No analysis may run"));
}

// The approved analysis part of `koppel policy explain`: it reads each spec relative to the
// covenant file, checks its digest and says what it computes.
class ExplainApprovedTest : public ::testing::Test {
 protected:
  // The Almelo covenant filled in, beside copies of its spec and prices file laid out as in the
  // source tree.
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "policies");
    std::filesystem::create_directories(dir_ / "analyses");
    std::filesystem::create_directories(dir_ / "prices");
    test::WriteFile(dir_ / "analyses/almelo-mpg.yaml", ReadSource("analyses/almelo-mpg.yaml"));
    test::WriteFile(dir_ / "prices/unit_costs_2014.csv", ReadSource("prices/unit_costs_2014.csv"));
    covenant_ = LoadFilled("policies/almelo-statistical.yaml");
    file_ = dir_ / "policies/almelo.yaml";
  }
  std::string Explain() { return policy::ExplainCovenant(covenant_, file_); }

  test::TempDir dir_;
  policy::Covenant covenant_;
  std::filesystem::path file_;
};

TEST_F(ExplainApprovedTest, SaysWhatTheAlmeloSpecComputesAndWhichGuaranteeHolds) {
  const std::string text = Explain();
  EXPECT_EQ(text, Explain()) << "not deterministic";
  const policy::ApprovedAnalysis& mpg = covenant_.analysis.approved[0];
  EXPECT_THAT(text, HasSubstr("Exact releases: only for the analysis below, which the officers "
                              "approved."));
  EXPECT_THAT(text, HasSubstr("spec: ../analyses/almelo-mpg.yaml, SHA-256 " + mpg.spec_sha256));
  EXPECT_THAT(text,
              HasSubstr("prices: ../prices/unit_costs_2014.csv, SHA-256 " + mpg.prices_sha256));
  EXPECT_THAT(text, HasSubstr("What it computes (the spec on disk matches its digest):"));
  EXPECT_THAT(text, HasSubstr("Title: Multi-problem families, Almelo"));
  EXPECT_THAT(text, HasSubstr("Reference date: 2014-12-31, compared with 2013-12-31"));
  EXPECT_THAT(text, HasSubstr("the population register brp places at one address"));
  EXPECT_THAT(text, HasSubstr("Household types: family = at least 1 adult and at least 1 child"));
  EXPECT_THAT(text, HasSubstr("Populations: families = households of type family; households = "
                              "all households"));
  EXPECT_THAT(text, HasSubstr("mpg = all of all_three, chronic"));
  const YAML::Node spec = YAML::Load(ReadSource("analyses/almelo-mpg.yaml"));
  for (const YAML::Node& table : spec["tables"]) {
    EXPECT_THAT(text, HasSubstr(table["name"].Scalar() + " ("));
  }
  EXPECT_THAT(text, HasSubstr("rows: one per area (the register's field wijk; 12 named areas), "
                              "and a total row \"Almelo totaal\""));
  EXPECT_THAT(text, HasSubstr("bijstand: families with bijstand, and their percentage"));
  EXPECT_THAT(text, HasSubstr("mpg_2013: families with mpg on 2013-12-31, and their percentage"));
  EXPECT_THAT(text, HasSubstr("both 2012 and 2013: families with chronic"));
  EXPECT_THAT(text, HasSubstr("other_families: families with none of: mpg"));
  EXPECT_THAT(text, HasSubstr("how socio_economic, psychosocial_adults and psychosocial_children "
                              "overlap among families"));
  EXPECT_THAT(text, HasSubstr("rows: one per cost item (26 items, paid by uwv, municipality, "
                              "justice, insurer)"));
  EXPECT_THAT(text, HasSubstr("(10 ranges):"));
  EXPECT_THAT(text, HasSubstr("WW benefit -10% / +10%"));
  EXPECT_THAT(text, HasSubstr("every exact release is checked against every earlier release of "
                              "this covenant, each recomputed on the deliveries it used, so that "
                              "no count of 1 to 9 households, and no sum with fewer than 10 "
                              "contributors, can be worked out from all releases together"));
  EXPECT_THAT(text, HasSubstr("checked against every earlier release like an exact release, and "
                              "then released with consistent perturbation (the cell key method)"));
  EXPECT_THAT(text, HasSubstr("the same cell always gets the same noise, so repeating or "
                              "differencing releases yields noise"));
  EXPECT_THAT(text, HasSubstr("Counts that come out below 10 are shown as *. Costs and "
                              "sensitivity tables are refused for exploratory specs."));
  EXPECT_THAT(text, HasSubstr("the default one shipped with koppel: noise of at most 3, and never "
                              "a released count of 1 or 2"));
  EXPECT_THAT(text, Not(HasSubstr("PROBLEM")));
}

TEST_F(ExplainApprovedTest, AChangedOrMissingSpecIsReportedPlainly) {
  test::WriteFile(dir_ / "analyses/almelo-mpg.yaml",
                  ReadSource("analyses/almelo-mpg.yaml") + "# edited after approval\n");
  const std::string changed = Explain();
  EXPECT_THAT(changed, HasSubstr("PROBLEM: the spec on disk is not the approved one: "));
  EXPECT_THAT(changed, HasSubstr(policy::CovenantSha256Hex(ReadSource("analyses/almelo-mpg.yaml") +
                                                           "# edited after approval\n")));
  EXPECT_THAT(changed,
              HasSubstr("the covenant pins " + covenant_.analysis.approved[0].spec_sha256));
  EXPECT_THAT(changed, HasSubstr("Cannot show what it computes."));
  EXPECT_THAT(changed, Not(HasSubstr("table1_socio_economic")));
  // The rest of the explanation still follows.
  EXPECT_THAT(changed, HasSubstr("Guarantee for exact releases"));
  EXPECT_THAT(changed, HasSubstr("Who signs"));

  std::filesystem::remove(dir_ / "analyses/almelo-mpg.yaml");
  std::filesystem::remove(dir_ / "prices/unit_costs_2014.csv");
  const std::string missing = Explain();
  EXPECT_THAT(missing, HasSubstr("PROBLEM: the spec cannot be read here: cannot read "));
  EXPECT_THAT(missing, HasSubstr("PROBLEM: the prices file cannot be read here: "));
  EXPECT_THAT(missing, HasSubstr("Cannot show what it computes."));
  EXPECT_THAT(missing, HasSubstr("Exploratory specs"));

  // Without the covenant's file the specs are listed, not read.
  const std::string unread = policy::ExplainCovenant(covenant_);
  EXPECT_THAT(unread, HasSubstr("(what it computes is shown when the covenant is read from its "
                                "file)"));
  EXPECT_THAT(unread, Not(HasSubstr("PROBLEM")));
}

// Officers approve from this text: how each cost item is priced, and which are kept out of the
// total, must be in it.
TEST_F(ExplainApprovedTest, SaysHowEachCostItemIsPricedAndWhichAreApartFromTheTotal) {
  std::string spec = ReadSource("analyses/almelo-mpg.yaml");
  const std::string ww =
      "ww: {indicator: ww, volume: records, prices: [ww_benefit, ww_execution], payer: uwv}";
  ASSERT_NE(spec.find(ww), std::string::npos);
  spec = Replace(spec, ww, "ww: {indicator: ww, volume: records, price_by: uitkering, payer: uwv}");
  spec = Replace(spec, "bijstand_execution],\n       payer: municipality}",
                 "bijstand_execution],\n       payer: municipality, in_total: false}");
  test::WriteFile(dir_ / "analyses/almelo-mpg.yaml", spec);
  covenant_.analysis.approved[0].spec_sha256 = policy::CovenantSha256Hex(spec);
  const std::string text = Explain();
  EXPECT_THAT(text, Not(HasSubstr("PROBLEM: the spec does not parse")));
  EXPECT_THAT(text, HasSubstr("ww (paid by uwv): each record of ww, priced per code of uitkering "
                              "from the prices file"));
  EXPECT_THAT(text, HasSubstr("bijstand (paid by municipality): each record of bijstand times "
                              "bijstand_benefit + bijstand_execution from the prices file; shown, "
                              "but not in the total (nor in its payer's row: tables by payer show "
                              "it as its own row)"));
  EXPECT_THAT(text, HasSubstr("not summed into the total: bijstand"));
}

TEST_F(ExplainApprovedTest, ASpecThatContradictsItsEntryIsReported) {
  const std::string renamed =
      Replace(ReadSource("analyses/almelo-mpg.yaml"), "analysis: almelo-mpg", "analysis: other");
  test::WriteFile(dir_ / "analyses/almelo-mpg.yaml", renamed);
  covenant_.analysis.approved[0].spec_sha256 = policy::CovenantSha256Hex(renamed);
  covenant_.analysis.approved[0].prices_path.clear();
  covenant_.analysis.approved[0].prices_sha256.clear();
  const std::string text = Explain();
  EXPECT_THAT(text, HasSubstr("PROBLEM: the spec is named 'other', not 'almelo-mpg'."));
  EXPECT_THAT(text, HasSubstr("PROBLEM: the spec names the prices file "
                              "../prices/unit_costs_2014.csv, but the covenant pins none"));
  EXPECT_THAT(text, HasSubstr("What it computes"));
}

TEST(CovenantExplainTest, TheTemplateDescribesTheSpecItWillPin) {
  absl::StatusOr<policy::Covenant> c =
      policy::ParseCovenant(ReadSource("policies/almelo-statistical.yaml"),
                            "almelo-statistical.yaml", {.allow_key_placeholders = true});
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string text = policy::ExplainCovenant(
      *c, std::string(KOPPEL_SOURCE_DIR) + "/policies/almelo-statistical.yaml");
  EXPECT_THAT(text, HasSubstr("SHA-256 not filled in yet (<sha256:../analyses/almelo-mpg.yaml>; "
                              "run `koppel policy fill-keys`)"));
  EXPECT_THAT(text, HasSubstr("What the spec at that path computes now (its digest is not "
                              "filled in yet):"));
  EXPECT_THAT(text, HasSubstr("table5_overlap (overlap)"));
  EXPECT_THAT(text, Not(HasSubstr("PROBLEM")));
}

TEST(CovenantExplainTest, RefusedExploratorySpecsAndCustomPerturbationTables) {
  const policy::Covenant cohort = LoadFilled("policies/cohort-monitor.yaml");
  const std::string text = policy::ExplainCovenant(
      cohort, std::string(KOPPEL_SOURCE_DIR) + "/policies/cohort-monitor.yaml");
  EXPECT_THAT(text, HasSubstr("Exploratory specs (any spec not approved above, or an approved one "
                              "changed in any byte): refused."));
  EXPECT_THAT(text, Not(HasSubstr("perturbation")));
  EXPECT_THAT(text, HasSubstr("rows: one per household type (single, couple_or_more, one_parent, "
                              "two_parents), and a total row \"total\""));
  EXPECT_THAT(text, HasSubstr("rows: one per paying party (municipality, uwv, insurer, justice)"));
  EXPECT_THAT(text, HasSubstr("single = exactly 1 adult and no children"));
  EXPECT_THAT(text, HasSubstr("cohort = households with in_cohort"));
  EXPECT_THAT(text, Not(HasSubstr("PROBLEM")));

  absl::StatusOr<policy::Covenant> custom =
      Parse(Replace(kBase, "  disclosure:\n",
                    "  exploratory: perturb\n  perturbation: {table: ptable.csv, table_sha256: " +
                        std::string(64, 'f') + "}\n  disclosure:\n"));
  ASSERT_TRUE(custom.ok()) << custom.status();
  test::TempDir dir;
  test::WriteFile(dir / "ptable.csv", "i;j;p;v;p_int_lb;p_int_ub\n");
  const std::string words = policy::ExplainCovenant(*custom, dir / "c.yaml");
  EXPECT_THAT(words, HasSubstr("Perturbation table: ptable.csv, SHA-256 " + std::string(64, 'f')));
  EXPECT_THAT(words, HasSubstr("PROBLEM: the perturbation table on disk is not the approved one"));
  EXPECT_THAT(words, HasSubstr("PROBLEM: the spec cannot be read here"));

  absl::StatusOr<policy::Covenant> exploratory_only =
      Parse(Replace(kBase, kApprovedBlock, "  exploratory: perturb\n"));
  ASSERT_TRUE(exploratory_only.ok()) << exploratory_only.status();
  EXPECT_THAT(policy::ExplainCovenant(*exploratory_only),
              HasSubstr("Exact releases: none; no analysis is approved for exact release."));
}

}  // namespace
}  // namespace koppel
