#include "core/token.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/address.h"
#include "core/bsn.h"
#include "core/hex.h"

namespace koppel {
namespace {

using nlohmann::json;

json LoadVectors() {
  std::ifstream in(KOPPEL_TESTDATA_DIR "/token_vectors.json");
  EXPECT_TRUE(in.good()) << "cannot open token_vectors.json";
  return json::parse(in);
}

Tokenizer MakeTokenizer(const std::string& key_hex) {
  absl::StatusOr<std::vector<uint8_t>> key_bytes = FromHex(key_hex);
  EXPECT_TRUE(key_bytes.ok());
  absl::StatusOr<Secret> key = Secret::FromBytes(*key_bytes);
  EXPECT_TRUE(key.ok());
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::Create(*key);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return std::move(*tokenizer);
}

// Parses a vector's input the way the agent does: BSN, free-form or separate address fields.
struct Parsed {
  RejectReason reason;
  std::string canonical;
};

Parsed ParseVectorInput(const json& vector) {
  const std::string kind = vector.at("kind");
  const json& input = vector.at("input");
  if (kind == "bsn") {
    BsnResult r = ParseBsn(input.get<std::string>());
    return {r.reason, r.ok() ? std::string(r.view()) : ""};
  }
  AddressResult r =
      input.contains("house")
          ? ParseAddress(input.at("postcode").get<std::string>(),
                         input.at("house").get<std::string>())
          : ParseAddressFields(input.at("postcode").get<std::string>(),
                               input.at("number").get<std::string>(), input.value("letter", ""),
                               input.value("addition", ""));
  return {r.reason, r.ok() ? std::string(r.view()) : ""};
}

TEST(TokenTest, MatchesEveryValidReferenceVector) {
  json vectors = LoadVectors();
  Tokenizer tokenizer = MakeTokenizer(vectors.at("k_cov_hex"));
  ASSERT_GE(vectors.at("valid").size(), 12u);
  for (const json& v : vectors.at("valid")) {
    Parsed parsed = ParseVectorInput(v);
    ASSERT_EQ(parsed.reason, RejectReason::kNone) << v.dump();
    EXPECT_EQ(parsed.canonical, v.at("canonical").get<std::string>()) << v.dump();
    IdentifierKind kind = *IdentifierKindFromName(v.at("kind").get<std::string>());
    EXPECT_EQ(ToHex(tokenizer.Tokenize(kind, parsed.canonical)),
              v.at("token_hex").get<std::string>())
        << v.dump();
  }
}

TEST(TokenTest, RejectsEveryInvalidReferenceVectorWithTheExpectedReason) {
  // The reference file describes reasons in words; these are our names for them.
  const std::map<std::string, RejectReason> expected = {
      {"fails 11-test", RejectReason::kBsnElevenTest},
      {"all zeros", RejectReason::kBsnAllZero},
      {"not digits", RejectReason::kBsnBadCharacters},
      {"too short", RejectReason::kBsnBadLength},
      {"postcode starts with 0", RejectReason::kPostcodeBadFormat},
      {"letter pair SA not used", RejectReason::kPostcodeUnusedLetters},
      {"house number 0", RejectReason::kHouseNumberOutOfRange},
      {"house number missing", RejectReason::kHouseNumberEmpty},
  };
  json vectors = LoadVectors();
  ASSERT_EQ(vectors.at("invalid").size(), expected.size());
  for (const json& v : vectors.at("invalid")) {
    auto it = expected.find(v.at("reason").get<std::string>());
    ASSERT_NE(it, expected.end()) << "unmapped reason in " << v.dump();
    EXPECT_EQ(ParseVectorInput(v).reason, it->second) << v.dump();
  }
}

TEST(TokenTest, KindsUseSeparateKeys) {
  Tokenizer tokenizer = MakeTokenizer(LoadVectors().at("k_cov_hex"));
  EXPECT_NE(tokenizer.Tokenize(IdentifierKind::kBsn, "123456782"),
            tokenizer.Tokenize(IdentifierKind::kAddress, "123456782"));
}

TEST(TokenTest, DifferentCovenantKeysGiveUnrelatedTokens) {
  Tokenizer a = MakeTokenizer(std::string(64, '1'));
  Tokenizer b = MakeTokenizer(std::string(64, '2'));
  EXPECT_NE(a.Tokenize(IdentifierKind::kBsn, "123456782"),
            b.Tokenize(IdentifierKind::kBsn, "123456782"));
}

TEST(TokenTest, RefusesKeyOfWrongSize) {
  absl::StatusOr<Secret> key = Secret::Random(16);
  ASSERT_TRUE(key.ok());
  EXPECT_FALSE(Tokenizer::Create(*key).ok());
}

TEST(TokenTest, IndependentImplementationAgreesOnRandomBsns) {
  // Recomputes the scheme from the one-shot primitives for random valid BSNs.
  json vectors = LoadVectors();
  Tokenizer tokenizer = MakeTokenizer(vectors.at("k_cov_hex"));
  std::vector<uint8_t> k_cov = *FromHex(vectors.at("k_cov_hex").get<std::string>());
  absl::StatusOr<Secret> k_bsn = HkdfSha256(k_cov, {}, "koppel/v1/bsn", 32);
  ASSERT_TRUE(k_bsn.ok());
  std::mt19937 rng(20141231);
  std::uniform_int_distribution<uint32_t> stems(0, 99999999);
  int checked = 0;
  while (checked < 2000) {
    char digits[9];
    if (!BsnFromStem(stems(rng), digits)) continue;
    std::string_view bsn(digits, 9);
    if (bsn == "000000000") continue;
    BsnResult parsed = ParseBsn(bsn);
    ASSERT_TRUE(parsed.ok()) << RejectReasonName(parsed.reason);
    std::span<const uint8_t> message(reinterpret_cast<const uint8_t*>(digits), 9);
    EXPECT_EQ(tokenizer.Tokenize(IdentifierKind::kBsn, parsed.view()),
              HmacSha256(k_bsn->span(), message));
    ++checked;
  }
}

}  // namespace
}  // namespace koppel
