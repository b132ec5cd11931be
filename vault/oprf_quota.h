// What each party has spent of its OPRF quota: evaluations by (covenant, party, key epoch) with
// the time of each, counted over a rolling window (the covenant's oprf_quota_window_days), so
// that evaluations logged long ago, before a restart or an upgrade, stop counting. Not
// thread-safe: the vault holds its own lock around it.
#ifndef KOPPEL_VAULT_OPRF_QUOTA_H_
#define KOPPEL_VAULT_OPRF_QUOTA_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "absl/time/time.h"

namespace koppel::vault {

struct QuotaKey {
  std::string covenant;
  std::string party;
  uint32_t epoch = 0;

  bool operator<(const QuotaKey& o) const {
    return std::tie(covenant, party, epoch) < std::tie(o.covenant, o.party, o.epoch);
  }
};

class OprfQuotaUsage {
 public:
  // Records `count` evaluations at `when` (entries in time order, as the audit log holds them).
  void Record(const QuotaKey& key, absl::Time when, uint64_t count);

  // Evaluations recorded in (now - window, now]; forgets older ones.
  uint64_t Used(const QuotaKey& key, absl::Time now, absl::Duration window);

  // Records `count` at `now` when it fits `quota` within `window` and returns what is left;
  // otherwise records nothing and returns nullopt (then Used tells what was spent).
  std::optional<uint64_t> Spend(const QuotaKey& key, uint64_t count, uint64_t quota, absl::Time now,
                                absl::Duration window);

 private:
  struct Spent {
    std::deque<std::pair<absl::Time, uint64_t>> entries;
    uint64_t total = 0;
  };
  std::map<QuotaKey, Spent> spent_;
};

}  // namespace koppel::vault

#endif  // KOPPEL_VAULT_OPRF_QUOTA_H_
