#include "policies/covenant.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "core/status_macros.h"
#include "core/yaml_reader.h"

namespace koppel {
namespace {

const std::set<std::string> kRoles = {"data_holder", "linker", "vault", "research_unit",
                                      "privacy_officer"};

// Covenant files name the path in every error and do not list the allowed keys.
YamlReader CovenantReader(std::string_view source) {
  return YamlReader(source, {"expected a mapping", "unknown key"});
}

absl::Status ParseAnalysisPolicy(const YamlReader& r, const YAML::Node& node,
                                 AnalysisPolicy* policy) {
  RETURN_IF_ERROR(r.ExpectMap(node, "analysis",
                              {"recipients", "dimensions", "measures", "disclosure"}, {}));
  auto names = [&](const char* key, const std::set<std::string>& allowed,
                   std::set<std::string>* out) -> absl::Status {
    const YAML::Node list = node[key];
    const std::string path = YamlReader::Join("analysis", key);
    if (!list) return absl::OkStatus();
    if (!list.IsSequence()) return r.Error(list, path, "expected a list");
    out->clear();
    for (const auto& item : list) {
      if (!allowed.empty() && !allowed.contains(item.Scalar())) {
        return r.Error(item, path, fmt::format("'{}' is not one of {}", item.Scalar(),
                                               fmt::join(allowed, ", ")));
      }
      out->insert(item.Scalar());
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(names("recipients", {}, &policy->recipients));
  RETURN_IF_ERROR(names("dimensions", {"area", "household_type"}, &policy->dimensions));
  RETURN_IF_ERROR(names("measures", {"count", "percent", "cost"}, &policy->measures));
  const YAML::Node d = node["disclosure"];
  if (!d) return absl::OkStatus();
  RETURN_IF_ERROR(r.ExpectMap(d, "analysis.disclosure",
                              {"min_cell", "dominance", "secondary_suppression",
                               "suppressed_percent", "rounding_base", "max_contribution_eur"},
                              {}));
  if (d["min_cell"]) {
    const char* path = "analysis.disclosure.min_cell";
    ASSIGN_OR_RETURN(policy->min_cell,
                     r.As<int64_t>(d["min_cell"], path, "expected a whole number"));
    if (policy->min_cell < 1) return r.Error(d["min_cell"], path, "must be at least 1");
  }
  if (d["dominance"]) {
    const YAML::Node dom = d["dominance"];
    const char* path = "analysis.disclosure.dominance";
    RETURN_IF_ERROR(r.ExpectMap(dom, path, {"n", "k"}, {}));
    if (dom["n"]) {
      ASSIGN_OR_RETURN(policy->dominance_n,
                       r.As<int>(dom["n"], YamlReader::Join(path, "n"), "expected a whole number"));
    }
    if (dom["k"]) {
      ASSIGN_OR_RETURN(policy->dominance_k,
                       r.As<double>(dom["k"], YamlReader::Join(path, "k"), "expected a fraction"));
    }
    if (policy->dominance_n < 1 || policy->dominance_k <= 0 || policy->dominance_k > 1) {
      return r.Error(dom, path, "n must be at least 1 and k in (0, 1]");
    }
  }
  if (d["secondary_suppression"]) {
    const char* path = "analysis.disclosure.secondary_suppression";
    ASSIGN_OR_RETURN(policy->secondary_suppression, r.Bool(d["secondary_suppression"], path));
  }
  if (d["suppressed_percent"]) {
    policy->suppressed_percent = d["suppressed_percent"].Scalar();
    const std::string& rule = policy->suppressed_percent;
    const bool as_if = rule.starts_with("as_if:") && rule.size() > 6 &&
                       rule.find_first_not_of("0123456789", 6) == std::string::npos;
    if (rule != "star" && !as_if) {
      return r.Error(d["suppressed_percent"], "analysis.disclosure.suppressed_percent",
                     "must be star or as_if:N (e.g. as_if:5)");
    }
  }
  if (d["rounding_base"]) {
    const char* path = "analysis.disclosure.rounding_base";
    ASSIGN_OR_RETURN(policy->rounding_base,
                     r.As<int64_t>(d["rounding_base"], path, "expected a whole number"));
    if (policy->rounding_base < 0) return r.Error(d["rounding_base"], path, "must not be negative");
  }
  if (d["max_contribution_eur"]) {
    const char* path = "analysis.disclosure.max_contribution_eur";
    ASSIGN_OR_RETURN(double cap,
                     r.As<double>(d["max_contribution_eur"], path, "expected an amount in euro"));
    if (cap <= 0) return r.Error(d["max_contribution_eur"], path, "must be positive");
    policy->max_contribution_eur = cap;
  }
  return absl::OkStatus();
}

absl::StatusOr<Covenant> Parse(const YamlReader& r, const YAML::Node& root) {
  RETURN_IF_ERROR(r.ExpectMap(root, "covenant",
                              {"id", "token_mode", "oprf_quota", "parties", "analysis"}, {}));
  Covenant c;
  if (!root["id"] || !root["id"].IsScalar() || root["id"].Scalar().empty()) {
    return r.Error(root, "covenant", "missing id");
  }
  c.id = root["id"].Scalar();
  if (root["token_mode"]) {
    c.token_mode = root["token_mode"].Scalar();
    if (c.token_mode != "hmac" && c.token_mode != "oprf") {
      return r.Error(root["token_mode"], "token_mode", "must be hmac or oprf");
    }
  }
  if (root["oprf_quota"]) {
    ASSIGN_OR_RETURN(c.oprf_quota,
                     r.As<uint64_t>(root["oprf_quota"], "oprf_quota", "expected a whole number"));
  }
  const YAML::Node parties = root["parties"];
  if (!parties || !parties.IsSequence() || parties.size() == 0) {
    return r.Error(root, "covenant", "parties must be a non-empty list");
  }
  for (size_t i = 0; i < parties.size(); ++i) {
    const YAML::Node p = parties[i];
    const std::string path = YamlReader::At("parties", i);
    RETURN_IF_ERROR(r.ExpectMap(p, path, {"name", "roles", "datasets", "signing_key"}, {}));
    CovenantParty party;
    if (!p["name"] || !p["name"].IsScalar()) return r.Error(p, path, "missing name");
    party.name = p["name"].Scalar();
    if (!p["roles"] || !p["roles"].IsSequence()) return r.Error(p, path, "roles must be a list");
    for (const auto& role : p["roles"]) {
      if (!kRoles.contains(role.Scalar())) {
        return r.Error(role, YamlReader::Join(path, "roles"),
                       fmt::format("'{}' is not one of data_holder, linker, vault, "
                                   "research_unit, privacy_officer",
                                   role.Scalar()));
      }
      party.roles.insert(role.Scalar());
    }
    if (p["datasets"]) {
      if (!p["datasets"].IsSequence()) {
        return r.Error(p["datasets"], YamlReader::Join(path, "datasets"), "expected a list");
      }
      for (const auto& d : p["datasets"]) party.datasets.insert(d.Scalar());
    }
    if (p["signing_key"]) party.signing_public_key = p["signing_key"].Scalar();
    if (party.roles.contains("data_holder") && party.signing_public_key.size() != 64) {
      return r.Error(p, path, "a data holder needs signing_key, its agent's Ed25519 public key "
                              "in hex (64 characters)");
    }
    if (!c.parties.emplace(party.name, party).second) {
      return r.Error(p, path, fmt::format("party '{}' is listed twice", party.name));
    }
  }
  if (root["analysis"]) {
    RETURN_IF_ERROR(ParseAnalysisPolicy(r, root["analysis"], &c.analysis));
    for (const std::string& recipient : c.analysis.recipients) {
      auto it = c.parties.find(recipient);
      if (it == c.parties.end() || !it->second.roles.contains("research_unit")) {
        return r.Error(root["analysis"]["recipients"], "analysis.recipients",
                       fmt::format("'{}' must be a party with the role research_unit", recipient));
      }
    }
  }
  return c;
}

}  // namespace

absl::Status AnalysisPolicy::MayQuery(const Covenant& covenant, std::string_view party) const {
  if (absl::Status s = covenant.HasRole(party, "research_unit"); !s.ok()) return s;
  if (!recipients.empty() && !recipients.contains(std::string(party))) {
    return absl::PermissionDeniedError(fmt::format(
        "covenant {}: '{}' is not a recipient of analyses (rule: analysis.recipients)",
        covenant.id, party));
  }
  return absl::OkStatus();
}

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
  const YamlReader reader = CovenantReader(source_name);
  try {
    return Parse(reader, YAML::Load(std::string(yaml)));
  } catch (const YAML::Exception& e) {
    return reader.NotValidYaml(e);
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
