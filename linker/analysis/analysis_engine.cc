#include "linker/analysis/analysis_engine.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "core/hex.h"
#include "core/progress.h"
#include "core/status_macros.h"
#include "core/worker_pool.h"
#include "koppel/v1/batch.pb.h"
#include "linker/analysis/engine_limits.h"
#include "linker/analysis/spec_attributes.h"
#include "linker/record_cipher.h"

namespace koppel {
namespace {

constexpr size_t kMaxAreas = EngineLimits::kAreas;  // area indices are 16 bits

using Token = std::array<char, RecordCursor::kTokenBytes>;

Token ToToken(std::string_view bytes) {
  Token token{};
  std::memcpy(token.data(), bytes.data(), std::min(bytes.size(), token.size()));
  return token;
}

// The days of a calendar year, inclusive.
struct YearWindow {
  int year = 0;
  int first = 0;
  int last = 0;
};

YearWindow WindowOf(int year) {
  return {year, DaysSinceEpoch({year, 1, 1}), DaysSinceEpoch({year, 12, 31})};
}

// ---------------------------------------------------------------------------------------------
// Indicators compiled against the attribute schema of each stored batch.

// What an indicator needs from its dataset, as attribute slots of that dataset's plan.
struct IndicatorPlan {
  size_t index = 0;  // bit in the indicator pattern
  const IndicatorSpec* spec = nullptr;
  std::vector<int> filter_slots;
  int from_slot = -1;
  int to_slot = -1;
};

struct CostPlan {
  size_t item = 0;
  CostItemSpec::Volume volume = CostItemSpec::Volume::kRecords;
  int amount_slot = -1;
  int price_slot = -1;  // price_by: the category whose code prices each record
};

struct ResolvedBatch;

// Everything one dataset is read for: its attribute names (slots) and the indicators over it.
struct DatasetPlan {
  absl::node_hash_map<std::string, ResolvedBatch>* resolved = nullptr;  // its batches, by id
  std::string name;
  bool is_register = false;
  std::vector<std::string> attributes;  // slot -> attribute name
  std::vector<IndicatorPlan> indicators;
  std::map<size_t, std::vector<CostPlan>> costs_by_indicator;  // position in `indicators`
  std::vector<std::vector<CostPlan>> costs_at;  // the same, by position, for the scans
  std::vector<AttributeUse> uses;  // what the spec reads from this dataset, with fitting types
  int Slot(const std::string& attribute) {
    auto it = std::find(attributes.begin(), attributes.end(), attribute);
    if (it != attributes.end()) return static_cast<int>(it - attributes.begin());
    attributes.push_back(attribute);
    return static_cast<int>(attributes.size() - 1);
  }
};

// A plan resolved against one batch's schema.
struct ResolvedBatch {
  std::vector<int> value_index;                       // slot -> index into Record.values
  std::vector<v1::AttributeType> type;                // slot -> type
  std::vector<std::vector<std::vector<char>>> codes;  // indicator, filter -> allowed code index
  std::vector<std::string> area_codes;                // register: code index -> area code
  std::vector<uint16_t> area_index;                   // register: code index -> area index
  std::map<size_t, std::vector<double>> code_prices;  // price_by cost item -> code -> euro
  std::map<size_t, std::vector<std::string>> price_codes;  // price_by cost item -> codes
  bool has_bsn = false;
  // The batch's run lacks what the spec reads (an attribute, a code, a type): its records are
  // left out of this analysis and the release says so, rather than one run stopping it.
  bool left_out = false;
};

// `check_uses`: refuse what EngineOptions::check_attribute_use describes.
absl::StatusOr<ResolvedBatch> Resolve(const DatasetPlan& plan, const v1::BatchHeader& header,
                                      const PriceTable& prices, bool check_uses) {
  ResolvedBatch out;
  out.has_bsn = header.has_bsn();
  for (const std::string& name : plan.attributes) {
    int found = -1;
    for (int i = 0; i < header.attributes_size(); ++i) {
      if (header.attributes(i).name() == name) found = i;
    }
    if (found < 0) {
      return absl::FailedPreconditionError(fmt::format(
          "dataset '{}' as delivered has no attribute '{}' (it has: {}); correct the spec or ask "
          "the data holder to map it",
          plan.name, name, [&] {
            std::string names;
            for (const auto& a : header.attributes()) names += (names.empty() ? "" : ", ") + a.name();
            return names;
          }()));
    }
    out.value_index.push_back(found);
    out.type.push_back(header.attributes(found).type());
  }
  for (const AttributeUse& use : plan.uses) {
    for (const v1::AttributeSchema& schema : header.attributes()) {
      if (schema.name() != use.attribute) continue;
      if (absl::Status fits = check_uses ? CheckAttributeUse(use, schema, prices)
                                         : absl::OkStatus();
          !fits.ok()) {
        // A wrong type may leave the run out (FAILED_PRECONDITION); wrong codes refuse the spec.
        return absl::Status(fits.code(), fmt::format("{}: {}", use.path, std::string(fits.message())));
      }
      if (use.price_by == nullptr) continue;
      std::vector<double> by_code;
      for (const std::string& code : schema.codes()) {
        auto price = prices.items.find(code);
        by_code.push_back(price == prices.items.end() ? 0 : price->second.price.value_or(0));
      }
      for (const auto& [position, costs] : plan.costs_by_indicator) {
        for (const CostPlan& cost : costs) {
          if (cost.price_slot >= 0 && plan.attributes[static_cast<size_t>(cost.price_slot)] ==
                                          use.attribute) {
            out.code_prices[cost.item] = by_code;
            out.price_codes[cost.item].assign(schema.codes().begin(), schema.codes().end());
          }
        }
      }
    }
  }
  for (const IndicatorPlan& indicator : plan.indicators) {
    std::vector<std::vector<char>> per_filter;
    for (size_t f = 0; f < indicator.filter_slots.size(); ++f) {
      const AttributeFilter& filter = indicator.spec->filters[f];
      const auto& schema = header.attributes(out.value_index[static_cast<size_t>(indicator.filter_slots[f])]);
      std::vector<char> allowed(static_cast<size_t>(schema.codes_size()), 0);
      if (!filter.codes.empty()) {
        if (schema.type() != v1::ATTRIBUTE_TYPE_CATEGORY) {
          return absl::FailedPreconditionError(fmt::format(
              "indicator '{}' filters '{}' by codes, but dataset '{}' delivers it as a {} (use "
              "below/at_least)",
              indicator.spec->name, filter.attribute, plan.name,
              v1::AttributeType_Name(schema.type())));
        }
        for (const std::string& code : filter.codes) {
          auto it = std::find(schema.codes().begin(), schema.codes().end(), code);
          if (it == schema.codes().end()) {
            return absl::FailedPreconditionError(fmt::format(
                "indicator '{}': dataset '{}' has no code '{}' for '{}'", indicator.spec->name,
                plan.name, code, filter.attribute));
          }
          allowed[static_cast<size_t>(it - schema.codes().begin())] = 1;
        }
      } else if (schema.type() == v1::ATTRIBUTE_TYPE_CATEGORY) {
        return absl::FailedPreconditionError(fmt::format(
            "indicator '{}' compares '{}' with a number, but dataset '{}' delivers categories",
            indicator.spec->name, filter.attribute, plan.name));
      }
      per_filter.push_back(std::move(allowed));
    }
    out.codes.push_back(std::move(per_filter));
  }
  return out;
}

const v1::Value* ValueAt(const ResolvedBatch& batch, const v1::Record& record, int slot) {
  if (slot < 0) return nullptr;
  const int index = batch.value_index[static_cast<size_t>(slot)];
  if (index >= record.values_size()) return nullptr;
  const v1::Value& value = record.values(index);
  return value.kind_case() == v1::Value::KIND_NOT_SET ? nullptr : &value;
}

std::optional<double> NumberOf(const v1::Value* value) {
  if (value == nullptr) return std::nullopt;
  switch (value->kind_case()) {
    case v1::Value::kInteger: return static_cast<double>(value->integer());
    case v1::Value::kAmountCents: return static_cast<double>(value->amount_cents()) / 100.0;
    case v1::Value::kYear: return static_cast<double>(value->year());
    case v1::Value::kDateDays: return static_cast<double>(value->date_days());
    default: return std::nullopt;
  }
}

std::optional<int> DaysOf(const v1::Value* value) {
  if (value == nullptr || value->kind_case() != v1::Value::kDateDays) return std::nullopt;
  return value->date_days();
}

bool PassesFilters(const IndicatorPlan& indicator, size_t indicator_position,
                   const ResolvedBatch& batch, const v1::Record& record) {
  for (size_t f = 0; f < indicator.filter_slots.size(); ++f) {
    const AttributeFilter& filter = indicator.spec->filters[f];
    const v1::Value* value = ValueAt(batch, record, indicator.filter_slots[f]);
    if (value == nullptr) return false;
    if (!filter.codes.empty()) {
      const std::vector<char>& allowed = batch.codes[indicator_position][f];
      if (value->kind_case() != v1::Value::kCode || value->code() >= allowed.size() ||
          !allowed[value->code()]) {
        return false;
      }
      continue;
    }
    std::optional<double> number = NumberOf(value);
    if (!number) return false;
    if (filter.below && !(*number < *filter.below)) return false;
    if (filter.at_least && !(*number >= *filter.at_least)) return false;
  }
  return true;
}

// Days of `window` the record's period covers (0: it does not count in that year).
int DaysInWindow(const IndicatorPlan& indicator, const ResolvedBatch& batch,
                 const v1::Record& record, const YearWindow& window) {
  const PeriodSpec& period = indicator.spec->period;
  switch (period.kind) {
    case PeriodKind::kAlways: return 1;
    case PeriodKind::kYearEquals: {
      const v1::Value* value = ValueAt(batch, record, indicator.from_slot);
      std::optional<double> year = NumberOf(value);
      return year && static_cast<int>(*year) == window.year ? 1 : 0;
    }
    case PeriodKind::kDateIn: {
      std::optional<int> day = DaysOf(ValueAt(batch, record, indicator.from_slot));
      return day && *day >= window.first && *day <= window.last ? 1 : 0;
    }
    case PeriodKind::kSpell: {
      std::optional<int> from = DaysOf(ValueAt(batch, record, indicator.from_slot));
      if (!from) return 0;
      std::optional<int> to = DaysOf(ValueAt(batch, record, indicator.to_slot));
      const int first = std::max(*from, window.first);
      const int last = std::min(to.value_or(window.last), window.last);
      return last >= first ? last - first + 1 : 0;
    }
  }
  return 0;
}

// Which of the years the spec's indicators look at a dataset has any record for, so that a
// year without data is reported instead of silently counting nobody. Checks stop once every
// needed year has been seen.
class YearCoverage {
 public:
  void Need(int year) {
    if (std::find(years_.begin(), years_.end(), year) == years_.end()) {
      years_.push_back(year);
      seen_.push_back(0);
      ++missing_;
    }
  }
  void Note(const IndicatorPlan& indicator, const ResolvedBatch& batch, const v1::Record& record) {
    if (missing_ == 0 || indicator.spec->period.kind == PeriodKind::kAlways) return;
    for (size_t y = 0; y < years_.size(); ++y) {
      if (!seen_[y] && DaysInWindow(indicator, batch, record, WindowOf(years_[y])) > 0) {
        seen_[y] = 1;
        --missing_;
      }
    }
  }
  bool Seen(int year) const {
    for (size_t y = 0; y < years_.size(); ++y) {
      if (years_[y] == year) return seen_[y] != 0;
    }
    return false;
  }
  // Adds what another scan of the same dataset (another token range) has seen.
  void Add(const YearCoverage& other) {
    for (size_t y = 0; y < years_.size(); ++y) {
      if (!seen_[y] && other.Seen(years_[y])) {
        seen_[y] = 1;
        --missing_;
      }
    }
  }

