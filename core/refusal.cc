#include "core/refusal.h"

#include <fmt/format.h>

#include <utility>

#include "absl/strings/cord.h"
#include "google/rpc/status.pb.h"

namespace koppel {

std::string RuleOfKeyPath(std::string_view key_path) {
  std::string rule;
  int depth = 0;
  for (char c : key_path) {
    if (c == '[') {
      ++depth;
    } else if (c == ']') {
      if (depth > 0) --depth;
    } else if (depth == 0) {
      rule.push_back(c);
    }
  }
  return rule;
}

absl::Status WithRefusal(absl::Status status, const v1::Refusal& refusal) {
  if (status.ok()) return status;
  status.SetPayload(kRefusalTypeUrl, absl::Cord(refusal.SerializeAsString()));
  return status;
}

absl::Status WithCovenantRule(absl::Status status, std::string_view key_path,
                              std::string_view covenant_id, uint32_t covenant_version) {
  v1::Refusal refusal;
  refusal.set_rule(RuleOfKeyPath(key_path));
  refusal.set_covenant_id(std::string(covenant_id));
  refusal.set_covenant_version(covenant_version);
  refusal.set_covenant_key(std::string(key_path));
  return WithRefusal(std::move(status), refusal);
}

absl::Status WithServiceRule(absl::Status status, std::string_view rule,
                             std::string_view covenant_id) {
  v1::Refusal refusal;
  refusal.set_rule(std::string(rule));
  refusal.set_covenant_id(std::string(covenant_id));
  return WithRefusal(std::move(status), refusal);
}

absl::Status WithRefusalOf(absl::Status status, const absl::Status& source) {
  std::optional<v1::Refusal> refusal = RefusalOf(source);
  return refusal.has_value() ? WithRefusal(std::move(status), *refusal) : status;
}

std::string DescribeRefusal(const v1::Refusal& refusal) {
  std::string text = "rule " + refusal.rule();
  if (!refusal.covenant_key().empty() && refusal.covenant_key() != refusal.rule()) {
    text += " (" + refusal.covenant_key() + ")";
  }
  if (!refusal.covenant_id().empty()) {
    text += fmt::format(" of covenant {}", refusal.covenant_id());
    if (refusal.covenant_version() > 0) text += fmt::format(" v{}", refusal.covenant_version());
  }
  return text;
}

std::optional<v1::Refusal> RefusalOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kRefusalTypeUrl);  // absl::optional on Debian
  if (!payload.has_value()) return std::nullopt;
  v1::Refusal refusal;
  if (!refusal.ParseFromString(std::string(*payload))) return std::nullopt;
  return refusal;
}

std::string RefusalRule(const absl::Status& status) {
  std::optional<v1::Refusal> refusal = RefusalOf(status);
  return refusal.has_value() ? refusal->rule() : std::string();
}

std::string GrpcErrorDetails(const absl::Status& status) {
  std::optional<v1::Refusal> refusal = RefusalOf(status);
  if (!refusal.has_value()) return "";
  google::rpc::Status details;
  details.set_code(static_cast<int32_t>(status.code()));
  details.set_message(std::string(status.message()));
  details.add_details()->PackFrom(*refusal);
  return details.SerializeAsString();
}

absl::Status WithGrpcErrorDetails(absl::Status status, const std::string& details) {
  if (status.ok() || details.empty()) return status;
  google::rpc::Status parsed;
  if (!parsed.ParseFromString(details)) return status;
  for (const google::protobuf::Any& any : parsed.details()) {
    v1::Refusal refusal;
    if (any.Is<v1::Refusal>() && any.UnpackTo(&refusal)) {
      return WithRefusal(std::move(status), refusal);
    }
  }
  return status;
}

}  // namespace koppel
