#include "core/identifier_rules.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"

namespace koppel {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

enum class Kind { kName, kFieldName, kHex64, kDate, kScheme, kText, kBytes };

struct Rule {
  Kind kind;
  size_t max_bytes;  // kText and kBytes
};

bool IsNameChar(char c, bool upper_ok) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
         (upper_ok && c >= 'A' && c <= 'Z');
}

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * kKiB;
constexpr Rule kNameOrId{Kind::kName, 64};
constexpr Rule kKeyOrToken{Kind::kBytes, kKiB};  // checked exactly where it is used

// Every string and bytes field of every message a service accepts, by full name.
const std::map<std::string, Rule, std::less<>>& Rules() {
  static const auto* rules = new std::map<std::string, Rule, std::less<>>{
      {"koppel.v1.SealedBatch.batch_id", {Kind::kHex64, 64}},
      {"koppel.v1.SealedBatch.dataset", kNameOrId},
      {"koppel.v1.SealedBatch.covenant_id", kNameOrId},
      {"koppel.v1.SealedBatch.sealed_payload", {Kind::kBytes, 64 * kMiB + 64 * kKiB}},
      {"koppel.v1.SealedBatch.signer_public_key", kKeyOrToken},
      {"koppel.v1.SealedBatch.signature", kKeyOrToken},
      {"koppel.v1.BatchHeader.dataset", kNameOrId},
      {"koppel.v1.BatchHeader.covenant_id", kNameOrId},
      {"koppel.v1.BatchHeader.period_from", {Kind::kDate, 10}},
      {"koppel.v1.BatchHeader.period_to", {Kind::kDate, 10}},
      {"koppel.v1.BatchHeader.agent", kNameOrId},
      {"koppel.v1.BatchHeader.run_id", kNameOrId},
      {"koppel.v1.BatchHeader.token_scheme", {Kind::kScheme, 64}},
      {"koppel.v1.AttributeSchema.name", {Kind::kFieldName, 64}},
      {"koppel.v1.AttributeSchema.codes", {Kind::kText, 128}},
      {"koppel.v1.QueryRequest.spec_name", {Kind::kText, 255}},
      {"koppel.v1.QueryRequest.spec_yaml", {Kind::kBytes, 4 * kMiB}},
      {"koppel.v1.QueryRequest.FilesEntry.key", {Kind::kText, 255}},
      {"koppel.v1.QueryRequest.FilesEntry.value", {Kind::kBytes, 16 * kMiB}},
      {"koppel.v1.QueryRequest.covenant_id", kNameOrId},
      {"koppel.v1.AskFlagsRequest.covenant_id", kNameOrId},
      {"koppel.v1.AskFlagsRequest.release", kNameOrId},
      {"koppel.v1.AskFlagsRequest.flags", kNameOrId},
      {"koppel.v1.AskFlagsRequest.tokens", kKeyOrToken},
      {"koppel.v1.CheckHeldRequest.covenant_id", kNameOrId},
      {"koppel.v1.CheckHeldRequest.dataset", kNameOrId},
      {"koppel.v1.CheckHeldRequest.batch_ids", {Kind::kHex64, 64}},
      {"koppel.v1.EndCovenantRequest.covenant_id", kNameOrId},
      {"koppel.v1.EndCovenantRequest.reason", {Kind::kText, 1000}},
      {"koppel.v1.EndCovenantRequest.officer_public_key", kKeyOrToken},
      {"koppel.v1.EndCovenantRequest.signature", kKeyOrToken},
      {"koppel.v1.GetDataKeyRequest.covenant_id", kNameOrId},
      {"koppel.v1.GetDataKeyRequest.recipient_public_key", kKeyOrToken},
      {"koppel.v1.GetCovenantKeyRequest.covenant_id", kNameOrId},
      {"koppel.v1.GetCovenantKeyRequest.recipient_public_key", kKeyOrToken},
      {"koppel.v1.EvaluateOprfRequest.covenant_id", kNameOrId},
      {"koppel.v1.EvaluateOprfRequest.blinded_elements", kKeyOrToken},
  };
  return *rules;
}

std::string Describe(const Rule& rule) {
  switch (rule.kind) {
    case Kind::kName:
      return std::string(koppel::kNameRule);
    case Kind::kFieldName:
      return "a field name is 1 to 64 of A-Z a-z 0-9 . _ -";
    case Kind::kHex64:
      return "a batch id is 64 lower-case hex characters (the SHA-256 of the sealed payload)";
    case Kind::kDate:
      return "a date is yyyy-mm-dd";
    case Kind::kScheme:
      return "a token scheme is 1 to 64 of a-z 0-9 / . _ -";
    case Kind::kText:
      return fmt::format("text of at most {} bytes without control characters", rule.max_bytes);
    case Kind::kBytes:
      return fmt::format("at most {} bytes", rule.max_bytes);
  }
  return "";
}

bool Follows(const Rule& rule, std::string_view v) {
  if (v.empty()) return true;
  switch (rule.kind) {
    case Kind::kName:
      return IsName(v);
    case Kind::kFieldName:
      return IsFieldName(v);
    case Kind::kHex64:
      return v.size() == 64 && std::all_of(v.begin(), v.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
             });
    case Kind::kDate:
      return v.size() == 10 && std::all_of(v.begin(), v.end(), [](char c) {
               return (c >= '0' && c <= '9') || c == '-';
             });
    case Kind::kScheme:
      return v.size() <= rule.max_bytes && std::all_of(v.begin(), v.end(), [](char c) {
               return IsNameChar(c, false) || c == '/';
             });
    case Kind::kText:
      return v.size() <= rule.max_bytes && std::none_of(v.begin(), v.end(), [](char c) {
               return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
             });
    case Kind::kBytes:
      return v.size() <= rule.max_bytes;
  }
  return false;
}

std::optional<FieldViolation> Check(const Message& message, const std::string& prefix) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string path = prefix.empty() ? field->name() : prefix + "." + field->name();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (!field->is_repeated()) {
        if (auto v = Check(reflection->GetMessage(message, field), path)) return v;
        continue;
      }
      const int n = reflection->FieldSize(message, field);
      for (int i = 0; i < n; ++i) {
        const std::string at = field->is_map() ? path : fmt::format("{}[{}]", path, i);
        if (auto v = Check(reflection->GetRepeatedMessage(message, field, i), at)) return v;
      }
      continue;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_STRING) continue;
    const auto rule = Rules().find(field->full_name());
    const int n = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < n; ++i) {
      std::string scratch;
      const std::string& value =
          field->is_repeated() ? reflection->GetRepeatedStringReference(message, field, i, &scratch)
                               : reflection->GetStringReference(message, field, &scratch);
      const std::string at = field->is_repeated() ? fmt::format("{}[{}]", path, i) : path;
      if (rule == Rules().end()) {
        return FieldViolation{at, value.size(), "this service accepts no such field"};
      }
      if (!Follows(rule->second, value)) {
        return FieldViolation{at, value.size(), Describe(rule->second)};
      }
    }
  }
  return std::nullopt;
}

}  // namespace

bool IsName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!absl::ascii_isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsNameChar(c, false); });
}

bool IsFieldName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsNameChar(c, true); });
}

absl::Status FieldViolation::ToStatus() const {
  return absl::InvalidArgumentError(
      fmt::format("request field {} ({} bytes) breaks its rule: {}", field, length, rule));
}

std::optional<FieldViolation> CheckRequestFields(const Message& request) {
  return Check(request, "");
}

bool HasFieldRule(std::string_view full_field_name) { return Rules().contains(full_field_name); }

}  // namespace koppel
