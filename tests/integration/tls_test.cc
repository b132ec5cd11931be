// The services' TLS as deployed: the real koppel-vault and koppel-linker (the linker taking its
// data key from the vault) on loopback. Both accept TLS 1.3 with a client certificate of the
// deployment's CA and refuse a client that offers only TLS 1.2, whatever OPENSSL_CONF says. The
// linker as the vault's client (with the credentials the agents and the CLI use too) refuses a
// server that offers only TLS 1.2.
// They (and the agent's send) warn before their certificates expire; the services refuse to
// start with an expired one.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "tests/testing/covenant_files.h"
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
using Service = test::RunningService;

const std::string kBin = KOPPEL_BIN_DIR;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const fs::path d = dir_->path();
    ASSERT_EQ(RunProcess({KOPPEL_SOURCE_DIR "/scripts/pki", "--out", (d / "pki").string(), "linker",
                          "vault", "agent-uwv"})
                  .exit_code,
              0);
    ASSERT_EQ(RunProcess({KOPPEL_SOURCE_DIR "/scripts/pki", "--out", (d / "pki").string(),
                          "--expired", "vault-expired", "linker-expired"})
                  .exit_code,
              0);
    ASSERT_EQ(
        RunProcess({kBin + "/koppel-linker", "keygen", "--out", (d / "lkeys").string()}).exit_code,
        0);
    ASSERT_EQ(RunProcess({kBin + "/koppel-vault", "keygen", "--out", (d / "master.key").string()})
                  .exit_code,
              0);
    // A configuration that would allow TLS 1.2 and nothing newer, were the services to load it.
    test::WriteFile(d / "tls12.cnf",
                    "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n"
                    "[tls]\nMinProtocol = TLSv1.2\nMaxProtocol = TLSv1.2\n");
    const test::TestOfficer officer = test::TestOfficer::Create("po-tls");
    test::TestCovenant covenant;
    covenant.id = "tls";
    covenant.officers = {&officer};
    covenant.parties = test::TestParty::Services();
    covenant.parties.push_back(
        test::TestParty::DataHolder("agent-uwv", "", {{"uwv", {"bsn"}, {}}}));
    ASSERT_TRUE(test::WriteSignedCovenant(d / "covenant.yaml", covenant.Yaml(), {&officer}).ok());
    const std::string environment = "OPENSSL_CONF=" + (d / "tls12.cnf").string();
    vault_ = new Service(
        Start("vault", {"/usr/bin/env", environment, kBin + "/koppel-vault", "serve", "--dir",
                        (d / "vault").string(), "--master-key", (d / "master.key").string()}));
    ASSERT_FALSE(vault_->address.empty());
    linker_ = new Service(
        Start("linker", {"/usr/bin/env", environment, kBin + "/koppel-linker", "serve", "--data",
                         (d / "db").string(), "--keys", (d / "lkeys").string(), "--vault",
                         vault_->address, "--cert-warn-days", "1000"}));
    ASSERT_FALSE(linker_->address.empty());
  }

  static void TearDownTestSuite() {
    delete linker_;
    delete vault_;
    delete dir_;
  }

  static Service Start(const std::string& name, std::vector<std::string> argv) {
    const fs::path d = dir_->path();
    argv.insert(argv.end(),
                {"--pki", (d / "pki").string(), "--covenant", (d / "covenant.yaml").string()});
    Service s = test::StartService(argv, d / (name + ".port"), d / (name + ".log"));
    EXPECT_FALSE(s.address.empty()) << ReadFile(d / (name + ".log"));
    return s;
  }

  // `openssl s_client` offering only `version` ("-tls1_2"), with agent-uwv's certificate.
  static ProcessResult Handshake(const Service& service, const std::string& version) {
    const fs::path d = dir_->path();
    return RunProcess(
        {"/usr/bin/openssl", "s_client", "-connect", service.address, version, "-brief", "-CAfile",
         (d / "pki/ca.crt").string(), "-cert", (d / "pki/agent-uwv.crt").string(), "-key",
         (d / "pki/agent-uwv.key").string()},
        "\n");
  }

  static test::TempDir* dir_;
  static Service* vault_;
  static Service* linker_;
};

test::TempDir* TlsTest::dir_ = nullptr;
Service* TlsTest::vault_ = nullptr;
Service* TlsTest::linker_ = nullptr;

TEST_F(TlsTest, ServicesAcceptTls13AndRefuseAClientOfferingOnlyTls12) {
  for (const Service* service : {vault_, linker_}) {
    ProcessResult tls13 = Handshake(*service, "-tls1_3");
    EXPECT_TRUE(Contains(tls13.err + tls13.out, "Protocol version: TLSv1.3"))
        << service->address << "\n"
        << tls13.err;
    EXPECT_TRUE(Contains(tls13.err + tls13.out, "Verification: OK")) << tls13.err;

    // gRPC closes the connection without an alert; the service's log says why.
    ProcessResult tls12 = Handshake(*service, "-tls1_2");
    EXPECT_NE(tls12.exit_code, 0) << service->address << "\n" << tls12.err;
    EXPECT_FALSE(Contains(tls12.err + tls12.out, "Protocol version:")) << service->address << "\n"
                                                                       << tls12.err;
  }
  for (const char* log : {"vault.log", "linker.log"}) {
    EXPECT_TRUE(Contains(ReadFile(dir_->path() / log), "unsupported protocol")) << log;
  }
}

