#include "linker/flag_responder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/log_safe.h"
#include "core/refusal.h"
#include "core/status_macros.h"
#include "linker/key_epochs.h"

namespace koppel::linker {
namespace {

constexpr size_t kTokenBytes = 32;

int Today() { return static_cast<int>(absl::ToUnixSeconds(absl::Now()) / (24 * 60 * 60)); }

// Re-keyed tokens are pseudonyms of the recipient's clients; they leave memory wiped.
class WipedTokens {
 public:
  explicit WipedTokens(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}
  ~WipedTokens() {
    for (std::string& token : tokens_) sodium_memzero(token.data(), token.size());
  }
  WipedTokens(const WipedTokens&) = delete;
  WipedTokens& operator=(const WipedTokens&) = delete;
  const std::vector<std::string>& get() const { return tokens_; }

 private:
  std::vector<std::string> tokens_;
};

}  // namespace

absl::StatusOr<v1::AskFlagsResponse> FlagResponder::Answer(const std::string& caller,
                                                           const v1::AskFlagsRequest& request,
                                                           absl::Time deadline) const {
  if (request.covenant_id() != covenant_->id) {
    return WithServiceRule(
        absl::PermissionDeniedError(fmt::format(
            "this linker answers purpose-bound releases of covenant '{}', not '{}' (rule: data "
            "stays bound to its covenant); ask with --covenant-id {}",
            covenant_->id, request.covenant_id(), covenant_->id)),
        "covenant_binding", covenant_->id);
  }
  const std::vector<std::string> asked(request.flags().begin(), request.flags().end());
  ASSIGN_OR_RETURN(const policy::PurposeBoundRelease* release,
                   covenant_->MayReceiveRelease(caller, request.release(), asked));
  if (std::set<std::string>(asked.begin(), asked.end()).size() != asked.size()) {
    return absl::InvalidArgumentError(fmt::format(
        "release '{}': a flag is asked more than once; ask each flag once", release->name));
  }

  const int token_count = request.tokens_size();
  if (token_count < 1 || token_count > kMaxTokensPerCall) {
    return absl::InvalidArgumentError(fmt::format(
        "release '{}': a request carries 1 to {} tokens, this one has {}; split it into chunks",
        release->name, kMaxTokensPerCall, token_count));
  }
  for (int i = 0; i < token_count; ++i) {
    const size_t size = request.tokens(i).size();
    if (size != kTokenBytes) {
      return absl::InvalidArgumentError(fmt::format(
          "release '{}': token {} of the request is {} bytes, a person token is {} bytes; send "
          "the agent's BSN tokens unchanged",
          release->name, i + 1, size, kTokenBytes));
    }
  }

  // The flags answered, in the order asked, or the order the covenant lists them.
  std::vector<const policy::ReleaseFlag*> flags;
  if (asked.empty()) {
    for (const policy::ReleaseFlag& flag : release->flags) flags.push_back(&flag);
  } else {
    for (const std::string& name : asked) {
      for (const policy::ReleaseFlag& flag : release->flags) {
        if (flag.name == name) flags.push_back(&flag);
      }
    }
  }
  if (flags.size() != (asked.empty() ? release->flags.size() : asked.size())) {
    return absl::InternalError(
        fmt::format("release '{}': the covenant check let through a flag the release does not list",
                    release->name));
  }

  // The tokens are of one key epoch; records of another carry other tokens and never match.
  // Refused when the recipient's own dataset holds records, but none of that epoch.
  ASSIGN_OR_RETURN(HeldEpochs held, store_->Epochs(covenant_->id));
  const KeyEpochs epochs(covenant_->id, std::move(held));
  const uint32_t epoch = request.key_epoch() != 0 ? request.key_epoch() : epochs.newest();
  if (!epochs.Of(release->dataset).empty() && !epochs.Holds(release->dataset, epoch)) {
    return absl::FailedPreconditionError(fmt::format(
        "release '{}': the linker holds no records of your dataset '{}' under key epoch {}, the "
        "epoch of the asked tokens (it holds epochs {}); deliver the dataset under key epoch {} "
        "first (koppel-agent seal and send), then ask again",
        release->name, release->dataset, epoch, fmt::join(epochs.Of(release->dataset), ", "),
        epoch));
  }
  std::vector<std::string> without_epoch;
  auto note_epoch = [&](const std::string& dataset) {
    if (epochs.Of(dataset).empty() || epochs.Holds(dataset, epoch)) return;
    if (std::find(without_epoch.begin(), without_epoch.end(), dataset) == without_epoch.end()) {
      without_epoch.push_back(dataset);
    }
  };
  for (const policy::ReleaseFlag* flag : flags) note_epoch(flag->dataset);
  if (release->unit == "household") note_epoch(release->family.dataset);

  std::vector<std::string> rekeyed_tokens;
  rekeyed_tokens.reserve(static_cast<size_t>(token_count));
  for (const std::string& token : request.tokens()) {
    Digest256 rekeyed = rekey_->Mac(token);
    rekeyed_tokens.emplace_back(reinterpret_cast<const char*>(rekeyed.data()), rekeyed.size());
    sodium_memzero(rekeyed.data(), rekeyed.size());
  }
  const WipedTokens rekeyed(std::move(rekeyed_tokens));

  ASSIGN_OR_RETURN(std::vector<bool> delivered,
                   store_->HasTokens(covenant_->id, release->dataset, rekeyed.get()));
  // Only the recipient's own records are looked up in the flag datasets.
  std::vector<std::string> own;
  std::vector<size_t> own_index;
  for (size_t i = 0; i < delivered.size(); ++i) {
    if (!delivered[i]) continue;
    own.push_back(rekeyed.get()[i]);
    own_index.push_back(i);
  }
  // Who counts for a flag: the person, or everyone in its household.
  std::vector<std::string> looked_up;
  std::vector<size_t> looked_up_owner;  // index into own
  if (release->unit == "household" && !own.empty()) {
    ASSIGN_OR_RETURN(std::shared_ptr<const HouseholdIndex> households,
                     HouseholdsOf(*release, deadline));
    for (size_t k = 0; k < own.size(); ++k) {
      for (std::string& member : households->Family(own[k])) {
        looked_up.push_back(std::move(member));
        looked_up_owner.push_back(k);
      }
    }
  } else {
    looked_up = own;
    for (size_t k = 0; k < own.size(); ++k) looked_up_owner.push_back(k);
  }
  const WipedTokens own_tokens(std::move(own));
  const WipedTokens lookup_tokens(std::move(looked_up));
  std::vector<std::vector<bool>> raised;
  raised.reserve(flags.size());
  if (!own_index.empty()) {
    for (const policy::ReleaseFlag* flag : flags) {
      ASSIGN_OR_RETURN(std::vector<bool> found,
                       store_->HasTokens(covenant_->id, flag->dataset, lookup_tokens.get()));
      std::vector<bool> any(own_index.size(), false);
      for (size_t j = 0; j < found.size(); ++j) {
        if (found[j]) any[looked_up_owner[j]] = true;
      }
      raised.push_back(std::move(any));
    }
  }

  v1::AskFlagsResponse response;
  for (const policy::ReleaseFlag* flag : flags) response.add_flags(flag->name);
  response.set_covenant_version(covenant_->version);
  response.set_key_epoch(epoch);
  for (const std::string& dataset : without_epoch) response.add_datasets_without_epoch(dataset);
  for (int i = 0; i < token_count; ++i) response.add_answers();
  for (size_t k = 0; k < own_index.size(); ++k) {
    v1::FlagAnswer* answer = response.mutable_answers(static_cast<int>(own_index[k]));
    answer->set_delivered(true);
    for (const std::vector<bool>& found : raised) answer->add_flags(found[k]);
  }
  return response;
}

// One register's household index for the household releases that name it, kept by a thread of
// its own: it builds the index for a day when asked, then adds the register batches the ingester
// queues (a batch committed while a build runs is added when it is done; adding a batch the build
// already read changes nothing). Every batch queued gets a number, and the published index says
// up to which number it holds them, so that an answer waits for the batches committed before it
// was asked. Answers never build or add anything themselves.
class FlagResponder::Households {
 public:
  Households(std::string covenant, policy::FamilyRegister family, const Secret* data_key,
             const LinkerStore* store, const Options& options)
      : covenant_(std::move(covenant)),
        family_(std::move(family)),
        data_key_(data_key),
        store_(store),
        options_(options),
        worker_([this] { Run(); }) {}
  ~Households() { Stop(); }

