#include "core/oprf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/hex.h"

namespace koppel {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> Hex(std::string_view hex) {
  absl::StatusOr<std::vector<uint8_t>> bytes = FromHex(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

OprfElement Element(std::string_view hex) {
  std::vector<uint8_t> bytes = Hex(hex);
  OprfElement element{};
  EXPECT_EQ(bytes.size(), element.size()) << hex;
  std::copy_n(bytes.begin(), std::min(bytes.size(), element.size()), element.begin());
  return element;
}

std::vector<uint8_t> Text(std::string_view s) { return {s.begin(), s.end()}; }

// RFC 9497 Appendix A.1.1, OPRF(ristretto255, SHA-512), OPRF mode.
constexpr std::string_view kSeed =
    "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3";
constexpr std::string_view kKeyInfo = "74657374206b6579";  // "test key"
constexpr std::string_view kSkSm =
    "5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e";

struct OprfVector {
  std::string_view input;
  std::string_view blind;
  std::string_view blinded_element;
  std::string_view evaluation_element;
  std::string_view output;
};

// Test Vectors 1 and 2, batch size 1 (the mode has no batch vectors of its own).
constexpr OprfVector kVectors[] = {
    {"00", "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706",
     "609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c",
     "7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e",
     "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3"
     "ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6"},
    {"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
     "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706",
     "da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418",
     "b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25",
     "f4a74c9c592497375e796aa837e907b1a045d34306a749db9f34221f7e750cb4"
     "f2a6413a6bf6fa5e19ba6348eb673934a722a7ede2e7621306d18951e7cf2c73"},
};

// 2^255 - 19 (a non-canonical field encoding) and 1 (a negative field element): neither
// decodes as ristretto255.
constexpr std::string_view kNonCanonicalEncoding =
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";
constexpr std::string_view kNegativeEncoding =
    "0100000000000000000000000000000000000000000000000000000000000000";
// The group order, little-endian: not a canonical scalar.
constexpr std::string_view kGroupOrder =
    "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

OprfServerKey TestKey() {
  absl::StatusOr<OprfServerKey> key = OprfServerKey::Derive(Hex(kSeed), Hex(kKeyInfo));
  EXPECT_TRUE(key.ok()) << key.status();
  return std::move(*key);
}

OprfBlind TestBlind(std::string_view hex) {
  absl::StatusOr<OprfBlind> blind = OprfBlind::FromBytes(Hex(hex));
  EXPECT_TRUE(blind.ok()) << blind.status();
  return std::move(*blind);
}

TEST(OprfTest, ContextStringIsModeOprfRistretto255Sha512) {
  using namespace std::string_view_literals;
  EXPECT_EQ(OprfContextString(), "OPRFV1-\x00-ristretto255-SHA512"sv);
  EXPECT_EQ(OprfContextString().size(), 28u);  // the mode byte is a NUL
}

// RFC 9380 Appendix K.3, expand_message_xmd(SHA-512).
TEST(OprfTest, ExpandMessageXmdSha512MatchesRfc9380) {
  const std::string dst = "QUUX-V01-CS02-with-expander-SHA512-256";
  const std::string q128 = "q128_" + std::string(128, 'q');
  const std::string a512 = "a512_" + std::string(512, 'a');
  struct Case {
    std::string msg;
    size_t length;
    std::string uniform_bytes;
  };
  const Case cases[] = {
      {"", 0x20, "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"},
      {"abc", 0x20, "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"},
      {"abcdef0123456789", 0x20,
       "087e45a86e2939ee8b91100af1583c4938e0f5fc6c9db4b107b83346bc967f58"},
      {q128, 0x20, "7336234ee9983902440f6bc35b348352013becd88938d2afec44311caf8356b3"},
      {a512, 0x20, "57b5f7e766d5be68a6bfe1768e3c2b7f1228b3e4b3134956dd73a59b954c66f4"},
      {"", 0x80,
       "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921"
       "b052b62eaed99b46f72f2ef4cc96bfaf254ebbbec091e1a3b9e4fb5e5b619d2e"
       "0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842cf5d13d7e"
       "b00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961"},
      {"abc", 0x80,
       "7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11"
       "bdd7732d8b38adb4a0edc26a0cef4bb45217135456e58fbca1703cd6032cb134"
       "7ee720b87972d63fbf232587043ed2901bce7f22610c0419751c065922b48843"
       "1851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1"},
      {"abcdef0123456789", 0x80,
       "3f721f208e6199fe903545abc26c837ce59ac6fa45733f1baaf0222f8b7acb04"
       "24814fcb5eecf6c1d38f06e9d0a6ccfbf85ae612ab8735dfdf9ce84c372a77c8"
       "f9e1c1e952c3a61b7567dd0693016af51d2745822663d0c2367e3f4f0bed827f"
       "eecc2aaf98c949b5ed0d35c3f1023d64ad1407924288d366ea159f46287e61ac"},
      {q128, 0x80,
       "b799b045a58c8d2b4334cf54b78260b45eec544f9f2fb5bd12fb603eaee70db7"
       "317bf807c406e26373922b7b8920fa29142703dd52bdf280084fb7ef69da78af"
       "df80b3586395b433dc66cde048a258e476a561e9deba7060af40adf30c64249c"
       "a7ddea79806ee5beb9a1422949471d267b21bc88e688e4014087a0b592b695ed"},
      {a512, 0x80,
       "05b0bfef265dcee87654372777b7c44177e2ae4c13a27f103340d9cd11c86cb2"
       "426ffcad5bd964080c2aee97f03be1ca18e30a1f14e27bc11ebbd650f305269c"
       "c9fb1db08bf90bfc79b42a952b46daf810359e7bc36452684784a64952c343c5"
       "2e5124cd1f71d474d5197fefc571a92929c9084ffe1112cf5eea5192ebff330b"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> out(c.length);
    ASSERT_TRUE(ExpandMessageXmdSha512(Text(c.msg), dst, out).ok());
    EXPECT_EQ(ToHex(out), c.uniform_bytes) << "msg " << c.msg.substr(0, 16) << ", " << c.length;
  }
}

TEST(OprfTest, ExpandMessageXmdRejectsOutOfRangeParameters) {
  std::vector<uint8_t> out(32);
  EXPECT_EQ(ExpandMessageXmdSha512({}, "", out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ExpandMessageXmdSha512({}, std::string(256, 'x'), out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ExpandMessageXmdSha512({}, std::string(255, 'x'), out).ok());
  std::vector<uint8_t> too_long(255 * 64 + 1);
  EXPECT_EQ(ExpandMessageXmdSha512({}, "DST", too_long).code(), absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> longest(255 * 64);
  EXPECT_TRUE(ExpandMessageXmdSha512({}, "DST", longest).ok());
}

TEST(OprfTest, HashToGroupIsWhatTheVectorsBlind) {
  for (const OprfVector& v : kVectors) {
    OprfElement blinded;
    const OprfElement input_element = OprfHashToGroup(Hex(v.input));
    ASSERT_EQ(
        crypto_scalarmult_ristretto255(blinded.data(), Hex(v.blind).data(), input_element.data()),
        0);
    EXPECT_EQ(ToHex(blinded), v.blinded_element);
  }
}

TEST(OprfTest, HashToScalarReducesSixtyFourBytesUnderItsOwnTag) {
  const std::vector<uint8_t> message = Text("message");
  std::vector<uint8_t> uniform(64);
  const std::string dst = "HashToScalar-" + std::string(OprfContextString());
  ASSERT_TRUE(ExpandMessageXmdSha512(message, dst, uniform).ok());
  OprfScalar expected;
  crypto_core_ristretto255_scalar_reduce(expected.data(), uniform.data());
  EXPECT_EQ(OprfHashToScalar(message), expected);
}

TEST(OprfTest, DeriveKeyPairMatchesRfc9497) {
  OprfServerKey key = TestKey();
  EXPECT_EQ(ToHex(key.serialized().span()), kSkSm);
}

TEST(OprfTest, ProtocolMatchesRfc9497Vectors) {
  OprfServerKey key = TestKey();
  for (const OprfVector& v : kVectors) {
    SCOPED_TRACE(v.input);
    const std::vector<uint8_t> input = Hex(v.input);
    absl::StatusOr<OprfBlindedInput> blinded = BlindOprfInput(input, TestBlind(v.blind));
    ASSERT_TRUE(blinded.ok()) << blinded.status();
    EXPECT_EQ(ToHex(blinded->blinded_element), v.blinded_element);

    absl::StatusOr<OprfElement> evaluated = key.BlindEvaluate(blinded->blinded_element);
    ASSERT_TRUE(evaluated.ok()) << evaluated.status();
    EXPECT_EQ(ToHex(*evaluated), v.evaluation_element);

    absl::StatusOr<OprfOutput> output = FinalizeOprf(input, blinded->blind, *evaluated);
    ASSERT_TRUE(output.ok()) << output.status();
    EXPECT_EQ(ToHex(*output), v.output);

    absl::StatusOr<OprfOutput> direct = key.Evaluate(input);
    ASSERT_TRUE(direct.ok()) << direct.status();
    EXPECT_EQ(ToHex(*direct), v.output);
  }
}

TEST(OprfTest, KeyFromSerializedSkSmMatchesVectors) {
  absl::StatusOr<Secret> sk = Secret::FromBytes(Hex(kSkSm));
  ASSERT_TRUE(sk.ok());
  absl::StatusOr<OprfServerKey> key = OprfServerKey::FromSecret(*sk);
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<OprfElement> evaluated = key->BlindEvaluate(Element(kVectors[0].blinded_element));
  ASSERT_TRUE(evaluated.ok());
  EXPECT_EQ(ToHex(*evaluated), kVectors[0].evaluation_element);
}

TEST(OprfTest, BatchEvaluationMatchesRfc9497Vectors) {
  OprfServerKey key = TestKey();
  std::vector<OprfElement> blinded;
  for (const OprfVector& v : kVectors) blinded.push_back(Element(v.blinded_element));
  std::vector<OprfElement> evaluated(blinded.size());
  ASSERT_TRUE(key.BlindEvaluateBatch(blinded, evaluated).ok());
  for (size_t i = 0; i < blinded.size(); ++i) {
    EXPECT_EQ(ToHex(evaluated[i]), kVectors[i].evaluation_element) << i;
  }
  EXPECT_TRUE(key.BlindEvaluateBatch({}, {}).ok());
}

TEST(OprfTest, RandomBlindsGiveTheSameOutputAsDirectEvaluation) {
  absl::StatusOr<OprfServerKey> key = OprfServerKey::Generate();
  ASSERT_TRUE(key.ok()) << key.status();
  const std::vector<uint8_t> input = Text("123456782");
  absl::StatusOr<OprfBlindedInput> first = BlindOprfInput(input);
  absl::StatusOr<OprfBlindedInput> second = BlindOprfInput(input);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->blinded_element, second->blinded_element);

  absl::StatusOr<OprfElement> first_evaluated = key->BlindEvaluate(first->blinded_element);
  absl::StatusOr<OprfElement> second_evaluated = key->BlindEvaluate(second->blinded_element);
  ASSERT_TRUE(first_evaluated.ok() && second_evaluated.ok());
  absl::StatusOr<OprfOutput> first_output = FinalizeOprf(input, first->blind, *first_evaluated);
  absl::StatusOr<OprfOutput> second_output = FinalizeOprf(input, second->blind, *second_evaluated);
  absl::StatusOr<OprfOutput> direct = key->Evaluate(input);
  ASSERT_TRUE(first_output.ok() && second_output.ok() && direct.ok());
  EXPECT_EQ(*first_output, *direct);
  EXPECT_EQ(*second_output, *direct);

  absl::StatusOr<OprfServerKey> other_key = OprfServerKey::Generate();
  ASSERT_TRUE(other_key.ok());
  absl::StatusOr<OprfOutput> other = other_key->Evaluate(input);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *direct);
}

TEST(OprfTest, EmptyAndLongestInputsAreAccepted) {
  OprfServerKey key = TestKey();
  for (size_t size : {size_t{0}, kOprfMaxInputSize}) {
    const std::vector<uint8_t> input(size, 0x5a);
    absl::StatusOr<OprfBlindedInput> blinded = BlindOprfInput(input);
    ASSERT_TRUE(blinded.ok()) << blinded.status();
    absl::StatusOr<OprfElement> evaluated = key.BlindEvaluate(blinded->blinded_element);
    ASSERT_TRUE(evaluated.ok());
    absl::StatusOr<OprfOutput> output = FinalizeOprf(input, blinded->blind, *evaluated);
    absl::StatusOr<OprfOutput> direct = key.Evaluate(input);
    ASSERT_TRUE(output.ok() && direct.ok());
    EXPECT_EQ(*output, *direct) << size;
  }
}

TEST(OprfTest, RejectsInputsLongerThanTheLengthPrefixAllows) {
  OprfServerKey key = TestKey();
  const std::vector<uint8_t> input(kOprfMaxInputSize + 1, 0x5a);
  EXPECT_EQ(BlindOprfInput(input).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(key.Evaluate(input).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      FinalizeOprf(input, TestBlind(kVectors[0].blind), Element(kVectors[0].evaluation_element))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(OprfTest, BlindEvaluateRejectsInvalidElements) {
  OprfServerKey key = TestKey();
  absl::StatusOr<OprfElement> identity = key.BlindEvaluate(OprfElement{});
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(identity.status().message(), HasSubstr("identity"));
  const std::string all_ones(2 * kOprfElementSize, 'f');
  for (std::string_view bad :
       {kNonCanonicalEncoding, kNegativeEncoding, std::string_view(all_ones)}) {
    absl::StatusOr<OprfElement> evaluated = key.BlindEvaluate(Element(bad));
    EXPECT_EQ(evaluated.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(evaluated.status().message(), HasSubstr("not a canonical ristretto255")) << bad;
  }
}

TEST(OprfTest, BatchFailsWholeOnOneInvalidElementAndNamesIt) {
  OprfServerKey key = TestKey();
  std::vector<OprfElement> blinded = {Element(kVectors[0].blinded_element),
                                      Element(kVectors[1].blinded_element),
                                      Element(kNegativeEncoding)};
  std::vector<OprfElement> evaluated(blinded.size());
  absl::Status status = key.BlindEvaluateBatch(blinded, evaluated);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("blinded element 2"));
  for (const OprfElement& e : evaluated) EXPECT_EQ(e, OprfElement{});

  blinded[2] = OprfElement{};
  status = key.BlindEvaluateBatch(blinded, evaluated);
  EXPECT_THAT(status.message(), HasSubstr("identity"));

  std::vector<OprfElement> too_small(1);
  EXPECT_EQ(key.BlindEvaluateBatch(blinded, too_small).code(), absl::StatusCode::kInvalidArgument);
}

TEST(OprfTest, FinalizeRejectsInvalidEvaluatedElements) {
  const std::vector<uint8_t> input = Hex(kVectors[0].input);
  OprfBlind blind = TestBlind(kVectors[0].blind);
  absl::StatusOr<OprfOutput> identity = FinalizeOprf(input, blind, OprfElement{});
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(identity.status().message(), HasSubstr("identity"));
  absl::StatusOr<OprfOutput> bad = FinalizeOprf(input, blind, Element(kNonCanonicalEncoding));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(OprfTest, MovedFromBlindIsRefused) {
  const std::vector<uint8_t> input = Hex(kVectors[0].input);
  OprfBlind blind = TestBlind(kVectors[0].blind);
  OprfBlind taken = std::move(blind);
  EXPECT_EQ(FinalizeOprf(input, blind, Element(kVectors[0].evaluation_element)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BlindOprfInput(input, std::move(blind)).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<OprfOutput> output =
      FinalizeOprf(input, taken, Element(kVectors[0].evaluation_element));
  ASSERT_TRUE(output.ok());
  EXPECT_EQ(ToHex(*output), kVectors[0].output);
}

TEST(OprfTest, ScalarsMustBeCanonicalNonZeroAndThirtyTwoBytes) {
  const std::vector<uint8_t> zero(32, 0);
  EXPECT_FALSE(OprfBlind::FromBytes(zero).ok());
  EXPECT_FALSE(OprfBlind::FromBytes(Hex(kGroupOrder)).ok());
  EXPECT_FALSE(OprfBlind::FromBytes(std::vector<uint8_t>(31, 1)).ok());
  EXPECT_FALSE(OprfBlind::FromBytes(std::vector<uint8_t>(33, 1)).ok());
  // The group order minus one is the largest canonical scalar.
  std::vector<uint8_t> largest = Hex(kGroupOrder);
  largest[0] = static_cast<uint8_t>(largest[0] - 1);
  EXPECT_TRUE(OprfBlind::FromBytes(largest).ok());

  for (const std::vector<uint8_t>& bad :
       {zero, Hex(kGroupOrder), std::vector<uint8_t>(31, 1), std::vector<uint8_t>(32, 0xff)}) {
    absl::StatusOr<Secret> secret = Secret::FromBytes(bad);
    ASSERT_TRUE(secret.ok());
    absl::StatusOr<OprfServerKey> key = OprfServerKey::FromSecret(*secret);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument) << ToHex(bad);
  }
}

TEST(OprfTest, DeriveRejectsBadSeedAndInfoSizes) {
  EXPECT_EQ(OprfServerKey::Derive(std::vector<uint8_t>(31, 0xa3), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OprfServerKey::Derive(std::vector<uint8_t>(33, 0xa3), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OprfServerKey::Derive(Hex(kSeed), std::vector<uint8_t>(kOprfMaxInputSize + 1, 0))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<OprfServerKey> no_info = OprfServerKey::Derive(Hex(kSeed), {});
  ASSERT_TRUE(no_info.ok());
  EXPECT_NE(ToHex(no_info->serialized().span()), kSkSm);
}

// The batch API gives the RFC's blinded elements and outputs, whatever the number of threads.
TEST(OprfClientBatchTest, MatchesRfc9497Vectors) {
  OprfServerKey key = TestKey();
  std::vector<std::string> inputs;
  std::vector<OprfBlind> blinds;
  for (const OprfVector& v : kVectors) {
    const std::vector<uint8_t> input = Hex(v.input);
    inputs.emplace_back(input.begin(), input.end());
    blinds.push_back(TestBlind(v.blind));
  }
  WorkerPool two(1), four(3);
  for (WorkerPool* pool : {static_cast<WorkerPool*>(nullptr), &two, &four}) {
    std::vector<OprfElement> blinded;
    absl::StatusOr<OprfClientBatch> batch = OprfClientBatch::Blind(inputs, blinds, &blinded, pool);
    ASSERT_TRUE(batch.ok()) << batch.status();
    std::vector<OprfElement> evaluated(blinded.size());
    ASSERT_TRUE(key.BlindEvaluateBatch(blinded, evaluated, pool).ok());
    std::vector<OprfOutput> outputs(blinded.size());
    ASSERT_TRUE(batch->Finalize(inputs, evaluated, outputs, pool).ok());
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(ToHex(blinded[i]), kVectors[i].blinded_element) << i;
      EXPECT_EQ(ToHex(evaluated[i]), kVectors[i].evaluation_element) << i;
      EXPECT_EQ(ToHex(outputs[i]), kVectors[i].output) << i;
    }
  }
}

// Inputs of different lengths, enough for several parts per thread (and a part of one input at
// the end for Montgomery's trick), through the batch API with 1, 2, 3 and 6 threads: every
// output equals the direct evaluation, and the server's parallel evaluation equals its
// sequential one.
TEST(OprfClientBatchTest, ParallelBatchesGiveTheOutputsOfSequentialEvaluation) {
  absl::StatusOr<OprfServerKey> key = OprfServerKey::Generate();
  ASSERT_TRUE(key.ok()) << key.status();
  std::vector<std::string> inputs;
  for (size_t i = 0; i < 1153; ++i) {
    inputs.push_back("bsn:" + std::string(i % 40, static_cast<char>('a' + i % 26)));
  }
  std::vector<OprfOutput> direct;
  for (const std::string& input : inputs) {
    absl::StatusOr<OprfOutput> output =
        key->Evaluate({reinterpret_cast<const uint8_t*>(input.data()), input.size()});
    ASSERT_TRUE(output.ok());
    direct.push_back(*output);
  }
  std::vector<OprfElement> sequential_evaluation;
  for (size_t workers : {size_t{0}, size_t{1}, size_t{2}, size_t{5}}) {
    SCOPED_TRACE(workers);
    std::unique_ptr<WorkerPool> pool =
        workers == 0 ? nullptr : std::make_unique<WorkerPool>(workers);
    std::vector<OprfElement> blinded;
    absl::StatusOr<OprfClientBatch> batch = OprfClientBatch::Blind(inputs, &blinded, pool.get());
    ASSERT_TRUE(batch.ok()) << batch.status();
    ASSERT_EQ(batch->size(), inputs.size());
    std::vector<OprfElement> evaluated(blinded.size());
    ASSERT_TRUE(key->BlindEvaluateBatch(blinded, evaluated, pool.get()).ok());
    std::vector<OprfElement> check(blinded.size());
    ASSERT_TRUE(key->BlindEvaluateBatch(blinded, check).ok());
    EXPECT_EQ(evaluated, check);
    std::vector<OprfOutput> outputs(inputs.size());
    ASSERT_TRUE(batch->Finalize(inputs, evaluated, outputs, pool.get()).ok());
    EXPECT_EQ(outputs, direct);
  }
}

TEST(OprfClientBatchTest, FreshBlindsDifferBetweenBatches) {
  const std::vector<std::string> inputs(100, "bsn:123456782");
  std::vector<OprfElement> first, second;
  ASSERT_TRUE(OprfClientBatch::Blind(inputs, &first).ok());
  ASSERT_TRUE(OprfClientBatch::Blind(inputs, &second).ok());
  std::set<std::string> distinct;
  for (const OprfElement& e : first) distinct.insert(ToHex(e));
  for (const OprfElement& e : second) distinct.insert(ToHex(e));
  EXPECT_EQ(distinct.size(), 200u);
}

TEST(OprfClientBatchTest, OneInvalidEvaluatedElementFailsTheBatchNamingTheFirst) {
  absl::StatusOr<OprfServerKey> key = OprfServerKey::Generate();
  ASSERT_TRUE(key.ok());
  const std::vector<std::string> inputs(300, "address:7607AB|12||");
  WorkerPool pool(3);
  std::vector<OprfElement> blinded;
  absl::StatusOr<OprfClientBatch> batch = OprfClientBatch::Blind(inputs, &blinded, &pool);
  ASSERT_TRUE(batch.ok());
  std::vector<OprfElement> evaluated(blinded.size());
  ASSERT_TRUE(key->BlindEvaluateBatch(blinded, evaluated, &pool).ok());
  evaluated[290] = Element(kNegativeEncoding);
  evaluated[137] = OprfElement{};
  std::vector<OprfOutput> outputs(inputs.size());
  absl::Status status = batch->Finalize(inputs, evaluated, outputs, &pool);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("element 137 of the batch"));
  EXPECT_THAT(status.message(), HasSubstr("identity"));
  for (const OprfOutput& output : outputs) EXPECT_EQ(output, OprfOutput{});

  std::vector<OprfOutput> too_few(inputs.size() - 1);
  EXPECT_EQ(batch->Finalize(inputs, evaluated, too_few).code(), absl::StatusCode::kInvalidArgument);
}

TEST(OprfClientBatchTest, ServerBatchNamesTheLowestInvalidElementOnAnyThread) {
  OprfServerKey key = TestKey();
  std::vector<OprfElement> blinded(500, Element(kVectors[0].blinded_element));
  blinded[480] = OprfElement{};
  blinded[211] = Element(kNonCanonicalEncoding);
  WorkerPool pool(3);
  std::vector<OprfElement> evaluated(blinded.size());
  absl::Status status = key.BlindEvaluateBatch(blinded, evaluated, &pool);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("blinded element 211"));
  for (const OprfElement& e : evaluated) EXPECT_EQ(e, OprfElement{});
}

TEST(OprfClientBatchTest, RefusesLongInputsAndMismatchedBlinds) {
  const std::vector<std::string> inputs = {"a", std::string(kOprfMaxInputSize + 1, 'x')};
  std::vector<OprfElement> blinded;
  absl::StatusOr<OprfClientBatch> batch = OprfClientBatch::Blind(inputs, &blinded);
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(batch.status().message(), HasSubstr("element 1 of the batch"));
  std::vector<OprfBlind> one;
  one.push_back(TestBlind(kVectors[0].blind));
  EXPECT_EQ(OprfClientBatch::Blind(inputs, one, &blinded).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace koppel
