#include "core/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace koppel {
namespace {

std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

// {a="x",b="y"} with `extra` (a histogram's le) last; "" when there are no labels.
std::string FormatLabels(const MetricLabels& labels,
                         const std::pair<std::string, std::string>* extra = nullptr) {
  if (labels.empty() && extra == nullptr) return "";
  std::string out = "{";
  auto add = [&out](const std::pair<std::string, std::string>& label) {
    if (out.size() > 1) out += ',';
    out += fmt::format("{}=\"{}\"", label.first, EscapeLabelValue(label.second));
  };
  for (const auto& label : labels) add(label);
  if (extra != nullptr) add(*extra);
  return out + "}";
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::Observe(double value) {
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(total);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

MetricsRegistry& MetricsRegistry::Default() {
  static MetricsRegistry* registry = new MetricsRegistry();  // never destroyed: used at exit
  return *registry;
}

MetricsRegistry::Family& MetricsRegistry::FamilyOf(std::string_view name, std::string_view help,
                                                   MetricType type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.help = std::string(help);
    it->second.type = type;
  }
  // One name with two types is a programming error that would make every scrape invalid.
  if (it->second.type != type) std::abort();
  return it->second;
}

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     const MetricLabels& labels) {
  absl::MutexLock lock(&mutex_);
  std::unique_ptr<Counter>& counter = FamilyOf(name, help, MetricType::kCounter).counters[labels];
  if (counter == nullptr) counter = std::make_unique<Counter>();
  return *counter;
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 const MetricLabels& labels) {
  absl::MutexLock lock(&mutex_);
  std::unique_ptr<Gauge>& gauge = FamilyOf(name, help, MetricType::kGauge).gauges[labels];
  if (gauge == nullptr) gauge = std::make_unique<Gauge>();
  return *gauge;
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         std::span<const double> bounds,
                                         const MetricLabels& labels) {
  absl::MutexLock lock(&mutex_);
  Family& family = FamilyOf(name, help, MetricType::kHistogram);
  if (family.histograms.empty() && !family.collect) {
    family.bounds.assign(bounds.begin(), bounds.end());
  } else if (!std::equal(bounds.begin(), bounds.end(), family.bounds.begin(),
                         family.bounds.end())) {
    std::abort();
  }
  std::unique_ptr<Histogram>& histogram = family.histograms[labels];
  if (histogram == nullptr) histogram = std::make_unique<Histogram>(bounds);
  return *histogram;
}

void MetricsRegistry::AddCollector(std::string_view name, std::string_view help, MetricType type,
                                   std::function<std::vector<CollectedSample>()> collect) {
  if (type == MetricType::kHistogram) std::abort();  // a collector yields single values
  absl::MutexLock lock(&mutex_);
  FamilyOf(name, help, type).collect = std::move(collect);
}

std::string MetricsRegistry::RenderText() const {
  // Collectors run outside the lock: they may take locks of their own.
  std::vector<std::pair<std::string, std::function<std::vector<CollectedSample>()>>> collectors;
  {
    absl::MutexLock lock(&mutex_);
    for (const auto& [name, family] : families_) {
      if (family.collect) collectors.emplace_back(name, family.collect);
    }
  }
  std::map<std::string, std::vector<CollectedSample>, std::less<>> collected;
  for (const auto& [name, collect] : collectors) collected[name] = collect();

  std::string out;
  absl::MutexLock lock(&mutex_);
  for (const auto& [name, family] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(family.help), name,
                       TypeName(family.type));
    for (const auto& [labels, counter] : family.counters) {
      out += fmt::format("{}{} {}\n", name, FormatLabels(labels), counter->value());
    }
    for (const auto& [labels, gauge] : family.gauges) {
      out += fmt::format("{}{} {}\n", name, FormatLabels(labels), FormatValue(gauge->value()));
    }
    for (const auto& [labels, histogram] : family.histograms) {
      const Histogram::Snapshot snapshot = histogram->Read();
      for (size_t i = 0; i < snapshot.cumulative.size(); ++i) {
        const std::pair<std::string, std::string> le{
            "le", i < snapshot.bounds.size() ? FormatValue(snapshot.bounds[i]) : "+Inf"};
        out += fmt::format("{}_bucket{} {}\n", name, FormatLabels(labels, &le),
                           snapshot.cumulative[i]);
      }
      out += fmt::format("{}_sum{} {}\n", name, FormatLabels(labels), FormatValue(snapshot.sum));
      out += fmt::format("{}_count{} {}\n", name, FormatLabels(labels), snapshot.cumulative.back());
    }
    if (auto it = collected.find(name); it != collected.end()) {
      for (const CollectedSample& sample : it->second) {
        out +=
            fmt::format("{}{} {}\n", name, FormatLabels(sample.labels), FormatValue(sample.value));
      }
    }
  }
  return out;
}

}  // namespace koppel