  const policy::FamilyRegister& family() const { return family_; }

  // The index for `day` holding every batch queued so far, waited for until a second before
  // `deadline` and at most options.max_household_wait.
  absl::StatusOr<std::shared_ptr<const HouseholdIndex>> Get(int day, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    const uint64_t committed = queued_;  // the batches committed before the question
    const uint64_t failures = failures_;
    const absl::Time give_up =
        std::min(deadline - absl::Seconds(1), absl::Now() + options_.max_household_wait);
    for (;;) {
      PromoteLocked(day);
      if (CurrentLocked(day, committed)) {
        if (index_->register_records() == 0) {
          return absl::NotFoundError(fmt::format(
              "covenant {}: the register '{}' holds no records yet; a household release needs it",
              covenant_, family_.dataset));
        }
        return index_;
      }
      if (stopped_) {
        return absl::UnavailableError(fmt::format(
            "covenant {}: the household index is not built because the covenant is ending or "
            "the linker is stopping",
            covenant_));
      }
      if (failures_ != failures || (!building_.has_value() && BackingOffLocked(absl::Now()))) {
        return BuildFailedLocked();
      }
      wanted_day_ = day;
      work_.SignalAll();
      if (absl::Now() >= give_up || changed_.WaitWithDeadline(&mutex_, give_up)) {
        if (CurrentLocked(day, committed)) continue;
        if (!building_.has_value()) {
          return absl::UnavailableError(fmt::format(
              "covenant {}: the household index of the register '{}' is adding the latest "
              "register batches; ask again in a few seconds",
              covenant_, family_.dataset));
        }
        return absl::UnavailableError(fmt::format(
            "covenant {}: the household index of the register '{}' is being built ({:.0f} s so "
            "far); ask again in a few seconds",
            covenant_, family_.dataset, absl::ToDoubleSeconds(absl::Now() - build_started_)));
      }
    }
  }

