#include "linker/analysis/disclosure.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <numeric>
#include <queue>
#include <string>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "absl/status/status.h"

namespace koppel {
namespace {

// An integer vector; columns ascending, values nonzero. Only its direction matters, so the
// owners divide out the gcd of the values to keep them small.
struct SparseRow {
  std::vector<uint32_t> columns;
  std::vector<int64_t> values;

  bool empty() const { return columns.empty(); }

  // The value at `column`, 0 when absent.
  int64_t At(uint32_t column) const {
    auto it = std::lower_bound(columns.begin(), columns.end(), column);
    if (it == columns.end() || *it != column) return 0;
    return values[static_cast<size_t>(it - columns.begin())];
  }
};

SparseRow IndicatorRow(const std::vector<uint32_t>& sorted_columns) {
  SparseRow row;
  row.columns = sorted_columns;
  row.values.assign(sorted_columns.size(), 1);
  return row;
}

int64_t Gcd(int64_t a, int64_t b) {
  // Values are never INT64_MIN: every product and difference below is checked.
  return std::gcd(a, b);
}

void DivideByContent(SparseRow* row) {
  int64_t content = 0;
  for (int64_t v : row->values) {
    content = Gcd(content, v);
    if (content == 1) return;
  }
  if (content <= 1) return;
  for (int64_t& v : row->values) v /= content;
}

// `a * x - b * y` into `out`; false on overflow. Results equal to INT64_MIN count as
// overflow too, so that negation and std::gcd stay defined.
bool MulSub(int64_t a, int64_t x, int64_t b, int64_t y, int64_t* out) {
  int64_t ax = 0;
  int64_t by = 0;
  if (__builtin_mul_overflow(a, x, &ax)) return false;
  if (__builtin_mul_overflow(b, y, &by)) return false;
  if (__builtin_sub_overflow(ax, by, out)) return false;
  return *out != INT64_MIN;
}

// Coefficients (a, b) with a > 0 such that a * pivot_of_target - b * pivot_of_row == 0.
std::pair<int64_t, int64_t> EliminationFactors(int64_t target_value, int64_t row_value) {
  const int64_t g = Gcd(target_value, row_value);
  int64_t a = row_value / g;
  int64_t b = target_value / g;
  if (a < 0) {
    a = -a;
    b = -b;
  }
  return {a, b};
}

// `a * target - b * row` into `out` (values that cancel are dropped); false on overflow.
bool Combine(int64_t a, const SparseRow& target, int64_t b, const SparseRow& row,
             SparseRow* out) {
  out->columns.clear();
  out->values.clear();
  size_t i = 0;
  size_t j = 0;
  while (i < target.columns.size() || j < row.columns.size()) {
    uint32_t column = 0;
    int64_t x = 0;
    int64_t y = 0;
    if (j == row.columns.size() ||
        (i < target.columns.size() && target.columns[i] < row.columns[j])) {
      column = target.columns[i];
      x = target.values[i++];
    } else if (i == target.columns.size() || row.columns[j] < target.columns[i]) {
      column = row.columns[j];
      y = row.values[j++];
    } else {
      column = target.columns[i];
      x = target.values[i++];
      y = row.values[j++];
    }
    int64_t value = 0;
    if (!MulSub(a, x, b, y, &value)) return false;
    if (value != 0) {
      out->columns.push_back(column);
      out->values.push_back(value);
    }
  }
  DivideByContent(out);
  return true;
}

// The span of the cells published so far, as rows in "insertion echelon" form: row t is
// zero at the pivot column of every row inserted before it. Reducing a vector by the rows in
// insertion order therefore clears every pivot column, and the result (the residual) is a
// canonical representative of the vector modulo the span: it is zero exactly when the
// vector lies in the span.
class EchelonBasis {
 public:
  explicit EchelonBasis(uint32_t column_count)
      : row_of_column_(column_count, kNoRow),
        dense_(column_count, 0),
        is_touched_(column_count, 0) {}

