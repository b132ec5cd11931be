// The OPRF token source against an in-process vault that evaluates with a known key: pipelined
// chunks blinded and finalized on several threads give exactly the tokens of direct
// evaluation, in order; the vault's limits are kept; a bad answer fails the call cleanly.
#include "agents/token_source.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "core/oprf.h"
#include "koppel/v1/vault.grpc.pb.h"

namespace koppel::agent {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kEpoch = 3;

// How FakeVault says its token mode: as the vault does, as a vault from before the enum did,
// or not at all.
enum class ModeAnswer { kEnum, kLegacyString, kNone };

// A vault serving one OPRF covenant, with no TLS and no quota; it can be told to spoil its
// answer to the n-th call.
class FakeVault final : public v1::VaultService::Service {
 public:
  explicit FakeVault(OprfServerKey key) : key_(std::move(key)) {}

  grpc::Status GetCovenantKey(grpc::ServerContext*, const v1::GetCovenantKeyRequest*,
                              v1::GetCovenantKeyResponse* response) override {
    if (mode_answer_ == ModeAnswer::kEnum) response->set_token_mode(v1::TOKEN_MODE_OPRF);
    if (mode_answer_ == ModeAnswer::kLegacyString) response->set_legacy_token_mode("oprf");
    response->set_key_epoch(kEpoch);
    response->set_covenant_version(2);
    return grpc::Status::OK;
  }

  grpc::Status EvaluateOprf(grpc::ServerContext*, const v1::EvaluateOprfRequest* request,
                            v1::EvaluateOprfResponse* response) override {
    const int call = calls_.fetch_add(1);
    const size_t count = static_cast<size_t>(request->blinded_elements_size());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      largest_call_ = std::max(largest_call_, count);
    }
    if (count == 0 || count > 4096) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "send 1 to 4096");
    }
    std::vector<OprfElement> blinded(count), evaluated(count);
    for (size_t i = 0; i < count; ++i) {
      const std::string& e = request->blinded_elements(static_cast<int>(i));
      std::copy(e.begin(), e.end(), reinterpret_cast<char*>(blinded[i].data()));
    }
    if (absl::Status s = key_.BlindEvaluateBatch(blinded, evaluated); !s.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message()));
    }
    if (call == spoil_call_) evaluated[count / 2] = OprfElement{};
    for (const OprfElement& e : evaluated) {
      response->add_evaluated_elements(reinterpret_cast<const char*>(e.data()), e.size());
    }
    response->set_key_epoch(
        call == wrong_epoch_call_
            ? static_cast<uint32_t>(static_cast<int>(kEpoch) + wrong_epoch_offset_.load())
            : kEpoch);
    return grpc::Status::OK;
  }

  int calls() const { return calls_.load(); }
  size_t largest_call() {
    std::lock_guard<std::mutex> lock(mutex_);
    return largest_call_;
  }
  void SpoilCall(int call) { spoil_call_ = call; }
  // Answers call `call` under key epoch kEpoch + `offset` (a rotation meanwhile: +1).
  void WrongEpochInCall(int call, int offset = -1) {
    wrong_epoch_offset_ = offset;
    wrong_epoch_call_ = call;
  }
  void AnswerMode(ModeAnswer answer) { mode_answer_ = answer; }

 private:
  OprfServerKey key_;
  std::atomic<int> calls_{0};
  std::mutex mutex_;
  size_t largest_call_ = 0;
  std::atomic<int> spoil_call_{-1};
  std::atomic<int> wrong_epoch_call_{-1};
  std::atomic<int> wrong_epoch_offset_{-1};
  std::atomic<ModeAnswer> mode_answer_{ModeAnswer::kEnum};
};

class OprfTokenSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<OprfServerKey> key = OprfServerKey::Generate();
    ASSERT_TRUE(key.ok());
    absl::StatusOr<Secret> copy = Secret::FromBytes(key->serialized().span());
    ASSERT_TRUE(copy.ok());
    absl::StatusOr<OprfServerKey> vault_key = OprfServerKey::FromSecret(*copy);
    ASSERT_TRUE(vault_key.ok());
    key_.emplace(std::move(*key));
    vault_ = std::make_unique<FakeVault>(std::move(*vault_key));
    grpc::ServerBuilder builder;
    builder.RegisterService(vault_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  std::unique_ptr<TokenSource> Source(size_t threads) {
    absl::StatusOr<std::unique_ptr<TokenSource>> source =
        TokenSourceFromVault(server_->InProcessChannel(grpc::ChannelArguments()), "c", threads);
    EXPECT_TRUE(source.ok()) << source.status();
    return source.ok() ? std::move(*source) : nullptr;
  }

  // The token of `kind:canonical` evaluated directly with the vault's key.
  Token Direct(IdentifierKind kind, const std::string& canonical) {
    const std::string input = std::string(IdentifierKindName(kind)) + ":" + canonical;
    absl::StatusOr<OprfOutput> output =
        key_->Evaluate({reinterpret_cast<const uint8_t*>(input.data()), input.size()});
    EXPECT_TRUE(output.ok());
    Token token{};
    if (output.ok()) std::copy(output->begin(), output->begin() + 32, token.begin());
    return token;
  }

  std::optional<OprfServerKey> key_;
  std::unique_ptr<FakeVault> vault_;
  std::unique_ptr<grpc::Server> server_;
};

