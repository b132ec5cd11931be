// Backups and restore (issue 16 part 5): the real vault, linker and agents over mutual TLS.
// Part of the synthetic municipality is delivered, the running linker is backed up (online,
// through its admin socket) and the stopped vault too, the rest is delivered and the study
// released, a second covenant is ended; then the linker is stopped, a covenant's store
// destroyed and restored from the backup, the linker started and every outbox sent again: the
// agents resend what the linker no longer holds, and the study released again equals the one
// released over all the data. An altered backup is refused with nothing changed, the ended
// covenant is not revived (neither its store nor its keys in the vault), and the release
// made after the backup stays spent.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/backup_files.h"
#include "core/key_file.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/plaintext_scanner.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::Contains;
using test::ProcessResult;
using test::ReadFile;
using test::RunProcess;

const std::string kBin = KOPPEL_BIN_DIR;
const std::string kSource = KOPPEL_SOURCE_DIR;
const std::string kMain = "backup-main";
const std::string kEnding = "backup-ending";
const std::string kSpec = kSource + "/analyses/almelo-mpg.yaml";

// sockaddr_un's sun_path holds 108 bytes with the terminating NUL.
constexpr size_t kMaxSocketPath = 107;

// koppel-linker with `args`; backup and restore sign and verify with the linker's `keys`
// unless a --config file names them.
ProcessResult RunLinker(std::vector<std::string> args, const fs::path& keys) {
  if ((args.front() == "backup" || args.front() == "restore") &&
      std::find(args.begin(), args.end(), "--config") == args.end()) {
    args.insert(args.end(), {"--keys", keys.string()});
  }
  args.insert(args.begin(), kBin + "/koppel-linker");
  return RunProcess(args);
}

