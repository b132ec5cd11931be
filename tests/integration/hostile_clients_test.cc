// The services under hostile clients and as processes: the real koppel-linker and koppel-vault
// on loopback with TLS. A party outside every covenant cannot make the linker read (and hold)
// large messages; a burst of idle connections that exhausts the linker's descriptors does not
// switch its listener off for good; the services keep secrets out of core dumps, other users'
// reach and /proc; the vault takes its passphrase from a credential file (systemd).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/tls.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using test::BackgroundProcess;
using test::Contains;
using test::ReadFile;
using test::RunProcess;

const std::string kBin = KOPPEL_BIN_DIR;

using Service = test::RunningService;

// A field of /proc/PID/status in kB ("VmRSS", "VmHWM"), or -1.
int64_t StatusKiB(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(field + ":")) continue;
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t kib = -1;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) return kib;
  }
  return -1;
}

class HostileClientsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const fs::path d = dir_->path();
    ASSERT_EQ(RunProcess({KOPPEL_SOURCE_DIR "/scripts/pki", "--out", (d / "pki").string(), "linker",
                          "vault", "agent-uwv", "research-unit", "agent-outsider"})
                  .exit_code,
              0);
    ASSERT_EQ(
        RunProcess({kBin + "/koppel-linker", "keygen", "--out", (d / "lkeys").string()}).exit_code,
        0);
    const test::TestOfficer officer = test::TestOfficer::Create("po-hostile");
    test::TestCovenant covenant;
    covenant.id = "hostile";
    covenant.officers = {&officer};
    covenant.parties = test::TestParty::Services();
    covenant.parties.push_back(
        test::TestParty::DataHolder("agent-uwv", "", {{"uwv", {"bsn"}, {}}}));
    ASSERT_TRUE(test::WriteSignedCovenant(d / "covenant.yaml", covenant.Yaml(), {&officer}).ok());
  }

  static void TearDownTestSuite() { delete dir_; }

  // Starts a linker with its own data directory; `prefix` runs before it (prlimit ...).
  static Service StartLinker(const std::string& name, std::vector<std::string> prefix = {}) {
    const fs::path d = dir_->path();
    std::vector<std::string> argv = std::move(prefix);
    argv.insert(argv.end(), {kBin + "/koppel-linker", "serve", "--pki", (d / "pki").string(),
                             "--data", (d / name).string(), "--keys", (d / "lkeys").string(),
                             "--covenant", (d / "covenant.yaml").string()});
    return Start(argv, name);
  }

  static Service Start(const std::vector<std::string>& argv, const std::string& name) {
    const fs::path d = dir_->path();
    Service service = test::StartService(argv, d / (name + ".port"), Log(name));
    EXPECT_FALSE(service.address.empty()) << ReadFile(Log(name));
    return service;
  }

  static fs::path Log(const std::string& name) { return dir_->path() / (name + ".log"); }

  static std::unique_ptr<v1::LinkerService::Stub> Stub(const Service& linker,
                                                       const std::string& party) {
    auto credentials = MakeChannelCredentials(TlsFiles::FromPkiDir(dir_->path() / "pki", party));
    EXPECT_TRUE(credentials.ok());
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);
    return v1::LinkerService::NewStub(
        grpc::CreateCustomChannel(linker.address, *credentials, args));
  }

  static grpc::Status GetStatus(const Service& linker, const std::string& party) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    v1::GetStatusResponse response;
    return Stub(linker, party)->GetStatus(&context, v1::GetStatusRequest(), &response);
  }

  // Delivers one batch of `bytes` bytes of junk; returns how the linker answered.
  static grpc::Status DeliverJunk(const Service& linker, const std::string& party, size_t bytes) {
    std::unique_ptr<v1::LinkerService::Stub> stub = Stub(linker, party);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto stream = stub->Deliver(&context);
    v1::DeliverRequest request;
    request.mutable_batch()->set_format_version(1);
    request.mutable_batch()->set_dataset("uwv");
    request.mutable_batch()->set_sealed_payload(std::string(bytes, 'x'));
    stream->Write(request);
    stream->WritesDone();
    v1::DeliverResponse response;
    while (stream->Read(&response)) {
    }
    return stream->Finish();
  }

  static test::TempDir* dir_;
};

test::TempDir* HostileClientsTest::dir_ = nullptr;

