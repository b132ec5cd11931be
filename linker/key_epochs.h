// Which key epoch an analysis or a purpose-bound answer reads after `koppel-vault rotate`, and
// which datasets are still to be delivered again (docs/services.md, "Key epochs"). Tokens of
// two epochs never join, so whatever reads several datasets reads all of them in one epoch:
// the newest in which every dataset it reads (that holds records at all) holds records.
#ifndef KOPPEL_LINKER_KEY_EPOCHS_H_
#define KOPPEL_LINKER_KEY_EPOCHS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "linker/covenant_store.h"

namespace koppel::linker {

class KeyEpochs {
 public:
  KeyEpochs(std::string covenant, HeldEpochs held)
      : covenant_(std::move(covenant)), held_(std::move(held)) {}

  // The covenant's newest epoch: the highest any of its batches carries; 0 when none is held.
  uint32_t newest() const;
  // The epochs `dataset` holds records of, ascending.
  std::vector<uint32_t> Of(const std::string& dataset) const;
  bool Holds(const std::string& dataset, uint32_t epoch) const;
  // Every dataset holding records.
  std::vector<std::string> Datasets() const;

  // CompleteFor, ToRedeliver and RetirableThrough count a dataset as delivered in an epoch only
  // when that epoch's batches of it hold records and settled (HeldEpochs::unsettled); a dataset
  // none of whose epochs settled yet (a first delivery) counts in the oldest epoch it holds.
  //
  // The newest epoch in which every one of `datasets` that holds records holds records; the
  // newest epoch when none of them holds any. FAILED_PRECONDITION naming the datasets to
  // deliver again when there is no such epoch.
  absl::StatusOr<uint32_t> CompleteFor(const std::vector<std::string>& datasets) const;
  // Of `datasets`, those holding records but none of the newest epoch, in order.
  std::vector<std::string> ToRedeliver(const std::vector<std::string>& datasets) const;
  // CompleteFor(datasets), for a release of the covenant after releases that read up to epoch
  // `floor`: epochs only go forward, or an analyst could pick the epoch (and so which
  // households a release holds) by choosing the datasets read. FAILED_PRECONDITION (rule
  // key_epoch_order) naming the datasets to deliver again under `floor` when it is older.
  absl::StatusOr<uint32_t> ForRelease(const std::vector<std::string>& datasets,
                                      uint32_t floor) const;
  // Of `datasets`, those holding records but not delivered in `epoch`, in order.
  std::vector<std::string> NotDeliveredIn(const std::vector<std::string>& datasets,
                                          uint32_t epoch) const;
  // The epoch through which the held epochs may be retired: the one below the newest epoch in
  // which every dataset holds records, settled, when an older epoch is held; 0 when none may.
  uint32_t RetirableThrough() const;
  // The raw ids of the held batches of `epoch`, of every dataset.
  absl::flat_hash_set<std::string> BatchesOf(uint32_t epoch) const;

  const HeldEpochs& held() const { return held_; }

 private:
  // The epochs `dataset` counts as delivered in, ascending (see CompleteFor).
  std::vector<uint32_t> Delivered(const std::string& dataset) const;
  bool DeliveredIn(const std::string& dataset, uint32_t epoch) const;
  bool Settled(const std::string& dataset, uint32_t epoch) const;

  std::string covenant_;
  HeldEpochs held_;
};

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_KEY_EPOCHS_H_
