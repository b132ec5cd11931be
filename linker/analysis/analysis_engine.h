// Runs an analysis spec over the records a linker holds for one covenant (ARCHITECTURE sections
// 4-5). One ordered merge scan walks the person-keyed datasets together, token by token, so a
// person's records from every source meet without random lookups; the population register
// places each person in a household on every reference date, and the person's indicators roll
// up into that household. Address-keyed datasets are then scanned and joined on the household
// token. Both scans split the token space into ranges read on every core at once, all from one
// view of the store taken when the run begins (a batch committed meanwhile is read by no range);
// what the ranges add up is merged so that the result does not depend on their number. Households become
// atoms (area, household type, exact indicator pattern) from which every table cell is summed,
// so that disclosure control sees the exact linear structure.
#ifndef KOPPEL_LINKER_ANALYSIS_ANALYSIS_ENGINE_H_
#define KOPPEL_LINKER_ANALYSIS_ANALYSIS_ENGINE_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/container/flat_hash_set.h"
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
  // Read only the records of these batches (raw 32-byte ids): the data version of an earlier
  // release, to recompute it (release_history.h). Null: every batch the store holds.
  const absl::flat_hash_set<std::string>* only_batches = nullptr;
  // Check every run's attributes against the spec's uses (spec_attributes.h): a run of another
  // type is left out, a code not delivered or not priced refuses the spec. Off only to
  // recompute an earlier release made before these checks, as it was made.
  bool check_attribute_use = true;
  // Keep one ResultUnit per household and reference date, to join releases (release_history.h).
  bool keep_units = false;
  // The record key of a household (its 16-byte household key), for the cell key method
  // (cell_key.h): each atom then carries the sum of its households' keys. Empty: none.
  std::function<uint32_t(std::string_view)> record_key;
  // Token ranges scanned at once, each on its own thread (docs/analysis.md, "Performance").
  // 0: one per core. The result is the same whatever the number.
  int scan_threads = 0;
  // For tests: called by the scan of each token range (0, 1, ...) before it opens its cursors,
  // on the range's thread.
  std::function<void(size_t range)> range_opening;
};

class AnalysisEngine {
 public:
  // `data_key` decrypts the covenant's records; it must outlive the engine.
  AnalysisEngine(const LinkerStore* store, std::string covenant, const Secret* data_key)
      : store_(store), covenant_(std::move(covenant)), data_key_(data_key) {}

  // FAILED_PRECONDITION when the spec needs a dataset or attribute the linker does not hold
  // (naming it), INVALID_ARGUMENT when the spec and the prices file or the delivered codes
  // disagree.
  absl::StatusOr<AnalysisResult> Run(const AnalysisSpec& spec, const PriceTable& prices,
                                     const EngineOptions& options = {}) const;

 private:
  const LinkerStore* store_;
  std::string covenant_;
  const Secret* data_key_;
};

}  // namespace koppel

#endif  // KOPPEL_LINKER_ANALYSIS_ANALYSIS_ENGINE_H_