uint32_t ModeOf(const fs::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return 0;
  return info.st_mode & 0777;
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path d = dir_.path();
    if ((d / "db" / "admin.sock").string().size() > kMaxSocketPath) {
      GTEST_SKIP() << "TMPDIR makes the admin socket's path longer than " << kMaxSocketPath
                   << " bytes, which a Unix socket cannot have: " << (d / "db").string();
    }
    ASSERT_EQ(RunProcess({kBin + "/koppel-synth", "--out", (d / "m").string(), "--seed", "17",
                          "--persons", "2000"})
                  .exit_code,
              0);
    exports_ = json::parse(ReadFile(d / "m/truth/exports.json"));
    std::vector<std::string> pki = {
        kSource + "/scripts/pki", "--out", (d / "pki").string(), "vault", "linker",
        "research-unit"};
    for (const auto& [ds, e] : exports_["exports"].items()) {
      pki.push_back("agent-" + ds);
      datasets_.push_back(ds);
    }
    ASSERT_EQ(RunProcess(pki).exit_code, 0);
    ASSERT_EQ(
        RunProcess({kBin + "/koppel-linker", "keygen", "--out", (d / "lkeys").string()}).exit_code,
        0);
    for (const char* sub : {"vault", "akeys"}) {
      fs::create_directories(d / sub);
      fs::permissions(d / sub, fs::perms::owner_all);
    }
    ASSERT_EQ(RunProcess({kBin + "/koppel-vault", "keygen", "--out", (d / "master.key").string()})
                  .exit_code,
              0);
    officer_ = std::make_unique<test::TestOfficer>(test::TestOfficer::Create("po-backup"));
    ASSERT_TRUE(officer_->WriteKeyFiles(d / "akeys").ok());
    test::TestCovenant main;
    main.id = kMain;
    main.officers = {officer_.get()};
    main.parties = test::TestParty::Services();
    test::TestCovenant ending;
    ending.id = kEnding;
    ending.officers = {officer_.get()};
    ending.parties = test::TestParty::Services();
    for (const std::string& ds : datasets_) {
      const std::string key = (d / "akeys" / ds).string();
      ASSERT_EQ(Agent({"keygen", "--type", "signing", "--out", key}).exit_code, 0);
      std::string pk = ReadFile(key + ".pub");
      while (!pk.empty() && (pk.back() == '\n' || pk.back() == ' ')) pk.pop_back();
      absl::StatusOr<test::TestDataset> grant =
          test::DatasetFromMapping(d / "m" / exports_["exports"][ds]["mapping"].get<std::string>());
      ASSERT_TRUE(grant.ok()) << grant.status();
      main.parties.push_back(test::TestParty::DataHolder("agent-" + ds, pk, {*grant}));
      if (ds == datasets_.front()) {
        ending.parties.push_back(test::TestParty::DataHolder("agent-" + ds, pk, {*grant}));
      }
    }
    main.analysis_yaml =
        "recipients: [research-unit]\n" +
        test::ApprovedYaml({{"almelo-mpg", kSpec, kSource + "/prices/unit_costs_2014.csv"}}) +
        "dimensions: [area, household_type]\nmeasures: [count, percent, cost]\n"
        "disclosure: {min_cell: 10, dominance: {n: 1, k: 0.8}, max_releases: 10}\n";
    ASSERT_TRUE(
        test::WriteSignedCovenant(d / (kMain + ".yaml"), main.Yaml(), {officer_.get()}).ok());
    ASSERT_TRUE(
        test::WriteSignedCovenant(d / (kEnding + ".yaml"), ending.Yaml(), {officer_.get()}).ok());
    StartVault();
    StartLinker();
  }

  void TearDown() override {
    for (test::RunningService* s : {&linker_, &vault_}) StopService(s);
  }

  test::RunningService Start(const std::string& name, std::vector<std::string> argv) {
    const fs::path d = dir_.path();
    argv.insert(argv.end(), {"--pki", (d / "pki").string()});
    test::RunningService s = test::StartService(argv, d / (name + ".port"), d / (name + ".log"));
    EXPECT_FALSE(s.address.empty()) << ReadFile(d / (name + ".log"));
    return s;
  }

  void StartVault() {
    const fs::path d = dir_.path();
    vault_ = Start(
        "vault", {kBin + "/koppel-vault", "serve", "--dir", (d / "vault").string(), "--master-key",
                  (d / "master.key").string(), "--covenant", (d / (kMain + ".yaml")).string(),
                  "--covenant", (d / (kEnding + ".yaml")).string()});
  }

  void StartLinker() {
    const fs::path d = dir_.path();
    linker_ = Start("linker", {kBin + "/koppel-linker", "serve", "--data", (d / "db").string(),
                               "--keys", (d / "lkeys").string(), "--vault", vault_.address,
                               "--covenant", (d / (kMain + ".yaml")).string(), "--covenant",
                               (d / (kEnding + ".yaml")).string()});
  }

  static void StopService(test::RunningService* s) {
    if (s->process == nullptr) return;
    s->process->Signal(SIGTERM);
    EXPECT_EQ(s->process->Wait(), 0);
    s->process.reset();
  }

  static ProcessResult Agent(std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/koppel-agent");
    return RunProcess(args);
  }

  fs::path Outbox(const std::string& covenant, const std::string& ds) {
    return dir_.path() / "outbox" / covenant / ds;
  }

  void Deliver(const std::string& covenant, const std::string& ds) {
    const fs::path d = dir_.path();
    const json& e = exports_["exports"][ds];
    ProcessResult sealed = Agent({"seal",
                                  "--quiet",
                                  "--allow-rejects",
                                  "--mapping",
                                  (d / "m" / e["mapping"].get<std::string>()).string(),
                                  "--input",
                                  (d / "m" / e["file"].get<std::string>()).string(),
                                  "--vault",
                                  vault_.address,
                                  "--pki",
                                  (d / "pki").string(),
                                  "--name",
                                  "agent-" + ds,
                                  "--covenant-id",
                                  covenant,
                                  "--linker-public-key",
                                  (d / "lkeys/linker.key.pub").string(),
                                  "--signing-key",
                                  (d / "akeys" / ds).string(),
                                  "--outbox",
                                  Outbox(covenant, ds).string()});
    ASSERT_EQ(sealed.exit_code, 0) << ds << ": " << sealed.err;
    ProcessResult sent = Send(covenant, ds);
    ASSERT_EQ(sent.exit_code, 0) << ds << ": " << sent.err;
  }

  ProcessResult Send(const std::string& covenant, const std::string& ds) {
    const fs::path d = dir_.path();
    return Agent({"send", "--quiet", "--outbox", Outbox(covenant, ds).string(), "--linker",
                  linker_.address, "--pki", (d / "pki").string(), "--name", "agent-" + ds,
                  "--linker-signing-key", (d / "lkeys/linker-signing.key.pub").string()});
  }

  json Query(const std::string& name) {
    const fs::path d = dir_.path();
    ProcessResult query =
        RunProcess({kBin + "/koppel", "query", "--spec", kSpec, "--format", "json", "--out",
                    (d / name).string(), "--linker", linker_.address, "--pki", (d / "pki").string(),
                    "--name", "research-unit"});
    EXPECT_EQ(query.exit_code, 0) << query.err;
    if (query.exit_code != 0) return json::object();
    return json::parse(ReadFile(d / name / "release.json"));
  }

  ProcessResult Linker(std::vector<std::string> args) {
    return RunLinker(std::move(args), dir_.path() / "lkeys");
  }
  ProcessResult Vault(std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/koppel-vault");
    return RunProcess(args);
  }

  test::TempDir dir_;
  json exports_;
  std::vector<std::string> datasets_;
  std::unique_ptr<test::TestOfficer> officer_;
  test::RunningService vault_;
  test::RunningService linker_;
};

