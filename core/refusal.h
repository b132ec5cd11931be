// Refusals as data. A refusing absl::Status carries a koppel.v1.Refusal (the rule that refuses,
// and the covenant) as its payload; ToGrpcStatus/FromGrpcStatus (tls.h) carry it across the
// wire in the gRPC status's error details. Clients, tests and the audit log read the rule from
// there instead of matching message text. docs/api.md lists the rules.
#ifndef KOPPEL_CORE_REFUSAL_H_
#define KOPPEL_CORE_REFUSAL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "koppel/v1/refusal.pb.h"

namespace koppel {

inline constexpr char kRefusalTypeUrl[] = "type.googleapis.com/koppel.v1.Refusal";

// The stable rule name of a covenant key path: what brackets hold (party and dataset names,
// list positions) is left out: "parties[a].datasets[b].fields" -> "parties.datasets.fields".
std::string RuleOfKeyPath(std::string_view key_path);

// `status` (not OK) with `refusal` attached; an OK status is returned as it is.
absl::Status WithRefusal(absl::Status status, const v1::Refusal& refusal);

// A refusal by a covenant's rule at `key_path` (a key of docs/covenants.md).
absl::Status WithCovenantRule(absl::Status status, std::string_view key_path,
                              std::string_view covenant_id, uint32_t covenant_version);

// A refusal by one of the service's own rules (client_certificate, party_name, ...).
absl::Status WithServiceRule(absl::Status status, std::string_view rule,
                             std::string_view covenant_id = {});

// `status` with the refusal `source` carries, if any: for a status reworded on its way up.
absl::Status WithRefusalOf(absl::Status status, const absl::Status& source);

std::optional<v1::Refusal> RefusalOf(const absl::Status& status);

// For people: "rule parties.roles (parties[research-unit].roles) of covenant c v2".
std::string DescribeRefusal(const v1::Refusal& refusal);

// The refusal's rule, or "" when the status carries none.
std::string RefusalRule(const absl::Status& status);

// A serialized google.rpc.Status for a gRPC status's error details: the code, the message and
// the refusal; "" when `status` carries no refusal.
std::string GrpcErrorDetails(const absl::Status& status);

// Attaches the refusal that serialized google.rpc.Status `details` holds, if any, to `status`.
absl::Status WithGrpcErrorDetails(absl::Status status, const std::string& details);

}  // namespace koppel

#endif  // KOPPEL_CORE_REFUSAL_H_
