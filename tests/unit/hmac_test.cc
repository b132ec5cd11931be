#include "core/hmac.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/hex.h"

namespace koppel {
namespace {

std::vector<uint8_t> Hex(std::string_view hex) {
  absl::StatusOr<std::vector<uint8_t>> bytes = FromHex(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

std::vector<uint8_t> Repeat(uint8_t byte, size_t n) { return std::vector<uint8_t>(n, byte); }

std::vector<uint8_t> Text(std::string_view s) { return {s.begin(), s.end()}; }

struct HmacCase {
  std::vector<uint8_t> key;
  std::vector<uint8_t> data;
  std::string mac_hex;  // may be a truncated prefix (RFC 4231 case 5)
};

// RFC 4231 section 4, HMAC-SHA-256 results of test cases 1-7.
std::vector<HmacCase> Rfc4231Cases() {
  return {
      {Repeat(0x0b, 20), Text("Hi There"),
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {Text("Jefe"), Text("what do ya want for nothing?"),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {Repeat(0xaa, 20), Repeat(0xdd, 50),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {Hex("0102030405060708090a0b0c0d0e0f10111213141516171819"), Repeat(0xcd, 50),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {Repeat(0x0c, 20), Text("Test With Truncation"), "a3b6167473100ee06e0c796c2955552b"},
      {Repeat(0xaa, 131), Text("Test Using Larger Than Block-Size Key - Hash Key First"),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {Repeat(0xaa, 131),
       Text("This is a test using a larger than block-size key and a larger than block-size "
            "data. The key needs to be hashed before being used by the HMAC algorithm."),
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
}

TEST(HmacTest, OneShotMatchesRfc4231) {
  int index = 1;
  for (const HmacCase& c : Rfc4231Cases()) {
    Digest256 mac = HmacSha256(c.key, c.data);
    EXPECT_EQ(ToHex(mac).substr(0, c.mac_hex.size()), c.mac_hex) << "case " << index;
    ++index;
  }
}

TEST(HmacTest, PrecomputedKeyMatchesRfc4231AndIsReusable) {
  int index = 1;
  for (const HmacCase& c : Rfc4231Cases()) {
    absl::StatusOr<HmacSha256Key> key = HmacSha256Key::Create(c.key);
    ASSERT_TRUE(key.ok()) << key.status();
    for (int round = 0; round < 3; ++round) {
      Digest256 mac = key->Mac(c.data);
      EXPECT_EQ(ToHex(mac).substr(0, c.mac_hex.size()), c.mac_hex)
          << "case " << index << " round " << round;
    }
    ++index;
  }
}

struct HkdfCase {
  std::vector<uint8_t> ikm;
  std::vector<uint8_t> salt;
  std::vector<uint8_t> info;
  size_t length;
  std::string okm_hex;
};

TEST(HkdfTest, MatchesRfc5869Sha256Cases) {
  std::vector<uint8_t> ikm2, salt2, info2;
  for (int i = 0x00; i <= 0x4f; ++i) ikm2.push_back(static_cast<uint8_t>(i));
  for (int i = 0x60; i <= 0xaf; ++i) salt2.push_back(static_cast<uint8_t>(i));
  for (int i = 0xb0; i <= 0xff; ++i) info2.push_back(static_cast<uint8_t>(i));
  HkdfCase cases[] = {
      {Repeat(0x0b, 22), Hex("000102030405060708090a0b0c"), Hex("f0f1f2f3f4f5f6f7f8f9"), 42,
       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
      {ikm2, salt2, info2, 82,
       "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c6"
       "5e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
      {Repeat(0x0b, 22),
       {},
       {},
       42,
       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
  };
  int index = 1;
  for (const HkdfCase& c : cases) {
    std::string info(c.info.begin(), c.info.end());
    absl::StatusOr<Secret> okm = HkdfSha256(c.ikm, c.salt, info, c.length);
    ASSERT_TRUE(okm.ok()) << okm.status();
    EXPECT_EQ(ToHex(okm->span()), c.okm_hex) << "case " << index;
    ++index;
  }
}

TEST(HkdfTest, RefusesImpossibleLength) {
  absl::StatusOr<Secret> okm = HkdfSha256(Repeat(1, 32), {}, "x", 255 * 32 + 1);
  EXPECT_FALSE(okm.ok());
}

}  // namespace
}  // namespace koppel
