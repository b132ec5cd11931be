#include "vault/oprf_quota.h"

namespace koppel::vault {

void OprfQuotaUsage::Record(const QuotaKey& key, absl::Time when, uint64_t count) {
  Spent& s = spent_[key];
  s.entries.emplace_back(when, count);
  s.total += count;
}

uint64_t OprfQuotaUsage::Used(const QuotaKey& key, absl::Time now, absl::Duration window) {
  auto it = spent_.find(key);
  if (it == spent_.end()) return 0;
  Spent& s = it->second;
  while (!s.entries.empty() && s.entries.front().first <= now - window) {
    s.total -= s.entries.front().second;
    s.entries.pop_front();
  }
  return s.total;
}

std::optional<uint64_t> OprfQuotaUsage::Spend(const QuotaKey& key, uint64_t count, uint64_t quota,
                                              absl::Time now, absl::Duration window) {
  const uint64_t used = Used(key, now, window);
  if (used > quota || count > quota - used) return std::nullopt;
  Record(key, now, count);
  return quota - used - count;
}

}  // namespace koppel::vault
