// The purpose-bound release on a real linker store: the recipient gets exactly the flags of the
// records it delivered itself, nothing about anyone else, and only what its covenant lists.
#include "linker/flag_responder.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "core/hex.h"
#include "core/hmac.h"
#include "linker/linker_store.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

constexpr char kCovenantId[] = "who-else";

policy::Covenant MakeCovenant() {
  policy::Covenant c;
  c.id = kCovenantId;
  c.version = 3;
  c.title = "Who else is involved";
  for (const char* dataset : {"wijkteam", "jeugdzorg", "schuldhulp"}) {
    policy::CovenantParty party;
    party.name = std::string("agent-") + dataset;
    party.organisation = dataset;
    party.roles = {"data_holder"};
    party.purpose = "signal";
    party.legal_basis = "test";
    party.datasets[dataset] = policy::DatasetGrant{dataset, {"bsn"}, {"start"}};
    c.parties[party.name] = party;
  }
  policy::CovenantParty linker;
  linker.name = "linker";
  linker.roles = {"linker"};
  c.parties["linker"] = linker;
  policy::PurposeBoundRelease release;
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
    absl::StatusOr<std::unique_ptr<linker::LinkerStore>> store =
        linker::LinkerStore::Open(dir_ / "db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    absl::StatusOr<Secret> data_key = Secret::Random(32);
    ASSERT_TRUE(data_key.ok()) << data_key.status();
    data_key_ = std::make_unique<Secret>(std::move(*data_key));
    ASSERT_TRUE(store_->OpenCovenant(kCovenantId, *data_key_).ok());
    Deliver("wijkteam", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    Deliver("jeugdzorg", {0, 2, 4, 7, 20, 21});
    Deliver("schuldhulp", {2, 3, 7, 22});
    Deliver("schuldhulp", {7});  // a second record of the same person: still one flag
    responder_ =
        std::make_unique<linker::FlagResponder>(&covenant_, rekey_.get(), /*data_key=*/nullptr,
                                                store_.get());  // person-level releases only
  }

  void Deliver(const std::string& dataset, const std::vector<int>& people, uint32_t epoch = 0) {
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
    header.set_key_epoch(epoch);
    if (epoch != 0) header.set_run_id("epoch-" + std::to_string(epoch));  // a run of its own
    std::vector<linker::StoredRecord> records;
    for (int person : people) {
      Digest256 rekeyed = rekey_->Mac(tokens_[static_cast<size_t>(person)]);
      records.push_back(
          {std::string(reinterpret_cast<const char*>(rekeyed.data()), 32), std::string(40, 'x')});
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
      EXPECT_EQ(message.find(
                    ToHex(std::span(reinterpret_cast<const uint8_t*>(token.data()), token.size()))),
                std::string::npos);
    }
  }

  test::TempDir dir_;
  policy::Covenant covenant_ = MakeCovenant();
  std::unique_ptr<HmacSha256Key> rekey_;
  std::unique_ptr<Secret> data_key_;
  std::vector<std::string> tokens_;
  std::unique_ptr<linker::LinkerStore> store_;
  std::unique_ptr<linker::FlagResponder> responder_;
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
  absl::StatusOr<v1::AskFlagsResponse> response = responder_->Answer(
      "agent-wijkteam", Request({0}, {"known_at_jeugdzorg", "known_at_politie"}));
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
  for (int i = 0; i <= linker::FlagResponder::kMaxTokensPerCall; ++i)
    request.add_tokens(tokens_[0]);
  response = responder_->Answer("agent-wijkteam", request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(response.status().message().find("10000"), std::string::npos) << response.status();

  request.mutable_tokens()->RemoveLast();
  response = responder_->Answer("agent-wijkteam", request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->answers_size(), linker::FlagResponder::kMaxTokensPerCall);
}

// Captures the log lines written while it lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_)));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string str() {
    spdlog::default_logger()->flush();
    return log_.str();
  }
  size_t Count(const std::string& what) {
    const std::string text = str();
    size_t count = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
      ++count;
    }
    return count;
  }

 private:
  std::ostringstream log_;
  std::shared_ptr<spdlog::logger> previous_;
};

