// A linker whose store was restored to an earlier point (a backup's restore, done here by hand:
// the covenant's store directory, db/ and held mark, copied back while the linker is stopped)
// no longer holds batches agents hold receipts for. `koppel-agent send` asks it which
// (CheckHeld), keeps those receipts aside and delivers the batches again: the linker ends up
// holding everything exactly once. CheckHeld answers only a party that may deliver the dataset.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/time/clock.h"
#include "core/refusal.h"
#include "core/tls.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/http_get.h"
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

const std::string kBin = KOPPEL_BIN_DIR;
const std::string kCovenant = "resend-test";

struct Held {
  uint64_t records = 0;
  uint64_t batches = 0;
  bool operator==(const Held&) const = default;
};

class ResendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const fs::path d = dir_->path();
    ASSERT_EQ(RunProcess({kBin + "/koppel-synth", "--out", (d / "m").string(), "--seed", "5",
                          "--persons", "2000"})
                  .exit_code,
              0);
    ASSERT_EQ(RunProcess({KOPPEL_SOURCE_DIR "/scripts/pki", "--out", (d / "pki").string(), "linker",
                          "agent-uwv", "agent-zorg", "research-unit"})
                  .exit_code,
              0);
    ASSERT_EQ(
        RunProcess({kBin + "/koppel-linker", "keygen", "--out", (d / "lkeys").string()}).exit_code,
        0);
    fs::create_directory(d / "akeys");
    ::chmod((d / "akeys").c_str(), 0700);
    ASSERT_EQ(
        Agent({"keygen", "--type", "covenant", "--out", (d / "akeys/cov").string()}).exit_code, 0);
    const test::TestOfficer officer = test::TestOfficer::Create("po-resend");
    test::TestCovenant covenant;
    covenant.id = kCovenant;
    covenant.officers = {&officer};
    covenant.parties = test::TestParty::Services();
    for (const std::string dataset : {"uwv", "zorg"}) {
      const std::string key = (d / "akeys" / dataset).string();
      ASSERT_EQ(Agent({"keygen", "--type", "signing", "--out", key}).exit_code, 0);
      std::string pk = ReadFile(key + ".pub");
      pk.pop_back();
      absl::StatusOr<test::TestDataset> grant =
          test::DatasetFromMapping(d / "m/mappings" / (dataset + ".yaml"));
      ASSERT_TRUE(grant.ok()) << grant.status();
      covenant.parties.push_back(test::TestParty::DataHolder("agent-" + dataset, pk, {*grant}));
    }
    ASSERT_TRUE(test::WriteSignedCovenant(d / "covenant.yaml", covenant.Yaml(), {&officer}).ok());
    absl::StatusOr<int> metrics = test::FreeLoopbackPort();
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_port_ = *metrics;
    StartLinker();
  }

  static void TearDownTestSuite() {
    delete linker_;
    delete dir_;
  }

  // Starts the linker, on the port it had before when it ran already.
  static void StartLinker() {
    const fs::path d = dir_->path();
    fs::remove(d / "port");
    delete linker_;
    linker_ = new BackgroundProcess(
        {kBin + "/koppel-linker", "serve", "--listen", address_.empty() ? "127.0.0.1:0" : address_,
         "--port-file", (d / "port").string(), "--pki", (d / "pki").string(), "--data",
         (d / "db").string(), "--keys", (d / "lkeys").string(), "--covenant",
         (d / "covenant.yaml").string(), "--metrics-listen",
         "127.0.0.1:" + std::to_string(metrics_port_)},
        (d / "linker.log").string());
    absl::StatusOr<std::string> address = test::WaitForPortFile(d / "port", *linker_);
    ASSERT_TRUE(address.ok()) << address.status() << "\n" << ReadFile(d / "linker.log");
    address_ = *std::move(address);
  }

  static void StopLinker() {
    linker_->Signal(SIGTERM);
    ASSERT_EQ(linker_->Wait(), 0) << ReadFile(dir_->path() / "linker.log");
  }

  static ProcessResult Agent(std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/koppel-agent");
    return RunProcess(args);
  }

  // Seals the uwv export as one more run into `outbox`; returns its batch ids.
  static std::vector<std::string> SealUwv(const fs::path& outbox) {
    const fs::path d = dir_->path();
    ProcessResult seal = Agent({"seal",
                                "--quiet",
                                "--allow-rejects",
                                "--mapping",
                                (d / "m/mappings/uwv.yaml").string(),
                                "--input",
                                (d / "m/exports/uwv.csv").string(),
                                "--covenant-key",
                                (d / "akeys/cov").string(),
                                "--linker-public-key",
                                (d / "lkeys/linker.key.pub").string(),
                                "--signing-key",
                                (d / "akeys/uwv").string(),
                                "--covenant-id",
                                kCovenant,
                                "--batch-size",
                                "40",
                                "--format",
                                "json",
                                "--new-run",
                                "--outbox",
                                outbox.string()});
    EXPECT_EQ(seal.exit_code, 0) << seal.err;
    if (seal.exit_code != 0) return {};
    return nlohmann::json::parse(seal.out)["batches"].get<std::vector<std::string>>();
  }

  // `koppel-agent send --format json`: the exit code, the summary and stderr.
  static ProcessResult Send(const fs::path& outbox, std::vector<std::string> extra = {}) {
    const fs::path d = dir_->path();
    std::vector<std::string> args = {"send",
                                     "--quiet",
                                     "--format",
                                     "json",
                                     "--max-attempts",
                                     "3",
                                     "--outbox",
                                     outbox.string(),
                                     "--linker",
                                     address_,
                                     "--pki",
                                     (d / "pki").string(),
                                     "--name",
                                     "agent-uwv",
                                     "--linker-signing-key",
                                     (d / "lkeys/linker-signing.key.pub").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return Agent(args);
  }

  static std::unique_ptr<v1::LinkerService::Stub> Stub(const std::string& name) {
    auto credentials = MakeChannelCredentials(TlsFiles::FromPkiDir(dir_->path() / "pki", name));
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return std::make_unique<v1::LinkerService::Stub>(grpc::CreateChannel(address_, *credentials));
  }

  static Held HeldUwv() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetStatusResponse response;
    grpc::Status status = Stub("agent-uwv")->GetStatus(&context, {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    for (const v1::DatasetStatus& s : response.datasets()) {
      if (s.dataset() == "uwv") return {s.records(), s.batches()};
    }
    return {};
  }

  static absl::Status CheckHeld(const std::string& caller, const v1::CheckHeldRequest& request,
                                v1::CheckHeldResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return FromGrpcStatus(Stub(caller)->CheckHeld(&context, request, response));
  }

  static size_t FilesIn(const fs::path& dir) {
    std::error_code ec;
    size_t n = 0;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      n += entry.is_regular_file() ? 1u : 0u;
    }
    return n;
  }

  static test::TempDir* dir_;
  static BackgroundProcess* linker_;
  static std::string address_;
  static int metrics_port_;
};

