// The metrics every koppel service reports, named in one place (docs/operations.md lists
// them), and the only ways a label value gets into them: a refusal's stable rule name, an RPC
// method this binary serves, a service's own name. Anything else a client sent becomes
// "other", so no identifier, token or batch id can reach a label.
#ifndef KOPPEL_CORE_SERVICE_METRICS_H_
#define KOPPEL_CORE_SERVICE_METRICS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
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

// koppel_up{service} 1, koppel_start_time_seconds{service}, and
// koppel_certificate_not_after_seconds{service}, what `certificate_not_after` says at each scrape
// (the certificate served, which SIGHUP may renew).
void RegisterServiceMetrics(MetricsRegistry& registry, std::string_view service,
                            std::function<absl::Time()> certificate_not_after);

}  // namespace koppel

#endif  // KOPPEL_CORE_SERVICE_METRICS_H_
