// Watching the services as an operator does: the standard gRPC health service on a real vault
// and linker (asked with a certificate of the CA that is no covenant's party, as a monitor's
// is), and their Prometheus endpoints scraped over plain HTTP after an agent sealed a batch
// through the vault (OPRF) and delivered it: the counters moved, and the text holds no BSN,
// postcode or batch id. The vault logs JSON lines (--log-format json).
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "core/tls.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "koppel/v1/vault.grpc.pb.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/http_get.h"
#include "tests/testing/plaintext_scanner.h"
#include "tests/testing/port_file.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using test::BackgroundProcess;
using test::Contains;
using test::ProcessResult;
using test::ReadFile;
using test::RunProcess;

const std::string kBin = KOPPEL_BIN_DIR;
const std::string kCovenant = "health-metrics-test";
constexpr uint64_t kQuota = 1000000;

class HealthMetricsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const fs::path d = dir_->path();
    ASSERT_EQ(RunProcess({kBin + "/koppel-synth", "--out", (d / "m").string(), "--persons", "1500"})
                  .exit_code,
              0);
    ASSERT_EQ(RunProcess({KOPPEL_SOURCE_DIR "/scripts/pki", "--out", (d / "pki").string(), "vault",
                          "linker", "agent-jeugdzorg", "monitor"})
                  .exit_code,
              0);
    ASSERT_EQ(
        RunProcess({kBin + "/koppel-linker", "keygen", "--out", (d / "lkeys").string()}).exit_code,
        0);
    ASSERT_EQ(RunProcess({kBin + "/koppel-vault", "keygen", "--out", (d / "master.key").string()})
                  .exit_code,
              0);
    ASSERT_EQ(RunProcess({kBin + "/koppel-agent", "keygen", "--type", "signing", "--out",
                          (d / "agent.key").string()})
                  .exit_code,
              0);
    std::string pk = ReadFile(d / "agent.key.pub");
    pk.pop_back();
    absl::StatusOr<test::TestDataset> jeugdzorg =
        test::DatasetFromMapping(d / "m/mappings/jeugdzorg.yaml");
    ASSERT_TRUE(jeugdzorg.ok()) << jeugdzorg.status();
    const test::TestOfficer officer = test::TestOfficer::Create("po-health");
    test::TestCovenant covenant;
    covenant.id = kCovenant;
    covenant.token_mode = "oprf";
    covenant.officers = {&officer};
    covenant.parties = {test::TestParty::Service("vault", "vault"),
                        test::TestParty::Service("linker", "linker"),
                        test::TestParty::DataHolder("agent-jeugdzorg", pk, {*jeugdzorg})};
    ASSERT_TRUE(test::WriteSignedCovenant(
                    d / "covenant.yaml",
                    covenant.Yaml() + "oprf_quota: " + std::to_string(kQuota) + "\n", {&officer})
                    .ok());

    absl::StatusOr<int> vault_metrics = test::FreeLoopbackPort();
    ASSERT_TRUE(vault_metrics.ok()) << vault_metrics.status();
    vault_metrics_port_ = *vault_metrics;
    vault_ = new BackgroundProcess(
        {kBin + "/koppel-vault", "serve", "--listen", "127.0.0.1:0", "--port-file",
         (d / "vault.port").string(), "--pki", (d / "pki").string(), "--dir",
         (d / "vault").string(), "--covenant", (d / "covenant.yaml").string(), "--master-key",
         (d / "master.key").string(), "--metrics-listen",
         "127.0.0.1:" + std::to_string(vault_metrics_port_), "--log-format", "json"},
        (d / "vault.log").string());
    absl::StatusOr<std::string> vault = test::WaitForPortFile(d / "vault.port", *vault_);
    ASSERT_TRUE(vault.ok()) << vault.status() << "\n" << ReadFile(d / "vault.log");
    vault_address_ = *vault;

    absl::StatusOr<int> linker_metrics = test::FreeLoopbackPort();
    ASSERT_TRUE(linker_metrics.ok()) << linker_metrics.status();
    linker_metrics_port_ = *linker_metrics;
    linker_ = new BackgroundProcess(
        {kBin + "/koppel-linker", "serve", "--listen", "127.0.0.1:0", "--port-file",
         (d / "linker.port").string(), "--pki", (d / "pki").string(), "--data", (d / "db").string(),
         "--keys", (d / "lkeys").string(), "--covenant", (d / "covenant.yaml").string(), "--vault",
         vault_address_, "--metrics-listen", "127.0.0.1:" + std::to_string(linker_metrics_port_)},
        (d / "linker.log").string());
    absl::StatusOr<std::string> linker = test::WaitForPortFile(d / "linker.port", *linker_);
    ASSERT_TRUE(linker.ok()) << linker.status() << "\n" << ReadFile(d / "linker.log");
    linker_address_ = *linker;

    ProcessResult sealed = RunProcess({kBin + "/koppel-agent",
                                       "seal",
                                       "--quiet",
                                       "--allow-rejects",
                                       "--mapping",
                                       (d / "m/mappings/jeugdzorg.yaml").string(),
                                       "--input",
                                       (d / "m/exports/jeugdzorg.csv").string(),
                                       "--vault",
                                       vault_address_,
                                       "--pki",
                                       (d / "pki").string(),
                                       "--name",
                                       "agent-jeugdzorg",
                                       "--covenant-id",
                                       kCovenant,
                                       "--linker-public-key",
                                       (d / "lkeys/linker.key.pub").string(),
                                       "--signing-key",
                                       (d / "agent.key").string(),
                                       "--outbox",
                                       (d / "outbox").string()});
    ASSERT_EQ(sealed.exit_code, 0) << sealed.err;
    ProcessResult sent = RunProcess({kBin + "/koppel-agent", "send", "--quiet", "--outbox",
                                     (d / "outbox").string(), "--linker", linker_address_, "--pki",
                                     (d / "pki").string(), "--name", "agent-jeugdzorg"});
    ASSERT_EQ(sent.exit_code, 0) << sent.err;
  }

  static void TearDownTestSuite() {
    delete linker_;
    delete vault_;
    delete dir_;
  }

  static std::shared_ptr<grpc::Channel> Channel(const std::string& address,
                                                const std::string& name) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        MakeChannelCredentials(TlsFiles::FromPkiDir(dir_->path() / "pki", name));
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return grpc::CreateChannel(address, credentials.value_or(nullptr));
  }

  // The health service's answer for `service` ("": the server as a whole).
  static grpc::Status Check(const std::string& address, const std::string& service,
                            HealthCheckResponse* response) {
    auto stub = grpc::health::v1::Health::NewStub(Channel(address, "monitor"));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    HealthCheckRequest request;
    request.set_service(service);
    return stub->Check(&context, request, response);
  }

  static std::string Scrape(int port) {
    absl::StatusOr<test::HttpResponse> response = test::HttpGet(port, "/metrics");
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return "";
    EXPECT_EQ(response->status, 200);
    return response->body;
  }

  // The value of the sample `sample` (name and labels, as rendered) in `text`; -1 if absent.
  static double Sample(const std::string& text, const std::string& sample) {
    const size_t at = text.find("\n" + sample + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + sample.size() + 2));
  }

  static test::TempDir* dir_;
  static BackgroundProcess* vault_;
  static BackgroundProcess* linker_;
  static std::string vault_address_;
  static std::string linker_address_;
  static int vault_metrics_port_;
  static int linker_metrics_port_;
};