  void Start(int day) ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    if (index_ != nullptr && index_->day() == day) return;
    wanted_day_ = day;
    work_.SignalAll();
  }

  // Queues the batch for the worker; only copies the records.
  void Add(const v1::BatchHeader& header, const std::vector<StoredRecord>& records)
      ABSL_LOCKS_EXCLUDED(mutex_) {
    if (header.dataset() != family_.dataset) return;
    absl::MutexLock lock(&mutex_);
    if (stopped_) return;
    const uint64_t number = ++queued_;
    // Without an index or a build running, the next build reads the batch from the store.
    if (index_ == nullptr && !building_.has_value()) return;
    if (rebuild_) return;  // the rebuild reads it from the store
    if (pending_records_ + records.size() > options_.max_queued_records) {
      spdlog::warn(
          "covenant {}: more than {} register records wait to be added to the household "
          "index; it is rebuilt from the store instead",
          covenant_, options_.max_queued_records);
      DropPendingLocked();
      rebuild_ = true;
      work_.SignalAll();
      return;
    }
    pending_.push_back({number, header, records});
    pending_records_ += records.size();
    work_.SignalAll();
  }

  void Stop() ABSL_LOCKS_EXCLUDED(mutex_, stop_mutex_) {
    {
      absl::MutexLock lock(&mutex_);
      stopped_ = true;
      DropPendingLocked();
    }
    cancel_.store(true);
    changed_.SignalAll();
    work_.SignalAll();
    absl::MutexLock stopping(&stop_mutex_);
    if (worker_.joinable()) worker_.join();
  }

