// Covenants as deployed (issue #5): the real vault and linker serving two signed covenants at
// once over mutual TLS, the real agents delivering under both. Asserts that tokens of one person
// differ between the covenants, that deliveries outside a covenant are refused with the rule's
// name, that the purpose-bound "who else is involved" release answers exactly what the plaintext
// ground truth says and nothing about records the recipient did not deliver, that both audit
// logs verify and report what happened, that a new version supersedes the old, that ending a
// covenant (by an officer or by its end date) leaves nothing in the linker's or the vault's files
// that any key left on the machine can decrypt, and that unsigned, partly signed or edited
// covenants are refused.
#include <gtest/gtest.h>
#include <sodium.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/address.h"
#include "core/bsn.h"
#include "core/csv_reader.h"
#include "core/hex.h"
#include "core/hmac.h"
#include "core/key_file.h"
#include "core/mapping.h"
#include "core/refusal.h"
#include "core/tls.h"
#include "core/token.h"
#include "koppel/v1/linker.grpc.pb.h"
#include "koppel/v1/vault.grpc.pb.h"
#include "linker/linker_store.h"
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
using test::TestCovenant;
using test::TestDataset;
using test::TestOfficer;
using test::TestParty;
using test::WriteFile;

const std::string kBin = KOPPEL_BIN_DIR;
const std::vector<std::string> kDatasets = {"brp", "wijkteam", "jeugdzorg", "schuldhulp",
                                            "politie"};

// A running service and the port it listens on.
using Service = test::RunningService;

class GovernanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const fs::path d = dir_->path();
    ASSERT_EQ(RunProcess({kBin + "/koppel-synth", "--out", (d / "m").string(), "--seed", "23",
                          "--persons", "9000"})
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
    officer_a_ = new TestOfficer(TestOfficer::Create("po-gemeente", "Gemeente"));
    officer_b_ = new TestOfficer(TestOfficer::Create("po-zorg", "Zorgaanbieder"));
    ASSERT_TRUE(officer_a_->WriteKeyFiles(d / "akeys").ok());
    for (const std::string& ds : kDatasets) {
      ASSERT_EQ(
          Agent({"keygen", "--type", "signing", "--out", (d / "akeys" / ds).string()}).exit_code,
          0);
      std::string pk = ReadFile(d / "akeys" / (ds + ".pub"));
      while (!pk.empty() && (pk.back() == '\n' || pk.back() == ' ')) pk.pop_back();
      agent_keys_[ds] = pk;
    }
    WriteCovenants();
    StartServices();
    // Deliveries: under "signal" everything but politie (whose grant lacks a field, refused
    // below); under "stat" wijkteam and jeugdzorg.
    for (const char* ds : {"brp", "wijkteam", "jeugdzorg", "schuldhulp"}) {
      ProcessResult r = SealAndSend(ds, "signal", std::string("agent-") + ds);
      ASSERT_EQ(r.exit_code, 0) << ds << ": " << r.err;
    }
    for (const char* ds : {"wijkteam", "jeugdzorg"}) {
      ProcessResult r = SealAndSend(ds, "stat", std::string("agent-") + ds);
      ASSERT_EQ(r.exit_code, 0) << ds << ": " << r.err;
    }
  }

  static void TearDownTestSuite() {
    StopServices();
    delete officer_a_;
    delete officer_b_;
    delete dir_;
  }

  static TestDataset Grant(const std::string& ds) {
    absl::StatusOr<TestDataset> grant =
        test::DatasetFromMapping(dir_->path() / "m/mappings" / (ds + ".yaml"));
    EXPECT_TRUE(grant.ok()) << grant.status();
    return grant.ok() ? *grant : TestDataset{};
  }

  // "signal": the who-else-involved covenant, signed by two officers; politie's grant lacks
  // one field its export carries. "stat": a statistical covenant, signed by one officer.
  static void WriteCovenants() {
    const fs::path d = dir_->path();
    TestCovenant signal;
    signal.id = "signal";
    signal.officers = {officer_a_, officer_b_};
    signal.parties = {TestParty::Service("vault", "vault"), TestParty::Service("linker", "linker")};
    for (const std::string& ds : kDatasets) {
      TestDataset grant = Grant(ds);
      if (ds == "politie") grant.fields.pop_back();
      if (ds == "brp") grant.fields = {"adres_van", "adres_tot"};  // data minimisation
      TestParty party = TestParty::DataHolder("agent-" + ds, agent_keys_[ds], {grant});
      party.officer = ds == "jeugdzorg" ? "po-zorg" : "po-gemeente";
      signal.parties.push_back(party);
    }
    signal.releases_yaml =
        "  - name: who-else-involved\n"
        "    recipient: agent-wijkteam\n"
        "    purpose: one family, one plan\n"
        "    legal_basis: Wmo 2015 art. 5.2.1\n"
        "    dataset: wijkteam\n"
        "    unit: household\n"
        "    register: {dataset: brp, address_from: adres_van, address_to: adres_tot}\n"
        "    flags:\n"
        "      - {name: known_at_jeugdzorg, dataset: jeugdzorg}\n"
        "      - {name: known_at_schuldhulp, dataset: schuldhulp}\n";
    signal_yaml_ = signal.Yaml();
    ASSERT_TRUE(
        test::WriteSignedCovenant(d / "signal.yaml", signal_yaml_, {officer_a_, officer_b_}).ok());
    ASSERT_TRUE(
        test::WriteSignedCovenant(d / "stat.yaml", StatCovenant(1, "", "").Yaml(), {officer_a_})
            .ok());
  }

  static TestCovenant StatCovenant(uint32_t version, std::string from, std::string until) {
    TestCovenant stat;
    stat.id = "stat";
    stat.version = version;
    stat.valid_from = std::move(from);
    stat.valid_until = std::move(until);
    stat.officers = {officer_a_};
    stat.parties = {TestParty::Service("vault", "vault"), TestParty::Service("linker", "linker"),
                    TestParty::Service("research-unit", "research_unit")};
    for (const char* ds : {"wijkteam", "jeugdzorg"}) {
      stat.parties.push_back(
          TestParty::DataHolder(std::string("agent-") + ds, agent_keys_[ds], {Grant(ds)}));
    }
    return stat;
  }

  static Service Start(const std::string& name, std::vector<std::string> argv) {
    const fs::path d = dir_->path();
    argv.insert(argv.end(), {"--pki", (d / "pki").string()});
    Service s = test::StartService(argv, d / (name + ".port"), d / (name + ".log"));
    EXPECT_FALSE(s.address.empty()) << ReadFile(d / (name + ".log"));
    return s;
  }

  static std::vector<std::string> VaultArgs(const std::vector<std::string>& covenants) {
    const fs::path d = dir_->path();
    std::vector<std::string> argv = {
        kBin + "/koppel-vault", "serve",        "--dir",
        (d / "vault").string(), "--master-key", (d / "master.key").string()};
    for (const std::string& c : covenants)
      argv.insert(argv.end(), {"--covenant", (d / c).string()});
    return argv;
  }

  static std::vector<std::string> LinkerArgs(const std::vector<std::string>& covenants) {
    const fs::path d = dir_->path();
    std::vector<std::string> argv = {
        kBin + "/koppel-linker", "serve",   "--data",      (d / "db").string(), "--keys",
        (d / "lkeys").string(),  "--vault", vault_.address};
    for (const std::string& c : covenants)
      argv.insert(argv.end(), {"--covenant", (d / c).string()});
    return argv;
  }

  static void StartServices(const std::vector<std::string>& covenants = {"signal.yaml",
                                                                         "stat.yaml"}) {
    vault_ = Start("vault", VaultArgs(covenants));
    linker_ = Start("linker", LinkerArgs(covenants));
  }

  static void StopServices() {
    for (Service* s : {&linker_, &vault_}) {
      if (s->process == nullptr) continue;
      s->process->Signal(SIGTERM);
      s->process->Wait();
      s->process.reset();
    }
  }

  static ProcessResult Agent(std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/koppel-agent");
    return RunProcess(args);
  }

  static ProcessResult Koppel(std::vector<std::string> args) {
    args.insert(args.begin(), kBin + "/koppel");
    return RunProcess(args);
  }

  static std::string Mapping(const std::string& ds) {
    return (dir_->path() / "m/mappings" / (ds + ".yaml")).string();
  }
  static std::string Export(const std::string& ds) {
    return (dir_->path() / "m/exports" / (ds + ".csv")).string();
  }

  static ProcessResult SealAndSend(const std::string& ds, const std::string& covenant,
                                   const std::string& name) {
    const fs::path d = dir_->path();
    const fs::path outbox = d / "outbox" / covenant / ds;
    std::vector<std::string> args = {"seal",
                                     "--quiet",
                                     "--allow-rejects",
                                     "--mapping",
                                     Mapping(ds),
                                     "--input",
                                     Export(ds),
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
                                     "--new-run"};
    // The register is granted only its address period.
    if (ds == "brp") args.insert(args.end(), {"--fields", "adres_van,adres_tot"});
    ProcessResult seal = Agent(args);
    if (seal.exit_code != 0) return seal;
    return Send(outbox, name);
  }

  static ProcessResult Send(const fs::path& outbox, const std::string& name) {
    const fs::path d = dir_->path();
    return Agent({"send", "--quiet", "--max-attempts", "2", "--outbox", outbox.string(), "--linker",
                  linker_.address, "--pki", (d / "pki").string(), "--name", name,
                  "--linker-signing-key", (d / "lkeys/linker-signing.key.pub").string()});
  }

  static ProcessResult AskFlags(const std::string& ds, const std::string& name,
                                const std::string& out, std::vector<std::string> extra = {}) {
    const fs::path d = dir_->path();
    std::vector<std::string> args = {"ask-flags",
                                     "--quiet",
                                     "--allow-rejects",
                                     "--mapping",
                                     Mapping(ds),
                                     "--input",
                                     Export(ds),
                                     "--vault",
                                     vault_.address,
                                     "--pki",
                                     (d / "pki").string(),
                                     "--name",
                                     name,
                                     "--covenant-id",
                                     "signal",
                                     "--release",
                                     "who-else-involved",
                                     "--linker",
                                     linker_.address,
                                     "--out",
                                     out,
                                     "--rejects",
                                     (d / ("ask-rejects-" + ds + ".csv")).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return Agent(args);
  }

  // The export's rows the agent kept (those not in its reject report), by record number
  // (1-based, header excluded), as column name -> value.
  static std::map<uint64_t, std::map<std::string, std::string>> KeptRows(const std::string& ds) {
    const fs::path d = dir_->path();
    std::set<uint64_t> rejected;
    std::istringstream rejects(ReadFile(d / ("rejects-" + ds + ".csv")));
    std::string line;
    std::getline(rejects, line);  // header
    while (std::getline(rejects, line)) {
      // Duplicate rows are listed too, but they were kept (and sealed).
      if (!line.empty() && line.find(",duplicate,") == std::string::npos) {
        rejected.insert(std::stoull(line.substr(0, line.find(','))));
      }
    }
    absl::StatusOr<koppel::Mapping> mapping = LoadMapping(Mapping(ds));
    EXPECT_TRUE(mapping.ok());
    std::map<uint64_t, std::map<std::string, std::string>> kept;
    if (!mapping.ok()) return kept;
    auto reader = CsvReader::Open(Export(ds), mapping->csv);
    EXPECT_TRUE(reader.ok());
    CsvRecord record;
    std::vector<std::string> header;
    absl::StatusOr<bool> more = (*reader)->Next(&record);
    for (std::string_view f : record.fields) header.emplace_back(f);
    for (uint64_t n = 1; (more = (*reader)->Next(&record)).ok() && *more; ++n) {
      if (rejected.contains(n) || record.problem != RejectReason::kNone ||
          record.fields.size() != header.size()) {
        continue;
      }
      auto& row = kept[n];
      for (size_t i = 0; i < header.size(); ++i) row[header[i]] = std::string(record.fields[i]);
    }
    return kept;
  }

  // Canonical BSN per kept record number.
  static std::map<uint64_t, std::string> KeptBsns(const std::string& ds) {
    const std::string column = *LoadMapping(Mapping(ds))->bsn_column;
    std::map<uint64_t, std::string> kept;
    for (const auto& [n, row] : KeptRows(ds)) {
      BsnResult bsn = ParseBsn(row.at(column));
      if (bsn.ok()) kept[n] = std::string(bsn.view());
    }
    return kept;
  }

  // From the register's plaintext: who lives with whom today (BSN -> everyone at any address the
  // register places the person at today). `ambiguous` counts people placed at two addresses.
  static std::map<std::string, std::set<std::string>> FamiliesToday(int* ambiguous) {
    const koppel::Mapping brp = *LoadMapping(Mapping("brp"));
    const AddressColumns& a = *brp.address_columns;
    std::string from_column, to_column;
    for (const AttributeSpec& attribute : brp.attributes) {
      if (attribute.name == "adres_van") from_column = attribute.column;
      if (attribute.name == "adres_tot") to_column = attribute.column;
    }
    const std::string today = absl::FormatTime("%Y%m%d", absl::Now(), absl::UTCTimeZone());
    std::map<std::string, std::set<std::string>> addresses;  // bsn -> addresses today
    for (const auto& [n, row] : KeptRows("brp")) {
      BsnResult bsn = ParseBsn(row.at(*brp.bsn_column));
      AddressResult address = ParseAddressFields(row.at(a.postcode), row.at(a.number),
                                                 row.at(a.letter), row.at(a.addition));
      const std::string& from = row.at(from_column);
      const std::string& to = row.at(to_column);
      if (!bsn.ok() || !address.ok() || from > today || (!to.empty() && to <= today)) continue;
      addresses[std::string(bsn.view())].insert(std::string(address.view()));
    }
    std::map<std::string, std::set<std::string>> members;  // address -> bsns
    *ambiguous = 0;
    for (const auto& [bsn, at] : addresses) {
      for (const std::string& address : at) members[address].insert(bsn);
      if (at.size() > 1) ++*ambiguous;
    }
    std::map<std::string, std::set<std::string>> families;
    for (const auto& [bsn, at] : addresses) {
      for (const std::string& address : at) {
        families[bsn].insert(members[address].begin(), members[address].end());
      }
    }
    return families;
  }

  static std::set<std::string> Values(const std::map<uint64_t, std::string>& m) {
    std::set<std::string> out;
    for (const auto& [n, v] : m) out.insert(v);
    return out;
  }

  // Rows of an ask-flags answer: row -> the values after it.
  static std::map<uint64_t, std::vector<std::string>> Answers(const fs::path& csv) {
    std::map<uint64_t, std::vector<std::string>> rows;
    std::istringstream in(ReadFile(csv));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::vector<std::string> cells;
      std::istringstream fields(line);
      std::string cell;
      while (std::getline(fields, cell, ',')) cells.push_back(cell);
      if (cells.empty()) continue;
      const uint64_t row = std::stoull(cells[0]);
      cells.erase(cells.begin());
      rows[row] = cells;
    }
    return rows;
  }

  // The linker's store, read-only, with every covenant open whose data key the vault still
  // holds (an ended covenant's is destroyed).
  static std::unique_ptr<linker::LinkerStore> ReadStore() {
    auto store = linker::LinkerStore::OpenReadOnly(dir_->path() / "db");
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return nullptr;
    for (const std::string& id : test::StoredCovenants(dir_->path() / "db")) {
      absl::StatusOr<Secret> key =
          test::VaultDataKey(dir_->path() / "vault", dir_->path() / "master.key", id);
      if (!key.ok()) continue;
      absl::Status opened = (*store)->OpenCovenant(id, *key);
      EXPECT_TRUE(opened.ok()) << opened;
    }
    return std::move(*store);
  }

  // Every stored record (token, value) of a covenant, read from the linker's RocksDB.
  static std::vector<std::pair<std::string, std::string>> StoredRecords(
      const std::string& covenant) {
    std::vector<std::pair<std::string, std::string>> records;
    std::unique_ptr<linker::LinkerStore> store = ReadStore();
    if (store == nullptr) return records;
    for (const std::string& ds : kDatasets) {
      for (auto c = store->NewRecordCursor(covenant, ds); c->Valid(); c->Next()) {
        records.emplace_back(std::string(c->token()), std::string(c->value()));
      }
    }
    return records;
  }

  static std::map<std::string, uint64_t> RecordsPerCovenant() {
    std::map<std::string, uint64_t> counts;
    std::unique_ptr<linker::LinkerStore> store = ReadStore();
    if (store == nullptr) return counts;
    auto status = store->Status();
    EXPECT_TRUE(status.ok());
    for (const auto& s : *status) counts[s.covenant_id()] += s.records();
    // A store left behind without its key still counts, by the counts kept beside it.
    for (const std::string& id : test::StoredCovenants(dir_->path() / "db")) {
      absl::StatusOr<linker::HeldCounts> held = store->Held(id);
      if (!store->IsOpen(id) && held.ok() && held->batches > 0) counts[id] += held->records;
    }
    return counts;
  }

  static inline test::TempDir* dir_ = nullptr;
  static inline TestOfficer* officer_a_ = nullptr;
  static inline TestOfficer* officer_b_ = nullptr;
  static inline std::map<std::string, std::string> agent_keys_;
  static inline std::string signal_yaml_;
  static inline Service vault_, linker_;
};

