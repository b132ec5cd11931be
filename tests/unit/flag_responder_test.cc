// The purpose-bound release on a real linker store: the recipient gets exactly the flags of the
// records it delivered itself, nothing about anyone else, and only what its covenant lists.
#include "linker/flag_responder.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/hex.h"
#include "core/hmac.h"
#include "linker/linker_store.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

constexpr char kCovenantId[] = "who-else";

Covenant MakeCovenant() {
  Covenant c;
  c.id = kCovenantId;
  c.version = 3;
  c.title = "Who else is involved";
  for (const char* dataset : {"wijkteam", "jeugdzorg", "schuldhulp"}) {
    CovenantParty party;
    party.name = std::string("agent-") + dataset;
    party.organisation = dataset;
    party.roles = {"data_holder"};
    party.purpose = "signal";
    party.legal_basis = "test";
    party.datasets[dataset] = DatasetGrant{dataset, {"bsn"}, {"start"}};
    c.parties[party.name] = party;
  }
  CovenantParty linker;
  linker.name = "linker";
  linker.roles = {"linker"};
  c.parties["linker"] = linker;
  PurposeBoundRelease release;
  release.name = "who-else-involved";
  release.recipient = "agent-wijkteam";
  release.purpose = "one family, one plan";
  release.legal_basis = "test";
  release.dataset = "wijkteam";
  release.flags = {{"known_at_jeugdzorg", "jeugdzorg"}, {"known_at_schuldhulp", "schuldhulp"}};
  c.releases.push_back(release);
  return c;
}

class FlagResponderTest : public ::testing::Test {
 protected:
  // People 0..9 are wijkteam clients; jeugdzorg knows 0, 2, 4, 7 and also 20, 21 (not at the
  // wijkteam); schuldhulp knows 2, 3, 7 and 22. Person 30 is known nowhere.
  void SetUp() override {
    ASSERT_EQ(sodium_init() >= 0, true);
    std::vector<uint8_t> link_key(32);
    randombytes_buf(link_key.data(), link_key.size());
    rekey_ = std::make_unique<HmacSha256Key>(*HmacSha256Key::Create(link_key));
    for (int person = 0; person < 40; ++person) {
      std::string token(32, '\0');
      randombytes_buf(token.data(), token.size());
      tokens_.push_back(token);
    }
    absl::StatusOr<std::unique_ptr<LinkerStore>> store = LinkerStore::Open(dir_ / "db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    Deliver("wijkteam", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    Deliver("jeugdzorg", {0, 2, 4, 7, 20, 21});
    Deliver("schuldhulp", {2, 3, 7, 22});
    Deliver("schuldhulp", {7});  // a second record of the same person: still one flag
    responder_ = std::make_unique<FlagResponder>(&covenant_, rekey_.get(), /*data_key=*/nullptr,
                                                 store_.get());  // person-level releases only
  }

  void Deliver(const std::string& dataset, const std::vector<int>& people) {
    std::vector<uint8_t> id(32);
    randombytes_buf(id.data(), id.size());
    v1::Receipt receipt;
    receipt.set_batch_id(ToHex(id));
    receipt.set_dataset(dataset);
    receipt.set_covenant_id(kCovenantId);
    receipt.set_sender("agent-" + dataset);
    receipt.set_records_accepted(people.size());
    v1::BatchHeader header;
    header.set_dataset(dataset);
    header.set_covenant_id(kCovenantId);
    std::vector<StoredRecord> records;
    for (int person : people) {
      Digest256 rekeyed = rekey_->Mac(tokens_[static_cast<size_t>(person)]);
      records.push_back({std::string(reinterpret_cast<const char*>(rekeyed.data()), 32),
                         std::string(40, 'x')});
    }
    absl::StatusOr<v1::Receipt> committed = store_->Commit(receipt, header, records);
    ASSERT_TRUE(committed.ok()) << committed.status();
  }

  v1::AskFlagsRequest Request(const std::vector<int>& people,
                              const std::vector<std::string>& flags = {}) {
    v1::AskFlagsRequest request;
    request.set_covenant_id(kCovenantId);
    request.set_release("who-else-involved");
    for (const std::string& flag : flags) request.add_flags(flag);
    for (int person : people) request.add_tokens(tokens_[static_cast<size_t>(person)]);
    return request;
  }

  // No error may carry a token, raw or in hex.
  void ExpectNoToken(const absl::Status& status) {
    const std::string message(status.message());
    for (const std::string& token : tokens_) {
      EXPECT_EQ(message.find(token), std::string::npos);
      EXPECT_EQ(message.find(ToHex(std::span(reinterpret_cast<const uint8_t*>(token.data()),
                                             token.size()))),
                std::string::npos);
    }
  }

  testing::TempDir dir_;
  Covenant covenant_ = MakeCovenant();
  std::unique_ptr<HmacSha256Key> rekey_;
  std::vector<std::string> tokens_;
  std::unique_ptr<LinkerStore> store_;
  std::unique_ptr<FlagResponder> responder_;
};

TEST_F(FlagResponderTest, AnswersExactlyTheFlagsOfOwnRecords) {
  const std::vector<int> asked = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  absl::StatusOr<v1::AskFlagsResponse> response =
      responder_->Answer("agent-wijkteam", Request(asked));
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->flags_size(), 2);
  EXPECT_EQ(response->flags(0), "known_at_jeugdzorg");
  EXPECT_EQ(response->flags(1), "known_at_schuldhulp");
  EXPECT_EQ(response->covenant_version(), 3u);
  const std::set<int> jeugdzorg = {0, 2, 4, 7};
  const std::set<int> schuldhulp = {2, 3, 7};
  ASSERT_EQ(response->answers_size(), static_cast<int>(asked.size()));
  for (size_t i = 0; i < asked.size(); ++i) {
    const v1::FlagAnswer& answer = response->answers(static_cast<int>(i));
    SCOPED_TRACE(asked[i]);
    EXPECT_TRUE(answer.delivered());
    ASSERT_EQ(answer.flags_size(), 2);
    EXPECT_EQ(answer.flags(0), jeugdzorg.contains(asked[i]));
    EXPECT_EQ(answer.flags(1), schuldhulp.contains(asked[i]));
  }
}

