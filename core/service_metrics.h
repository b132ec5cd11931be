// The metrics every koppel service reports, named in one place (docs/operations.md lists
// them), and the only ways a label value gets into them: a refusal's stable rule name, an RPC
// method this binary serves, a service's own name. Anything else a client sent becomes
// "other", so no identifier, token or batch id can reach a label.
#ifndef KOPPEL_CORE_SERVICE_METRICS_H_
#define KOPPEL_CORE_SERVICE_METRICS_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/metrics.h"

namespace koppel {

// The refusal's stable rule name (docs/api.md), "none" when `status` carries no refusal, and
// "other" for a rule that is not spelled like one (lower case, '_' and '.').
std::string RefusalRuleLabel(const absl::Status& status);

// "Deliver" for "/koppel.v1.LinkerService/Deliver" when this binary knows the service and the
// method (its protobuf descriptors), otherwise "other": a path is what a client sent.
std::string MethodLabel(std::string_view path);

// koppel_refusals_total{service, method, rule} += 1. `method` is a method name of the code's
// own (or a MethodLabel).
void CountRefusal(MetricsRegistry& registry, std::string_view service, std::string_view method,
                  const absl::Status& why);

// The certificate's notAfter as unix seconds.
absl::StatusOr<int64_t> CertificateNotAfter(const std::filesystem::path& certificate);

// koppel_up{service} 1, koppel_start_time_seconds{service}, and
// koppel_certificate_not_after_seconds{service}, read from `certificate` at each scrape (so a
// certificate replaced on disk shows at once; absent while it cannot be read).
void RegisterServiceMetrics(MetricsRegistry& registry, std::string_view service,
                            const std::filesystem::path& certificate);

}  // namespace koppel

#endif  // KOPPEL_CORE_SERVICE_METRICS_H_