TEST_F(GovernanceTest, TokensOfOnePersonDifferBetweenCovenants) {
  std::set<std::string> signal, stat;
  std::unique_ptr<linker::LinkerStore> store = ReadStore();
  ASSERT_NE(store, nullptr);
  for (auto c = store->NewRecordCursor("signal", "jeugdzorg"); c->Valid(); c->Next()) {
    signal.insert(std::string(c->token()));
  }
  for (auto c = store->NewRecordCursor("stat", "jeugdzorg"); c->Valid(); c->Next()) {
    stat.insert(std::string(c->token()));
  }
  ASSERT_GT(signal.size(), 40u);
  EXPECT_EQ(signal.size(), stat.size());  // the same people
  for (const std::string& t : signal) EXPECT_FALSE(stat.contains(t));

  // And the agents' own tokens differ too: the vault keeps a key per covenant.
  const fs::path d = dir_->path();
  Secret master = *ReadKeyFile(d / "master.key", 32);
  auto token_under = [&](const std::string& covenant) {
    const std::string sealed = ReadFile(d / "vault/keys" / (covenant + ".1.sealed"));
    Secret key = *Secret::Allocate(32);
    const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
    EXPECT_EQ(
        crypto_secretbox_open_easy(key.mutable_data(), in + crypto_secretbox_NONCEBYTES,
                                   sealed.size() - crypto_secretbox_NONCEBYTES, in, master.data()),
        0);
    return Tokenizer::Create(key)->Tokenize(IdentifierKind::kBsn, "111222333");
  };
  EXPECT_NE(token_under("signal"), token_under("stat"));
}

