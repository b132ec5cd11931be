// Hostile clients and crashes against the real vault and linker over mutual TLS (issue #12,
// items 6 to 9): oversized ids and names are refused naming the field and the rule and cost the
// logs a few hundred bytes, crafted values (in a request or in a certificate's common name)
// cannot forge a line or an escape sequence in a service log, a crafted audit log stops the
// linker with a message naming the file and line instead of a crash, and a covenant end cut
// short by a kill or a crash is finished at the next start under the end entry it recorded
// (officer, reason and what was about to be deleted) before deleting.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/time/clock.h"
#include "core/audit_log.h"
#include "core/refusal.h"
#include "core/tls.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "koppel/v1/vault.grpc.pb.h"
#include "linker/linker_store.h"
#include "policies/covenant_ledger.h"
#include "policies/covenant_signature.h"
#include "policies/end_statement.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/data_keys.h"
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
using Json = nlohmann::json;

const std::string kBin = KOPPEL_BIN_DIR;
const std::vector<std::string> kDatasets = {"wijkteam", "jeugdzorg"};
const std::vector<std::string> kCovenants = {"hostile", "second"};
// What an attacker wants the service log to show as a line of its own, in red.
const std::string kForged =
    "x\n[2026-01-01 00:00:00.000] [info] stored batch FAKE of brp from agent-brp under "
    "hostile: 999 records\x1b[31m";
// The same in a certificate's common name (at most 64 bytes).
const std::string kForgedName = "agent-brp\nstored batch FAKE: 999 records\x1b[31m";

using Service = test::RunningService;

class UntrustedInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const fs::path d = dir_->path();
    ASSERT_EQ(RunProcess({kBin + "/koppel-synth", "--out", (d / "m").string(), "--seed", "31",
                          "--persons", "3000"})
                  .exit_code,
              0);
    std::vector<std::string> pki = {KOPPEL_SOURCE_DIR "/scripts/pki",
                                    "--out",
                                    (d / "pki").string(),
                                    "vault",
                                    "linker",
                                    "research-unit"};
    for (const std::string& ds : kDatasets) pki.push_back("agent-" + ds);
    ASSERT_EQ(RunProcess(pki).exit_code, 0);
    // A certificate from the deployment's CA whose common name carries a newline and an ANSI
    // escape.
    ASSERT_EQ(RunProcess({"/usr/bin/env", "openssl", "req", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-nodes", "-sha256", "-subj",
                          "/O=koppel/CN=" + kForgedName, "-keyout", (d / "pki/evil.key").string(),
                          "-out", (d / "evil.csr").string()})
                  .exit_code,
              0);
    WriteFile(d / "ext.cnf", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
    ASSERT_EQ(RunProcess({"/usr/bin/env", "openssl", "x509", "-req", "-in",
                          (d / "evil.csr").string(), "-CA", (d / "pki/ca.crt").string(), "-CAkey",
                          (d / "pki/ca.key").string(), "-CAcreateserial", "-days", "2", "-extfile",
                          (d / "ext.cnf").string(), "-out", (d / "pki/evil.crt").string()})
                  .exit_code,
              0);
    ASSERT_EQ(
        RunProcess({kBin + "/koppel-linker", "keygen", "--out", (d / "lkeys").string()}).exit_code,
        0);
    fs::create_directories(d / "vault");
    fs::permissions(d / "vault", fs::perms::owner_all);
    ASSERT_EQ(RunProcess({kBin + "/koppel-vault", "keygen", "--out", (d / "master.key").string()})
                  .exit_code,
              0);
    fs::create_directories(d / "akeys");
    fs::permissions(d / "akeys", fs::perms::owner_all);
    officer_ = new test::TestOfficer(test::TestOfficer::Create("po-hostile"));
    std::map<std::string, std::string> agent_keys;
    for (const std::string& ds : kDatasets) {
      ASSERT_EQ(RunProcess({kBin + "/koppel-agent", "keygen", "--type", "signing", "--out",
                            (d / "akeys" / ds).string()})
                    .exit_code,
                0);
      std::string pk = ReadFile(d / "akeys" / (ds + ".pub"));
      while (!pk.empty() && (pk.back() == '\n' || pk.back() == ' ')) pk.pop_back();
      agent_keys[ds] = pk;
    }
    for (const std::string& id : kCovenants) {
      test::TestCovenant c;
      c.id = id;
      c.officers = {officer_};
      c.parties = test::TestParty::Services();
      for (const std::string& ds : kDatasets) {
        absl::StatusOr<test::TestDataset> grant =
            test::DatasetFromMapping(d / "m/mappings" / (ds + ".yaml"));
        ASSERT_TRUE(grant.ok()) << grant.status();
        c.parties.push_back(test::TestParty::DataHolder("agent-" + ds, agent_keys[ds], {*grant}));
      }
      ASSERT_TRUE(test::WriteSignedCovenant(d / (id + ".yaml"), c.Yaml(), {officer_}).ok());
    }
    vault_ = Start("vault", {kBin + "/koppel-vault", "serve", "--dir", (d / "vault").string(),
                             "--master-key", (d / "master.key").string()});
    StartLinker();
    for (const std::string& id : kCovenants) {
      for (const std::string& ds : kDatasets) {
        ProcessResult r = SealAndSend(ds, id);
        ASSERT_EQ(r.exit_code, 0) << ds << " under " << id << ": " << r.err;
      }
    }
  }

  static void TearDownTestSuite() {
    for (Service* s : {&linker_, &vault_}) {
      if (s->process == nullptr) continue;
      s->process->Signal(SIGTERM);
      s->process->Wait();
      s->process.reset();
    }
    delete officer_;
    delete dir_;
  }

  static Service Start(const std::string& name, std::vector<std::string> argv) {
    const fs::path d = dir_->path();
    argv.insert(argv.end(), {"--pki", (d / "pki").string()});
    for (const std::string& id : kCovenants) {
      argv.insert(argv.end(), {"--covenant", (d / (id + ".yaml")).string()});
    }
    // Appends: the service log of every start stays in one file.
    Service s = test::StartService(argv, d / (name + ".port"), d / (name + ".log"));
    EXPECT_FALSE(s.address.empty()) << ReadFile(d / (name + ".log"));
    return s;
  }

  static std::vector<std::string> LinkerArgs() {
    const fs::path d = dir_->path();
    return {kBin + "/koppel-linker", "serve",   "--data",      (d / "db").string(), "--keys",
            (d / "lkeys").string(),  "--vault", vault_.address};
  }

  static void StartLinker() { linker_ = Start("linker", LinkerArgs()); }

  static void StopLinker(int signal = SIGTERM) {
    linker_.process->Signal(signal);
    linker_.process->Wait();
    linker_.process.reset();
  }

  static ProcessResult SealAndSend(const std::string& ds, const std::string& covenant) {
    const fs::path d = dir_->path();
    const fs::path outbox = d / "outbox" / covenant / ds;
    const std::string name = "agent-" + ds;
    ProcessResult seal = RunProcess({kBin + "/koppel-agent",
                                     "seal",
                                     "--quiet",
                                     "--allow-rejects",
                                     "--mapping",
                                     (d / "m/mappings" / (ds + ".yaml")).string(),
                                     "--input",
                                     (d / "m/exports" / (ds + ".csv")).string(),
                                     "--vault",
                                     vault_.address,
                                     "--pki",
                                     (d / "pki").string(),
                                     "--name",
                                     name,
                                     "--covenant-id",
                                     covenant,
                                     "--linker-public-key",
                                     (d / "lkeys/linker.key.pub").string(),
                                     "--signing-key",
                                     (d / "akeys" / ds).string(),
                                     "--outbox",
                                     outbox.string(),
                                     "--rejects",
                                     (d / ("rejects-" + ds + ".csv")).string(),
                                     "--new-run"});
    if (seal.exit_code != 0) return seal;
    return RunProcess({kBin + "/koppel-agent", "send", "--quiet", "--max-attempts", "2", "--outbox",
                       outbox.string(), "--linker", linker_.address, "--pki", (d / "pki").string(),
                       "--name", name, "--linker-signing-key",
                       (d / "lkeys/linker-signing.key.pub").string()});
  }

  static std::shared_ptr<grpc::Channel> Channel(const std::string& address,
                                                const std::string& party) {
    auto credentials = MakeChannelCredentials(TlsFiles::FromPkiDir(dir_->path() / "pki", party));
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);
    return grpc::CreateCustomChannel(address, *credentials, args);
  }

  static grpc::Status Deliver(const std::string& party, const v1::SealedBatch& batch) {
    auto stub = v1::LinkerService::NewStub(Channel(linker_.address, party));
    grpc::ClientContext context;
    auto stream = stub->Deliver(&context);
    v1::DeliverRequest request;
    *request.mutable_batch() = batch;
    stream->Write(request);
    stream->WritesDone();
    v1::DeliverResponse response;
    while (stream->Read(&response)) {
    }
    return stream->Finish();
  }

  static std::vector<Json> AuditEntries(const fs::path& log) {
    std::vector<Json> entries;
    std::istringstream in(ReadFile(log));
    std::string line;
    while (std::getline(in, line)) entries.push_back(Json::parse(line));
    return entries;
  }

  // Every line of a service log is one spdlog line: it starts with "[", and no byte of it is
  // a control character (an ESC would start a terminal escape sequence).
  static void ExpectNoForgedLine(const fs::path& log) {
    const std::string text = ReadFile(log);
    EXPECT_FALSE(Contains(text, "\x1b")) << log << " holds an ESC byte";
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      EXPECT_EQ(line.front(), '[') << log << ": a line of its own: " << line.substr(0, 120);
      EXPECT_FALSE(line.starts_with("[2026-01-01 00:00:00.000]")) << "forged: " << line;
    }
  }

  // What the linker's store holds of a covenant: read with its data key while the vault holds
  // it, else by the counts kept beside a store left behind (none once it is removed).
  static uint64_t Records(const std::string& covenant) {
    auto store = linker::LinkerStore::OpenReadOnly(dir_->path() / "db");
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return 0;
    absl::StatusOr<Secret> key =
        test::VaultDataKey(dir_->path() / "vault", dir_->path() / "master.key", covenant);
    if (!key.ok() || !fs::exists(dir_->path() / "db/covenants" / covenant)) {
      absl::StatusOr<linker::HeldCounts> held = (*store)->Held(covenant);
      EXPECT_TRUE(held.ok()) << held.status();
      return held.ok() ? held->records : 0;
    }
    absl::Status opened = (*store)->OpenCovenant(covenant, *key);
    EXPECT_TRUE(opened.ok()) << opened;
    absl::StatusOr<std::vector<v1::DatasetStatus>> status = (*store)->Status();
    EXPECT_TRUE(status.ok()) << status.status();
    uint64_t records = 0;
    if (!status.ok()) return records;
    for (const v1::DatasetStatus& s : *status) {
      if (s.covenant_id() == covenant) records += s.records();
    }
    return records;
  }

  // The linker's covenant_end or retention_deletion entries of `covenant`, and the
  // deletion_complete entries.
  static void EndEntries(const std::string& covenant, std::vector<Json>* ends,
                         std::vector<Json>* completions) {
    for (const Json& e : AuditEntries(dir_->path() / "db/audit.log")) {
      if (e["covenant"] != covenant) continue;
      if (e["event"] == "covenant_end" || e["event"] == "retention_deletion") ends->push_back(e);
      if (e["event"] == "deletion_complete") completions->push_back(e);
    }
  }

  static inline test::TempDir* dir_ = nullptr;
  static inline test::TestOfficer* officer_ = nullptr;
  static inline Service vault_, linker_;
};

