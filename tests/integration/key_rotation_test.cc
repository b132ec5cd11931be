// Key rotation that does not split people (issue 16 part 6): the real vault, linker and agents
// over mutual TLS. Every dataset is delivered in key epoch 1 and the Almelo study released;
// the vault is rotated (stopped, `koppel-vault rotate`, started) and only some datasets are
// delivered again, under epoch 2. The release still equals the one of epoch 1, read wholly in
// epoch 1, and its warnings name exactly the datasets still to be delivered again. Once the rest
// is delivered too, the release equals it once more, read in epoch 2, and the linker has deleted
// the records of epoch 1 (keeping their receipts, so that a resend is a duplicate), with an
// audit entry.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "linker/key_epochs.h"
#include "linker/linker_store.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/data_keys.h"
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
const std::string kCovenant = "rotation";
const std::string kSpec = kSource + "/analyses/almelo-mpg.yaml";
// Delivered again first, under epoch 2: the register and one more.
const std::set<std::string> kFirstAgain = {"brp", "uwv"};

class KeyRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path d = dir_.path();
    ASSERT_EQ(RunProcess({kBin + "/koppel-synth", "--out", (d / "m").string(), "--seed", "31",
                          "--persons", "3000"})
                  .exit_code,
              0);
    exports_ = json::parse(ReadFile(d / "m/truth/exports.json"));
    std::vector<std::string> pki = {
        kSource + "/scripts/pki", "--out", (d / "pki").string(), "vault", "linker",
        "research-unit"};
    for (const auto& [ds, e] : exports_["exports"].items()) pki.push_back("agent-" + ds);
    ASSERT_EQ(RunProcess(pki).exit_code, 0);
    ASSERT_EQ(
        RunProcess({kBin + "/koppel-linker", "keygen", "--out", (d / "lkeys").string()}).exit_code,
        0);
    fs::create_directories(d / "vault");
    fs::permissions(d / "vault", fs::perms::owner_all);
    fs::create_directories(d / "akeys");
    fs::permissions(d / "akeys", fs::perms::owner_all);
    ASSERT_EQ(RunProcess({kBin + "/koppel-vault", "keygen", "--out", (d / "master.key").string()})
                  .exit_code,
              0);
    const test::TestOfficer officer = test::TestOfficer::Create("po-rotation");
    test::TestCovenant covenant;
    covenant.id = kCovenant;
    covenant.officers = {&officer};
    covenant.parties = {test::TestParty::Service("vault", "vault"),
                        test::TestParty::Service("linker", "linker"),
                        test::TestParty::Service("research-unit", "research_unit")};
    for (const auto& [ds, e] : exports_["exports"].items()) {
      const std::string key = (d / "akeys" / ds).string();
      ASSERT_EQ(Agent({"keygen", "--type", "signing", "--out", key}).exit_code, 0);
      std::string pk = ReadFile(key + ".pub");
      while (!pk.empty() && (pk.back() == '\n' || pk.back() == ' ')) pk.pop_back();
      absl::StatusOr<test::TestDataset> grant =
          test::DatasetFromMapping(d / "m" / e["mapping"].get<std::string>());
      ASSERT_TRUE(grant.ok()) << grant.status();
      covenant.parties.push_back(test::TestParty::DataHolder("agent-" + ds, pk, {*grant}));
    }
    covenant.analysis_yaml =
        "recipients: [research-unit]\n" +
        test::ApprovedYaml({{"almelo-mpg", kSpec, kSource + "/prices/unit_costs_2014.csv"}}) +
        "dimensions: [area, household_type]\nmeasures: [count, percent, cost]\n"
        "disclosure: {min_cell: 10, dominance: {n: 1, k: 0.8}}\n";
    ASSERT_TRUE(test::WriteSignedCovenant(d / "covenant.yaml", covenant.Yaml(), {&officer}).ok());
    StartVault();
    linker_ = Start("linker", {kBin + "/koppel-linker", "serve", "--data", (d / "db").string(),
                               "--keys", (d / "lkeys").string(), "--vault", vault_.address,
                               "--covenant", (d / "covenant.yaml").string(),
                               // re-deliveries here are whole as soon as sent
                               "--epoch-settle-minutes", "0",
                               // old epochs are retired by this periodic task only
                               "--retention-check-seconds", "1"});
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
                  (d / "master.key").string(), "--covenant", (d / "covenant.yaml").string()});
  }

  static void StopService(test::RunningService* s) {
    if (s->process == nullptr) return;
    s->process->Signal(SIGTERM);
    s->process->Wait();
    s->process.reset();
  }

  static ProcessResult Agent(std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/koppel-agent");
    return RunProcess(args);
  }

  // Seals `ds`'s export with the vault's newest key epoch into `outbox`.
  ProcessResult Seal(const std::string& ds, const std::string& outbox) {
    const fs::path d = dir_.path();
    const json& e = exports_["exports"][ds];
    return Agent({"seal",
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
                  kCovenant,
                  "--linker-public-key",
                  (d / "lkeys/linker.key.pub").string(),
                  "--signing-key",
                  (d / "akeys" / ds).string(),
                  "--outbox",
                  (d / outbox / ds).string(),
                  "--new-run"});
  }

  ProcessResult Send(const std::string& ds, const std::string& outbox) {
    const fs::path d = dir_.path();
    return Agent({"send", "--quiet", "--outbox", (d / outbox / ds).string(), "--linker",
                  linker_.address, "--pki", (d / "pki").string(), "--name", "agent-" + ds,
                  "--linker-signing-key", (d / "lkeys/linker-signing.key.pub").string()});
  }

  void Deliver(const std::string& ds, const std::string& outbox) {
    ProcessResult sealed = Seal(ds, outbox);
    ASSERT_EQ(sealed.exit_code, 0) << ds << ": " << sealed.err;
    ProcessResult sent = Send(ds, outbox);
    ASSERT_EQ(sent.exit_code, 0) << ds << ": " << sent.err;
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

  // The datasets a release's warnings name as still to be delivered again.
  static std::set<std::string> ToRedeliver(const json& release) {
    std::set<std::string> named;
    for (const json& warning : release["metadata"]["warnings"]) {
      const std::string text = warning.get<std::string>();
      if (!Contains(text, "is still to be delivered again")) continue;
      const size_t open = text.find('\'');
      named.insert(text.substr(open + 1, text.find('\'', open + 1) - open - 1));
    }
    return named;
  }

  // What the linker's store holds now: key epochs and record counts per dataset.
  struct Held {
    linker::HeldEpochs epochs;
    std::map<std::string, uint64_t> records;
  };
  Held ReadStore() {
    const fs::path d = dir_.path();
    Held held;
    absl::StatusOr<std::unique_ptr<linker::LinkerStore>> store =
        linker::LinkerStore::OpenReadOnly(d / "db");
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return held;
    absl::StatusOr<Secret> key = test::VaultDataKey(d / "vault", d / "master.key", kCovenant);
    EXPECT_TRUE(key.ok()) << key.status();
    if (!key.ok()) return held;
    EXPECT_TRUE((*store)->OpenCovenant(kCovenant, *key).ok());
    absl::StatusOr<linker::HeldEpochs> epochs = (*store)->Epochs(kCovenant);
    EXPECT_TRUE(epochs.ok()) << epochs.status();
    if (epochs.ok()) held.epochs = *epochs;
    absl::StatusOr<std::vector<v1::DatasetStatus>> status = (*store)->Status();
    EXPECT_TRUE(status.ok()) << status.status();
    if (status.ok()) {
      for (const v1::DatasetStatus& s : *status) held.records[s.dataset()] = s.records();
    }
    return held;
  }

  test::TempDir dir_;
  json exports_;
  test::RunningService vault_;
  test::RunningService linker_;
};

