// The vault's side of key rotation (issue 16 part 6), with the real koppel-vault over mutual
// TLS: it rotates a covenant's token key on its own when the current epoch is as old as the
// covenant's key_rotation.period_days (found while it runs and at start), audits it, tells
// holders the epoch's start, the next rotation and the grace in its answers and shows it in its
// metrics; a covenant no longer in force is not rotated. And the OPRF quota survives a crash of
// the vault: a restart grants no fresh quota. An epoch's age is its key file's mtime, set into
// the past here as an operator's `touch -d` would.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/audit_log.h"
#include "core/oprf.h"
#include "core/proto_time.h"
#include "core/tls.h"
#include "koppel/v1/vault.grpc.pb.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/http_get.h"
#include "tests/testing/port_file.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using test::BackgroundProcess;
using test::ReadFile;
using test::RunProcess;

const std::string kBin = KOPPEL_BIN_DIR;

class VaultRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path d = dir_.path();
    ASSERT_EQ(RunProcess({KOPPEL_SOURCE_DIR "/scripts/pki", "--out", (d / "pki").string(), "vault",
                          "agent-jeugdzorg"})
                  .exit_code,
              0);
    ASSERT_EQ(RunProcess({kBin + "/koppel-vault", "keygen", "--out", (d / "master.key").string()})
                  .exit_code,
              0);
  }

  // Writes and signs <id>.yaml: a covenant with agent-jeugdzorg as its data holder.
  std::string WriteCovenant(test::TestCovenant covenant, const std::string& extra_yaml = "") {
    std::string signing_hex(64, 'a');
    covenant.officers = {&officer_};
    covenant.parties = {
        test::TestParty::Service("vault", "vault"), test::TestParty::Service("linker", "linker"),
        test::TestParty::DataHolder("agent-jeugdzorg", signing_hex, {{"jeugdzorg", {"bsn"}, {}}})};
    const fs::path path = dir_.path() / (covenant.id + ".yaml");
    absl::Status written =
        test::WriteSignedCovenant(path, covenant.Yaml() + extra_yaml, {&officer_});
    EXPECT_TRUE(written.ok()) << written;
    return path.string();
  }

  void StartVault(const std::vector<std::string>& covenants) {
    const fs::path d = dir_.path();
    absl::StatusOr<int> metrics = test::FreeLoopbackPort();
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_port_ = *metrics;
    std::vector<std::string> argv = {kBin + "/koppel-vault",
                                     "serve",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     (d / "vault.port").string(),
                                     "--pki",
                                     (d / "pki").string(),
                                     "--dir",
                                     (d / "vault").string(),
                                     "--master-key",
                                     (d / "master.key").string(),
                                     "--metrics-listen",
                                     "127.0.0.1:" + std::to_string(metrics_port_),
                                     "--rotation-check-seconds",
                                     "1"};
    for (const std::string& c : covenants) {
      argv.push_back("--covenant");
      argv.push_back(c);
    }
    vault_ = std::make_unique<BackgroundProcess>(argv, (d / "vault.log").string());
    absl::StatusOr<std::string> address = test::WaitForPortFile(d / "vault.port", *vault_);
    ASSERT_TRUE(address.ok()) << address.status() << "\n" << ReadFile(d / "vault.log");
    fs::remove(d / "vault.port");
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        MakeChannelCredentials(TlsFiles::FromPkiDir(d / "pki", "agent-jeugdzorg"));
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    stub_ = v1::VaultService::NewStub(grpc::CreateChannel(*address, *credentials));
  }

  void StopVault(int signal) {
    stub_.reset();  // no open channel to wait for
    vault_->Signal(signal);
    vault_->Wait();
    vault_.reset();
  }

  grpc::Status GetCovenantKey(const std::string& covenant, v1::GetCovenantKeyResponse* response) {
    unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
    crypto_box_keypair(pk, sk);
    v1::GetCovenantKeyRequest request;
    request.set_covenant_id(covenant);
    request.set_recipient_public_key(std::string(reinterpret_cast<const char*>(pk), sizeof pk));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->GetCovenantKey(&context, request, response);
  }

  grpc::Status EvaluateOprf(const std::string& covenant, int count,
                            v1::EvaluateOprfResponse* response) {
    v1::EvaluateOprfRequest request;
    request.set_covenant_id(covenant);
    for (int i = 0; i < count; ++i) {
      const std::string input = "input-" + std::to_string(i);
      absl::StatusOr<OprfBlindedInput> blinded =
          BlindOprfInput(std::span(reinterpret_cast<const uint8_t*>(input.data()), input.size()));
      EXPECT_TRUE(blinded.ok()) << blinded.status();
      request.add_blinded_elements(reinterpret_cast<const char*>(blinded->blinded_element.data()),
                                   kOprfElementSize);
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->EvaluateOprf(&context, request, response);
  }

  // Makes the key file of `epoch` look `days` old, as `touch -d` would.
  void AgeKey(const std::string& covenant, uint32_t epoch, int days) {
    const fs::path key =
        dir_.path() / "vault/keys" / (covenant + "." + std::to_string(epoch) + ".sealed");
    ASSERT_TRUE(fs::exists(key)) << key;
    fs::last_write_time(key, fs::file_time_type::clock::now() - std::chrono::hours(24 * days));
  }

  std::string Metrics() {
    absl::StatusOr<test::HttpResponse> response = test::HttpGet(metrics_port_, "/metrics");
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->body : "";
  }

  // The value of the sample `sample` (name and labels, as rendered); -1 if absent.
  static double Sample(const std::string& text, const std::string& sample) {
    const size_t at = text.find("\n" + sample + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + sample.size() + 2));
  }

  std::vector<AuditEntry> Rotations(const std::string& covenant) {
    absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(dir_.path() / "vault/audit.log");
    EXPECT_TRUE(entries.ok()) << entries.status();
    std::vector<AuditEntry> rotations;
    for (AuditEntry& e : entries.value_or(std::vector<AuditEntry>())) {
      if (e.event == "key_rotation" && e.covenant == covenant) rotations.push_back(std::move(e));
    }
    return rotations;
  }

  test::TempDir dir_;
  test::TestOfficer officer_ = test::TestOfficer::Create("po-rotation");
  std::unique_ptr<BackgroundProcess> vault_;
  std::unique_ptr<v1::VaultService::Stub> stub_;
  int metrics_port_ = 0;
};

