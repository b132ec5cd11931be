#include "tests/testing/linear_attacker.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"

namespace koppel::test {
namespace {

// An exact rational number: den > 0, gcd(num, den) == 1.
struct Rational {
  int64_t num = 0;
  int64_t den = 1;
};

absl::int128 Gcd128(absl::int128 a, absl::int128 b) {
  if (a < 0) a = -a;
  if (b < 0) b = -b;
  while (b != 0) {
    absl::int128 rest = a % b;
    a = b;
    b = rest;
  }
  return a;
}

bool FitsInt64(absl::int128 x) {
  return x >= std::numeric_limits<int64_t>::min() + 1 && x <= std::numeric_limits<int64_t>::max();
}

// Arithmetic that records overflow instead of wrapping; after overflow the results are junk
// and the caller must fail.
class Field {
 public:
  bool overflowed() const { return overflowed_; }

  Rational Make(absl::int128 num, absl::int128 den) {
    if (den < 0) {
      num = -num;
      den = -den;
    }
    const absl::int128 g = Gcd128(num, den);
    if (g > 1) {
      num /= g;
      den /= g;
    }
    if (!FitsInt64(num) || !FitsInt64(den)) {
      overflowed_ = true;
      return Rational{};
    }
    return Rational{static_cast<int64_t>(num), static_cast<int64_t>(den)};
  }

  // a - f * b
  Rational SubMul(Rational a, Rational f, Rational b) {
    const Rational product = Make(absl::int128(f.num) * b.num, absl::int128(f.den) * b.den);
    return Make(absl::int128(a.num) * product.den - absl::int128(product.num) * a.den,
                absl::int128(a.den) * product.den);
  }

  Rational Div(Rational a, Rational b) {
    return Make(absl::int128(a.num) * b.den, absl::int128(a.den) * b.num);
  }

 private:
  bool overflowed_ = false;
};

using Row = std::map<uint32_t, Rational>;  // atom -> nonzero coefficient

// The published matrix in reduced row echelon form: every row has coefficient 1 at its pivot
// and 0 at every other row's pivot.
class ReducedEchelonForm {
 public:
  explicit ReducedEchelonForm(Field* field) : field_(field) {}

  // Subtracts from `row` the combination of rows that clears all pivot columns.
  void Reduce(Row* row) const {
    // The rows are 0 at each other's pivots, so the multipliers are row's own coefficients
    // at the pivots, read before any subtraction.
    std::vector<std::pair<uint32_t, Rational>> multipliers;
    for (const auto& [column, value] : *row) {
      if (row_of_pivot_.count(column) != 0) multipliers.emplace_back(column, value);
    }
    for (const auto& [pivot, multiplier] : multipliers) {
      AddMultiple(row, multiplier, rows_[row_of_pivot_.at(pivot)]);
    }
  }

  void Insert(Row row) {
    Reduce(&row);
    if (row.empty()) return;
    const uint32_t pivot = row.begin()->first;
    const Rational scale = row.begin()->second;
    for (auto& [column, value] : row) value = field_->Div(value, scale);
    for (Row& other : rows_) {
      auto it = other.find(pivot);
      if (it == other.end()) continue;
      const Rational multiplier = it->second;
      AddMultiple(&other, multiplier, row);
    }
    row_of_pivot_[pivot] = rows_.size();
    rows_.push_back(std::move(row));
  }

 private:
  // row -= multiplier * other
  void AddMultiple(Row* row, Rational multiplier, const Row& other) const {
    for (const auto& [column, value] : other) {
      auto [it, inserted] = row->emplace(column, Rational{});
      it->second = field_->SubMul(it->second, multiplier, value);
      if (it->second.num == 0) row->erase(it);
    }
  }

  Field* field_;
  std::vector<Row> rows_;
  std::map<uint32_t, size_t> row_of_pivot_;
};

}  // namespace

absl::StatusOr<std::vector<size_t>> FindDerivableCells(
    const std::vector<std::vector<uint32_t>>& cell_atoms, const std::vector<bool>& published,
    uint32_t atom_count) {
  if (cell_atoms.size() != published.size()) {
    return absl::InvalidArgumentError(
        fmt::format("{} cells but {} published flags", cell_atoms.size(), published.size()));
  }
  std::vector<Row> rows(cell_atoms.size());
  for (size_t i = 0; i < cell_atoms.size(); ++i) {
    for (uint32_t atom : cell_atoms[i]) {
      if (atom >= atom_count) {
        return absl::InvalidArgumentError(
            fmt::format("cell {}: atom {} is out of range (atom_count {})", i, atom, atom_count));
      }
      if (!rows[i].emplace(atom, Rational{1, 1}).second) {
        return absl::InvalidArgumentError(fmt::format("cell {}: atom {} repeated", i, atom));
      }
    }
  }

  Field field;
  ReducedEchelonForm echelon(&field);
  std::vector<bool> atom_is_published(atom_count, false);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!published[i]) continue;
    for (uint32_t atom : cell_atoms[i]) atom_is_published[atom] = true;
    echelon.Insert(rows[i]);
  }

  std::vector<size_t> derivable;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (published[i]) continue;
    // Every published combination is 0 on an atom no published cell contains.
    const bool covered = std::all_of(cell_atoms[i].begin(), cell_atoms[i].end(),
                                     [&](uint32_t atom) { return atom_is_published[atom]; });
    if (!covered) continue;
    Row row = rows[i];
    echelon.Reduce(&row);
    if (row.empty()) derivable.push_back(i);
  }
  if (field.overflowed()) {
    return absl::OutOfRangeError("exact rational arithmetic overflowed int64");
  }
  return derivable;
}

}  // namespace koppel::test
