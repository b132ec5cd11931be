// Answers a research unit's query (ARCHITECTURE section 5): checks the caller is a recipient
// the covenant names and that the spec stays within the covenant's dimensions, measures and
// disclosure settings and the release budget, runs the engine over the covenant's records and
// returns only the protected release. Queries run one at a time: an analysis scans the whole store.
#ifndef KOPPEL_LINKER_ANALYSIS_QUERY_RUNNER_H_
#define KOPPEL_LINKER_ANALYSIS_QUERY_RUNNER_H_

#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "core/secret.h"
#include "koppel/v1/analysis.pb.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/linker_store.h"
#include "policies/covenant.h"

namespace koppel {

// PERMISSION_DENIED naming the covenant rule when the spec asks for a dimension, measure or
// disclosure setting the covenant does not allow.
absl::Status CheckSpecAllowed(const AnalysisSpec& spec, const Covenant& covenant);

// SHA-256 (hex) of the spec text and the files sent with it, in name order.
std::string SpecDigest(const v1::QueryRequest& request);

class QueryRunner {
 public:
  // `covenant`, `data_key` and `store` must outlive the runner.
  QueryRunner(const Covenant* covenant, const Secret* data_key, LinkerStore* store)
      : covenant_(covenant), data_key_(data_key), store_(store) {}

  absl::StatusOr<v1::Release> Run(const std::string& caller, const v1::QueryRequest& request);

 private:
  const Covenant* covenant_;
  const Secret* data_key_;
  LinkerStore* store_;
  std::mutex one_at_a_time_;
};

}  // namespace koppel

#endif  // KOPPEL_LINKER_ANALYSIS_QUERY_RUNNER_H_
