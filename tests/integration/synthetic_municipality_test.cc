// The agent over the synthetic municipality, the way the demo runs it: `check` must report
// exactly the generator's injected errors for every export, and nothing the demo writes outside
// the exports and the ground truth may contain a plaintext BSN or address of the population.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/testing/plaintext_scanner.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using test::Leak;
using test::PlaintextScanner;
using test::ProcessResult;
using test::RunProcess;
using test::TempDir;

const std::string kBin = KOPPEL_BIN_DIR;

nlohmann::json ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(SyntheticMunicipalityTest, CheckReportsExactlyTheInjectedErrors) {
  TempDir dir;
  ProcessResult synth =
      RunProcess({kBin + "/koppel-synth", "--out", (dir / "m").string(), "--seed", "7"});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  nlohmann::json truth = ReadJson(dir / "m" / "truth" / "exports.json");
  ASSERT_GE(truth["exports"].size(), 8u);
  std::set<std::string> reasons_seen;
  for (const auto& [dataset, expected] : truth["exports"].items()) {
    SCOPED_TRACE(dataset);
    ProcessResult check = RunProcess(
        {kBin + "/koppel-agent", "check", "--format", "json", "--quiet", "--allow-rejects",
         "--mapping", (dir / "m" / expected["mapping"].get<std::string>()).string(), "--input",
         (dir / "m" / expected["file"].get<std::string>()).string()});
    ASSERT_EQ(check.exit_code, 0) << check.err;
    nlohmann::json got = nlohmann::json::parse(check.out);
    EXPECT_EQ(got["dataset"], dataset);
    EXPECT_EQ(got["rows"], expected["rows"]);
    EXPECT_EQ(got["valid"], expected["valid"]);
    EXPECT_EQ(got["duplicates"], expected["duplicates"]);
    EXPECT_EQ(got["rejected"], expected["rejected"]);
    EXPECT_EQ(got["missing"], expected["missing"]);
    for (const auto& [reason, n] : expected["rejected"].items()) reasons_seen.insert(reason);
  }
  // The generator exercises the agent's whole rule set, not a convenient corner of it.
  EXPECT_GE(reasons_seen.size(), 12u);
}

TEST(SyntheticMunicipalityTest, DemoWritesNoPlaintextIdentifierOutsideExportsAndTruth) {
  TempDir dir;
  ProcessResult demo = RunProcess(
      {KOPPEL_SOURCE_DIR "/scripts/demo", "--workdir", dir.path().string(), "--skip-build"});
  ASSERT_EQ(demo.exit_code, 0) << demo.out << demo.err;
  // The documents people read (issue 17), scanned below with the rest: the study's report and
  // the officers' audit report and covenant.
  const std::filesystem::path report = dir / "release" / "release.html";
  for (const std::filesystem::path& document :
       {report, dir / "audit-report.html", dir / "covenant-almelo-statistical.html"}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(document)) << document;
  }
  EXPECT_TRUE(test::Contains(demo.out, "HTML report: " + report.string())) << demo.out;
  std::filesystem::path municipality = dir / "municipality";
  PlaintextScanner scanner =
      PlaintextScanner::FromPopulation(municipality / "truth" / "population.csv");
  ASSERT_GT(scanner.bsn_count(), 10000u);
  ASSERT_GT(scanner.postcode_count(), 100u);

  // The scanner must find what it looks for: the exports are full of identifiers.
  std::vector<Leak> control;
  size_t control_files = 0;
  scanner.ScanTree(municipality / "exports", {}, &control, &control_files);
  ASSERT_GT(control.size(), 1000u) << "the scanner does not recognise the exports' identifiers";

  std::vector<Leak> leaks;
  size_t files = 0;
  // The dialect exports hold the same people (koppel-synth --dialects), and the municipality's
  // postcode list is public reference data; the drafted mapping and the reject reports beside
  // them are scanned.
  const std::filesystem::path dialects = dir / "dialects";
  ASSERT_TRUE(std::filesystem::exists(dialects / "zorg-drafted.yaml"));
  scanner.ScanTree(dir.path(),
                   {municipality / "exports", municipality / "truth", dialects / "exports",
                    dialects / "truth", dialects / "mappings" / "postcodes.csv"},
                   &leaks, &files);
  scanner.ScanText(demo.out, "demo stdout", &leaks);
  scanner.ScanText(demo.err, "demo stderr", &leaks);
  EXPECT_GT(files, 20u) << "the demo wrote fewer files than expected";
  for (const Leak& leak : leaks) {
    ADD_FAILURE() << leak.kind << " found in " << leak.where << " at offset " << leak.offset;
  }
}

}  // namespace
}  // namespace koppel
