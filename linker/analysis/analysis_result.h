// The unprotected result of an analysis, as the engine computes it inside the linker: every
// table with its exact values, and every count and sum expressed as a cell of a linear system
// over atoms, which is what disclosure control works on (disclosure.h). It never leaves the
// linker; release.h turns it into the protected tables that do.
#ifndef KOPPEL_LINKER_ANALYSIS_ANALYSIS_RESULT_H_
#define KOPPEL_LINKER_ANALYSIS_ANALYSIS_RESULT_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "linker/analysis/disclosure.h"

namespace koppel::analysis {

// A cell of one of the two linear systems: counts of units, and sums of money.
struct SystemCellRef {
  enum class System { kCounts, kSums } system = System::kCounts;
  int index = -1;
  bool operator==(const SystemCellRef&) const = default;
};

// kRatio: a cost-benefit ratio; kPm: an effect listed but not valued (no value, no sources).
enum class ResultKind { kEmpty, kCount, kAmount, kPercent, kRatio, kPm };

struct ResultCell {
  ResultKind kind = ResultKind::kEmpty;
  double value = 0;
  // A count or sum is itself a system cell; a percentage, mean or sensitivity bound is derived
  // from system cells and may be released only when all of them are.
  std::vector<SystemCellRef> sources;
  // For a percentage: the count it is the share of (its numerator), so that the covenant's
  // rule for percentages of suppressed counts can be applied.
  double denominator = 0;
  // A cost-benefit figure (a cohort's total, scaled by the groups' sizes when it compares): not
  // money per household even when counts are among its sources, so never re-based on rounded
  // counts as a mean is.
  bool cost_benefit = false;
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

// One atom of the count system (households of one reference date, area, household type and
// indicator pattern), described by the predicates its cells are made of, so that disclosure
// control can tell which groups a conjunction of them describes (implied_sets.h).
struct AtomDescription {
  uint16_t date = 0;            // index into the spec's reference dates
  uint16_t area = 0;            // index into AnalysisResult::area_codes
  uint16_t type = 0;            // index into AnalysisResult::household_types; its size: no type
  std::vector<uint64_t> holds;  // bit per AnalysisResult::predicates: the atom's households have it
  int64_t households = 0;
  uint32_t key_sum = 0;  // sum of the households' record keys mod 2^32 (EngineOptions::record_key)
};

// A cost item of the spec as the sum system sees it. Sum atom s is (atom s / items, item s %
// items). Two items of any two runs with the same `definition` give every household the same
// amount, so they are one quantity; `volume` is the definition without the price.
struct CostItemDescription {
  std::string name;
  std::string payer;
  std::string definition;
  std::string volume;
  // The same amount for every household with the indicator (volume: units): a sum over it is
  // the price times a count of households, which the count system must know about.
  bool per_household = false;
};

// A sum atom's money: households contributing, their total in cents, the largest contributions.
struct SumAtomStats {
  int64_t contributors = 0;
  int64_t cents = 0;
  std::vector<double> largest;
};

// One household on one reference date (EngineOptions::keep_units).
struct ResultUnit {
  std::array<char, 16> household{};  // the household key (re-keyed address token, 128 bits)
  int32_t day = 0;                   // the reference date, days since 1970-01-01
  uint32_t atom = 0;
  std::vector<std::pair<uint16_t, int64_t>> cents;  // cost item -> cents, nonzero only
};

struct AnalysisResult {
  std::vector<ResultTable> tables;
  std::vector<PublishedCell> count_cells;
  uint32_t count_atoms = 0;
  std::vector<PublishedCell> sum_cells;
  uint32_t sum_atoms = 0;
  // Descriptions of the count atoms (count_atoms of them) and of the sum atoms.
  std::vector<AtomDescription> atoms;
  std::vector<std::string> predicates;  // indicator and flag names, and "any(a, b)" groups
  std::vector<std::string> area_codes;
  std::vector<std::string> household_types;
  std::vector<int32_t> reference_days;  // the spec's reference dates, days since 1970-01-01
  std::vector<CostItemDescription> items;
  std::vector<SumAtomStats> sum_atom_stats;  // sum_atoms of them
  // Groups of cost items a sum cell adds up (an item, a payer's items, all items), each sum
  // cell's group, and per count atom and group the households' money in it.
  std::vector<std::vector<uint16_t>> group_items;
  std::vector<uint16_t> sum_cell_group;
  std::vector<SumAtomStats> group_stats;  // atom * group_items.size() + group
  std::vector<ResultUnit> units;          // sorted by household, then day
  // The deliveries read: dataset -> the raw ids of the batches whose records counted.
  std::map<std::string, std::vector<std::string>> batches_read;
  std::vector<DatasetUse> datasets;
  std::vector<std::string> warnings;  // released with the tables: no counts in them
  // Per reference date, persons or addresses with counting records but no household: for the
  // linker's log, never for a release (the spec chooses whom this counts).
  std::vector<std::pair<std::string, uint64_t>> unplaced;
  uint64_t records_read = 0;

  const ResultTable* FindTable(std::string_view name) const;
};

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_ANALYSIS_RESULT_H_