  bool IsPivot(uint32_t column) const { return row_of_column_[column] != kNoRow; }

  // Writes the residual of `vector` (zero at every pivot column, content gcd 1). False when
  // the exact computation would overflow; then `residual` is unspecified.
  bool Reduce(const SparseRow& vector, SparseRow* residual) {
    for (size_t k = 0; k < vector.columns.size(); ++k) {
      Touch(vector.columns[k]);
      dense_[vector.columns[k]] = vector.values[k];
      QueueIfPivot(vector.columns[k], 0);
    }
    bool ok = true;
    while (ok && !queue_.empty()) {
      const uint32_t row_index = queue_.top();
      queue_.pop();
      ok = EliminateWith(row_index);
    }
    if (ok) ok = CollectResidual(residual);
    ClearScratch();
    return ok;
  }

  // Adds a residual returned by Reduce, with `pivot` one of its columns.
  void Add(SparseRow residual, uint32_t pivot) {
    row_of_column_[pivot] = static_cast<uint32_t>(rows_.size());
    pivot_column_.push_back(pivot);
    pivot_value_.push_back(residual.At(pivot));
    rows_.push_back(std::move(residual));
    is_queued_.push_back(0);
  }

 private:
  static constexpr uint32_t kNoRow = UINT32_MAX;

  void Touch(uint32_t column) {
    if (is_touched_[column]) return;
    is_touched_[column] = 1;
    touched_.push_back(column);
  }

  // Rows are processed in insertion order; a row only has nonzeros at the pivots of later
  // rows, so only later rows can be queued while one is processed.
  void QueueIfPivot(uint32_t column, uint32_t after_row) {
    const uint32_t row_index = row_of_column_[column];
    if (row_index == kNoRow || is_queued_[row_index]) return;
    if (row_index < after_row) return;
    is_queued_[row_index] = 1;
    queued_rows_.push_back(row_index);
    queue_.push(row_index);
  }

  bool EliminateWith(uint32_t row_index) {
    const uint32_t pivot = pivot_column_[row_index];
    const int64_t x = dense_[pivot];
    if (x == 0) return true;
    const auto [a, b] = EliminationFactors(x, pivot_value_[row_index]);
    if (a != 1) {
      for (uint32_t column : touched_) {
        if (__builtin_mul_overflow(dense_[column], a, &dense_[column])) return false;
        if (dense_[column] == INT64_MIN) return false;
      }
    }
    const SparseRow& row = rows_[row_index];
    for (size_t k = 0; k < row.columns.size(); ++k) {
      const uint32_t column = row.columns[k];
      Touch(column);
      int64_t updated = 0;
      if (!MulSub(1, dense_[column], b, row.values[k], &updated)) return false;
      dense_[column] = updated;
      if (column != pivot) QueueIfPivot(column, row_index + 1);
    }
    return true;
  }

  bool CollectResidual(SparseRow* residual) {
    std::sort(touched_.begin(), touched_.end());
    residual->columns.clear();
    residual->values.clear();
    for (uint32_t column : touched_) {
      if (dense_[column] == 0) continue;
      // Cannot happen by the echelon invariant; checked because a wrong "not derivable"
      // would be a disclosure, and false makes the caller suppress.
      if (IsPivot(column)) return false;
      residual->columns.push_back(column);
      residual->values.push_back(dense_[column]);
    }
    DivideByContent(residual);
    return true;
  }

  void ClearScratch() {
    for (uint32_t column : touched_) {
      dense_[column] = 0;
      is_touched_[column] = 0;
    }
    touched_.clear();
    for (uint32_t row_index : queued_rows_) is_queued_[row_index] = 0;
    queued_rows_.clear();
    queue_ = {};
  }

  std::vector<SparseRow> rows_;
  std::vector<uint32_t> pivot_column_;
  std::vector<int64_t> pivot_value_;
  std::vector<uint32_t> row_of_column_;

