// Building releases by hand in tests of the release writers (csv/json/md, html, xlsx): one
// released cell of each kind, and a row of cells.
#ifndef KOPPEL_TESTS_TESTING_RELEASED_CELLS_H_
#define KOPPEL_TESTS_TESTING_RELEASED_CELLS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "koppel/v1/analysis.pb.h"

namespace koppel::test {

inline v1::ReleasedCell Count(int64_t n) {
  v1::ReleasedCell cell;
  cell.set_count(n);
  return cell;
}

inline v1::ReleasedCell Amount(double euro) {
  v1::ReleasedCell cell;
  cell.set_amount(euro);
  return cell;
}

inline v1::ReleasedCell Percent(double p) {
  v1::ReleasedCell cell;
  cell.set_percent(p);
  return cell;
}

inline v1::ReleasedCell Suppressed() {
  v1::ReleasedCell cell;
  cell.set_suppressed(true);
  return cell;
}

// A suppressed cell that (wrongly) still carries its value: the value must never be written.
inline v1::ReleasedCell SuppressedWithValue(v1::ReleasedCell cell) {
  cell.set_suppressed(true);
  return cell;
}

inline void AddRow(v1::ReleasedTable* table, const std::string& label,
                   std::vector<v1::ReleasedCell> cells) {
  v1::ReleasedRow* row = table->add_rows();
  row->set_label(label);
  for (v1::ReleasedCell& cell : cells) *row->add_cells() = std::move(cell);
}

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_RELEASED_CELLS_H_
