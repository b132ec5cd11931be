// Answers purpose-bound releases (ARCHITECTURE section 5). The recipient a covenant names sends
// its own person tokens; for each, the responder first checks that the recipient delivered a
// record with that token in the release's dataset, and only then says which of the allowed
// flags hold (a record with the token in the flag's dataset). A token the recipient did not
// deliver gets no flags at all, so guessing tokens teaches nothing about people it does not
// already know; identities and other attributes never leave the linker. A household release
// raises a flag when anyone in the person's household on the day of the question has a record
// in the flag's dataset (the household comes from the register, see household_index.h).
#ifndef KOPPEL_LINKER_FLAG_RESPONDER_H_
#define KOPPEL_LINKER_FLAG_RESPONDER_H_

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "core/hmac.h"
#include "koppel/v1/linker.pb.h"
#include "linker/household_index.h"
#include "linker/linker_store.h"
#include "policies/covenant.h"

namespace koppel {

class FlagResponder {
 public:
  static constexpr int kMaxTokensPerCall = 10000;

  // `covenant`, `rekey` (K_link of the covenant), `data_key` (opens the register's records for
  // household releases; may be null when the covenant has none) and `store` must outlive the
  // responder.
  FlagResponder(const Covenant* covenant, const HmacSha256Key* rekey, const Secret* data_key,
                const LinkerStore* store)
      : covenant_(covenant), rekey_(rekey), data_key_(data_key), store_(store) {}

  // PERMISSION_DENIED naming the rule (purpose_bound_releases) when `caller` is not the
  // release's recipient or asks for a flag it does not list; INVALID_ARGUMENT for a malformed
  // request (token not 32 bytes, too many tokens).
  absl::StatusOr<v1::AskFlagsResponse> Answer(const std::string& caller,
                                              const v1::AskFlagsRequest& request) const;

 private:
  // The household index of `release` for today, rebuilt when the day or the register changes.
  absl::StatusOr<std::shared_ptr<const HouseholdIndex>> Households(
      const PurposeBoundRelease& release) const;

  const Covenant* covenant_;
  const HmacSha256Key* rekey_;
  const Secret* data_key_;
  const LinkerStore* store_;
  mutable std::mutex households_mutex_;
  mutable std::shared_ptr<const HouseholdIndex> households_;
  mutable uint64_t households_records_ = 0;
  mutable std::string households_dataset_;
};

}  // namespace koppel

#endif  // KOPPEL_LINKER_FLAG_RESPONDER_H_
