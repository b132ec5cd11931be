#include "linker/analysis/analysis_scanner.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <deque>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "core/status_macros.h"
#include "linker/analysis/engine_limits.h"

namespace koppel::analysis {
namespace {

constexpr size_t kMaxAreas = EngineLimits::kAreas;  // area indices are 16 bits

using Token = std::array<char, RecordScan::kTokenBytes>;

Token ToToken(std::string_view bytes) {
  Token token{};
  std::memcpy(token.data(), bytes.data(), std::min(bytes.size(), token.size()));
  return token;
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
    case v1::Value::kInteger:
      return static_cast<double>(value->integer());
    case v1::Value::kAmountCents:
      return static_cast<double>(value->amount_cents()) / 100.0;
    case v1::Value::kYear:
      return static_cast<double>(value->year());
    case v1::Value::kDateDays:
      return static_cast<double>(value->date_days());
    default:
      return std::nullopt;
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
    case PeriodKind::kAlways:
      return 1;
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

bool InScope(MemberScope scope, bool adult) {
  return scope == MemberScope::kAny || (scope == MemberScope::kAdults) == adult;
}

bool LogsCohortEvents(const IndicatorPlan& indicator) {
  return indicator.cohort || !indicator.outcomes.empty();
}

// Logs the cost-benefit events of one record of `household` (on the first reference date) that
// passes `indicator`'s filters and member scope: its outcomes' events whatever its period, and,
// when the indicator's period holds too (`in_period`), the cohort's start and amounts.
void LogCohortEvents(const IndicatorPlan& indicator, const ResolvedBatch& batch,
                     const v1::Record& record, const HouseholdKey& household, bool in_period,
                     size_t outcomes, const YearWindow& outcome_days,
                     std::deque<CohortEvent>* log) {
  if (indicator.cohort && in_period) {
    if (std::optional<int> start = DaysOf(ValueAt(batch, record, indicator.start_slot))) {
      log->push_back({household, *start, *start, 0, CohortEvent::kStart});
    }
    for (const InterventionAmountUse& use : indicator.intervention_amounts) {
      std::optional<double> amount = NumberOf(ValueAt(batch, record, use.amount_slot));
      if (!amount) continue;
      log->push_back({household, 0, 0, std::llround(*amount * 100),
                      static_cast<uint16_t>(outcomes + use.cost)});
    }
  }
  for (const OutcomeUse& use : indicator.outcomes) {
    std::optional<int> from = DaysOf(ValueAt(batch, record, indicator.from_slot));
    if (!from) continue;
    int last = *from;
    if (indicator.spec->period.kind == PeriodKind::kSpell) {
      last = DaysOf(ValueAt(batch, record, indicator.to_slot)).value_or(CohortEvent::kRunning);
    }
    if (last < outcome_days.first || *from > outcome_days.last) continue;  // no start reaches it
    int64_t cents = 0;
    if (use.volume == OutcomeSpec::Volume::kAmount) {
      std::optional<double> amount = NumberOf(ValueAt(batch, record, use.amount_slot));
      if (!amount) continue;
      cents = std::llround(*amount * 100);
    }
    log->push_back({household, *from, last, cents, static_cast<uint16_t>(use.outcome)});
  }
}

}  // namespace

void YearCoverage::Need(int year) {
  if (std::find(years_.begin(), years_.end(), year) == years_.end()) {
    years_.push_back(year);
    seen_.push_back(0);
    ++missing_;
  }
}

void YearCoverage::Note(const IndicatorPlan& indicator, const ResolvedBatch& batch,
                        const v1::Record& record) {
  if (missing_ == 0 || indicator.spec->period.kind == PeriodKind::kAlways) return;
  for (size_t y = 0; y < years_.size(); ++y) {
    if (!seen_[y] && DaysInWindow(indicator, batch, record, WindowOf(years_[y])) > 0) {
      seen_[y] = 1;
      --missing_;
    }
  }
}

bool YearCoverage::Needs(int year) const {
  return std::find(years_.begin(), years_.end(), year) != years_.end();
}

bool YearCoverage::Seen(int year) const {
  for (size_t y = 0; y < years_.size(); ++y) {
    if (years_[y] == year) return seen_[y] != 0;
  }
  return false;
}

void YearCoverage::Add(const YearCoverage& other) {
  for (size_t y = 0; y < years_.size(); ++y) {
    if (!seen_[y] && other.Seen(years_[y])) {
      seen_[y] = 1;
      --missing_;
    }
  }
}

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
    if (code == nullptr || code->kind_case() != v1::Value::kCode ||
        code->code() >= by_code.size()) {
      return 0;
    }
    price = by_code[code->code()];
  }
  switch (cost.volume) {
    case CostItemSpec::Volume::kRecords:
      return price;
    case CostItemSpec::Volume::kDaysInYear:
      return days * price;
    case CostItemSpec::Volume::kAmount:
      return NumberOf(ValueAt(batch, record, cost.amount_slot)).value_or(0);
    case CostItemSpec::Volume::kUnits:
      return 0;  // once per household, when atoms are built
  }
  return 0;
}

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
    entries.push_back(
        {household, static_cast<uint16_t>(date), static_cast<uint16_t>(added.size())});
    volumes.insert(volumes.end(), added.begin(), added.end());
  }
};