 private:
  struct Pending {
    uint64_t number = 0;  // of the batches queued
    v1::BatchHeader header;
    std::vector<StoredRecord> records;
  };

  bool CurrentLocked(int day, uint64_t committed) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return index_ != nullptr && index_->day() == day && holds_ >= committed;
  }

  bool BackingOffLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return failed_ && now < failed_at_ + options_.failed_build_backoff;
  }

  // The failure itself (which may name files of the store) is in the log only.
  absl::Status BuildFailedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    const double wait = std::max(
        0.0, absl::ToDoubleSeconds(failed_at_ + options_.failed_build_backoff - absl::Now()));
    return absl::UnavailableError(fmt::format(
        "covenant {}: the household index of the register '{}' could not be built (the linker's "
        "log says why); ask again in {:.0f} s, or ask the linker's operator if it persists",
        covenant_, family_.dataset, std::ceil(wait)));
  }

  // The records hold re-keyed tokens and attribute values: they leave memory wiped.
  static void Wipe(std::vector<Pending>* batches) {
    for (Pending& batch : *batches) {
      for (StoredRecord& record : batch.records) {
        sodium_memzero(record.token.data(), record.token.size());
        sodium_memzero(record.value.data(), record.value.size());
      }
    }
    batches->clear();
  }

  void DropPendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    Wipe(&pending_);
    pending_records_ = 0;
  }

  static absl::Time StartOf(int day) { return absl::FromUnixSeconds(int64_t{day} * 24 * 60 * 60); }

  // The index built ahead for `day` becomes the current one when `day` is asked for.
  void PromoteLocked(int day) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (next_ == nullptr || next_->day() != day || (index_ != nullptr && index_->day() == day)) {
      return;
    }
    index_ = std::move(next_);
    holds_ = next_holds_;
    next_ = nullptr;
  }

  // When tomorrow's index is due to be built ahead, so that midnight needs no rebuild.
  std::optional<absl::Time> AheadAtLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (options_.build_ahead <= absl::ZeroDuration() || index_ == nullptr || next_ != nullptr ||
        failed_ || ahead_failed_ || rebuild_ || wanted_day_ != index_->day()) {
      return std::nullopt;
    }
    return StartOf(index_->day() + 1) - options_.build_ahead;
  }

  bool NeedsBuildLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return wanted_day_.has_value() &&
           (index_ == nullptr || index_->day() != *wanted_day_ || rebuild_) &&
           !BackingOffLocked(now);
  }

  void Run() ABSL_LOCKS_EXCLUDED(mutex_) {
    absl::MutexLock lock(&mutex_);
    while (!stopped_) {
      const absl::Time now = absl::Now();
      if (wanted_day_.has_value()) PromoteLocked(*wanted_day_);
      const std::optional<absl::Time> ahead = AheadAtLocked();
      if (NeedsBuildLocked(now)) {
        BuildLocked(*wanted_day_, /*ahead=*/false);
      } else if (!pending_.empty() && index_ != nullptr && !rebuild_) {
        AddPendingLocked();
      } else if (ahead.has_value() && now >= *ahead) {
        BuildLocked(index_->day() + 1, /*ahead=*/true);
      } else if (ahead.has_value()) {
        work_.WaitWithDeadline(&mutex_, *ahead);
      } else {
        work_.Wait(&mutex_);
      }
    }
  }

  // A build for the day asked for replaces the index; one ahead (for tomorrow) is kept aside,
  // and the batches queued meanwhile are added to both. Releases mutex_ while it builds.
  void BuildLocked(int day, bool ahead) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (!ahead) {
      rebuild_ = false;
      DropPendingLocked();  // committed before the build starts: it reads them from the store
      next_ = nullptr;
    }
    const uint64_t holds = queued_;
    const absl::Time started = absl::Now();
    building_ = day;
    build_started_ = started;
    mutex_.Unlock();
    HouseholdIndex::BuildOptions options;
    options.cancel = &cancel_;
    options.empty_register_is_ok = true;
    absl::StatusOr<HouseholdIndex> built =
        HouseholdIndex::Build(*store_, covenant_, family_, *data_key_, day, options);
    std::shared_ptr<const HouseholdIndex> index;
    if (built.ok()) {
      index = std::make_shared<const HouseholdIndex>(std::move(*built));
      spdlog::info(
          "covenant {}: household index of register '{}'{} built in {:.1f} s: {} persons "
          "placed, {:.0f} MiB",
          covenant_, LogSafe(family_.dataset), ahead ? " for tomorrow" : "",
          absl::ToDoubleSeconds(absl::Now() - started), index->persons(),
          static_cast<double>(index->bytes()) / (1 << 20));
    } else if (!absl::IsCancelled(built.status())) {
      spdlog::error(
          "covenant {}: building the household index of register '{}' failed: {}; no "
          "new build for {:.0f} s",
          covenant_, LogSafe(family_.dataset), LogSafe(built.status()),
          absl::ToDoubleSeconds(options_.failed_build_backoff));
    }
    mutex_.Lock();
    building_.reset();
    if (index != nullptr && ahead) {
      next_ = std::move(index);
      next_holds_ = holds;
    } else if (index != nullptr) {
      index_ = std::move(index);
      holds_ = holds;
      failed_ = false;
      ahead_failed_ = false;
    } else if (ahead) {
      ahead_failed_ = true;  // today's index still answers; tomorrow's is built when asked
    } else if (!stopped_) {
      failed_ = true;
      failed_at_ = absl::Now();
      ++failures_;
      // The next build is for a question asked after the back-off, never a retry of our own:
      // with a short back-off that would scan the register over and over.
      wanted_day_.reset();
    }
    changed_.SignalAll();
  }

  // Releases mutex_ while it adds the batches.
  void AddPendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    std::vector<Pending> batches = std::move(pending_);
    pending_.clear();
    pending_records_ = 0;
    std::shared_ptr<const HouseholdIndex> index = index_, next = next_;
    uint64_t holds = holds_, next_holds = next_holds_;
    mutex_.Unlock();
    bool rebuild = false;
    for (const Pending& batch : batches) {
      if (batch.number <= holds && (next == nullptr || batch.number <= next_holds)) continue;
      // Not expected: a batch is missing, so read them all again.
      if (batch.number > holds + 1) rebuild = true;
      if (next != nullptr && batch.number > next_holds + 1) next = nullptr;
      if (rebuild) break;
      absl::StatusOr<std::vector<RegisterEntry>> entries =
          HouseholdIndex::ReadBatch(batch.header, batch.records, family_, *data_key_);
      if (!entries.ok()) {
        spdlog::error(
            "covenant {}: a register batch could not be added to the household index "
            "({}); it is rebuilt from the store",
            covenant_, LogSafe(entries.status()));
        rebuild = true;
        next = nullptr;
        break;
      }
      if (batch.number == holds + 1) {
        index = std::make_shared<const HouseholdIndex>(index->With(*entries, batch.records.size()));
        holds = batch.number;
      }
      if (next != nullptr && batch.number == next_holds + 1) {
        next = std::make_shared<const HouseholdIndex>(next->With(*entries, batch.records.size()));
        next_holds = batch.number;
      }
    }
    mutex_.Lock();
    Wipe(&batches);  // what came meanwhile stays in pending_
    index_ = std::move(index);
    holds_ = holds;
    next_ = std::move(next);
    next_holds_ = next_holds;
    if (rebuild) rebuild_ = true;
    changed_.SignalAll();
  }

  const std::string covenant_;
  const policy::FamilyRegister family_;
  const Secret* data_key_;
  const LinkerStore* store_;
  const Options options_;
  absl::Mutex stop_mutex_;  // one join of worker_, when Stop() runs twice at once
  absl::Mutex mutex_;
  absl::CondVar changed_;  // to answers: an index was published or a build failed
  absl::CondVar work_;     // to the worker: something to do, or stop
  std::shared_ptr<const HouseholdIndex> index_ ABSL_GUARDED_BY(mutex_);
  // index_ holds the batches numbered up to this.
  uint64_t holds_ ABSL_GUARDED_BY(mutex_) = 0;
  std::shared_ptr<const HouseholdIndex> next_ ABSL_GUARDED_BY(mutex_);  // tomorrow's, built ahead
  uint64_t next_holds_ ABSL_GUARDED_BY(mutex_) = 0;
  // Batches of the register committed (numbered 1, 2, ...).
  uint64_t queued_ ABSL_GUARDED_BY(mutex_) = 0;
  // Queued, not yet in index_, numbered from holds_ + 1.
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mutex_);
  size_t pending_records_ ABSL_GUARDED_BY(mutex_) = 0;
  std::optional<int> wanted_day_ ABSL_GUARDED_BY(mutex_);  // the day answers ask for
  std::optional<int> building_ ABSL_GUARDED_BY(mutex_);    // the day of the build running
  absl::Time build_started_ ABSL_GUARDED_BY(mutex_);
  // Batches were dropped or did not read: read the register again.
  bool rebuild_ ABSL_GUARDED_BY(mutex_) = false;
  bool failed_ ABSL_GUARDED_BY(mutex_) = false;  // the last build failed, at failed_at_
  // The last build of tomorrow's index ahead failed.
  bool ahead_failed_ ABSL_GUARDED_BY(mutex_) = false;
  absl::Time failed_at_ ABSL_GUARDED_BY(mutex_);
  uint64_t failures_ ABSL_GUARDED_BY(mutex_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mutex_) = false;
  std::atomic<bool> cancel_{false};
  std::thread worker_ ABSL_GUARDED_BY(stop_mutex_);  // last: starts when everything else is ready
};