  std::vector<int64_t> dense_;
  std::vector<uint8_t> is_touched_;
  std::vector<uint32_t> touched_;
  std::vector<uint8_t> is_queued_;
  std::vector<uint32_t> queued_rows_;
  std::priority_queue<uint32_t, std::vector<uint32_t>, std::greater<>> queue_;
};

absl::Status ValidateRules(const DisclosureRules& rules) {
  if (rules.min_cell < 0) {
    return absl::InvalidArgumentError(fmt::format("min_cell {} is negative", rules.min_cell));
  }
  if (rules.dominance_n < 1) {
    return absl::InvalidArgumentError(
        fmt::format("dominance_n {} is not at least 1", rules.dominance_n));
  }
  if (!(rules.dominance_k > 0 && rules.dominance_k <= 1)) {
    return absl::InvalidArgumentError(
        fmt::format("dominance_k {} is not in (0, 1]", rules.dominance_k));
  }
  return absl::OkStatus();
}

absl::Status ValidateCell(const PublishedCell& cell, size_t index, uint32_t atom_count,
                          const DisclosureRules& rules) {
  for (size_t k = 0; k < cell.atoms.size(); ++k) {
    if (cell.atoms[k] >= atom_count) {
      return absl::InvalidArgumentError(fmt::format(
          "cell {}: atom {} is out of range (atom_count {})", index, cell.atoms[k], atom_count));
    }
    if (k > 0 && cell.atoms[k] <= cell.atoms[k - 1]) {
      return absl::InvalidArgumentError(fmt::format(
          "cell {}: atoms are not sorted and distinct ({} follows {})", index, cell.atoms[k],
          cell.atoms[k - 1]));
    }
  }
  if (!std::isfinite(cell.value)) {
    return absl::InvalidArgumentError(fmt::format("cell {}: value is not finite", index));
  }
  if (cell.value != 0 && cell.atoms.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("cell {}: value {} but no atoms", index, cell.value));
  }
  if (cell.kind == CellKind::kCount) {
    if (cell.value < 0) {
      return absl::InvalidArgumentError(
          fmt::format("cell {}: count {} is negative", index, cell.value));
    }
    return absl::OkStatus();
  }
  if (cell.contributors < 0) {
    return absl::InvalidArgumentError(
        fmt::format("cell {}: contributors {} is negative", index, cell.contributors));
  }
  const int64_t needed = std::min<int64_t>(rules.dominance_n, cell.contributors);
  if (static_cast<int64_t>(cell.largest.size()) < needed) {
    return absl::InvalidArgumentError(
        fmt::format("cell {}: {} largest contributions given, the dominance rule needs {}",
                    index, cell.largest.size(), needed));
  }
  for (double contribution : cell.largest) {
    if (!std::isfinite(contribution)) {
      return absl::InvalidArgumentError(
          fmt::format("cell {}: a largest contribution is not finite", index));
    }
  }
  return absl::OkStatus();
}

bool IsPrimary(const PublishedCell& cell, const DisclosureRules& rules) {
  if (cell.value == 0) return false;
  if (cell.kind == CellKind::kCount) return cell.value < static_cast<double>(rules.min_cell);
  if (cell.contributors < rules.min_cell) return true;
  std::vector<double> largest = cell.largest;
  const size_t n = std::min(largest.size(), static_cast<size_t>(rules.dominance_n));
  std::partial_sort(largest.begin(), largest.begin() + static_cast<std::ptrdiff_t>(n),
                    largest.end(), std::greater<>());
  const double top = std::accumulate(largest.begin(),
                                     largest.begin() + static_cast<std::ptrdiff_t>(n), 0.0);
  return top > rules.dominance_k * cell.value;
}

// Cells with equal atom sets, as one quantity.
struct CellGroup {
  size_t first_cell = 0;
  bool primary = false;
  bool is_total = false;
  double magnitude = 0;  // largest |value| of its cells
  const std::vector<uint32_t>* atoms = nullptr;
};

std::vector<CellGroup> GroupCells(const std::vector<PublishedCell>& cells,
                                  const std::vector<bool>& primary,
                                  std::vector<uint32_t>* group_of_cell) {
  std::vector<CellGroup> groups;
  std::map<std::vector<uint32_t>, uint32_t> group_of_atoms;
  group_of_cell->resize(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    auto [it, inserted] =
        group_of_atoms.emplace(cells[i].atoms, static_cast<uint32_t>(groups.size()));
    if (inserted) {
      groups.push_back(CellGroup{.first_cell = i, .atoms = &cells[i].atoms});
    }
    CellGroup& group = groups[it->second];
    group.primary = group.primary || primary[i];
    group.is_total = group.is_total || cells[i].is_total;
    group.magnitude = std::max(group.magnitude, std::abs(cells[i].value));
    (*group_of_cell)[i] = it->second;
  }
  return groups;
}

// Atoms whose value every reader knows to be 0: those of published cells without units.
std::vector<bool> KnownZeroAtoms(const std::vector<PublishedCell>& cells,
                                 const std::vector<CellGroup>& groups,
                                 const std::vector<uint32_t>& group_of_cell,
                                 uint32_t atom_count) {
  const bool has_counts = std::any_of(cells.begin(), cells.end(), [](const PublishedCell& c) {
    return c.kind == CellKind::kCount;
  });
  std::vector<bool> known_zero(atom_count, false);
  for (size_t i = 0; i < cells.size(); ++i) {
    const PublishedCell& cell = cells[i];
    if (cell.value != 0 || groups[group_of_cell[i]].primary) continue;
    // A sum without contributors says nothing about how many units its atoms hold.
    const bool without_units =
        cell.kind == CellKind::kCount || (!has_counts && cell.contributors == 0);
    if (!without_units) continue;
    for (uint32_t atom : cell.atoms) known_zero[atom] = true;
  }
  return known_zero;
}

// Each group as an indicator row over "atom classes": the atoms (not known to be 0) that
// lie in exactly the same groups are one column. Dropping duplicate columns keeps every
// linear relation between rows.
std::vector<SparseRow> GroupRowsOverAtomClasses(const std::vector<CellGroup>& groups,
                                                const std::vector<bool>& known_zero,
                                                uint32_t atom_count, uint32_t* class_count) {
  std::vector<std::vector<uint32_t>> groups_of_atom(atom_count);
  for (size_t g = 0; g < groups.size(); ++g) {
    for (uint32_t atom : *groups[g].atoms) {
      if (!known_zero[atom]) groups_of_atom[atom].push_back(static_cast<uint32_t>(g));
    }
  }
  std::map<std::vector<uint32_t>, uint32_t> class_of_signature;
  std::vector<SparseRow> rows(groups.size());
  for (uint32_t atom = 0; atom < atom_count; ++atom) {
    if (groups_of_atom[atom].empty()) continue;
    auto [it, inserted] = class_of_signature.emplace(
        std::move(groups_of_atom[atom]), static_cast<uint32_t>(class_of_signature.size()));
    if (!inserted) continue;
    // Classes are numbered in increasing order, so every row's columns come out sorted.
    for (uint32_t g : it->first) {
      rows[g].columns.push_back(it->second);
      rows[g].values.push_back(1);
    }
  }
  *class_count = static_cast<uint32_t>(class_of_signature.size());
  return rows;
}

// The residuals of the primary groups modulo the published span, kept up to date as cells
// are published. `rows_with_column_` counts, per column, the residuals that are nonzero
// there; publishing a row pivoted on a column no residual uses changes none of them.
class PrimaryResiduals {
 public:
  PrimaryResiduals(std::vector<SparseRow> residuals, uint32_t column_count)
      : residuals_(std::move(residuals)), rows_with_column_(column_count, 0) {
    for (const SparseRow& residual : residuals_) Count(residual, +1);
  }

