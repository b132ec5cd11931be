// The households an analysis builds: on each reference date, every household of the register
// with its members' indicators (a bit each), its area, how many adults and children it has and
// the cost volumes its members' records add. Shared by the scanner, which fills them, and the
// table builder, which groups them into atoms. The widths W (64-bit words of indicator bits)
// are the few that specs need, so that a study of up to 64 indicators keeps one word per
// household.
#ifndef KOPPEL_LINKER_ANALYSIS_HOUSEHOLDS_H_
#define KOPPEL_LINKER_ANALYSIS_HOUSEHOLDS_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace koppel::analysis {

// Which indicators (or flags) hold: W words of 64 bits.
template <size_t W>
struct IndicatorBits {
  std::array<uint64_t, W> words{};
  void Set(size_t i) { words[i / 64] |= uint64_t{1} << (i % 64); }
  bool Test(size_t i) const { return (words[i / 64] >> (i % 64)) & 1; }
  void Clear() { words.fill(0); }
  IndicatorBits& operator|=(const IndicatorBits& other) {
    for (size_t w = 0; w < W; ++w) words[w] |= other.words[w];
    return *this;
  }
  bool operator==(const IndicatorBits&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const IndicatorBits& b) {
    return H::combine_contiguous(std::move(h), b.words.data(), W);
  }
};

// A household on one reference date: 24 bytes (up to 64 indicators), so that a country's
// households fit. Cost volumes, which few households have, live in a side list.
template <size_t W>
struct HouseholdAccumulatorT {
  static constexpr uint32_t kNoVolumes = UINT32_MAX;
  IndicatorBits<W> indicators;
  uint32_t volumes = kNoVolumes;  // index into its shard's list of cost volumes
  uint16_t area = 0;
  uint16_t area_range = 0;  // the token range of the member that set `area`: the last one wins
  uint16_t adults = 0;
  uint16_t children = 0;
};

// Households are keyed by the first 128 bits of their re-keyed address token: a collision
// among 10 million households has a probability below 1e-24.
using HouseholdKey = std::array<char, 16>;

inline HouseholdKey HouseholdKeyOf(std::string_view token) {
  HouseholdKey key{};
  std::memcpy(key.data(), token.data(), std::min(token.size(), key.size()));
  return key;
}

using CostVolumes = std::vector<std::pair<uint16_t, double>>;  // cost item -> volume

inline void AddVolume(CostVolumes* volumes, size_t item, double volume) {
  for (auto& [i, v] : *volumes) {
    if (i == item) {
      v += volume;
      return;
    }
  }
  volumes->emplace_back(static_cast<uint16_t>(item), volume);
}

// The households of one reference date in shards by the first byte of their key, so that the
// scans of person token ranges add members at once, and the scan of an address token range
// (split on whole first bytes) owns the shards of its households.
template <size_t W>
class HouseholdShards {
 public:
  static constexpr size_t kShards = 256;
  struct Shard {
    absl::Mutex mutex;  // held by person scans while they add a member
    absl::flat_hash_map<HouseholdKey, HouseholdAccumulatorT<W>> households;
    std::vector<CostVolumes> volumes;  // HouseholdAccumulatorT::volumes indexes this
    CostVolumes& VolumesOf(HouseholdAccumulatorT<W>& household) {
      if (household.volumes == HouseholdAccumulatorT<W>::kNoVolumes) {
        household.volumes = static_cast<uint32_t>(volumes.size());
        volumes.emplace_back();
      }
      return volumes[household.volumes];
    }
  };

  HouseholdShards() : shards_(std::make_unique<Shard[]>(kShards)) {}
  static size_t IndexOf(const HouseholdKey& key) { return static_cast<uint8_t>(key[0]); }
  Shard& Of(const HouseholdKey& key) { return shards_[IndexOf(key)]; }
  Shard& At(size_t index) { return shards_[index]; }
  void Reserve(size_t households) {
    for (size_t s = 0; s < kShards; ++s) shards_[s].households.reserve(households / kShards + 16);
  }
  void Clear() { shards_ = std::make_unique<Shard[]>(kShards); }

 private:
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace koppel::analysis

#endif  // KOPPEL_LINKER_ANALYSIS_HOUSEHOLDS_H_
