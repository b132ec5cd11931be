// Delivery receipts as the agent receives them. The first byte picks the mode; the rest is a
// Receipt message.
//   even: verified as it came, for its own batch id and for another.
//   odd:  signed with the test linker key, then it must verify, survive a serialisation round
//         trip, and fail once any signed field changes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/receipt.h"
#include "koppel/v1/linker.pb.h"
#include "tests/fuzz/fuzz_support.h"

using koppel::fuzz::Check;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  koppel::fuzz::InitForFuzzing();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  koppel::v1::Receipt receipt;
  if (!receipt.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
  if ((data[0] & 1) == 0) {
    (void)koppel::VerifyReceipt(receipt, receipt.batch_id());
    Check(!koppel::VerifyReceipt(receipt, receipt.batch_id() + "0").ok(),
          "a receipt verifies for another batch");
    return 0;
  }
  Check(koppel::SignReceipt(koppel::fuzz::TestLinkerSigningKey(), &receipt).ok(),
        "cannot sign with the test key");
  Check(koppel::VerifyReceipt(receipt, receipt.batch_id()).ok(), "a signed receipt fails");

  koppel::v1::Receipt parsed;
  Check(parsed.ParseFromString(receipt.SerializeAsString()), "a receipt does not parse back");
  Check(koppel::VerifyReceipt(parsed, parsed.batch_id()).ok(),
        "a signed receipt fails after a round trip");

  koppel::v1::Receipt changed = receipt;
  switch (data[0] >> 1 & 7) {
    case 0:
      changed.set_records_accepted(receipt.records_accepted() + 1);
      break;
    case 1:
      changed.set_records_rejected(receipt.records_rejected() ^ 1);
      break;
    case 2:
      changed.set_duplicate(!receipt.duplicate());
      break;
    case 3:  // the seconds the signature covers, whichever field holds them
      changed.mutable_store_time()->set_seconds(koppel::ReceiptStoredAtSeconds(receipt) ^ 1);
      break;
    case 4:
      changed.set_dataset(receipt.dataset() + "x");
      break;
    case 5:
      changed.set_sender(receipt.sender() + "x");
      break;
    case 6:
      changed.set_covenant_id(receipt.covenant_id() + "x");
      break;
    default:
      changed.set_batch_id(receipt.batch_id() + "x");
      break;
  }
  Check(!koppel::VerifyReceipt(changed, changed.batch_id()).ok(),
        "a receipt verifies after a signed field changed");
  return 0;
}
