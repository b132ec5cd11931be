// Delivery as deployed: the real koppel-linker process with RocksDB, the real koppel-agent
// processes sealing and sending the synthetic municipality's exports over mutual TLS on
// loopback, concurrently. Asserts the linker stores exactly the clean rows, refuses what the
// covenant forbids with the rule's name, and holds nothing identifying.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/hex.h"
#include "core/key_file.h"
#include "core/tls.h"
#include "core/token.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/plaintext_scanner.h"
#include "tests/testing/port_file.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using test::BackgroundProcess;
using test::Contains;
using test::ProcessResult;
using test::ReadFile;
using test::RunProcess;
using test::WriteFile;

const std::string kBin = KOPPEL_BIN_DIR;
const std::string kCovenant = "delivery-test";

class DeliveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const fs::path d = dir_->path();
    ASSERT_EQ(RunProcess({kBin + "/koppel-synth", "--out", (d / "m").string(), "--seed", "11",
                          "--persons", "12000"})
                  .exit_code,
              0);
    truth_ = new nlohmann::json(nlohmann::json::parse(ReadFile(d / "m/truth/exports.json")));
    std::vector<std::string> pki = {KOPPEL_SOURCE_DIR "/scripts/pki", "--out", (d / "pki").string(),
                                    "linker", "agent-outsider"};
    for (const auto& [dataset, e] : (*truth_)["exports"].items()) pki.push_back("agent-" + dataset);
    ASSERT_EQ(RunProcess(pki).exit_code, 0);
    ASSERT_EQ(RunProcess({KOPPEL_SOURCE_DIR "/scripts/pki", "--out", (d / "pki").string(),
                          "--expired", "agent-expired"})
                  .exit_code,
              0);
    ASSERT_EQ(
        RunProcess({kBin + "/koppel-linker", "keygen", "--out", (d / "lkeys").string()}).exit_code,
        0);
    fs::create_directory(d / "akeys");
    ::chmod((d / "akeys").c_str(), 0700);
    ASSERT_EQ(
        Agent({"keygen", "--type", "covenant", "--out", (d / "akeys/cov").string()}).exit_code, 0);

    const test::TestOfficer officer = test::TestOfficer::Create("po-delivery");
    test::TestCovenant covenant;
    covenant.id = kCovenant;
    covenant.officers = {&officer};
    covenant.parties = {test::TestParty::Service("linker", "linker"),
                        test::TestParty::Service("vault", "vault")};
    for (const auto& [dataset, e] : (*truth_)["exports"].items()) {
      const std::string key = (d / "akeys" / dataset).string();
      ASSERT_EQ(Agent({"keygen", "--type", "signing", "--out", key}).exit_code, 0);
      std::string pk = ReadFile(key + ".pub");
      pk.pop_back();
      const fs::path mapping = d / "m" / e["mapping"].get<std::string>();
      absl::StatusOr<test::TestDataset> grant = test::DatasetFromMapping(mapping);
      ASSERT_TRUE(grant.ok()) << grant.status();
      covenant.parties.push_back(test::TestParty::DataHolder("agent-" + dataset, pk, {*grant}));
      ProcessResult seal =
          Agent({"seal", "--quiet", "--allow-rejects", "--mapping", mapping.string(), "--input",
                 (d / "m" / e["file"].get<std::string>()).string(), "--covenant-key",
                 (d / "akeys/cov").string(), "--linker-public-key",
                 (d / "lkeys/linker.key.pub").string(), "--signing-key", key, "--covenant-id",
                 kCovenant, "--batch-size", "1500", "--outbox", (d / "outbox" / dataset).string()});
      ASSERT_EQ(seal.exit_code, 0) << seal.err;
    }
    // uwv's export signed with agent-brp's key: agent-uwv delivering it must fail on the
    // signing-key rule, not the dataset rule.
    const nlohmann::json& uwv = (*truth_)["exports"]["uwv"];
    ProcessResult wrong_key = Agent(
        {"seal", "--quiet", "--allow-rejects", "--mapping",
         (d / "m" / uwv["mapping"].get<std::string>()).string(), "--input",
         (d / "m" / uwv["file"].get<std::string>()).string(), "--covenant-key",
         (d / "akeys/cov").string(), "--linker-public-key", (d / "lkeys/linker.key.pub").string(),
         "--signing-key", (d / "akeys/brp").string(), "--covenant-id", kCovenant, "--batch-size",
         "1500", "--outbox", (d / "uwv-brp-key").string()});
    ASSERT_EQ(wrong_key.exit_code, 0) << wrong_key.err;
    ASSERT_TRUE(test::WriteSignedCovenant(d / "covenant.yaml", covenant.Yaml(), {&officer}).ok());
    StartLinker();
  }

  static void TearDownTestSuite() {
    delete linker_;
    delete truth_;
    delete dir_;
  }

  // Starts the linker, on the port it had before when it ran already.
  static void StartLinker() {
    const fs::path d = dir_->path();
    fs::remove(d / "port");
    const std::string listen = address_.empty() ? "127.0.0.1:0" : address_;
    linker_ = new BackgroundProcess(
        {kBin + "/koppel-linker", "serve", "--listen", listen, "--port-file", (d / "port").string(),
         "--pki", (d / "pki").string(), "--data", (d / "db").string(), "--keys",
         (d / "lkeys").string(), "--covenant", (d / "covenant.yaml").string()},
        (d / "linker.log").string());
    absl::StatusOr<std::string> address = test::WaitForPortFile(d / "port", *linker_);
    ASSERT_TRUE(address.ok()) << address.status() << "\n" << ReadFile(d / "linker.log");
    address_ = *std::move(address);
  }

  static ProcessResult Agent(std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/koppel-agent");
    return RunProcess(args);
  }

  static ProcessResult Send(const std::string& dataset, const std::string& name,
                            const std::string& outbox_dir = "") {
    const fs::path d = dir_->path();
    return Agent({"send", "--quiet", "--max-attempts", "3", "--outbox",
                  outbox_dir.empty() ? (d / "outbox" / dataset).string() : outbox_dir, "--linker",
                  address_, "--pki", (d / "pki").string(), "--name", name, "--linker-signing-key",
                  (d / "lkeys/linker-signing.key.pub").string()});
  }

  static std::map<std::string, uint64_t> LinkerCounts() {
    const fs::path d = dir_->path();
    auto credentials = MakeChannelCredentials(TlsFiles::FromPkiDir(d / "pki", "agent-brp"));
    EXPECT_TRUE(credentials.ok());
    v1::LinkerService::Stub stub(grpc::CreateChannel(address_, *credentials));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetStatusRequest request;
    v1::GetStatusResponse response;
    grpc::Status status = stub.GetStatus(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::map<std::string, uint64_t> counts;
    for (const auto& s : response.datasets()) {
      EXPECT_EQ(s.covenant_id(), kCovenant);
      counts[s.dataset()] = s.records();
    }
    return counts;
  }

  static test::TempDir* dir_;
  static nlohmann::json* truth_;
  static BackgroundProcess* linker_;
  static std::string address_;
};

