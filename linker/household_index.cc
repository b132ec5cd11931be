#include "linker/household_index.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "core/status_macros.h"
#include "core/worker_pool.h"
#include "linker/stored_record.h"

namespace koppel::linker {
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

PeriodSlots SlotsOf(const v1::BatchHeader& header, const policy::FamilyRegister& family) {
  return {Slot(header, family.address_from), Slot(header, family.address_to)};
}

// The entry of a register record, or nullopt when it can place no one: no person or address,
// or no start of the period. A value left off the end is unset, as the analysis engine reads
// it: without a start no one is placed, without an end the period is open.
std::optional<RegisterEntry> EntryOf(const v1::Record& record, PeriodSlots slots) {
  if (slots.from < 0 || record.bsn_token().size() != sizeof(TokenKey) ||
      record.address_token().size() != sizeof(TokenKey) || record.values_size() <= slots.from) {
    return std::nullopt;
  }
  const v1::Value& from = record.values(slots.from);
  if (from.kind_case() != v1::Value::kDateDays) return std::nullopt;
  RegisterEntry entry;
  std::memcpy(entry.person.data(), record.bsn_token().data(), sizeof(TokenKey));
  std::memcpy(entry.address.data(), record.address_token().data(), sizeof(TokenKey));
  entry.from = from.date_days();
  entry.to = INT32_MAX;
  if (slots.to >= 0 && slots.to < record.values_size()) {
    const v1::Value& to = record.values(slots.to);
    if (to.kind_case() == v1::Value::kDateDays) entry.to = to.date_days();
  }
  return entry;
}

bool PlacesOn(const RegisterEntry& entry, int day) { return entry.from <= day && day < entry.to; }

TokenKey KeyOf(std::string_view token) {
  TokenKey key;
  std::memcpy(key.data(), token.data(), key.size());
  return key;
}

std::string_view View(const TokenKey& key) {
  return std::string_view(reinterpret_cast<const char*>(key.data()), key.size());
}

// The first eight bytes of a token as a number that sorts as the token does.
uint64_t Prefix(const TokenKey& key) {
  uint64_t prefix = 0;
  for (int i = 0; i < 8; ++i) prefix = (prefix << 8) | key[static_cast<size_t>(i)];
  return prefix;
}

template <typename T>
size_t HeapOf(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

// Frees `v` wiped: the indexes hold re-keyed tokens, pseudonyms of the register's people.
template <typename T>
void WipeAndFree(std::vector<T>* v) {
  sodium_memzero(v->data(), v->size() * sizeof(T));
  std::vector<T>().swap(*v);
}

// Sorted distinct tokens, found by binary search within the bucket of their leading bits
// (re-keyed tokens are uniform, so the buckets are even).
class SortedTokens {
 public:
  SortedTokens() = default;
  SortedTokens(SortedTokens&&) = default;
  SortedTokens& operator=(SortedTokens&& other) {
    WipeAndFree(&tokens_);
    tokens_ = std::move(other.tokens_);
    buckets_ = std::move(other.buckets_);
    bits_ = other.bits_;
    return *this;
  }
  ~SortedTokens() { WipeAndFree(&tokens_); }

  explicit SortedTokens(std::vector<TokenKey> tokens) : tokens_(std::move(tokens)) {
    tokens_.shrink_to_fit();
    bits_ = 0;
    while (bits_ < 16 && (size_t{16} << bits_) < tokens_.size()) ++bits_;
    buckets_.assign((size_t{1} << bits_) + 1, 0);
    size_t i = 0;
    for (size_t bucket = 0; bucket < (size_t{1} << bits_); ++bucket) {
      while (i < tokens_.size() && BucketOf(tokens_[i]) < bucket) ++i;
      buckets_[bucket] = static_cast<uint32_t>(i);
    }
    buckets_.back() = static_cast<uint32_t>(tokens_.size());
  }

  std::optional<uint32_t> Find(const TokenKey& key) const {
    const size_t bucket = BucketOf(key);
    auto begin = tokens_.begin() + buckets_[bucket];
    auto end = tokens_.begin() + buckets_[bucket + 1];
    auto it = std::lower_bound(begin, end, key);
    if (it == end || *it != key) return std::nullopt;
    return static_cast<uint32_t>(it - tokens_.begin());
  }

  const TokenKey& operator[](uint32_t i) const { return tokens_[i]; }
  size_t size() const { return tokens_.size(); }
  size_t bytes() const { return HeapOf(tokens_) + HeapOf(buckets_); }

 private:
  size_t BucketOf(const TokenKey& key) const {
    return bits_ == 0 ? 0 : ((size_t{key[0]} << 8 | key[1]) >> (16 - bits_));
  }

  std::vector<TokenKey> tokens_;
  std::vector<uint32_t> buckets_ = {0, 0};
  int bits_ = 0;
};

// Placements on the day in person order: the distinct persons, and for each placement the
// number of its person and its address.
struct Placements {
  Placements() = default;
  Placements(Placements&&) = default;
  Placements& operator=(Placements&&) = default;
  ~Placements() {
    WipeAndFree(&persons);
    WipeAndFree(&address_of);
  }

  std::vector<TokenKey> persons;
  std::vector<uint32_t> person_of;
  std::vector<TokenKey> address_of;

  void Add(const TokenKey& person, const TokenKey& address) {
    if (persons.empty() || persons.back() != person) persons.push_back(person);
    person_of.push_back(static_cast<uint32_t>(persons.size() - 1));
    address_of.push_back(address);
  }
};

}  // namespace

// One immutable part of an index: persons and households in sorted token arrays, each person's
// households, and each household's members as a run of the member array.
class HouseholdIndex::Layer {
 public:
  static constexpr uint32_t kSeveral = 0x80000000u;  // homes_[p]: an offset into several_

