// Turns one delivered sealed batch into stored records (ARCHITECTURE sections 2-4): checks the
// sender may deliver it under the covenant, verifies and opens it, checks it was sealed under
// the covenant's current version and carries only the fields and identifiers granted, re-keys every
// token with K_link so that no agent-side token ever reaches the disk, and commits it durably, with
// a signed receipt, to the covenant's store (whose files are encrypted under the covenant's data
// key).
#ifndef KOPPEL_LINKER_BATCH_INGESTER_H_
#define KOPPEL_LINKER_BATCH_INGESTER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/hmac.h"
#include "core/sealed_batch.h"
#include "core/secret.h"
#include "linker/key_epoch_ceiling.h"
#include "linker/linker_store.h"
#include "policies/covenant.h"

namespace koppel::linker {

struct LinkerKeys {
  BoxPublicKey box_public;  // agents seal to this
  Secret box_secret;
  Secret signing;   // signs receipts
  Secret link_key;  // K_link: re-keys tokens
  Secret data_key;  // the covenant's store is encrypted under it
};

class BatchIngester {
 public:
  static constexpr size_t kMaxSealedBytes = 64 << 20;

  // `vault`: the covenant's key epochs a batch may be sealed under (KeyEpochCeiling).
  static absl::StatusOr<std::unique_ptr<BatchIngester>> Create(policy::Covenant covenant,
                                                               LinkerKeys keys, LinkerStore* store,
                                                               VaultKeyEpoch vault = {});

  // PERMISSION_DENIED when the sender may not deliver this batch, INVALID_ARGUMENT or
  // UNAUTHENTICATED for a malformed or tampered batch (a header name or id breaking its rule
  // in core/identifier_rules.h included); nothing is stored then.
  absl::StatusOr<v1::Receipt> Ingest(const std::string& sender, const v1::SealedBatch& batch);

  // Called after every batch this ingester stored (not for one already held) with what it
  // committed; the flag responder keeps its household indexes current with it. Set before
  // the first Ingest.
  using CommitObserver =
      std::function<void(const v1::BatchHeader& header, const std::vector<StoredRecord>& records)>;
  void SetCommitObserver(CommitObserver observer) { observer_ = std::move(observer); }

  const policy::Covenant& covenant() const { return covenant_; }
  const Secret& data_key() const { return keys_.data_key; }
  const HmacSha256Key& rekey() const { return rekey_; }

 private:
  BatchIngester(policy::Covenant covenant, LinkerKeys keys, HmacSha256Key rekey, LinkerStore* store,
                VaultKeyEpoch vault)
      : covenant_(std::move(covenant)),
        keys_(std::move(keys)),
        rekey_(std::move(rekey)),
        store_(store),
        ceiling_(std::move(vault), absl::Seconds(30)) {}

  // FAILED_PRECONDITION when `epoch` is no epoch of the covenant (KeyEpochCeiling).
  absl::Status CheckKeyEpoch(const std::string& batch_id, uint32_t epoch);

  policy::Covenant covenant_;
  LinkerKeys keys_;
  HmacSha256Key rekey_;
  LinkerStore* store_;
  CommitObserver observer_;
  KeyEpochCeiling ceiling_;
  std::atomic<uint32_t> newest_held_{0};  // the newest epoch the store holds, as last seen
};

}  // namespace koppel::linker

#endif  // KOPPEL_LINKER_BATCH_INGESTER_H_
