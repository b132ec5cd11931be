// Answers purpose-bound releases (ARCHITECTURE section 5). The recipient a covenant names sends
// its own person tokens; for each, the responder first checks that the recipient delivered a
// record with that token in the release's dataset, and only then says which of the allowed
// flags hold (a record with the token in the flag's dataset). A token the recipient did not
// deliver gets no flags at all, so guessing tokens teaches nothing about people it does not
// already know; identities and other attributes never leave the linker. A household release
// raises a flag when anyone in the person's household on the day of the question has a record
// in the flag's dataset (the household comes from the register, see household_index.h). The
// household index is built in the background (from StartBuilding, or the first household question
// on) and kept current with the batches the ingester commits, which it queues and adds on its own
// thread; it is rebuilt when the day changes.
#ifndef KOPPEL_LINKER_FLAG_RESPONDER_H_
#define KOPPEL_LINKER_FLAG_RESPONDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/hmac.h"
#include "koppel/v1/linker.pb.h"
#include "linker/household_index.h"
#include "linker/linker_store.h"
#include "policies/covenant.h"

namespace koppel::linker {

// Limits of the household index's background work.
struct FlagResponderOptions {
  // The longest a household answer waits for its index, whatever its deadline, so that a
  // question without a deadline cannot hold the server's shutdown for a national build.
  absl::Duration max_household_wait = absl::Seconds(30);
  // After a failed build, no new one starts for this long (answers are UNAVAILABLE meanwhile),
  // so that questions do not each start a full scan of the register.
  absl::Duration failed_build_backoff = absl::Seconds(30);
  // Register records of committed batches waiting to be added; beyond this the queue is dropped
  // and the index rebuilt from the store instead.
  size_t max_queued_records = size_t{1} << 20;
  // Tomorrow's index is built this long before midnight (UTC) and takes over at midnight, so that
  // the first question of the day does not wait for a rebuild; zero: built when first asked.
  absl::Duration build_ahead = absl::Minutes(15);
};

class FlagResponder {
 public:
  static constexpr int kMaxTokensPerCall = 10000;
  using Options = FlagResponderOptions;

  // `covenant`, `rekey` (K_link of the covenant), `data_key` (opens the register's records for
  // household releases; may be null when the covenant has none) and `store` must outlive the
  // responder.
  FlagResponder(const policy::Covenant* covenant, const HmacSha256Key* rekey,
                const Secret* data_key, const LinkerStore* store, const Options& options = {});
  ~FlagResponder();  // stops the background builds
  FlagResponder(const FlagResponder&) = delete;
  FlagResponder& operator=(const FlagResponder&) = delete;

  // PERMISSION_DENIED naming the rule (purpose_bound_releases) when `caller` is not the
  // release's recipient or asks for a flag it does not list; INVALID_ARGUMENT for a malformed
  // request (token not 32 bytes, too many tokens). A household answer sees every register batch
  // committed before it was asked: while the index is built, or batches are still being added,
  // it waits until a second before `deadline` (at most options.max_household_wait), then is
  // UNAVAILABLE saying to ask again. After a failed build it is UNAVAILABLE (the log says why).
  absl::StatusOr<v1::AskFlagsResponse> Answer(const std::string& caller,
                                              const v1::AskFlagsRequest& request,
                                              absl::Time deadline = absl::InfiniteFuture()) const;

  // Starts building today's household index of every household release in the background, so
  // that the first answer need not wait for a scan of the register.
  void StartBuilding() const;

  // Queues a batch just committed to the store for the household indexes built from its
  // dataset, which add it in the background; the ingester calls it after every commit. Cheap:
  // copies the records and returns. Safe with any number of answers at once.
  void BatchCommitted(const v1::BatchHeader& header,
                      const std::vector<StoredRecord>& records) const;

  // Stops the background builds; answers waiting for one are UNAVAILABLE. Called before the
  // covenant's data is deleted, and when the server stops.
  void StopBuilding() const;

 private:
  class Households;  // one register's index: built in the background, kept current

  // The household index of `release` for today.
  absl::StatusOr<std::shared_ptr<const HouseholdIndex>> HouseholdsOf(
      const policy::PurposeBoundRelease& release, absl::Time deadline) const;

  const policy::Covenant* covenant_;
  const HmacSha256Key* rekey_;
  const Secret* data_key_;
  const LinkerStore* store_;
  const Options options_;
  // One per distinct register of the household releases; fixed at construction.
  std::vector<std::unique_ptr<Households>> households_;
};

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_FLAG_RESPONDER_H_