FlagResponder::FlagResponder(const policy::Covenant* covenant, const HmacSha256Key* rekey,
                             const Secret* data_key, const LinkerStore* store,
                             const Options& options)
    : covenant_(covenant), rekey_(rekey), data_key_(data_key), store_(store), options_(options) {
  if (data_key_ == nullptr) return;
  for (const policy::PurposeBoundRelease& release : covenant_->releases) {
    if (release.unit != "household") continue;
    const policy::FamilyRegister& family = release.family;
    const bool known = std::any_of(households_.begin(), households_.end(), [&](const auto& h) {
      return h->family().dataset == family.dataset &&
             h->family().address_from == family.address_from &&
             h->family().address_to == family.address_to;
    });
    if (!known) {
      households_.push_back(
          std::make_unique<Households>(covenant_->id, family, data_key_, store_, options_));
    }
  }
}

FlagResponder::~FlagResponder() { StopBuilding(); }

void FlagResponder::StartBuilding() const {
  for (const auto& households : households_) households->Start(Today());
}

void FlagResponder::BatchCommitted(const v1::BatchHeader& header,
                                   const std::vector<StoredRecord>& records) const {
  for (const auto& households : households_) households->Add(header, records);
}

void FlagResponder::StopBuilding() const {
  for (const auto& households : households_) households->Stop();
}

absl::StatusOr<std::shared_ptr<const HouseholdIndex>> FlagResponder::HouseholdsOf(
    const policy::PurposeBoundRelease& release, absl::Time deadline) const {
  if (data_key_ == nullptr) {
    return absl::FailedPreconditionError(
        fmt::format("release '{}' is answered per household, but this responder has no data key",
                    release.name));
  }
  for (const auto& households : households_) {
    const policy::FamilyRegister& family = households->family();
    if (family.dataset == release.family.dataset &&
        family.address_from == release.family.address_from &&
        family.address_to == release.family.address_to) {
      return households->Get(Today(), deadline);
    }
  }
  return absl::InternalError(fmt::format(
      "release '{}' is answered per household, but the responder has no index of its register",
      release.name));
}

}  // namespace koppel::linker