TEST_F(GovernanceTest, DeliveriesOutsideTheCovenantAreRefusedNamingTheRule) {
  // politie's export carries a field its grant does not list.
  ProcessResult politie = SealAndSend("politie", "signal", "agent-politie");
  EXPECT_NE(politie.exit_code, 0);
  EXPECT_TRUE(Contains(politie.err, "rule: parties[agent-politie].datasets[politie].fields"))
      << politie.err;
  // The agent reads the rule from the refusal's details, not from the message.
  EXPECT_TRUE(Contains(politie.err,
                       "koppel-agent: refused by rule parties.datasets.fields "
                       "(parties[agent-politie].datasets[politie].fields) of "
                       "covenant signal"))
      << politie.err;
  // A party delivering a dataset it is not granted (schuldhulp's batches sent by wijkteam).
  const fs::path replay = dir_->path() / "outbox/replay";
  fs::copy(dir_->path() / "outbox/signal/schuldhulp", replay, fs::copy_options::recursive);
  fs::remove_all(replay / "receipts");
  ProcessResult other = Send(replay, "agent-wijkteam");
  EXPECT_NE(other.exit_code, 0);
  EXPECT_TRUE(Contains(other.err, "rule: parties[agent-wijkteam].datasets")) << other.err;
  EXPECT_TRUE(Contains(other.err, "koppel-agent: refused by rule parties.datasets ")) << other.err;
  // The linker's audit log records each refusal's rule as a field of its own.
  const std::string audit = ReadFile(dir_->path() / "db/audit.log");
  EXPECT_TRUE(Contains(audit, "\"rule\":\"parties.datasets.fields\""));
  EXPECT_TRUE(Contains(audit, "\"rule\":\"parties.datasets\""));
  // A party of one covenant is not a party of the other: schuldhulp under "stat".
  ProcessResult stat = SealAndSend("schuldhulp", "stat", "agent-schuldhulp");
  EXPECT_NE(stat.exit_code, 0);
  EXPECT_TRUE(Contains(stat.err, "covenant stat")) << stat.err;
  EXPECT_EQ(RecordsPerCovenant().count("stat"), 1u);
}

TEST_F(GovernanceTest, APartySeesTheCountsOfItsOwnCovenantsOnly) {
  const fs::path d = dir_->path();
  auto covenants_seen_by = [&](const std::string& party) {
    auto credentials = MakeChannelCredentials(TlsFiles::FromPkiDir(d / "pki", party));
    EXPECT_TRUE(credentials.ok());
    auto stub = v1::LinkerService::NewStub(grpc::CreateChannel(linker_.address, *credentials));
    grpc::ClientContext context;
    v1::GetStatusResponse response;
    EXPECT_TRUE(stub->GetStatus(&context, v1::GetStatusRequest(), &response).ok());
    std::set<std::string> seen;
    for (const v1::DatasetStatus& s : response.datasets()) seen.insert(s.covenant_id());
    return seen;
  };
  EXPECT_EQ(covenants_seen_by("agent-schuldhulp"), std::set<std::string>{"signal"});
  EXPECT_EQ(covenants_seen_by("research-unit"), std::set<std::string>{"stat"});
  EXPECT_EQ(covenants_seen_by("linker").size(), 2u);
}