// The tables of two releases, cell by cell (suppressed cells included).
void ExpectSameTables(const json& expected, const json& actual) {
  ASSERT_EQ(expected["tables"].size(), actual["tables"].size());
  for (size_t t = 0; t < expected["tables"].size(); ++t) {
    EXPECT_EQ(expected["tables"][t]["rows"], actual["tables"][t]["rows"])
        << expected["tables"][t]["name"];
  }
}

TEST_F(BackupTest, RestoreAndResendGiveTheSameReleaseAndReviveNothingEnded) {
  const fs::path d = dir_.path();
  const size_t half = datasets_.size() / 2;
  for (size_t i = 0; i < half; ++i) Deliver(kMain, datasets_[i]);
  Deliver(kEnding, datasets_.front());

  // The vault, stopped: its sealed keys and ledger.
  StopService(&vault_);
  ProcessResult vault_backup =
      Vault({"backup", "--dir", (d / "vault").string(), "--to", (d / "vault-backup").string()});
  ASSERT_EQ(vault_backup.exit_code, 0) << vault_backup.err;
  StartVault();
  ProcessResult vault_running =
      Vault({"backup", "--dir", (d / "vault").string(), "--to", (d / "vault-backup-2").string()});
  EXPECT_EQ(vault_running.exit_code, 7) << vault_running.err;

  // The linker, running: through its admin socket.
  ASSERT_TRUE(fs::is_socket(d / "db/admin.sock")) << ReadFile(d / "linker.log");
  EXPECT_EQ(ModeOf(d / "db/admin.sock") & 077, 0u);
  ProcessResult backup =
      Linker({"backup", "--data", (d / "db").string(), "--to", (d / "backup").string()});
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  EXPECT_TRUE(Contains(backup.err, "online backup")) << backup.err;
  EXPECT_TRUE(Contains(backup.err, "covenant " + kMain + " version 1:")) << backup.err;
  EXPECT_EQ(ModeOf(d / "backup"), 0700u);
  EXPECT_EQ(ModeOf(d / "backup/BACKUP.json"), 0600u);
  EXPECT_EQ(ModeOf(d / "backup/covenants"), 0700u);
  EXPECT_TRUE(fs::exists(d / "backup/covenants" / kMain / "held"));
  EXPECT_TRUE(fs::exists(d / "backup/covenants.json"));
  EXPECT_TRUE(fs::exists(d / "backup/audit.log"));
  for (const auto& entry : fs::directory_iterator(d / "db")) {
    EXPECT_FALSE(Contains(entry.path().filename().string(), "backup.tmp")) << entry.path();
  }
  ProcessResult not_empty =
      Linker({"backup", "--data", (d / "db").string(), "--to", (d / "backup").string()});
  EXPECT_EQ(not_empty.exit_code, 2) << not_empty.err;

  for (size_t i = half; i < datasets_.size(); ++i) Deliver(kMain, datasets_[i]);
  const json truth = Query("release-all");
  ASSERT_FALSE(truth.empty());
  EXPECT_EQ(truth["metadata"]["releases_left"], 9);

  ProcessResult end = RunProcess(
      {kBin + "/koppel", "covenant", "end", "--covenant", (d / (kEnding + ".yaml")).string(),
       "--officer-key", officer_->KeyFile(d / "akeys").string(), "--reason", "study finished",
       "--linker", linker_.address, "--vault", vault_.address, "--pki", (d / "pki").string(),
       "--name", "research-unit"});
  ASSERT_EQ(end.exit_code, 0) << end.out << end.err;

  // A restore refuses to run under a running linker.
  ProcessResult running =
      Linker({"restore", "--from", (d / "backup").string(), "--data", (d / "db").string()});
  EXPECT_EQ(running.exit_code, 10) << running.err;

  // The disaster: the store of the main covenant is gone.
  StopService(&linker_);
  fs::remove_all(d / "db/covenants" / kMain);

  // An altered backup is refused before anything changes.
  fs::copy(d / "backup", d / "altered", fs::copy_options::recursive);
  {
    std::fstream held(d / "altered/covenants" / kMain / "held",
                      std::ios::in | std::ios::out | std::ios::binary);
    held.seekp(2);
    held.put('9');
  }
  ProcessResult altered =
      Linker({"restore", "--from", (d / "altered").string(), "--data", (d / "db").string()});
  EXPECT_EQ(altered.exit_code, 9) << altered.err;
  EXPECT_TRUE(Contains(altered.err, "covenants/" + kMain + "/held")) << altered.err;
  EXPECT_FALSE(fs::exists(d / "db/covenants" / kMain));

  ProcessResult restore =
      Linker({"restore", "--from", (d / "backup").string(), "--data", (d / "db").string()});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_TRUE(Contains(restore.err, "covenant " + kEnding + " ended at")) << restore.err;
  EXPECT_TRUE(Contains(restore.err, "1 release(s) made after the backup")) << restore.err;
  EXPECT_FALSE(fs::exists(d / "db/covenants" / kEnding)) << "an ended covenant is not revived";
  EXPECT_TRUE(fs::exists(d / "db/covenants" / kMain / "held"));

  StartLinker();
  size_t resent_outboxes = 0;
  for (const std::string& ds : datasets_) {
    ProcessResult sent = Send(kMain, ds);
    ASSERT_EQ(sent.exit_code, 0) << ds << ": " << sent.err;
    if (Contains(sent.err, "the linker no longer holds")) ++resent_outboxes;
  }
  EXPECT_EQ(resent_outboxes, datasets_.size() - half);
  const json again = Query("release-restored");
  ASSERT_FALSE(again.empty());
  ExpectSameTables(truth, again);
  // The release made after the backup stays spent: 10 - 2. Its history entry (its cells) is
  // not in the backup but in its `release` audit entry, sealed: the restore put it back, and
  // the release is checked against it like any earlier one (issue 16, release history across a
  // restore).
  EXPECT_EQ(again["metadata"]["releases_left"], 8);
  EXPECT_EQ(again["metadata"]["earlier_releases_checked"], 1);
  for (const json& warning : again["metadata"]["warnings"]) {
    EXPECT_FALSE(Contains(warning.get<std::string>(), "could not be checked")) << warning;
  }
  EXPECT_TRUE(Contains(restore.err, "1 of their history entries")) << restore.err;
  {
    std::ifstream log(d / "db/audit.log");
    int releases_with_entry = 0;
    json restored;
    std::string events;
    for (std::string line; std::getline(log, line);) {
      const json entry = json::parse(line);
      events += entry["event"].get<std::string>() + " ";
      if (entry["event"] == "release" && entry["details"].contains("history_entry")) {
        ++releases_with_entry;
      }
      if (entry["event"] == "store_restored") restored = entry;
    }
    EXPECT_EQ(releases_with_entry, 2);
    ASSERT_FALSE(restored.empty()) << events;
    EXPECT_EQ(restored["covenant"], kMain);
    EXPECT_EQ(restored["details"]["history_entries_reapplied"], 1);
    EXPECT_EQ(restored["details"]["releases_kept_spent_without_entry"], 0);
  }

  // The vault: restoring its backup brings no destroyed key back.
  ProcessResult vault_restore_running =
      Vault({"restore", "--from", (d / "vault-backup").string(), "--dir", (d / "vault").string()});
  EXPECT_EQ(vault_restore_running.exit_code, 7) << vault_restore_running.err;
  StopService(&linker_);
  StopService(&vault_);
  fs::remove_all(d / "vault/keys");
  ProcessResult vault_restore =
      Vault({"restore", "--from", (d / "vault-backup").string(), "--dir", (d / "vault").string()});
  ASSERT_EQ(vault_restore.exit_code, 0) << vault_restore.err;
  EXPECT_TRUE(Contains(vault_restore.err, "covenant " + kEnding + " ended at"))
      << vault_restore.err;
  for (const auto& entry : fs::directory_iterator(d / "vault/keys")) {
    EXPECT_FALSE(entry.path().filename().string().starts_with(kEnding + ".")) << entry.path();
  }
  EXPECT_TRUE(fs::exists(d / "vault/keys" / (kMain + ".1.sealed")));
  // With its keys back the vault serves the main covenant's data key again: the linker starts.
  StartVault();
  StartLinker();
  const json after_vault = Query("release-after-vault");
  ASSERT_FALSE(after_vault.empty());
  ExpectSameTables(truth, after_vault);

  // No linker running: the files are copied while the audit log's lock keeps one from starting;
  // the copy restores into an empty data directory, ledger and audit log included.
  StopService(&linker_);
  ProcessResult cold =
      Linker({"backup", "--data", (d / "db").string(), "--to", (d / "cold").string()});
  ASSERT_EQ(cold.exit_code, 0) << cold.err;
  EXPECT_TRUE(Contains(cold.err, "no linker is running")) << cold.err;
  ProcessResult into_new = Linker(
      {"restore", "--new-data", "--from", (d / "cold").string(), "--data", (d / "db2").string()});
  ASSERT_EQ(into_new.exit_code, 0) << into_new.err;
  EXPECT_TRUE(Contains(into_new.err, "the backup's was restored")) << into_new.err;
  EXPECT_EQ(ReadFile(d / "db2/audit.log"), ReadFile(d / "db/audit.log"));
  EXPECT_TRUE(fs::exists(d / "db2/covenants" / kMain / "db/CURRENT"));

  // Nothing this run wrote (backups, restored stores, orphaned receipts, outboxes, releases,
  // logs) holds a BSN or an address of the municipality; only its own exports in m/ do.
  test::PlaintextScanner scanner =
      test::PlaintextScanner::FromPopulation(d / "m/truth/population.csv");
  std::vector<test::Leak> leaks;
  size_t files = 0;
  scanner.ScanTree(d, {d / "m"}, &leaks, &files);
  EXPECT_GE(files, 50u);
  for (const test::Leak& leak : leaks) {
    ADD_FAILURE() << leak.where << ": " << leak.kind << " at offset " << leak.offset;
  }
}