test::TempDir* HealthMetricsTest::dir_ = nullptr;
BackgroundProcess* HealthMetricsTest::vault_ = nullptr;
BackgroundProcess* HealthMetricsTest::linker_ = nullptr;
std::string HealthMetricsTest::vault_address_;
std::string HealthMetricsTest::linker_address_;
int HealthMetricsTest::vault_metrics_port_ = 0;
int HealthMetricsTest::linker_metrics_port_ = 0;

TEST_F(HealthMetricsTest, BothServicesAnswerHealthChecksToAMonitorThatIsNoParty) {
  for (const auto& [address, service] :
       {std::pair{linker_address_, std::string(v1::LinkerService::service_full_name())},
        std::pair{vault_address_, std::string(v1::VaultService::service_full_name())}}) {
    for (const std::string& name : {std::string(), service}) {
      HealthCheckResponse response;
      grpc::Status status = Check(address, name, &response);
      ASSERT_TRUE(status.ok()) << service << " '" << name << "': " << status.error_message();
      EXPECT_EQ(response.status(), HealthCheckResponse::SERVING) << service << " '" << name << "'";
    }
    HealthCheckResponse response;
    EXPECT_EQ(Check(address, "no.such.Service", &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  // The monitor may ask health, and nothing else.
  auto stub = v1::LinkerService::NewStub(Channel(linker_address_, "monitor"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetStatusResponse status;
  EXPECT_EQ(stub->GetStatus(&context, v1::GetStatusRequest(), &status).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  const std::string text = Scrape(linker_metrics_port_);
  EXPECT_GE(Sample(text,
                   "koppel_refusals_total{service=\"linker\",method=\"GetStatus\","
                   "rule=\"parties\"}"),
            1)
      << text;
}

TEST_F(HealthMetricsTest, AStoppingLinkerTellsItsHealthWatchersNotServing) {
  const fs::path d = dir_->path();
  BackgroundProcess linker({kBin + "/koppel-linker", "serve", "--listen", "127.0.0.1:0",
                            "--port-file", (d / "stopping.port").string(), "--pki",
                            (d / "pki").string(), "--data", (d / "db-stopping").string(), "--keys",
                            (d / "lkeys").string(), "--covenant", (d / "covenant.yaml").string()},
                           (d / "stopping.log").string());
  absl::StatusOr<std::string> address = test::WaitForPortFile(d / "stopping.port", linker);
  ASSERT_TRUE(address.ok()) << address.status() << "\n" << ReadFile(d / "stopping.log");
  auto stub = grpc::health::v1::Health::NewStub(Channel(*address, "monitor"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  HealthCheckRequest request;
  request.set_service(v1::LinkerService::service_full_name());
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> watch = stub->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  linker.Signal(SIGTERM);
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  // A watch is a call in flight: the linker waits for it (up to 10 s) before it exits.
  context.TryCancel();
  EXPECT_EQ(linker.Wait(), 0);
}

TEST_F(HealthMetricsTest, TheLinkerCountsTheDeliveryAndItsMetricsHoldNoIdentifier) {
  const fs::path d = dir_->path();
  std::vector<std::string> batch_ids;
  for (const auto& entry : fs::directory_iterator(d / "outbox/receipts")) {
    batch_ids.push_back(entry.path().stem().string());
  }
  ASSERT_FALSE(batch_ids.empty());
  const std::string text = Scrape(linker_metrics_port_);
  const std::string labels = "{covenant=\"" + kCovenant + "\",dataset=\"jeugdzorg\"}";
  EXPECT_EQ(Sample(text, "koppel_linker_batches_ingested_total" + labels),
            static_cast<double>(batch_ids.size()))
      << text;
  EXPECT_GT(Sample(text, "koppel_linker_records_ingested_total" + labels), 0) << text;
  EXPECT_EQ(Sample(text, "koppel_linker_batch_ingest_seconds_count"),
            static_cast<double>(batch_ids.size()))
      << text;
  EXPECT_EQ(Sample(text, "koppel_linker_batch_ingest_seconds_bucket{le=\"+Inf\"}"),
            static_cast<double>(batch_ids.size()));
  EXPECT_GT(
      Sample(text, "koppel_linker_store_bytes{covenant=\"" + kCovenant + "\"}") +
          Sample(text, "koppel_linker_rocksdb_memtable_bytes{covenant=\"" + kCovenant + "\"}"),
      0)
      << text;
  EXPECT_EQ(Sample(text, "koppel_up{service=\"linker\"}"), 1);
  const double now = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  EXPECT_GT(Sample(text, "koppel_certificate_not_after_seconds{service=\"linker\"}"), now);

  // Nothing identifying: no BSN or postcode of the population, no batch id in any form.
  std::vector<test::Leak> leaks;
  test::PlaintextScanner::FromPopulation(d / "m/truth/population.csv")
      .ScanText(text, "linker metrics", &leaks);
  EXPECT_TRUE(leaks.empty()) << leaks.size() << " identifiers, first a " << leaks.front().kind;
  for (const std::string& id : batch_ids) {
    EXPECT_FALSE(Contains(text, id)) << "a batch id is in the metrics";
    EXPECT_FALSE(Contains(text, id.substr(0, 16))) << "a batch id's prefix is in the metrics";
  }
  // Every sample line is a name, labels from the fixed sets, a number.
  const std::string label = R"([a-z_]+="[A-Za-z0-9_.+\-]*")";
  const std::regex line("([a-z_]+(\\{" + label + "(," + label +
                        ")*\\})? [-+0-9.eInfaN]+)|(# (HELP|TYPE) .*)");
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);) {
    EXPECT_TRUE(std::regex_match(l, line)) << l;
  }
}

TEST_F(HealthMetricsTest, TheVaultCountsOprfEvaluationsAndTheQuotaLeft) {
  const std::string text = Scrape(vault_metrics_port_);
  const std::string labels = "{covenant=\"" + kCovenant + "\",party=\"agent-jeugdzorg\"}";
  const double evaluated = Sample(text, "koppel_vault_oprf_evaluations_total" + labels);
  EXPECT_GT(evaluated, 0) << text;
  EXPECT_EQ(Sample(text, "koppel_vault_oprf_quota_remaining" + labels),
            static_cast<double>(kQuota) - evaluated)
      << text;
  EXPECT_EQ(Sample(text, "koppel_up{service=\"vault\"}"), 1);

  // A certificate of no party asks for the covenant's key: refused, and counted by its rule.
  auto stub = v1::VaultService::NewStub(Channel(vault_address_, "monitor"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetCovenantKeyRequest request;
  request.set_covenant_id(kCovenant);
  request.set_recipient_public_key(std::string(32, '\x01'));
  v1::GetCovenantKeyResponse key;
  EXPECT_EQ(stub->GetCovenantKey(&context, request, &key).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  const std::string after = Scrape(vault_metrics_port_);
  EXPECT_EQ(Sample(after,
                   "koppel_refusals_total{service=\"vault\",method=\"get_covenant_key\","
                   "rule=\"parties\"}"),
            1)
      << after;
  std::vector<test::Leak> leaks;
  test::PlaintextScanner::FromPopulation(dir_->path() / "m/truth/population.csv")
      .ScanText(text, "vault metrics", &leaks);
  EXPECT_TRUE(leaks.empty()) << leaks.size() << " identifiers";
}

TEST_F(HealthMetricsTest, WithLogFormatJsonEveryLogLineIsOneJsonObject) {
  std::istringstream lines(ReadFile(dir_->path() / "vault.log"));
  size_t count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(parsed.is_object()) << "line " << count + 1 << " is not a JSON object: " << line;
    EXPECT_TRUE(parsed.contains("time") && parsed.contains("level") && parsed.contains("message"));
  }
  EXPECT_GE(count, 3u);  // hardening, covenant, listening at least
}

TEST_F(HealthMetricsTest, AMetricsAddressOnTheServicePortIsRefused) {
  const fs::path d = dir_->path();
  ProcessResult refused = RunProcess(
      {kBin + "/koppel-linker", "serve", "--listen", "127.0.0.1:7999", "--metrics-listen",
       "127.0.0.1:7999", "--pki", (d / "pki").string(), "--data", (d / "db-refused").string(),
       "--keys", (d / "lkeys").string(), "--covenant", (d / "covenant.yaml").string()});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_TRUE(Contains(refused.err, "port of its own")) << refused.err;
  EXPECT_FALSE(fs::exists(d / "db-refused"));
}

}  // namespace
}  // namespace koppel
