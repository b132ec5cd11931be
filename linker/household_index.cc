#include "linker/household_index.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <map>

#include "core/status_macros.h"
#include "linker/record_cipher.h"

namespace koppel {
namespace {

// Where the address period sits in the records of one stored batch.
struct PeriodSlots {
  int from = -1;
  int to = -1;
};

int Slot(const v1::BatchHeader& header, const std::string& name) {
  for (int i = 0; i < header.attributes_size(); ++i) {
    if (header.attributes(i).name() == name) return i;
  }
  return -1;
}

}  // namespace

absl::StatusOr<HouseholdIndex> HouseholdIndex::Build(const LinkerStore& store,
                                                     const std::string& covenant,
                                                     const FamilyRegister& family,
                                                     const Secret& data_key, int day) {
  HouseholdIndex index;
  index.day_ = day;
  std::map<std::string, PeriodSlots, std::less<>> batches;
  std::string plain;
  v1::Record record;
  std::unique_ptr<RecordCursor> cursor = store.NewRecordCursor(covenant, family.dataset);
  for (; cursor->Valid(); cursor->Next()) {
    auto batch = batches.find(cursor->batch_id());
    if (batch == batches.end()) {
      ASSIGN_OR_RETURN(v1::BatchHeader header, store.FindBatchHeader(cursor->batch_id()));
      batch = batches.emplace(std::string(cursor->batch_id()),
                              PeriodSlots{Slot(header, family.address_from),
                                          Slot(header, family.address_to)})
                  .first;
    }
    const PeriodSlots slots = batch->second;
    if (slots.from < 0) continue;  // delivered without the address period: places no one
    RETURN_IF_ERROR(OpenStoredRecord(cursor->value(), data_key, &plain, &record));
    // A value left off the end is unset, as the analysis engine reads it: an open period.
    if (record.bsn_token().empty() || record.address_token().empty() ||
        record.values_size() <= slots.from) {
      continue;
    }
    const v1::Value& from = record.values(slots.from);
    if (from.kind_case() != v1::Value::kDateDays || from.date_days() > day) continue;
    if (slots.to >= 0 && slots.to < record.values_size()) {
      const v1::Value& to = record.values(slots.to);
      if (to.kind_case() == v1::Value::kDateDays && to.date_days() <= day) continue;
    }
    std::vector<std::string>& households = index.households_of_[record.bsn_token()];
    if (std::find(households.begin(), households.end(), record.address_token()) ==
        households.end()) {
      households.push_back(record.address_token());
    }
  }
  sodium_memzero(plain.data(), plain.size());
  RETURN_IF_ERROR(cursor->status());
  if (batches.empty()) {
    return absl::NotFoundError(fmt::format(
        "covenant {}: the register '{}' holds no records yet; a household release needs it",
        covenant, family.dataset));
  }
  for (const auto& [person, households] : index.households_of_) {
    for (const std::string& household : households) index.members_[household].push_back(person);
  }
  return index;
}

std::vector<std::string> HouseholdIndex::Family(const std::string& person) const {
  auto households = households_of_.find(person);
  if (households == households_of_.end()) return {person};
  if (households->second.size() == 1) return members_.at(households->second.front());
  std::vector<std::string> family;
  for (const std::string& household : households->second) {
    for (const std::string& member : members_.at(household)) {
      if (std::find(family.begin(), family.end(), member) == family.end()) family.push_back(member);
    }
  }
  return family;
}

}  // namespace koppel