  // The pivot for publishing `row`: the column fewest residuals use, preferring |value| 1
  // (no scaling) and then the lowest column, for determinism.
  uint32_t ChoosePivot(const SparseRow& row) const {
    size_t best = 0;
    for (size_t k = 1; k < row.columns.size(); ++k) {
      if (PivotKey(row, k) < PivotKey(row, best)) best = k;
    }
    return row.columns[best];
  }

  // Whether publishing `row` (a residual modulo the published span) keeps every primary
  // residual nonzero; if so `pending_` holds their updated values for Commit. Overflow counts
  // as "not safe" and sets `*overflow`.
  bool IsSafeToPublish(const SparseRow& row, uint32_t pivot, bool* overflow) {
    pending_.clear();
    const int64_t row_pivot_value = row.At(pivot);
    if (rows_with_column_[pivot] == 0) return true;
    for (size_t p = 0; p < residuals_.size(); ++p) {
      const int64_t residual_pivot_value = residuals_[p].At(pivot);
      if (residual_pivot_value == 0) continue;
      const auto [a, b] = EliminationFactors(residual_pivot_value, row_pivot_value);
      SparseRow updated;
      if (!Combine(a, residuals_[p], b, row, &updated)) {
        *overflow = true;
        return false;
      }
      if (updated.empty()) return false;  // the primary cell would be derivable
      pending_.emplace_back(p, std::move(updated));
    }
    return true;
  }

