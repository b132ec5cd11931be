#include "tests/testing/covenant_files.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "core/file_contents.h"
#include "core/hex.h"
#include "core/key_file.h"
#include "core/mapping.h"
#include "core/status_macros.h"
#include "policies/covenant_signature.h"

namespace koppel::test {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "covenant_files: %s\n", what.c_str());
  std::abort();
}

std::string RandomPublicKeyHex() {
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk{};
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> sk{};
  crypto_sign_keypair(pk.data(), sk.data());
  sodium_memzero(sk.data(), sk.size());
  return ToHex(pk);
}

// `text` with every line indented by `spaces`.
std::string Indent(const std::string& text, int spaces) {
  std::istringstream in(text);
  std::string out;
  std::string line;
  const std::string pad(static_cast<size_t>(spaces), ' ');
  while (std::getline(in, line)) out += line.empty() ? "\n" : pad + line + "\n";
  return out;
}

std::string Flow(const std::vector<std::string>& items) {
  return fmt::format("[{}]", fmt::join(items, ", "));
}

}  // namespace

TestOfficer TestOfficer::Create(std::string name, std::string organisation) {
  if (!EnsureSodium().ok()) Die("libsodium cannot be initialised");
  absl::StatusOr<Secret> secret = Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  if (!secret.ok()) Die(std::string(secret.status().message()));
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk{};
  crypto_sign_keypair(pk.data(), secret->mutable_data());
  secret->Seal();
  if (organisation.empty()) organisation = "Organisation of " + name;
  return TestOfficer{std::move(name), std::move(organisation), std::move(*secret), ToHex(pk)};
}

absl::Status TestOfficer::WriteKeyFiles(const std::filesystem::path& dir) const {
  const std::filesystem::path key = KeyFile(dir);
  RETURN_IF_ERROR(WriteKeyFile(key, secret_key));
  ASSIGN_OR_RETURN(std::vector<uint8_t> pk, FromHex(public_hex));
  std::filesystem::path pub = key;
  pub += ".pub";
  return WritePublicKeyFile(pub, pk);
}

TestParty TestParty::DataHolder(std::string name, std::string signing_key_hex,
                                std::vector<TestDataset> datasets) {
  TestParty party;
  party.name = std::move(name);
  party.roles = {"data_holder"};
  party.signing_key_hex = std::move(signing_key_hex);
  party.datasets = std::move(datasets);
  return party;
}

TestParty TestParty::Service(std::string name, std::string role) {
  TestParty party;
  party.name = std::move(name);
  party.roles = {std::move(role)};
  return party;
}

std::vector<TestParty> TestParty::Services() {
  return {Service("linker", "linker"), Service("vault", "vault"),
          Service("research-unit", "research_unit")};
}

std::string DaysFromToday(int days) {
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  return absl::FormatCivilTime(today + days);
}

std::string TestCovenant::Yaml() const {
  if (officers.empty() || officers.front() == nullptr) Die("TestCovenant needs an officer");
  std::string y;
  y += fmt::format("id: {}\nversion: {}\ntitle: \"{}\"\n", id, version, title);
  y += fmt::format("valid_from: {}\nvalid_until: {}\n",
                   valid_from.empty() ? DaysFromToday(-1) : valid_from,
                   valid_until.empty() ? DaysFromToday(365) : valid_until);
  y += fmt::format("retention:\n  days_after_end: {}\nkey_rotation:\n  period_days: {}\n",
                   retention_days_after_end, key_rotation_days);
  if (key_rotation_grace_days) {
    y += fmt::format("  grace_days: {}\n", *key_rotation_grace_days);
  }
  y += fmt::format("token_mode: {}\nprivacy_officers:\n", token_mode);
  for (const TestOfficer* officer : officers) {
    y += fmt::format("  - name: {}\n    organisation: \"{}\"\n    public_key: \"{}\"\n",
                     officer->name, officer->organisation, officer->public_hex);
  }
  y += "parties:\n";
  for (const TestParty& party : parties) {
    y += fmt::format("  - name: {}\n    organisation: \"Organisation of {}\"\n    roles: {}\n",
                     party.name, party.name, Flow(party.roles));
    y += fmt::format("    privacy_officer: {}\n",
                     party.officer.empty() ? officers.front()->name : party.officer);
    y += fmt::format("    purpose: \"Testing koppel as {}\"\n", party.name);
    y += "    legal_basis: \"Test fixture; no real data\"\n";
    const bool holder =
        std::find(party.roles.begin(), party.roles.end(), "data_holder") != party.roles.end();
    if (!holder) continue;
    y += fmt::format("    signing_key: \"{}\"\n",
                     party.signing_key_hex.empty() ? RandomPublicKeyHex() : party.signing_key_hex);
    y += "    datasets:\n";
    for (const TestDataset& dataset : party.datasets) {
      y += fmt::format("      - name: {}\n        identifiers: {}\n        fields: {}\n",
                       dataset.name, Flow(dataset.identifiers), Flow(dataset.fields));
    }
  }
  if (!analysis_yaml.empty()) y += "analysis:\n" + Indent(analysis_yaml, 2);
  if (!releases_yaml.empty()) y += "purpose_bound_releases:\n" + Indent(releases_yaml, 2);
  return y;
}

std::string ApprovedYaml(const std::vector<TestApproval>& approvals) {
  auto digest = [](const std::filesystem::path& file) {
    absl::StatusOr<std::string> bytes = ReadFileContents(file);
    if (!bytes.ok()) Die(std::string(bytes.status().message()));
    return policy::CovenantSha256Hex(*bytes);
  };
  std::string y = "approved:\n";
  for (const TestApproval& a : approvals) {
    y += fmt::format("  - name: {}\n    spec: \"{}\"\n    sha256: {}\n", a.name,
                     a.spec.generic_string(), digest(a.spec));
    if (!a.prices.empty()) {
      y += fmt::format("    prices: \"{}\"\n    prices_sha256: {}\n", a.prices.generic_string(),
                       digest(a.prices));
    }
  }
  return y;
}

absl::StatusOr<TestDataset> DatasetFromMapping(const std::filesystem::path& mapping_yaml) {
  ASSIGN_OR_RETURN(Mapping mapping, LoadMapping(mapping_yaml));
  TestDataset dataset;
  dataset.name = mapping.dataset;
  if (mapping.bsn_column) dataset.identifiers.push_back("bsn");
  if (mapping.address_columns) dataset.identifiers.push_back("address");
  for (const AttributeSpec& attribute : mapping.attributes) {
    dataset.fields.push_back(attribute.name);
  }
  return dataset;
}

absl::Status WriteSignedCovenant(const std::filesystem::path& path, const std::string& yaml,
                                 const std::vector<const TestOfficer*>& officers) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << yaml;
    if (!out) return absl::InternalError(fmt::format("cannot write {}", path.string()));
  }
  std::error_code ec;
  std::filesystem::remove(policy::SignaturePath(path), ec);
  for (const TestOfficer* officer : officers) {
    absl::StatusOr<policy::SignatureReview> review =
        policy::SignCovenantFile(path, officer->secret_key);
    if (!review.ok()) return review.status();
  }
  return absl::OkStatus();
}

}  // namespace koppel::test