TEST_F(GovernanceTest, WhoElseIsInvolvedAnswersExactlyTheGroundTruth) {
  const fs::path out = dir_->path() / "flags.csv";
  ProcessResult r = AskFlags("wijkteam", "agent-wijkteam", out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::map<uint64_t, std::string> wijkteam = KeptBsns("wijkteam");
  const std::set<std::string> jeugdzorg = Values(KeptBsns("jeugdzorg"));
  const std::set<std::string> schuldhulp = Values(KeptBsns("schuldhulp"));
  int ambiguous = 0;
  const auto families = FamiliesToday(&ambiguous);
  // The household-level truth: is anyone in the client's household known there?
  auto known = [&](const std::string& bsn, const std::set<std::string>& source) {
    auto family = families.find(bsn);
    if (family == families.end()) return source.contains(bsn);
    for (const std::string& member : family->second) {
      if (source.contains(member)) return true;
    }
    return false;
  };
  const auto answers = Answers(out);
  ASSERT_EQ(answers.size(), wijkteam.size());
  int yes_jeugd = 0, yes_schuld = 0, through_family = 0;
  for (const auto& [row, bsn] : wijkteam) {
    auto it = answers.find(row);
    ASSERT_NE(it, answers.end()) << "row " << row;
    ASSERT_EQ(it->second.size(), 3u);
    EXPECT_EQ(it->second[0], "yes") << "row " << row;
    EXPECT_EQ(it->second[1], known(bsn, jeugdzorg) ? "yes" : "no") << "row " << row;
    EXPECT_EQ(it->second[2], known(bsn, schuldhulp) ? "yes" : "no") << "row " << row;
    yes_jeugd += known(bsn, jeugdzorg) ? 1 : 0;
    yes_schuld += known(bsn, schuldhulp) ? 1 : 0;
    through_family += known(bsn, jeugdzorg) && !jeugdzorg.contains(bsn) ? 1 : 0;
  }
  (void)ambiguous;          // counted as members of both households, like the linker does
  EXPECT_GT(yes_jeugd, 0);  // the ground truth has both answers
  EXPECT_GT(yes_schuld, 0);
  EXPECT_GT(through_family, 0);  // a child's youth care flags the parent's family
  EXPECT_LT(yes_jeugd, static_cast<int>(wijkteam.size()));
  // No identifier in the answer: only row numbers and yes/no.
  const std::string answer_file = ReadFile(out);
  for (const auto& [row, bsn] : wijkteam) EXPECT_FALSE(Contains(answer_file, bsn));
}

TEST_F(GovernanceTest, RecipientLearnsNothingAboutRecordsItDidNotDeliver) {
  // The recipient asks with jeugdzorg's export: people it does not know itself get no flags.
  const fs::path out = dir_->path() / "probe.csv";
  ProcessResult r = AskFlags("jeugdzorg", "agent-wijkteam", out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::set<std::string> wijkteam = Values(KeptBsns("wijkteam"));
  const std::map<uint64_t, std::string> probe = KeptBsns("jeugdzorg");
  int unknown = 0;
  for (const auto& [row, cells] : Answers(out)) {
    auto bsn = probe.find(row);
    ASSERT_NE(bsn, probe.end());
    if (wijkteam.contains(bsn->second)) continue;
    ++unknown;
    EXPECT_EQ(cells[0], "no") << "row " << row;
    for (size_t i = 1; i < cells.size(); ++i) EXPECT_NE(cells[i], "yes") << "row " << row;
  }
  EXPECT_GT(unknown, 50);
}

TEST_F(GovernanceTest, ReleasesOutsideTheCovenantAreRefused) {
  const std::string out = (dir_->path() / "refused.csv").string();
  // Another party cannot use the release.
  ProcessResult other = AskFlags("jeugdzorg", "agent-jeugdzorg", out);
  EXPECT_NE(other.exit_code, 0);
  EXPECT_TRUE(Contains(other.err, "rule: purpose_bound_releases[who-else-involved].recipient"))
      << other.err;
  EXPECT_TRUE(Contains(other.err, "koppel-agent: refused by rule purpose_bound_releases.recipient"))
      << other.err;
  // A flag outside the covenant's purpose.
  ProcessResult flag = AskFlags("wijkteam", "agent-wijkteam", out, {"--flags", "known_at_politie"});
  EXPECT_NE(flag.exit_code, 0);
  EXPECT_TRUE(Contains(flag.err, "purpose_bound_releases[who-else-involved]")) << flag.err;
  // The statistical covenant has no purpose-bound release at all.
  const fs::path d = dir_->path();
  ProcessResult stat = Agent({"ask-flags",
                              "--quiet",
                              "--allow-rejects",
                              "--mapping",
                              Mapping("wijkteam"),
                              "--input",
                              Export("wijkteam"),
                              "--vault",
                              vault_.address,
                              "--pki",
                              (d / "pki").string(),
                              "--name",
                              "agent-wijkteam",
                              "--covenant-id",
                              "stat",
                              "--release",
                              "who-else-involved",
                              "--linker",
                              linker_.address,
                              "--out",
                              out});
  EXPECT_NE(stat.exit_code, 0);
  EXPECT_TRUE(Contains(stat.err, "rule: purpose_bound_releases")) << stat.err;
}

TEST_F(GovernanceTest, AuditLogsVerifyAndReportWhatHappened) {
  const fs::path d = dir_->path();
  ASSERT_EQ(AskFlags("wijkteam", "agent-wijkteam", (d / "audited.csv").string()).exit_code, 0);
  ProcessResult linker = Koppel({"audit", "verify", "--log", (d / "db/audit.log").string(),
                                 "--signer-key", (d / "lkeys/linker-signing.key.pub").string()});
  EXPECT_EQ(linker.exit_code, 0) << linker.out << linker.err;
  ProcessResult vault = Koppel({"audit", "verify", "--log", (d / "vault/audit.log").string(),
                                "--signer-key", (d / "vault/audit-signing.key.pub").string()});
  EXPECT_EQ(vault.exit_code, 0) << vault.out << vault.err;
  // The wrong key: the log does not vouch for itself.
  ProcessResult wrong = Koppel({"audit", "verify", "--log", (d / "db/audit.log").string(),
                                "--signer-key", (d / "vault/audit-signing.key.pub").string()});
  EXPECT_NE(wrong.exit_code, 0);

  ProcessResult report =
      Koppel({"audit", "report", "--format", "json", "--log", (d / "db/audit.log").string(),
              "--log", (d / "vault/audit.log").string(), "--signer-key",
              (d / "lkeys/linker-signing.key.pub").string(), "--signer-key",
              (d / "vault/audit-signing.key.pub").string()});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const nlohmann::json r = nlohmann::json::parse(report.out);
  // The report's delivered records per covenant equal what the store holds.
  std::map<std::string, uint64_t> reported;
  for (const auto& row : r["deliveries"]) {
    reported[row["covenant"].get<std::string>()] += row["records"].get<uint64_t>();
  }
  EXPECT_EQ(reported, RecordsPerCovenant());
  // Each agent that sealed got the key of its covenant from the vault, and only that.
  std::set<std::pair<std::string, std::string>> issued;
  for (const auto& row : r["keys_issued"]) {
    if (row["kind"] == "hmac") {
      issued.emplace(row["covenant"].get<std::string>(), row["party"].get<std::string>());
    }
  }
  for (const char* ds : {"brp", "wijkteam", "jeugdzorg", "schuldhulp"}) {
    EXPECT_TRUE(issued.contains({"signal", std::string("agent-") + ds})) << ds;
  }
  EXPECT_TRUE(issued.contains({"stat", "agent-wijkteam"}));
  EXPECT_FALSE(issued.contains({"stat", "agent-schuldhulp"}));  // not a party of stat
  // The purpose-bound release this test asked for, with its numbers.
  const size_t asked = KeptBsns("wijkteam").size();
  bool found = false;
  for (const auto& row : r["purpose_bound_releases"]) {
    if (row["recipient"] == "agent-wijkteam" && row["tokens"].get<size_t>() == asked &&
        row["delivered"].get<size_t>() == asked) {
      found = true;
    }
  }
  EXPECT_TRUE(found) << r["purpose_bound_releases"].dump();
  for (const auto& log : r["logs"]) {
    EXPECT_EQ(log["verification"]["state"], "verified") << log.dump();
  }
}

TEST_F(GovernanceTest, AForgedOrAlteredEndStatementIsRefused) {
  const fs::path d = dir_->path();
  absl::StatusOr<policy::SignedCovenant> stat = policy::LoadSignedCovenant(d / "stat.yaml");
  ASSERT_TRUE(stat.ok()) << stat.status();
  absl::StatusOr<v1::EndCovenantRequest> statement =
      policy::SignEndStatement(stat->covenant, officer_a_->secret_key, "finished", absl::Now());
  ASSERT_TRUE(statement.ok()) << statement.status();
  v1::EndCovenantRequest altered = *statement;
  altered.set_reason("finished early");  // not what the officer signed
  v1::EndCovenantRequest forged = *statement;
  forged.set_officer_public_key(std::string(32, '\x01'));
  auto credentials = MakeChannelCredentials(TlsFiles::FromPkiDir(d / "pki", "research-unit"));
  ASSERT_TRUE(credentials.ok());
  auto linker = v1::LinkerService::NewStub(grpc::CreateChannel(linker_.address, *credentials));
  auto vault = v1::VaultService::NewStub(grpc::CreateChannel(vault_.address, *credentials));
  for (const auto& [request, rule] :
       {std::pair{altered, "end_statement_signature"}, std::pair{forged, "privacy_officers"}}) {
    v1::EndCovenantResponse response;
    grpc::ClientContext to_linker, to_vault;
    const grpc::Status l = linker->EndCovenant(&to_linker, request, &response);
    const grpc::Status v = vault->EndCovenant(&to_vault, request, &response);
    EXPECT_FALSE(l.ok());
    EXPECT_FALSE(v.ok());
    EXPECT_TRUE(l.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
                l.error_code() == grpc::StatusCode::PERMISSION_DENIED)
        << l.error_message();
    // Both services name the rule and the covenant in the status's error details.
    for (const grpc::Status& refused : {l, v}) {
      std::optional<v1::Refusal> refusal = RefusalOf(FromGrpcStatus(refused));
      ASSERT_TRUE(refusal.has_value()) << refused.error_message();
      EXPECT_EQ(refusal->rule(), rule) << refused.error_message();
      EXPECT_EQ(refusal->covenant_id(), "stat");
    }
  }
  EXPECT_GT(RecordsPerCovenant()["stat"], 0u);  // nothing was deleted
}

// The enum for new agents, and the old string for agents from before it (docs/api.md,
// "Compatibility").
TEST_F(GovernanceTest, TheVaultSaysItsTokenModeToAgentsOfEitherVersion) {
  auto credentials =
      MakeChannelCredentials(TlsFiles::FromPkiDir(dir_->path() / "pki", "agent-wijkteam"));
  ASSERT_TRUE(credentials.ok());
  auto vault = v1::VaultService::NewStub(grpc::CreateChannel(vault_.address, *credentials));
  unsigned char public_key[crypto_box_PUBLICKEYBYTES];
  unsigned char secret_key[crypto_box_SECRETKEYBYTES];
  crypto_box_keypair(public_key, secret_key);
  sodium_memzero(secret_key, sizeof secret_key);
  v1::GetCovenantKeyRequest request;
  request.set_covenant_id("stat");
  request.set_recipient_public_key(public_key, sizeof public_key);
  v1::GetCovenantKeyResponse response;
  grpc::ClientContext context;
  const grpc::Status status = vault->GetCovenantKey(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.token_mode(), v1::TOKEN_MODE_HMAC);
  EXPECT_EQ(response.legacy_token_mode(), "hmac");
  EXPECT_FALSE(response.sealed_key().empty());
}

// Runs after the tests above (gtest keeps the order within a suite).
TEST_F(GovernanceTest, EndingACovenantLeavesNothingDecryptable) {
  const fs::path d = dir_->path();
  const auto before = StoredRecords("signal");
  ASSERT_GT(before.size(), 100u);
  ProcessResult end =
      Koppel({"covenant", "end", "--covenant", (d / "signal.yaml").string(), "--officer-key",
              officer_a_->KeyFile(d / "akeys").string(), "--reason", "the project is finished",
              "--linker", linker_.address, "--vault", vault_.address, "--pki", (d / "pki").string(),
              "--name", "research-unit"});
  ASSERT_EQ(end.exit_code, 0) << end.out << end.err;
  EXPECT_EQ(RecordsPerCovenant().count("signal"), 0u);
  EXPECT_GT(RecordsPerCovenant()["stat"], 100u);  // the other covenant is untouched

  // Ended means refused everywhere.
  ProcessResult seal = SealAndSend("wijkteam", "signal", "agent-wijkteam");
  EXPECT_NE(seal.exit_code, 0);
  EXPECT_TRUE(Contains(seal.err, "ended")) << seal.err;
  EXPECT_TRUE(Contains(seal.err, "refused by rule retention of covenant signal")) << seal.err;
  ProcessResult ask = AskFlags("wijkteam", "agent-wijkteam", (d / "after.csv").string());
  EXPECT_NE(ask.exit_code, 0);

  // Every key left on the machine: the linker's key files and what its master key derives, the
  // agents' keys, the vault's master key and every key it still holds sealed.
  std::vector<std::vector<uint8_t>> keys;
  auto add_hex_file = [&](const fs::path& p) {
    std::string text = ReadFile(p);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    absl::StatusOr<std::vector<uint8_t>> bytes = FromHex(text);
    if (!bytes.ok() || bytes->size() < 32) return;
    keys.push_back(*bytes);
    keys.emplace_back(bytes->begin(), bytes->begin() + 32);
    if (bytes->size() == 64) keys.emplace_back(bytes->begin() + 32, bytes->end());
  };
  for (const fs::path& dir : {d / "lkeys", d / "akeys"}) {
    for (const auto& f : fs::directory_iterator(dir)) add_hex_file(f.path());
  }
  add_hex_file(d / "master.key");
  Secret master = *ReadKeyFile(d / "lkeys/linker-master.key", 32);
  for (const std::string info : {"koppel/v1/link/signal", "koppel/v1/data/signal"}) {
    Secret derived = *HkdfSha256(master.span(), {}, info, 32);
    keys.emplace_back(derived.data(), derived.data() + 32);
  }
  Secret vault_master = *ReadKeyFile(d / "master.key", 32);
  int vault_keys_left = 0;
  for (const auto& f : fs::directory_iterator(d / "vault/keys")) {
    const std::string sealed = ReadFile(f.path());
    EXPECT_FALSE(Contains(f.path().filename().string(), "signal")) << f.path();
    std::vector<uint8_t> key(sealed.size() - crypto_secretbox_NONCEBYTES -
                             crypto_secretbox_MACBYTES);
    const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
    ASSERT_EQ(crypto_secretbox_open_easy(key.data(), in + crypto_secretbox_NONCEBYTES,
                                         sealed.size() - crypto_secretbox_NONCEBYTES, in,
                                         vault_master.data()),
              0);
    keys.push_back(key);
    ++vault_keys_left;
  }
  EXPECT_GT(vault_keys_left, 0);  // "stat"'s keys remain
  size_t tried = 0;
  for (const auto& [token, value] : before) {
    if (value.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) continue;
    std::vector<uint8_t> plain(value.size());
    const auto* v = reinterpret_cast<const unsigned char*>(value.data());
    for (const std::vector<uint8_t>& key : keys) {
      if (key.size() != 32) continue;
      ++tried;
      EXPECT_NE(
          crypto_secretbox_open_easy(plain.data(), v + crypto_secretbox_NONCEBYTES,
                                     value.size() - crypto_secretbox_NONCEBYTES, v, key.data()),
          0);
    }
  }
  EXPECT_GT(tried, before.size() * 10);
  // And no file of the linker or the vault still holds a token or a ciphertext of the covenant.
  std::vector<std::string> needles;
  for (const auto& [token, value] : before) {
    needles.push_back(token);
    needles.push_back(value.substr(0, 48));
  }
  for (const fs::path& dir : {d / "db", d / "vault"}) {
    for (const auto& f : fs::recursive_directory_iterator(dir)) {
      if (!f.is_regular_file()) continue;
      const std::string bytes = ReadFile(f.path());
      for (const std::string& needle : needles) {
        ASSERT_EQ(bytes.find(needle), std::string::npos) << f.path() << " still holds data";
      }
    }
  }
  EXPECT_TRUE(Contains(ReadFile(d / "db/audit.log"), "\"event\":\"covenant_end\""));
  EXPECT_TRUE(Contains(ReadFile(d / "vault/audit.log"), "\"event\":\"key_destruction\""));
  // The ledger keeps the covenant ended across restarts.
  StopServices();
  StartServices();
  ProcessResult again = SealAndSend("wijkteam", "signal", "agent-wijkteam");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_TRUE(Contains(again.err, "ended")) << again.err;
}

TEST_F(GovernanceTest, ACovenantEndedWhileTheLinkerWasDownEndsWhenItStarts) {
  const fs::path d = dir_->path();
  TestCovenant late = StatCovenant(1, "", "");
  late.id = "late";
  ASSERT_TRUE(test::WriteSignedCovenant(d / "late.yaml", late.Yaml(), {officer_a_}).ok());
  StopServices();
  StartServices({"late.yaml"});
  ASSERT_EQ(SealAndSend("wijkteam", "late", "agent-wijkteam").exit_code, 0);
  ASSERT_GT(RecordsPerCovenant()["late"], 0u);
  linker_.process->Signal(SIGTERM);
  linker_.process->Wait();
  linker_.process.reset();
  ProcessResult end =
      Koppel({"covenant", "end", "--covenant", (d / "late.yaml").string(), "--officer-key",
              officer_a_->KeyFile(d / "akeys").string(), "--reason", "withdrawn", "--vault",
              vault_.address, "--pki", (d / "pki").string(), "--name", "research-unit"});
  ASSERT_EQ(end.exit_code, 0) << end.out << end.err;
  // The linker learns it from the vault when it starts, and deletes the data itself.
  linker_ = Start("linker", LinkerArgs({"late.yaml"}));
  ASSERT_FALSE(linker_.address.empty());
  EXPECT_EQ(RecordsPerCovenant().count("late"), 0u);
  EXPECT_TRUE(Contains(ReadFile(d / "db/audit.log"), "the vault reports the covenant ended"));
  StopServices();
}

TEST_F(GovernanceTest, ANewVersionSupersedesAndItsEndDateEndsIt) {
  const fs::path d = dir_->path();
  StopServices();
  ASSERT_TRUE(
      test::WriteSignedCovenant(d / "stat-v2.yaml", StatCovenant(2, "", "").Yaml(), {officer_a_})
          .ok());
  StartServices({"signal.yaml", "stat.yaml", "stat-v2.yaml"});
  // A batch sealed under version 1 is refused; through the vault agents get version 2.
  fs::create_directories(d / "offline");
  ASSERT_EQ(
      Agent({"keygen", "--type", "covenant", "--out", (d / "offline/cov").string()}).exit_code, 0);
  ProcessResult old = Agent(
      {"seal", "--quiet", "--allow-rejects", "--mapping", Mapping("wijkteam"), "--input",
       Export("wijkteam"), "--covenant-key", (d / "offline/cov").string(), "--covenant-version",
       "1", "--covenant-id", "stat", "--linker-public-key", (d / "lkeys/linker.key.pub").string(),
       "--signing-key", (d / "akeys/wijkteam").string(), "--outbox", (d / "outbox/old").string()});
  ASSERT_EQ(old.exit_code, 0) << old.err;
  ProcessResult sent = Send(d / "outbox/old", "agent-wijkteam");
  EXPECT_NE(sent.exit_code, 0);
  EXPECT_TRUE(Contains(sent.err, "superseded by version 2")) << sent.err;
  const uint64_t stat_records = RecordsPerCovenant()["stat"];
  EXPECT_GT(stat_records, 0u);  // data delivered under version 1 stays, bound to "stat"
  // Rolling back to version 1 alone is refused.
  StopServices();
  ProcessResult rollback = RunProcess([&] {
    std::vector<std::string> argv = VaultArgs({"stat.yaml"});
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0", "--pki", (d / "pki").string()});
    return argv;
  }());
  EXPECT_EQ(rollback.exit_code, 4);
  EXPECT_TRUE(Contains(rollback.err, "superseded by version 2")) << rollback.err;
  // A version 4 that swaps the officer who signed the earlier versions for another is refused.
  TestCovenant swapped = StatCovenant(4, "", "");
  swapped.officers = {officer_b_};
  ASSERT_TRUE(test::WriteSignedCovenant(d / "stat-v4.yaml", swapped.Yaml(), {officer_b_}).ok());
  ProcessResult takeover = RunProcess([&] {
    std::vector<std::string> argv = VaultArgs({"stat-v4.yaml"});
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0", "--pki", (d / "pki").string()});
    return argv;
  }());
  EXPECT_EQ(takeover.exit_code, 4);
  EXPECT_TRUE(Contains(takeover.err, "not signed by every officer who signed version 2"))
      << takeover.err;

  // Version 3 ended yesterday (no retention): both services end it when they start.
  ASSERT_TRUE(test::WriteSignedCovenant(
                  d / "stat-v3.yaml",
                  StatCovenant(3, test::DaysFromToday(-30), test::DaysFromToday(-1)).Yaml(),
                  {officer_a_})
                  .ok());
  StartServices({"stat-v2.yaml", "stat-v3.yaml"});
  EXPECT_EQ(RecordsPerCovenant().count("stat"), 0u);
  for (const auto& f : fs::directory_iterator(d / "vault/keys")) {
    EXPECT_FALSE(Contains(f.path().filename().string(), "stat")) << f.path();
  }
  // Both audit logs still verify across all the restarts, and record the deletions.
  StopServices();
  EXPECT_EQ(Koppel({"audit", "verify", "--log", (d / "db/audit.log").string(), "--signer-key",
                    (d / "lkeys/linker-signing.key.pub").string()})
                .exit_code,
            0);
  EXPECT_EQ(Koppel({"audit", "verify", "--log", (d / "vault/audit.log").string(), "--signer-key",
                    (d / "vault/audit-signing.key.pub").string()})
                .exit_code,
            0);
  const std::string linker_log = ReadFile(d / "db/audit.log");
  EXPECT_TRUE(Contains(linker_log, "\"event\":\"retention_deletion\""));
  EXPECT_TRUE(Contains(ReadFile(d / "vault/audit.log"), "\"event\":\"key_destruction\""));
}

TEST_F(GovernanceTest, UnsignedPartlySignedOrEditedCovenantsAreRefused) {
  const fs::path d = dir_->path();
  StopServices();
  auto start_vault = [&](const std::string& covenant) {
    return RunProcess({kBin + "/koppel-vault", "serve", "--dir", (d / "vault-refusals").string(),
                       "--master-key", (d / "master.key").string(), "--covenant",
                       (d / covenant).string(), "--listen", "127.0.0.1:0", "--pki",
                       (d / "pki").string()});
  };
  // Partly signed: one of the two officers.
  ASSERT_TRUE(test::WriteSignedCovenant(d / "partly.yaml", signal_yaml_, {officer_a_}).ok());
  ProcessResult partly = start_vault("partly.yaml");
  EXPECT_EQ(partly.exit_code, 4);
  EXPECT_TRUE(Contains(partly.err, "po-zorg")) << partly.err;
  // Unsigned: no .sig at all.
  WriteFile(d / "unsigned.yaml", signal_yaml_);
  ProcessResult unsigned_covenant = start_vault("unsigned.yaml");
  EXPECT_EQ(unsigned_covenant.exit_code, 4);
  EXPECT_TRUE(Contains(unsigned_covenant.err, "sign")) << unsigned_covenant.err;
  // Edited after signing: one more legal basis word.
  ASSERT_TRUE(
      test::WriteSignedCovenant(d / "edited.yaml", signal_yaml_, {officer_a_, officer_b_}).ok());
  std::string edited = signal_yaml_;
  edited.replace(edited.find("one family, one plan"), 20, "one family, all data");
  WriteFile(d / "edited.yaml", edited);
  ProcessResult changed = start_vault("edited.yaml");
  EXPECT_EQ(changed.exit_code, 4);
  EXPECT_TRUE(Contains(changed.err, "changed")) << changed.err;
  // `koppel policy verify` says the same to the privacy officer.
  EXPECT_EQ(Koppel({"policy", "verify", (d / "edited.yaml").string()}).exit_code, 5);
  ASSERT_TRUE(test::WriteSignedCovenant(
                  d / "expired.yaml",
                  StatCovenant(9, test::DaysFromToday(-30), test::DaysFromToday(-1)).Yaml(),
                  {officer_a_})
                  .ok());
  EXPECT_EQ(Koppel({"policy", "verify", (d / "expired.yaml").string()}).exit_code, 8);
  // Expired but still within its retention period: served for nothing, keys refused.
  TestCovenant grace = StatCovenant(1, test::DaysFromToday(-30), test::DaysFromToday(-1));
  grace.id = "grace";
  grace.retention_days_after_end = 30;
  ASSERT_TRUE(test::WriteSignedCovenant(d / "grace.yaml", grace.Yaml(), {officer_a_}).ok());
  vault_ = Start("vault", {kBin + "/koppel-vault", "serve", "--dir", (d / "vault-grace").string(),
                           "--master-key", (d / "master.key").string(), "--covenant",
                           (d / "grace.yaml").string()});
  ProcessResult expired = Agent({"seal",
                                 "--quiet",
                                 "--allow-rejects",
                                 "--mapping",
                                 Mapping("wijkteam"),
                                 "--input",
                                 Export("wijkteam"),
                                 "--vault",
                                 vault_.address,
                                 "--pki",
                                 (d / "pki").string(),
                                 "--name",
                                 "agent-wijkteam",
                                 "--covenant-id",
                                 "grace",
                                 "--linker-public-key",
                                 (d / "lkeys/linker.key.pub").string(),
                                 "--signing-key",
                                 (d / "akeys/wijkteam").string(),
                                 "--outbox",
                                 (d / "outbox/grace").string()});
  EXPECT_NE(expired.exit_code, 0);
  EXPECT_TRUE(Contains(expired.err, "rule: valid_until")) << expired.err;
  EXPECT_TRUE(Contains(expired.err, "koppel-agent: refused by rule valid_until of covenant grace"))
      << expired.err;
  StopServices();
}

}  // namespace
}  // namespace koppel
