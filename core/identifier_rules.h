// What the ids and names a client sends may look like: covenant ids, datasets, party names,
// batch and run ids, release and flag names, field names, category codes, file names and free
// text, and how long the bytes it sends may be. Every request is checked here before the
// service logs or audits anything of it; a field that breaks its rule is refused naming the
// field, its length and the rule, never its content. The same rules apply to the names in a
// covenant (policies/covenant.cc), so that whatever a covenant can name a client can send.
#ifndef KOPPEL_CORE_IDENTIFIER_RULES_H_
#define KOPPEL_CORE_IDENTIFIER_RULES_H_

#include <google/protobuf/message.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace koppel {

// Ids and names (covenant ids, parties, datasets, releases, flags): 1 to 64 of [a-z0-9._-],
// starting with a letter or digit.
bool IsName(std::string_view s);
inline constexpr std::string_view kNameRule =
    "a name or id is 1 to 64 of a-z 0-9 . _ -, starting with a letter or digit";
// Attribute (field) names: 1 to 64 of [A-Za-z0-9._-].
bool IsFieldName(std::string_view s);

// A request field that breaks its rule. Safe to log and audit: it never holds the content.
struct FieldViolation {
  std::string field;  // its path in the request, e.g. "batch.batch_id", "tokens[3]"
  size_t length = 0;  // in bytes
  std::string rule;   // what the field must be

  // INVALID_ARGUMENT "request field F (N bytes) breaks its rule: R".
  absl::Status ToStatus() const;
};

// The first string or bytes field of `request` (recursively; repeated and map fields
// included) that breaks the rule for its field. Every field of a request message a service
// accepts has a rule; a field without one is refused, so a new field cannot slip through
// unchecked. Empty values pass: whether a field is required is the service's concern.
std::optional<FieldViolation> CheckRequestFields(const google::protobuf::Message& request);

// Whether `field` (a full proto field name, e.g. "koppel.v1.SealedBatch.batch_id") has a rule.
bool HasFieldRule(std::string_view full_field_name);

}  // namespace koppel

#endif  // KOPPEL_CORE_IDENTIFIER_RULES_H_