TEST_F(UntrustedInputTest, OversizedIdsAreRefusedNamingTheFieldAndAuditedAsASummary) {
  const fs::path d = dir_->path();
  const uintmax_t audit_before = fs::file_size(d / "db/audit.log");
  const uintmax_t log_before = fs::file_size(d / "linker.log");
  const uintmax_t vault_audit_before = fs::file_size(d / "vault/audit.log");
  const uintmax_t vault_log_before = fs::file_size(d / "vault.log");
  const std::string huge(8 << 20, 'a');

  v1::SealedBatch batch;
  batch.set_batch_id(huge);
  batch.set_dataset("wijkteam");
  batch.set_covenant_id("hostile");
  grpc::Status s = Deliver("agent-wijkteam", batch);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.error_message(), "batch.batch_id (8388608 bytes)")) << s.error_message();
  EXPECT_TRUE(Contains(s.error_message(), "64 lower-case hex")) << s.error_message();
  EXPECT_EQ(RefusalRule(FromGrpcStatus(s)), "request_field");
  batch.set_batch_id(std::string(64, 'a'));
  batch.set_dataset(huge.substr(0, 65));
  s = Deliver("agent-wijkteam", batch);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.error_message(), "batch.dataset (65 bytes)")) << s.error_message();

  auto linker = v1::LinkerService::NewStub(Channel(linker_.address, "research-unit"));
  {
    v1::QueryRequest query;
    query.set_spec_name(huge.substr(0, 1 << 20));
    v1::QueryResponse response;
    grpc::ClientContext context;
    s = linker->Query(&context, query, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(Contains(s.error_message(), "spec_name")) << s.error_message();
  }
  {
    v1::AskFlagsRequest ask;
    ask.set_covenant_id("hostile");
    ask.set_release("who");
    ask.add_flags(huge.substr(0, 1 << 20));
    v1::AskFlagsResponse response;
    grpc::ClientContext context;
    s = linker->AskFlags(&context, ask, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(Contains(s.error_message(), "flags[0] (1048576 bytes)")) << s.error_message();
  }
  {
    v1::EndCovenantRequest end;
    end.set_covenant_id(huge.substr(0, 1 << 20));
    end.set_reason("x");
    v1::EndCovenantResponse response;
    grpc::ClientContext context;
    s = linker->EndCovenant(&context, end, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(Contains(s.error_message(), "covenant_id")) << s.error_message();
  }
  auto vault = v1::VaultService::NewStub(Channel(vault_.address, "agent-wijkteam"));
  {
    v1::GetCovenantKeyRequest key;
    key.set_covenant_id(huge.substr(0, 2 << 20));
    v1::GetCovenantKeyResponse response;
    grpc::ClientContext context;
    s = vault->GetCovenantKey(&context, key, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(Contains(s.error_message(), "covenant_id (2097152 bytes)")) << s.error_message();
  }

  // Six refusals: a few hundred bytes each in every log, not megabytes.
  EXPECT_LT(fs::file_size(d / "db/audit.log") - audit_before, 8000u);
  EXPECT_LT(fs::file_size(d / "linker.log") - log_before, 8000u);
  EXPECT_LT(fs::file_size(d / "vault/audit.log") - vault_audit_before, 4000u);
  EXPECT_LT(fs::file_size(d / "vault.log") - vault_log_before, 4000u);
  // Audited as a summary: the field, its length and the rule.
  bool found = false;
  for (const Json& e : AuditEntries(d / "db/audit.log")) {
    if (e["event"] == "delivery_refused" && e["details"].value("field", "") == "batch.batch_id") {
      EXPECT_EQ(e["details"]["length"], 8u << 20);
      EXPECT_EQ(e["actor"], "agent-wijkteam");
      found = true;
    }
  }
  EXPECT_TRUE(found);
  found = false;
  for (const Json& e : AuditEntries(d / "vault/audit.log")) {
    if (e["event"] == "refused" && e["details"].value("field", "") == "covenant_id") {
      EXPECT_EQ(e["details"]["length"], 2u << 20);
      EXPECT_EQ(e["details"]["operation"], "get_covenant_key");
      found = true;
    }
  }
  EXPECT_TRUE(found);
  // Well-formed deliveries still go through.
  ProcessResult again = SealAndSend("wijkteam", "hostile");
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

TEST_F(UntrustedInputTest, CraftedValuesCannotForgeALogLine) {
  const fs::path d = dir_->path();
  v1::SealedBatch batch;
  batch.set_batch_id(kForged);
  batch.set_dataset("wijkteam");
  batch.set_covenant_id("hostile");
  EXPECT_EQ(Deliver("agent-wijkteam", batch).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  batch.set_batch_id(std::string(64, 'b'));
  batch.set_dataset(kForged);
  EXPECT_EQ(Deliver("agent-wijkteam", batch).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // A certificate from the CA whose common name is the forged line: refused, and logged
  // escaped on one line.
  batch.set_dataset("wijkteam");
  grpc::Status s = Deliver("evil", batch);
  EXPECT_TRUE(s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
              s.error_code() == grpc::StatusCode::PERMISSION_DENIED)
      << s.error_message();
  auto vault = v1::VaultService::NewStub(Channel(vault_.address, "evil"));
  v1::GetCovenantKeyRequest key;
  key.set_covenant_id("hostile");
  v1::GetCovenantKeyResponse response;
  grpc::ClientContext context;
  s = vault->GetCovenantKey(&context, key, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();

  for (const char* log : {"linker.log", "vault.log"}) {
    ExpectNoForgedLine(d / log);
    EXPECT_TRUE(Contains(ReadFile(d / log), "agent-brp\\nstored batch FAKE")) << log;
    EXPECT_TRUE(Contains(ReadFile(d / log), "\\x1b[31m")) << log;
  }
  // The audit logs stay one entry per line, without the raw bytes, and verify.
  for (const char* log : {"db/audit.log", "vault/audit.log"}) {
    EXPECT_FALSE(Contains(ReadFile(d / log), "\x1b")) << log;
    absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(d / log);
    EXPECT_TRUE(entries.ok()) << entries.status();
  }
}

TEST_F(UntrustedInputTest, ACraftedAuditLogStopsTheLinkerNamingTheLine) {
  const fs::path d = dir_->path();
  StopLinker();
  const std::string intact = ReadFile(d / "db/audit.log");
  const size_t lines = static_cast<size_t>(std::count(intact.begin(), intact.end(), '\n'));
  Json entry = Json::parse(intact.substr(0, intact.find('\n')));
  const std::string first = entry.dump();
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 100000; ++i) deep += "}";
  const std::vector<std::pair<std::string, std::string>> crafted = {
      {"1e999", R"({"seq":1e999})"},
      {"a number too large", first.substr(0, first.size() - 1) + R"(,"x":1e999})"},
      {"deep nesting", R"({"seq":1,"details":)" + deep + "}"},
  };
  for (const auto& [what, line] : crafted) {
    WriteFile(d / "db/audit.log", intact + line + "\n");
    std::vector<std::string> argv = LinkerArgs();
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0", "--pki", (d / "pki").string()});
    for (const std::string& id : kCovenants) {
      argv.insert(argv.end(), {"--covenant", (d / (id + ".yaml")).string()});
    }
    ProcessResult r = RunProcess(argv);
    EXPECT_EQ(r.exit_code, 3) << what << ": " << r.err.substr(0, 500);
    EXPECT_TRUE(
        Contains(r.err, (d / "db/audit.log").string() + ":" + std::to_string(lines + 1) + ":"))
        << what << ": " << r.err.substr(0, 500);
    EXPECT_TRUE(Contains(r.err, "refusing to extend it")) << what;
    EXPECT_LT(r.err.size(), 4000u) << what;
    // The verifier reports it as a line that is not an audit entry, and does not crash.
    ProcessResult v =
        RunProcess({kBin + "/koppel", "audit", "verify", "--log", (d / "db/audit.log").string(),
                    "--signer-key", (d / "lkeys/linker-signing.key.pub").string()});
    EXPECT_EQ(v.exit_code, 3) << what << ": " << v.err.substr(0, 500);
    EXPECT_TRUE(Contains(v.err, ":" + std::to_string(lines + 1) + ":")) << what;
  }
  WriteFile(d / "db/audit.log", intact);
  fs::permissions(d / "db/audit.log", fs::perms::owner_read | fs::perms::owner_write);
  StartLinker();
  ASSERT_FALSE(linker_.address.empty());
}

// A data directory holding the single RocksDB of linkers before issue 14: the linker refuses to
// start with its own exit code, says what to do, and changes nothing in the directory.
TEST_F(UntrustedInputTest, AStoreInTheOldLayoutStopsTheLinkerWithWhatToDo) {
  const fs::path d = dir_->path();
  const fs::path old = d / "old-layout";
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, old.string(), &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), std::string("s\0second\0brp", 13), "x").ok());
    delete db;
  }
  WriteFile(old / "audit.log", ReadFile(d / "db/audit.log"));
  std::map<std::string, std::string> before;
  for (const auto& file : fs::directory_iterator(old)) {
    before[file.path().filename().string()] = ReadFile(file.path());
  }
  std::vector<std::string> argv = {kBin + "/koppel-linker",
                                   "serve",
                                   "--data",
                                   old.string(),
                                   "--keys",
                                   (d / "lkeys").string(),
                                   "--vault",
                                   vault_.address,
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--pki",
                                   (d / "pki").string()};
  for (const std::string& id : kCovenants) {
    argv.insert(argv.end(), {"--covenant", (d / (id + ".yaml")).string()});
  }
  ProcessResult r = RunProcess(argv);
  EXPECT_EQ(r.exit_code, 6) << r.err.substr(0, 2000);
  for (const char* says : {"old layout", "new empty --data directory", "koppel-agent send",
                           "receipts/", "Migrating from the single store"}) {
    EXPECT_TRUE(Contains(r.err, says)) << says << " not in: " << r.err.substr(0, 2000);
  }
  std::map<std::string, std::string> after;
  for (const auto& file : fs::directory_iterator(old)) {
    after[file.path().filename().string()] = ReadFile(file.path());
  }
  EXPECT_EQ(after, before) << "the old directory was changed";
}

// A crash after the end was marked in the ledger but before its audit entry: the next start
// writes the officer's end entry first, then deletes, then completes it.
TEST_F(UntrustedInputTest, AnEndCutShortBeforeItsEntryIsRecordedAtRestart) {
  const fs::path d = dir_->path();
  const uint64_t held = Records("second");
  ASSERT_GT(held, 0u);
  StopLinker();
  {
    auto ledger = policy::CovenantLedger::Open(d / "db/covenants.json", false);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    ASSERT_TRUE((*ledger)
                    ->MarkEnded("second", absl::Now(), "the study was withdrawn", "covenant_end",
                                "po-hostile")
                    .ok());
  }
  StartLinker();
  ASSERT_FALSE(linker_.address.empty());
  EXPECT_EQ(Records("second"), 0u);
  std::vector<Json> ends, completions;
  EndEntries("second", &ends, &completions);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0]["event"], "covenant_end");
  EXPECT_EQ(ends[0]["actor"], "po-hostile");
  EXPECT_EQ(ends[0]["details"]["reason"], "the study was withdrawn");
  EXPECT_EQ(ends[0]["details"]["records"], held);
  EXPECT_EQ(ends[0]["details"]["resumed"], true);
  ASSERT_EQ(completions.size(), 1u);
  EXPECT_EQ(completions[0]["details"]["end_seq"], ends[0]["seq"]);
  EXPECT_GT(completions[0]["seq"].get<uint64_t>(), ends[0]["seq"].get<uint64_t>());
}