  // `placements` may repeat a placement; persons must be in token order.
  explicit Layer(Placements placements) {
    const size_t n = placements.person_of.size();
    // Placements by address, then person: households and their members in order, repeats
    // adjacent. Sorted on the address's first eight bytes, the rest compared only on a tie.
    struct ByAddress {
      uint64_t prefix;
      uint32_t person;
      uint32_t placement;
    };
    std::vector<ByAddress> order(n);
    for (size_t i = 0; i < n; ++i) {
      order[i] = {Prefix(placements.address_of[i]), placements.person_of[i],
                  static_cast<uint32_t>(i)};
    }
    const std::vector<TokenKey>& address_of = placements.address_of;
    std::sort(order.begin(), order.end(), [&](const ByAddress& a, const ByAddress& b) {
      if (a.prefix != b.prefix) return a.prefix < b.prefix;
      const int c = std::memcmp(address_of[a.placement].data(), address_of[b.placement].data(),
                                sizeof(TokenKey));
      if (c != 0) return c < 0;
      return a.person < b.person;
    });

    std::vector<TokenKey> households;
    member_begin_.reserve(n / 2 + 1);
    members_.reserve(n);
    homes_.assign(placements.persons.size(), kNone);
    absl::flat_hash_map<uint32_t, std::vector<uint32_t>> more_homes;  // rare: several addresses
    for (size_t i = 0; i < n; ++i) {
      const ByAddress& p = order[i];
      const TokenKey& address = address_of[p.placement];
      if (households.empty() || households.back() != address) {
        households.push_back(address);
        member_begin_.push_back(static_cast<uint32_t>(members_.size()));
      } else if (members_.back() == p.person) {
        continue;  // the same placement again
      }
      members_.push_back(p.person);
      const uint32_t household = static_cast<uint32_t>(households.size() - 1);
      if (homes_[p.person] == kNone) {
        homes_[p.person] = household;
      } else {
        more_homes[p.person].push_back(household);
      }
    }
    member_begin_.push_back(static_cast<uint32_t>(members_.size()));
    for (auto& [person, more] : more_homes) {
      const uint32_t offset = static_cast<uint32_t>(several_.size());
      several_.push_back(static_cast<uint32_t>(more.size() + 1));
      several_.push_back(homes_[person]);
      several_.insert(several_.end(), more.begin(), more.end());
      homes_[person] = kSeveral | offset;
    }
    order = {};
    placements.person_of = {};
    WipeAndFree(&placements.address_of);
    members_.shrink_to_fit();
    member_begin_.shrink_to_fit();
    several_.shrink_to_fit();
    persons_ = SortedTokens(std::move(placements.persons));
    households_ = SortedTokens(std::move(households));
  }

