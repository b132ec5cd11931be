#include "tests/testing/delivered_municipality.h"

#include <signal.h>
#include <sys/stat.h>

#include <stdexcept>

#include "core/hmac.h"
#include "core/key_file.h"
#include "core/status_macros.h"
#include "linker/analysis/analysis_spec.h"
#include "linker/analysis/prices.h"
#include "linker/linker_store.h"
#include "linker/store_record_source.h"
#include "tests/testing/covenant_files.h"
#include "tests/testing/port_file.h"

namespace koppel::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kBin = KOPPEL_BIN_DIR;
const std::string kSource = KOPPEL_SOURCE_DIR;

void Check(const ProcessResult& result, const std::string& what) {
  if (result.exit_code != 0) {
    throw std::runtime_error(what + " failed (" + std::to_string(result.exit_code) +
                             "): " + result.err);
  }
}

ProcessResult Agent(std::vector<std::string> args) {
  args.insert(args.begin(), kBin + "/koppel-agent");
  return RunProcess(args);
}

}  // namespace

DeliveredMunicipality::DeliveredMunicipality(
    const std::vector<std::string>& synth_flags,
    const std::vector<std::pair<std::string, std::string>>& extra_specs) {
  const fs::path d = dir_.path();
  std::vector<std::string> synth = {kBin + "/koppel-synth", "--out", (d / "m").string()};
  synth.insert(synth.end(), synth_flags.begin(), synth_flags.end());
  Check(RunProcess(synth), "koppel-synth");
  exports_ = json::parse(ReadFile(d / "m/truth/exports.json"));
  study_ = json::parse(ReadFile(d / "m/truth/study.json"));
  std::vector<std::string> pki = {kSource + "/scripts/pki", "--out",
                                  (d / "pki").string(),     "linker",
                                  "research-unit",          "other-researcher"};
  for (const auto& [dataset, e] : exports_["exports"].items()) pki.push_back("agent-" + dataset);
  Check(RunProcess(pki), "scripts/pki");
  Check(RunProcess({kBin + "/koppel-linker", "keygen", "--out", (d / "lkeys").string()}),
        "koppel-linker keygen");
  fs::create_directory(d / "akeys");
  ::chmod((d / "akeys").c_str(), 0700);
  Check(Agent({"keygen", "--type", "covenant", "--out", (d / "akeys/cov").string()}), "keygen");
  const TestOfficer officer = TestOfficer::Create("po-analysis");
  TestCovenant covenant;
  covenant.id = kCovenant;
  covenant.officers = {&officer};
  covenant.parties = {TestParty::Service("linker", "linker"), TestParty::Service("vault", "vault"),
                      TestParty::Service("research-unit", "research_unit"),
                      TestParty::Service("other-researcher", "research_unit")};
  for (const auto& [dataset, e] : exports_["exports"].items()) {
    const std::string key = (d / "akeys" / dataset).string();
    Check(Agent({"keygen", "--type", "signing", "--out", key}), "keygen");
    std::string pk = ReadFile(key + ".pub");
    pk.pop_back();
    const fs::path mapping = d / "m" / e["mapping"].get<std::string>();
    absl::StatusOr<TestDataset> grant = DatasetFromMapping(mapping);
    if (!grant.ok()) throw std::runtime_error(std::string(grant.status().message()));
    covenant.parties.push_back(TestParty::DataHolder("agent-" + dataset, pk, {*grant}));
    Check(Agent({"seal", "--quiet", "--allow-rejects", "--mapping", mapping.string(), "--input",
                 (d / "m" / e["file"].get<std::string>()).string(), "--covenant-key",
                 (d / "akeys/cov").string(), "--linker-public-key",
                 (d / "lkeys/linker.key.pub").string(), "--signing-key", key, "--covenant-id",
                 kCovenant, "--outbox", (d / "outbox" / dataset).string()}),
          "seal " + dataset);
  }
  std::vector<TestApproval> approvals = {
      {"almelo-mpg", kSource + "/analyses/almelo-mpg.yaml",
       kSource + "/prices/unit_costs_2014.csv"},
      {"cohort-monitor", kSource + "/analyses/cohort-monitor.yaml",
       kSource + "/prices/unit_costs_2014.csv"},
      {"cost-benefit", kSource + "/analyses/cost-benefit.yaml",
       kSource + "/prices/cost_benefit_2014.csv"}};
  fs::create_directories(d / "analyses");
  // Specs koppel-synth wrote for its own output (the snapshot study of --dialects).
  if (fs::exists(d / "m/analyses")) {
    for (const fs::directory_entry& entry : fs::directory_iterator(d / "m/analyses")) {
      absl::StatusOr<analysis::AnalysisSpec> spec =
          analysis::ParseAnalysisSpec(ReadFile(entry.path()), entry.path().string());
      if (!spec.ok()) throw std::runtime_error(std::string(spec.status().message()));
      approvals.push_back({spec->name, entry.path(), {}});
    }
  }
  for (const auto& [file, text] : extra_specs) {
    WriteFile(d / "analyses" / file, text);
    absl::StatusOr<analysis::AnalysisSpec> spec = analysis::ParseAnalysisSpec(text, file);
    if (!spec.ok()) throw std::runtime_error(std::string(spec.status().message()));
    const fs::path prices =
        spec->prices_file.empty() ? fs::path() : d / "analyses" / spec->prices_file;
    approvals.push_back({spec->name, d / "analyses" / file, prices});
  }
  covenant.analysis_yaml = "recipients: [research-unit]\n" + ApprovedYaml(approvals) +
                           "exploratory: perturb\n"
                           "table_kinds: [counts, overlap, costs, sensitivity, cost_benefit]\n"
                           "dimensions: [area, household_type]\nmeasures: [count, percent, cost]\n"
                           "disclosure: {min_cell: 10, dominance: {n: 1, k: 0.8}}\n";
  if (absl::Status s = WriteSignedCovenant(d / "covenant.yaml", covenant.Yaml(), {&officer});
      !s.ok()) {
    throw std::runtime_error(std::string(s.message()));
  }
  StartLinker();
  for (const auto& [dataset, e] : exports_["exports"].items()) {
    Check(Agent({"send", "--quiet", "--outbox", (d / "outbox" / dataset).string(), "--linker",
                 address_, "--pki", (d / "pki").string(), "--name", "agent-" + dataset,
                 "--linker-signing-key", (d / "lkeys/linker-signing.key.pub").string()}),
          "send " + dataset);
  }
}