// Review fixes (issue 16 part 5): backup and restore never take a running linker for a stopped
// one, refuse a manifest of the wrong shape before writing anything, and a restore cut short
// keeps the linker from starting until it is run again, which completes it. One linker, no
// vault (its data keys derived from its master key), no data: fast.
class BackupSafetyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path d = dir_.path();
    ASSERT_EQ(
        RunProcess({kSource + "/scripts/pki", "--out", (d / "pki").string(), "linker"}).exit_code,
        0);
    ASSERT_EQ(
        RunProcess({kBin + "/koppel-linker", "keygen", "--out", (d / "lkeys").string()}).exit_code,
        0);
    const test::TestOfficer officer = test::TestOfficer::Create("po-safety");
    test::TestCovenant covenant;
    covenant.id = kCovenant;
    covenant.officers = {&officer};
    covenant.parties = test::TestParty::Services();
    covenant.parties.push_back(
        test::TestParty::DataHolder("agent-uwv", "", {{"uwv", {"bsn"}, {}}}));
    ASSERT_TRUE(test::WriteSignedCovenant(d / "covenant.yaml", covenant.Yaml(), {&officer}).ok());
    // The layout of the packages: the data one level down, the audit log elsewhere.
    std::ofstream(d / "linker.yaml") << "data: " << Data().string() << "\n"
                                     << "audit: " << (d / "log/audit.log").string() << "\n"
                                     << "keys: " << (d / "lkeys").string() << "\n"
                                     << "covenant: [" << (d / "covenant.yaml").string() << "]\n";
    fs::create_directories(d / "log");
  }

  void TearDown() override { StopLinker(); }

  fs::path Data() const { return dir_.path() / "lib/data"; }

  void StartLinker() {
    const fs::path d = dir_.path();
    linker_ = test::StartService({kBin + "/koppel-linker", "serve", "--config",
                                  (d / "linker.yaml").string(), "--pki", (d / "pki").string()},
                                 d / "linker.port", d / "linker.log");
    ASSERT_FALSE(linker_.address.empty()) << ReadFile(d / "linker.log");
  }

  void StopLinker() {
    if (linker_.process == nullptr) return;
    linker_.process->Signal(SIGTERM);
    EXPECT_EQ(linker_.process->Wait(), 0);
    linker_.process.reset();
  }

  ProcessResult Linker(std::vector<std::string> args) {
    return RunLinker(std::move(args), dir_.path() / "lkeys");
  }

  // A cold backup of the stopped linker in `name`.
  void ColdBackup(const std::string& name) {
    ProcessResult backup = Linker({"backup", "--config", (dir_.path() / "linker.yaml").string(),
                                   "--to", (dir_.path() / name).string()});
    ASSERT_EQ(backup.exit_code, 0) << backup.err;
    ASSERT_TRUE(Contains(backup.err, "no linker is running")) << backup.err;
  }

  static constexpr const char* kCovenant = "safety";
  test::TempDir dir_;
  test::RunningService linker_;
};