// A person on one reference date.
template <size_t W>
struct MembershipT {
  bool member = false;
  HouseholdKey household{};
  uint16_t area = 0;
  bool adult = false;
  IndicatorBits<W> indicators;
  std::vector<std::pair<uint16_t, double>> volumes;
};

// The batches one range's scan of one dataset has met: most records need one comparison of
// their batch id with the last record's, the rest a lookup without a lock or an allocation.
class BatchCache {
 public:
  using Id = std::array<char, RecordScan::kBatchIdBytes>;
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
  VolumeLog volumes;                                 // person scans only
  std::deque<CohortEvent> cohort_events;             // cost-benefit specs only
  // Scratch of the person being evaluated, reused from person to person.
  std::vector<MembershipT<W>> membership;
  std::vector<char> has_matching_record;
};

template <size_t W>
AnalysisScanner<W>::AnalysisScanner(const RecordSource* source, const AnalysisSpec& spec,
                                    const AnalysisPlan& plan, const PriceTable& prices,
                                    const EngineOptions& options, ProgressReporter* progress)
    : source_(source),
      spec_(spec),
      plan_(plan),
      prices_(prices),
      options_(options),
      progress_(progress),
      resolved_(plan.datasets.size()) {
  for (const DatasetPlan& dataset : plan_.datasets) {
    YearCoverage& coverage = coverage_[dataset.name];
    auto years = plan_.years_needed.find(dataset.name);
    if (years == plan_.years_needed.end()) continue;
    for (int year : years->second) coverage.Need(year);
  }
  households_.resize(spec_.reference_dates.size());
  homeless_with_records_.assign(spec_.reference_dates.size(), 0);
}

template <size_t W>
AnalysisScanner<W>::~AnalysisScanner() = default;

template <size_t W>
void AnalysisScanner<W>::Reserve(size_t households) {
  for (auto& date : households_) date.Reserve(households);
}

template <size_t W>
absl::Status AnalysisScanner<W>::Scan(const RecordSnapshot& snapshot) {
  snapshot_ = &snapshot;
  if (Ranges() > 1) pool_ = std::make_unique<WorkerPool>(Ranges() - 1);
  absl::Status status = ScanPersons();
  for (size_t p = 0; p < plan_.datasets.size() && status.ok(); ++p) {
    const DatasetPlan& plan = plan_.datasets[p];
    bool address_keyed = false;
    {
      absl::MutexLock lock(&resolve_mutex_);
      if (resolved_[p].empty()) continue;
      address_keyed = !resolved_[p].begin()->second.has_bsn;
    }
    if (address_keyed && !plan.is_register) status = ScanAddresses(plan);
  }
  snapshot_ = nullptr;
  pool_.reset();
  return status;
}

template <size_t W>
bool AnalysisScanner<W>::Allowed(std::string_view batch_id) const {
  return options_.only_batches == nullptr ||
         options_.only_batches->contains(absl::string_view(batch_id.data(), batch_id.size()));
}

