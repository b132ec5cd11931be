#include "core/bsn.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace koppel {
namespace {

TEST(BsnTest, AcceptsCanonicalAndSeparatedForms) {
  for (const char* input :
       {"123456782", "1234 56 782", "1234.56.782", "123-456-782", " 123456782 ", "12.34.56.782"}) {
    BsnResult r = ParseBsn(input);
    ASSERT_TRUE(r.ok()) << input << ": " << RejectReasonName(r.reason);
    EXPECT_EQ(r.view(), "123456782") << input;
  }
}

TEST(BsnTest, PadsEightDigits) {
  BsnResult r = ParseBsn("12345672");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.view(), "012345672");
}

TEST(BsnTest, RejectsEachInvalidFormWithItsReason) {
  struct Case {
    const char* input;
    RejectReason reason;
  } cases[] = {
      {"", RejectReason::kBsnEmpty},
      {"   ", RejectReason::kBsnEmpty},
      {" . - ", RejectReason::kBsnEmpty},
      {"12345678O", RejectReason::kBsnBadCharacters},
      {"123456782x", RejectReason::kBsnBadCharacters},
      {"12345678/2", RejectReason::kBsnBadCharacters},
      {"１２３４５６７８２", RejectReason::kBsnBadCharacters},  // full-width digits
      {"1234567", RejectReason::kBsnBadLength},
      {"1234567820", RejectReason::kBsnBadLength},
      {"123456783", RejectReason::kBsnElevenTest},
      {"123456781", RejectReason::kBsnElevenTest},
      {"000000000", RejectReason::kBsnAllZero},
      {"00000000", RejectReason::kBsnAllZero},
      {"0000 0000 0", RejectReason::kBsnAllZero},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseBsn(c.input).reason, c.reason)
        << "input '" << c.input << "' gave " << RejectReasonName(ParseBsn(c.input).reason);
  }
}

TEST(BsnTest, EveryReasonHasANameAndText) {
  for (RejectReason r : kAllRejectReasons) {
    EXPECT_FALSE(RejectReasonName(r).empty());
    EXPECT_FALSE(RejectReasonText(r).empty());
    EXPECT_EQ(RejectReasonFromName(RejectReasonName(r)), r);
  }
  EXPECT_FALSE(RejectReasonFromName("no_such_reason").has_value());
}

TEST(BsnTest, RandomValidNumbersRoundTripAndSingleDigitErrorsAreCaught) {
  std::mt19937_64 rng(20261123);
  std::uniform_int_distribution<uint32_t> stems(0, 99999999);
  int made = 0;
  while (made < 20000) {
    char digits[9];
    if (!BsnFromStem(stems(rng), digits)) continue;
    ++made;
    std::string bsn(digits, 9);
    BsnResult r = ParseBsn(bsn);
    ASSERT_TRUE(r.ok()) << RejectReasonName(r.reason);
    EXPECT_EQ(r.view(), bsn);
    // The 11-test detects every single-digit substitution.
    size_t pos = static_cast<size_t>(made) % 9;
    std::string wrong = bsn;
    wrong[pos] = static_cast<char>('0' + (wrong[pos] - '0' + 1 + made % 9) % 10);
    if (wrong != bsn && wrong != "000000000") {
      EXPECT_EQ(ParseBsn(wrong).reason, RejectReason::kBsnElevenTest) << "position " << pos;
    }
  }
}

TEST(BsnTest, BsnFromStemRefusesStemsWithoutACheckDigit) {
  // 9*1 + 8*0 + ... : a stem whose weighted sum is 10 mod 11 has no single-digit check digit.
  int refused = 0;
  for (uint32_t stem = 10000000; stem < 10001000; ++stem) {
    char digits[9];
    if (!BsnFromStem(stem, digits)) {
      ++refused;
    } else {
      EXPECT_TRUE(PassesElevenTest(std::string_view(digits, 9)));
    }
  }
  EXPECT_GT(refused, 0);
  char digits[9];
  EXPECT_FALSE(BsnFromStem(0, digits));  // all zeros
  EXPECT_FALSE(BsnFromStem(100000000, digits));
}

}  // namespace
}  // namespace koppel