TEST_F(BackupSafetyTest, ARunningLinkerIsNeverTakenForAStoppedOne) {
  const fs::path d = dir_.path();
  StartLinker();
  // The data directory one level up (the docs' old path): no store there, no empty backup.
  ProcessResult wrong_data =
      Linker({"backup", "--data", (d / "lib").string(), "--to", (d / "wrong").string()});
  EXPECT_EQ(wrong_data.exit_code, 2) << wrong_data.err;
  EXPECT_TRUE(Contains(wrong_data.err, "STORE_FORMAT")) << wrong_data.err;
  EXPECT_FALSE(fs::exists(d / "wrong/BACKUP.json"));
  ProcessResult restore_wrong =
      Linker({"restore", "--from", (d / "wrong").string(), "--data", (d / "lib").string()});
  EXPECT_NE(restore_wrong.exit_code, 0) << restore_wrong.err;

  // The configuration file gives `data` and `audit` as `serve` reads them (its other keys are
  // ignored): an online backup.
  ProcessResult online =
      Linker({"backup", "--config", (d / "linker.yaml").string(), "--to", (d / "online").string()});
  ASSERT_EQ(online.exit_code, 0) << online.err;
  EXPECT_TRUE(Contains(online.err, "online backup")) << online.err;
  EXPECT_TRUE(fs::exists(d / "online/covenants" / kCovenant / "held"));
  ProcessResult restore = Linker(
      {"restore", "--config", (d / "linker.yaml").string(), "--from", (d / "online").string()});
  EXPECT_EQ(restore.exit_code, 10) << restore.err;

  // Without an answering socket, the data directory's lock still says a linker runs, although
  // its audit log is not where --data would put it.
  fs::rename(Data() / "admin.sock", d / "admin.sock.away");
  ProcessResult no_socket =
      Linker({"backup", "--data", Data().string(), "--to", (d / "no-socket").string()});
  EXPECT_EQ(no_socket.exit_code, 10) << no_socket.err;
  EXPECT_FALSE(fs::exists(d / "no-socket/BACKUP.json"));
  ProcessResult restore_running =
      Linker({"restore", "--from", (d / "online").string(), "--data", Data().string()});
  EXPECT_EQ(restore_running.exit_code, 10) << restore_running.err;
  fs::rename(d / "admin.sock.away", Data() / "admin.sock");
}