  std::optional<uint32_t> FindPerson(const TokenKey& key) const { return persons_.Find(key); }
  std::optional<uint32_t> FindHousehold(const TokenKey& key) const { return households_.Find(key); }
  std::span<const uint32_t> HomesOf(uint32_t person) const {
    const uint32_t& home = homes_[person];
    if ((home & kSeveral) == 0) return std::span<const uint32_t>(&home, 1);
    const uint32_t offset = home & ~kSeveral;
    return std::span<const uint32_t>(several_.data() + offset + 1, several_[offset]);
  }
  std::span<const uint32_t> MembersOf(uint32_t household) const {
    return std::span<const uint32_t>(members_.data() + member_begin_[household],
                                     member_begin_[household + 1] - member_begin_[household]);
  }
  const TokenKey& person(uint32_t i) const { return persons_[i]; }
  const TokenKey& household(uint32_t i) const { return households_[i]; }
  size_t persons() const { return persons_.size(); }
  size_t placements() const { return members_.size(); }
  size_t bytes() const {
    return persons_.bytes() + households_.bytes() + HeapOf(homes_) + HeapOf(several_) +
           HeapOf(member_begin_) + HeapOf(members_);
  }

  // The placements of both layers in person order.
  static Placements Merged(const Layer& a, const Layer& b) {
    Placements merged;
    merged.persons.reserve(a.persons() + b.persons());
    merged.person_of.reserve(a.placements() + b.placements());
    merged.address_of.reserve(a.placements() + b.placements());
    auto add = [&](const Layer& layer, uint32_t person) {
      for (uint32_t home : layer.HomesOf(person)) {
        merged.Add(layer.person(person), layer.household(home));
      }
    };
    uint32_t i = 0, j = 0;
    while (i < a.persons() || j < b.persons()) {
      if (j == b.persons() || (i < a.persons() && a.person(i) <= b.person(j))) {
        add(a, i++);
      } else {
        add(b, j++);
      }
    }
    return merged;
  }

 private:
  static constexpr uint32_t kNone = 0xffffffffu;

