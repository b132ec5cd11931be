// The unprotected result of an analysis, as the engine computes it inside the linker: every
// table with its exact values, and every count and sum expressed as a cell of a linear system
// over atoms, which is what disclosure control works on (disclosure.h). It never leaves the
// linker; release.h turns it into the protected tables that do.
#ifndef KOPPEL_LINKER_ANALYSIS_ANALYSIS_RESULT_H_
#define KOPPEL_LINKER_ANALYSIS_ANALYSIS_RESULT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "linker/analysis/disclosure.h"

namespace koppel {

// A cell of one of the two linear systems: counts of units, and sums of money.
struct SystemCellRef {
  enum class System { kCounts, kSums } system = System::kCounts;
  int index = -1;
  bool operator==(const SystemCellRef&) const = default;
};

enum class ResultKind { kEmpty, kCount, kAmount, kPercent };

struct ResultCell {
  ResultKind kind = ResultKind::kEmpty;
  double value = 0;
  // A count or sum is itself a system cell; a percentage, mean or sensitivity bound is derived
  // from system cells and may be released only when all of them are.
  std::vector<SystemCellRef> sources;
  // For a percentage: the count it is the share of (its numerator), so that the covenant's
  // rule for percentages of suppressed counts can be applied.
  double denominator = 0;
};

struct ResultRow {
  std::string label;
  std::vector<ResultCell> cells;
};

struct ResultTable {
  std::string name;
  std::string title;
  std::string row_heading;
  std::vector<std::string> columns;
  std::vector<ResultRow> rows;

  // The cell in the row and column with these labels, or null.
  const ResultCell* Find(std::string_view row, std::string_view column) const;
};

struct DatasetUse {
  std::string dataset;
  uint64_t batches = 0;
  uint64_t records = 0;
};

struct AnalysisResult {
  std::vector<ResultTable> tables;
  std::vector<PublishedCell> count_cells;
  uint32_t count_atoms = 0;
  std::vector<PublishedCell> sum_cells;
  uint32_t sum_atoms = 0;
  std::vector<DatasetUse> datasets;
  std::vector<std::string> warnings;
  uint64_t records_read = 0;

  const ResultTable* FindTable(std::string_view name) const;
};

}  // namespace koppel

#endif  // KOPPEL_LINKER_ANALYSIS_ANALYSIS_RESULT_H_
