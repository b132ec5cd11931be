#include "policies/covenant.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
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

template <typename T>
absl::Status Read(std::string_view source, const YAML::Node& node, std::string_view path,
                  std::string_view expected, T* out) {
  try {
    *out = node.as<T>();
    return absl::OkStatus();
  } catch (const YAML::Exception&) {
    return ErrorAt(source, node, fmt::format("{}: expected {}", path, expected));
  }
}

absl::Status ParseAnalysisPolicy(std::string_view source, const YAML::Node& node,
                                 AnalysisPolicy* policy) {
  if (absl::Status s = OnlyKeys(source, node, "analysis",
                                {"recipients", "dimensions", "measures", "disclosure"});
      !s.ok()) {
    return s;
  }
  auto names = [&](const char* key, const std::set<std::string>& allowed,
                   std::set<std::string>* out) -> absl::Status {
    const YAML::Node list = node[key];
    if (!list) return absl::OkStatus();
    if (!list.IsSequence()) return ErrorAt(source, list, fmt::format("analysis.{}: expected a list", key));
    out->clear();
    for (const auto& item : list) {
      if (!allowed.empty() && !allowed.contains(item.Scalar())) {
        return ErrorAt(source, item, fmt::format("analysis.{}: '{}' is not one of {}", key,
                                                 item.Scalar(), fmt::join(allowed, ", ")));
      }
      out->insert(item.Scalar());
    }
    return absl::OkStatus();
  };
  if (absl::Status s = names("recipients", {}, &policy->recipients); !s.ok()) return s;
  if (absl::Status s = names("dimensions", {"area", "household_type"}, &policy->dimensions); !s.ok()) return s;
  if (absl::Status s = names("measures", {"count", "percent", "cost"}, &policy->measures); !s.ok()) return s;
  const YAML::Node d = node["disclosure"];
  if (!d) return absl::OkStatus();
  if (absl::Status s = OnlyKeys(source, d, "analysis.disclosure",
                                {"min_cell", "dominance", "secondary_suppression",
                                 "suppressed_percent", "rounding_base", "max_contribution_eur"});
      !s.ok()) {
    return s;
  }
  if (d["min_cell"]) {
    if (absl::Status s = Read(source, d["min_cell"], "analysis.disclosure.min_cell", "a whole number", &policy->min_cell); !s.ok()) return s;
    if (policy->min_cell < 1) return ErrorAt(source, d["min_cell"], "analysis.disclosure.min_cell: must be at least 1");
  }
  if (d["dominance"]) {
    const YAML::Node dom = d["dominance"];
    if (absl::Status s = OnlyKeys(source, dom, "analysis.disclosure.dominance", {"n", "k"}); !s.ok()) return s;
    if (dom["n"]) {
      if (absl::Status s = Read(source, dom["n"], "analysis.disclosure.dominance.n", "a whole number", &policy->dominance_n); !s.ok()) return s;
    }
    if (dom["k"]) {
      if (absl::Status s = Read(source, dom["k"], "analysis.disclosure.dominance.k", "a fraction", &policy->dominance_k); !s.ok()) return s;
    }
    if (policy->dominance_n < 1 || policy->dominance_k <= 0 || policy->dominance_k > 1) {
      return ErrorAt(source, dom, "analysis.disclosure.dominance: n must be at least 1 and k in (0, 1]");
    }
  }
  if (d["secondary_suppression"]) {
    if (absl::Status s = Read(source, d["secondary_suppression"], "analysis.disclosure.secondary_suppression", "true or false", &policy->secondary_suppression); !s.ok()) return s;
  }
  if (d["suppressed_percent"]) {
    policy->suppressed_percent = d["suppressed_percent"].Scalar();
    const std::string& rule = policy->suppressed_percent;
    const bool as_if = rule.starts_with("as_if:") && rule.size() > 6 &&
                       rule.find_first_not_of("0123456789", 6) == std::string::npos;
    if (rule != "star" && !as_if) {
      return ErrorAt(source, d["suppressed_percent"],
                     "analysis.disclosure.suppressed_percent: must be star or as_if:N (e.g. as_if:5)");
    }
  }
  if (d["rounding_base"]) {
    if (absl::Status s = Read(source, d["rounding_base"], "analysis.disclosure.rounding_base", "a whole number", &policy->rounding_base); !s.ok()) return s;
    if (policy->rounding_base < 0) return ErrorAt(source, d["rounding_base"], "analysis.disclosure.rounding_base: must not be negative");
  }
  if (d["max_contribution_eur"]) {
    double cap = 0;
    if (absl::Status s = Read(source, d["max_contribution_eur"], "analysis.disclosure.max_contribution_eur", "an amount in euro", &cap); !s.ok()) return s;
    if (cap <= 0) return ErrorAt(source, d["max_contribution_eur"], "analysis.disclosure.max_contribution_eur: must be positive");
    policy->max_contribution_eur = cap;
  }
  return absl::OkStatus();
}

absl::StatusOr<Covenant> Parse(std::string_view source, const YAML::Node& root) {
  if (absl::Status s = OnlyKeys(source, root, "covenant",
                                {"id", "token_mode", "oprf_quota", "parties", "analysis"});
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
  if (root["analysis"]) {
    if (absl::Status s = ParseAnalysisPolicy(source, root["analysis"], &c.analysis); !s.ok()) return s;
    for (const std::string& recipient : c.analysis.recipients) {
      auto it = c.parties.find(recipient);
      if (it == c.parties.end() || !it->second.roles.contains("research_unit")) {
        return ErrorAt(source, root["analysis"]["recipients"], fmt::format(
            "analysis.recipients: '{}' must be a party with the role research_unit", recipient));
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