DeliveredMunicipality::~DeliveredMunicipality() = default;

void DeliveredMunicipality::StartLinker() {
  const fs::path d = dir_.path();
  fs::remove(d / "port");
  linker_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{kBin + "/koppel-linker", "serve", "--listen", "127.0.0.1:0",
                               "--port-file", (d / "port").string(), "--pki", (d / "pki").string(),
                               "--data", (d / "db").string(), "--keys", (d / "lkeys").string(),
                               "--covenant", (d / "covenant.yaml").string()},
      (d / "linker.log").string());
  absl::StatusOr<std::string> address = WaitForPortFile(d / "port", *linker_);
  if (!address.ok()) {
    throw std::runtime_error("linker did not start: " + address.status().ToString() + "\n" +
                             ReadFile(d / "linker.log"));
  }
  address_ = *std::move(address);
}

void DeliveredMunicipality::StopLinker() {
  linker_->Signal(SIGTERM);
  linker_->Wait();
  linker_.reset();
}

ProcessResult DeliveredMunicipality::DeliverAgain(const std::string& dataset,
                                                  const std::vector<std::string>& seal_flags,
                                                  const std::string& outbox) const {
  const fs::path d = dir_.path();
  const json& e = exports_["exports"][dataset];
  std::vector<std::string> seal = {"seal",
                                   "--quiet",
                                   "--allow-rejects",
                                   "--mapping",
                                   (d / "m" / e["mapping"].get<std::string>()).string(),
                                   "--input",
                                   (d / "m" / e["file"].get<std::string>()).string(),
                                   "--covenant-key",
                                   (d / "akeys/cov").string(),
                                   "--linker-public-key",
                                   (d / "lkeys/linker.key.pub").string(),
                                   "--signing-key",
                                   (d / "akeys" / dataset).string(),
                                   "--covenant-id",
                                   kCovenant,
                                   "--outbox",
                                   (d / outbox).string()};
  seal.insert(seal.end(), seal_flags.begin(), seal_flags.end());
  ProcessResult sealed = Agent(seal);
  if (sealed.exit_code != 0) return sealed;
  return Agent({"send", "--quiet", "--outbox", (d / outbox).string(), "--linker", address_, "--pki",
                (d / "pki").string(), "--name", "agent-" + dataset, "--linker-signing-key",
                (d / "lkeys/linker-signing.key.pub").string()});
}

ProcessResult DeliveredMunicipality::Query(const std::string& spec, const std::string& format,
                                           const std::string& out, const std::string& name,
                                           const std::vector<std::string>& flags) const {
  std::vector<std::string> args = {kBin + "/koppel", "query",  "--spec", spec,
                                   "--format",       format,   "--out",  out,
                                   "--linker",       address_, "--pki",  (dir() / "pki").string(),
                                   "--name",         name};
  args.insert(args.end(), flags.begin(), flags.end());
  return RunProcess(args);
}

absl::StatusOr<analysis::AnalysisResult> DeliveredMunicipality::RunEngine(
    const std::string& spec_path, const analysis::EngineOptions& options) const {
  ASSIGN_OR_RETURN(analysis::AnalysisSpec spec,
                   analysis::ParseAnalysisSpec(ReadFile(spec_path), spec_path));
  analysis::PriceTable prices;
  if (!spec.prices_file.empty()) {
    const fs::path prices_path = fs::path(spec_path).parent_path() / spec.prices_file;
    ASSIGN_OR_RETURN(prices, analysis::ParsePrices(ReadFile(prices_path), prices_path.string()));
    RETURN_IF_ERROR(analysis::ResolveCostBenefitPrices(&spec, prices));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<linker::LinkerStore> store,
                   linker::LinkerStore::OpenReadOnly(dir() / "db"));
  ASSIGN_OR_RETURN(Secret master, ReadKeyFile(dir() / "lkeys/linker-master.key", 32));
  ASSIGN_OR_RETURN(Secret data_key,
                   HkdfSha256(master.span(), {}, std::string("koppel/v1/data/") + kCovenant, 32));
  RETURN_IF_ERROR(store->OpenCovenant(kCovenant, data_key));
  const linker::StoreRecordSource source(store.get(), kCovenant);
  analysis::AnalysisEngine engine(&source);
  return engine.Run(spec, prices, options);
}

}  // namespace koppel::test