TEST_F(BackupSafetyTest, AManifestOfTheWrongShapeIsRefusedBeforeAnythingIsWritten) {
  const fs::path d = dir_.path();
  StartLinker();
  StopLinker();
  ColdBackup("cold");
  const json manifest = json::parse(ReadFile(d / "cold/BACKUP.json"));
  absl::StatusOr<Secret> signing_key = ReadKeyFile(d / "lkeys/linker-signing.key", 64);
  ASSERT_TRUE(signing_key.ok()) << signing_key.status();
  // A manifest edited along with a file, without the linker's key: refused.
  {
    fs::copy(d / "cold", d / "edited", fs::copy_options::recursive);
    std::ofstream(d / "edited/covenants" / kCovenant / "held", std::ios::app) << " ";
    json changed = manifest;
    absl::StatusOr<std::string> sha256 = FileSha256Hex(d / "edited/covenants" / kCovenant / "held");
    ASSERT_TRUE(sha256.ok());
    changed["files"][std::string("covenants/") + kCovenant + "/held"] = *sha256;
    std::ofstream(d / "edited/BACKUP.json", std::ios::trunc) << changed.dump(2);
    ProcessResult edited = Linker({"restore", "--new-data", "--from", (d / "edited").string(),
                                   "--data", (d / "edited-data").string()});
    EXPECT_EQ(edited.exit_code, 9) << edited.err;
    EXPECT_TRUE(Contains(edited.err, "BACKUP.json.sig")) << edited.err;
    EXPECT_FALSE(fs::exists(d / "edited-data"));
  }
  const auto refused = [&](const std::string& name, const std::function<void(json*)>& edit) {
    json changed = manifest;
    edit(&changed);
    fs::copy(d / "cold", d / name, fs::copy_options::recursive);
    std::ofstream(d / name / "BACKUP.json", std::ios::trunc) << changed.dump(2);
    // Signed again with the linker's key: the shape is what is refused.
    fs::remove(d / name / "BACKUP.json.sig");
    ASSERT_TRUE(SignBackupManifest(d / name, *signing_key).ok());
    ProcessResult r = Linker({"restore", "--new-data", "--from", (d / name).string(), "--data",
                              (d / (name + "-data")).string()});
    EXPECT_EQ(r.exit_code, 9) << name << ": " << r.err;
    EXPECT_FALSE(fs::exists(d / (name + "-data"))) << name;
  };
  refused("count", [](json* m) { (*m)["contents"]["covenants"]["c1"] = 5; });
  refused("seq", [](json* m) { (*m)["contents"]["audit"]["seq"] = "one"; });
  refused("id",
          [](json* m) { (*m)["contents"]["covenants"]["/../../../../tmp/x"] = json::object(); });
  refused("stray", [](json* m) { (*m)["files"]["covenants/other/held"] = std::string(64, '0'); });
  refused("format", [](json* m) { (*m)["contents"]["store_format"] = "koppel-store 9"; });

  // A new directory only with --new-data; the untouched backup restores.
  ProcessResult no_flag =
      Linker({"restore", "--from", (d / "cold").string(), "--data", (d / "fresh").string()});
  EXPECT_EQ(no_flag.exit_code, 2) << no_flag.err;
  EXPECT_FALSE(fs::exists(d / "fresh/STORE_FORMAT"));
  ProcessResult fresh = Linker(
      {"restore", "--new-data", "--from", (d / "cold").string(), "--data", (d / "fresh").string()});
  EXPECT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_TRUE(fs::exists(d / "fresh/covenants" / kCovenant / "held"));
}

