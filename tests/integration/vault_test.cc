// The vault as deployed: real koppel-vault processes over mutual TLS, agents sealing through
// it in HMAC mode (the key travels sealed to a one-time key) and in OPRF mode (the agent never
// holds the key), the quota and the covenant enforced, and nothing identifying in its files.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/audit_log.h"
#include "core/key_file.h"
#include "core/sealed_batch.h"
#include "fmt/format.h"
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

const std::string kBin = KOPPEL_BIN_DIR;

class VaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path d = dir_.path();
    ASSERT_EQ(RunProcess({kBin + "/koppel-synth", "--out", (d / "m").string(), "--persons", "3000"})
                  .exit_code,
              0);
    ASSERT_EQ(RunProcess({KOPPEL_SOURCE_DIR "/scripts/pki", "--out", (d / "pki").string(), "vault",
                          "linker", "agent-jeugdzorg", "agent-outsider"})
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
  }

  // Writes covenant-<mode>.yaml for `mode` with `quota`, signed at `version`.
  void WriteCovenant(const std::string& mode, uint64_t quota, uint32_t version,
                     int64_t rotation_days = 0) {
    const fs::path d = dir_.path();
    std::string pk = ReadFile(d / "agent.key.pub");
    pk.pop_back();
    absl::StatusOr<test::TestDataset> jeugdzorg =
        test::DatasetFromMapping(d / "m/mappings/jeugdzorg.yaml");
    EXPECT_TRUE(jeugdzorg.ok()) << jeugdzorg.status();
    test::TestCovenant covenant;
    covenant.id = "vault-test-" + mode;
    covenant.version = version;
    covenant.token_mode = mode;
    covenant.key_rotation_days = rotation_days;
    // In force for longer than a key the tests age: an epoch ages from valid_from at the
    // earliest.
    if (rotation_days > 0)
      covenant.valid_from = test::DaysFromToday(-2 * static_cast<int>(rotation_days));
    covenant.officers = {&officer_};
    covenant.parties = {test::TestParty::Service("vault", "vault"),
                        test::TestParty::Service("linker", "linker"),
                        test::TestParty::DataHolder("agent-jeugdzorg", pk, {*jeugdzorg})};
    const std::string yaml = covenant.Yaml() + "oprf_quota: " + std::to_string(quota) + "\n";
    absl::Status written =
        test::WriteSignedCovenant(d / ("covenant-" + mode + ".yaml"), yaml, {&officer_});
    EXPECT_TRUE(written.ok()) << written;
  }

  // Starts a vault for a covenant in `mode` with `quota`, signed at `version`; returns its
  // address.
  std::string StartVault(const std::string& mode, uint64_t quota, uint32_t version = 1,
                         int64_t rotation_days = 0) {
    const fs::path d = dir_.path();
    WriteCovenant(mode, quota, version, rotation_days);
    vault_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{kBin + "/koppel-vault", "serve", "--listen", "127.0.0.1:0",
                                 "--port-file", (d / "vault.port").string(), "--pki",
                                 (d / "pki").string(), "--dir", (d / ("vault-" + mode)).string(),
                                 "--covenant", (d / ("covenant-" + mode + ".yaml")).string(),
                                 "--master-key", (d / "master.key").string()},
        (d / "vault.out").string());
    absl::StatusOr<std::string> address = test::WaitForPortFile(d / "vault.port", *vault_);
    EXPECT_TRUE(address.ok()) << address.status() << "\n" << ReadFile(d / "vault.out");
    fs::remove(d / "vault.port");
    return address.value_or("");
  }

  ProcessResult Seal(const std::string& vault, const std::string& mode, const std::string& name,
                     const std::string& outbox, const std::vector<std::string>& more = {}) {
    const fs::path d = dir_.path();
    std::vector<std::string> args = {kBin + "/koppel-agent",
                                     "seal",
                                     "--quiet",
                                     "--allow-rejects",
                                     "--format",
                                     "json",
                                     "--mapping",
                                     (d / "m/mappings/jeugdzorg.yaml").string(),
                                     "--input",
                                     (d / "m/exports/jeugdzorg.csv").string(),
                                     "--vault",
                                     vault,
                                     "--pki",
                                     (d / "pki").string(),
                                     "--name",
                                     name,
                                     "--covenant-id",
                                     "vault-test-" + mode,
                                     "--linker-public-key",
                                     (d / "lkeys/linker.key.pub").string(),
                                     "--signing-key",
                                     (d / "agent.key").string(),
                                     "--outbox",
                                     (d / outbox).string()};
    args.insert(args.end(), more.begin(), more.end());
    return RunProcess(args);
  }

  // The BSN tokens in an outbox, opened with the linker's key.
  std::multiset<std::string> Tokens(const std::string& outbox) {
    const fs::path d = dir_.path();
    absl::StatusOr<Secret> sk = ReadKeyFile(d / "lkeys/linker.key", crypto_box_SECRETKEYBYTES);
    EXPECT_TRUE(sk.ok());
    BoxPublicKey pk;
    crypto_scalarmult_base(pk.data(), sk->data());
    std::multiset<std::string> tokens;
    for (const auto& entry : fs::directory_iterator(d / outbox)) {
      if (entry.path().extension() != ".sealed") continue;
      v1::SealedBatch batch;
      EXPECT_TRUE(batch.ParseFromString(ReadFile(entry.path())));
      absl::StatusOr<v1::BatchPayload> payload = OpenSealedBatch(batch, pk, *sk);
      EXPECT_TRUE(payload.ok()) << payload.status();
      for (const auto& r : payload->records()) tokens.insert(r.bsn_token());
    }
    return tokens;
  }

  // The entries of a vault's audit log, after checking its chain under the vault's audit key.
  std::vector<AuditEntry> AuditEntries(const std::string& vault_dir) {
    const fs::path d = dir_.path() / vault_dir;
    absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(d / "audit.log");
    EXPECT_TRUE(entries.ok()) << entries.status();
    if (!entries.ok()) return {};
    absl::StatusOr<std::vector<uint8_t>> key =
        ReadPublicKeyFile(d / "audit-signing.key.pub", crypto_sign_PUBLICKEYBYTES);
    EXPECT_TRUE(key.ok()) << key.status();
    if (!key.ok()) return {};
    absl::StatusOr<AuditVerification> verified = VerifyAuditLog(
        *entries, std::string_view(reinterpret_cast<const char*>(key->data()), key->size()),
        std::nullopt);
    EXPECT_TRUE(verified.ok()) << verified.status();
    return *entries;
  }

  test::TempDir dir_;
  test::TestOfficer officer_ = test::TestOfficer::Create("po-vault");
  std::unique_ptr<BackgroundProcess> vault_;
};

