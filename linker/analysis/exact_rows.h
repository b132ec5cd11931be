// Exact integer linear algebra for disclosure control (disclosure.h, implied_sets.h): sparse
// integer vectors whose direction is what matters, fraction-free elimination with every
// product and difference overflow-checked, and an echelon basis of published cells. Internal to
// linker/analysis; everything here answers "overflow" instead of guessing.
#ifndef KOPPEL_LINKER_ANALYSIS_EXACT_ROWS_H_
#define KOPPEL_LINKER_ANALYSIS_EXACT_ROWS_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <queue>
#include <utility>
#include <vector>

namespace koppel::exact {

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

inline SparseRow IndicatorRow(const std::vector<uint32_t>& sorted_columns) {
  SparseRow row;
  row.columns = sorted_columns;
  row.values.assign(sorted_columns.size(), 1);
  return row;
}

inline int64_t Gcd(int64_t a, int64_t b) {
  // Values are never INT64_MIN: every product and difference below is checked.
  return std::gcd(a, b);
}

inline void DivideByContent(SparseRow* row) {
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
inline bool MulSub(int64_t a, int64_t x, int64_t b, int64_t y, int64_t* out) {
  int64_t ax = 0;
  int64_t by = 0;
  if (__builtin_mul_overflow(a, x, &ax)) return false;
  if (__builtin_mul_overflow(b, y, &by)) return false;
  if (__builtin_sub_overflow(ax, by, out)) return false;
  return *out != INT64_MIN;
}

// Coefficients (a, b) with a > 0 such that a * pivot_of_target - b * pivot_of_row == 0.
inline std::pair<int64_t, int64_t> EliminationFactors(int64_t target_value, int64_t row_value) {
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
inline bool Combine(int64_t a, const SparseRow& target, int64_t b, const SparseRow& row,
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

}  // namespace koppel::exact

#endif  // KOPPEL_LINKER_ANALYSIS_EXACT_ROWS_H_