test::TempDir* ResendTest::dir_ = nullptr;
BackgroundProcess* ResendTest::linker_ = nullptr;
std::string ResendTest::address_;
int ResendTest::metrics_port_ = 0;

TEST_F(ResendTest, BatchesTheRestoredLinkerLostAreSentAgainAndHeldOnce) {
  const fs::path d = dir_->path();
  const fs::path outbox = d / "outbox-uwv";
  const fs::path store = d / "db/covenants" / kCovenant;
  const std::vector<std::string> first_run = SealUwv(outbox);
  ASSERT_FALSE(first_run.empty());
  ProcessResult sent = Send(outbox);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const Held after_first = HeldUwv();
  EXPECT_EQ(after_first.batches, first_run.size());

  // The "backup": the covenant's store as it was after the first delivery, taken while stopped.
  StopLinker();
  fs::copy(store, d / "backup", fs::copy_options::recursive);
  StartLinker();
  const size_t second_run = SealUwv(outbox).size();
  ASSERT_GT(second_run, 1u);
  sent = Send(outbox);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const Held everything = HeldUwv();
  EXPECT_EQ(everything.batches, first_run.size() + second_run);

  // The "restore": the linker loses the second run.
  StopLinker();
  fs::remove_all(store);
  fs::copy(d / "backup", store, fs::copy_options::recursive);
  StartLinker();
  ASSERT_EQ(HeldUwv(), after_first);
  // A batch of the first run lost its receipt: sent again too, and acknowledged as held.
  const std::string held_batch = first_run.front();
  fs::remove(outbox / "receipts" / (held_batch + ".receipt"));

  sent = Send(outbox);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_TRUE(Contains(sent.err, fmt::format("the linker no longer holds {} batch(es) this outbox "
                                             "delivered (restored from a backup?); sending them "
                                             "again",
                                             second_run)))
      << sent.err;
  nlohmann::json summary = nlohmann::json::parse(sent.out);
  EXPECT_EQ(summary["batches_resent"], second_run);
  EXPECT_EQ(summary["receipts_checked"], first_run.size() + second_run - 1);
  EXPECT_EQ(summary["batches_pending"], second_run + 1);
  EXPECT_EQ(summary["batches_delivered"], second_run + 1);
  EXPECT_EQ(summary["duplicates"], 1) << "the batch the linker still held is not stored twice";
  EXPECT_EQ(HeldUwv(), everything) << "the linker holds every batch exactly once";
  // The receipts of the lost batches are kept aside; every batch has a receipt again.
  EXPECT_EQ(FilesIn(outbox / "receipts.orphaned"), second_run);
  EXPECT_EQ(FilesIn(outbox / "receipts"), first_run.size() + second_run);
  // The linker counted what it no longer held, without a batch id in a label.
  absl::StatusOr<test::HttpResponse> metrics = test::HttpGet(metrics_port_, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_TRUE(
      Contains(metrics->body, fmt::format("koppel_linker_batches_not_held_total{{covenant=\"{}\","
                                          "dataset=\"uwv\"}} {}\n",
                                          kCovenant, second_run)))
      << metrics->body;
  EXPECT_FALSE(Contains(metrics->body, held_batch.substr(0, 16)));

  // A second send sends nothing and orphans nothing.
  sent = Send(outbox);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  summary = nlohmann::json::parse(sent.out);
  EXPECT_EQ(summary["batches_delivered"], 0);
  EXPECT_EQ(summary["batches_resent"], 0);
  EXPECT_EQ(summary["receipts_checked"], first_run.size() + second_run);
  EXPECT_EQ(FilesIn(outbox / "receipts.orphaned"), second_run);
  EXPECT_EQ(HeldUwv(), everything);

  // --no-held-check asks nothing.
  sent = Send(outbox, {"--no-held-check"});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(nlohmann::json::parse(sent.out)["receipts_checked"], 0);
}

TEST_F(ResendTest, CheckHeldAnswersOnlyWhoMayDeliverTheDatasetAndIsBounded) {
  v1::CheckHeldRequest request;
  request.set_covenant_id(kCovenant);
  request.set_dataset("uwv");
  for (int i = 0; i < 10000; ++i) request.add_batch_ids(fmt::format("{:064x}", i));
  v1::CheckHeldResponse response;
  // The bound itself is answered: 10,000 ids in one call.
  const absl::Time start = absl::Now();
  absl::Status ok = CheckHeld("agent-uwv", request, &response);
  ASSERT_TRUE(ok.ok()) << ok;
  std::cout << "CheckHeld of 10,000 batch ids: " << absl::Now() - start << "\n";
  EXPECT_EQ(response.not_held_size(), 10000);

  // Another data holder of the covenant, not granted uwv: refused by the grant's rule.
  absl::Status other = CheckHeld("agent-zorg", request, &response);
  EXPECT_TRUE(absl::IsPermissionDenied(other)) << other;
  EXPECT_EQ(RefusalRule(other), "parties.datasets") << other;
  // A party that delivers nothing.
  absl::Status research = CheckHeld("research-unit", request, &response);
  EXPECT_TRUE(absl::IsPermissionDenied(research)) << research;
  EXPECT_TRUE(Contains(std::string(research.message()), "may not deliver")) << research;

  request.add_batch_ids(fmt::format("{:064x}", 10000));
  absl::Status too_many = CheckHeld("agent-uwv", request, &response);
  EXPECT_TRUE(absl::IsInvalidArgument(too_many)) << too_many;
  EXPECT_TRUE(Contains(std::string(too_many.message()), "at most 10000 batch ids")) << too_many;

  v1::CheckHeldRequest malformed;
  malformed.set_covenant_id(kCovenant);
  malformed.set_dataset("uwv");
  malformed.add_batch_ids("not-a-batch-id");
  absl::Status refused = CheckHeld("agent-uwv", malformed, &response);
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  EXPECT_EQ(RefusalRule(refused), "request_field") << refused;

  malformed.set_covenant_id("no-such-covenant");
  malformed.clear_batch_ids();
  absl::Status unknown = CheckHeld("agent-uwv", malformed, &response);
  EXPECT_TRUE(absl::IsNotFound(unknown)) << unknown;
}

}  // namespace
}  // namespace koppel
