// The Dutch citizen service number (BSN): parsing an export's spelling of it into the
// canonical 9-digit form of ARCHITECTURE section 2, with a reason for every rejection.
#ifndef KOPPEL_CORE_BSN_H_
#define KOPPEL_CORE_BSN_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/reject_reason.h"

namespace koppel {

struct BsnResult {
  RejectReason reason = RejectReason::kNone;  // kNone when valid
  char canonical[10] = {};                    // 9 digits and a NUL when valid
  bool ok() const { return reason == RejectReason::kNone; }
  std::string_view view() const { return {canonical, 9}; }
};

// Removes spaces, dots and dashes, left-pads 8 digits with '0', applies the 11-test and the
// all-zero rule. Never allocates: the hot path of every agent.
BsnResult ParseBsn(std::string_view input);

// True when the 9 digits pass the 11-test (9*d1 + ... + 2*d8 - 1*d9 divisible by 11).
bool PassesElevenTest(std::string_view nine_digits);

// Builds a valid BSN from an 8-digit stem (0..99999999) by choosing the check digit, or
// returns false when no check digit in 0..9 makes the number valid. Used by generators.
bool BsnFromStem(uint32_t stem, char out[9]);

}  // namespace koppel

#endif  // KOPPEL_CORE_BSN_H_
