// What a koppel service counts about itself, for a Prometheus scrape: counters, gauges and
// histograms with fixed buckets, each a sample of a family (one name, one help text), told
// apart by labels. Label values come from fixed sets only (rule names, the dataset, party and
// covenant names of the covenants served, RPC method names): never an identifier, a token, a
// batch id or a run id. Thread-safe; updating a sample is one atomic operation, finding it a
// map look-up under a mutex (callers on a hot path keep the reference: it stays valid).
#ifndef KOPPEL_CORE_METRICS_H_
#define KOPPEL_CORE_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace koppel {

// (name, value) pairs, in the order they are rendered.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets with fixed upper bounds (seconds, bytes), plus their sum.
class Histogram {
 public:
  // `bounds` ascending; a last bucket +Inf is implied.
  explicit Histogram(std::span<const double> bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  const std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// Bucket bounds for latencies, in seconds: 1 ms to 2 minutes.
inline constexpr double kLatencyBuckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                             1,     2.5,   5,    10,    30,   60,  120};

enum class MetricType { kCounter, kGauge, kHistogram };

// One sample a collector computes at scrape time.
struct CollectedSample {
  MetricLabels labels;
  double value = 0;
};

class MetricsRegistry {
 public:
  // The process's registry, which the services record into and the metrics endpoint renders.
  static MetricsRegistry& Default();

  // The sample of family `name` with `labels`, created at zero on first use. A name is used
  // with one type only (and a histogram with one set of bounds): asking for another aborts.
  Counter& GetCounter(std::string_view name, std::string_view help, const MetricLabels& labels = {})
      ABSL_LOCKS_EXCLUDED(mutex_);
  Gauge& GetGauge(std::string_view name, std::string_view help, const MetricLabels& labels = {})
      ABSL_LOCKS_EXCLUDED(mutex_);
  Histogram& GetHistogram(std::string_view name, std::string_view help,
                          std::span<const double> bounds, const MetricLabels& labels = {})
      ABSL_LOCKS_EXCLUDED(mutex_);

  // A family whose samples `collect` computes at each scrape (a store's size on disk). Called
  // on the scraping thread; it must stay callable until the registry stops being rendered.
  void AddCollector(std::string_view name, std::string_view help, MetricType type,
                    std::function<std::vector<CollectedSample>()> collect)
      ABSL_LOCKS_EXCLUDED(mutex_);

  // Every family in the Prometheus text exposition format 0.0.4, families in name order.
  std::string RenderText() const ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  struct Family {
    std::string help;
    MetricType type = MetricType::kCounter;
    std::vector<double> bounds;  // histograms
    std::map<MetricLabels, std::unique_ptr<Counter>> counters;
    std::map<MetricLabels, std::unique_ptr<Gauge>> gauges;
    std::map<MetricLabels, std::unique_ptr<Histogram>> histograms;
    std::function<std::vector<CollectedSample>()> collect;
  };
  Family& FamilyOf(std::string_view name, std::string_view help, MetricType type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  mutable absl::Mutex mutex_;
  std::map<std::string, Family, std::less<>> families_ ABSL_GUARDED_BY(mutex_);
};

// A label value escaped for the text format: backslash, double quote and newline.
std::string EscapeLabelValue(std::string_view value);

}  // namespace koppel

#endif  // KOPPEL_CORE_METRICS_H_
