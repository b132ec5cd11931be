// Runs an analysis spec over the records a linker holds for one covenant (ARCHITECTURE sections
// 4-5). One ordered merge scan walks the person-keyed datasets together, token by token, so a
// person's records from every source meet without random lookups; the population register
// places each person in a household on every reference date, and the person's indicators roll
// up into that household. Address-keyed datasets are then scanned and joined on the household
// token. Households become atoms (area, household type, exact indicator pattern) from which
// every table cell is summed, so that disclosure control sees the exact linear structure.
#ifndef KOPPEL_LINKER_ANALYSIS_ANALYSIS_ENGINE_H_
#define KOPPEL_LINKER_ANALYSIS_ANALYSIS_ENGINE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/secret.h"
#include "linker/analysis/analysis_result.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/prices.h"
#include "linker/linker_store.h"

namespace koppel {

struct EngineOptions {
  // Contribution bounding: no household adds more than this to one cost item (euro).
  std::optional<double> max_contribution_eur;
  // Largest contributions kept per sum cell, for the dominance rule.
  int largest_kept = 4;
  // Progress (records read, rate, ETA) on stderr while the datasets are scanned.
  bool report_progress = false;
};

class AnalysisEngine {
 public:
  // `data_key` decrypts the covenant's records; it must outlive the engine.
  AnalysisEngine(const LinkerStore* store, std::string covenant, const Secret* data_key)
      : store_(store), covenant_(std::move(covenant)), data_key_(data_key) {}

  // FAILED_PRECONDITION when the spec needs a dataset or attribute the linker does not hold
  // (naming it), INVALID_ARGUMENT when the spec and the prices file disagree.
  absl::StatusOr<AnalysisResult> Run(const AnalysisSpec& spec, const PriceTable& prices,
                                     const EngineOptions& options = {}) const;

 private:
  const LinkerStore* store_;
  std::string covenant_;
  const Secret* data_key_;
};

}  // namespace koppel

#endif  // KOPPEL_LINKER_ANALYSIS_ANALYSIS_ENGINE_H_