TEST_F(FlagResponderTest, AsksFlagsInTheOrderGiven) {
  absl::StatusOr<v1::AskFlagsResponse> response = responder_->Answer(
      "agent-wijkteam", Request({3, 4}, {"known_at_schuldhulp", "known_at_jeugdzorg"}));
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->flags_size(), 2);
  EXPECT_EQ(response->flags(0), "known_at_schuldhulp");
  EXPECT_EQ(response->flags(1), "known_at_jeugdzorg");
  ASSERT_EQ(response->answers_size(), 2);
  ASSERT_EQ(response->answers(0).flags_size(), 2);
  ASSERT_EQ(response->answers(1).flags_size(), 2);
  EXPECT_TRUE(response->answers(0).flags(0));   // 3 at schuldhulp
  EXPECT_FALSE(response->answers(0).flags(1));  // 3 not at jeugdzorg
  EXPECT_FALSE(response->answers(1).flags(0));
  EXPECT_TRUE(response->answers(1).flags(1));

  response = responder_->Answer("agent-wijkteam", Request({2, 5}, {"known_at_jeugdzorg"}));
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->flags_size(), 1);
  EXPECT_EQ(response->flags(0), "known_at_jeugdzorg");
  ASSERT_EQ(response->answers(0).flags_size(), 1);
  EXPECT_TRUE(response->answers(0).flags(0));
  ASSERT_EQ(response->answers(1).flags_size(), 1);
  EXPECT_FALSE(response->answers(1).flags(0));
}

