#include "core/service_metrics.h"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>

#include <memory>

#include "absl/time/clock.h"
#include "core/refusal.h"

namespace koppel {

std::string RefusalRuleLabel(const absl::Status& status) {
  const std::string rule = RefusalRule(status);
  if (rule.empty()) return "none";
  if (rule.size() > 64) return "other";
  for (char c : rule) {
    if (!((c >= 'a' && c <= 'z') || c == '_' || c == '.')) return "other";
  }
  return rule;
}

std::string MethodLabel(std::string_view path) {
  if (path.empty() || path.front() != '/') return "other";
  const size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos) return "other";
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          std::string(path.substr(1, slash - 1)));
  if (service == nullptr) return "other";
  const google::protobuf::MethodDescriptor* method =
      service->FindMethodByName(std::string(path.substr(slash + 1)));
  return method != nullptr ? method->name() : "other";
}

void CountRefusal(MetricsRegistry& registry, std::string_view service, std::string_view method,
                  const absl::Status& why) {
  registry
      .GetCounter("koppel_refusals_total", "Requests refused, by the rule that refused them",
                  {{"service", std::string(service)},
                   {"method", std::string(method)},
                   {"rule", RefusalRuleLabel(why)}})
      .Increment();
}

void RegisterServiceMetrics(MetricsRegistry& registry, std::string_view service,
                            std::function<absl::Time()> certificate_not_after) {
  const MetricLabels labels = {{"service", std::string(service)}};
  registry.GetGauge("koppel_up", "1 while the service runs", labels).Set(1);
  registry.GetGauge("koppel_start_time_seconds", "When the service started, unix seconds", labels)
      .Set(static_cast<double>(absl::ToUnixSeconds(absl::Now())));
  registry.AddCollector("koppel_certificate_not_after_seconds",
                        "When the service's TLS certificate expires (its notAfter), unix seconds",
                        MetricType::kGauge,
                        [labels, certificate_not_after]() -> std::vector<CollectedSample> {
                          const int64_t not_after = absl::ToUnixSeconds(certificate_not_after());
                          return {{labels, static_cast<double>(not_after)}};
                        });
}

}  // namespace koppel
