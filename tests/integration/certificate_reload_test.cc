// Certificates renewed while the services run: the real koppel-vault and koppel-linker on
// loopback read their certificate files again on SIGHUP. A renewed pair is served to every new
// connection without a restart; a pair that fails the start's checks (a key that is not the
// certificate's, an expired certificate, a key readable by others) is refused with the reason in
// the log, and the service goes on serving the certificate it had.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "core/tls.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/http_get.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using test::Contains;
using test::ProcessResult;
using test::ReadFile;
using test::RunProcess;
using Service = test::RunningService;

const std::string kBin = KOPPEL_BIN_DIR;
const std::string kPki = KOPPEL_SOURCE_DIR "/scripts/pki";
constexpr char kRenewed[] = "now serves certificate";
constexpr char kRefused[] = "refused the certificate files on SIGHUP";

class CertificateReloadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const fs::path d = dir_->path();
    // "outsider": a certificate of the CA for a name that is no party of any covenant.
    ASSERT_EQ(RunProcess(
                  {kPki, "--out", (d / "pki").string(), "linker", "vault", "agent-uwv", "outsider"})
                  .exit_code,
              0);
    ASSERT_EQ(RunProcess({kPki, "--out", (d / "pki").string(), "--expired", "expired"}).exit_code,
              0);
    ASSERT_EQ(RunProcess({kPki, "--out", (d / "other-ca").string(), "stranger"}).exit_code, 0);
    ASSERT_EQ(
        RunProcess({kBin + "/koppel-linker", "keygen", "--out", (d / "lkeys").string()}).exit_code,
        0);
    ASSERT_EQ(RunProcess({kBin + "/koppel-vault", "keygen", "--out", (d / "master.key").string()})
                  .exit_code,
              0);
    const test::TestOfficer officer = test::TestOfficer::Create("po-reload");
    test::TestCovenant covenant;
    covenant.id = "reload";
    covenant.officers = {&officer};
    covenant.parties = test::TestParty::Services();
    covenant.parties.push_back(
        test::TestParty::DataHolder("agent-uwv", "", {{"uwv", {"bsn"}, {}}}));
    ASSERT_TRUE(test::WriteSignedCovenant(d / "covenant.yaml", covenant.Yaml(), {&officer}).ok());
    absl::StatusOr<int> metrics_port = test::FreeLoopbackPort();
    ASSERT_TRUE(metrics_port.ok()) << metrics_port.status();
    linker_metrics_port_ = *metrics_port;
    vault_ = new Service(
        Start("vault", {kBin + "/koppel-vault", "serve", "--dir", (d / "vault").string(),
                        "--master-key", (d / "master.key").string()}));
    ASSERT_FALSE(vault_->address.empty());
    linker_ = new Service(
        Start("linker", {kBin + "/koppel-linker", "serve", "--data", (d / "db").string(), "--keys",
                         (d / "lkeys").string(), "--vault", vault_->address, "--metrics-listen",
                         "127.0.0.1:" + std::to_string(linker_metrics_port_)}));
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

  static fs::path Pki(const std::string& file) { return dir_->path() / "pki" / file; }

  // The serial number of the first certificate in `pem_text` ("serial=0A1B...").
  static std::string Serial(const std::string& pem_text) {
    ProcessResult x509 = RunProcess({"/usr/bin/openssl", "x509", "-noout", "-serial"}, pem_text);
    EXPECT_EQ(x509.exit_code, 0) << x509.err;
    return x509.out;
  }

  // The serial of the certificate `service` presents to a new connection.
  static std::string ServedSerial(const Service& service) {
    ProcessResult handshake =
        RunProcess({"/usr/bin/openssl", "s_client", "-connect", service.address, "-CAfile",
                    Pki("ca.crt").string(), "-cert", Pki("agent-uwv.crt").string(), "-key",
                    Pki("agent-uwv.key").string()},
                   "\n");
    EXPECT_TRUE(Contains(handshake.out, "-----BEGIN CERTIFICATE-----")) << handshake.err;
    return Serial(handshake.out);
  }

  static std::shared_ptr<grpc::Channel> Channel(const Service& service, const std::string& name,
                                                const fs::path& pki = dir_->path() / "pki") {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        MakeChannelCredentials(TlsFiles::FromPkiDir(pki, name));
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return grpc::CreateChannel(service.address, credentials.value_or(nullptr));
  }

  // A health check on a new connection; `wait_for_ready`: as a client that retries a refused
  // connection (the instant the old listener closes at a reload).
  static grpc::Status HealthCheck(const Service& service, bool wait_for_ready = false) {
    auto stub = grpc::health::v1::Health::NewStub(Channel(service, "agent-uwv"));
    grpc::ClientContext context;
    context.set_wait_for_ready(wait_for_ready);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    return stub->Check(&context, request, &response);
  }

  static size_t Occurrences(const std::string& text, const std::string& needle) {
    size_t count = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
      ++count;
    }
    return count;
  }

  // Sends SIGHUP and waits for the service's log to say how the reload ended (one more line
  // saying `outcome`); false when the service ended instead, or said nothing within a minute.
  static bool Reload(Service& service, const std::string& name, const std::string& outcome) {
    const fs::path log = dir_->path() / (name + ".log");
    const size_t before = Occurrences(ReadFile(log), outcome);
    service.process->Signal(SIGHUP);
    for (int wait = 0; wait < 3000; ++wait) {
      if (Occurrences(ReadFile(log), outcome) > before) return true;
      if (service.process->HasExited()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  static constexpr fs::perms kOwnerOnly = fs::perms::owner_read | fs::perms::owner_write;

  static void Install(const std::string& name, const fs::path& cert, const fs::path& key,
                      fs::perms key_mode = kOwnerOnly) {
    fs::copy_file(cert, Pki(name + ".crt"), fs::copy_options::overwrite_existing);
    fs::copy_file(key, Pki(name + ".key"), fs::copy_options::overwrite_existing);
    fs::permissions(Pki(name + ".key"), key_mode);
  }

  // The whole course for one service: renewed, then four refused pairs, then renewed again.
  static void RenewAndRefuse(Service& service, const std::string& name) {
    const fs::path d = dir_->path();
    const std::string first = Serial(ReadFile(Pki(name + ".crt")));
    EXPECT_EQ(ServedSerial(service), first);

    // The operator issues a new pair for the same name and sends SIGHUP.
    ASSERT_EQ(RunProcess({kPki, "--out", (d / "pki").string(), name}).exit_code, 0);
    const std::string renewed = Serial(ReadFile(Pki(name + ".crt")));
    ASSERT_NE(renewed, first);
    ASSERT_TRUE(Reload(service, name, kRenewed)) << ReadFile(d / (name + ".log"));
    EXPECT_EQ(ServedSerial(service), renewed);
    EXPECT_TRUE(HealthCheck(service).ok());
    fs::copy_file(Pki(name + ".crt"), d / (name + "-good.crt"));
    fs::copy_file(Pki(name + ".key"), d / (name + "-good.key"));

    // Refused: a key that is not the certificate's, an expired certificate, a certificate of
    // another CA, a key readable by others. The service keeps serving the renewed certificate.
    const struct {
      fs::path cert, key;
      fs::perms key_mode;
      std::string why;
    } refused[] = {
        {d / (name + "-good.crt"), Pki("agent-uwv.key"), kOwnerOnly,
         "private key " + Pki(name + ".key").string() + " does not belong to certificate " +
             Pki(name + ".crt").string()},
        {Pki("expired.crt"), Pki("expired.key"), kOwnerOnly,
         "certificate " + Pki(name + ".crt").string() + " expired on "},
        {d / "other-ca/stranger.crt", d / "other-ca/stranger.key", kOwnerOnly,
         "certificate " + Pki(name + ".crt").string() + " does not verify against the CA in " +
             Pki("ca.crt").string()},
        {d / (name + "-good.crt"), d / (name + "-good.key"),
         kOwnerOnly | fs::perms::group_read | fs::perms::others_read,
         "private key " + Pki(name + ".key").string() + " is readable by group or others"},
    };
    for (const auto& pair : refused) {
      Install(name, pair.cert, pair.key, pair.key_mode);
      ASSERT_TRUE(Reload(service, name, kRefused)) << ReadFile(d / (name + ".log"));
      const std::string log = ReadFile(d / (name + ".log"));
      EXPECT_TRUE(Contains(log, pair.why)) << log;
      EXPECT_EQ(ServedSerial(service), renewed) << pair.why;
      EXPECT_TRUE(HealthCheck(service).ok()) << pair.why;
    }
    EXPECT_FALSE(service.process->HasExited());
    EXPECT_FALSE(Contains(ReadFile(d / (name + ".log")), "PRIVATE KEY"));

    Install(name, d / (name + "-good.crt"), d / (name + "-good.key"));
    ASSERT_TRUE(Reload(service, name, kRenewed)) << ReadFile(d / (name + ".log"));
    EXPECT_EQ(ServedSerial(service), renewed);
  }

  static test::TempDir* dir_;
  static Service* vault_;
  static Service* linker_;
  static int linker_metrics_port_;
};

test::TempDir* CertificateReloadTest::dir_ = nullptr;
Service* CertificateReloadTest::vault_ = nullptr;
Service* CertificateReloadTest::linker_ = nullptr;
int CertificateReloadTest::linker_metrics_port_ = 0;

TEST_F(CertificateReloadTest, VaultServesARenewedCertificateAfterSighupAndKeepsItOverBadOnes) {
  RenewAndRefuse(*vault_, "vault");
}

TEST_F(CertificateReloadTest, LinkerServesARenewedCertificateAfterSighupAndKeepsItOverBadOnes) {
  RenewAndRefuse(*linker_, "linker");
  // An expired pair on disk, refused: the metrics show the served certificate, not the file.
  Install("linker", Pki("expired.crt"), Pki("expired.key"));
  ASSERT_TRUE(Reload(*linker_, "linker", kRefused));
  absl::StatusOr<test::HttpResponse> metrics = test::HttpGet(linker_metrics_port_, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string reloads = "koppel_certificate_reloads_total{service=\"linker\",outcome=";
  EXPECT_TRUE(Contains(metrics->body, reloads + "\"renewed\"} 2")) << metrics->body;
  EXPECT_TRUE(Contains(metrics->body, reloads + "\"refused\"} 5")) << metrics->body;
  ProcessResult end = RunProcess({"/usr/bin/openssl", "x509", "-noout", "-enddate", "-in",
                                  (dir_->path() / "linker-good.crt").string()});
  ASSERT_TRUE(end.out.starts_with("notAfter=")) << end.out << end.err;
  ProcessResult seconds = RunProcess({"/usr/bin/date", "-u", "-d", end.out.substr(9), "+%s"});
  ASSERT_EQ(seconds.exit_code, 0) << seconds.err;
  EXPECT_TRUE(Contains(metrics->body,
                       "koppel_certificate_not_after_seconds{service=\"linker\"} " + seconds.out))
      << metrics->body;
}

// The renewed listener keeps the admission check (a caller of the CA that is no party is refused
// before its call is read), and health calls on new connections across a reload all succeed.
TEST_F(CertificateReloadTest, TheRenewedLinkerStillAdmitsOnlyPartiesAndServesThroughoutAReload) {
  const fs::path d = dir_->path();
  ASSERT_EQ(RunProcess({kPki, "--out", (d / "pki").string(), "linker"}).exit_code, 0);
  std::atomic<bool> reloaded = false;
  std::atomic<int> failed = 0;
  std::thread caller([&] {
    // Bounded: until some calls after the reload ended, at most 2000.
    int after = 0;
    for (int i = 0; i < 2000 && after < 5; ++i) {
      if (reloaded.load()) ++after;
      if (!HealthCheck(*linker_, /*wait_for_ready=*/true).ok()) failed.fetch_add(1);
    }
  });
  const bool renewed = Reload(*linker_, "linker", kRenewed);
  reloaded.store(true);
  caller.join();
  ASSERT_TRUE(renewed) << ReadFile(d / "linker.log");
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(ServedSerial(*linker_), Serial(ReadFile(Pki("linker.crt"))));

  auto stub = v1::LinkerService::NewStub(Channel(*linker_, "outsider"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetStatusResponse status;
  EXPECT_EQ(stub->GetStatus(&context, v1::GetStatusRequest(), &status).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto party = v1::LinkerService::NewStub(Channel(*linker_, "agent-uwv"));
  grpc::ClientContext party_context;
  party_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  EXPECT_NE(party->GetStatus(&party_context, v1::GetStatusRequest(), &status).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// Last: the linker moves to a new CA. A client whose certificate the removed CA issued is
// refused from then on; one of the new CA is served.
TEST_F(CertificateReloadTest, AfterTheCaIsReplacedTheRemovedCasClientsAreRefused) {
  const fs::path d = dir_->path();
  const fs::path next = d / "next-ca";
  ASSERT_EQ(RunProcess({kPki, "--out", next.string(), "linker", "agent-uwv"}).exit_code, 0);
  ASSERT_TRUE(HealthCheck(*linker_).ok()) << "the old CA's client, before the reload";
  // Each file under a temporary name, then moved into place (docs/operations.md).
  for (const std::string file : {"ca.crt", "linker.crt", "linker.key"}) {
    fs::copy_file(next / file, Pki(file + ".new"), fs::copy_options::overwrite_existing);
    fs::permissions(Pki(file + ".new"), kOwnerOnly);
    fs::rename(Pki(file + ".new"), Pki(file));
  }
  ASSERT_TRUE(Reload(*linker_, "linker", kRenewed)) << ReadFile(d / "linker.log");
  auto health = [&](const fs::path& pki) {
    auto stub = grpc::health::v1::Health::NewStub(Channel(*linker_, "agent-uwv", pki));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::health::v1::HealthCheckResponse response;
    return stub->Check(&context, grpc::health::v1::HealthCheckRequest(), &response);
  };
  // The old client trusts the old CA only: give it the new CA to trust, keep its old
  // certificate, so that only the linker's refusal of its certificate can fail the call.
  const fs::path old_client = d / "old-client";
  fs::create_directories(old_client);
  fs::copy_file(next / "ca.crt", old_client / "ca.crt");
  fs::copy_file(next / "agent-uwv.crt", old_client / "agent-uwv.crt");
  fs::copy_file(d / "pki" / "agent-uwv.key", old_client / "agent-uwv.key");
  fs::copy_file(d / "pki" / "agent-uwv.crt", old_client / "agent-uwv.crt",
                fs::copy_options::overwrite_existing);
  fs::permissions(old_client / "agent-uwv.key", kOwnerOnly);
  EXPECT_FALSE(health(old_client).ok()) << "a client of the removed CA";
  EXPECT_TRUE(health(next).ok()) << "a client of the new CA";
  EXPECT_FALSE(linker_->process->HasExited());
}

}  // namespace
}  // namespace koppel
