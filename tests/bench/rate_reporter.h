// Console output of Google Benchmark plus each benchmark's items/s, kept by function name, so a
// benchmark binary can print its ratio against the raw primitive measured in the same run.
#ifndef KOPPEL_TESTS_BENCH_RATE_REPORTER_H_
#define KOPPEL_TESTS_BENCH_RATE_REPORTER_H_

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

namespace koppel {

class RateReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      auto it = run.counters.find("items_per_second");
      if (it != run.counters.end()) rates_[run.run_name.function_name] = it->second.value;
    }
  }
  // Items per second of BM_<name>, or 0 when it did not run.
  double Rate(const std::string& function_name) const {
    auto it = rates_.find(function_name);
    return it == rates_.end() ? 0.0 : it->second;
  }

 private:
  std::map<std::string, double> rates_;
};

}  // namespace koppel

#endif  // KOPPEL_TESTS_BENCH_RATE_REPORTER_H_