 private:
  std::vector<int> years_;
  std::vector<char> seen_;
  size_t missing_ = 0;
};

// The distinct records of one token in one dataset. Memory is reused from token to token:
// the scan allocates nothing in its steady state.
class RecordGroup {
 public:
  void Clear() {
    rows_.clear();
    plains_.clear();
    spans_.clear();
  }
  // The record to parse the next row into; Keep() adds it unless it repeats an earlier row.
  v1::Record* Scratch() {
    if (pool_.size() == rows_.size()) pool_.push_back(std::make_unique<v1::Record>());
    return pool_[rows_.size()].get();
  }
  // `plain`: the serialised record (the stored value), which tells two rows apart.
  bool Keep(const ResolvedBatch* batch, std::string_view plain) {
    for (const auto& [offset, size] : spans_) {
      if (std::string_view(plains_).substr(offset, size) == plain) return false;
    }
    spans_.emplace_back(plains_.size(), plain.size());
    plains_.append(plain);
    rows_.emplace_back(batch, pool_[rows_.size()].get());
    return true;
  }
  const std::vector<std::pair<const ResolvedBatch*, v1::Record*>>& rows() const { return rows_; }
  ~RecordGroup() { sodium_memzero(plains_.data(), plains_.size()); }

 private:
  std::vector<std::unique_ptr<v1::Record>> pool_;
  std::vector<std::pair<const ResolvedBatch*, v1::Record*>> rows_;
  std::string plains_;
  std::vector<std::pair<size_t, size_t>> spans_;
};

// What one counted record adds to a cost item's volume (`days`: of the year it covers).
double RecordVolume(const CostPlan& cost, int days, const ResolvedBatch& batch,
                    const v1::Record& record) {
  double price = 1;  // per unit of volume; price_by: the record's code's
  if (cost.price_slot >= 0) {
    const v1::Value* code = ValueAt(batch, record, cost.price_slot);
    const std::vector<double>& by_code = batch.code_prices.at(cost.item);
    if (code == nullptr || code->kind_case() != v1::Value::kCode || code->code() >= by_code.size()) {
      return 0;
    }
    price = by_code[code->code()];
  }
  switch (cost.volume) {
    case CostItemSpec::Volume::kRecords: return price;
    case CostItemSpec::Volume::kDaysInYear: return days * price;
    case CostItemSpec::Volume::kAmount:
      return NumberOf(ValueAt(batch, record, cost.amount_slot)).value_or(0);
    case CostItemSpec::Volume::kUnits: return 0;  // once per household, when atoms are built
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Households.

// Which indicators (or flags) hold: W words of 64 bits. The engine is compiled for the few
// widths specs need, so that a study of up to 64 indicators keeps one word per household.
template <size_t W>
struct Bits {
  std::array<uint64_t, W> words{};
  void Set(size_t i) { words[i / 64] |= uint64_t{1} << (i % 64); }
  bool Test(size_t i) const { return (words[i / 64] >> (i % 64)) & 1; }
  void Clear() { words.fill(0); }
  Bits& operator|=(const Bits& other) {
    for (size_t w = 0; w < W; ++w) words[w] |= other.words[w];
    return *this;
  }
  bool operator==(const Bits&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const Bits& b) {
    return H::combine_contiguous(std::move(h), b.words.data(), W);
  }
};

// A household on one reference date: 24 bytes (up to 64 indicators), so that a country's
// households fit. Cost volumes, which few households have, live in a side list.
template <size_t W>
struct HouseholdAccumulatorT {
  static constexpr uint32_t kNoVolumes = UINT32_MAX;
  Bits<W> indicators;
  uint32_t volumes = kNoVolumes;  // index into its shard's list of cost volumes
  uint16_t area = 0;
  uint16_t area_range = 0;  // the token range of the member that set `area`: the last one wins
  uint16_t adults = 0;
  uint16_t children = 0;
};

// Households are keyed by the first 128 bits of their re-keyed address token: a collision
// among 10 million households has a probability below 1e-24.
using HouseholdKey = std::array<char, 16>;

HouseholdKey KeyOf(std::string_view token) {
  HouseholdKey key{};
  std::memcpy(key.data(), token.data(), std::min(token.size(), key.size()));
  return key;
}

using CostVolumes = std::vector<std::pair<uint16_t, double>>;  // cost item -> volume

// The households of one reference date in shards by the first byte of their key, so that the
// scans of person token ranges add members at once, and the scan of an address token range
// (split on whole first bytes) owns the shards of its households.
template <size_t W>
class HouseholdShards {
 public:
  static constexpr size_t kShards = 256;
  struct Shard {
    std::mutex mutex;  // held by person scans while they add a member
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

// The cost volumes a person range adds to households (whose members other ranges also add),
// in the order one thread scanning every token would add them, so that each household's sums
// are the same doubles whatever the number of ranges: each range logs its additions, and the
// logs are replayed in token order. In blocks rather than one growing array: a log grows to
// what its range adds, with neither a guessed reservation nor the slack and copies of
// doubling, and is freed as soon as it is replayed.
struct VolumeLog {
  struct Entry {
    HouseholdKey household;
    uint16_t date = 0;
    uint16_t count = 0;  // volumes of this entry, next in `volumes`
  };
  std::deque<Entry> entries;
  std::deque<std::pair<uint16_t, double>> volumes;
  void Add(const HouseholdKey& household, size_t date, const CostVolumes& added) {
    entries.push_back({household, static_cast<uint16_t>(date), static_cast<uint16_t>(added.size())});
    volumes.insert(volumes.end(), added.begin(), added.end());
  }
};

void AddVolume(std::vector<std::pair<uint16_t, double>>* volumes, size_t item, double volume) {
  for (auto& [i, v] : *volumes) {
    if (i == item) {
      v += volume;
      return;
    }
  }
  volumes->emplace_back(static_cast<uint16_t>(item), volume);
}

// A person on one reference date.
template <size_t W>
struct MembershipT {
  bool member = false;
  HouseholdKey household{};
  uint16_t area = 0;
  bool adult = false;
  Bits<W> indicators;
  std::vector<std::pair<uint16_t, double>> volumes;
};

bool InScope(MemberScope scope, bool adult) {
  return scope == MemberScope::kAny || (scope == MemberScope::kAdults) == adult;
}

// The batches one range's scan of one dataset has met: most records need one comparison of
// their batch id with the last record's, the rest a lookup without a lock or an allocation.
class BatchCache {
 public:
  using Id = std::array<char, RecordCursor::kBatchIdBytes>;
  struct Entry {
    const ResolvedBatch* batch = nullptr;  // null: the batch is not read in this run
  };
  // The entry of `batch_id`, or null when this scan has not met it yet.
  const Entry* Find(std::string_view batch_id) {
    if (has_last_ && batch_id == std::string_view(last_id_.data(), last_id_.size())) {
      return &last_;
    }
    auto it = entries_.find(IdOf(batch_id));
    if (it == entries_.end()) return nullptr;
    return Remember(it->first, it->second);
  }
  const Entry* Add(std::string_view batch_id, Entry entry) {
    return Remember(entries_.emplace(IdOf(batch_id), entry).first->first, entry);
  }

 private:
  static Id IdOf(std::string_view bytes) {
    Id id{};
    std::memcpy(id.data(), bytes.data(), std::min(bytes.size(), id.size()));
    return id;
  }
  const Entry* Remember(const Id& id, Entry entry) {
    last_id_ = id;
    last_ = entry;
    has_last_ = true;
    return &last_;
  }
  absl::flat_hash_map<Id, Entry> entries_;
  Id last_id_{};
  Entry last_;
  bool has_last_ = false;
};

// What the scan of one token range adds up, merged with the other ranges' when all are done.
template <size_t W>
struct RangeState {
  size_t range = 0;
  uint64_t records = 0;
  uint64_t unreported = 0;                           // records not yet counted in the progress
  std::vector<YearCoverage> coverage;                // per dataset plan
  std::vector<uint64_t> homeless_with_records;       // per date
  std::vector<std::vector<std::string>> first_read;  // per plan: raw batch ids, as first read
  VolumeLog volumes;  // person scans only
  // Scratch of the person being evaluated, reused from person to person.
  std::vector<MembershipT<W>> membership;
  std::vector<char> has_matching_record;
};

// ---------------------------------------------------------------------------------------------
// The run.

template <size_t W>
class AnalysisRun {
  using HouseholdAccumulator = HouseholdAccumulatorT<W>;
  using Membership = MembershipT<W>;
  using State = RangeState<W>;

 public:
  AnalysisRun(const LinkerStore* store, const std::string& covenant, const Secret* data_key,
      const AnalysisSpec& spec, const PriceTable& prices, const EngineOptions& options)
      : store_(store), covenant_(covenant), data_key_(data_key), spec_(spec), prices_(prices),
        options_(options) {}

  absl::StatusOr<AnalysisResult> Execute();

 private:
  absl::Status Plan();
  absl::Status ScanPersons();
  absl::Status ScanAddresses(DatasetPlan& plan);
  // The token ranges the scans split into, one thread each.
  size_t Ranges() const;
  // Runs `scan` over every token range on its own thread, with a state per range; the first
  // error stops the others and is returned.
  absl::Status ForEachRange(
      std::vector<State>* states,
      const std::function<absl::Status(std::string_view, std::string_view, State&)>& scan);
  State NewState(size_t range) const;
  // Adds what the ranges found, in token order, to the run's totals.
  absl::Status Merge(std::vector<State>& states);
  absl::Status ScanPersonRange(const std::vector<DatasetPlan*>& plans, std::string_view begin,
                               std::string_view end, State& state);
  absl::Status ScanAddressRange(DatasetPlan& plan, std::string_view begin, std::string_view end,
                                State& state);
  // Numbers the areas as one thread scanning every token would have met them.
  void NumberAreas(const std::vector<State>& states);
  // What makes two runs' cost items the same quantity (CostItemDescription).
  void DescribeItems(AnalysisResult* result) const;
  // The codes a price_by cost item's attribute has in the runs of `dataset` read.
  std::set<std::string> PriceCodes(const std::string& dataset, size_t item) const;
  absl::StatusOr<const ResolvedBatch*> Batch(DatasetPlan& plan, std::string_view batch_id);
  // The resolved batch of a record a range's scan meets; null when its records are not read
  // (another data version, or a run left out).
  absl::StatusOr<const ResolvedBatch*> Meet(DatasetPlan& plan, BatchCache& cache,
                                            std::string_view batch_id, State& state);
  absl::Status Open(std::string_view stored, v1::Record* record, std::string* plain, State& state);
  size_t IndexOf(const DatasetPlan& plan) const { return static_cast<size_t>(&plan - plans_.data()); }
  // Whether records of this batch (raw id) count: all of them unless the run is restricted to
  // an earlier release's data version.
  bool Allowed(std::string_view batch_id) const {
    return options_.only_batches == nullptr ||
           options_.only_batches->contains(absl::string_view(batch_id.data(), batch_id.size()));
  }
  void EvaluatePerson(const std::vector<std::pair<DatasetPlan*, RecordGroup*>>& groups,
                      State& state);

  const LinkerStore* store_;
  const std::string& covenant_;
  const Secret* data_key_;
  const AnalysisSpec& spec_;
  const PriceTable& prices_;
  const EngineOptions& options_;

  // The store as the run found it: every range's cursors read it, so that they read the same
  // batches whatever is committed meanwhile (and batches_read_ names all of each batch).
  std::unique_ptr<ReadView> view_;
  std::unique_ptr<WorkerPool> pool_;  // the ranges' threads besides the caller's; null: one range
  std::vector<YearWindow> reference_years_;  // per reference date
  std::vector<int> reference_days_;
  std::vector<DatasetPlan> plans_;           // register first
  std::map<std::string, size_t> indicator_index_;
  std::vector<double> item_price_;           // per cost item (0 for amounts)
  // Per dataset, by raw batch id. Nodes stay put, so the scan keeps pointers to them.
  std::map<std::string, absl::node_hash_map<std::string, ResolvedBatch>> resolved_;
  std::map<std::string, std::map<std::string, std::string>> left_out_;  // dataset -> run -> why
  std::vector<std::vector<YearWindow>> windows_;  // indicator, reference date
  std::vector<std::string> area_codes_;      // area index -> code
  std::map<std::string, uint16_t> area_index_;
  std::vector<HouseholdShards<W>> households_;  // per date
  std::map<std::string, YearCoverage> coverage_;
  std::vector<uint64_t> homeless_with_records_;          // per date
  uint64_t records_read_ = 0;
  std::map<std::string, std::set<std::string>> batches_read_;  // dataset -> raw batch ids
  std::unique_ptr<ProgressReporter> progress_;
  // Shared by the ranges' threads.
  std::mutex resolve_mutex_;   // resolved_, left_out_ and the areas, while batches are resolved
  std::mutex progress_mutex_;  // progress_
  std::atomic<uint64_t> records_progress_{0};
  std::atomic<bool> stop_{false};  // a range failed: the others stop
  // Register plan slots.
  int birth_slot_ = -1, area_slot_ = -1, from_slot_ = -1, to_slot_ = -1, moves_slot_ = -1;
};

template <size_t W>
absl::Status AnalysisRun<W>::Plan() {
  for (const Date& date : spec_.reference_dates) {
    reference_days_.push_back(DaysSinceEpoch(date));
  }
  DatasetPlan register_plan;
  register_plan.name = spec_.register_dataset;
  register_plan.is_register = true;
  birth_slot_ = register_plan.Slot(spec_.birth_date_attribute);
  area_slot_ = register_plan.Slot(spec_.area_attribute);
  if (!spec_.snapshot) {
    from_slot_ = register_plan.Slot(spec_.valid_from_attribute);
    to_slot_ = register_plan.Slot(spec_.valid_to_attribute);
  }
  if (!spec_.moves_attribute.empty()) moves_slot_ = register_plan.Slot(spec_.moves_attribute);
  plans_.push_back(std::move(register_plan));

  for (size_t i = 0; i < spec_.indicators.size(); ++i) {
    const IndicatorSpec& indicator = spec_.indicators[i];
    indicator_index_[indicator.name] = i;
    if (indicator.min_moves) continue;  // computed from the register rows
    auto plan = std::find_if(plans_.begin(), plans_.end(),
                             [&](const DatasetPlan& p) { return p.name == indicator.dataset; });
    if (plan == plans_.end()) {
      plans_.push_back(DatasetPlan{});
      plans_.back().name = indicator.dataset;
      plan = plans_.end() - 1;
    }
    IndicatorPlan compiled;
    compiled.index = i;
    compiled.spec = &indicator;
    for (const AttributeFilter& filter : indicator.filters) {
      compiled.filter_slots.push_back(plan->Slot(filter.attribute));
    }
    if (!indicator.period.from.empty()) compiled.from_slot = plan->Slot(indicator.period.from);
    if (!indicator.period.to.empty()) compiled.to_slot = plan->Slot(indicator.period.to);
    plan->indicators.push_back(std::move(compiled));
  }

  for (size_t item = 0; item < spec_.cost_items.size(); ++item) {
    const CostItemSpec& cost = spec_.cost_items[item];
    double price = cost.price_by.empty() ? 0 : 1;  // price_by: priced per record
    for (const std::string& name : cost.prices) {
      auto it = prices_.items.find(name);
      if (it == prices_.items.end()) {
        return absl::InvalidArgumentError(fmt::format(
            "cost item '{}' names price '{}', which the prices file does not list", cost.name, name));
      }
      if (!it->second.price) {
        return absl::InvalidArgumentError(fmt::format(
            "cost item '{}' names price '{}', which has no unit price (it is an actual-amount "
            "item: use volume: amount)", cost.name, name));
      }
      price += *it->second.price;
    }
    item_price_.push_back(price);
    auto indicator = indicator_index_.find(cost.indicator);
    if (indicator == indicator_index_.end()) {
      return absl::InvalidArgumentError(
          fmt::format("cost item '{}' names unknown indicator '{}'", cost.name, cost.indicator));
    }
    const IndicatorSpec& spec = spec_.indicators[indicator->second];
    if (spec.min_moves) {
      if (cost.volume != CostItemSpec::Volume::kUnits) {
        return absl::InvalidArgumentError(fmt::format(
            "cost item '{}': a register indicator can only be priced per unit", cost.name));
      }
      continue;
    }
    for (DatasetPlan& plan : plans_) {
      for (size_t position = 0; position < plan.indicators.size(); ++position) {
        if (plan.indicators[position].index != indicator->second) continue;
        CostPlan cost_plan{item, cost.volume, -1, -1};
        if (cost.volume == CostItemSpec::Volume::kAmount) {
          cost_plan.amount_slot = plan.Slot(cost.amount_attribute);
        }
        if (!cost.price_by.empty()) cost_plan.price_slot = plan.Slot(cost.price_by);
        plan.costs_by_indicator[position].push_back(cost_plan);
      }
    }
  }
  for (AttributeUse& use : AttributeUsesOf(spec_)) {
    for (DatasetPlan& plan : plans_) {
      if (plan.name == use.dataset) plan.uses.push_back(std::move(use));
    }
  }
  for (const Date& date : spec_.reference_dates) reference_years_.push_back(WindowOf(date.year));
  for (const IndicatorSpec& indicator : spec_.indicators) {
    std::vector<YearWindow> windows;
    for (const YearWindow& reference : reference_years_) {
      windows.push_back(WindowOf(reference.year + indicator.period.year_offset));
    }
    windows_.push_back(std::move(windows));
  }
  for (const DatasetPlan& plan : plans_) {
    YearCoverage& coverage = coverage_[plan.name];
    for (const IndicatorPlan& indicator : plan.indicators) {
      if (indicator.spec->period.kind == PeriodKind::kAlways) continue;
      for (const YearWindow& window : windows_[indicator.index]) coverage.Need(window.year);
    }
  }
  for (DatasetPlan& plan : plans_) {
    plan.resolved = &resolved_[plan.name];  // before the ranges' threads look batches up
    plan.costs_at.resize(plan.indicators.size());
    for (const auto& [position, costs] : plan.costs_by_indicator) plan.costs_at[position] = costs;
  }
  households_.resize(spec_.reference_dates.size());
  homeless_with_records_.assign(spec_.reference_dates.size(), 0);
  return absl::OkStatus();
}

template <size_t W>
absl::StatusOr<const ResolvedBatch*> AnalysisRun<W>::Batch(DatasetPlan& plan, std::string_view batch_id) {
  auto& cache = *plan.resolved;
  auto it = cache.find(absl::string_view(batch_id.data(), batch_id.size()));
  if (it != cache.end()) return &it->second;
  ASSIGN_OR_RETURN(v1::BatchHeader header, store_->FindBatchHeader(covenant_, batch_id));
  absl::StatusOr<ResolvedBatch> resolved =
      Resolve(plan, header, prices_, options_.check_attribute_use);
  if (!resolved.ok() && absl::IsFailedPrecondition(resolved.status()) && !plan.is_register) {
    left_out_[plan.name].emplace(header.run_id(), std::string(resolved.status().message()));
    ResolvedBatch left_out;
    left_out.has_bsn = header.has_bsn();
    left_out.left_out = true;
    return &cache.emplace(std::string(batch_id), std::move(left_out)).first->second;
  }
  if (!resolved.ok()) return resolved.status();
  ResolvedBatch batch = std::move(*resolved);
  if (plan.is_register) {
    const auto& area_schema =
        header.attributes(batch.value_index[static_cast<size_t>(area_slot_)]);
    for (const std::string& code : area_schema.codes()) {
      batch.area_codes.push_back(code);
      if (!area_index_.contains(code)) {
        if (area_codes_.size() >= kMaxAreas) {
          return absl::FailedPreconditionError(fmt::format(
              "the register's '{}' has more than {} distinct areas; the engine supports at most "
              "that many (group areas into larger ones in the data holder's mapping)",
              spec_.area_attribute, kMaxAreas));
        }
        area_index_[code] = static_cast<uint16_t>(area_codes_.size());
        area_codes_.push_back(code);
      }
      batch.area_index.push_back(area_index_[code]);
    }
  }
  return &cache.emplace(std::string(batch_id), std::move(batch)).first->second;
}

template <size_t W>
absl::StatusOr<const ResolvedBatch*> AnalysisRun<W>::Meet(DatasetPlan& plan, BatchCache& cache,
                                                          std::string_view batch_id,
                                                          State& state) {
  if (const BatchCache::Entry* known = cache.Find(batch_id)) return known->batch;
  BatchCache::Entry entry;
  if (Allowed(batch_id)) {
    std::lock_guard<std::mutex> lock(resolve_mutex_);
    ASSIGN_OR_RETURN(entry.batch, Batch(plan, batch_id));
  }
  if (entry.batch != nullptr && entry.batch->left_out) entry.batch = nullptr;
  if (entry.batch != nullptr) state.first_read[IndexOf(plan)].emplace_back(batch_id);
  return cache.Add(batch_id, entry)->batch;
}

template <size_t W>
absl::Status AnalysisRun<W>::Open(std::string_view stored, v1::Record* record, std::string* plain,
                                  State& state) {
  RETURN_IF_ERROR(OpenStoredRecord(stored, *data_key_, plain, record));
  ++state.records;
  // The progress line counts every range's records; its reporter is not thread-safe.
  if (progress_ && ++state.unreported == 64) {
    const uint64_t done = records_progress_.fetch_add(state.unreported) + state.unreported;
    state.unreported = 0;
    if (progress_mutex_.try_lock()) {
      progress_->Update(done, done);
      progress_mutex_.unlock();
    }
  }
  return absl::OkStatus();
}

template <size_t W>
size_t AnalysisRun<W>::Ranges() const {
  constexpr int kMaxRanges = 64;  // boundaries are whole first bytes of the token
  int threads = options_.scan_threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return static_cast<size_t>(std::min(threads, kMaxRanges));
}

template <size_t W>
RangeState<W> AnalysisRun<W>::NewState(size_t range) const {
  State state;
  state.range = range;
  for (const DatasetPlan& plan : plans_) state.coverage.push_back(coverage_.at(plan.name));
  state.homeless_with_records.assign(reference_days_.size(), 0);
  state.first_read.resize(plans_.size());
  return state;
}

template <size_t W>
absl::Status AnalysisRun<W>::ForEachRange(
    std::vector<State>* states,
    const std::function<absl::Status(std::string_view, std::string_view, State&)>& scan) {
  const size_t ranges = Ranges();
  states->clear();
  for (size_t r = 0; r < ranges; ++r) states->push_back(NewState(r));
  // Range r holds the tokens whose first byte is in [256 r / ranges, 256 (r + 1) / ranges).
  auto bound = [ranges](size_t r) {
    return r == 0 || r == ranges ? std::string() : std::string(1, static_cast<char>(256 * r / ranges));
  };
  stop_ = false;
  // The pool has a thread per range (its workers and the caller), so each range is one part.
  return ParallelFor(pool_.get(), ranges, 1, [&](size_t first, size_t last) {
    for (size_t r = first; r < last; ++r) {
      absl::Status status = scan(bound(r), bound(r + 1), (*states)[r]);
      if (!status.ok()) {
        stop_ = true;
        return status;
      }
    }
    return absl::OkStatus();
  });
}

template <size_t W>
absl::Status AnalysisRun<W>::Merge(std::vector<State>& states) {
  // Cost volumes in token order, range by range, each range's log freed once replayed; the
  // shards are independent, so a thread per group of them.
  const size_t groups = std::min(Ranges(), HouseholdShards<W>::kShards);
  for (State& state : states) {
    const VolumeLog& log = state.volumes;
    if (log.entries.empty()) continue;
    RETURN_IF_ERROR(ParallelFor(pool_.get(), groups, 1, [&](size_t first_group, size_t end_group) {
      size_t next = 0;
      for (const VolumeLog::Entry& entry : log.entries) {
        const size_t first = next;
        next += entry.count;
        const size_t group = HouseholdShards<W>::IndexOf(entry.household) % groups;
        if (group < first_group || group >= end_group) continue;
        auto& shard = households_[entry.date].Of(entry.household);
        auto household = shard.households.find(entry.household);
        if (household == shard.households.end()) continue;  // not reached: a member logged it
        CostVolumes& volumes = shard.VolumesOf(household->second);
        for (size_t v = first; v < next; ++v) {
          AddVolume(&volumes, log.volumes[v].first, log.volumes[v].second);
        }
      }
      return absl::OkStatus();
    }));
    state.volumes = {};
  }
  for (State& state : states) {
    records_read_ += state.records;
    for (size_t d = 0; d < homeless_with_records_.size(); ++d) {
      homeless_with_records_[d] += state.homeless_with_records[d];
    }
    for (size_t p = 0; p < plans_.size(); ++p) {
      coverage_[plans_[p].name].Add(state.coverage[p]);
      batches_read_[plans_[p].name].insert(state.first_read[p].begin(), state.first_read[p].end());
    }
  }
  return absl::OkStatus();
}

template <size_t W>
void AnalysisRun<W>::NumberAreas(const std::vector<State>& states) {
  // One thread would have met the register's batches in token order, the ranges' in turn.
  std::vector<std::string> codes;
  std::map<std::string, uint16_t> index;
  for (const State& state : states) {
    for (const std::string& id : state.first_read[0]) {
      for (const std::string& code : plans_[0].resolved->at(id).area_codes) {
        if (index.emplace(code, static_cast<uint16_t>(codes.size())).second) codes.push_back(code);
      }
    }
  }
  std::vector<uint16_t> renumbered(area_codes_.size());
  for (size_t a = 0; a < area_codes_.size(); ++a) {
    auto it = index.find(area_codes_[a]);
    if (it == index.end()) {  // resolved, yet never read: after every area read
      it = index.emplace(area_codes_[a], static_cast<uint16_t>(codes.size())).first;
      codes.push_back(area_codes_[a]);
    }
    renumbered[a] = it->second;
  }
  for (HouseholdShards<W>& date : households_) {
    for (size_t s = 0; s < HouseholdShards<W>::kShards; ++s) {
      for (auto& [key, household] : date.At(s).households) household.area = renumbered[household.area];
    }
  }
  area_codes_ = std::move(codes);
  area_index_ = std::move(index);
}

using PersonGroups = std::vector<std::pair<DatasetPlan*, RecordGroup*>>;

template <size_t W>
void AnalysisRun<W>::EvaluatePerson(const PersonGroups& groups, State& state) {
  const size_t dates = reference_days_.size();
  std::vector<Membership>& membership = state.membership;
  membership.resize(dates);
  for (Membership& m : membership) {
    m.member = false;
    m.indicators.Clear();
    m.volumes.clear();
  }
  // The register: where the person lives on each date, birth date, moves.
  const auto& register_rows = groups[0].second->rows();
  std::optional<int> birth;
  for (const auto& [batch, record] : register_rows) {
    if (auto day = DaysOf(ValueAt(*batch, *record, birth_slot_))) birth = *day;
  }
  const bool snapshot = spec_.snapshot.has_value();  // every row a member on its only date
  for (size_t d = 0; d < dates; ++d) {
    int best_from = INT32_MIN;
    for (const auto& [batch, record] : register_rows) {
      std::optional<int> from = snapshot ? std::optional<int>(reference_days_[d])
                                         : DaysOf(ValueAt(*batch, *record, from_slot_));
      std::optional<int> to = snapshot ? std::nullopt : DaysOf(ValueAt(*batch, *record, to_slot_));
      const v1::Value* area = ValueAt(*batch, *record, area_slot_);
      std::optional<int> born = DaysOf(ValueAt(*batch, *record, birth_slot_));
      if (!from || *from > reference_days_[d] || (to && *to <= reference_days_[d])) continue;
      if (record->address_token().size() != RecordCursor::kTokenBytes || area == nullptr ||
          area->kind_case() != v1::Value::kCode || area->code() >= batch->area_codes.size() || !born) {
        continue;
      }
      if (*from < best_from) continue;
      best_from = *from;
      Membership& m = membership[d];
      m.member = true;
      m.household = KeyOf(record->address_token());
      m.area = batch->area_index[area->code()];
      m.adult = AgeOn(DateFromDays(*born), spec_.reference_dates[d]) >= spec_.adult_age;
    }
  }
  // The households' slots are fetched into the cache while the person's records are evaluated.
  for (size_t d = 0; d < dates; ++d) {
    if (!membership[d].member) continue;
    auto& shard = households_[d].Of(membership[d].household);
    std::lock_guard<std::mutex> lock(shard.mutex);
    shard.households.prefetch(membership[d].household);
  }
  // Register indicators (moves).
  for (size_t i = 0; i < spec_.indicators.size(); ++i) {
    const IndicatorSpec& indicator = spec_.indicators[i];
    if (!indicator.min_moves) continue;
    for (size_t d = 0; d < dates; ++d) {
      const YearWindow& window = windows_[i][d];
      int64_t moves = 0;
      for (const auto& [batch, record] : register_rows) {
        if (moves_slot_ >= 0) {  // a snapshot's count of moves in its year
          const v1::Value* count = ValueAt(*batch, *record, moves_slot_);
          if (count != nullptr && count->kind_case() == v1::Value::kInteger) {
            moves = std::max(moves, count->integer());
          }
          continue;
        }
        std::optional<int> from = DaysOf(ValueAt(*batch, *record, from_slot_));
        if (from && *from >= window.first && *from <= window.last && (!birth || *from != *birth)) {
          ++moves;
        }
      }
      if (moves >= *indicator.min_moves && membership[d].member &&
          InScope(indicator.members, membership[d].adult)) {
        membership[d].indicators.Set(i);
      }
    }
  }
  // Every other dataset's records.
  std::vector<char>& has_matching_record = state.has_matching_record;
  has_matching_record.assign(dates, 0);
  for (size_t g = 0; g < groups.size(); ++g) {
    DatasetPlan& plan = *groups[g].first;
    YearCoverage& coverage = state.coverage[IndexOf(plan)];
    for (const auto& [batch, record_pointer] : groups[g].second->rows()) {
      const v1::Record& record = *record_pointer;
      for (size_t position = 0; position < plan.indicators.size(); ++position) {
        const IndicatorPlan& indicator = plan.indicators[position];
        coverage.Note(indicator, *batch, record);
        if (!PassesFilters(indicator, position, *batch, record)) continue;
        for (size_t d = 0; d < dates; ++d) {
          const int days = DaysInWindow(indicator, *batch, record, windows_[indicator.index][d]);
          if (days == 0) continue;
          has_matching_record[d] = 1;
          Membership& m = membership[d];
          if (!m.member || !InScope(indicator.spec->members, m.adult)) continue;
          m.indicators.Set(indicator.index);
          for (const CostPlan& cost : plan.costs_at[position]) {
            const double volume = RecordVolume(cost, days, *batch, record);
            if (volume != 0) AddVolume(&m.volumes, cost.item, volume);
          }
        }
      }
    }
  }
  for (size_t d = 0; d < dates; ++d) {
    Membership& m = membership[d];
    if (!m.member) {
      if (has_matching_record[d]) ++state.homeless_with_records[d];
      continue;
    }
    auto& shard = households_[d].Of(m.household);
    {
      std::lock_guard<std::mutex> lock(shard.mutex);
      auto [it, inserted] = shard.households.try_emplace(m.household);
      HouseholdAccumulator& household = it->second;
      if (inserted || state.range >= household.area_range) {
        household.area = m.area;
        household.area_range = static_cast<uint16_t>(state.range);
      }
      ++(m.adult ? household.adults : household.children);
      household.indicators |= m.indicators;
    }
    if (!m.volumes.empty()) state.volumes.Add(m.household, d, m.volumes);
  }
}

template <size_t W>
absl::Status AnalysisRun<W>::ScanPersons() {
  // The person-keyed datasets, the register first.
  std::vector<DatasetPlan*> person_plans;
  for (DatasetPlan& plan : plans_) {
    std::unique_ptr<RecordCursor> cursor =
        store_->NewRecordCursor(covenant_, plan.name, {}, {}, view_.get());
    // Only batches of this run's data version say how the dataset is keyed.
    while (cursor->Valid() && !Allowed(cursor->batch_id())) cursor->Next();
    if (!cursor->Valid()) {
      RETURN_IF_ERROR(cursor->status());
      if (plan.is_register) {
        return absl::FailedPreconditionError(fmt::format(
            "the population register '{}' has not been delivered under covenant '{}'; the "
            "analysis needs it for households", plan.name, covenant_));
      }
      continue;  // reported as a dataset without records
    }
    ASSIGN_OR_RETURN(const ResolvedBatch* first, Batch(plan, cursor->batch_id()));
    if (!first->has_bsn && !plan.is_register) continue;  // address-keyed: joined later
    person_plans.push_back(&plan);
  }
  std::vector<State> states;
  RETURN_IF_ERROR(ForEachRange(&states, [&](std::string_view begin, std::string_view end,
                                            State& state) {
    return ScanPersonRange(person_plans, begin, end, state);
  }));
  NumberAreas(states);
  return Merge(states);
}

template <size_t W>
absl::Status AnalysisRun<W>::ScanPersonRange(const std::vector<DatasetPlan*>& plans,
                                             std::string_view begin, std::string_view end,
                                             State& state) {
  struct Source {
    DatasetPlan* plan;
    std::unique_ptr<RecordCursor> cursor;
    BatchCache batches;
  };
  if (options_.range_opening) options_.range_opening(state.range);
  std::vector<Source> sources;
  for (DatasetPlan* plan : plans) {
    sources.push_back(
        {plan, store_->NewRecordCursor(covenant_, plan->name, begin, end, view_.get()), {}});
  }
  std::string plain;
  std::vector<RecordGroup> records(sources.size());
  PersonGroups groups;
  for (size_t i = 0; i < sources.size(); ++i) groups.emplace_back(sources[i].plan, &records[i]);
  absl::Status status;
  while (status.ok() && !stop_.load(std::memory_order_relaxed)) {
    std::string_view smallest;
    bool any = false;
    for (const Source& source : sources) {
      if (!source.cursor->Valid()) continue;
      if (!any || source.cursor->token() < smallest) smallest = source.cursor->token();
      any = true;
    }
    if (!any) break;
    const Token person = ToToken(smallest);
    const std::string_view person_view(person.data(), person.size());
    for (size_t s = 0; s < sources.size() && status.ok(); ++s) {
      RecordGroup& group = records[s];
      group.Clear();
      RecordCursor& cursor = *sources[s].cursor;
      for (; cursor.Valid() && cursor.token() == person_view; cursor.Next()) {
        absl::StatusOr<const ResolvedBatch*> batch =
            Meet(*sources[s].plan, sources[s].batches, cursor.batch_id(), state);
        if (!batch.ok()) {
          status = batch.status();
          break;
        }
        if (*batch == nullptr) continue;
        v1::Record* record = group.Scratch();
        status = Open(cursor.value(), record, &plain, state);
        if (!status.ok()) break;
        // A repeated row (the agent seals duplicates) counts once.
        group.Keep(*batch, cursor.value());
      }
      if (status.ok()) status = cursor.status();
    }
    if (status.ok()) EvaluatePerson(groups, state);
  }
  sodium_memzero(plain.data(), plain.size());
  return status;
}

template <size_t W>
absl::Status AnalysisRun<W>::ScanAddresses(DatasetPlan& plan) {
  std::vector<State> states;
  RETURN_IF_ERROR(ForEachRange(&states, [&](std::string_view begin, std::string_view end,
                                            State& state) {
    return ScanAddressRange(plan, begin, end, state);
  }));
  return Merge(states);
}

// Households are found, not added, and a range's households lie in shards of its own: the
// ranges change disjoint households without a lock.
template <size_t W>
absl::Status AnalysisRun<W>::ScanAddressRange(DatasetPlan& plan, std::string_view begin,
                                              std::string_view end, State& state) {
  if (options_.range_opening) options_.range_opening(state.range);
  std::unique_ptr<RecordCursor> cursor =
      store_->NewRecordCursor(covenant_, plan.name, begin, end, view_.get());
  std::string plain;
  RecordGroup group;
  BatchCache batches;
  YearCoverage& coverage = state.coverage[IndexOf(plan)];
  HouseholdKey current{};
  absl::Status status;
  for (; cursor->Valid() && status.ok(); cursor->Next()) {
    if (stop_.load(std::memory_order_relaxed)) break;
    absl::StatusOr<const ResolvedBatch*> resolved =
        Meet(plan, batches, cursor->batch_id(), state);
    if (!resolved.ok()) {
      status = resolved.status();
      break;
    }
    const ResolvedBatch* batch = *resolved;
    if (batch == nullptr) continue;
    if (batch->has_bsn) {
      status = absl::FailedPreconditionError(fmt::format(
          "dataset '{}' mixes batches keyed by BSN and by address only", plan.name));
      break;
    }
    const HouseholdKey household = KeyOf(cursor->token());
    if (household != current) {
      current = household;
      group.Clear();
    }
    v1::Record* scratch = group.Scratch();
    status = Open(cursor->value(), scratch, &plain, state);
    if (!status.ok()) break;
    if (!group.Keep(batch, cursor->value())) continue;
    const v1::Record& record = *scratch;
    for (size_t position = 0; position < plan.indicators.size(); ++position) {
      const IndicatorPlan& indicator = plan.indicators[position];
      coverage.Note(indicator, *batch, record);
      if (!PassesFilters(indicator, position, *batch, record)) continue;
      for (size_t d = 0; d < reference_days_.size(); ++d) {
        const int days = DaysInWindow(indicator, *batch, record, windows_[indicator.index][d]);
        if (days == 0) continue;
        auto& shard = households_[d].Of(household);
        auto it = shard.households.find(household);
        if (it == shard.households.end()) {
          ++state.homeless_with_records[d];
          continue;
        }
        it->second.indicators.Set(indicator.index);
        // In token order within the household, after its members' volumes (merged before this
        // scan), as one thread would add them: no log needed.
        for (const CostPlan& cost : plan.costs_at[position]) {
          const double volume = RecordVolume(cost, days, *batch, record);
          if (volume != 0) AddVolume(&shard.VolumesOf(it->second), cost.item, volume);
        }
      }
    }
  }
  sodium_memzero(plain.data(), plain.size());
  if (!status.ok()) return status;
  return cursor->status();
}

// ---------------------------------------------------------------------------------------------
// From households to atoms and cells.

// One group of households: same date, area, household type and indicator pattern.
template <size_t W>
struct AtomKeyT {
  uint16_t date = 0;
  uint16_t area = 0;
  uint16_t type = 0;
  Bits<W> indicators;
  bool operator==(const AtomKeyT&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const AtomKeyT& k) {
    return H::combine(std::move(h), k.date, k.area, k.type, k.indicators);
  }
};

template <size_t W>
struct AtomT {
  AtomKeyT<W> key;
  Bits<W> flags;
  int64_t households = 0;
};

// Money of one atom in one group of cost items (an item, a payer, or all).
// Sums are kept in whole cents (every price and amount has two decimals), so totals are exact
// and do not depend on the order in which households are visited.
struct MoneyStats {
  int64_t cents = 0;
  int64_t contributors = 0;
  std::vector<double> largest;  // descending, at most `keep`
  void Add(double amount, size_t keep) {
    cents += std::llround(amount * 100);
    ++contributors;
    auto at = std::upper_bound(largest.begin(), largest.end(), amount, std::greater<>());
    largest.insert(at, amount);
    if (largest.size() > keep) largest.pop_back();
  }
};

template <size_t W>
class ResultBuilder {
  using Atom = AtomT<W>;
  using AtomKey = AtomKeyT<W>;
  using HouseholdAccumulator = HouseholdAccumulatorT<W>;
  using AtomTest = std::function<bool(const Atom&)>;  // a predicate over atoms

 public:
  ResultBuilder(const AnalysisSpec& spec, const EngineOptions& options,
                const std::vector<double>& item_price, const std::vector<std::string>& area_codes,
                const PriceTable& prices, const std::vector<int>& reference_days)
      : spec_(spec), options_(options), item_price_(item_price), area_codes_(area_codes),
        prices_(prices), reference_days_(reference_days) {
    for (size_t i = 0; i < spec.indicators.size(); ++i) operand_[spec.indicators[i].name] = {false, i};
    for (size_t f = 0; f < spec.flags.size(); ++f) operand_[spec.flags[f].name] = {true, f};
    for (size_t t = 0; t < spec.household_types.size(); ++t) type_index_[spec.household_types[t].name] = t;
    for (const CostItemSpec& item : spec.cost_items) {
      if (!item.in_total) continue;  // shown on its own row, in no payer's sum
      if (std::find(payers_.begin(), payers_.end(), item.payer) == payers_.end()) {
        payers_.push_back(item.payer);
      }
    }
    CollectPredicates();
    for (const CostItemSpec& item : spec.cost_items) {
      unit_indicator_.push_back(item.volume == CostItemSpec::Volume::kUnits
                                    ? operand_.at(item.indicator).second
                                    : 0);
      payer_group_.push_back(PayerGroup(item.payer));
    }
  }

  void AddHousehold(uint16_t date, const HouseholdKey& key, const HouseholdAccumulator& household,
                    const CostVolumes* volumes);
  absl::Status Finish(AnalysisResult* result);

 private:
  bool Holds(const std::string& name, const Bits<W>& indicators, const Bits<W>& flags) const {
    auto [is_flag, index] = operand_.at(name);
    return (is_flag ? flags : indicators).Test(index);
  }
  bool Matches(const Selection& selection, const Atom& atom) const;
  Bits<W> Flags(const Bits<W>& indicators) const;
  // The names and `any` groups the tables select on: the predicates of the atoms' descriptions.
  void CollectPredicates();
  void AddPredicates(const Selection& selection);
  void Describe(AnalysisResult* result) const;
  uint16_t TypeOf(const HouseholdAccumulator& household) const;
  size_t GroupCount() const { return spec_.cost_items.size() + payers_.size() + 1; }
  size_t PayerGroup(const std::string& payer) const {
    return spec_.cost_items.size() +
           static_cast<size_t>(std::find(payers_.begin(), payers_.end(), payer) - payers_.begin());
  }
  size_t AllGroup() const { return GroupCount() - 1; }

  int CountCell(const AtomTest& test, bool is_total);
  int SumCell(const AtomTest& test, const std::vector<size_t>& items, size_t group, bool is_total);
  ResultCell Count(const AtomTest& test, bool is_total);
  ResultCell Percent(const ResultCell& part, const ResultCell& whole);

  absl::Status CountsTable(const TableSpec& table, ResultTable* out);
  absl::Status OverlapTable(const TableSpec& table, ResultTable* out);
  absl::Status CostsTable(const TableSpec& table, ResultTable* out);
  absl::Status SensitivityTable(const TableSpec& table, ResultTable* out);
  const Selection& Population(const TableSpec& table) const { return spec_.populations.at(table.population); }

  const AnalysisSpec& spec_;
  const EngineOptions& options_;
  const std::vector<double>& item_price_;
  const std::vector<std::string>& area_codes_;
  const PriceTable& prices_;
  const std::vector<int>& reference_days_;
  std::map<std::string, std::pair<bool, size_t>> operand_;
  std::map<std::string, size_t> type_index_;
  std::vector<std::string> payers_;
  std::vector<size_t> unit_indicator_;  // per cost item priced per household: its indicator
  std::vector<size_t> payer_group_;     // per cost item: its payer's group
  std::vector<double> cost_;            // AddHousehold's, reused from household to household
  std::vector<double> by_group_;

  absl::flat_hash_map<AtomKey, uint32_t> atom_index_;
  std::vector<Atom> atoms_;
  std::vector<uint32_t> key_sums_;  // per atom, the cell key method's record keys
  // Predicates: a name, or (name empty) an `any` group.
  struct Predicate {
    std::string name;
    std::vector<std::string> any;
  };
  std::vector<Predicate> predicates_;
  std::vector<ResultUnit> units_;
  // Per atom and cost-item group.
  std::vector<std::vector<MoneyStats>> money_;
  AnalysisResult* result_ = nullptr;
  std::map<std::vector<uint32_t>, int> count_cell_index_;
  std::map<std::pair<std::vector<uint32_t>, size_t>, int> sum_cell_index_;
  // Cost tables already built, for sensitivity: table name -> column label -> cells.
  struct CostColumnCells {
    Selection where;
    int households = -1;                       // count cell
    double households_value = 0;
    std::map<size_t, std::pair<int, double>> item_sums;  // item -> sum cell, value
    int total = -1;
    double total_value = 0;
  };
  std::map<std::string, std::map<std::string, CostColumnCells>> cost_tables_;
};

template <size_t W>
Bits<W> ResultBuilder<W>::Flags(const Bits<W>& indicators) const {
  Bits<W> flags;
  for (size_t f = 0; f < spec_.flags.size(); ++f) {
    const FlagSpec& flag = spec_.flags[f];
    bool holds = true;
    for (const std::string& name : flag.all) holds = holds && Holds(name, indicators, flags);
    if (!flag.any.empty()) {
      bool any = false;
      for (const std::string& name : flag.any) any = any || Holds(name, indicators, flags);
      holds = holds && any;
    }
    for (const std::string& name : flag.none) holds = holds && !Holds(name, indicators, flags);
    if (holds) flags.Set(f);
  }
  return flags;
}

template <size_t W>
bool ResultBuilder<W>::Matches(const Selection& selection, const Atom& atom) const {
  if (!selection.household_type.empty() &&
      atom.key.type != type_index_.at(selection.household_type)) {
    return false;
  }
  for (const std::string& name : selection.all) {
    if (!Holds(name, atom.key.indicators, atom.flags)) return false;
  }
  if (!selection.any.empty()) {
    bool any = false;
    for (const std::string& name : selection.any) any = any || Holds(name, atom.key.indicators, atom.flags);
    if (!any) return false;
  }
  for (const std::string& name : selection.none) {
    if (Holds(name, atom.key.indicators, atom.flags)) return false;
  }
  return true;
}

template <size_t W>
uint16_t ResultBuilder<W>::TypeOf(const HouseholdAccumulator& household) const {
  for (size_t t = 0; t < spec_.household_types.size(); ++t) {
    const HouseholdTypeSpec& type = spec_.household_types[t];
    if (household.adults >= type.adults.min && household.adults <= type.adults.max &&
        household.children >= type.children.min && household.children <= type.children.max) {
      return static_cast<uint16_t>(t);
    }
  }
  return static_cast<uint16_t>(spec_.household_types.size());  // none of them
}

template <size_t W>
void ResultBuilder<W>::CollectPredicates() {
  for (const TableSpec& table : spec_.tables) {
    if (!table.population.empty()) AddPredicates(Population(table));
    for (const RowSpec& row : table.row_selections) AddPredicates(row.where);
    for (const CountColumn& column : table.columns) AddPredicates(column.where);
    for (const RowSpec& column : table.cost_columns) AddPredicates(column.where);
    for (const std::string& flag : table.flags) {
      Selection selection;
      selection.all = {flag};
      AddPredicates(selection);
    }
  }
}

template <size_t W>
void ResultBuilder<W>::AddPredicates(const Selection& selection) {
  auto add = [this](Predicate predicate) {
    for (const Predicate& p : predicates_) {
      if (p.name == predicate.name && p.any == predicate.any) return;
    }
    predicates_.push_back(std::move(predicate));
  };
  for (const std::string& name : selection.all) add({name, {}});
  for (const std::string& name : selection.none) add({name, {}});
  if (selection.any.size() == 1) add({selection.any[0], {}});
  if (selection.any.size() > 1) {
    std::vector<std::string> any = selection.any;
    std::sort(any.begin(), any.end());
    any.erase(std::unique(any.begin(), any.end()), any.end());
    add({"", std::move(any)});
  }
}

template <size_t W>
void ResultBuilder<W>::Describe(AnalysisResult* result) const {
  for (const Predicate& p : predicates_) {
    result->predicates.push_back(p.name.empty() ? fmt::format("any({})", fmt::join(p.any, ", "))
                                                : p.name);
  }
  result->area_codes = area_codes_;
  for (const HouseholdTypeSpec& type : spec_.household_types) {
    result->household_types.push_back(type.name);
  }
  const size_t words = (predicates_.size() + 63) / 64;
  result->atoms.reserve(atoms_.size());
  for (size_t a = 0; a < atoms_.size(); ++a) {
    const Atom& atom = atoms_[a];
    AtomDescription d;
    d.date = atom.key.date;
    d.area = atom.key.area;
    d.type = atom.key.type;
    d.households = atom.households;
    d.key_sum = key_sums_[a];
    d.holds.assign(words, 0);
    for (size_t p = 0; p < predicates_.size(); ++p) {
      const Predicate& predicate = predicates_[p];
      bool holds = false;
      if (predicate.name.empty()) {
        for (const std::string& name : predicate.any) {
          holds = holds || Holds(name, atom.key.indicators, atom.flags);
        }
      } else {
        holds = Holds(predicate.name, atom.key.indicators, atom.flags);
      }
      if (holds) d.holds[p / 64] |= uint64_t{1} << (p % 64);
    }
    result->atoms.push_back(std::move(d));
  }
  const size_t items = spec_.cost_items.size();
  result->group_items.assign(GroupCount(), {});
  for (size_t item = 0; item < items; ++item) {
    result->group_items[item].push_back(static_cast<uint16_t>(item));
    if (!spec_.cost_items[item].in_total) continue;
    result->group_items[PayerGroup(spec_.cost_items[item].payer)].push_back(
        static_cast<uint16_t>(item));
    result->group_items[AllGroup()].push_back(static_cast<uint16_t>(item));
  }
  result->group_stats.resize(atoms_.size() * GroupCount());
  for (size_t a = 0; a < atoms_.size(); ++a) {
    for (size_t g = 0; g < GroupCount(); ++g) {
      const MoneyStats& money = money_[a][g];
      SumAtomStats& stats = result->group_stats[a * GroupCount() + g];
      stats.contributors = money.contributors;
      stats.cents = money.cents;
      stats.largest = money.largest;
    }
  }
  result->sum_atom_stats.resize(atoms_.size() * items);
  for (size_t a = 0; a < atoms_.size(); ++a) {
    for (size_t item = 0; item < items; ++item) {
      const MoneyStats& money = money_[a][item];
      SumAtomStats& stats = result->sum_atom_stats[a * items + item];
      stats.contributors = money.contributors;
      stats.cents = money.cents;
      stats.largest = money.largest;
    }
  }
}

template <size_t W>
void ResultBuilder<W>::AddHousehold(uint16_t date, const HouseholdKey& key,
                                 const HouseholdAccumulator& household,
                                 const CostVolumes* volumes) {
  // Units-priced items hold once per household with the indicator.
  std::vector<double>& cost = cost_;
  cost.assign(spec_.cost_items.size(), 0);
  if (volumes != nullptr) {
    for (const auto& [item, volume] : *volumes) cost[item] += volume;
  }
  for (size_t item = 0; item < spec_.cost_items.size(); ++item) {
    const CostItemSpec& spec = spec_.cost_items[item];
    if (spec.volume == CostItemSpec::Volume::kUnits) {
      cost[item] = household.indicators.Test(unit_indicator_[item]) ? 1 : 0;
    }
    if (spec.volume != CostItemSpec::Volume::kAmount) cost[item] *= item_price_[item];
    if (options_.max_contribution_eur) cost[item] = std::min(cost[item], *options_.max_contribution_eur);
  }
  const AtomKey atom_key{date, household.area, TypeOf(household), household.indicators};
  auto [it, inserted] = atom_index_.try_emplace(atom_key, static_cast<uint32_t>(atoms_.size()));
  if (inserted) {
    atoms_.push_back({atom_key, Flags(atom_key.indicators), 0});
    money_.emplace_back(GroupCount());
    key_sums_.push_back(0);
  }
  Atom& atom = atoms_[it->second];
  ++atom.households;
  if (options_.record_key) {
    key_sums_[it->second] += options_.record_key(std::string_view(key.data(), key.size()));
  }
  if (options_.keep_units) {
    ResultUnit unit;
    unit.household = key;
    unit.day = reference_days_[date];
    unit.atom = it->second;
    for (size_t item = 0; item < cost.size(); ++item) {
      if (cost[item] != 0) unit.cents.emplace_back(item, std::llround(cost[item] * 100));
    }
    units_.push_back(std::move(unit));
  }
  std::vector<MoneyStats>& money = money_[it->second];
  const size_t keep = static_cast<size_t>(std::max(options_.largest_kept, 1));
  std::vector<double>& by_group = by_group_;
  by_group.assign(GroupCount(), 0);
  for (size_t item = 0; item < cost.size(); ++item) {
    if (cost[item] == 0) continue;
    by_group[item] += cost[item];
    if (!spec_.cost_items[item].in_total) continue;
    by_group[payer_group_[item]] += cost[item];
    by_group[AllGroup()] += cost[item];
  }
  for (size_t g = 0; g < by_group.size(); ++g) {
    if (by_group[g] != 0) money[g].Add(by_group[g], keep);
  }
}

template <size_t W>
int ResultBuilder<W>::CountCell(const AtomTest& test, bool is_total) {
  PublishedCell cell;
  cell.kind = CellKind::kCount;
  for (uint32_t a = 0; a < atoms_.size(); ++a) {
    if (!test(atoms_[a])) continue;
    cell.atoms.push_back(a);
    cell.value += static_cast<double>(atoms_[a].households);
  }
  auto [it, inserted] = count_cell_index_.try_emplace(cell.atoms, 0);
  if (inserted) {
    cell.is_total = is_total;
    it->second = static_cast<int>(result_->count_cells.size());
    result_->count_cells.push_back(std::move(cell));
  } else if (is_total) {
    result_->count_cells[static_cast<size_t>(it->second)].is_total = true;
  }
  return it->second;
}

template <size_t W>
int ResultBuilder<W>::SumCell(const AtomTest& test, const std::vector<size_t>& items, size_t group,
                           bool is_total) {
  PublishedCell cell;
  cell.kind = CellKind::kSum;
  std::vector<uint32_t> atoms;
  int64_t cents = 0;
  for (uint32_t a = 0; a < atoms_.size(); ++a) {
    if (!test(atoms_[a])) continue;
    atoms.push_back(a);
    const MoneyStats& stats = money_[a][group];
    cents += stats.cents;
    cell.contributors += stats.contributors;
    cell.largest.insert(cell.largest.end(), stats.largest.begin(), stats.largest.end());
  }
  cell.value = static_cast<double>(cents) / 100.0;
  std::sort(cell.largest.begin(), cell.largest.end(), std::greater<>());
  if (cell.largest.size() > static_cast<size_t>(options_.largest_kept)) {
    cell.largest.resize(static_cast<size_t>(options_.largest_kept));
  }
  // Sum atoms are (atom, item) pairs.
  for (uint32_t a : atoms) {
    for (size_t item : items) {
      cell.atoms.push_back(static_cast<uint32_t>(a * spec_.cost_items.size() + item));
    }
  }
  std::sort(cell.atoms.begin(), cell.atoms.end());
  auto [it, inserted] = sum_cell_index_.try_emplace({cell.atoms, group}, 0);
  if (inserted) {
    cell.is_total = is_total;
    it->second = static_cast<int>(result_->sum_cells.size());
    result_->sum_cells.push_back(std::move(cell));
    result_->sum_cell_group.push_back(static_cast<uint16_t>(group));
  }
  return it->second;
}

template <size_t W>
ResultCell ResultBuilder<W>::Count(const AtomTest& test, bool is_total) {
  const int index = CountCell(test, is_total);
  ResultCell cell;
  cell.kind = ResultKind::kCount;
  cell.value = result_->count_cells[static_cast<size_t>(index)].value;
  cell.sources.push_back({SystemCellRef::System::kCounts, index});
  return cell;
}

template <size_t W>
ResultCell ResultBuilder<W>::Percent(const ResultCell& part, const ResultCell& whole) {
  ResultCell cell;
  if (whole.value == 0) return cell;  // empty: no population
  cell.kind = ResultKind::kPercent;
  cell.value = 100.0 * part.value / whole.value;
  cell.denominator = whole.value;
  cell.sources = part.sources;
  cell.sources.insert(cell.sources.end(), whole.sources.begin(), whole.sources.end());
  return cell;
}

template <size_t W>
absl::Status ResultBuilder<W>::CountsTable(const TableSpec& table, ResultTable* out) {
  const Selection& population = Population(table);
  struct Row {
    std::string label;
    AtomTest test;
    bool total;
  };
  std::vector<Row> rows;
  if (!table.total_label.empty()) rows.push_back({table.total_label, [](const Atom&) { return true; }, true});
  if (table.rows == Dimension::kArea) {
    out->row_heading = "area";
    std::vector<uint16_t> order(area_codes_.size());
    for (size_t a = 0; a < order.size(); ++a) order[a] = static_cast<uint16_t>(a);
    std::sort(order.begin(), order.end(),
              [&](uint16_t x, uint16_t y) { return area_codes_[x] < area_codes_[y]; });
    for (uint16_t area : order) {
      auto label = spec_.area_labels.find(area_codes_[area]);
      rows.push_back({label == spec_.area_labels.end() ? area_codes_[area] : label->second,
                      [area](const Atom& atom) { return atom.key.area == area; }, false});
    }
  } else if (table.rows == Dimension::kHouseholdType) {
    out->row_heading = "household_type";
    for (size_t t = 0; t < spec_.household_types.size(); ++t) {
      rows.push_back({spec_.household_types[t].name,
                      [t](const Atom& atom) { return atom.key.type == t; }, false});
    }
  } else {
    out->row_heading = "";
    for (const RowSpec& row : table.row_selections) {
      rows.push_back({row.label, [this, where = row.where](const Atom& atom) { return Matches(where, atom); },
                      false});
    }
  }
  for (const CountColumn& column : table.columns) {
    if (column.percent) {
      out->columns.push_back(column.label + "_n");
      out->columns.push_back(column.label + "_pct");
    } else {
      out->columns.push_back(column.label);
    }
  }
  for (const Row& row : rows) {
    ResultRow result_row;
    result_row.label = row.label;
    for (const CountColumn& column : table.columns) {
      const uint16_t date = static_cast<uint16_t>(column.reference);
      auto base = [&, date](const Atom& atom) {
        return atom.key.date == date && row.test(atom) && Matches(population, atom);
      };
      ResultCell whole = Count(base, row.total);
      ResultCell part = Count([&](const Atom& atom) { return base(atom) && Matches(column.where, atom); },
                              row.total);
      result_row.cells.push_back(part);
      if (column.percent) result_row.cells.push_back(Percent(part, whole));
    }
    out->rows.push_back(std::move(result_row));
  }
  return absl::OkStatus();
}

template <size_t W>
absl::Status ResultBuilder<W>::OverlapTable(const TableSpec& table, ResultTable* out) {
  const Selection& population = Population(table);
  out->row_heading = "row";
  out->columns = table.flags;
  auto in_population = [&](const Atom& atom) { return atom.key.date == 0 && Matches(population, atom); };
  auto has = [&](const std::string& flag, const Atom& atom) {
    return Holds(flag, atom.key.indicators, atom.flags);
  };
  auto add_row = [&](std::string label, const std::function<std::optional<AtomTest>(const std::string&)>& test) {
    ResultRow row;
    row.label = std::move(label);
    for (const std::string& flag : table.flags) {
      std::optional<AtomTest> t = test(flag);
      row.cells.push_back(t ? Count([&](const Atom& atom) { return in_population(atom) && (*t)(atom); }, false)
                            : ResultCell{});
    }
    out->rows.push_back(std::move(row));
  };
  add_row("no problem in this domain", [&](const std::string& flag) -> std::optional<AtomTest> {
    return [&, flag](const Atom& atom) { return !has(flag, atom); };
  });
  add_row("one or more problems in this domain", [&](const std::string& flag) -> std::optional<AtomTest> {
    return [&, flag](const Atom& atom) { return has(flag, atom); };
  });
  add_row("problems in this domain only", [&](const std::string& flag) -> std::optional<AtomTest> {
    return [&, flag](const Atom& atom) {
      if (!has(flag, atom)) return false;
      for (const std::string& other : table.flags) {
        if (other != flag && has(other, atom)) return false;
      }
      return true;
    };
  });
  for (const std::string& other : table.flags) {
    add_row("also " + other, [&, other](const std::string& flag) -> std::optional<AtomTest> {
      if (flag == other) return std::nullopt;
      return [&, flag, other](const Atom& atom) { return has(flag, atom) && has(other, atom); };
    });
  }
  add_row("in all of these domains", [&](const std::string&) -> std::optional<AtomTest> {
    return [&](const Atom& atom) {
      for (const std::string& flag : table.flags) {
        if (!has(flag, atom)) return false;
      }
      return true;
    };
  });
  return absl::OkStatus();
}

template <size_t W>
absl::Status ResultBuilder<W>::CostsTable(const TableSpec& table, ResultTable* out) {
  const Selection& population = Population(table);
  out->row_heading = table.by_payer ? "payer" : "item";
  struct Row {
    std::string label;
    std::vector<size_t> items;
    size_t group;
    bool total;
  };
  std::vector<Row> rows;
  std::vector<size_t> all_items;  // those in the total
  for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
    if (spec_.cost_items[i].in_total) all_items.push_back(i);
  }
  if (table.by_payer) {
    for (const std::string& payer : payers_) {
      Row row{payer, {}, PayerGroup(payer), false};
      for (size_t i : all_items) {
        if (spec_.cost_items[i].payer == payer) row.items.push_back(i);
      }
      rows.push_back(std::move(row));
    }
    for (size_t i = 0; i < spec_.cost_items.size(); ++i) {  // items apart: their own rows
      if (!spec_.cost_items[i].in_total) rows.push_back({spec_.cost_items[i].name, {i}, i, false});
    }
  } else {
    for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
      rows.push_back({spec_.cost_items[i].name, {i}, i, false});
    }
  }
  rows.push_back({table.total_label.empty() ? "total" : table.total_label, all_items, AllGroup(), true});

  for (const RowSpec& column : table.cost_columns) {
    out->columns.push_back(column.label + "_eur");
    out->columns.push_back(column.label + "_mean_eur");
  }
  auto& registry = cost_tables_[table.name];
  ResultRow households_row;
  households_row.label = "households";
  for (const RowSpec& column : table.cost_columns) {
    AtomTest test = [&, where = column.where](const Atom& atom) {
      return atom.key.date == 0 && Matches(population, atom) && Matches(where, atom);
    };
    ResultCell count = Count(test, true);
    households_row.cells.push_back(count);
    households_row.cells.push_back(ResultCell{});
    CostColumnCells& cells = registry[column.label];
    cells.where = column.where;
    cells.households = count.sources[0].index;
    cells.households_value = count.value;
  }
  out->rows.push_back(std::move(households_row));
  for (const Row& row : rows) {
    ResultRow result_row;
    result_row.label = row.label;
    for (const RowSpec& column : table.cost_columns) {
      AtomTest test = [&, where = column.where](const Atom& atom) {
        return atom.key.date == 0 && Matches(population, atom) && Matches(where, atom);
      };
      const int index = SumCell(test, row.items, row.group, row.total);
      const double value = result_->sum_cells[static_cast<size_t>(index)].value;
      CostColumnCells& cells = registry[column.label];
      ResultCell sum;
      sum.kind = ResultKind::kAmount;
      sum.value = value;
      sum.sources.push_back({SystemCellRef::System::kSums, index});
      ResultCell mean;
      if (cells.households_value > 0) {
        mean.kind = ResultKind::kAmount;
        mean.value = value / cells.households_value;
        mean.sources = sum.sources;
        mean.sources.push_back({SystemCellRef::System::kCounts, cells.households});
      }
      result_row.cells.push_back(sum);
      result_row.cells.push_back(mean);
      if (row.total) {
        cells.total = index;
        cells.total_value = value;
      } else if (!table.by_payer) {
        cells.item_sums[row.items[0]] = {index, value};
      }
    }
    out->rows.push_back(std::move(result_row));
  }
  if (table.by_payer) {  // sensitivity needs the per-item sums
    for (const RowSpec& column : table.cost_columns) {
      AtomTest test = [&, where = column.where](const Atom& atom) {
        return atom.key.date == 0 && Matches(population, atom) && Matches(where, atom);
      };
      CostColumnCells& cells = registry[column.label];
      for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
        const int index = SumCell(test, {i}, i, false);
        cells.item_sums[i] = {index, result_->sum_cells[static_cast<size_t>(index)].value};
      }
    }
  }
  return absl::OkStatus();
}

template <size_t W>
absl::Status ResultBuilder<W>::SensitivityTable(const TableSpec& table, ResultTable* out) {
  auto costs = cost_tables_.find(table.costs_table);
  if (costs == cost_tables_.end() || !costs->second.contains(table.mean_of)) {
    return absl::InvalidArgumentError(fmt::format(
        "table '{}' varies column '{}' of costs table '{}', which is not an earlier costs table "
        "with that column", table.name, table.mean_of, table.costs_table));
  }
  const CostColumnCells& cells = costs->second.at(table.mean_of);
  out->row_heading = "varied";
  out->columns = {"base_mean_eur", "low_mean_eur", "high_mean_eur"};
  if (cells.households_value == 0) return absl::OkStatus();
  const double n = cells.households_value;
  const double base = cells.total_value / n;
  auto derived = [&](double value, const std::vector<SystemCellRef>& sources) {
    ResultCell cell;
    cell.kind = ResultKind::kAmount;
    cell.value = value;
    cell.sources = sources;
    return cell;
  };
  const std::vector<SystemCellRef> base_sources = {{SystemCellRef::System::kSums, cells.total},
                                                   {SystemCellRef::System::kCounts, cells.households}};
  double lowest = base, highest = base;
  std::vector<SystemCellRef> all_sources = base_sources;
  for (const SensitivitySpec& variation : spec_.sensitivity) {
    double varied = 0;  // the euros that scale with the factor
    std::vector<SystemCellRef> sources = base_sources;
    for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
      const CostItemSpec& item = spec_.cost_items[i];
      if (!item.in_total) continue;  // not in the mean varied
      double share = 0;
      if (!variation.item.empty()) {
        share = item.name == variation.item ? 1 : 0;
      } else if (item.volume != CostItemSpec::Volume::kAmount && item_price_[i] > 0) {
        for (const std::string& p : item.prices) {
          if (p == variation.price) share += *prices_.items.at(p).price / item_price_[i];
        }
      }
      if (share == 0) continue;
      auto [index, value] = cells.item_sums.at(i);
      varied += share * value;
      sources.push_back({SystemCellRef::System::kSums, index});
    }
    const double low = base + (variation.low - 1.0) * varied / n;
    const double high = base + (variation.high - 1.0) * varied / n;
    lowest = std::min(lowest, low);
    highest = std::max(highest, high);
    all_sources.insert(all_sources.end(), sources.begin(), sources.end());
    out->rows.push_back({variation.label, {derived(base, base_sources), derived(low, sources),
                                           derived(high, sources)}});
  }
  out->rows.push_back({"range (one at a time)", {derived(base, base_sources),
                                                 derived(lowest, all_sources),
                                                 derived(highest, all_sources)}});
  return absl::OkStatus();
}

template <size_t W>
absl::Status ResultBuilder<W>::Finish(AnalysisResult* result) {
  result_ = result;
  for (const TableSpec& table : spec_.tables) {
    ResultTable out;
    out.name = table.name;
    out.title = table.title;
    absl::Status status;
    switch (table.kind) {
      case TableKind::kCounts: status = CountsTable(table, &out); break;
      case TableKind::kOverlap: status = OverlapTable(table, &out); break;
      case TableKind::kCosts: status = CostsTable(table, &out); break;
      case TableKind::kSensitivity: status = SensitivityTable(table, &out); break;
    }
    RETURN_IF_ERROR(status);
    result->tables.push_back(std::move(out));
  }
  result->count_atoms = static_cast<uint32_t>(atoms_.size());
  result->sum_atoms = static_cast<uint32_t>(atoms_.size() * std::max<size_t>(spec_.cost_items.size(), 1));
  Describe(result);
  std::sort(units_.begin(), units_.end(), [](const ResultUnit& x, const ResultUnit& y) {
    return std::tie(x.household, x.day) < std::tie(y.household, y.day);
  });
  result->units = std::move(units_);
  return absl::OkStatus();
}

template <size_t W>
std::set<std::string> AnalysisRun<W>::PriceCodes(const std::string& dataset, size_t item) const {
  std::set<std::string> codes;
  auto batches = resolved_.find(dataset);
  if (batches == resolved_.end()) return codes;
  for (const auto& [id, batch] : batches->second) {
    if (batch.left_out) continue;
    auto of_item = batch.price_codes.find(item);
    if (of_item != batch.price_codes.end()) codes.insert(of_item->second.begin(), of_item->second.end());
  }
  return codes;
}

template <size_t W>
void AnalysisRun<W>::DescribeItems(AnalysisResult* result) const {
  auto batches_of = [&](const std::string& dataset) {
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    auto it = batches_read_.find(dataset);
    if (it != batches_read_.end()) {
      for (const std::string& id : it->second) {
        crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(id.data()),
                                  id.size());
      }
    }
    std::array<uint8_t, crypto_hash_sha256_BYTES> digest;
    crypto_hash_sha256_final(&state, digest.data());
    return ToHex(digest);
  };
  std::string household = fmt::format(
      "register {} birth {} from {} to {} adult {} batches {}", spec_.register_dataset,
      spec_.birth_date_attribute, spec_.valid_from_attribute, spec_.valid_to_attribute,
      spec_.adult_age, batches_of(spec_.register_dataset));
  if (spec_.snapshot) {
    household += fmt::format(" snapshot {} moves {}", IsoDate(*spec_.snapshot),
                             spec_.moves_attribute);
  }
  for (size_t i = 0; i < spec_.cost_items.size(); ++i) {
    const CostItemSpec& item = spec_.cost_items[i];
    const IndicatorSpec& indicator = spec_.indicators[indicator_index_.at(item.indicator)];
    // price_by: a filter on the priced attribute only chooses which codes are priced, so it is
    // part of the per-code prices below, not of the volume.
    std::string filters;
    const AttributeFilter* priced_filter = nullptr;
    for (const AttributeFilter& filter : indicator.filters) {
      if (!item.price_by.empty() && filter.attribute == item.price_by) {
        priced_filter = &filter;
        continue;
      }
      std::vector<std::string> codes = filter.codes;
      std::sort(codes.begin(), codes.end());
      filters += fmt::format("[{} codes {} below {} at_least {}]", filter.attribute,
                             fmt::join(codes, ","),
                             filter.below ? fmt::format("{}", *filter.below) : "-",
                             filter.at_least ? fmt::format("{}", *filter.at_least) : "-");
    }
    const PeriodSpec& period = indicator.period;
    std::string volume = fmt::format(
        "{}; dataset {} batches {} filters {} period {} {} {} year {} members {} moves {}; "
        "volume {} amount {}",
        household, indicator.dataset,
        indicator.dataset.empty() ? "-" : batches_of(indicator.dataset), filters,
        static_cast<int>(period.kind), period.from, period.to,
        reference_years_.empty() ? 0 : reference_years_[0].year + period.year_offset,
        static_cast<int>(indicator.members), indicator.min_moves.value_or(0),
        static_cast<int>(item.volume), item.amount_attribute);
    // price_by: the volume is the records priced by the attribute, whatever their prices; the
    // prices of its codes are part of the definition, so that two releases pricing one code
    // differently are the same volume priced differently (refused), not two items whose
    // difference is that code's records.
    std::string code_prices;
    if (!item.price_by.empty()) {
      volume += fmt::format(" priced by {}", item.price_by);
      code_prices = fmt::format("; prices of {}:", item.price_by);
      for (const std::string& code : PriceCodes(indicator.dataset, i)) {
        if (priced_filter != nullptr && !priced_filter->codes.empty() &&
            std::find(priced_filter->codes.begin(), priced_filter->codes.end(), code) ==
                priced_filter->codes.end()) {
          continue;  // filtered out: never priced, so not part of what is released
        }
        auto price = prices_.items.find(code);
        code_prices += price != prices_.items.end() && price->second.price
                           ? fmt::format(" {}={:.2f}", code, *price->second.price)
                           : fmt::format(" {}=-", code);
      }
    }
    CostItemDescription description;
    description.name = item.name;
    description.payer = item.payer;
    description.per_household = item.volume == CostItemSpec::Volume::kUnits;
    description.volume = volume;
    description.definition =
        fmt::format("{}; price {:.2f}{}; cap {}", volume, item_price_[i], code_prices,
                    options_.max_contribution_eur
                        ? fmt::format("{:.2f}", *options_.max_contribution_eur)
                        : "-");
    result->items.push_back(std::move(description));
  }
}

template <size_t W>
absl::StatusOr<AnalysisResult> AnalysisRun<W>::Execute() {
  RETURN_IF_ERROR(Plan());
  ASSIGN_OR_RETURN(view_, store_->NewReadView(covenant_));
  if (Ranges() > 1) pool_ = std::make_unique<WorkerPool>(Ranges() - 1);
  ASSIGN_OR_RETURN(std::vector<v1::DatasetStatus> statuses, store_->Status());
  if (options_.report_progress) {
    uint64_t total = 0;
    for (const v1::DatasetStatus& status : statuses) {
      for (const DatasetPlan& plan : plans_) {
        if (status.covenant_id() == covenant_ && status.dataset() == plan.name) total += status.records();
      }
    }
    progress_ = std::make_unique<ProgressReporter>("analysis " + spec_.name, total, "records");
  }
  // Households number about a third of the register's rows: sized once, never rehashed.
  for (const v1::DatasetStatus& status : statuses) {
    if (status.covenant_id() == covenant_ && status.dataset() == spec_.register_dataset) {
      for (auto& households : households_) households.Reserve(status.records() / 3);
    }
  }
  RETURN_IF_ERROR(ScanPersons());
  for (DatasetPlan& plan : plans_) {
    auto cached = resolved_.find(plan.name);
    if (cached == resolved_.end() || cached->second.empty()) continue;
    if (!cached->second.begin()->second.has_bsn && !plan.is_register) {
      RETURN_IF_ERROR(ScanAddresses(plan));
    }
  }
  view_.reset();  // the store may be closed or compacted past it now
  pool_.reset();
  // When no run of a dataset has what the spec reads, the spec is wrong, not a delivery.
  for (const auto& [dataset, runs] : left_out_) {
    if (!batches_read_.contains(dataset)) {
      return absl::FailedPreconditionError(runs.begin()->second);
    }
  }
  AnalysisResult result;
  result.records_read = records_read_;
  ResultBuilder<W> builder(spec_, options_, item_price_, area_codes_, prices_, reference_days_);
  for (const auto& [code, label] : spec_.area_labels) {
    (void)label;
    if (!area_index_.contains(code)) {
      if (area_codes_.size() >= kMaxAreas) {
        return absl::FailedPreconditionError(fmt::format(
            "the register and the spec's area labels name more than {} areas; the engine "
            "supports at most that many", kMaxAreas));
      }
      area_index_[code] = static_cast<uint16_t>(area_codes_.size());
      area_codes_.push_back(code);
    }
  }
  for (size_t d = 0; d < households_.size(); ++d) {
    for (size_t s = 0; s < HouseholdShards<W>::kShards; ++s) {
      auto& shard = households_[d].At(s);
      for (const auto& [key, household] : shard.households) {
        builder.AddHousehold(static_cast<uint16_t>(d), key, household,
                             household.volumes == HouseholdAccumulator::kNoVolumes
                                 ? nullptr
                                 : &shard.volumes[household.volumes]);
      }
    }
    households_[d].Clear();
  }
  RETURN_IF_ERROR(builder.Finish(&result));
  if (progress_) progress_->Finish(records_read_);
  result.reference_days = reference_days_;
  for (const auto& [dataset, ids] : batches_read_) {
    result.batches_read[dataset].assign(ids.begin(), ids.end());
  }
  DescribeItems(&result);
  for (const DatasetPlan& plan : plans_) {
    DatasetUse use{plan.name, 0, 0};
    for (const v1::DatasetStatus& status : statuses) {
      if (status.covenant_id() == covenant_ && status.dataset() == plan.name) {
        use.batches = status.batches();
        use.records = status.records();
      }
    }
    if (use.records == 0) {
      result.warnings.push_back(fmt::format(
          "no records of dataset '{}' have been delivered: its indicators are zero", plan.name));
    }
    if (auto it = left_out_.find(plan.name); it != left_out_.end()) {
      for (const auto& [run, why] : it->second) {
        result.warnings.push_back(fmt::format(
            "dataset '{}': delivery run {} is left out of this analysis: {}", plan.name,
            run.empty() ? "(without a run id)" : run, why));
      }
    }
    result.datasets.push_back(use);
  }
  for (size_t d = 0; d < spec_.reference_dates.size(); ++d) {
    for (const DatasetPlan& plan : plans_) {
      const YearCoverage& coverage = coverage_[plan.name];
      for (const IndicatorPlan& indicator : plan.indicators) {
        if (indicator.spec->period.kind == PeriodKind::kAlways) continue;
        const int year = windows_[indicator.index][d].year;
        if (!coverage.Seen(year)) {
          result.warnings.push_back(fmt::format(
              "dataset '{}' has no records for {}: indicator '{}' at reference date {} counts "
              "nobody",
              plan.name, year, indicator.spec->name, IsoDate(spec_.reference_dates[d])));
        }
      }
    }
    // Released with the tables: the number stays out (a spec could make it count a few
    // persons of its choice); the linker logs it for the operator.
    if (homeless_with_records_[d] > 0) {
      result.warnings.push_back(fmt::format(
          "persons or addresses with records that count in {} live in no household of the "
          "register on {}; their records are not counted",
          reference_years_[d].year, IsoDate(spec_.reference_dates[d])));
      result.unplaced.push_back(
          {IsoDate(spec_.reference_dates[d]), homeless_with_records_[d]});
    }
  }
  return result;
}

}  // namespace

