// Who lives with whom on one day, from a covenant's population register: for every person in
// the register on that day, the households (the address tokens of the register records whose
// address period [from, to) holds the day; normally one) and their members. A person the
// register places at two addresses that day counts as a member of both. Family-level
// purpose-bound releases use it to answer "is anyone in this person's household known at ...".
// Built from the stored register records, kept current by adding each register batch as it is
// committed; holds only re-keyed tokens.
//
// Layout: sorted arrays of 32-byte tokens searched by binary search, person and household
// numbers (uint32), and one flat member array per layer (CSR: each household's members are a
// run of person numbers). A full build makes one layer; each added batch makes a small layer,
// and layers of similar size are merged (the logarithmic method), so that adding costs about
// log(layers) times the batch and an index is never copied whole for one batch. An index is
// immutable: adding returns a new index that shares the unchanged layers with the old one.
#ifndef KOPPEL_LINKER_HOUSEHOLD_INDEX_H_
#define KOPPEL_LINKER_HOUSEHOLD_INDEX_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/secret.h"
#include "linker/linker_store.h"
#include "policies/covenant.h"

namespace koppel::linker {

using TokenKey = std::array<uint8_t, 32>;

// One register record that can place someone: its person and address and its address period
// [from, to) in days (to: INT32_MAX when open). Which day it places on is decided later.
struct RegisterEntry {
  TokenKey person;
  TokenKey address;
  int32_t from;
  int32_t to;
};

struct HouseholdBuildOptions {
  int threads = 0;                            // scanning threads; 0: one per core
  const std::atomic<bool>* cancel = nullptr;  // when set, the build stops with CANCELLED
  bool empty_register_is_ok = false;          // an empty register gives Empty(day), not NOT_FOUND
};

class HouseholdIndex {
 public:
  using BuildOptions = HouseholdBuildOptions;

  // `day` counts days since 1970-01-01. NOT_FOUND when the register dataset holds no records.
  // Scans the register in token ranges on several threads.
  static absl::StatusOr<HouseholdIndex> Build(const LinkerStore& store, const std::string& covenant,
                                              const policy::FamilyRegister& family,
                                              const Secret& data_key, int day,
                                              const BuildOptions& options = {});

  // An index for `day` of a register that holds no records yet; batches are added to it.
  static HouseholdIndex Empty(int day);

  // The entries of one committed register batch (its header says where the period sits);
  // DATA_LOSS when a record does not open.
  static absl::StatusOr<std::vector<RegisterEntry>> ReadBatch(
      const v1::BatchHeader& header, const std::vector<StoredRecord>& records,
      const policy::FamilyRegister& family, const Secret& data_key);

  // This index with a committed batch of `records` register records added (`entries` read from
  // it); the same as a full build over the register with the batch.
  HouseholdIndex With(const std::vector<RegisterEntry>& entries, uint64_t records) const;

  // The re-keyed tokens of everyone in `person`'s households on the day, `person` included
  // once; just `person` when the register does not place it anywhere that day.
  std::vector<std::string> Family(const std::string& person) const;

  // Persons placed on the day.
  size_t persons() const { return persons_; }
  int day() const { return day_; }
  // Register records seen in the build and the batches added (a batch committed while the
  // build ran may count twice); 0 exactly when the register holds none.
  uint64_t register_records() const { return register_records_; }
  size_t layers() const { return layers_.size(); }
  // The heap the layers hold.
  size_t bytes() const;

 private:
  class Layer;  // household_index.cc

  int day_ = 0;
  size_t persons_ = 0;
  uint64_t register_records_ = 0;
  std::vector<std::shared_ptr<const Layer>> layers_;  // largest first
};

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_HOUSEHOLD_INDEX_H_