test::TempDir* DeliveryTest::dir_ = nullptr;
nlohmann::json* DeliveryTest::truth_ = nullptr;
BackgroundProcess* DeliveryTest::linker_ = nullptr;
std::string DeliveryTest::address_;

TEST_F(DeliveryTest, AllAgentsAtOnceStoreExactlyTheCleanRowsAndRefusalsNameTheRule) {
  // Every agent sends at the same time.
  std::vector<std::unique_ptr<BackgroundProcess>> agents;
  const fs::path d = dir_->path();
  for (const auto& [dataset, e] : (*truth_)["exports"].items()) {
    agents.push_back(std::make_unique<BackgroundProcess>(
        std::vector<std::string>{kBin + "/koppel-agent", "send", "--quiet", "--outbox",
                                 (d / "outbox" / dataset).string(), "--linker", address_, "--pki",
                                 (d / "pki").string(), "--name", "agent-" + dataset},
        (d / ("send-" + dataset + ".log")).string()));
  }
  for (auto& agent : agents) EXPECT_EQ(agent->Wait(), 0);
  std::map<std::string, uint64_t> counts = LinkerCounts();
  for (const auto& [dataset, e] : (*truth_)["exports"].items()) {
    EXPECT_EQ(counts[dataset], e["valid"].get<uint64_t>()) << dataset;
  }

  // Sending again stores nothing twice; with the receipts removed, every batch is
  // re-acknowledged as already held.
  fs::remove_all(d / "outbox/uwv/receipts");
  ProcessResult again = Send("uwv", "agent-uwv");
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(Contains(again.out, "already held")) << again.out;
  EXPECT_EQ(LinkerCounts(), counts);

  // agent-brp replays agent-uwv's batches: refused, uwv is not agent-brp's dataset.
  fs::remove_all(d / "outbox/uwv/receipts");
  ProcessResult replay = Send("uwv", "agent-brp");
  EXPECT_EQ(replay.exit_code, 7);
  EXPECT_TRUE(Contains(replay.err, "(rule: parties[agent-brp].datasets)")) << replay.err;

  // agent-uwv delivers uwv batches signed with agent-brp's key: refused on the signing-key rule.
  ProcessResult wrong_key = Send("uwv", "agent-uwv", (d / "uwv-brp-key").string());
  EXPECT_EQ(wrong_key.exit_code, 7);
  EXPECT_TRUE(Contains(wrong_key.err, "(rule: parties[agent-uwv].signing_key)")) << wrong_key.err;

  // A party with a valid certificate that the covenant does not list.
  ProcessResult outsider = Send("uwv", "agent-outsider");
  EXPECT_EQ(outsider.exit_code, 7);
  EXPECT_TRUE(Contains(outsider.err, "is not a party")) << outsider.err;
  EXPECT_TRUE(Contains(outsider.err, "(rule: parties)")) << outsider.err;

  // An expired certificate: the agent says so before it connects ...
  ProcessResult expired = Send("uwv", "agent-expired");
  EXPECT_EQ(expired.exit_code, 3) << expired.err;
  EXPECT_TRUE(Contains(expired.err, "expired on")) << expired.err;
  // ... and the linker refuses the handshake of a client that presents one anyway.
  {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadFile(d / "pki/ca.crt");
    options.pem_cert_chain = ReadFile(d / "pki/agent-expired.crt");
    options.pem_private_key = ReadFile(d / "pki/agent-expired.key");
    v1::LinkerService::Stub stub(grpc::CreateChannel(address_, grpc::SslCredentials(options)));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetStatusResponse response;
    grpc::Status status = stub.GetStatus(&context, v1::GetStatusRequest(), &response);
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(response.datasets_size(), 0);
  }

  // A batch changed on disk: its id no longer matches, the linker refuses it, stores nothing.
  fs::copy(d / "outbox/zorg", d / "tampered", fs::copy_options::recursive);
  fs::remove_all(d / "tampered/receipts");
  for (const auto& entry : fs::directory_iterator(d / "tampered")) {
    if (entry.path().extension() != ".sealed") continue;
    std::string bytes = ReadFile(entry.path());
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x20);
    WriteFile(entry.path(), bytes);
    break;
  }
  ProcessResult tampered = Send("zorg", "agent-zorg", (d / "tampered").string());
  EXPECT_EQ(tampered.exit_code, 7) << tampered.err;
  EXPECT_EQ(LinkerCounts(), counts);
}

