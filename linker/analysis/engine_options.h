// How an analysis run may be bounded, restricted and observed (AnalysisEngine::Run).
#ifndef KOPPEL_LINKER_ANALYSIS_ENGINE_OPTIONS_H_
#define KOPPEL_LINKER_ANALYSIS_ENGINE_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"

namespace koppel::analysis {

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

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_ENGINE_OPTIONS_H_
