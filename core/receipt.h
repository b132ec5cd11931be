// Signed delivery receipts: the linker signs what it stored (Ed25519), the data holder keeps
// the receipt and can prove the delivery later. Shared by the linker, which signs, and the
// agent, which verifies before it marks a batch delivered.
#ifndef KOPPEL_CORE_RECEIPT_H_
#define KOPPEL_CORE_RECEIPT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "core/secret.h"
#include "koppel/v1/linker.pb.h"

namespace koppel {

// When the linker stored the batch, in Unix seconds: store_time, or for a receipt from before
// it, legacy_stored_at_unix_seconds. The signature covers this number.
int64_t ReceiptStoredAtSeconds(const v1::Receipt& receipt);

// Domain tag and every field but the signature, length-prefixed.
std::string ReceiptSignedBytes(const v1::Receipt& receipt);

// Fills linker_public_key and signature.
absl::Status SignReceipt(const Secret& linker_signing_key, v1::Receipt* receipt);

// Checks the signature, and that the receipt is for `batch_id`.
absl::Status VerifyReceipt(const v1::Receipt& receipt, const std::string& batch_id);

}  // namespace koppel

#endif  // KOPPEL_CORE_RECEIPT_H_