TEST_F(FlagResponderTest, RecipientLearnsNothingAboutPeopleItDidNotDeliver) {
  // 20 and 21 are at jeugdzorg, 22 at schuldhulp, 30 nowhere, none at the wijkteam: the
  // answers must be indistinguishable. 2 is a wijkteam client between them.
  const std::vector<int> asked = {20, 2, 21, 22, 30};
  absl::StatusOr<v1::AskFlagsResponse> response =
      responder_->Answer("agent-wijkteam", Request(asked));
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->answers_size(), 5);
  for (int i : {0, 2, 3, 4}) {
    SCOPED_TRACE(asked[static_cast<size_t>(i)]);
    EXPECT_FALSE(response->answers(i).delivered());
    EXPECT_EQ(response->answers(i).flags_size(), 0);
    EXPECT_EQ(response->answers(i).SerializeAsString(), v1::FlagAnswer().SerializeAsString());
  }
  EXPECT_TRUE(response->answers(1).delivered());
  ASSERT_EQ(response->answers(1).flags_size(), 2);
  EXPECT_TRUE(response->answers(1).flags(0));
  EXPECT_TRUE(response->answers(1).flags(1));
}

TEST_F(FlagResponderTest, ReKeysTheAgentsTokens) {
  // The linker's stored (re-keyed) tokens are not what an agent holds: sent as if they were
  // agent tokens they match nothing.
  v1::AskFlagsRequest request = Request({});
  for (int person : {0, 2, 7}) {
    Digest256 rekeyed = rekey_->Mac(tokens_[static_cast<size_t>(person)]);
    request.add_tokens(std::string(reinterpret_cast<const char*>(rekeyed.data()), 32));
  }
  absl::StatusOr<v1::AskFlagsResponse> response = responder_->Answer("agent-wijkteam", request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->answers_size(), 3);
  for (const v1::FlagAnswer& answer : response->answers()) EXPECT_FALSE(answer.delivered());
}

TEST_F(FlagResponderTest, AnotherPartyCannotUseTheRelease) {
  for (const char* party : {"agent-jeugdzorg", "agent-schuldhulp", "linker", "stranger"}) {
    SCOPED_TRACE(party);
    absl::StatusOr<v1::AskFlagsResponse> response = responder_->Answer(party, Request({0, 20}));
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_NE(response.status().message().find("purpose_bound_releases"), std::string::npos)
        << response.status();
    ExpectNoToken(response.status());
  }
}

TEST_F(FlagResponderTest, RefusesWhatTheReleaseDoesNotList) {
  absl::StatusOr<v1::AskFlagsResponse> response =
      responder_->Answer("agent-wijkteam", Request({0}, {"known_at_jeugdzorg", "known_at_politie"}));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(response.status().message().find("purpose_bound_releases"), std::string::npos)
      << response.status();
  EXPECT_NE(response.status().message().find("known_at_politie"), std::string::npos)
      << response.status();
  ExpectNoToken(response.status());

  v1::AskFlagsRequest request = Request({0});
  request.set_release("everything-about-everyone");
  response = responder_->Answer("agent-wijkteam", request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(response.status().message().find("purpose_bound_releases"), std::string::npos)
      << response.status();

  request = Request({0});
  request.set_covenant_id("another-covenant");
  response = responder_->Answer("agent-wijkteam", request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(FlagResponderTest, RefusesMalformedRequests) {
  v1::AskFlagsRequest request = Request({0, 1});
  request.mutable_tokens(1)->pop_back();
  absl::StatusOr<v1::AskFlagsResponse> response = responder_->Answer("agent-wijkteam", request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(response.status().message().find("token 2"), std::string::npos) << response.status();
  ExpectNoToken(response.status());
  const std::string truncated = request.tokens(1);
  EXPECT_EQ(std::string(response.status().message()).find(truncated), std::string::npos);

  response = responder_->Answer("agent-wijkteam", Request({}));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);

  request = Request({});
  for (int i = 0; i <= FlagResponder::kMaxTokensPerCall; ++i) request.add_tokens(tokens_[0]);
  response = responder_->Answer("agent-wijkteam", request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(response.status().message().find("10000"), std::string::npos) << response.status();

  request.mutable_tokens()->RemoveLast();
  response = responder_->Answer("agent-wijkteam", request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->answers_size(), FlagResponder::kMaxTokensPerCall);
}

}  // namespace
}  // namespace koppel