// A listed agent whose certificate comes from another CA: the linker refuses it in the TLS
// handshake, which gRPC reports only as a closed socket. The agent must say so and stop at once
// (exit 7) instead of retrying as if the linker were unreachable (exit 6).
TEST_F(DeliveryTest, ACertificateTheLinkerRefusesIsReportedAtOnce) {
  const fs::path d = dir_->path();
  ASSERT_EQ(RunProcess(
                {KOPPEL_SOURCE_DIR "/scripts/pki", "--out", (d / "other-ca").string(), "agent-uwv"})
                .exit_code,
            0);
  fs::create_directories(d / "foreign");
  fs::copy_file(d / "pki/ca.crt", d / "foreign/ca.crt", fs::copy_options::overwrite_existing);
  for (const char* file : {"agent-uwv.crt", "agent-uwv.key"}) {
    fs::copy_file(d / "other-ca" / file, d / "foreign" / file,
                  fs::copy_options::overwrite_existing);
  }
  ::chmod((d / "foreign/agent-uwv.key").c_str(), 0600);
  fs::remove_all(d / "foreign-outbox");
  fs::copy(d / "outbox/uwv", d / "foreign-outbox", fs::copy_options::recursive);
  fs::remove_all(d / "foreign-outbox/receipts");

  ProcessResult refused =
      Agent({"send", "--quiet", "--max-attempts", "5", "--outbox", (d / "foreign-outbox").string(),
             "--linker", address_, "--pki", (d / "foreign").string(), "--name", "agent-uwv"});
  EXPECT_EQ(refused.exit_code, 7) << refused.err;
  EXPECT_TRUE(Contains(refused.err, "the linker refused our certificate: ")) << refused.err;
  EXPECT_TRUE(Contains(refused.err, "foreign/agent-uwv.crt")) << refused.err;
  // At once: no retry was announced and the attempts were not used up.
  EXPECT_FALSE(Contains(refused.err, "retrying")) << refused.err;
  EXPECT_FALSE(Contains(refused.err, "still undelivered after")) << refused.err;
  EXPECT_FALSE(fs::exists(d / "foreign-outbox/receipts") &&
               !fs::is_empty(d / "foreign-outbox/receipts"));
}