// A released count: table, row label, column.
json Cell(const json& release, const std::string& table, const std::string& row,
          const std::string& column) {
  for (const json& t : release["tables"]) {
    if (t["name"] != table) continue;
    const std::vector<std::string> columns = t["columns"];
    const size_t c =
        static_cast<size_t>(std::find(columns.begin(), columns.end(), column) - columns.begin());
    for (const json& r : t["rows"]) {
      if (r["label"] == row && c < columns.size()) return r["cells"][c];
    }
  }
  return nullptr;
}

// The tables of two releases, cell by cell (suppressed cells included).
void ExpectSameTables(const json& expected, const json& actual) {
  ASSERT_EQ(expected["tables"].size(), actual["tables"].size());
  for (size_t t = 0; t < expected["tables"].size(); ++t) {
    EXPECT_EQ(expected["tables"][t]["rows"], actual["tables"][t]["rows"])
        << expected["tables"][t]["name"];
  }
}

TEST_F(KeyRotationTest, AnalysesReadOneEpochAndOldEpochsAreRetired) {
  const fs::path d = dir_.path();
  std::vector<std::string> datasets;
  for (const auto& [ds, e] : exports_["exports"].items()) datasets.push_back(ds);
  for (const std::string& ds : datasets) Deliver(ds, "outbox1");

  // Epoch 1, every dataset: the ground truth, as every later release must equal it.
  const json truth = Query("release1");
  ASSERT_FALSE(truth.empty());
  EXPECT_EQ(truth["metadata"]["key_epoch"], 1);
  EXPECT_TRUE(ToRedeliver(truth).empty());
  // ... and it is the generator's truth: households and families.
  const json study = json::parse(ReadFile(d / "m/truth/study.json"));
  EXPECT_EQ(Cell(truth, "mpg_per_wijk", "Almelo totaal", "households_N"),
            study["total"]["households"]);
  EXPECT_EQ(Cell(truth, "mpg_per_wijk", "Almelo totaal", "families"), study["total"]["families"]);
  std::set<std::string> read;  // the datasets the spec reads
  for (const json& delivery : truth["metadata"]["deliveries"]) {
    read.insert(delivery["dataset"].get<std::string>());
  }
  const Held before = ReadStore();
  // An export sealed under epoch 1 but left in its outbox until after the retirement.
  ProcessResult late = Seal(datasets.front(), "outbox_late");
  ASSERT_EQ(late.exit_code, 0) << late.err;

  // Rotation: the vault stopped, a new epoch, the vault started; the linker keeps running.
  StopService(&vault_);
  ProcessResult rotated =
      RunProcess({kBin + "/koppel-vault", "rotate", "--dir", (d / "vault").string(),
                  "--covenant-id", kCovenant, "--master-key", (d / "master.key").string()});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  StartVault();
  for (const std::string& ds : kFirstAgain) Deliver(ds, "outbox2");

  // Before epochs were kept apart, this release joined brp's epoch-2 records with nothing and
  // counted every person twice; now it reads epoch 1 and names what is still to come.
  const json partial = Query("release2");
  ASSERT_FALSE(partial.empty());
  EXPECT_EQ(partial["metadata"]["key_epoch"], 1);
  ExpectSameTables(truth, partial);
  std::set<std::string> missing;
  for (const std::string& ds : read) {
    if (!kFirstAgain.contains(ds)) missing.insert(ds);
  }
  EXPECT_EQ(ToRedeliver(partial), missing);
  ASSERT_FALSE(missing.empty());
  // A holder still behind is told so when it sends.
  ProcessResult behind = Send(*missing.begin(), "outbox1");
  ASSERT_EQ(behind.exit_code, 0) << behind.err;
  EXPECT_TRUE(Contains(behind.err, "'" + *missing.begin() + "' only under key epoch(s) 1"))
      << behind.err;
  const Held during = ReadStore();
  EXPECT_EQ(during.epochs.retired_through, 0u);
  EXPECT_EQ(during.records.at("brp"), 2 * before.records.at("brp"));

  for (const std::string& ds : datasets) {
    if (!kFirstAgain.contains(ds)) Deliver(ds, "outbox2");
  }
  const json full = Query("release3");
  ASSERT_FALSE(full.empty());
  EXPECT_EQ(full["metadata"]["key_epoch"], 2);
  ExpectSameTables(truth, full);
  EXPECT_TRUE(ToRedeliver(full).empty());
  // The releases of epoch 1 are checked together with this one, recomputed on epoch 2 (the
  // same exports, so the same values): a difference across the rotation stays protected.
  EXPECT_EQ(full["metadata"]["earlier_releases_checked"], 1) << full["metadata"].dump();
  for (const json& warning : full["metadata"]["warnings"]) {
    EXPECT_FALSE(Contains(warning.get<std::string>(), "another key epoch")) << warning;
  }

  // Epoch 1 goes at the next retention check: the same counts as before the rotation, all of
  // epoch 2.
  for (int i = 0; i < 600 && !Contains(ReadFile(d / "db" / "audit.log"), "\"key_epoch_retired\"");
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const Held after = ReadStore();
  EXPECT_EQ(after.epochs.retired_through, 1u);
  EXPECT_EQ(after.records, before.records);
  for (const auto& [ds, epochs] : after.epochs.batches) {
    EXPECT_EQ(epochs.size(), 1u) << ds;
    EXPECT_TRUE(epochs.contains(2)) << ds;
  }
  const std::string audit = ReadFile(d / "db" / "audit.log");
  EXPECT_TRUE(Contains(audit, "\"key_epoch_retired\"")) << audit.substr(audit.size() - 2000);
  // Receipts stay: a batch of the retired epoch sent again (its receipts lost on the holder's
  // side) is acknowledged as held, and nothing is stored.
  const fs::path receipts = d / "outbox1" / datasets.front() / "receipts";
  fs::remove_all(receipts);
  fs::create_directory(receipts);
  ProcessResult resent = Send(datasets.front(), "outbox1");
  EXPECT_EQ(resent.exit_code, 0) << resent.err;
  EXPECT_EQ(ReadStore().records, before.records);
  // A batch never sent before is refused by its retired epoch: the agent skips it, says so,
  // and does not fail.
  ProcessResult refused = Send(datasets.front(), "outbox_late");
  EXPECT_EQ(refused.exit_code, 0) << refused.err;
  EXPECT_TRUE(Contains(refused.err,
                       "sealed under retired key epoch 1; not sent; seal the export "
                       "again"))
      << refused.err;
  EXPECT_EQ(ReadStore().records, before.records);
}

}  // namespace
}  // namespace koppel
