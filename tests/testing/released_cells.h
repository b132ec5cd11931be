// Building releases by hand in tests of the release writers (csv/json/md, html, xlsx): one
// released cell of each kind, a row of cells, and the metadata of a typical exact release.
#ifndef KOPPEL_TESTS_TESTING_RELEASED_CELLS_H_
#define KOPPEL_TESTS_TESTING_RELEASED_CELLS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "core/proto_time.h"
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

// An exact release of covenant almelo-demo: two reference dates, two deliveries, the default
// disclosure settings, three cells suppressed primary and three secondary, one warning.
inline v1::ReleaseMetadata TestMetadata() {
  v1::ReleaseMetadata m;
  m.set_covenant_id("almelo-demo");
  m.set_analysis("almelo-2014");
  m.set_spec_sha256("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  *m.add_reference_dates() = ToProtoDate(absl::CivilDay(2014, 1, 1));
  *m.add_reference_dates() = ToProtoDate(absl::CivilDay(2013, 1, 1));
  v1::DeliveryUsed* brp = m.add_deliveries();
  brp->set_dataset("brp");
  brp->set_batches(3);
  brp->set_records(12000);
  v1::DeliveryUsed* uwv = m.add_deliveries();
  uwv->set_dataset("uwv");
  uwv->set_batches(1);
  uwv->set_records(850);
  m.set_min_cell(10);
  m.set_dominance("(1, 80%)");
  m.set_suppressed_percent("suppressed with its count");
  m.set_cells_suppressed_primary(3);
  m.set_cells_suppressed_secondary(3);
  m.add_warnings("dataset jeugdzorg has no records for 2013");
  *m.mutable_release_time() = ToProtoTimestamp(
      absl::FromCivil(absl::CivilSecond(2024, 5, 1, 10, 0, 0), absl::UTCTimeZone()));
  m.set_recipient("research-unit");
  return m;
}

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_RELEASED_CELLS_H_