TEST_F(DeliveryTest, ConnectionsAreTls13WithClientCertificates) {
  const fs::path d = dir_->path();
  std::vector<std::string> s_client = {
      "/usr/bin/openssl",         "s_client", "-connect", address_, "-brief", "-CAfile",
      (d / "pki/ca.crt").string()};
  std::vector<std::string> with_cert = s_client;
  for (const char* a : {"-cert", "-key"}) with_cert.push_back(a);
  with_cert.insert(with_cert.end() - 1, (d / "pki/agent-uwv.crt").string());
  with_cert.push_back((d / "pki/agent-uwv.key").string());
  ProcessResult tls = RunProcess(with_cert, "\n");
  EXPECT_TRUE(Contains(tls.err + tls.out, "Protocol version: TLSv1.3")) << tls.err;
  EXPECT_TRUE(Contains(tls.err + tls.out, "Verification: OK")) << tls.err;
  // Without a client certificate no call gets through.
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(d / "pki/ca.crt");
  v1::LinkerService::Stub stub(grpc::CreateChannel(address_, grpc::SslCredentials(options)));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetStatusResponse response;
  EXPECT_FALSE(stub.GetStatus(&context, v1::GetStatusRequest(), &response).ok());
  EXPECT_EQ(response.datasets_size(), 0);
}

TEST_F(DeliveryTest, NothingIdentifyingAtTheLinker) {
  const fs::path d = dir_->path();
  for (const auto& [dataset, e] : (*truth_)["exports"].items()) {
    ASSERT_EQ(Send(dataset, "agent-" + dataset).exit_code, 0) << dataset;
  }
  linker_->Signal(SIGTERM);
  EXPECT_EQ(linker_->Wait(), 0) << "the linker must stop cleanly on SIGTERM";

  // The scan of the data directory covers the linker's audit log and covenant ledger too.
  EXPECT_TRUE(fs::exists(d / "db/audit.log"));
  EXPECT_TRUE(fs::exists(d / "db/covenants.json"));
  test::PlaintextScanner scanner =
      test::PlaintextScanner::FromPopulation(d / "m/truth/population.csv");
  std::vector<test::Leak> leaks;
  size_t files = 0;
  scanner.ScanTree(d / "db", {}, &leaks, &files);
  scanner.ScanTree(d / "outbox", {}, &leaks, &files);
  scanner.ScanText(ReadFile(d / "linker.log"), "linker.log", &leaks);
  EXPECT_GT(files, 10u);
  for (const test::Leak& leak : leaks) {
    ADD_FAILURE() << leak.kind << " in " << leak.where << " at " << leak.offset;
  }

  // The agent-side tokens (what is on the wire) never reach the linker's disk or log.
  absl::StatusOr<Secret> k_cov = ReadKeyFile(d / "akeys/cov", 32);
  ASSERT_TRUE(k_cov.ok());
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::Create(*k_cov);
  ASSERT_TRUE(tokenizer.ok());
  std::string haystack = ReadFile(d / "linker.log");
  for (const auto& entry : fs::recursive_directory_iterator(d / "db")) {
    if (entry.is_regular_file()) haystack += ReadFile(entry.path());
  }
  std::istringstream population(ReadFile(d / "m/truth/population.csv"));
  std::string line;
  std::getline(population, line);
  size_t checked = 0, found = 0;
  while (std::getline(population, line) && checked < 3000) {
    Token t = tokenizer->Tokenize(IdentifierKind::kBsn, line.substr(0, 9));
    std::string binary(t.begin(), t.end());
    if (Contains(haystack, binary) || Contains(haystack, ToHex(t))) ++found;
    ++checked;
  }
  EXPECT_EQ(checked, 3000u);
  EXPECT_EQ(found, 0u) << "agent-side tokens found at the linker";
  StartLinker();
}

