#include "policies/covenant.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace koppel {
namespace {

const std::set<std::string> kRoles = {"data_holder", "linker", "vault", "research_unit",
                                      "privacy_officer"};

absl::Status ErrorAt(std::string_view source, const YAML::Node& node, std::string_view what) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return absl::InvalidArgumentError(fmt::format("{}: {}", source, what));
  return absl::InvalidArgumentError(
      fmt::format("{}:{}:{}: {}", source, mark.line + 1, mark.column + 1, what));
}

absl::Status OnlyKeys(std::string_view source, const YAML::Node& node, std::string_view path,
                      const std::set<std::string>& allowed) {
  if (!node.IsMap()) return ErrorAt(source, node, fmt::format("{}: expected a mapping", path));
  for (const auto& entry : node) {
    if (!allowed.contains(entry.first.Scalar())) {
      return ErrorAt(source, entry.first,
                     fmt::format("{}.{}: unknown key", path, entry.first.Scalar()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Covenant> Parse(std::string_view source, const YAML::Node& root) {
  if (absl::Status s = OnlyKeys(source, root, "covenant", {"id", "token_mode", "oprf_quota", "parties"});
      !s.ok()) {
    return s;
  }
  Covenant c;
  if (!root["id"] || !root["id"].IsScalar() || root["id"].Scalar().empty()) {
    return ErrorAt(source, root, "covenant: missing id");
  }
  c.id = root["id"].Scalar();
  if (root["token_mode"]) {
    c.token_mode = root["token_mode"].Scalar();
    if (c.token_mode != "hmac" && c.token_mode != "oprf") {
      return ErrorAt(source, root["token_mode"], "token_mode: must be hmac or oprf");
    }
  }
  if (root["oprf_quota"]) {
    try {
      c.oprf_quota = root["oprf_quota"].as<uint64_t>();
    } catch (const YAML::Exception&) {
      return ErrorAt(source, root["oprf_quota"], "oprf_quota: expected a whole number");
    }
  }
  const YAML::Node parties = root["parties"];
  if (!parties || !parties.IsSequence() || parties.size() == 0) {
    return ErrorAt(source, root, "covenant: parties must be a non-empty list");
  }
  for (size_t i = 0; i < parties.size(); ++i) {
    const YAML::Node p = parties[i];
    std::string path = fmt::format("parties[{}]", i);
    if (absl::Status s = OnlyKeys(source, p, path, {"name", "roles", "datasets", "signing_key"});
        !s.ok()) {
      return s;
    }
    CovenantParty party;
    if (!p["name"] || !p["name"].IsScalar()) return ErrorAt(source, p, path + ": missing name");
    party.name = p["name"].Scalar();
    if (!p["roles"] || !p["roles"].IsSequence()) {
      return ErrorAt(source, p, path + ": roles must be a list");
    }
    for (const auto& r : p["roles"]) {
      if (!kRoles.contains(r.Scalar())) {
        return ErrorAt(source, r, fmt::format("{}.roles: '{}' is not one of data_holder, linker, "
                                              "vault, research_unit, privacy_officer",
                                              path, r.Scalar()));
      }
      party.roles.insert(r.Scalar());
    }
    if (p["datasets"]) {
      if (!p["datasets"].IsSequence()) return ErrorAt(source, p["datasets"], path + ".datasets: expected a list");
      for (const auto& d : p["datasets"]) party.datasets.insert(d.Scalar());
    }
    if (p["signing_key"]) party.signing_public_key = p["signing_key"].Scalar();
    if (party.roles.contains("data_holder") && party.signing_public_key.size() != 64) {
      return ErrorAt(source, p, path + ": a data holder needs signing_key, its agent's Ed25519 "
                                       "public key in hex (64 characters)");
    }
    if (!c.parties.emplace(party.name, party).second) {
      return ErrorAt(source, p, fmt::format("{}: party '{}' is listed twice", path, party.name));
    }
  }
  return c;
}

}  // namespace

absl::Status Covenant::MayDeliver(std::string_view party, std::string_view dataset,
                                  std::string_view signer_key_hex) const {
  auto it = parties.find(party);
  if (it == parties.end()) {
    return absl::PermissionDeniedError(fmt::format(
        "covenant {}: '{}' is not a party (rule: only listed parties may connect)", id, party));
  }
  const CovenantParty& p = it->second;
  if (!p.roles.contains("data_holder")) {
    return absl::PermissionDeniedError(fmt::format(
        "covenant {}: '{}' is not a data holder (rule: only data holders deliver)", id, party));
  }
  if (!p.datasets.contains(std::string(dataset))) {
    return absl::PermissionDeniedError(fmt::format(
        "covenant {}: '{}' may not deliver dataset '{}' (rule: parties[{}].datasets)", id, party,
        dataset, party));
  }
  if (p.signing_public_key != signer_key_hex) {
    return absl::PermissionDeniedError(fmt::format(
        "covenant {}: the batch is signed with a key that is not '{}''s (rule: "
        "parties[{}].signing_key); a batch cannot be replayed by another party",
        id, party, party));
  }
  return absl::OkStatus();
}

absl::Status Covenant::HasRole(std::string_view party, std::string_view role) const {
  auto it = parties.find(party);
  if (it == parties.end()) {
    return absl::PermissionDeniedError(fmt::format(
        "covenant {}: '{}' is not a party (rule: only listed parties may connect)", id, party));
  }
  if (!it->second.roles.contains(std::string(role))) {
    return absl::PermissionDeniedError(fmt::format(
        "covenant {}: '{}' does not have the role {} (rule: parties[{}].roles)", id, party, role,
        party));
  }
  return absl::OkStatus();
}

absl::Status Covenant::MayTokenise(std::string_view party) const {
  return HasRole(party, "data_holder");
}

absl::StatusOr<Covenant> ParseCovenant(std::string_view yaml, std::string_view source_name) {
  try {
    return Parse(source_name, YAML::Load(std::string(yaml)));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("{}:{}:{}: not valid YAML: {}", source_name,
                                                  e.mark.line + 1, e.mark.column + 1, e.msg));
  }
}

absl::StatusOr<Covenant> LoadCovenant(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("cannot open covenant file {}", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseCovenant(text.str(), path.string());
}

}  // namespace koppel
