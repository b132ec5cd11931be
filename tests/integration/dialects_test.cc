// The agent over the dialect exports of `koppel-synth --dialects` (Windows-1252, ISO-8859-15 and
// UTF-16 files, ISO date-times, codes in any capitalisation, a snapshot register with a postcode
// list): each is read natively, `check` reports exactly the generator's truth, reject report
// lines included, a wrong declared encoding refuses the file naming a line, and nothing the
// run writes outside the exports, mappings and truth holds an identifier.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "linker/analysis/analysis_spec.h"
#include "tests/testing/plaintext_scanner.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

namespace fs = std::filesystem;
using test::Leak;
using test::PlaintextScanner;
using test::ProcessResult;
using test::ReadFile;
using test::RunProcess;
using test::TempDir;
using test::WriteFile;

const std::string kBin = KOPPEL_BIN_DIR;

// The data lines of a reject report (header dropped), ordered by line number: the agent may
// write duplicates after the rows it rejected on the way.
std::vector<std::string> ReportLines(const fs::path& path) {
  std::istringstream in(ReadFile(path));
  std::string line;
  std::getline(in, line);
  std::vector<std::pair<long, std::string>> rows;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t comma = line.find(',');
    rows.emplace_back(std::stol(line.substr(comma + 1)), line);
  }
  std::sort(rows.begin(), rows.end());
  std::vector<std::string> out;
  for (auto& [n, text] : rows) out.push_back(std::move(text));
  return out;
}

class DialectsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    ProcessResult synth = RunProcess({kBin + "/koppel-synth", "--out", Municipality().string(),
                                      "--seed", "7", "--persons", "20000", "--dialects"});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
    std::ifstream in(Municipality() / "truth" / "exports.json");
    truth_ = new nlohmann::json(nlohmann::json::parse(in));
  }
  static void TearDownTestSuite() {
    delete truth_;
    delete dir_;
  }
  static fs::path Municipality() { return dir_->path() / "m"; }
  static fs::path Run() { return dir_->path() / "run"; }

  static TempDir* dir_;
  static nlohmann::json* truth_;
};
TempDir* DialectsTest::dir_ = nullptr;
nlohmann::json* DialectsTest::truth_ = nullptr;

TEST_F(DialectsTest, CheckReadsEveryDialectAndReportsExactlyTheTruth) {
  ASSERT_TRUE((*truth_)["dialects"].get<bool>());
  fs::create_directories(Run());
  std::vector<Leak> leaks;
  const PlaintextScanner population =
      PlaintextScanner::FromPopulation(Municipality() / "truth" / "population.csv");
  const PlaintextScanner outsiders =
      PlaintextScanner::FromPopulation(Municipality() / "truth" / "outsiders.csv");
  ASSERT_GT(outsiders.bsn_count(), 0u);
  for (const auto& [dataset, expected] : (*truth_)["exports"].items()) {
    SCOPED_TRACE(dataset);
    const fs::path rejects = Run() / (dataset + "-rejects.csv");
    ProcessResult check = RunProcess(
        {kBin + "/koppel-agent", "check", "--format", "json", "--quiet", "--allow-rejects",
         "--mapping", (Municipality() / expected["mapping"].get<std::string>()).string(), "--input",
         (Municipality() / expected["file"].get<std::string>()).string(), "--rejects",
         rejects.string()});
    ASSERT_EQ(check.exit_code, 0) << check.err;
    const nlohmann::json got = nlohmann::json::parse(check.out);
    EXPECT_EQ(got["rows"], expected["rows"]);
    EXPECT_EQ(got["valid"], expected["valid"]);
    EXPECT_EQ(got["duplicates"], expected["duplicates"]);
    EXPECT_EQ(got["rejected"], expected["rejected"]);
    EXPECT_EQ(got["missing"], expected["missing"]);
    EXPECT_EQ(ReportLines(rejects),
              ReportLines(Municipality() / expected["rejects"].get<std::string>()));
    for (const PlaintextScanner* scanner : {&population, &outsiders}) {
      scanner->ScanText(check.out, dataset + " check stdout", &leaks);
      scanner->ScanText(check.err, dataset + " check stderr", &leaks);
    }
  }
  // The register's persons outside the municipality are refused by the postcode list.
  EXPECT_EQ((*truth_)["exports"]["brp"]["rejected"]["postcode_unknown"].get<size_t>(),
            outsiders.bsn_count());

  size_t files = 0;
  for (const PlaintextScanner* scanner : {&population, &outsiders}) {
    scanner->ScanTree(Run(), {}, &leaks, &files);
  }
  EXPECT_GE(files, 2 * (*truth_)["exports"].size());
  for (const Leak& leak : leaks) {
    ADD_FAILURE() << leak.kind << " found in " << leak.where << " at offset " << leak.offset;
  }
}

TEST_F(DialectsTest, WrongDeclaredEncodingRefusesTheFileNamingALine) {
  const nlohmann::json& zorg = (*truth_)["exports"]["zorg"];
  std::string mapping = ReadFile(Municipality() / zorg["mapping"].get<std::string>());
  const std::string declared = "encoding: windows-1252";
  const size_t at = mapping.find(declared);
  ASSERT_NE(at, std::string::npos);
  mapping.replace(at, declared.size(), "encoding: utf-8");
  const fs::path wrong = Municipality() / "mappings" / "zorg-declared-utf8.yaml";
  WriteFile(wrong, mapping);
  ProcessResult check = RunProcess({kBin + "/koppel-agent", "check", "--quiet", "--allow-rejects",
                                    "--mapping", wrong.string(), "--input",
                                    (Municipality() / zorg["file"].get<std::string>()).string()});
  fs::remove(wrong);
  EXPECT_EQ(check.exit_code, 5) << check.err;
  EXPECT_TRUE(std::regex_search(check.err, std::regex(R"(:[0-9]+:[0-9]+|line [0-9]+)")))
      << check.err;
  std::vector<Leak> leaks;
  PlaintextScanner::FromPopulation(Municipality() / "truth" / "population.csv")
      .ScanText(check.err, "stderr", &leaks);
  EXPECT_TRUE(leaks.empty());
}

// The study spec written next to the mappings reads the snapshot register as docs/analysis.md
// describes it.
TEST_F(DialectsTest, SnapshotStudySpecParses) {
  const fs::path path = Municipality() / "analyses" / "almelo-mpg-snapshot.yaml";
  absl::StatusOr<analysis::AnalysisSpec> spec =
      analysis::ParseAnalysisSpec(ReadFile(path), path.string());
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_TRUE(spec->snapshot.has_value());
  EXPECT_EQ(*spec->snapshot, absl::CivilDay(2014, 12, 31));
  EXPECT_EQ(spec->moves_attribute, "verhuizingen");
  EXPECT_TRUE(spec->valid_from_attribute.empty());
  ASSERT_EQ(spec->reference_dates.size(), 1u);
}

}  // namespace
}  // namespace koppel