// How many of `entries` have `event` by `actor` and carry each of `details`.
size_t Count(const std::vector<AuditEntry>& entries, const std::string& event,
             const std::string& actor, const nlohmann::json& details = nlohmann::json::object()) {
  size_t n = 0;
  for (const AuditEntry& e : entries) {
    if (e.event != event || e.actor != actor) continue;
    bool all = true;
    for (const auto& [key, value] : details.items()) {
      all = all && e.details.contains(key) && e.details[key] == value;
    }
    n += all ? 1u : 0u;
  }
  return n;
}

TEST_F(VaultTest, HmacModeIssuesTheKeyOnlyToListedDataHolders) {
  std::string vault = StartVault("hmac", 1000);
  ProcessResult sealed = Seal(vault, "hmac", "agent-jeugdzorg", "out-hmac");
  ASSERT_EQ(sealed.exit_code, 0) << sealed.err;
  nlohmann::json manifest = nlohmann::json::parse(sealed.out);
  EXPECT_EQ(manifest["token_scheme"], "koppel/v1/hmac");
  EXPECT_EQ(manifest["key_epoch"], 1);
  EXPECT_GT(manifest["records_sealed"].get<int>(), 10);

  // The same key every time: the same tokens.
  ASSERT_EQ(Seal(vault, "hmac", "agent-jeugdzorg", "out-hmac-2").exit_code, 0);
  EXPECT_EQ(Tokens("out-hmac"), Tokens("out-hmac-2"));

  ProcessResult outsider = Seal(vault, "hmac", "agent-outsider", "out-outsider");
  EXPECT_EQ(outsider.exit_code, 3);
  EXPECT_TRUE(Contains(outsider.err, "is not a party")) << outsider.err;
  EXPECT_TRUE(Contains(outsider.err, "(rule: parties)")) << outsider.err;
  EXPECT_FALSE(fs::exists(dir_ / "out-outsider/runs") && !fs::is_empty(dir_ / "out-outsider/runs"));

  // The data key goes to the covenant's linker only.
  const fs::path d = dir_.path();
  ProcessResult impostor =
      RunProcess({kBin + "/koppel-linker", "serve", "--listen", "127.0.0.1:0", "--pki",
                  (d / "pki").string(), "--name", "agent-jeugdzorg", "--data",
                  (d / "db-impostor").string(), "--keys", (d / "lkeys").string(), "--covenant",
                  (d / "covenant-hmac.yaml").string(), "--vault", vault});
  EXPECT_EQ(impostor.exit_code, 3);
  EXPECT_TRUE(Contains(impostor.err, "does not have the role linker")) << impostor.err;
  EXPECT_TRUE(Contains(impostor.err, "(rule: parties[agent-jeugdzorg].roles)")) << impostor.err;
  {
    BackgroundProcess linker(
        {kBin + "/koppel-linker", "serve", "--listen", "127.0.0.1:0", "--port-file",
         (d / "linker.port").string(), "--pki", (d / "pki").string(), "--data", (d / "db").string(),
         "--keys", (d / "lkeys").string(), "--covenant", (d / "covenant-hmac.yaml").string(),
         "--vault", vault},
        (d / "linker.out").string());
    absl::StatusOr<std::string> address = test::WaitForPortFile(d / "linker.port", linker);
    EXPECT_TRUE(address.ok()) << address.status() << "\n" << ReadFile(d / "linker.out");
  }

  const std::vector<AuditEntry> audit = AuditEntries("vault-hmac");
  const std::string log = ReadFile(dir_ / "vault-hmac/audit.log");
  EXPECT_EQ(Count(audit, "key_issue", "linker", {{"kind", "data"}}), 1u) << log;
  EXPECT_EQ(Count(audit, "key_issue", "agent-jeugdzorg", {{"kind", "hmac"}}), 2u) << log;
  EXPECT_EQ(Count(audit, "refused", "agent-outsider", {{"operation", "get_covenant_key"}}), 1u)
      << log;
  EXPECT_EQ(Count(audit, "refused", "agent-jeugdzorg", {{"operation", "get_data_key"}}), 1u) << log;
}

