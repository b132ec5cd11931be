#include "core/address.h"

#include <gtest/gtest.h>

namespace koppel {
namespace {

struct FreeFormCase {
  const char* postcode;
  const char* house;
  const char* canonical;
};

TEST(AddressTest, ParsesEveryDocumentedFreeFormHouseField) {
  FreeFormCase cases[] = {
      {"7607AB", "12", "7607AB|12||"},           {"7607 ab", "12a", "7607AB|12|A|"},
      {"7607AB", "12 A", "7607AB|12|A|"},        {"7607AB", "12-2", "7607AB|12||2"},
      {"7607AB", "12 - 2", "7607AB|12||2"},      {"7607AB", "12 bis", "7607AB|12||BIS"},
      {"7607AB", "12A-1", "7607AB|12|A|1"},      {"7607AB", "12 b 3", "7607AB|12|B|3"},
      {"7607AB", "12 II", "7607AB|12||II"},      {"7607AB", "012", "7607AB|12||"},
      {"7607AB", "0012a", "7607AB|12|A|"},       {"7607AB", "12/3", "7607AB|12||3"},
      {"7607AB", "12-A", "7607AB|12||A"},        {"7607AB", "12 hs", "7607AB|12||HS"},
      {"7607AB", "12a1", "7607AB|12|A|1"},       {"7607AB", " 12 ", "7607AB|12||"},
      {" 7607  AB ", "99999", "7607AB|99999||"}, {"1000aa", "1", "1000AA|1||"},
  };
  for (const FreeFormCase& c : cases) {
    AddressResult r = ParseAddress(c.postcode, c.house);
    ASSERT_TRUE(r.ok()) << c.postcode << " / " << c.house << ": " << RejectReasonName(r.reason);
    EXPECT_EQ(r.view(), c.canonical) << c.postcode << " / " << c.house;
  }
}

TEST(AddressTest, ParsesSeparateFields) {
  EXPECT_EQ(ParseAddressFields("7607AB", "12", "a", "1").view(), "7607AB|12|A|1");
  EXPECT_EQ(ParseAddressFields("7607AB", "012", "", "").view(), "7607AB|12||");
  EXPECT_EQ(ParseAddressFields("7607ab", " 12 ", " B ", "hs").view(), "7607AB|12|B|HS");
  EXPECT_EQ(ParseAddressFields("7607AB", "12", "", "2-3").view(), "7607AB|12||23");
}

struct RejectCase {
  const char* postcode;
  const char* house;
  RejectReason reason;
};

TEST(AddressTest, RejectsEveryInvalidFormWithItsReason) {
  RejectCase cases[] = {
      {"", "12", RejectReason::kPostcodeEmpty},
      {"   ", "12", RejectReason::kPostcodeEmpty},
      {"0607AB", "12", RejectReason::kPostcodeBadFormat},
      {"76O7AB", "12", RejectReason::kPostcodeBadFormat},
      {"760AB", "12", RejectReason::kPostcodeBadFormat},
      {"7607ABC", "12", RejectReason::kPostcodeBadFormat},
      {"7607A1", "12", RejectReason::kPostcodeBadFormat},
      {"7607-AB", "12", RejectReason::kPostcodeBadFormat},
      {"7607SA", "12", RejectReason::kPostcodeUnusedLetters},
      {"7607sd", "12", RejectReason::kPostcodeUnusedLetters},
      {"7607SS", "12", RejectReason::kPostcodeUnusedLetters},
      {"7607AB", "", RejectReason::kHouseNumberEmpty},
      {"7607AB", "  ", RejectReason::kHouseNumberEmpty},
      {"7607AB", "A12", RejectReason::kHouseNumberBadFormat},
      {"7607AB", "12#", RejectReason::kHouseNumberBadFormat},
      {"7607AB", "12,a", RejectReason::kHouseNumberBadFormat},
      {"7607AB", "-12", RejectReason::kHouseNumberBadFormat},
      {"7607AB", "0", RejectReason::kHouseNumberOutOfRange},
      {"7607AB", "000a", RejectReason::kHouseNumberOutOfRange},
      {"7607AB", "123456", RejectReason::kHouseNumberOutOfRange},
      {"7607AB", "12-ABCDE", RejectReason::kHouseAdditionBad},
      {"7607AB", "12 a 12345", RejectReason::kHouseAdditionBad},
      {"7607AB", "12 1 hoog", RejectReason::kHouseAdditionBad},
  };
  for (const RejectCase& c : cases) {
    AddressResult r = ParseAddress(c.postcode, c.house);
    EXPECT_EQ(r.reason, c.reason) << "'" << c.postcode << "' / '" << c.house << "' gave "
                                  << RejectReasonName(r.reason);
  }
  EXPECT_EQ(ParseAddressFields("7607AB", "12a", "", "").reason,
            RejectReason::kHouseNumberBadFormat);
  EXPECT_EQ(ParseAddressFields("7607AB", "", "", "").reason, RejectReason::kHouseNumberEmpty);
  EXPECT_EQ(ParseAddressFields("7607AB", "12", "AB", "").reason, RejectReason::kHouseLetterBad);
  EXPECT_EQ(ParseAddressFields("7607AB", "12", "1", "").reason, RejectReason::kHouseLetterBad);
  EXPECT_EQ(ParseAddressFields("7607AB", "12", "", "ABCDE").reason,
            RejectReason::kHouseAdditionBad);
  EXPECT_EQ(ParseAddressFields("7607AB", "12", "", "é").reason, RejectReason::kHouseAdditionBad);
}

}  // namespace
}  // namespace koppel