TEST_F(TlsTest, ClientsRefuseAServerOfferingOnlyTls12) {
  const fs::path d = dir_->path();
  // A TLS 1.2-only server with the vault's certificate, where the linker expects the vault.
  BackgroundProcess server(
      {"/usr/bin/openssl", "s_server", "-www", "-accept", "127.0.0.1:0", "-tls1_2", "-cert",
       (d / "pki/vault.crt").string(), "-key", (d / "pki/vault.key").string(), "-CAfile",
       (d / "pki/ca.crt").string(), "-Verify", "1"},
      (d / "s_server.log").string());
  std::string port;
  for (int i = 0; i < 200 && port.empty() && !server.HasExited(); ++i) {
    const std::string log = ReadFile(d / "s_server.log");
    const size_t at = log.find("ACCEPT 127.0.0.1:");
    if (at != std::string::npos && log.find('\n', at) != std::string::npos) {
      port = log.substr(at + 17, log.find('\n', at) - at - 17);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_FALSE(port.empty()) << ReadFile(d / "s_server.log");

  ProcessResult linker = RunProcess(
      {kBin + "/koppel-linker", "serve", "--pki", (d / "pki").string(), "--data",
       (d / "db-client").string(), "--keys", (d / "lkeys").string(), "--covenant",
       (d / "covenant.yaml").string(), "--vault", "127.0.0.1:" + port, "--listen", "127.0.0.1:0"});
  EXPECT_EQ(linker.exit_code, 3) << linker.err;
  // Not a TLS 1.2 session that failed later (before: "missing selected ALPN property").
  EXPECT_TRUE(Contains(linker.err, "alert protocol version")) << linker.err;
  EXPECT_TRUE(Contains(ReadFile(d / "s_server.log"), "unsupported protocol"))
      << ReadFile(d / "s_server.log");
}

TEST_F(TlsTest, ServicesWarnBeforeTheirCertificateExpiresAndRefuseAnExpiredOne) {
  const fs::path d = dir_->path();
  // scripts/pki certificates last 825 days, its CA 3650: within --cert-warn-days 1000, the
  // linker's own certificate is about to expire, the CA is not.
  const std::string log = ReadFile(d / "linker.log");
  EXPECT_TRUE(Contains(log, "certificate " + (d / "pki/linker.crt").string() + " expires on "))
      << log;
  EXPECT_FALSE(Contains(log, "CA certificate")) << log;
  EXPECT_FALSE(Contains(ReadFile(d / "vault.log"), "expires on"));
  // koppel-agent send warns on stderr (here with nothing to send).
  fs::create_directories(d / "empty-outbox");
  ProcessResult send =
      RunProcess({kBin + "/koppel-agent", "send", "--quiet", "--outbox",
                  (d / "empty-outbox").string(), "--linker", linker_->address, "--pki",
                  (d / "pki").string(), "--name", "agent-uwv", "--cert-warn-days", "1000"});
  EXPECT_EQ(send.exit_code, 0) << send.err;
  EXPECT_TRUE(Contains(send.err, "koppel-agent: warning: certificate " +
                                     (d / "pki/agent-uwv.crt").string() + " expires on "))
      << send.err;

  const std::vector<std::string> common = {"--pki",      (d / "pki").string(),
                                           "--covenant", (d / "covenant.yaml").string(),
                                           "--listen",   "127.0.0.1:0"};
  std::vector<std::string> vault = {kBin + "/koppel-vault",
                                    "serve",
                                    "--name",
                                    "vault-expired",
                                    "--dir",
                                    (d / "vault-expired").string(),
                                    "--master-key",
                                    (d / "master.key").string()};
  vault.insert(vault.end(), common.begin(), common.end());
  ProcessResult refused = RunProcess(vault);
  EXPECT_EQ(refused.exit_code, 5) << refused.err;
  EXPECT_TRUE(Contains(refused.err, (d / "pki/vault-expired.crt").string() + " expired on "))
      << refused.err;

  std::vector<std::string> linker = {kBin + "/koppel-linker",
                                     "serve",
                                     "--name",
                                     "linker-expired",
                                     "--data",
                                     (d / "db-expired").string(),
                                     "--keys",
                                     (d / "lkeys").string()};
  linker.insert(linker.end(), common.begin(), common.end());
  refused = RunProcess(linker);
  EXPECT_EQ(refused.exit_code, 8) << refused.err;
  EXPECT_TRUE(Contains(refused.err, (d / "pki/linker-expired.crt").string() + " expired on "))
      << refused.err;
}

}  // namespace
}  // namespace koppel