absl::StatusOr<AnalysisResult> AnalysisEngine::Run(const AnalysisSpec& spec,
                                                   const PriceTable& prices,
                                                   const EngineOptions& options) const {
  if (data_key_ == nullptr || data_key_->size() != crypto_secretbox_KEYBYTES) {
    return absl::FailedPreconditionError("the analysis engine needs the covenant's 32-byte data key");
  }
  RETURN_IF_ERROR(CheckEngineLimits(spec));
  const size_t bits = std::max(spec.indicators.size(), spec.flags.size());
  if (bits <= 64) return AnalysisRun<1>(store_, covenant_, data_key_, spec, prices, options).Execute();
  if (bits <= 128) return AnalysisRun<2>(store_, covenant_, data_key_, spec, prices, options).Execute();
  if (bits <= 256) return AnalysisRun<4>(store_, covenant_, data_key_, spec, prices, options).Execute();
  static_assert(EngineLimits::kIndicators <= 512 && EngineLimits::kFlags <= 512);
  return AnalysisRun<8>(store_, covenant_, data_key_, spec, prices, options).Execute();
}

const ResultTable* AnalysisResult::FindTable(std::string_view name) const {
  for (const ResultTable& table : tables) {
    if (table.name == name) return &table;
  }
  return nullptr;
}

const ResultCell* ResultTable::Find(std::string_view row, std::string_view column) const {
  auto col = std::find(columns.begin(), columns.end(), column);
  if (col == columns.end()) return nullptr;
  for (const ResultRow& r : rows) {
    if (r.label == row) return &r.cells[static_cast<size_t>(col - columns.begin())];
  }
  return nullptr;
}

}  // namespace koppel