  SortedTokens persons_;
  std::vector<uint32_t> homes_;    // per person: its household, or kSeveral | offset
  std::vector<uint32_t> several_;  // at an offset: how many households, then their numbers
  SortedTokens households_;
  std::vector<uint32_t> member_begin_;  // per household, and the end
  std::vector<uint32_t> members_;       // person numbers
};

namespace {

// How many leading bytes of the token split the register into scan ranges.
std::string RangeBound(size_t range, size_t ranges) {
  if (range == 0 || range == ranges) return {};  // unbounded
  const uint32_t top = static_cast<uint32_t>(range * 65536 / ranges);
  std::string bound(sizeof(TokenKey), '\0');
  bound[0] = static_cast<char>(top >> 8);
  bound[1] = static_cast<char>(top & 0xff);
  return bound;
}

// Appends `part` to `whole` and frees it.
template <typename T>
void Append(std::vector<T>* whole, std::vector<T>* part) {
  whole->insert(whole->end(), part->begin(), part->end());
  WipeAndFree(part);
}

// What one thread read from one token range of the register.
struct RangeScan {
  Placements placed;
  uint64_t records = 0;
};

absl::Status ScanRange(const LinkerStore& store, const std::string& covenant,
                       const policy::FamilyRegister& family, int day, const std::string& begin,
                       const std::string& end, const std::atomic<bool>* cancel, RangeScan* out) {
  std::map<std::string, PeriodSlots, std::less<>> batches;
  v1::Record record;
  std::unique_ptr<RecordCursor> cursor =
      store.NewRecordCursor(covenant, family.dataset, begin, end);
  for (; cursor->Valid(); cursor->Next()) {
    if ((out->records++ & 1023) == 0 && cancel != nullptr && cancel->load()) {
      return absl::CancelledError(
          fmt::format("covenant {}: building the household index was stopped", covenant));
    }
    auto batch = batches.find(cursor->batch_id());
    if (batch == batches.end()) {
      ASSIGN_OR_RETURN(v1::BatchHeader header, store.FindBatchHeader(covenant, cursor->batch_id()));
      batch = batches.emplace(std::string(cursor->batch_id()), SlotsOf(header, family)).first;
    }
    if (batch->second.from < 0) continue;  // delivered without the address period: places no one
    RETURN_IF_ERROR(ParseStoredRecord(cursor->value(), &record));
    std::optional<RegisterEntry> entry = EntryOf(record, batch->second);
    if (entry.has_value() && PlacesOn(*entry, day)) out->placed.Add(entry->person, entry->address);
  }
  return cursor->status();
}

}  // namespace

absl::StatusOr<HouseholdIndex> HouseholdIndex::Build(const LinkerStore& store,
                                                     const std::string& covenant,
                                                     const policy::FamilyRegister& family,
                                                     const Secret& /*data_key*/, int day,
                                                     const BuildOptions& options) {
  const size_t threads = options.threads > 0 ? static_cast<size_t>(options.threads)
                                             : std::max(1u, std::thread::hardware_concurrency());
  std::unique_ptr<WorkerPool> pool;  // none for one thread: the caller scans every range
  if (threads > 1) pool = std::make_unique<WorkerPool>(threads - 1);
  const size_t ranges = 4 * threads;
  std::vector<RangeScan> scans(ranges);
  const absl::Status scanned =
      ParallelFor(pool.get(), ranges, 1, [&](size_t begin, size_t end) -> absl::Status {
        for (size_t r = begin; r < end; ++r) {
          RETURN_IF_ERROR(ScanRange(store, covenant, family, day, RangeBound(r, ranges),
                                    RangeBound(r + 1, ranges), options.cancel, &scans[r]));
        }
        return absl::OkStatus();
      });
  pool.reset();
  RETURN_IF_ERROR(scanned);

  HouseholdIndex index;
  index.day_ = day;
  Placements placed;  // the ranges in token order, so in person order
  size_t persons = 0, placements = 0;
  for (const RangeScan& scan : scans) {
    index.register_records_ += scan.records;
    persons += scan.placed.persons.size();
    placements += scan.placed.person_of.size();
  }
  if (index.register_records_ == 0 && !options.empty_register_is_ok) {
    return absl::NotFoundError(fmt::format(
        "covenant {}: the register '{}' holds no records yet; a household release needs it",
        covenant, family.dataset));
  }
  // One column at a time, each range's part freed as it is appended: at most the ranges and
  // one column of the whole are alive at once, not the ranges and all of it.
  std::vector<uint32_t> first_person(ranges);
  placed.persons.reserve(persons);
  for (size_t r = 0; r < ranges; ++r) {
    first_person[r] = static_cast<uint32_t>(placed.persons.size());
    Append(&placed.persons, &scans[r].placed.persons);
  }
  placed.person_of.reserve(placements);
  for (size_t r = 0; r < ranges; ++r) {
    for (uint32_t person : scans[r].placed.person_of) {
      placed.person_of.push_back(first_person[r] + person);
    }
    std::vector<uint32_t>().swap(scans[r].placed.person_of);
  }
  placed.address_of.reserve(placements);
  for (RangeScan& scan : scans) Append(&placed.address_of, &scan.placed.address_of);
  std::vector<RangeScan>().swap(scans);
  index.persons_ = placed.persons.size();
  if (!placed.persons.empty()) {
    index.layers_.push_back(std::make_shared<const Layer>(std::move(placed)));
  }
  return index;
}

HouseholdIndex HouseholdIndex::Empty(int day) {
  HouseholdIndex index;
  index.day_ = day;
  return index;
}

absl::StatusOr<std::vector<RegisterEntry>> HouseholdIndex::ReadBatch(
    const v1::BatchHeader& header, const std::vector<StoredRecord>& records,
    const policy::FamilyRegister& family, const Secret& /*data_key*/) {
  std::vector<RegisterEntry> entries;
  const PeriodSlots slots = SlotsOf(header, family);
  if (slots.from < 0) return entries;
  v1::Record record;
  absl::Status status;
  for (const StoredRecord& stored : records) {
    status = ParseStoredRecord(stored.value, &record);
    if (!status.ok()) break;
    if (std::optional<RegisterEntry> entry = EntryOf(record, slots)) entries.push_back(*entry);
  }
  RETURN_IF_ERROR(status);
  return entries;
}

HouseholdIndex HouseholdIndex::With(const std::vector<RegisterEntry>& entries,
                                    uint64_t records) const {
  HouseholdIndex next = *this;
  next.register_records_ += records;
  std::vector<std::pair<TokenKey, TokenKey>> placed;
  for (const RegisterEntry& entry : entries) {
    if (PlacesOn(entry, day_)) placed.emplace_back(entry.person, entry.address);
  }
  if (placed.empty()) return next;
  std::sort(placed.begin(), placed.end());
  Placements placements;
  for (const auto& [person, address] : placed) placements.Add(person, address);
  WipeAndFree(&placed);
  for (const TokenKey& person : placements.persons) {
    bool known = false;
    for (const auto& layer : layers_) known = known || layer->FindPerson(person).has_value();
    if (!known) ++next.persons_;
  }
  next.layers_.push_back(std::make_shared<const Layer>(std::move(placements)));
  // Merge while the last layer is at least a quarter of the one before: at most log4 of the
  // batches' layers, and each placement merged a few times per fourfold growth.
  std::vector<std::shared_ptr<const Layer>>& layers = next.layers_;
  while (layers.size() >= 2 &&
         layers[layers.size() - 2]->placements() <= 4 * layers.back()->placements()) {
    auto merged =
        std::make_shared<const Layer>(Layer::Merged(*layers[layers.size() - 2], *layers.back()));
    layers.pop_back();
    layers.back() = std::move(merged);
  }
  return next;
}

std::vector<std::string> HouseholdIndex::Family(const std::string& person) const {
  if (person.size() != sizeof(TokenKey)) return {person};
  const TokenKey key = KeyOf(person);
  // The person's addresses in every layer.
  std::vector<const TokenKey*> addresses;
  for (const auto& layer : layers_) {
    std::optional<uint32_t> found = layer->FindPerson(key);
    if (!found.has_value()) continue;
    for (uint32_t home : layer->HomesOf(*found)) {
      const TokenKey* address = &layer->household(home);
      if (std::none_of(addresses.begin(), addresses.end(),
                       [&](const TokenKey* a) { return *a == *address; })) {
        addresses.push_back(address);
      }
    }
  }
  if (addresses.empty()) return {person};
  // Their members in every layer; a person twice only when two runs were joined.
  std::vector<const TokenKey*> members;
  size_t runs = 0;
  for (const TokenKey* address : addresses) {
    for (const auto& layer : layers_) {
      std::optional<uint32_t> household = layer->FindHousehold(*address);
      if (!household.has_value()) continue;
      ++runs;
      for (uint32_t member : layer->MembersOf(*household))
        members.push_back(&layer->person(member));
    }
  }
  if (runs > 1) {
    std::sort(members.begin(), members.end(),
              [](const TokenKey* a, const TokenKey* b) { return *a < *b; });
    members.erase(std::unique(members.begin(), members.end(),
                              [](const TokenKey* a, const TokenKey* b) { return *a == *b; }),
                  members.end());
  }
  std::vector<std::string> family;
  family.reserve(members.size());
  for (const TokenKey* member : members) family.emplace_back(View(*member));
  return family;
}

size_t HouseholdIndex::bytes() const {
  size_t bytes = 0;
  for (const auto& layer : layers_) bytes += layer->bytes();
  return bytes;
}

}  // namespace koppel::linker