TEST_F(DeliveryTest, LinkerKilledTwentyTimesDuringDeliveryStoresEveryRecordOnce) {
  const fs::path d = dir_->path();
  // What earlier tests in this process stored already; the small batches come on top.
  const std::map<std::string, uint64_t> stored_before = LinkerCounts();
  // Small batches, so that there is a lot to interrupt: some 1,500, of which the twenty kills
  // below take at most half. (Batches of 5 made four times as many and doubled the test's time.)
  std::vector<std::unique_ptr<BackgroundProcess>> agents;
  uint64_t expected_batches = 0;
  for (const auto& [dataset, e] : (*truth_)["exports"].items()) {
    const fs::path outbox = d / "small" / dataset;
    ProcessResult seal = Agent({"seal",
                                "--quiet",
                                "--allow-rejects",
                                "--mapping",
                                (d / "m" / e["mapping"].get<std::string>()).string(),
                                "--input",
                                (d / "m" / e["file"].get<std::string>()).string(),
                                "--covenant-key",
                                (d / "akeys/cov").string(),
                                "--linker-public-key",
                                (d / "lkeys/linker.key.pub").string(),
                                "--signing-key",
                                (d / "akeys" / dataset).string(),
                                "--covenant-id",
                                kCovenant,
                                "--batch-size",
                                "20",
                                "--format",
                                "json",
                                "--outbox",
                                outbox.string()});
    ASSERT_EQ(seal.exit_code, 0) << seal.err;
    expected_batches += nlohmann::json::parse(seal.out)["batches"].size();
  }
  for (const auto& [dataset, e] : (*truth_)["exports"].items()) {
    agents.push_back(std::make_unique<BackgroundProcess>(
        std::vector<std::string>{kBin + "/koppel-agent", "send", "--quiet", "--max-attempts",
                                 "1000", "--outbox", (d / "small" / dataset).string(), "--linker",
                                 address_, "--pki", (d / "pki").string(), "--name",
                                 "agent-" + dataset},
        (d / ("small-send-" + dataset + ".log")).string()));
  }
  std::mt19937 rng(20141231);
  int kills = 0;
  auto count_receipts = [&] {
    uint64_t n = 0;
    for (const auto& [dataset, e] : (*truth_)["exports"].items()) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(d / "small" / dataset / "receipts", ec)) {
        n += entry.path().extension() == ".receipt" ? 1u : 0u;
      }
    }
    return n;
  };
  auto all_agents_exited = [&] {
    return std::all_of(agents.begin(), agents.end(),
                       [](auto& agent) { return agent->HasExited(); });
  };
  // Each kill lands while batches are flowing: after the restarted linker acknowledged a random
  // number of them, at most `step`. Counted in batches, not in time, so that the twenty kills take
  // at most half the batches on any machine and the delivery cannot end before the last kill.
  const uint64_t step = std::max<uint64_t>(1, expected_batches / 40);
  for (; kills < 20; ++kills) {
    const uint64_t target = count_receipts() + 1 + rng() % step;
    // A linker that did not come back (StartLinker's ASSERT only leaves the helper) acknowledges
    // nothing: fail then, rather than wait for the agents' last attempt.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (count_receipts() < target && !all_agents_exited()) {
      ASSERT_LT(std::chrono::steady_clock::now(), give_up)
          << "no receipt for 120 s after kill " << kills << "; is the linker running?";
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (kills == 19) {
      EXPECT_LT(count_receipts(), expected_batches) << "delivery ended before the last kill";
    }
    linker_->Signal(SIGKILL);
    EXPECT_EQ(linker_->Wait(), -SIGKILL);
    delete linker_;
    StartLinker();
  }
  for (auto& agent : agents) EXPECT_EQ(agent->Wait(), 0);
  EXPECT_EQ(kills, 20);

  std::map<std::string, uint64_t> counts = LinkerCounts();
  for (const auto& [dataset, e] : (*truth_)["exports"].items()) {
    const auto earlier = stored_before.find(dataset);
    EXPECT_EQ(counts[dataset] - (earlier == stored_before.end() ? 0 : earlier->second),
              e["valid"].get<uint64_t>())
        << dataset;
  }
  EXPECT_EQ(count_receipts(), expected_batches);
}

}  // namespace
}  // namespace koppel