  void Commit() {
    for (auto& [p, updated] : pending_) {
      Count(residuals_[p], -1);
      residuals_[p] = std::move(updated);
      Count(residuals_[p], +1);
    }
    pending_.clear();
  }

 private:
  std::tuple<uint32_t, bool, uint32_t> PivotKey(const SparseRow& row, size_t k) const {
    return {rows_with_column_[row.columns[k]], std::abs(row.values[k]) != 1, row.columns[k]};
  }

  void Count(const SparseRow& residual, int delta) {
    for (uint32_t column : residual.columns) {
      rows_with_column_[column] = static_cast<uint32_t>(
          static_cast<int64_t>(rows_with_column_[column]) + delta);
    }
  }

  std::vector<SparseRow> residuals_;
  std::vector<uint32_t> rows_with_column_;
  std::vector<std::pair<size_t, SparseRow>> pending_;
};

// Decides kPublished or kSecondary for every non-primary group.
absl::Status SuppressSecondarily(const std::vector<PublishedCell>& cells,
                                 const std::vector<CellGroup>& groups,
                                 const std::vector<uint32_t>& group_of_cell,
                                 uint32_t atom_count, const DisclosureRules& rules,
                                 std::vector<CellState>* group_state,
                                 std::vector<bool>* overflowed) {
  std::vector<bool> known_zero(atom_count, false);
  if (rules.zero_cells_reveal_atoms) {
    known_zero = KnownZeroAtoms(cells, groups, group_of_cell, atom_count);
  }
  uint32_t class_count = 0;
  std::vector<SparseRow> rows =
      GroupRowsOverAtomClasses(groups, known_zero, atom_count, &class_count);

  std::vector<SparseRow> primary_rows;
  std::vector<uint32_t> candidates;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].primary) {
      candidates.push_back(static_cast<uint32_t>(g));
      continue;
    }
    if (rows[g].empty()) {
      return absl::InvalidArgumentError(fmt::format(
          "cell {}: value {} but every one of its atoms lies in a cell published as 0",
          groups[g].first_cell, cells[groups[g].first_cell].value));
    }
    primary_rows.push_back(rows[g]);
  }
  std::sort(candidates.begin(), candidates.end(), [&groups](uint32_t x, uint32_t y) {
    const CellGroup& gx = groups[x];
    const CellGroup& gy = groups[y];
    if (gx.is_total != gy.is_total) return gx.is_total;
    if (gx.magnitude != gy.magnitude) return gx.magnitude > gy.magnitude;
    return gx.first_cell < gy.first_cell;
  });

  EchelonBasis published(class_count);
  PrimaryResiduals primaries(std::move(primary_rows), class_count);
  SparseRow residual;
  for (uint32_t g : candidates) {
    if (!published.Reduce(rows[g], &residual)) {
      (*group_state)[g] = CellState::kSecondary;
      (*overflowed)[g] = true;
      continue;
    }
    if (residual.empty()) {  // already determined by what is published
      (*group_state)[g] = CellState::kPublished;
      continue;
    }
    const uint32_t pivot = primaries.ChoosePivot(residual);
    bool overflow = false;
    if (!primaries.IsSafeToPublish(residual, pivot, &overflow)) {
      (*group_state)[g] = CellState::kSecondary;
      (*overflowed)[g] = overflow;
      continue;
    }
    primaries.Commit();
    published.Add(std::move(residual), pivot);
    (*group_state)[g] = CellState::kPublished;
    residual = SparseRow();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Protection> ProtectCells(const std::vector<PublishedCell>& cells,
                                        uint32_t atom_count, const DisclosureRules& rules) {
  if (absl::Status status = ValidateRules(rules); !status.ok()) return status;
  std::vector<bool> primary(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    if (absl::Status status = ValidateCell(cells[i], i, atom_count, rules); !status.ok()) {
      return status;
    }
    primary[i] = IsPrimary(cells[i], rules);
  }

  std::vector<uint32_t> group_of_cell;
  const std::vector<CellGroup> groups = GroupCells(cells, primary, &group_of_cell);
  std::vector<CellState> group_state(groups.size(), CellState::kPublished);
  std::vector<bool> group_overflowed(groups.size(), false);
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].primary) group_state[g] = CellState::kPrimary;
  }
  if (rules.secondary) {
    if (absl::Status status = SuppressSecondarily(cells, groups, group_of_cell, atom_count,
                                                  rules, &group_state, &group_overflowed);
        !status.ok()) {
      return status;
    }
  }

  Protection protection;
  protection.state.resize(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    protection.state[i] = group_state[group_of_cell[i]];
    if (protection.state[i] == CellState::kPrimary) ++protection.primary;
    if (protection.state[i] == CellState::kSecondary) ++protection.secondary;
    if (group_overflowed[group_of_cell[i]]) ++protection.secondary_on_overflow;
  }
  return protection;
}