// `koppel covenant end` killed while the linker deletes: the end entry with officer, reason
// and counts is on disk before the deletion starts, and the restart completes that end.
TEST_F(UntrustedInputTest, AnEndKilledDuringTheDeletionIsCompletedUnderTheRecordedEnd) {
  const fs::path d = dir_->path();
  const uint64_t held = Records("hostile");
  ASSERT_GT(held, 0u);
  absl::StatusOr<policy::SignedCovenant> covenant = policy::LoadSignedCovenant(d / "hostile.yaml");
  ASSERT_TRUE(covenant.ok()) << covenant.status();
  absl::StatusOr<v1::EndCovenantRequest> statement = policy::SignEndStatement(
      covenant->covenant, officer_->secret_key, "the project is finished", absl::Now());
  ASSERT_TRUE(statement.ok()) << statement.status();
  const std::string address = linker_.address;
  std::thread end([&] {
    auto stub = v1::LinkerService::NewStub(Channel(address, "research-unit"));
    v1::EndCovenantResponse response;
    grpc::ClientContext context;
    (void)stub->EndCovenant(&context, *statement, &response);
  });
  // Kill the linker as soon as the end entry is on disk.
  bool recorded = false;
  for (int i = 0; i < 2000 && !recorded; ++i) {
    recorded =
        Contains(ReadFile(d / "db/audit.log"), "\"event\":\"covenant_end\",\"actor\":\"" +
                                                   officer_->name + "\",\"covenant\":\"hostile\"");
    if (!recorded) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  StopLinker(SIGKILL);
  end.join();
  ASSERT_TRUE(recorded) << "no covenant_end entry before the deletion";
  StartLinker();
  ASSERT_FALSE(linker_.address.empty());
  EXPECT_EQ(Records("hostile"), 0u);
  std::vector<Json> ends, completions;
  EndEntries("hostile", &ends, &completions);
  ASSERT_EQ(ends.size(), 1u) << "one end, by the officer; no retention_deletion of 0 records: "
                             << Json(ends).dump();
  EXPECT_EQ(ends[0]["event"], "covenant_end");
  EXPECT_EQ(ends[0]["details"]["reason"], "the project is finished");
  EXPECT_EQ(ends[0]["details"]["records"], held);
  ASSERT_GE(completions.size(), 1u);
  for (const Json& c : completions) EXPECT_EQ(c["details"]["end_seq"], ends[0]["seq"]);
  StopLinker();
  ProcessResult verify =
      RunProcess({kBin + "/koppel", "audit", "verify", "--log", (d / "db/audit.log").string(),
                  "--signer-key", (d / "lkeys/linker-signing.key.pub").string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  StartLinker();
}

}  // namespace
}  // namespace koppel
