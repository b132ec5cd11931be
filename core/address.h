// Dutch addresses (BAG): parsing an export's postcode and house-number fields, written in any
// of the usual ways, into the canonical POSTCODE|NUMBER|LETTER|ADDITION of ARCHITECTURE
// section 2. The rules are documented in docs/identifiers.md.
#ifndef KOPPEL_CORE_ADDRESS_H_
#define KOPPEL_CORE_ADDRESS_H_

#include <string_view>

#include "core/reject_reason.h"

namespace koppel {

struct AddressResult {
  static constexpr size_t kMaxCanonical = 6 + 1 + 5 + 1 + 1 + 1 + 4;
  RejectReason reason = RejectReason::kNone;
  char canonical[kMaxCanonical + 1] = {};
  size_t length = 0;
  bool ok() const { return reason == RejectReason::kNone; }
  std::string_view view() const { return {canonical, length}; }
};

// The postcode of an export field in canonical form (4 digits, the first not 0, and 2 capital
// letters; blanks are ignored and letters may be lower case), written to `out`, or the
// reason the field is no postcode.
RejectReason ParsePostcode(std::string_view field, char out[6]);

// Postcode plus one free-form house field such as "12", "12a", "12 A", "12-2", "12 bis",
// "12A-1", "12 b 3", "12 II" or "012".
AddressResult ParseAddress(std::string_view postcode, std::string_view house);

// Postcode plus separate number, letter and addition fields (letter and addition may be empty).
AddressResult ParseAddressFields(std::string_view postcode, std::string_view number,
                                 std::string_view letter, std::string_view addition);

}  // namespace koppel

#endif  // KOPPEL_CORE_ADDRESS_H_
