// Who lives with whom on one day, from a covenant's population register: for every person in
// the register on that day, the households (the address tokens of the register records whose
// address period [from, to) holds the day; normally one) and their members. A person the
// register places at two addresses that day counts as a member of both. Family-level purpose-bound releases use it to
// answer "is anyone in this person's household known at ...". Built from the stored, encrypted
// register records; holds only re-keyed tokens.
#ifndef KOPPEL_LINKER_HOUSEHOLD_INDEX_H_
#define KOPPEL_LINKER_HOUSEHOLD_INDEX_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/secret.h"
#include "linker/linker_store.h"
#include "policies/covenant.h"

namespace koppel {

class HouseholdIndex {
 public:
  // `day` counts days since 1970-01-01. NOT_FOUND when the register dataset holds no records.
  static absl::StatusOr<HouseholdIndex> Build(const LinkerStore& store, const std::string& covenant,
                                              const FamilyRegister& family, const Secret& data_key,
                                              int day);

  // The re-keyed tokens of everyone in `person`'s households on the day, `person` included
  // once; just `person` when the register does not place it anywhere that day.
  std::vector<std::string> Family(const std::string& person) const;

  size_t persons() const { return households_of_.size(); }
  int day() const { return day_; }

 private:
  int day_ = 0;
  absl::flat_hash_map<std::string, std::vector<std::string>> households_of_;
  absl::flat_hash_map<std::string, std::vector<std::string>> members_;
};

}  // namespace koppel

#endif  // KOPPEL_LINKER_HOUSEHOLD_INDEX_H_