TEST_F(BackupSafetyTest, ARestoreCutShortStopsTheLinkerAndARerunCompletesIt) {
  const fs::path d = dir_.path();
  StartLinker();
  StopLinker();
  ColdBackup("cold");
  const std::string held = ReadFile(Data() / "covenants" / kCovenant / "held");
  // The crash came between the two renames: the covenant's store is only in .<id>.old.
  fs::rename(Data() / "covenants" / kCovenant,
             Data() / "covenants" / (std::string(".") + kCovenant + ".old"));
  ProcessResult refused = Linker({"serve", "--config", (d / "linker.yaml").string(), "--pki",
                                  (d / "pki").string(), "--listen", "127.0.0.1:0"});
  EXPECT_EQ(refused.exit_code, 5) << refused.err;
  EXPECT_TRUE(Contains(refused.err, "koppel-linker restore")) << refused.err;
  EXPECT_FALSE(fs::exists(Data() / "covenants" / kCovenant)) << "no fresh empty store";

  ProcessResult rerun = Linker(
      {"restore", "--config", (d / "linker.yaml").string(), "--from", (d / "cold").string()});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(ReadFile(Data() / "covenants" / kCovenant / "held"), held);
  for (const auto& entry : fs::directory_iterator(Data() / "covenants")) {
    EXPECT_FALSE(entry.path().filename().string().starts_with(".")) << entry.path();
  }
  StartLinker();
}

}  // namespace
}  // namespace koppel
