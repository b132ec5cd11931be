#include "linker/flag_responder.h"

#include <fmt/format.h>
#include <sodium.h>

#include <set>
#include <vector>

#include "absl/time/clock.h"
#include "core/status_macros.h"

namespace koppel {
namespace {

constexpr size_t kTokenBytes = 32;

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

absl::StatusOr<v1::AskFlagsResponse> FlagResponder::Answer(
    const std::string& caller, const v1::AskFlagsRequest& request) const {
  if (request.covenant_id() != covenant_->id) {
    return absl::PermissionDeniedError(fmt::format(
        "this linker answers purpose-bound releases of covenant '{}', not '{}' (rule: data stays "
        "bound to its covenant); ask with --covenant-id {}",
        covenant_->id, request.covenant_id(), covenant_->id));
  }
  const std::vector<std::string> asked(request.flags().begin(), request.flags().end());
  ASSIGN_OR_RETURN(const PurposeBoundRelease* release,
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
  std::vector<const ReleaseFlag*> flags;
  if (asked.empty()) {
    for (const ReleaseFlag& flag : release->flags) flags.push_back(&flag);
  } else {
    for (const std::string& name : asked) {
      for (const ReleaseFlag& flag : release->flags) {
        if (flag.name == name) flags.push_back(&flag);
      }
    }
  }
  if (flags.size() != (asked.empty() ? release->flags.size() : asked.size())) {
    return absl::InternalError(fmt::format(
        "release '{}': the covenant check let through a flag the release does not list",
        release->name));
  }

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
    ASSIGN_OR_RETURN(std::shared_ptr<const HouseholdIndex> households, Households(*release));
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
    for (const ReleaseFlag* flag : flags) {
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
  for (const ReleaseFlag* flag : flags) response.add_flags(flag->name);
  response.set_covenant_version(covenant_->version);
  for (int i = 0; i < token_count; ++i) response.add_answers();
  for (size_t k = 0; k < own_index.size(); ++k) {
    v1::FlagAnswer* answer = response.mutable_answers(static_cast<int>(own_index[k]));
    answer->set_delivered(true);
    for (const std::vector<bool>& found : raised) answer->add_flags(found[k]);
  }
  return response;
}

absl::StatusOr<std::shared_ptr<const HouseholdIndex>> FlagResponder::Households(
    const PurposeBoundRelease& release) const {
  const int today =
      static_cast<int>(absl::ToUnixSeconds(absl::Now()) / (24 * 60 * 60));
  ASSIGN_OR_RETURN(std::vector<v1::DatasetStatus> status, store_->Status());
  uint64_t register_records = 0;
  for (const v1::DatasetStatus& s : status) {
    if (s.covenant_id() == covenant_->id && s.dataset() == release.family.dataset) {
      register_records = s.records();
    }
  }
  if (data_key_ == nullptr) {
    return absl::FailedPreconditionError(fmt::format(
        "release '{}' is answered per household, but this responder has no data key",
        release.name));
  }
  {
    std::lock_guard<std::mutex> lock(households_mutex_);
    if (households_ != nullptr && households_->day() == today &&
        households_records_ == register_records && households_dataset_ == release.family.dataset) {
      return households_;
    }
  }
  // Built outside the lock: answers that need it wait for it anyway, the others do not.
  ASSIGN_OR_RETURN(HouseholdIndex index,
                   HouseholdIndex::Build(*store_, covenant_->id, release.family, *data_key_, today));
  auto built = std::make_shared<const HouseholdIndex>(std::move(index));
  std::shared_ptr<const HouseholdIndex> old;  // freed after the lock is released
  {
    std::lock_guard<std::mutex> lock(households_mutex_);
    old = std::move(households_);
    households_ = built;
    households_records_ = register_records;
    households_dataset_ = release.family.dataset;
  }
  return built;
}

}  // namespace koppel