// The household release: the register brp places people in households; the index is built in
// the background and kept current with the register batches the ingester commits.
class HouseholdFlagTest : public FlagResponderTest {
 protected:
  void SetUp() override {
    FlagResponderTest::SetUp();
    policy::PurposeBoundRelease release = covenant_.releases.front();
    release.name = "who-else-in-household";
    release.unit = "household";
    release.family = policy::FamilyRegister{"brp", "adres_van", "adres_tot"};
    covenant_.releases.push_back(release);
    responder_ = std::make_unique<linker::FlagResponder>(&covenant_, rekey_.get(), data_key_.get(),
                                                         store_.get());
  }

  void UseOptions(const linker::FlagResponder::Options& options) {
    responder_ = std::make_unique<linker::FlagResponder>(&covenant_, rekey_.get(), data_key_.get(),
                                                         store_.get(), options);
  }

  v1::AskFlagsRequest HouseholdRequest(const std::vector<int>& people) {
    v1::AskFlagsRequest request = Request(people, {"known_at_jeugdzorg"});
    request.set_release("who-else-in-household");
    return request;
  }

  static int Today() { return static_cast<int>(absl::ToUnixSeconds(absl::Now()) / 86400); }

  // Commits a register batch placing `people` at `address` since yesterday, and hands it to the
  // responder as the ingester does.
  void Register(const std::vector<int>& people, const std::string& address,
                bool tell_responder = true, bool unreadable = false) {
    std::vector<uint8_t> id(32);
    randombytes_buf(id.data(), id.size());
    v1::Receipt receipt;
    receipt.set_batch_id(ToHex(id));
    receipt.set_dataset("brp");
    receipt.set_covenant_id(kCovenantId);
    receipt.set_sender("agent-brp");
    receipt.set_records_accepted(people.size());
    v1::BatchHeader header;
    header.set_dataset("brp");
    header.set_covenant_id(kCovenantId);
    for (const char* name : {"adres_van", "adres_tot"}) {
      v1::AttributeSchema* attribute = header.add_attributes();
      attribute->set_name(name);
      attribute->set_type(v1::ATTRIBUTE_TYPE_DATE);
    }
    Digest256 home = rekey_->Mac(address);
    std::vector<linker::StoredRecord> records;
    for (int person : people) {
      Digest256 rekeyed = rekey_->Mac(tokens_[static_cast<size_t>(person)]);
      v1::Record record;
      record.set_bsn_token(std::string(reinterpret_cast<const char*>(rekeyed.data()), 32));
      record.set_address_token(std::string(reinterpret_cast<const char*>(home.data()), 32));
      record.add_values()->set_date_days(Today() - 1);
      records.push_back({record.bsn_token(),
                         unreadable ? std::string("\xff\xff\xff", 3) : record.SerializeAsString()});
    }
    absl::StatusOr<v1::Receipt> committed = store_->Commit(receipt, header, records);
    ASSERT_TRUE(committed.ok()) << committed.status();
    if (tell_responder) responder_->BatchCommitted(header, records);
  }

  // The jeugdzorg flag of each asked person, household level.
  std::vector<bool> KnownAtJeugdzorg(const std::vector<int>& asked) {
    v1::AskFlagsRequest request = Request(asked, {"known_at_jeugdzorg"});
    request.set_release("who-else-in-household");
    absl::StatusOr<v1::AskFlagsResponse> response = responder_->Answer("agent-wijkteam", request);
    EXPECT_TRUE(response.ok()) << response.status();
    std::vector<bool> flags;
    if (!response.ok()) return flags;
    for (const v1::FlagAnswer& answer : response->answers()) {
      flags.push_back(answer.flags_size() == 1 && answer.flags(0));
    }
    return flags;
  }
};

TEST_F(HouseholdFlagTest, AnswerAfterARegisterBatchSeesIt) {
  Register({1, 20}, "home-a");  // 20 is known at jeugdzorg, 1 only at the wijkteam
  Register({5}, "home-b");
  responder_->StartBuilding();
  EXPECT_EQ(KnownAtJeugdzorg({1, 5, 6}), (std::vector<bool>{true, false, false}));

  // 21 (known at jeugdzorg) moves in with 5; 6 is registered at two addresses, one of them
  // home-a. The next answers see both batches without a rebuild.
  Register({21}, "home-b");
  Register({6}, "home-a");
  Register({6}, "home-c");
  EXPECT_EQ(KnownAtJeugdzorg({1, 5, 6}), (std::vector<bool>{true, true, true}));

  // A batch committed without telling the responder is not seen: it is the commits that count,
  // not a rescan of the register on each answer.
  Register({4}, "home-d", /*tell_responder=*/false);  // 4 is known at jeugdzorg
  Register({8}, "home-d");
  EXPECT_EQ(KnownAtJeugdzorg({8}), (std::vector<bool>{false}));
}