template <size_t W>
std::set<std::string> AnalysisScanner<W>::PriceCodes(const std::string& dataset,
                                                     size_t item) const {
  absl::MutexLock lock(&resolve_mutex_);
  std::set<std::string> codes;
  for (size_t p = 0; p < plan_.datasets.size(); ++p) {
    if (plan_.datasets[p].name != dataset) continue;
    for (const auto& [id, batch] : resolved_[p]) {
      if (batch.left_out) continue;
      auto of_item = batch.price_codes.find(item);
      if (of_item != batch.price_codes.end()) {
        codes.insert(of_item->second.begin(), of_item->second.end());
      }
    }
  }
  return codes;
}

template <size_t W>
absl::StatusOr<const ResolvedBatch*> AnalysisScanner<W>::Batch(const DatasetPlan& plan,
                                                               std::string_view batch_id) {
  ResolvedBatches& cache = resolved_[IndexOf(plan)];
  auto it = cache.find(absl::string_view(batch_id.data(), batch_id.size()));
  if (it != cache.end()) return &it->second;
  ASSIGN_OR_RETURN(v1::BatchHeader header, source_->FindBatchHeader(batch_id));
  absl::StatusOr<ResolvedBatch> resolved =
      ResolveBatch(plan, header, prices_, options_.check_attribute_use);
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
        header.attributes(batch.value_index[static_cast<size_t>(plan_.register_slots.area)]);
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
absl::StatusOr<const ResolvedBatch*> AnalysisScanner<W>::Meet(const DatasetPlan& plan,
                                                              BatchCache& cache,
                                                              std::string_view batch_id,
                                                              State& state) {
  if (const BatchCache::Entry* known = cache.Find(batch_id)) return known->batch;
  BatchCache::Entry entry;
  if (Allowed(batch_id)) {
    absl::MutexLock lock(&resolve_mutex_);
    ASSIGN_OR_RETURN(entry.batch, Batch(plan, batch_id));
  }
  if (entry.batch != nullptr && entry.batch->left_out) entry.batch = nullptr;
  if (entry.batch != nullptr) state.first_read[IndexOf(plan)].emplace_back(batch_id);
  return cache.Add(batch_id, entry)->batch;
}

template <size_t W>
absl::Status AnalysisScanner<W>::Open(const RecordScan& scan, v1::Record* record, State& state) {
  RETURN_IF_ERROR(scan.Read(record));
  ++state.records;
  // The progress line counts every range's records; its reporter is not thread-safe.
  if (progress_ && ++state.unreported == 64) {
    const uint64_t done = records_progress_.fetch_add(state.unreported) + state.unreported;
    state.unreported = 0;
    if (progress_mutex_.TryLock()) {
      progress_->Update(done, done);
      progress_mutex_.Unlock();
    }
  }
  return absl::OkStatus();
}

template <size_t W>
size_t AnalysisScanner<W>::Ranges() const {
  constexpr int kMaxRanges = 64;  // boundaries are whole first bytes of the token
  int threads = options_.scan_threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return static_cast<size_t>(std::min(threads, kMaxRanges));
}

template <size_t W>
RangeState<W> AnalysisScanner<W>::NewState(size_t range) const {
  State state;
  state.range = range;
  for (const DatasetPlan& plan : plan_.datasets) state.coverage.push_back(coverage_.at(plan.name));
  state.homeless_with_records.assign(plan_.reference_days.size(), 0);
  state.first_read.resize(plan_.datasets.size());
  return state;
}

template <size_t W>
absl::Status AnalysisScanner<W>::ForEachRange(
    std::vector<State>* states,
    const std::function<absl::Status(std::string_view, std::string_view, State&)>& scan) {
  const size_t ranges = Ranges();
  states->clear();
  for (size_t r = 0; r < ranges; ++r) states->push_back(NewState(r));
  // Range r holds the tokens whose first byte is in [256 r / ranges, 256 (r + 1) / ranges).
  auto bound = [ranges](size_t r) {
    return r == 0 || r == ranges ? std::string()
                                 : std::string(1, static_cast<char>(256 * r / ranges));
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
absl::Status AnalysisScanner<W>::Merge(std::vector<State>& states) {
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
    cohort_events_.insert(cohort_events_.end(), state.cohort_events.begin(),
                          state.cohort_events.end());
    state.cohort_events = {};
    records_read_ += state.records;
    for (size_t d = 0; d < homeless_with_records_.size(); ++d) {
      homeless_with_records_[d] += state.homeless_with_records[d];
    }
    for (size_t p = 0; p < plan_.datasets.size(); ++p) {
      coverage_[plan_.datasets[p].name].Add(state.coverage[p]);
      batches_read_[plan_.datasets[p].name].insert(state.first_read[p].begin(),
                                                   state.first_read[p].end());
    }
  }
  return absl::OkStatus();
}

template <size_t W>
void AnalysisScanner<W>::NumberAreas(const std::vector<State>& states) {
  absl::MutexLock lock(&resolve_mutex_);
  // One thread would have met the register's batches in token order, the ranges' in turn.
  std::vector<std::string> codes;
  std::map<std::string, uint16_t> index;
  for (const State& state : states) {
    for (const std::string& id : state.first_read[0]) {
      for (const std::string& code : resolved_[0].at(id).area_codes) {
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
      for (auto& [key, household] : date.At(s).households)
        household.area = renumbered[household.area];
    }
  }
  area_codes_ = std::move(codes);
  area_index_ = std::move(index);
}

template <size_t W>
void AnalysisScanner<W>::EvaluatePerson(const PersonGroups& groups, State& state) {
  const size_t dates = plan_.reference_days.size();
  std::vector<MembershipT<W>>& membership = state.membership;
  membership.resize(dates);
  for (MembershipT<W>& m : membership) {
    m.member = false;
    m.indicators.Clear();
    m.volumes.clear();
  }
  // The register: where the person lives on each date, birth date, moves.
  const auto& register_rows = groups[0].second->rows();
  std::optional<int> birth;
  for (const auto& [batch, record] : register_rows) {
    if (auto day = DaysOf(ValueAt(*batch, *record, plan_.register_slots.birth))) birth = *day;
  }
  const bool snapshot = spec_.snapshot.has_value();  // every row a member on its only date
  for (size_t d = 0; d < dates; ++d) {
    int best_from = INT32_MIN;
    for (const auto& [batch, record] : register_rows) {
      std::optional<int> from = snapshot
                                    ? std::optional<int>(plan_.reference_days[d])
                                    : DaysOf(ValueAt(*batch, *record, plan_.register_slots.from));
      std::optional<int> to =
          snapshot ? std::nullopt : DaysOf(ValueAt(*batch, *record, plan_.register_slots.to));
      const v1::Value* area = ValueAt(*batch, *record, plan_.register_slots.area);
      std::optional<int> born = DaysOf(ValueAt(*batch, *record, plan_.register_slots.birth));
      if (!from || *from > plan_.reference_days[d] || (to && *to <= plan_.reference_days[d]))
        continue;
      if (record->address_token().size() != RecordScan::kTokenBytes || area == nullptr ||
          area->kind_case() != v1::Value::kCode || area->code() >= batch->area_codes.size() ||
          !born) {
        continue;
      }
      if (*from < best_from) continue;
      best_from = *from;
      MembershipT<W>& m = membership[d];
      m.member = true;
      m.household = HouseholdKeyOf(record->address_token());
      m.area = batch->area_index[area->code()];
      m.adult = AgeOn(DayFromDays(*born), spec_.reference_dates[d]) >= spec_.adult_age;
    }
  }
  // The households' slots are fetched into the cache while the person's records are evaluated.
  for (size_t d = 0; d < dates; ++d) {
    if (!membership[d].member) continue;
    auto& shard = households_[d].Of(membership[d].household);
    absl::MutexLock lock(&shard.mutex);
    shard.households.prefetch(membership[d].household);
  }
  // Register indicators (moves).
  for (size_t i = 0; i < spec_.indicators.size(); ++i) {
    const IndicatorSpec& indicator = spec_.indicators[i];
    if (!indicator.min_moves) continue;
    for (size_t d = 0; d < dates; ++d) {
      const YearWindow& window = plan_.windows[i][d];
      int64_t moves = 0;
      for (const auto& [batch, record] : register_rows) {
        if (plan_.register_slots.moves >= 0) {  // a snapshot's count of moves in its year
          const v1::Value* count = ValueAt(*batch, *record, plan_.register_slots.moves);
          if (count != nullptr && count->kind_case() == v1::Value::kInteger) {
            moves = std::max(moves, count->integer());
          }
          continue;
        }
        std::optional<int> from = DaysOf(ValueAt(*batch, *record, plan_.register_slots.from));
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
    const DatasetPlan& plan = *groups[g].first;
    YearCoverage& coverage = state.coverage[IndexOf(plan)];
    for (const auto& [batch, record_pointer] : groups[g].second->rows()) {
      const v1::Record& record = *record_pointer;
      for (size_t position = 0; position < plan.indicators.size(); ++position) {
        const IndicatorPlan& indicator = plan.indicators[position];
        coverage.Note(indicator, *batch, record);
        if (!PassesFilters(indicator, position, *batch, record)) continue;
        if (LogsCohortEvents(indicator) && membership[0].member &&
            InScope(indicator.spec->members, membership[0].adult)) {
          const bool in_period =
              DaysInWindow(indicator, *batch, record, plan_.windows[indicator.index][0]) > 0;
          LogCohortEvents(indicator, *batch, record, membership[0].household, in_period,
                          spec_.cost_benefit->outcomes.size(), plan_.outcome_days,
                          &state.cohort_events);
        }
        for (size_t d = 0; d < dates; ++d) {
          const int days =
              DaysInWindow(indicator, *batch, record, plan_.windows[indicator.index][d]);
          if (days == 0) continue;
          has_matching_record[d] = 1;
          MembershipT<W>& m = membership[d];
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
    MembershipT<W>& m = membership[d];
    if (!m.member) {
      if (has_matching_record[d]) ++state.homeless_with_records[d];
      continue;
    }
    auto& shard = households_[d].Of(m.household);
    {
      absl::MutexLock lock(&shard.mutex);
      auto [it, inserted] = shard.households.try_emplace(m.household);
      HouseholdAccumulatorT<W>& household = it->second;
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
absl::Status AnalysisScanner<W>::ScanPersons() {
  // The person-keyed datasets, the register first.
  std::vector<const DatasetPlan*> person_plans;
  for (const DatasetPlan& plan : plan_.datasets) {
    std::unique_ptr<RecordScan> cursor = snapshot_->Scan(plan.name, {}, {});
    // Only batches of this run's data version say how the dataset is keyed.
    while (cursor->Valid() && !Allowed(cursor->batch_id())) cursor->Next();
    if (!cursor->Valid()) {
      RETURN_IF_ERROR(cursor->status());
      if (plan.is_register) {
        return absl::FailedPreconditionError(fmt::format(
            "the population register '{}' has not been delivered under covenant '{}'; the "
            "analysis needs it for households",
            plan.name, source_->covenant()));
      }
      continue;  // reported as a dataset without records
    }
    const ResolvedBatch* first = nullptr;
    {
      absl::MutexLock lock(&resolve_mutex_);
      ASSIGN_OR_RETURN(first, Batch(plan, cursor->batch_id()));
    }
    if (!first->has_bsn && !plan.is_register) continue;  // address-keyed: joined later
    person_plans.push_back(&plan);
  }
  std::vector<State> states;
  RETURN_IF_ERROR(
      ForEachRange(&states, [&](std::string_view begin, std::string_view end, State& state) {
        return ScanPersonRange(person_plans, begin, end, state);
      }));
  NumberAreas(states);
  return Merge(states);
}

template <size_t W>
absl::Status AnalysisScanner<W>::ScanPersonRange(const std::vector<const DatasetPlan*>& plans,
                                                 std::string_view begin, std::string_view end,
                                                 State& state) {
  struct Source {
    const DatasetPlan* plan;
    std::unique_ptr<RecordScan> cursor;
    BatchCache batches;
  };
  if (options_.range_opening) options_.range_opening(state.range);
  std::vector<Source> sources;
  for (const DatasetPlan* plan : plans) {
    sources.push_back({plan, snapshot_->Scan(plan->name, begin, end), {}});
  }
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
      RecordScan& cursor = *sources[s].cursor;
      for (; cursor.Valid() && cursor.token() == person_view; cursor.Next()) {
        absl::StatusOr<const ResolvedBatch*> batch =
            Meet(*sources[s].plan, sources[s].batches, cursor.batch_id(), state);
        if (!batch.ok()) {
          status = batch.status();
          break;
        }
        if (*batch == nullptr) continue;
        v1::Record* record = group.Scratch();
        status = Open(cursor, record, state);
        if (!status.ok()) break;
        // A repeated row (the agent seals duplicates) counts once.
        group.Keep(*batch, cursor.value());
      }
      if (status.ok()) status = cursor.status();
    }
    if (status.ok()) EvaluatePerson(groups, state);
  }
  return status;
}

template <size_t W>
absl::Status AnalysisScanner<W>::ScanAddresses(const DatasetPlan& plan) {
  std::vector<State> states;
  RETURN_IF_ERROR(
      ForEachRange(&states, [&](std::string_view begin, std::string_view end, State& state) {
        return ScanAddressRange(plan, begin, end, state);
      }));
  return Merge(states);
}

// Households are found, not added, and a range's households lie in shards of its own: the
// ranges change disjoint households without a lock.
template <size_t W>
absl::Status AnalysisScanner<W>::ScanAddressRange(const DatasetPlan& plan, std::string_view begin,
                                                  std::string_view end, State& state) {
  if (options_.range_opening) options_.range_opening(state.range);
  std::unique_ptr<RecordScan> cursor = snapshot_->Scan(plan.name, begin, end);
  RecordGroup group;
  BatchCache batches;
  YearCoverage& coverage = state.coverage[IndexOf(plan)];
  HouseholdKey current{};
  absl::Status status;
  for (; cursor->Valid() && status.ok(); cursor->Next()) {
    if (stop_.load(std::memory_order_relaxed)) break;
    absl::StatusOr<const ResolvedBatch*> resolved = Meet(plan, batches, cursor->batch_id(), state);
    if (!resolved.ok()) {
      status = resolved.status();
      break;
    }
    const ResolvedBatch* batch = *resolved;
    if (batch == nullptr) continue;
    if (batch->has_bsn) {
      status = absl::FailedPreconditionError(
          fmt::format("dataset '{}' mixes batches keyed by BSN and by address only", plan.name));
      break;
    }
    const HouseholdKey household = HouseholdKeyOf(cursor->token());
    if (household != current) {
      current = household;
      group.Clear();
    }
    v1::Record* scratch = group.Scratch();
    status = Open(*cursor, scratch, state);
    if (!status.ok()) break;
    if (!group.Keep(batch, cursor->value())) continue;
    const v1::Record& record = *scratch;
    for (size_t position = 0; position < plan.indicators.size(); ++position) {
      const IndicatorPlan& indicator = plan.indicators[position];
      coverage.Note(indicator, *batch, record);
      if (!PassesFilters(indicator, position, *batch, record)) continue;
      if (LogsCohortEvents(indicator) &&
          households_[0].Of(household).households.contains(household)) {
        const bool in_period =
            DaysInWindow(indicator, *batch, record, plan_.windows[indicator.index][0]) > 0;
        LogCohortEvents(indicator, *batch, record, household, in_period,
                        spec_.cost_benefit->outcomes.size(), plan_.outcome_days,
                        &state.cohort_events);
      }
      for (size_t d = 0; d < plan_.reference_days.size(); ++d) {
        const int days = DaysInWindow(indicator, *batch, record, plan_.windows[indicator.index][d]);
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
  if (!status.ok()) return status;
  return cursor->status();
}

template class AnalysisScanner<1>;
template class AnalysisScanner<2>;
template class AnalysisScanner<4>;
template class AnalysisScanner<8>;

}  // namespace koppel::analysis