TEST_F(HostileClientsTest, APartyOutsideEveryCovenantCannotMakeTheLinkerReadLargeMessages) {
  Service linker = StartLinker("memory");
  ASSERT_FALSE(linker.address.empty());
  ASSERT_TRUE(GetStatus(linker, "agent-uwv").ok());
  const int64_t before = StatusKiB(linker.process->pid(), "VmRSS");
  ASSERT_GT(before, 0);
  // Four 60 MiB messages at once from a certificate of the deployment's CA in no covenant.
  std::vector<grpc::Status> answers(4);
  std::vector<std::thread> senders;
  for (size_t i = 0; i < answers.size(); ++i) {
    senders.emplace_back([&, i] { answers[i] = DeliverJunk(linker, "agent-outsider", 60 << 20); });
  }
  for (std::thread& t : senders) t.join();
  for (const grpc::Status& answer : answers) {
    EXPECT_EQ(answer.error_code(), grpc::StatusCode::PERMISSION_DENIED) << answer.error_message();
    EXPECT_TRUE(Contains(answer.error_message(), "is not a party of any covenant"))
        << answer.error_message();
    EXPECT_TRUE(Contains(answer.error_message(), "(rule: parties)")) << answer.error_message();
  }
  // A party that holds no data under any covenant may not deliver either.
  grpc::Status research = DeliverJunk(linker, "research-unit", 1 << 20);
  EXPECT_EQ(research.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Contains(research.error_message(), "rule: parties[research-unit].roles"))
      << research.error_message();
  const int64_t peak = StatusKiB(linker.process->pid(), "VmHWM");
  EXPECT_LT(peak - before, 64 * 1024) << "the linker grew from " << before << " kB to a peak of "
                                      << peak << " kB reading refused messages";
  // The refusals are audited once per caller and minute (with the count of calls since the
  // caller's last entry), without the messages.
  const std::string audit = ReadFile(dir_->path() / "memory/audit.log");
  size_t refused = 0;
  for (size_t at = audit.find("\"refused\""); at != std::string::npos;
       at = audit.find("\"refused\"", at + 1)) {
    ++refused;
  }
  EXPECT_EQ(refused, 2u) << audit;
  // Refused before the call is read, so without error details; the audit names the rule.
  EXPECT_TRUE(Contains(audit, "\"rule\":\"parties\"")) << audit;
  EXPECT_TRUE(Contains(audit, "\"rule\":\"parties.roles\"")) << audit;
  EXPECT_LT(audit.size(), 64u * 1024);
  // Data holders still get through.
  EXPECT_TRUE(GetStatus(linker, "agent-uwv").ok());
}

TEST_F(HostileClientsTest, ABurstOfIdleConnectionsDoesNotSwitchTheListenerOffForGood) {
  // Few descriptors, so that a bounded burst exhausts them.
  Service linker = StartLinker("burst", {"/usr/bin/prlimit", "--nofile=160:160", "--"});
  ASSERT_FALSE(linker.address.empty());
  ASSERT_TRUE(GetStatus(linker, "agent-uwv").ok());
  const int port = std::stoi(linker.address.substr(linker.address.rfind(':') + 1));
  std::vector<int> sockets;
  for (int i = 0; i < 400; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd);
      break;
    }
    sockets.push_back(fd);
  }
  EXPECT_GT(sockets.size(), 200u);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  for (int fd : sockets) ::close(fd);
  // Once the attacker has gone, calls get through again within seconds, from the same process.
  bool answered = false;
  for (int i = 0; i < 40 && !answered; ++i) {
    answered = GetStatus(linker, "agent-uwv").ok();
    if (!answered) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  EXPECT_TRUE(answered) << ReadFile(Log("burst"));
  EXPECT_EQ(::kill(linker.process->pid(), 0), 0) << "the linker exited";
  // The burst did switch gRPC's listener off, and the linker replaced it.
  EXPECT_TRUE(Contains(ReadFile(Log("burst")), "stopped accepting connections"))
      << ReadFile(Log("burst"));
  linker.process->Signal(SIGTERM);
  EXPECT_EQ(linker.process->Wait(), 0) << ReadFile(Log("burst"));
}

