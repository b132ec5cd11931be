#include "linker/key_epochs.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "core/refusal.h"

namespace koppel::linker {

uint32_t KeyEpochs::newest() const {
  uint32_t newest = 0;
  for (const auto& [dataset, epochs] : held_.batches) {
    if (!epochs.empty()) newest = std::max(newest, epochs.rbegin()->first);
  }
  return newest;
}

std::vector<uint32_t> KeyEpochs::Of(const std::string& dataset) const {
  std::vector<uint32_t> epochs;
  auto it = held_.batches.find(dataset);
  if (it == held_.batches.end()) return epochs;
  for (const auto& [epoch, batches] : it->second) epochs.push_back(epoch);
  return epochs;
}

bool KeyEpochs::Holds(const std::string& dataset, uint32_t epoch) const {
  auto it = held_.batches.find(dataset);
  return it != held_.batches.end() && it->second.contains(epoch);
}

bool KeyEpochs::Settled(const std::string& dataset, uint32_t epoch) const {
  auto it = held_.unsettled.find(dataset);
  return it == held_.unsettled.end() || !it->second.contains(epoch);
}

std::vector<uint32_t> KeyEpochs::Delivered(const std::string& dataset) const {
  std::vector<uint32_t> epochs = Of(dataset);
  std::vector<uint32_t> settled;
  for (uint32_t epoch : epochs) {
    if (Settled(dataset, epoch)) settled.push_back(epoch);
  }
  // None settled yet: a first delivery (or every epoch just delivered) counts in its oldest.
  if (settled.empty() && !epochs.empty()) settled.push_back(epochs.front());
  return settled;
}

bool KeyEpochs::DeliveredIn(const std::string& dataset, uint32_t epoch) const {
  const std::vector<uint32_t> epochs = Delivered(dataset);
  return std::find(epochs.begin(), epochs.end(), epoch) != epochs.end();
}

std::vector<std::string> KeyEpochs::Datasets() const {
  std::vector<std::string> datasets;
  for (const auto& [dataset, epochs] : held_.batches) {
    if (!epochs.empty()) datasets.push_back(dataset);
  }
  return datasets;
}

absl::StatusOr<uint32_t> KeyEpochs::CompleteFor(const std::vector<std::string>& datasets) const {
  std::vector<std::string> holding;
  std::set<uint32_t> candidates;
  for (const std::string& dataset : datasets) {
    const std::vector<uint32_t> epochs = Delivered(dataset);
    if (epochs.empty()) continue;
    holding.push_back(dataset);
    candidates.insert(epochs.begin(), epochs.end());
  }
  if (holding.empty()) return newest();
  for (auto it = candidates.rbegin(); it != candidates.rend(); ++it) {
    const uint32_t epoch = *it;
    if (std::all_of(holding.begin(), holding.end(),
                    [&](const std::string& dataset) { return DeliveredIn(dataset, epoch); })) {
      return epoch;
    }
  }
  return absl::FailedPreconditionError(fmt::format(
      "covenant {}: the datasets read were delivered under different key epochs and no epoch "
      "holds them all, so nothing can be joined; deliver again under key epoch {} (the "
      "covenant's newest): {}",
      covenant_, newest(), fmt::join(ToRedeliver(holding), ", ")));
}

absl::StatusOr<uint32_t> KeyEpochs::ForRelease(const std::vector<std::string>& datasets,
                                               uint32_t floor) const {
  absl::StatusOr<uint32_t> epoch = CompleteFor(datasets);
  if (!epoch.ok() || *epoch >= floor) return epoch;
  return WithServiceRule(
      absl::FailedPreconditionError(fmt::format(
          "covenant {}: an earlier release read key epoch {} and releases never go back to an "
          "older epoch, but this analysis could only read epoch {}; deliver again under key "
          "epoch {}: {} (rule: key_epoch_order)",
          covenant_, floor, *epoch, floor, fmt::join(NotDeliveredIn(datasets, floor), ", "))),
      "key_epoch_order", covenant_);
}

std::vector<std::string> KeyEpochs::ToRedeliver(const std::vector<std::string>& datasets) const {
  return NotDeliveredIn(datasets, newest());
}

std::vector<std::string> KeyEpochs::NotDeliveredIn(const std::vector<std::string>& datasets,
                                                   uint32_t epoch) const {
  std::vector<std::string> lagging;
  for (const std::string& dataset : datasets) {
    if (!Of(dataset).empty() && !DeliveredIn(dataset, epoch)) lagging.push_back(dataset);
  }
  return lagging;
}

uint32_t KeyEpochs::RetirableThrough() const {
  absl::StatusOr<uint32_t> complete = CompleteFor(Datasets());
  if (!complete.ok() || *complete <= 1) return 0;
  // A first delivery counts before it settled (Delivered); a retirement waits for the settle.
  for (const std::string& dataset : Datasets()) {
    if (!Settled(dataset, *complete)) return 0;
  }
  for (const auto& [dataset, epochs] : held_.batches) {
    if (!epochs.empty() && epochs.begin()->first < *complete) return *complete - 1;
  }
  return 0;
}

absl::flat_hash_set<std::string> KeyEpochs::BatchesOf(uint32_t epoch) const {
  absl::flat_hash_set<std::string> ids;
  for (const auto& [dataset, epochs] : held_.batches) {
    auto it = epochs.find(epoch);
    if (it == epochs.end()) continue;
    ids.insert(it->second.begin(), it->second.end());
  }
  return ids;
}

}  // namespace koppel::linker