TEST_F(HouseholdFlagTest, EmptyRegisterIsNotFoundUntilABatchArrives) {
  responder_->StartBuilding();
  v1::AskFlagsRequest request = Request({1});
  request.set_release("who-else-in-household");
  absl::StatusOr<v1::AskFlagsResponse> response = responder_->Answer("agent-wijkteam", request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kNotFound) << response.status();
  EXPECT_NE(response.status().message().find("brp"), std::string::npos) << response.status();
  Register({1, 20}, "home-a");
  EXPECT_EQ(KnownAtJeugdzorg({1}), (std::vector<bool>{true}));
}

TEST_F(HouseholdFlagTest, WaitsForTheBuildWithinTheDeadlineOrSaysToRetry) {
  Register({1, 20}, "home-a", /*tell_responder=*/false);
  v1::AskFlagsRequest request = Request({1});
  request.set_release("who-else-in-household");
  // No index yet and no time to wait for one: told to ask again, without any token.
  absl::StatusOr<v1::AskFlagsResponse> response =
      responder_->Answer("agent-wijkteam", request, absl::Now() + absl::Milliseconds(500));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_NE(response.status().message().find("ask again"), std::string::npos) << response.status();
  ExpectNoToken(response.status());
  // With time to wait, the answer waits for the build.
  response = responder_->Answer("agent-wijkteam", request, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->answers_size(), 1);
  EXPECT_TRUE(response->answers(0).flags(0));

  // Stopped (the covenant ends): no build, answers waiting for one are told so.
  linker::FlagResponder stopped(&covenant_, rekey_.get(), data_key_.get(), store_.get());
  stopped.StopBuilding();
  response = stopped.Answer("agent-wijkteam", request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
}

// A question without a deadline (the gRPC default) still waits at most max_household_wait, so
// that it cannot hold the server's shutdown for a national build.
TEST_F(HouseholdFlagTest, AnswerWithoutADeadlineWaitsAtMostTheCap) {
  Register({1, 20}, "home-a", /*tell_responder=*/false);
  linker::FlagResponder::Options options;
  options.max_household_wait = absl::ZeroDuration();
  UseOptions(options);
  absl::StatusOr<v1::AskFlagsResponse> response =
      responder_->Answer("agent-wijkteam", HouseholdRequest({1}), absl::InfiniteFuture());
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_NE(response.status().message().find("ask again"), std::string::npos) << response.status();

  UseOptions({});  // the default cap leaves time for a small build
  EXPECT_EQ(KnownAtJeugdzorg({1}), (std::vector<bool>{true}));
}

// After a failed build, questions do not each start a scan of the register: none for
// failed_build_backoff. The reason is in the log only, never in the answer.
TEST_F(HouseholdFlagTest, FailedBuildBacksOffAndKeepsItsReasonInTheLog) {
  Register({1, 20}, "home-a", /*tell_responder=*/false);
  Register({5}, "home-b", /*tell_responder=*/false, /*unreadable=*/true);
  LogCapture log;
  auto builds_failed = [&] { return log.Count("failed:"); };

  const absl::Status reason =
      linker::HouseholdIndex::Build(*store_, kCovenantId,
                                    policy::FamilyRegister{"brp", "adres_van", "adres_tot"},
                                    *data_key_, Today())
          .status();
  ASSERT_FALSE(reason.ok());
  linker::FlagResponder::Options options;
  options.failed_build_backoff = absl::Hours(1);
  UseOptions(options);
  for (int ask = 0; ask < 3; ++ask) {
    SCOPED_TRACE(ask);
    absl::StatusOr<v1::AskFlagsResponse> response = responder_->Answer(
        "agent-wijkteam", HouseholdRequest({1}), absl::Now() + absl::Seconds(30));
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
    const std::string message(response.status().message());
    EXPECT_NE(message.find("could not be built"), std::string::npos) << message;
    EXPECT_NE(message.find("ask again in"), std::string::npos) << message;
    EXPECT_EQ(message.find(std::string(reason.message())), std::string::npos) << message;
    ExpectNoToken(response.status());
  }
  EXPECT_EQ(builds_failed(), 1u) << log.str();

  options.failed_build_backoff =
      absl::ZeroDuration();  // without a pause, every question scans once
  UseOptions(options);
  for (int ask = 0; ask < 3; ++ask) {
    EXPECT_FALSE(
        responder_->Answer("agent-wijkteam", HouseholdRequest({1}), absl::Now() + absl::Seconds(30))
            .ok());
  }
  absl::SleepFor(absl::Milliseconds(200));  // the builder does not retry on its own meanwhile
  responder_.reset();
  EXPECT_EQ(builds_failed(), 4u) << log.str();
  EXPECT_NE(log.str().find(std::string(reason.message())), std::string::npos) << log.str();
}

// Committed batches are queued and added in the background; an answer still sees every batch
// committed before it. Beyond the queue's bound the queue is dropped and the index rebuilt from
// the store, with the same answers.
TEST_F(HouseholdFlagTest, QueueBeyondItsBoundIsRebuiltFromTheStore) {
  linker::FlagResponder::Options options;
  options.max_queued_records = 2;
  UseOptions(options);
  Register({1}, "home-a");
  Register({5}, "home-b");
  responder_->StartBuilding();
  EXPECT_EQ(KnownAtJeugdzorg({1, 5, 6}), (std::vector<bool>{false, false, false}));
  Register({20}, "home-a");     // queued
  Register({21, 6}, "home-b");  // over the bound: dropped with the queue, read from the store
  EXPECT_EQ(KnownAtJeugdzorg({1, 5, 6}), (std::vector<bool>{true, true, true}));
  Register({8}, "home-a");
  EXPECT_EQ(KnownAtJeugdzorg({8}), (std::vector<bool>{true}));
}

// Tomorrow's index is built ahead (here at once, the lead being two days) and kept current with
// the batches, so that the first question after midnight need not wait for a full rebuild.
TEST_F(HouseholdFlagTest, TomorrowsIndexIsBuiltAheadOnce) {
  LogCapture log;
  linker::FlagResponder::Options options;
  options.build_ahead = absl::Hours(48);
  UseOptions(options);
  Register({1, 20}, "home-a");
  responder_->StartBuilding();
  EXPECT_EQ(KnownAtJeugdzorg({1, 5}), (std::vector<bool>{true, false}));
  for (int i = 0; i < 500 && log.Count("for tomorrow") == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Register({21}, "home-b");
  Register({5}, "home-b");
  EXPECT_EQ(KnownAtJeugdzorg({1, 5}), (std::vector<bool>{true, true}));
  responder_.reset();
  EXPECT_EQ(log.Count("for tomorrow"), 1u) << log.str();
  EXPECT_EQ(log.Count("built in"), 2u) << log.str();  // today's and tomorrow's, no more
}

// After a key rotation the asked tokens are of one epoch: the recipient's dataset must hold
// records of it, and the datasets of flags that hold only older epochs are named.
TEST_F(FlagResponderTest, AnswersNameTheDatasetsNotYetDeliveredUnderTheTokensEpoch) {
  Deliver("wijkteam", {0, 1, 2}, /*epoch=*/1);
  v1::AskFlagsRequest request = Request({0, 1});
  request.set_key_epoch(1);
  absl::StatusOr<v1::AskFlagsResponse> answer = responder_->Answer("agent-wijkteam", request);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->key_epoch(), 1u);
  EXPECT_EQ(std::vector<std::string>(answer->datasets_without_epoch().begin(),
                                     answer->datasets_without_epoch().end()),
            (std::vector<std::string>{"jeugdzorg", "schuldhulp"}));
  // Unset: the newest epoch the linker holds.
  request.set_key_epoch(0);
  answer = responder_->Answer("agent-wijkteam", request);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->key_epoch(), 1u);

  request.set_key_epoch(2);
  absl::StatusOr<v1::AskFlagsResponse> refused = responder_->Answer("agent-wijkteam", request);
  ASSERT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("'wijkteam' under key epoch 2"), std::string::npos);
  ExpectNoToken(refused.status());
}

}  // namespace
}  // namespace koppel