TEST_F(HostileClientsTest, ServicesKeepSecretsOutOfCoreDumpsOtherUsersAndTheirEnvironment) {
  Service linker = StartLinker("process");
  ASSERT_FALSE(linker.address.empty());
  ASSERT_TRUE(GetStatus(linker, "agent-uwv").ok());
  const fs::path d = dir_->path();
  const std::string limits = ReadFile("/proc/" + std::to_string(linker.process->pid()) + "/limits");
  EXPECT_TRUE(Contains(limits, "Max core file size        0                    0")) << limits;
  struct stat info {};
  ASSERT_EQ(::stat((d / "process").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  for (const auto& file : fs::recursive_directory_iterator(d / "process")) {
    ASSERT_EQ(::stat(file.path().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 077, 0u) << file.path() << " is readable by others";
  }

  // The vault's passphrase does not stay in its environment.
  const std::string passphrase = "correct horse battery staple 42";
  Service vault = Start({"/usr/bin/env", "KOPPEL_VAULT_PASSPHRASE=" + passphrase,
                         kBin + "/koppel-vault", "serve", "--pki", (d / "pki").string(), "--dir",
                         (d / "vault").string(), "--covenant", (d / "covenant.yaml").string()},
                        "vault");
  ASSERT_FALSE(vault.address.empty());
  const std::string proc = "/proc/" + std::to_string(vault.process->pid());
  std::ifstream environ(proc + "/environ", std::ios::binary);
  const std::string environment((std::istreambuf_iterator<char>(environ)),
                                std::istreambuf_iterator<char>());
  EXPECT_FALSE(Contains(environment, passphrase));
  EXPECT_TRUE(
      Contains(ReadFile(proc + "/limits"), "Max core file size        0                    0"));
  ASSERT_EQ(::stat((d / "vault").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  EXPECT_FALSE(Contains(ReadFile(Log("vault")), passphrase));
}

// Under systemd the passphrase comes as a credential (LoadCredential=): a file only the vault's
// user can read, in $CREDENTIALS_DIRECTORY. It gives the same master key as the environment
// variable with the same passphrase; a file others can read is refused before it is read.
TEST_F(HostileClientsTest, TheVaultTakesItsPassphraseFromACredentialFile) {
  const fs::path d = dir_->path();
  const std::string passphrase = "a credential, not an environment variable";
  const fs::path credential = d / "credentials" / "passphrase";
  fs::create_directories(credential.parent_path());
  std::ofstream(credential) << passphrase << "\n";
  fs::permissions(credential, fs::perms::owner_read);
  const std::vector<std::string> serve = {kBin + "/koppel-vault",
                                          "serve",
                                          "--pki",
                                          (d / "pki").string(),
                                          "--dir",
                                          (d / "vault-credential").string(),
                                          "--covenant",
                                          (d / "covenant.yaml").string()};
  std::vector<std::string> from_file = serve;
  from_file.insert(from_file.end(), {"--passphrase-file", credential.string()});
  {
    Service vault = Start(from_file, "vault-credential");
    ASSERT_FALSE(vault.address.empty());
    vault.process->Signal(SIGTERM);
    EXPECT_EQ(vault.process->Wait(), 0) << ReadFile(Log("vault-credential"));
  }
  std::vector<std::string> from_environment = {"/usr/bin/env",
                                               "KOPPEL_VAULT_PASSPHRASE=" + passphrase};
  from_environment.insert(from_environment.end(), serve.begin(), serve.end());
  {
    Service vault = Start(from_environment, "vault-credential");
    ASSERT_FALSE(vault.address.empty()) << "the file's passphrase gave another master key";
    vault.process->Signal(SIGTERM);
    EXPECT_EQ(vault.process->Wait(), 0) << ReadFile(Log("vault-credential"));
  }
  EXPECT_FALSE(Contains(ReadFile(Log("vault-credential")), passphrase));

  const fs::path other = d / "credentials" / "other";
  std::ofstream(other) << "another passphrase of enough length\n";
  fs::permissions(other, fs::perms::owner_read);
  // `timeout`: a vault that wrongly starts fails the test instead of hanging it.
  std::vector<std::string> wrong = {"/usr/bin/timeout", "60"};
  wrong.insert(wrong.end(), serve.begin(), serve.end());
  wrong.insert(wrong.end(), {"--passphrase-file", other.string(), "--listen", "127.0.0.1:0"});
  test::ProcessResult refused = RunProcess(wrong);
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  // Another passphrase is another master key: the audit signing key derived from it differs.
  EXPECT_TRUE(Contains(refused.err, "not by the expected signer") ||
              Contains(refused.err, "does not open with this master key"))
      << refused.err;

  fs::permissions(other, fs::perms::group_read, fs::perm_options::add);
  refused = RunProcess(wrong);
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_TRUE(Contains(refused.err, "is readable by group or others; run: chmod 600"))
      << refused.err;
  EXPECT_FALSE(Contains(refused.err + refused.out, "another passphrase")) << refused.err;

  std::vector<std::string> both = from_file;
  both.insert(both.end(), {"--master-key", credential.string()});
  EXPECT_EQ(RunProcess(both).exit_code, 2);
}

}  // namespace
}  // namespace koppel
