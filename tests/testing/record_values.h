// Builders of the values, schemas and days that hand-made batches and records are written with
// in the engine tests (analysis_engine_test, cost_benefit_engine_test).
#ifndef KOPPEL_TESTS_TESTING_RECORD_VALUES_H_
#define KOPPEL_TESTS_TESTING_RECORD_VALUES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"
#include "core/civil_date.h"
#include "koppel/v1/batch.pb.h"

namespace koppel::test {

inline int Day(int y, int m, int d) { return DaysSinceEpoch(absl::CivilDay(y, m, d)); }

inline v1::AttributeSchema Attribute(const std::string& name, v1::AttributeType type,
                                     std::vector<std::string> codes = {}) {
  v1::AttributeSchema schema;
  schema.set_name(name);
  schema.set_type(type);
  for (std::string& code : codes) schema.add_codes(std::move(code));
  return schema;
}

inline v1::Value DateValue(int days) {
  v1::Value v;
  v.set_date_days(days);
  return v;
}
inline v1::Value CodeValue(uint32_t code) {
  v1::Value v;
  v.set_code(code);
  return v;
}
inline v1::Value IntegerValue(int64_t n) {
  v1::Value v;
  v.set_integer(n);
  return v;
}
inline v1::Value AmountValue(int64_t cents) {
  v1::Value v;
  v.set_amount_cents(cents);
  return v;
}
inline v1::Value YearValue(int year) {
  v1::Value v;
  v.set_year(year);
  return v;
}

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_RECORD_VALUES_H_