bool IsDerivable(const std::vector<std::vector<uint32_t>>& published,
                 const std::vector<uint32_t>& target, uint32_t /*atom_count*/) {
  // Only atoms that occur matter; numbering them densely keeps the scratch small.
  std::vector<uint32_t> atoms_used = target;
  for (const std::vector<uint32_t>& atoms : published) {
    atoms_used.insert(atoms_used.end(), atoms.begin(), atoms.end());
  }
  std::sort(atoms_used.begin(), atoms_used.end());
  atoms_used.erase(std::unique(atoms_used.begin(), atoms_used.end()), atoms_used.end());
  auto row_of = [&atoms_used](const std::vector<uint32_t>& atoms) {
    std::vector<uint32_t> columns;
    columns.reserve(atoms.size());
    for (uint32_t atom : atoms) {
      columns.push_back(static_cast<uint32_t>(
          std::lower_bound(atoms_used.begin(), atoms_used.end(), atom) - atoms_used.begin()));
    }
    std::sort(columns.begin(), columns.end());
    columns.erase(std::unique(columns.begin(), columns.end()), columns.end());
    return IndicatorRow(columns);
  };

  EchelonBasis basis(static_cast<uint32_t>(atoms_used.size()));
  SparseRow residual;
  for (const std::vector<uint32_t>& atoms : published) {
    if (!basis.Reduce(row_of(atoms), &residual)) return true;
    if (residual.empty()) continue;
    size_t pivot = 0;
    for (size_t k = 0; k < residual.values.size(); ++k) {
      if (std::abs(residual.values[k]) == 1) {
        pivot = k;
        break;
      }
    }
    const uint32_t pivot_column = residual.columns[pivot];
    basis.Add(std::move(residual), pivot_column);
    residual = SparseRow();
  }
  if (!basis.Reduce(row_of(target), &residual)) return true;
  return residual.empty();
}

}  // namespace koppel
