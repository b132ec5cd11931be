// The closed set of reasons an agent rejects a value or a row for. The names are stable:
// reject reports, check summaries, the generator's ground truth and tests all use them.
#ifndef KOPPEL_CORE_REJECT_REASON_H_
#define KOPPEL_CORE_REJECT_REASON_H_

#include <array>
#include <optional>
#include <string_view>

namespace koppel {

#define KOPPEL_REJECT_REASONS(X)                                                                   \
  X(kNone, "none", "valid")                                                                        \
  X(kBsnEmpty, "bsn_empty", "BSN is empty")                                                        \
  X(kBsnBadCharacters, "bsn_bad_characters",                                                       \
    "BSN contains a character other than digits, spaces, dots and dashes")                         \
  X(kBsnBadLength, "bsn_bad_length", "BSN does not have 8 or 9 digits")                            \
  X(kBsnElevenTest, "bsn_eleven_test", "BSN fails the 11-test")                                    \
  X(kBsnAllZero, "bsn_all_zero", "BSN is all zeros")                                               \
  X(kPostcodeEmpty, "postcode_empty", "postcode is empty")                                         \
  X(kPostcodeBadFormat, "postcode_bad_format",                                                     \
    "postcode is not 4 digits (first not 0) and 2 letters")                                        \
  X(kPostcodeUnusedLetters, "postcode_unused_letters",                                             \
    "postcode uses the letter pair SA, SD or SS, which is never issued")                           \
  X(kPostcodeUnknown, "postcode_unknown",                                                          \
    "postcode is well-formed but not on the mapping's postcode list")                              \
  X(kHouseNumberEmpty, "house_number_empty", "house number is empty")                              \
  X(kHouseNumberBadFormat, "house_number_bad_format",                                              \
    "house number field cannot be read as number, letter and addition")                            \
  X(kHouseNumberOutOfRange, "house_number_out_of_range", "house number is not in 1..99999")        \
  X(kHouseLetterBad, "house_letter_bad", "house letter is not a single letter A-Z")                \
  X(kHouseAdditionBad, "house_addition_bad", "house number addition is not 1-4 letters or digits") \
  X(kFieldCount, "field_count", "row has a different number of fields than the header")            \
  X(kBadQuoting, "bad_quoting", "row has an unterminated or misplaced quote")                      \
  X(kBadEncoding, "bad_encoding",                                                                  \
    "row is not valid UTF-8 (no longer given: a file that "                                        \
    "does not decode is refused whole)")                                                           \
  X(kRowTooLong, "row_too_long", "row exceeds the maximum row size")                               \
  X(kMissingValue, "missing_value", "a required attribute is empty")                               \
  X(kCategoryUnknown, "category_unknown", "category code is not in the allowed codes")             \
  X(kIntegerInvalid, "integer_invalid", "value is not an integer in range")                        \
  X(kAmountInvalid, "amount_invalid", "value is not an amount")                                    \
  X(kDateInvalid, "date_invalid", "value is not a date in the mapped format")                      \
  X(kYearInvalid, "year_invalid", "value is not a year in 1900..2100")

enum class RejectReason : unsigned char {
#define KOPPEL_REASON_ENUM_(id, name, text) id,
  KOPPEL_REJECT_REASONS(KOPPEL_REASON_ENUM_)
#undef KOPPEL_REASON_ENUM_
};

inline constexpr std::array kAllRejectReasons = {
#define KOPPEL_REASON_LIST_(id, name, text) RejectReason::id,
    KOPPEL_REJECT_REASONS(KOPPEL_REASON_LIST_)
#undef KOPPEL_REASON_LIST_
};

// Machine-readable name, e.g. "bsn_eleven_test".
std::string_view RejectReasonName(RejectReason reason);
// One sentence for people, e.g. "BSN fails the 11-test".
std::string_view RejectReasonText(RejectReason reason);
std::optional<RejectReason> RejectReasonFromName(std::string_view name);

}  // namespace koppel

#endif  // KOPPEL_CORE_REJECT_REASON_H_
