#include "policies/covenant.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "core/civil_date.h"
#include "core/file_contents.h"
#include "core/identifier_rules.h"
#include "core/refusal.h"
#include "core/status_macros.h"
#include "core/yaml_reader.h"
#include "policies/covenant_signature.h"

namespace koppel::policy {
namespace {

const std::vector<std::string> kRoles = {"data_holder", "linker", "vault", "research_unit",
                                         "privacy_officer"};
const std::vector<std::string> kIdentifiers = {"bsn", "address"};
const std::vector<std::string> kTableKinds = {"counts", "overlap", "costs", "sensitivity",
                                              "cost_benefit"};
const std::vector<std::string> kDimensions = {"area", "household_type"};
const std::vector<std::string> kMeasures = {"count", "percent", "cost"};

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool IsNameChar(char c, bool upper_ok) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
         (upper_ok && c >= 'A' && c <= 'Z');
}

// `<FILE>` where FILE matches [A-Za-z0-9._-]+\.pub: a key `koppel policy fill-keys` fills in.
bool IsKeyPlaceholder(std::string_view s) {
  if (s.size() < 7 || s.front() != '<' || s.back() != '>') return false;
  const std::string_view file = s.substr(1, s.size() - 2);
  if (!file.ends_with(".pub") || file.size() < 5) return false;
  for (char c : file) {
    if (!IsNameChar(c, true)) return false;
  }
  return true;
}

// Approved analysis names, as a spec's `analysis:`: [a-z0-9-], 1..64 characters.
bool IsAnalysisName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

constexpr std::string_view kDigestPlaceholderStart = "<sha256:";

// The PATH of `<sha256:PATH>`: not empty, no whitespace or angle brackets.
std::string_view DigestPlaceholderPath(std::string_view s) {
  if (!s.starts_with(kDigestPlaceholderStart) || !s.ends_with('>')) return {};
  const std::string_view path =
      s.substr(kDigestPlaceholderStart.size(), s.size() - kDigestPlaceholderStart.size() - 1);
  for (char c : path) {
    if (c == '<' || c == '>' || absl::ascii_isspace(static_cast<unsigned char>(c))) return {};
  }
  return path;
}

bool IsLowerHexDigest(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

constexpr std::string_view kApproveHint = "koppel policy approve --spec FILE COVENANT";

bool IsHexKey(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

class CovenantParser {
 public:
  CovenantParser(std::string_view source, const CovenantParseOptions& options)
      : r_(source, {"expected a mapping", "unknown key; allowed: {allowed}"}), options_(options) {}

  const YamlReader& reader() const { return r_; }

  absl::StatusOr<Covenant> Parse(const YAML::Node& root) {
    RETURN_IF_ERROR(
        r_.ExpectMap(root, "",
                     {"id", "version", "title", "valid_from", "valid_until", "retention",
                      "key_rotation", "token_mode", "oprf_quota", "oprf_quota_window_days",
                      "privacy_officers", "parties", "analysis", "purpose_bound_releases"},
                     {"id", "version", "title", "valid_from", "valid_until", "retention",
                      "key_rotation", "token_mode", "privacy_officers", "parties"}));
    ASSIGN_OR_RETURN(c_.id, Name(root["id"], "id"));
    ASSIGN_OR_RETURN(const int64_t version,
                     r_.Int(root["version"], "version", "expected a whole number >= 1"));
    if (version < 1 || version > UINT32_MAX) {
      return r_.Error(root["version"], "version", "expected a whole number >= 1");
    }
    c_.version = static_cast<uint32_t>(version);
    ASSIGN_OR_RETURN(c_.title, Text(root["title"], "title"));
    ASSIGN_OR_RETURN(c_.valid_from, Day(root["valid_from"], "valid_from"));
    ASSIGN_OR_RETURN(c_.valid_until, Day(root["valid_until"], "valid_until"));
    if (c_.valid_until < c_.valid_from) {
      return r_.Error(root["valid_until"], "valid_until",
                      "is before valid_from; the last day in force must be on or after the first");
    }
    {
      const YAML::Node n = root["retention"];
      RETURN_IF_ERROR(r_.ExpectMap(n, "retention", {"days_after_end"}, {"days_after_end"}));
      ASSIGN_OR_RETURN(c_.retention_days_after_end,
                       NonNegative(n["days_after_end"], "retention.days_after_end"));
    }
    {
      const YAML::Node n = root["key_rotation"];
      RETURN_IF_ERROR(
          r_.ExpectMap(n, "key_rotation", {"period_days", "grace_days"}, {"period_days"}));
      ASSIGN_OR_RETURN(c_.key_rotation_days,
                       NonNegative(n["period_days"], "key_rotation.period_days"));
      c_.key_rotation_grace_days = DefaultKeyRotationGraceDays(c_.key_rotation_days);
      if (n["grace_days"]) {
        ASSIGN_OR_RETURN(c_.key_rotation_grace_days,
                         NonNegative(n["grace_days"], "key_rotation.grace_days"));
        if (c_.key_rotation_days == 0) {
          return r_.Error(n["grace_days"], "key_rotation.grace_days",
                          "needs a period_days above 0: without rotation there is no grace");
        }
        if (c_.key_rotation_grace_days >= c_.key_rotation_days) {
          return r_.Error(n["grace_days"], "key_rotation.grace_days",
                          fmt::format("must be below period_days ({}): holders re-deliver under "
                                      "one epoch before the next rotation",
                                      c_.key_rotation_days));
        }
      }
    }
    ASSIGN_OR_RETURN(c_.token_mode, r_.Scalar(root["token_mode"], "token_mode"));
    if (c_.token_mode != "hmac" && c_.token_mode != "oprf") {
      return r_.Error(root["token_mode"], "token_mode",
                      fmt::format("'{}' is not one of hmac, oprf", c_.token_mode));
    }
    if (root["oprf_quota"]) {
      ASSIGN_OR_RETURN(const int64_t quota,
                       r_.Int(root["oprf_quota"], "oprf_quota", "expected a whole number >= 1"));
      if (quota < 1)
        return r_.Error(root["oprf_quota"], "oprf_quota", "expected a whole number >= 1");
      c_.oprf_quota = static_cast<uint64_t>(quota);
    }
    if (root["oprf_quota_window_days"]) {
      ASSIGN_OR_RETURN(const int64_t window,
                       r_.Int(root["oprf_quota_window_days"], "oprf_quota_window_days",
                              "expected a whole number of days >= 1"));
      if (window < 1 || window > 36'500) {
        return r_.Error(root["oprf_quota_window_days"], "oprf_quota_window_days",
                        "expected a whole number of days >= 1");
      }
      c_.oprf_quota_window_days = window;
    }
    RETURN_IF_ERROR(ParseOfficers(root["privacy_officers"]));
    RETURN_IF_ERROR(ParseParties(root["parties"]));
    if (root["analysis"]) {
      RETURN_IF_ERROR(ParseAnalysis(root["analysis"]));
    }
    if (root["purpose_bound_releases"]) {
      RETURN_IF_ERROR(ParseReleases(root["purpose_bound_releases"]));
    }
    return std::move(c_);
  }

 private:
  absl::StatusOr<std::string> Text(const YAML::Node& node, const std::string& path) const {
    ASSIGN_OR_RETURN(std::string text, r_.Scalar(node, path));
    text = std::string(absl::StripAsciiWhitespace(text));
    if (text.empty()) return r_.Error(node, path, "must not be empty");
    return text;
  }

  absl::StatusOr<std::string> Name(const YAML::Node& node, const std::string& path) const {
    ASSIGN_OR_RETURN(std::string name, r_.Scalar(node, path));
    if (!IsName(name)) {
      return r_.Error(node, path,
                      fmt::format("'{}' is not a valid name: use 1 to 64 of a-z, 0-9, '.', '_', "
                                  "'-', starting with a letter or digit",
                                  name));
    }
    return name;
  }

  absl::StatusOr<absl::CivilDay> Day(const YAML::Node& node, const std::string& path) const {
    ASSIGN_OR_RETURN(const std::string text, r_.Scalar(node, path));
    // Any four-digit year, as covenants have always been read: a signed file cannot change.
    const std::optional<absl::CivilDay> day = ParseIsoDay(text, 1, 9999);
    if (!day) return r_.Error(node, path, fmt::format("'{}' is not a date yyyy-mm-dd", text));
    return *day;
  }

  absl::StatusOr<int64_t> NonNegative(const YAML::Node& node, const std::string& path) const {
    ASSIGN_OR_RETURN(const int64_t value, r_.Int(node, path, "expected a whole number >= 0"));
    if (value < 0) return r_.Error(node, path, "expected a whole number >= 0");
    return value;
  }

  absl::StatusOr<std::string> Key(const YAML::Node& node, const std::string& path) const {
    ASSIGN_OR_RETURN(const std::string key, r_.Scalar(node, path));
    if (IsKeyPlaceholder(key)) {
      if (options_.allow_key_placeholders) return key;
      return r_.Error(node, path,
                      fmt::format("{} is a placeholder: run `koppel policy fill-keys` to replace "
                                  "it with the key in {}",
                                  key, key.substr(1, key.size() - 2)));
    }
    if (!IsHexKey(key)) {
      return r_.Error(node, path,
                      "expected an Ed25519 public key in hex (64 characters) or a placeholder "
                      "<FILE.pub> for `koppel policy fill-keys`");
    }
    return absl::AsciiStrToLower(key);
  }

  // A SHA-256 in lowercase hex, or (templates only) a placeholder `<sha256:PATH>`.
  absl::StatusOr<std::string> Digest(const YAML::Node& node, const std::string& path) const {
    ASSIGN_OR_RETURN(const std::string digest, r_.Scalar(node, path));
    const std::string_view file = DigestPlaceholderPath(digest);
    if (!file.empty()) {
      if (options_.allow_key_placeholders) return digest;
      return r_.Error(node, path,
                      fmt::format("{} is a placeholder: run `koppel policy fill-keys` to replace "
                                  "it with the SHA-256 of {}",
                                  digest, file));
    }
    if (!IsLowerHexDigest(digest)) {
      return r_.Error(node, path,
                      "expected a SHA-256 in lowercase hex (64 characters) or a placeholder "
                      "<sha256:FILE> for `koppel policy fill-keys`");
    }
    return digest;
  }

  // The items of a list of single values, each one of `allowed` (when not empty), none twice.
  absl::StatusOr<std::vector<std::pair<std::string, YAML::Node>>> Values(
      const YAML::Node& node, const std::string& path, bool allow_empty,
      const std::vector<std::string>& allowed) const {
    if (!node.IsSequence()) return r_.Error(node, path, "expected a list");
    if (!allow_empty && node.size() == 0) return r_.Error(node, path, "must not be empty");
    std::vector<std::pair<std::string, YAML::Node>> out;
    for (const YAML::Node& item : node) {
      ASSIGN_OR_RETURN(const std::string value, r_.Scalar(item, path));
      if (!allowed.empty() && !Contains(allowed, value)) {
        return r_.Error(item, path,
                        fmt::format("'{}' is not one of {}", value, fmt::join(allowed, ", ")));
      }
      for (const auto& seen : out) {
        if (seen.first == value) {
          return r_.Error(item, path, fmt::format("'{}' is listed twice", value));
        }
      }
      out.emplace_back(value, item);
    }
    return out;
  }

  absl::StatusOr<std::set<std::string>> ValueSet(const YAML::Node& node, const std::string& path,
                                                 bool allow_empty,
                                                 const std::vector<std::string>& allowed) const {
    ASSIGN_OR_RETURN(const auto values, Values(node, path, allow_empty, allowed));
    std::set<std::string> out;
    for (const auto& v : values) out.insert(v.first);
    return out;
  }

  absl::Status ParseOfficers(const YAML::Node& list) {
    const std::string path = "privacy_officers";
    if (!list.IsSequence()) return r_.Error(list, path, "expected a list");
    if (list.size() == 0) return r_.Error(list, path, "must name at least one privacy officer");
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node n = list[i];
      const std::string at = YamlReader::At(path, i);
      RETURN_IF_ERROR(r_.ExpectMap(n, at, {"name", "organisation", "public_key"},
                                   {"name", "organisation", "public_key"}));
      PrivacyOfficer officer;
      ASSIGN_OR_RETURN(officer.name, Name(n["name"], YamlReader::Join(at, "name")));
      ASSIGN_OR_RETURN(officer.organisation,
                       Text(n["organisation"], YamlReader::Join(at, "organisation")));
      ASSIGN_OR_RETURN(officer.public_key,
                       Key(n["public_key"], YamlReader::Join(at, "public_key")));
      const std::string name = officer.name;
      if (!c_.privacy_officers.emplace(name, std::move(officer)).second) {
        return r_.Error(n["name"], YamlReader::Join(at, "name"),
                        fmt::format("privacy officer '{}' is listed twice", name));
      }
      officer_nodes_.push_back({name, at, n});
    }
    return absl::OkStatus();
  }

  absl::Status ParseDatasets(const YAML::Node& list, const std::string& path,
                             CovenantParty* party) {
    if (!list.IsSequence()) return r_.Error(list, path, "expected a list");
    if (list.size() == 0) {
      return r_.Error(list, path, "a data holder must be granted at least one dataset");
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node n = list[i];
      const std::string at = YamlReader::At(path, i);
      RETURN_IF_ERROR(r_.ExpectMap(n, at, {"name", "identifiers", "fields"},
                                   {"name", "identifiers", "fields"}));
      DatasetGrant grant;
      ASSIGN_OR_RETURN(grant.name, Name(n["name"], YamlReader::Join(at, "name")));
      if (auto owner = dataset_owner_.find(grant.name); owner != dataset_owner_.end()) {
        return r_.Error(n["name"], YamlReader::Join(at, "name"),
                        fmt::format("dataset '{}' is already granted to '{}'; a dataset may be "
                                    "granted to one party only",
                                    grant.name, owner->second));
      }
      ASSIGN_OR_RETURN(
          grant.identifiers,
          ValueSet(n["identifiers"], YamlReader::Join(at, "identifiers"), false, kIdentifiers));
      const std::string fields_path = YamlReader::Join(at, "fields");
      ASSIGN_OR_RETURN(const auto fields, Values(n["fields"], fields_path, true, {}));
      for (const auto& [field, node] : fields) {
        if (!IsFieldName(field)) {
          return r_.Error(node, fields_path,
                          fmt::format("'{}' is not a field name: use 1 to 64 of A-Z, a-z, 0-9, "
                                      "'.', '_', '-' (the mapping's attribute names)",
                                      field));
        }
        grant.fields.insert(field);
      }
      dataset_owner_.emplace(grant.name, party->name);
      const std::string name = grant.name;
      party->datasets.emplace(name, std::move(grant));
    }
    return absl::OkStatus();
  }

  absl::Status ParseParties(const YAML::Node& list) {
    const std::string path = "parties";
    if (!list.IsSequence()) return r_.Error(list, path, "expected a list");
    if (list.size() == 0) return r_.Error(list, path, "must name at least one party");
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node n = list[i];
      const std::string at = YamlReader::At(path, i);
      RETURN_IF_ERROR(r_.ExpectMap(
          n, at,
          {"name", "organisation", "roles", "privacy_officer", "purpose", "legal_basis",
           "signing_key", "datasets"},
          {"name", "organisation", "roles", "privacy_officer", "purpose", "legal_basis"}));
      CovenantParty party;
      ASSIGN_OR_RETURN(party.name, Name(n["name"], YamlReader::Join(at, "name")));
      if (c_.parties.contains(party.name)) {
        return r_.Error(n["name"], YamlReader::Join(at, "name"),
                        fmt::format("party '{}' is listed twice", party.name));
      }
      ASSIGN_OR_RETURN(party.organisation,
                       Text(n["organisation"], YamlReader::Join(at, "organisation")));
      ASSIGN_OR_RETURN(party.roles,
                       ValueSet(n["roles"], YamlReader::Join(at, "roles"), false, kRoles));
      const std::string officer_path = YamlReader::Join(at, "privacy_officer");
      ASSIGN_OR_RETURN(party.privacy_officer, r_.Scalar(n["privacy_officer"], officer_path));
      if (!c_.privacy_officers.contains(party.privacy_officer)) {
        return r_.Error(
            n["privacy_officer"], officer_path,
            fmt::format("'{}' is not listed under privacy_officers", party.privacy_officer));
      }
      ASSIGN_OR_RETURN(party.purpose, Text(n["purpose"], YamlReader::Join(at, "purpose")));
      ASSIGN_OR_RETURN(party.legal_basis,
                       Text(n["legal_basis"], YamlReader::Join(at, "legal_basis")));
      const bool holder = party.roles.contains("data_holder");
      if (holder) {
        if (!n["signing_key"]) {
          return r_.Error(n, at,
                          "missing required key 'signing_key': a data holder needs its "
                          "agent's Ed25519 batch signing key");
        }
        if (!n["datasets"]) {
          return r_.Error(n, at,
                          "missing required key 'datasets': a data holder must be "
                          "granted at least one dataset");
        }
        ASSIGN_OR_RETURN(party.signing_public_key,
                         Key(n["signing_key"], YamlReader::Join(at, "signing_key")));
        RETURN_IF_ERROR(ParseDatasets(n["datasets"], YamlReader::Join(at, "datasets"), &party));
      } else {
        for (const char* key : {"signing_key", "datasets"}) {
          if (n[key]) {
            return r_.Error(n[key], YamlReader::Join(at, key),
                            "only a party with the role data_holder has this key");
          }
        }
      }
      const std::string name = party.name;
      c_.parties.emplace(name, std::move(party));
    }
    for (const char* role : {"linker", "vault"}) {
      bool found = false;
      for (const auto& [name, party] : c_.parties) found = found || party.roles.contains(role);
      if (!found) {
        return r_.Error(list, path,
                        fmt::format("no party has the role {}; a covenant needs at "
                                    "least one",
                                    role));
      }
    }
    for (const auto& [officer, officer_path, node] : officer_nodes_) {
      bool signs = false;
      for (const auto& [name, party] : c_.parties)
        signs = signs || party.privacy_officer == officer;
      if (!signs) {
        return r_.Error(node, officer_path,
                        fmt::format("'{}' signs for no party; name it as privacy_officer of a "
                                    "party or remove it",
                                    officer));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParseDisclosure(const YAML::Node& d, AnalysisPolicy* policy) const {
    const std::string path = "analysis.disclosure";
    RETURN_IF_ERROR(
        r_.ExpectMap(d, path,
                     {"min_cell", "dominance", "secondary_suppression", "suppressed_percent",
                      "rounding_base", "max_contribution_eur", "max_releases"},
                     {}));
    if (d["min_cell"]) {
      const std::string p = YamlReader::Join(path, "min_cell");
      ASSIGN_OR_RETURN(policy->min_cell, r_.Int(d["min_cell"], p, "expected a whole number >= 1"));
      if (policy->min_cell < 1) return r_.Error(d["min_cell"], p, "expected a whole number >= 1");
    }
    if (d["dominance"]) {
      const YAML::Node dom = d["dominance"];
      const std::string p = YamlReader::Join(path, "dominance");
      RETURN_IF_ERROR(r_.ExpectMap(dom, p, {"n", "k"}, {"n", "k"}));
      ASSIGN_OR_RETURN(const int64_t n,
                       r_.Int(dom["n"], YamlReader::Join(p, "n"), "expected a whole number >= 1"));
      if (n < 1 || n > 1000) {
        return r_.Error(dom["n"], YamlReader::Join(p, "n"), "expected a whole number >= 1");
      }
      policy->dominance_n = static_cast<int>(n);
      ASSIGN_OR_RETURN(policy->dominance_k,
                       r_.As<double>(dom["k"], YamlReader::Join(p, "k"),
                                     "expected a fraction greater than 0, at most 1"));
      if (!(policy->dominance_k > 0 && policy->dominance_k <= 1)) {
        return r_.Error(dom["k"], YamlReader::Join(p, "k"),
                        "expected a fraction greater than 0, at most 1");
      }
    }
    if (d["secondary_suppression"]) {
      ASSIGN_OR_RETURN(
          policy->secondary_suppression,
          r_.Bool(d["secondary_suppression"], YamlReader::Join(path, "secondary_suppression")));
    }
    if (d["suppressed_percent"]) {
      const std::string p = YamlReader::Join(path, "suppressed_percent");
      ASSIGN_OR_RETURN(policy->suppressed_percent, r_.Scalar(d["suppressed_percent"], p));
      const std::string& rule = policy->suppressed_percent;
      if (rule != "star" && !policy->SuppressedPercentAsIf()) {
        return r_.Error(
            d["suppressed_percent"], p,
            fmt::format("'{}' is not star or as_if:N with N >= 1 (e.g. as_if:5)", rule));
      }
    }
    if (d["rounding_base"]) {
      ASSIGN_OR_RETURN(policy->rounding_base,
                       NonNegative(d["rounding_base"], YamlReader::Join(path, "rounding_base")));
    }
    if (d["max_contribution_eur"]) {
      const std::string p = YamlReader::Join(path, "max_contribution_eur");
      ASSIGN_OR_RETURN(const double cap, r_.As<double>(d["max_contribution_eur"], p,
                                                       "expected a positive amount in euro"));
      if (!(cap > 0))
        return r_.Error(d["max_contribution_eur"], p, "expected a positive amount in euro");
      policy->max_contribution_eur = cap;
    }
    if (d["max_releases"]) {
      ASSIGN_OR_RETURN(policy->max_releases,
                       NonNegative(d["max_releases"], YamlReader::Join(path, "max_releases")));
    }
    return absl::OkStatus();
  }

  // prices and prices_sha256: both or neither.
  absl::Status ParseApprovedPrices(const YAML::Node& n, const std::string& at,
                                   ApprovedAnalysis* approved) const {
    if (!n["prices"]) {
      if (!n["prices_sha256"]) return absl::OkStatus();
      return r_.Error(n["prices_sha256"], YamlReader::Join(at, "prices_sha256"),
                      "only an entry with prices has this key");
    }
    if (!n["prices_sha256"]) {
      return r_.Error(n, at,
                      "missing required key 'prices_sha256': the prices file is pinned by its "
                      "SHA-256 too");
    }
    ASSIGN_OR_RETURN(approved->prices_path, Text(n["prices"], YamlReader::Join(at, "prices")));
    ASSIGN_OR_RETURN(approved->prices_sha256,
                     Digest(n["prices_sha256"], YamlReader::Join(at, "prices_sha256")));
    return absl::OkStatus();
  }

  absl::StatusOr<ApprovedAnalysis> ParseApprovedEntry(const YAML::Node& n, const std::string& at,
                                                      const AnalysisPolicy& policy) const {
    RETURN_IF_ERROR(r_.ExpectMap(n, at, {"name", "spec", "sha256", "prices", "prices_sha256"},
                                 {"name", "spec", "sha256"}));
    ApprovedAnalysis approved;
    const std::string name_path = YamlReader::Join(at, "name");
    ASSIGN_OR_RETURN(approved.name, r_.Scalar(n["name"], name_path));
    if (!IsAnalysisName(approved.name)) {
      return r_.Error(n["name"], name_path,
                      fmt::format("'{}' is not a valid analysis name: use 1 to 64 of a-z, 0-9, "
                                  "'-' (the spec's `analysis:`)",
                                  approved.name));
    }
    for (const ApprovedAnalysis& other : policy.approved) {
      if (other.name == approved.name) {
        return r_.Error(n["name"], name_path,
                        fmt::format("analysis '{}' is approved twice", approved.name));
      }
    }
    ASSIGN_OR_RETURN(approved.spec_path, Text(n["spec"], YamlReader::Join(at, "spec")));
    ASSIGN_OR_RETURN(approved.spec_sha256, Digest(n["sha256"], YamlReader::Join(at, "sha256")));
    RETURN_IF_ERROR(ParseApprovedPrices(n, at, &approved));
    for (const ApprovedAnalysis& other : policy.approved) {
      if (other.spec_sha256 == approved.spec_sha256 &&
          other.prices_sha256 == approved.prices_sha256) {
        return r_.Error(n["sha256"], YamlReader::Join(at, "sha256"),
                        fmt::format("pins the same spec and prices file as '{}'", other.name));
      }
    }
    return approved;
  }

  absl::Status ParseApproved(const YAML::Node& list, AnalysisPolicy* policy) const {
    const std::string path = "analysis.approved";
    if (!list.IsSequence()) return r_.Error(list, path, "expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      ASSIGN_OR_RETURN(ApprovedAnalysis approved,
                       ParseApprovedEntry(list[i], YamlReader::At(path, i), *policy));
      policy->approved.push_back(std::move(approved));
    }
    return absl::OkStatus();
  }

  absl::Status ParsePerturbation(const YAML::Node& node, AnalysisPolicy* policy) const {
    const std::string path = "analysis.perturbation";
    RETURN_IF_ERROR(r_.ExpectMap(node, path, {"table", "table_sha256"}, {}));
    PerturbationSetting& setting = policy->perturbation;
    if (node["table"]) {
      ASSIGN_OR_RETURN(setting.table, Text(node["table"], YamlReader::Join(path, "table")));
    }
    const std::string digest_path = YamlReader::Join(path, "table_sha256");
    if (setting.table == "default") {
      if (node["table_sha256"]) {
        return r_.Error(node["table_sha256"], digest_path,
                        "only a table given by its path has a SHA-256; the default table is "
                        "part of koppel");
      }
      return absl::OkStatus();
    }
    if (!node["table_sha256"]) {
      return r_.Error(node, path,
                      "missing required key 'table_sha256': a perturbation table given by its "
                      "path is pinned by its SHA-256");
    }
    ASSIGN_OR_RETURN(setting.table_sha256, Digest(node["table_sha256"], digest_path));
    return absl::OkStatus();
  }

  // Which specs may run: the approved ones exactly, others refused or perturbed.
  absl::Status ParseReleaseModes(const YAML::Node& node, AnalysisPolicy* policy) const {
    const std::string path = "analysis";
    if (node["approved"]) RETURN_IF_ERROR(ParseApproved(node["approved"], policy));
    if (node["exploratory"]) {
      const std::string p = YamlReader::Join(path, "exploratory");
      ASSIGN_OR_RETURN(const std::string mode, r_.Scalar(node["exploratory"], p));
      if (mode != "refuse" && mode != "perturb") {
        return r_.Error(node["exploratory"], p,
                        fmt::format("'{}' is not one of refuse, perturb", mode));
      }
      policy->exploratory =
          mode == "perturb" ? ExploratoryMode::kPerturb : ExploratoryMode::kRefuse;
    }
    if (node["perturbation"]) {
      if (policy->exploratory != ExploratoryMode::kPerturb) {
        return r_.Error(node["perturbation"], YamlReader::Join(path, "perturbation"),
                        "only exploratory: perturb perturbs; set it or remove perturbation");
      }
      RETURN_IF_ERROR(ParsePerturbation(node["perturbation"], policy));
    }
    if (policy->approved.empty() && policy->exploratory == ExploratoryMode::kRefuse) {
      return r_.Error(node, path,
                      fmt::format("approves no analysis and refuses exploratory specs, so "
                                  "nothing could ever run; pin a spec under analysis.approved "
                                  "({}) or set exploratory: perturb",
                                  kApproveHint));
    }
    return absl::OkStatus();
  }

  absl::Status ParseAnalysis(const YAML::Node& node) {
    const std::string path = "analysis";
    if (node.IsMap()) {
      for (const auto& entry : node) {
        if (entry.first.Scalar() != "analyses") continue;
        return r_.Error(entry.first, YamlReader::Join(path, "analyses"),
                        fmt::format("analyses are no longer allowed by name; pin each approved "
                                    "spec by its SHA-256 under analysis.approved ({})",
                                    kApproveHint));
      }
    }
    RETURN_IF_ERROR(r_.ExpectMap(node, path,
                                 {"recipients", "approved", "exploratory", "perturbation",
                                  "table_kinds", "dimensions", "measures", "disclosure"},
                                 {}));
    AnalysisPolicy& policy = c_.analysis;
    if (node["recipients"]) {
      const std::string p = YamlReader::Join(path, "recipients");
      ASSIGN_OR_RETURN(const auto recipients, Values(node["recipients"], p, true, {}));
      for (const auto& [name, item] : recipients) {
        auto it = c_.parties.find(name);
        if (it == c_.parties.end() || !it->second.roles.contains("research_unit")) {
          return r_.Error(item, p,
                          fmt::format("'{}' is not a party with the role research_unit", name));
        }
        policy.recipients.insert(name);
      }
    }
    if (policy.recipients.empty()) {
      bool any = false;
      for (const auto& [name, party] : c_.parties)
        any = any || party.roles.contains("research_unit");
      if (!any) {
        return r_.Error(node, path, "no party has the role research_unit to receive analyses");
      }
    }
    RETURN_IF_ERROR(ParseReleaseModes(node, &policy));
    struct Shape {
      const char* key;
      const std::vector<std::string>* allowed;
      std::set<std::string>* out;
    };
    for (const Shape& shape : {Shape{"table_kinds", &kTableKinds, &policy.table_kinds},
                               Shape{"dimensions", &kDimensions, &policy.dimensions},
                               Shape{"measures", &kMeasures, &policy.measures}}) {
      if (!node[shape.key]) continue;
      const std::string p = YamlReader::Join(path, shape.key);
      if (node[shape.key].IsSequence() && node[shape.key].size() == 0) {
        return r_.Error(node[shape.key], p,
                        fmt::format("must not be empty; leave the key out to allow {}",
                                    fmt::join(*shape.allowed, ", ")));
      }
      ASSIGN_OR_RETURN(*shape.out, ValueSet(node[shape.key], p, false, *shape.allowed));
    }
    if (node["disclosure"]) {
      RETURN_IF_ERROR(ParseDisclosure(node["disclosure"], &policy));
    }
    return absl::OkStatus();
  }

  // unit: person (default) or household; a household release names the register it finds the
  // household in, which some data holder must deliver with both identifiers and the fields.
  absl::Status ParseReleaseUnit(const YAML::Node& n, const std::string& at,
                                PurposeBoundRelease* release) {
    const std::string unit_path = YamlReader::Join(at, "unit");
    if (n["unit"]) {
      ASSIGN_OR_RETURN(release->unit, r_.Scalar(n["unit"], unit_path));
      if (release->unit != "person" && release->unit != "household") {
        return r_.Error(n["unit"], unit_path, "must be person or household");
      }
    }
    const std::string register_path = YamlReader::Join(at, "register");
    if (release->unit == "person") {
      if (n["register"]) {
        return r_.Error(n["register"], register_path, "only a household release has a register");
      }
      return absl::OkStatus();
    }
    const YAML::Node reg = n["register"];
    if (!reg) {
      return r_.Error(n, register_path,
                      "a household release needs register: {dataset, address_from, address_to}");
    }
    RETURN_IF_ERROR(r_.ExpectMap(reg, register_path, {"dataset", "address_from", "address_to"},
                                 {"dataset", "address_from", "address_to"}));
    FamilyRegister& family = release->family;
    ASSIGN_OR_RETURN(family.dataset,
                     r_.Scalar(reg["dataset"], YamlReader::Join(register_path, "dataset")));
    ASSIGN_OR_RETURN(
        family.address_from,
        r_.Scalar(reg["address_from"], YamlReader::Join(register_path, "address_from")));
    ASSIGN_OR_RETURN(family.address_to,
                     r_.Scalar(reg["address_to"], YamlReader::Join(register_path, "address_to")));
    auto owner = dataset_owner_.find(family.dataset);
    if (owner == dataset_owner_.end()) {
      return r_.Error(reg["dataset"], YamlReader::Join(register_path, "dataset"),
                      fmt::format("no data holder delivers dataset '{}'", family.dataset));
    }
    const DatasetGrant& grant = c_.parties.at(owner->second).datasets.at(family.dataset);
    if (!grant.identifiers.contains("bsn") || !grant.identifiers.contains("address")) {
      return r_.Error(reg["dataset"], YamlReader::Join(register_path, "dataset"),
                      fmt::format("dataset '{}' must carry both bsn and address to tell who "
                                  "lives together",
                                  family.dataset));
    }
    for (const char* key : {"address_from", "address_to"}) {
      const std::string field = reg[key].Scalar();
      if (!grant.fields.contains(field)) {
        return r_.Error(
            reg[key], YamlReader::Join(register_path, key),
            fmt::format("'{}' is not a granted field of dataset '{}'", field, family.dataset));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParseReleases(const YAML::Node& list) {
    const std::string path = "purpose_bound_releases";
    if (!list.IsSequence()) return r_.Error(list, path, "expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node n = list[i];
      const std::string at = YamlReader::At(path, i);
      RETURN_IF_ERROR(r_.ExpectMap(
          n, at,
          {"name", "recipient", "purpose", "legal_basis", "dataset", "unit", "register", "flags"},
          {"name", "recipient", "purpose", "legal_basis", "dataset", "flags"}));
      PurposeBoundRelease release;
      ASSIGN_OR_RETURN(release.name, Name(n["name"], YamlReader::Join(at, "name")));
      for (const PurposeBoundRelease& other : c_.releases) {
        if (other.name == release.name) {
          return r_.Error(n["name"], YamlReader::Join(at, "name"),
                          fmt::format("release '{}' is listed twice", release.name));
        }
      }
      const std::string recipient_path = YamlReader::Join(at, "recipient");
      ASSIGN_OR_RETURN(release.recipient, r_.Scalar(n["recipient"], recipient_path));
      auto recipient = c_.parties.find(release.recipient);
      if (recipient == c_.parties.end() || !recipient->second.roles.contains("data_holder")) {
        return r_.Error(
            n["recipient"], recipient_path,
            fmt::format("'{}' is not a party with the role data_holder", release.recipient));
      }
      ASSIGN_OR_RETURN(release.purpose, Text(n["purpose"], YamlReader::Join(at, "purpose")));
      ASSIGN_OR_RETURN(release.legal_basis,
                       Text(n["legal_basis"], YamlReader::Join(at, "legal_basis")));
      const std::string dataset_path = YamlReader::Join(at, "dataset");
      ASSIGN_OR_RETURN(release.dataset, r_.Scalar(n["dataset"], dataset_path));
      auto own = recipient->second.datasets.find(release.dataset);
      if (own == recipient->second.datasets.end()) {
        return r_.Error(n["dataset"], dataset_path,
                        fmt::format("'{}' is not one of {}'s datasets; a recipient asks only "
                                    "about records it delivered itself",
                                    release.dataset, release.recipient));
      }
      if (!own->second.identifiers.contains("bsn")) {
        return r_.Error(n["dataset"], dataset_path,
                        fmt::format("dataset '{}' carries no bsn identifier; flags are looked up "
                                    "by person",
                                    release.dataset));
      }
      RETURN_IF_ERROR(ParseReleaseUnit(n, at, &release));
      const std::string flags_path = YamlReader::Join(at, "flags");
      const YAML::Node flags = n["flags"];
      if (!flags.IsSequence()) return r_.Error(flags, flags_path, "expected a list");
      if (flags.size() == 0) return r_.Error(flags, flags_path, "must name at least one flag");
      for (size_t j = 0; j < flags.size(); ++j) {
        const YAML::Node f = flags[j];
        const std::string fat = YamlReader::At(flags_path, j);
        RETURN_IF_ERROR(r_.ExpectMap(f, fat, {"name", "dataset"}, {"name", "dataset"}));
        ReleaseFlag flag;
        ASSIGN_OR_RETURN(flag.name, Name(f["name"], YamlReader::Join(fat, "name")));
        for (const ReleaseFlag& other : release.flags) {
          if (other.name == flag.name) {
            return r_.Error(f["name"], YamlReader::Join(fat, "name"),
                            fmt::format("flag '{}' is listed twice", flag.name));
          }
        }
        const std::string fdataset_path = YamlReader::Join(fat, "dataset");
        ASSIGN_OR_RETURN(flag.dataset, r_.Scalar(f["dataset"], fdataset_path));
        auto owner = dataset_owner_.find(flag.dataset);
        if (owner == dataset_owner_.end()) {
          return r_.Error(f["dataset"], fdataset_path,
                          fmt::format("no data holder delivers dataset '{}'", flag.dataset));
        }
        if (!c_.parties.at(owner->second).datasets.at(flag.dataset).identifiers.contains("bsn")) {
          return r_.Error(f["dataset"], fdataset_path,
                          fmt::format("dataset '{}' carries no bsn identifier; a flag needs "
                                      "records of persons",
                                      flag.dataset));
        }
        release.flags.push_back(std::move(flag));
      }
      c_.releases.push_back(std::move(release));
    }
    return absl::OkStatus();
  }

  YamlReader r_;
  CovenantParseOptions options_;
  Covenant c_;
  std::map<std::string, std::string> dataset_owner_;  // dataset -> party
  struct OfficerEntry {
    std::string name;
    std::string path;
    YAML::Node node;
  };
  std::vector<OfficerEntry> officer_nodes_;  // to check that each signs for a party
};

}  // namespace

// Enforcement: every refusal names the covenant and the rule (a key path) that refuses.
namespace {

absl::Status Refuse(const Covenant& c, std::string_view what, std::string_view rule) {
  return WithCovenantRule(absl::PermissionDeniedError(fmt::format("covenant {} v{}: {} (rule: {})",
                                                                  c.id, c.version, what, rule)),
                          rule, c.id, c.version);
}

absl::StatusOr<const CovenantParty*> FindParty(const Covenant& c, std::string_view party) {
  auto it = c.parties.find(party);
  if (it == c.parties.end()) {
    return Refuse(c, fmt::format("'{}' is not a party of this covenant", party), "parties");
  }
  return &it->second;
}

absl::StatusOr<const DatasetGrant*> FindGrant(const Covenant& c, std::string_view party,
                                              std::string_view dataset) {
  ASSIGN_OR_RETURN(const CovenantParty* p, FindParty(c, party));
  if (!p->roles.contains("data_holder")) {
    return Refuse(c, fmt::format("'{}' is not a data holder and may not deliver", party),
                  fmt::format("parties[{}].roles", party));
  }
  auto grant = p->datasets.find(dataset);
  if (grant == p->datasets.end()) {
    return Refuse(c, fmt::format("'{}' may not deliver dataset '{}'", party, dataset),
                  fmt::format("parties[{}].datasets", party));
  }
  return &grant->second;
}

}  // namespace

absl::Time Covenant::StartsAt() const { return absl::FromCivil(valid_from, absl::UTCTimeZone()); }

absl::Time Covenant::EndsAt() const {
  return absl::FromCivil(valid_until + 1, absl::UTCTimeZone());
}

absl::Time Covenant::RetentionEndsAt() const {
  return EndsAt() + absl::Hours(24) * retention_days_after_end;
}

absl::Status Covenant::InForce(absl::Time now) const {
  if (now < StartsAt()) {
    return WithCovenantRule(absl::FailedPreconditionError(fmt::format(
                                "covenant {} v{}: not in force before {} (rule: valid_from)", id,
                                version, absl::FormatCivilTime(valid_from))),
                            "valid_from", id, version);
  }
  if (now >= EndsAt()) {
    return WithCovenantRule(absl::FailedPreconditionError(
                                fmt::format("covenant {} v{}: ended after {} (rule: valid_until)",
                                            id, version, absl::FormatCivilTime(valid_until))),
                            "valid_until", id, version);
  }
  return absl::OkStatus();
}

absl::Status Covenant::MayDeliver(std::string_view party, std::string_view dataset,
                                  std::string_view signer_key_hex) const {
  ASSIGN_OR_RETURN(const DatasetGrant* grant, FindGrant(*this, party, dataset));
  (void)grant;
  const CovenantParty& p = parties.find(party)->second;
  if (absl::AsciiStrToLower(std::string(signer_key_hex)) != p.signing_public_key) {
    return Refuse(*this,
                  fmt::format("the batch is not signed with '{}''s key; a batch cannot be "
                              "replayed by another party",
                              party),
                  fmt::format("parties[{}].signing_key", party));
  }
  return absl::OkStatus();
}

absl::Status Covenant::MayCarry(std::string_view party, std::string_view dataset,
                                const std::vector<std::string>& fields, bool has_bsn,
                                bool has_address) const {
  ASSIGN_OR_RETURN(const DatasetGrant* grant, FindGrant(*this, party, dataset));
  std::vector<std::string> extra;
  for (const std::string& field : fields) {
    if (!grant->fields.contains(field)) extra.push_back(field);
  }
  if (!extra.empty()) {
    return Refuse(
        *this,
        fmt::format("dataset '{}' from '{}' may not carry the field(s) {}; allowed: {}", dataset,
                    party, fmt::join(extra, ", "),
                    grant->fields.empty() ? std::string("none")
                                          : fmt::format("{}", fmt::join(grant->fields, ", "))),
        fmt::format("parties[{}].datasets[{}].fields", party, dataset));
  }
  for (const auto& [present, kind] :
       {std::pair{has_bsn, "bsn"}, std::pair{has_address, "address"}}) {
    if (present && !grant->identifiers.contains(kind)) {
      return Refuse(*this,
                    fmt::format("dataset '{}' from '{}' may not carry the identifier kind {}",
                                dataset, party, kind),
                    fmt::format("parties[{}].datasets[{}].identifiers", party, dataset));
    }
  }
  return absl::OkStatus();
}

absl::Status Covenant::MayTokenise(std::string_view party) const {
  ASSIGN_OR_RETURN(const CovenantParty* p, FindParty(*this, party));
  if (!p->roles.contains("data_holder")) {
    return Refuse(*this, fmt::format("'{}' is not a data holder and may not obtain tokens", party),
                  fmt::format("parties[{}].roles", party));
  }
  return absl::OkStatus();
}

absl::Status Covenant::HasRole(std::string_view party, std::string_view role) const {
  ASSIGN_OR_RETURN(const CovenantParty* p, FindParty(*this, party));
  if (!p->roles.contains(std::string(role))) {
    return Refuse(*this, fmt::format("'{}' does not have the role {}", party, role),
                  fmt::format("parties[{}].roles", party));
  }
  return absl::OkStatus();
}

absl::StatusOr<const PurposeBoundRelease*> Covenant::MayReceiveRelease(
    std::string_view party, std::string_view name, const std::vector<std::string>& flags) const {
  const PurposeBoundRelease* release = nullptr;
  for (const PurposeBoundRelease& r : releases) {
    if (r.name == name) release = &r;
  }
  if (release == nullptr) {
    return Refuse(*this, fmt::format("there is no purpose-bound release '{}'", name),
                  "purpose_bound_releases");
  }
  if (release->recipient != party) {
    return Refuse(*this, fmt::format("'{}' is not the recipient of release '{}'", party, name),
                  fmt::format("purpose_bound_releases[{}].recipient", name));
  }
  for (const std::string& flag : flags) {
    bool listed = false;
    for (const ReleaseFlag& f : release->flags) listed = listed || f.name == flag;
    if (!listed) {
      return Refuse(*this, fmt::format("release '{}' does not include the flag '{}'", name, flag),
                    fmt::format("purpose_bound_releases[{}].flags", name));
    }
  }
  return release;
}

std::optional<int64_t> AnalysisPolicy::SuppressedPercentAsIf() const {
  constexpr std::string_view kPrefix = "as_if:";
  const std::string& rule = suppressed_percent;
  int64_t n = 0;
  if (!rule.starts_with(kPrefix) || rule.size() == kPrefix.size() ||
      rule.find_first_not_of("0123456789", kPrefix.size()) != std::string::npos ||
      !absl::SimpleAtoi(rule.substr(kPrefix.size()), &n) || n < 1) {
    return std::nullopt;
  }
  return n;
}

absl::Status AnalysisPolicy::MayQuery(const Covenant& covenant, std::string_view party) const {
  if (approved.empty() && exploratory == ExploratoryMode::kRefuse) {
    return Refuse(covenant, "this covenant allows no analysis", "analysis");
  }
  ASSIGN_OR_RETURN(const CovenantParty* p, FindParty(covenant, party));
  if (!recipients.empty() && !recipients.contains(std::string(party))) {
    return Refuse(covenant, fmt::format("'{}' is not a recipient of analyses", party),
                  "analysis.recipients");
  }
  if (!p->roles.contains("research_unit")) {
    return Refuse(covenant, fmt::format("'{}' does not have the role research_unit", party),
                  fmt::format("parties[{}].roles", party));
  }
  return absl::OkStatus();
}

const ApprovedAnalysis* AnalysisPolicy::FindApproved(std::string_view spec_sha256,
                                                     std::string_view prices_sha256) const {
  for (const ApprovedAnalysis& analysis : approved) {
    if (analysis.spec_sha256 == spec_sha256 && analysis.prices_sha256 == prices_sha256) {
      return &analysis;
    }
  }
  return nullptr;
}

absl::StatusOr<Covenant> ParseCovenant(std::string_view yaml, std::string_view source_name,
                                       const CovenantParseOptions& options) {
  CovenantParser parser(source_name, options);
  try {
    ASSIGN_OR_RETURN(const YAML::Node root, parser.reader().Load(yaml));
    return parser.Parse(root);
  } catch (const YAML::Exception& e) {
    return parser.reader().NotValidYaml(e);
  }
}

absl::StatusOr<Covenant> LoadCovenantFile(const std::filesystem::path& path,
                                          const CovenantParseOptions& options) {
  ASSIGN_OR_RETURN(const std::string text, ReadFileContents(path, "covenant file"));
  return ParseCovenant(text, path.string(), options);
}

bool IsDigestPlaceholder(std::string_view digest) { return !DigestPlaceholderPath(digest).empty(); }

absl::StatusOr<std::string> ReadPinnedFile(const std::filesystem::path& covenant_file,
                                           std::string_view path, std::string_view sha256) {
  const std::filesystem::path file = covenant_file.parent_path() / std::string(path);
  ASSIGN_OR_RETURN(std::string bytes, ReadFileContents(file));
  if (IsDigestPlaceholder(sha256)) return bytes;
  const std::string actual = CovenantSha256Hex(bytes);
  if (actual != sha256) {
    return absl::FailedPreconditionError(fmt::format(
        "{} differs from the file the covenant pins: its SHA-256 is {}, the covenant pins {}",
        file.string(), actual, sha256));
  }
  return bytes;
}

std::vector<PinnedFile> PinnedFiles(const Covenant& covenant) {
  std::vector<PinnedFile> pins;
  for (const ApprovedAnalysis& a : covenant.analysis.approved) {
    pins.push_back({fmt::format("analysis.approved[{}].spec", a.name), a.spec_path, a.spec_sha256});
    if (!a.prices_path.empty()) {
      pins.push_back(
          {fmt::format("analysis.approved[{}].prices", a.name), a.prices_path, a.prices_sha256});
    }
  }
  const PerturbationSetting& table = covenant.analysis.perturbation;
  if (covenant.analysis.exploratory == ExploratoryMode::kPerturb && table.table != "default") {
    pins.push_back({"analysis.perturbation.table", table.table, table.table_sha256});
  }
  return pins;
}

std::vector<std::string> PinnedFileMismatches(const Covenant& covenant,
                                              const std::filesystem::path& covenant_file) {
  std::vector<std::string> out;
  for (const PinnedFile& pin : PinnedFiles(covenant)) {
    absl::StatusOr<std::string> bytes = ReadPinnedFile(covenant_file, pin.path, pin.sha256);
    if (absl::IsFailedPrecondition(bytes.status())) {
      out.push_back(fmt::format("{}: {}", pin.rule, std::string(bytes.status().message())));
    }
  }
  return out;
}

}  // namespace koppel::policy
