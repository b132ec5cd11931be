#include "linker/analysis/disclosure.h"

#include <fmt/format.h>

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

#include "absl/status/status.h"
#include "linker/analysis/exact_rows.h"

namespace koppel::analysis {
namespace {

using exact::Combine;
using exact::EchelonBasis;
using exact::EliminationFactors;
using exact::IndicatorRow;
using exact::SparseRow;

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
      return absl::InvalidArgumentError(
          fmt::format("cell {}: atoms are not sorted and distinct ({} follows {})", index,
                      cell.atoms[k], cell.atoms[k - 1]));
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
        fmt::format("cell {}: {} largest contributions given, the dominance rule needs {}", index,
                    cell.largest.size(), needed));
  }
  for (double contribution : cell.largest) {
    if (!std::isfinite(contribution)) {
      return absl::InvalidArgumentError(
          fmt::format("cell {}: a largest contribution is not finite", index));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsSensitive(const PublishedCell& cell, const DisclosureRules& rules) {
  if (cell.value == 0) return false;
  if (cell.kind == CellKind::kCount) return cell.value < static_cast<double>(rules.min_cell);
  if (cell.contributors < rules.min_cell) return true;
  std::vector<double> largest = cell.largest;
  const size_t n = std::min(largest.size(), static_cast<size_t>(rules.dominance_n));
  std::partial_sort(largest.begin(), largest.begin() + static_cast<std::ptrdiff_t>(n),
                    largest.end(), std::greater<>());
  const double top =
      std::accumulate(largest.begin(), largest.begin() + static_cast<std::ptrdiff_t>(n), 0.0);
  return top > rules.dominance_k * cell.value;
}

namespace {

// Cells with equal atom sets, as one quantity.
struct CellGroup {
  size_t first_cell = 0;
  bool primary = false;
  bool published_earlier = false;  // some cell of it has role kPublished
  bool candidate = false;          // some cell of it has role kCandidate
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
    group.published_earlier = group.published_earlier || cells[i].role == CellRole::kPublished;
    group.candidate = group.candidate || cells[i].role == CellRole::kCandidate;
    group.is_total = group.is_total || cells[i].is_total;
    group.magnitude = std::max(group.magnitude, std::abs(cells[i].value));
    (*group_of_cell)[i] = it->second;
  }
  return groups;
}

// Atoms whose value every reader knows to be 0: those of published cells without units.
std::vector<bool> KnownZeroAtoms(const std::vector<PublishedCell>& cells,
                                 const std::vector<CellGroup>& groups,
                                 const std::vector<uint32_t>& group_of_cell, uint32_t atom_count) {
  const bool has_counts = std::any_of(cells.begin(), cells.end(), [](const PublishedCell& c) {
    return c.kind == CellKind::kCount;
  });
  std::vector<bool> known_zero(atom_count, false);
  for (size_t i = 0; i < cells.size(); ++i) {
    const PublishedCell& cell = cells[i];
    const CellGroup& group = groups[group_of_cell[i]];
    if (cell.value != 0 || group.primary || cell.role == CellRole::kHidden) continue;
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

  // Publishes `row` whatever it reveals (a cell published earlier): residuals it makes zero
  // are dropped, since nothing can protect them any more, and counted in `*determined`.
  // False on overflow.
  bool PublishAnyway(const SparseRow& row, uint32_t pivot, int64_t* determined) {
    pending_.clear();
    const int64_t row_pivot_value = row.At(pivot);
    if (rows_with_column_[pivot] == 0) return true;
    std::vector<size_t> emptied;
    for (size_t p = 0; p < residuals_.size(); ++p) {
      const int64_t residual_pivot_value = residuals_[p].At(pivot);
      if (residual_pivot_value == 0) continue;
      const auto [a, b] = EliminationFactors(residual_pivot_value, row_pivot_value);
      SparseRow updated;
      if (!Combine(a, residuals_[p], b, row, &updated)) return false;
      if (updated.empty()) emptied.push_back(p);
      pending_.emplace_back(p, std::move(updated));
    }
    Commit();
    *determined += static_cast<int64_t>(emptied.size());
    for (auto it = emptied.rbegin(); it != emptied.rend(); ++it) {
      residuals_.erase(residuals_.begin() + static_cast<std::ptrdiff_t>(*it));
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
      rows_with_column_[column] =
          static_cast<uint32_t>(static_cast<int64_t>(rows_with_column_[column]) + delta);
    }
  }

  std::vector<SparseRow> residuals_;
  std::vector<uint32_t> rows_with_column_;
  std::vector<std::pair<size_t, SparseRow>> pending_;
};

// Decides kPublished or kSecondary for every non-primary group.
absl::Status SuppressSecondarily(const std::vector<PublishedCell>& cells,
                                 const std::vector<CellGroup>& groups,
                                 const std::vector<uint32_t>& group_of_cell, uint32_t atom_count,
                                 const DisclosureRules& rules, std::vector<CellState>* group_state,
                                 std::vector<bool>* overflowed, int64_t* determined_earlier) {
  std::vector<bool> known_zero(atom_count, false);
  if (rules.zero_cells_reveal_atoms) {
    known_zero = KnownZeroAtoms(cells, groups, group_of_cell, atom_count);
  }
  uint32_t class_count = 0;
  std::vector<SparseRow> rows =
      GroupRowsOverAtomClasses(groups, known_zero, atom_count, &class_count);

  std::vector<SparseRow> primary_rows;
  std::vector<uint32_t> earlier;
  std::vector<uint32_t> candidates;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].published_earlier) {
      if (groups[g].primary) {
        ++*determined_earlier;
      } else {
        earlier.push_back(static_cast<uint32_t>(g));
      }
      continue;
    }
    if (!groups[g].primary) {
      if (groups[g].candidate) candidates.push_back(static_cast<uint32_t>(g));
      continue;
    }
    if (rows[g].empty()) {
      return absl::InvalidArgumentError(
          fmt::format("cell {}: value {} but every one of its atoms lies in a cell published as 0",
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
  for (uint32_t g : earlier) {
    if (!published.Reduce(rows[g], &residual)) {
      return absl::ResourceExhaustedError(
          "the cells published earlier do not fit exact integer elimination");
    }
    if (residual.empty()) continue;
    const uint32_t pivot = primaries.ChoosePivot(residual);
    if (!primaries.PublishAnyway(residual, pivot, determined_earlier)) {
      return absl::ResourceExhaustedError(
          "the cells published earlier do not fit exact integer elimination");
    }
    published.Add(std::move(residual), pivot);
    residual = SparseRow();
  }
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
    primary[i] = IsSensitive(cells[i], rules);
  }

  std::vector<uint32_t> group_of_cell;
  const std::vector<CellGroup> groups = GroupCells(cells, primary, &group_of_cell);
  std::vector<CellState> group_state(groups.size(), CellState::kPublished);
  std::vector<bool> group_overflowed(groups.size(), false);
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].published_earlier) continue;
    if (groups[g].primary) {
      group_state[g] = CellState::kPrimary;
    } else if (!groups[g].candidate) {
      group_state[g] = CellState::kSecondary;  // hidden: never published
    }
  }
  Protection protection;
  if (rules.secondary) {
    if (absl::Status status =
            SuppressSecondarily(cells, groups, group_of_cell, atom_count, rules, &group_state,
                                &group_overflowed, &protection.determined_earlier);
        !status.ok()) {
      return status;
    }
  }

  protection.state.resize(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    protection.state[i] = group_state[group_of_cell[i]];
    if (cells[i].role != CellRole::kCandidate) continue;
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

}  // namespace koppel::analysis