// Several chunks (one short), on 1, 2, 3 and every core: the same tokens, in input order, as
// the key evaluated directly; no call above the vault's limit.
TEST_F(OprfTokenSourceTest, ParallelPipelinedTokensEqualDirectEvaluation) {
  std::vector<std::string> bsns, addresses;
  for (int i = 0; i < 4500; ++i) {
    bsns.push_back(fmt::format("{:09d}", 100000000 + i * 7919));
    addresses.push_back(fmt::format("7607AB|{}|{}|", i % 300, i % 3 == 0 ? "A" : ""));
  }
  std::vector<Token> expected_bsn, expected_address;
  for (int i = 0; i < 4500; ++i) {
    expected_bsn.push_back(Direct(IdentifierKind::kBsn, bsns[static_cast<size_t>(i)]));
    expected_address.push_back(Direct(IdentifierKind::kAddress, addresses[static_cast<size_t>(i)]));
  }
  for (size_t threads : {size_t{1}, size_t{2}, size_t{3}, size_t{0}}) {
    SCOPED_TRACE(threads);
    std::unique_ptr<TokenSource> source = Source(threads);
    ASSERT_NE(source, nullptr);
    EXPECT_EQ(source->scheme(), "koppel/v1/oprf");
    EXPECT_EQ(source->key_epoch(), kEpoch);
    EXPECT_EQ(source->covenant_version(), 2u);
    std::vector<Token> tokens;
    ASSERT_TRUE(source->Tokenize(IdentifierKind::kBsn, bsns, bsns.size(), &tokens).ok());
    EXPECT_EQ(tokens, expected_bsn);
    // Fewer than the vector holds, as BatchSealer asks: only the first `count`.
    ASSERT_TRUE(source->Tokenize(IdentifierKind::kAddress, addresses, 2049, &tokens).ok());
    EXPECT_EQ(tokens,
              std::vector<Token>(expected_address.begin(), expected_address.begin() + 2049));
    ASSERT_TRUE(source->Tokenize(IdentifierKind::kAddress, addresses, 0, &tokens).ok());
    EXPECT_TRUE(tokens.empty());
  }
  EXPECT_LE(vault_->largest_call(), 4096u);
  EXPECT_GE(vault_->calls(), 4 * 5);  // 4500 and 2049 inputs each take more than one call
}

TEST_F(OprfTokenSourceTest, AnInvalidEvaluationFailsTheCallWithChunksStillInFlight) {
  std::vector<std::string> bsns(9000, "123456782");
  vault_->SpoilCall(1);
  std::unique_ptr<TokenSource> source = Source(2);
  ASSERT_NE(source, nullptr);
  std::vector<Token> tokens;
  absl::Status status = source->Tokenize(IdentifierKind::kBsn, bsns, bsns.size(), &tokens);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("identity"));
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("123456782")));

  // The source stays usable.
  std::vector<std::string> one = {"123456782"};
  ASSERT_TRUE(source->Tokenize(IdentifierKind::kBsn, one, 1, &tokens).ok());
  EXPECT_EQ(tokens[0], Direct(IdentifierKind::kBsn, "123456782"));
}

TEST_F(OprfTokenSourceTest, AnAnswerUnderAnotherKeyEpochIsRefused) {
  std::vector<std::string> bsns(5000, "111222333");
  vault_->WrongEpochInCall(2);
  std::unique_ptr<TokenSource> source = Source(0);
  ASSERT_NE(source, nullptr);
  std::vector<Token> tokens;
  absl::Status status = source->Tokenize(IdentifierKind::kBsn, bsns, bsns.size(), &tokens);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
}

TEST_F(OprfTokenSourceTest, ARotationDuringASealAsksToSealAgain) {
  std::vector<std::string> bsns(5000, "111222333");
  vault_->WrongEpochInCall(1, +1);
  std::unique_ptr<TokenSource> source = Source(0);
  ASSERT_NE(source, nullptr);
  std::vector<Token> tokens;
  absl::Status status = source->Tokenize(IdentifierKind::kBsn, bsns, bsns.size(), &tokens);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_EQ(status.message(),
            "covenant c started key epoch 4 during this seal; run seal again: nothing of this "
            "run is kept");
}

// A vault from before the TokenMode enum says "oprf" in the old string field only.
TEST_F(OprfTokenSourceTest, AVaultFromBeforeTheEnumIsUnderstood) {
  vault_->AnswerMode(ModeAnswer::kLegacyString);
  std::unique_ptr<TokenSource> source = Source(1);
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->scheme(), "koppel/v1/oprf");
  std::vector<std::string> one = {"123456782"};
  std::vector<Token> tokens;
  ASSERT_TRUE(source->Tokenize(IdentifierKind::kBsn, one, 1, &tokens).ok());
  EXPECT_EQ(tokens[0], Direct(IdentifierKind::kBsn, "123456782"));
}

// Neither field set: the agent refuses instead of taking it for HMAC mode.
TEST_F(OprfTokenSourceTest, AVaultThatSaysNoTokenModeIsRefused) {
  vault_->AnswerMode(ModeAnswer::kNone);
  absl::StatusOr<std::unique_ptr<TokenSource>> source =
      TokenSourceFromVault(server_->InProcessChannel(grpc::ChannelArguments()), "c", 1);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(source.status().message(),
              HasSubstr("the vault did not say its token mode; agent and vault versions differ"));
}

}  // namespace
}  // namespace koppel::agent