TEST_F(VaultTest, OprfModeIsDeterministicAndKeepsTheQuota) {
  std::string vault = StartVault("oprf", 100000);
  ProcessResult first = Seal(vault, "oprf", "agent-jeugdzorg", "out-oprf");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(nlohmann::json::parse(first.out)["token_scheme"], "koppel/v1/oprf");
  ASSERT_EQ(Seal(vault, "oprf", "agent-jeugdzorg", "out-oprf-2").exit_code, 0);
  std::multiset<std::string> a = Tokens("out-oprf"), b = Tokens("out-oprf-2");
  EXPECT_EQ(a, b) << "OPRF tokens must be deterministic despite random blinds";
  EXPECT_GT(a.size(), 10u);
  for (const std::string& t : a) EXPECT_EQ(t.size(), 32u);
  // End to end: the linker stores the OPRF-mode batches like any others.
  {
    const fs::path d = dir_.path();
    BackgroundProcess linker(
        {kBin + "/koppel-linker", "serve", "--listen", "127.0.0.1:0", "--port-file",
         (d / "linker.port").string(), "--pki", (d / "pki").string(), "--data", (d / "db").string(),
         "--keys", (d / "lkeys").string(), "--covenant", (d / "covenant-oprf.yaml").string()},
        (d / "linker.out").string());
    absl::StatusOr<std::string> address = test::WaitForPortFile(d / "linker.port", linker);
    ASSERT_TRUE(address.ok()) << address.status() << "\n" << ReadFile(d / "linker.out");
    ProcessResult sent = RunProcess({kBin + "/koppel-agent", "send", "--quiet", "--format", "json",
                                     "--outbox", (d / "out-oprf").string(), "--linker", *address,
                                     "--pki", (d / "pki").string(), "--name", "agent-jeugdzorg"});
    ASSERT_EQ(sent.exit_code, 0) << sent.err << ReadFile(d / "linker.out");
    EXPECT_EQ(nlohmann::json::parse(sent.out)["records_accepted"],
              nlohmann::json::parse(first.out)["records_sealed"]);
  }
  vault_->Signal(SIGTERM);
  EXPECT_EQ(vault_->Wait(), 0);

  // A quota smaller than one export: refused, naming the rule.
  // (A new version of the covenant: the vault refuses other bytes under a version it served.)
  std::string small = StartVault("oprf", 10, 2);
  ProcessResult over = Seal(small, "oprf", "agent-jeugdzorg", "out-over");
  EXPECT_EQ(over.exit_code, 3);
  EXPECT_TRUE(Contains(over.err, "oprf_quota")) << over.err;
  vault_->Signal(SIGTERM);
  EXPECT_EQ(vault_->Wait(), 0);
  const std::vector<AuditEntry> audit = AuditEntries("vault-oprf");
  EXPECT_EQ(Count(audit, "covenant_load", "vault", {{"version", 2}}), 1u);
  EXPECT_GE(Count(audit, "oprf_evaluation", "agent-jeugdzorg"), 2u);
  EXPECT_GE(Count(audit, "refused", "agent-jeugdzorg", {{"operation", "evaluate_oprf"}}), 1u);

  // The vault's files hold no identifier.
  test::PlaintextScanner scanner =
      test::PlaintextScanner::FromPopulation(dir_ / "m/truth/population.csv");
  std::vector<test::Leak> leaks;
  size_t files = 0;
  scanner.ScanTree(dir_ / "vault-oprf", {}, &leaks, &files);
  EXPECT_GE(files, 2u);
  EXPECT_TRUE(leaks.empty());
}