TEST_F(VaultRotationTest, TheVaultRotatesOnScheduleAndTellsHolders) {
  test::TestCovenant rotating;
  rotating.id = "rot";
  rotating.key_rotation_days = 10;
  rotating.key_rotation_grace_days = 3;
  // In force for longer than the aged key below: an epoch ages from valid_from at the earliest.
  rotating.valid_from = test::DaysFromToday(-30);
  // Over (no longer in force) but kept until its retention ends: never rotated.
  test::TestCovenant over;
  over.id = "rot-over";
  over.valid_from = test::DaysFromToday(-30);
  over.valid_until = test::DaysFromToday(-1);
  over.retention_days_after_end = 30;
  over.key_rotation_days = 5;
  const std::vector<std::string> covenants = {WriteCovenant(rotating), WriteCovenant(over)};
  StartVault(covenants);

  v1::GetCovenantKeyResponse first;
  ASSERT_TRUE(GetCovenantKey("rot", &first).ok());
  EXPECT_EQ(first.key_epoch(), 1u);
  ASSERT_TRUE(first.has_key_schedule());
  EXPECT_EQ(first.key_schedule().key_epoch(), 1u);
  absl::StatusOr<absl::Time> started = FromProtoTimestamp(first.key_schedule().epoch_start_time());
  ASSERT_TRUE(started.ok());
  absl::StatusOr<absl::Time> next = FromProtoTimestamp(first.key_schedule().next_rotation_time());
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next - *started, absl::Hours(24 * 10));
  EXPECT_FALSE(first.key_schedule().has_previous_epoch_grace_end_time());
  std::string metrics = Metrics();
  EXPECT_EQ(Sample(metrics, "koppel_vault_key_epoch{covenant=\"rot\"}"), 1) << metrics;
  EXPECT_GT(Sample(metrics, "koppel_vault_key_rotation_in_seconds{covenant=\"rot\"}"), 0);
  EXPECT_EQ(Sample(metrics, "koppel_vault_key_rotation_in_seconds{covenant=\"rot-over\"}"), -1)
      << "a covenant that has ended schedules no rotation";

  // Epoch 1 turns 11 days old while the vault runs: its next check rotates.
  AgeKey("rot", 1, 11);
  AgeKey("rot-over", 1, 11);
  v1::GetCovenantKeyResponse second;
  for (int i = 0; i < 600 && second.key_epoch() != 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(GetCovenantKey("rot", &second).ok());
  }
  ASSERT_EQ(second.key_epoch(), 2u) << ReadFile(dir_.path() / "vault.log");
  EXPECT_EQ(second.key_schedule().key_epoch(), 2u);
  ASSERT_TRUE(second.key_schedule().has_previous_epoch_grace_end_time());
  absl::StatusOr<absl::Time> second_start =
      FromProtoTimestamp(second.key_schedule().epoch_start_time());
  absl::StatusOr<absl::Time> grace_end =
      FromProtoTimestamp(second.key_schedule().previous_epoch_grace_end_time());
  ASSERT_TRUE(second_start.ok() && grace_end.ok());
  EXPECT_EQ(*grace_end - *second_start, absl::Hours(24 * 3));
  std::vector<AuditEntry> rotations = Rotations("rot");
  ASSERT_EQ(rotations.size(), 1u);
  EXPECT_EQ(rotations[0].actor, "vault schedule");
  EXPECT_EQ(rotations[0].details["epoch"], 2);
  EXPECT_EQ(rotations[0].details["previous_epoch"], 1);
  EXPECT_EQ(rotations[0].details["grace_days"], 3);
  metrics = Metrics();
  EXPECT_EQ(Sample(metrics, "koppel_vault_key_epoch{covenant=\"rot\"}"), 2) << metrics;
  EXPECT_GT(Sample(metrics, "koppel_vault_key_grace_remaining_seconds{covenant=\"rot\"}"), 0);
  EXPECT_EQ(Sample(metrics, "koppel_vault_key_epoch{covenant=\"rot-over\"}"), 1) << metrics;

  // Stopped while epoch 2 came due: the start rotates before the first answer.
  StopVault(SIGTERM);
  AgeKey("rot", 2, 11);
  StartVault(covenants);
  v1::GetCovenantKeyResponse third;
  ASSERT_TRUE(GetCovenantKey("rot", &third).ok());
  EXPECT_EQ(third.key_epoch(), 3u);
  EXPECT_EQ(Rotations("rot").size(), 2u);
  EXPECT_TRUE(Rotations("rot-over").empty());
  EXPECT_TRUE(fs::exists(dir_.path() / "vault/keys/rot-over.1.sealed"));
  EXPECT_FALSE(fs::exists(dir_.path() / "vault/keys/rot-over.2.sealed"));
  StopVault(SIGTERM);
}

TEST_F(VaultRotationTest, TheOprfQuotaSurvivesACrashOfTheVault) {
  test::TestCovenant covenant;
  covenant.id = "quota";
  covenant.token_mode = "oprf";
  const std::vector<std::string> covenants = {WriteCovenant(covenant, "oprf_quota: 10\n")};
  StartVault(covenants);
  v1::EvaluateOprfResponse spent;
  ASSERT_TRUE(EvaluateOprf("quota", 6, &spent).ok());
  EXPECT_EQ(spent.quota_remaining(), 4u);
  EXPECT_EQ(spent.key_schedule().key_epoch(), 1u);

  StopVault(SIGKILL);
  StartVault(covenants);
  v1::EvaluateOprfResponse refused;
  grpc::Status over = EvaluateOprf("quota", 5, &refused);
  EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << over.error_message();
  v1::EvaluateOprfResponse rest;
  ASSERT_TRUE(EvaluateOprf("quota", 4, &rest).ok());
  EXPECT_EQ(rest.quota_remaining(), 0u);
  StopVault(SIGTERM);
}

}  // namespace
}  // namespace koppel