// After the vault rotated the covenant's key on its schedule, `seal` warns the data holder that
// its earlier records no longer join and by when to deliver the full export again.
TEST_F(VaultTest, SealWarnsAfterAScheduledRotation) {
  std::string vault = StartVault("hmac", 1000, 1, /*rotation_days=*/30);
  ProcessResult before = Seal(vault, "hmac", "agent-jeugdzorg", "out-epoch-1");
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_FALSE(Contains(before.err, "started key epoch")) << before.err;
  vault_->Signal(SIGTERM);
  EXPECT_EQ(vault_->Wait(), 0);

  // Epoch 1 is 31 days old when the vault starts again (an epoch's age is its key file's).
  const fs::path key = dir_ / "vault-hmac/keys/vault-test-hmac.1.sealed";
  ASSERT_TRUE(fs::exists(key));
  fs::last_write_time(key, fs::file_time_type::clock::now() - std::chrono::hours(24 * 31));
  vault = StartVault("hmac", 1000, 1, /*rotation_days=*/30);
  // The holder seals into the outbox that holds its epoch-1 run: that run is what it is warned
  // about.
  const std::multiset<std::string> old_tokens = Tokens("out-epoch-1");
  ProcessResult after = Seal(vault, "hmac", "agent-jeugdzorg", "out-epoch-1", {"--new-run"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(nlohmann::json::parse(after.out)["key_epoch"], 2);
  EXPECT_TRUE(Contains(after.err,
                       fmt::format("warning: covenant vault-test-hmac started key epoch 2 on {}; "
                                   "records sealed under epoch 1 no longer join with new "
                                   "deliveries: re-deliver the full export by {} (grace)",
                                   test::DaysFromToday(0), test::DaysFromToday(15))))
      << after.err;
  std::multiset<std::string> new_tokens;
  const std::multiset<std::string> all_tokens = Tokens("out-epoch-1");
  std::set_difference(all_tokens.begin(), all_tokens.end(), old_tokens.begin(), old_tokens.end(),
                      std::inserter(new_tokens, new_tokens.begin()));
  EXPECT_EQ(old_tokens.size(), new_tokens.size());
  EXPECT_NE(old_tokens, new_tokens);
  vault_->Signal(SIGTERM);
  EXPECT_EQ(vault_->Wait(), 0);
  EXPECT_EQ(Count(AuditEntries("vault-hmac"), "key_rotation", "vault schedule", {{"epoch", 2}}),
            1u);
}

// Operators run the services from configuration files (/etc/koppel/vault.yaml, linker.yaml),
// check a file before a restart without starting anything, and are told file:line for a key the
// program does not know; a flag on the command line wins over the file.
TEST_F(VaultTest, ServicesRunFromConfigFilesThatCanBeCheckedWithoutStarting) {
  const fs::path d = dir_.path();
  WriteCovenant("hmac", 100000, 1);
  const std::string covenant = (d / "covenant-hmac.yaml").string();
  test::WriteFile(d / "vault.yaml",
                  fmt::format("# koppel-vault serve --config vault.yaml\n"
                              "listen: 127.0.0.1:0\nport-file: {}\npki: {}\ndir: {}\n"
                              "covenant: [{}]\nmaster-key: {}\n",
                              (d / "vault.port").string(), (d / "pki").string(),
                              (d / "vault-cfg").string(), covenant, (d / "master.key").string()));
  ProcessResult checked = RunProcess(
      {kBin + "/koppel-vault", "serve", "--config", (d / "vault.yaml").string(), "--check-config"});
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_TRUE(Contains(checked.out, "configuration OK")) << checked.out;
  EXPECT_TRUE(Contains(checked.out, "vault-test-hmac version 1")) << checked.out;
  EXPECT_FALSE(fs::exists(d / "vault-cfg")) << "the check must not create the vault's directory";
  EXPECT_FALSE(fs::exists(d / "vault.port")) << "the check must not listen";

  BackgroundProcess vault(
      {kBin + "/koppel-vault", "serve", "--config", (d / "vault.yaml").string()},
      (d / "vault.out").string());
  absl::StatusOr<std::string> vault_address = test::WaitForPortFile(d / "vault.port", vault);
  ASSERT_TRUE(vault_address.ok()) << vault_address.status() << "\n" << ReadFile(d / "vault.out");
  // SIGHUP reloads the certificates (here the same ones) and does not end the vault: it keeps
  // serving the linker started below.
  vault.Signal(SIGHUP);

  const std::string linker_yaml = fmt::format(
      "listen: 127.0.0.1:0\nport-file: {}\npki: {}\ndata: {}\nkeys: {}\n"
      "covenant: {}\nvault: {}\n",
      (d / "linker.port").string(), (d / "pki").string(), (d / "db-cfg").string(),
      (d / "lkeys").string(), covenant, *vault_address);
  test::WriteFile(d / "linker.yaml", linker_yaml);
  checked = RunProcess({kBin + "/koppel-linker", "serve", "--config", (d / "linker.yaml").string(),
                        "--check-config"});
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_TRUE(Contains(checked.out, "vault-test-hmac version 1")) << checked.out;
  EXPECT_FALSE(fs::exists(d / "db-cfg")) << "the check must not create the store";

  {
    BackgroundProcess linker(
        {kBin + "/koppel-linker", "serve", "--config", (d / "linker.yaml").string()},
        (d / "linker.out").string());
    absl::StatusOr<std::string> address = test::WaitForPortFile(d / "linker.port", linker);
    ASSERT_TRUE(address.ok()) << address.status() << "\n" << ReadFile(d / "linker.out");
    EXPECT_TRUE(fs::exists(d / "db-cfg/covenants/vault-test-hmac"));  // its data key came
    EXPECT_TRUE(Contains(ReadFile(d / "vault.out"), "now serves certificate"))
        << ReadFile(d / "vault.out");
  }

  // A misspelt key: the file and line, usage exit code, nothing started.
  test::WriteFile(d / "linker-typo.yaml", linker_yaml + "retention-check-second: 5\n");
  ProcessResult typo = RunProcess({kBin + "/koppel-linker", "serve", "--config",
                                   (d / "linker-typo.yaml").string(), "--check-config"});
  EXPECT_EQ(typo.exit_code, 2) << typo.err;
  EXPECT_TRUE(Contains(typo.err, (d / "linker-typo.yaml").string() + ":8:1: ")) << typo.err;
  EXPECT_TRUE(Contains(typo.err, "unknown key 'retention-check-second'")) << typo.err;

  // --covenant on the command line replaces the file's list instead of adding to it.
  WriteCovenant("oprf", 100000, 1);
  ProcessResult replaced =
      RunProcess({kBin + "/koppel-linker", "serve", "--config", (d / "linker.yaml").string(),
                  "--covenant", (d / "covenant-oprf.yaml").string(), "--check-config"});
  EXPECT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_TRUE(Contains(replaced.out, "serves 1 covenant(s): vault-test-oprf version 1"))
      << replaced.out;

  // A check-config key in the file would make every start a check: refused.
  test::WriteFile(d / "linker-check.yaml", linker_yaml + "check-config: true\n");
  ProcessResult check_key = RunProcess(
      {kBin + "/koppel-linker", "serve", "--config", (d / "linker-check.yaml").string()});
  EXPECT_EQ(check_key.exit_code, 2) << check_key.err;
  EXPECT_TRUE(Contains(check_key.err, "unknown key 'check-config'")) << check_key.err;

  // An edited copy of the covenant fails its signatures at the check.
  fs::copy_file(covenant, d / "edited.yaml");
  fs::copy_file(covenant + ".sig", d / "edited.yaml.sig");
  test::WriteFile(d / "edited.yaml", ReadFile(covenant) + "# edited after signing\n");
  ProcessResult edited =
      RunProcess({kBin + "/koppel-linker", "serve", "--config", (d / "linker.yaml").string(),
                  "--covenant", (d / "edited.yaml").string(), "--check-config"});
  EXPECT_EQ(edited.exit_code, 4) << edited.err;
  EXPECT_TRUE(Contains(edited.err, "edited.yaml")) << edited.err;

  vault.Signal(SIGTERM);
  EXPECT_EQ(vault.Wait(), 0);
}

}  // namespace
}  // namespace koppel
