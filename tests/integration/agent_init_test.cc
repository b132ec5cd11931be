// `koppel-agent init` over every export of the synthetic municipality (and its dialects, when
// koppel-synth writes them): each draft loads, maps the same identifier columns as the
// generator's own mapping, lets `check` read the export (exit 0, or 1 for the injected
// rejects), and neither the draft nor what init prints holds a BSN or postcode of the export.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "core/mapping.h"
#include "tests/testing/plaintext_scanner.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using testing::Leak;
using testing::PlaintextScanner;
using testing::ProcessResult;
using testing::RunProcess;
using testing::TempDir;

const std::string kBin = KOPPEL_BIN_DIR;

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// An export's text for the scanner: UTF-16 (the dialect with a byte-order mark) with its NUL
// bytes dropped, which leaves the ASCII digits and letters identifiers are made of.
std::string ExportText(const std::filesystem::path& path) {
  std::string text = ReadText(path);
  if (text.starts_with("\xFF\xFE") || text.starts_with("\xFE\xFF")) std::erase(text, '\0');
  return text;
}

// Exports spell BSNs as "4613.12.748" or "525 895 383": joins digit groups separated by one
// dot, blank or dash, so that the scanner (which looks for nine digits standing alone) finds a
// BSN in any of those spellings.
std::string DigitsJoined(const std::string& text) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '.' || c == ' ' || c == '-') && i > 0 && i + 1 < text.size() && digit(text[i - 1]) &&
        digit(text[i + 1])) {
      continue;
    }
    out += c;
  }
  return out;
}

// Scans `text` as written and with its digit groups joined.
void Scan(const PlaintextScanner& scanner, const std::string& text, const std::string& label,
          std::vector<Leak>* leaks) {
  scanner.ScanText(text, label, leaks);
  scanner.ScanText(DigitsJoined(text), label + " (digit groups joined)", leaks);
}

bool SynthHasDialects() {
  return RunProcess({kBin + "/koppel-synth", "--help"}).out.find("--dialects") != std::string::npos;
}

void DraftAndCheckEveryExport(const std::filesystem::path& dir, bool dialects) {
  std::vector<std::string> synth = {kBin + "/koppel-synth", "--out", (dir / "m").string(),
                                    "--persons", "3000"};
  if (dialects) synth.push_back("--dialects");
  ProcessResult generated = RunProcess(synth);
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  PlaintextScanner scanner =
      PlaintextScanner::FromPopulation(dir / "m" / "truth" / "population.csv");
  ASSERT_GT(scanner.bsn_count(), 1000u);

  size_t exports = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "m" / "exports")) {
    const std::filesystem::path input = entry.path();
    const std::string name = input.stem().string();
    SCOPED_TRACE(name);
    ++exports;
    // The scanner recognises the export's identifiers (control), so silence below means none.
    std::vector<Leak> control;
    Scan(scanner, ExportText(input), name, &control);
    EXPECT_FALSE(control.empty());

    const std::filesystem::path draft = dir / (name + ".yaml");
    ProcessResult init = RunProcess(
        {kBin + "/koppel-agent", "init", "--input", input.string(), "--out", draft.string()});
    ASSERT_EQ(init.exit_code, 0) << init.err;
    std::vector<Leak> leaks;
    Scan(scanner, ReadText(draft), draft.filename().string(), &leaks);
    Scan(scanner, init.out, "init stdout", &leaks);
    Scan(scanner, init.err, "init stderr", &leaks);
    for (const Leak& leak : leaks) {
      ADD_FAILURE() << leak.kind << " in " << leak.where << " at offset " << leak.offset;
    }

    absl::StatusOr<Mapping> drafted = LoadMapping(draft);
    ASSERT_TRUE(drafted.ok()) << drafted.status();
    absl::StatusOr<Mapping> reference = LoadMapping(dir / "m" / "mappings" / (name + ".yaml"));
    ASSERT_TRUE(reference.ok()) << reference.status();
    EXPECT_EQ(drafted->bsn_column, reference->bsn_column);
    ASSERT_EQ(drafted->address_columns.has_value(), reference->address_columns.has_value());
    if (drafted->address_columns) {
      const AddressColumns& got = *drafted->address_columns;
      const AddressColumns& want = *reference->address_columns;
      EXPECT_EQ(got.postcode, want.postcode);
      EXPECT_EQ(got.house, want.house);
      EXPECT_EQ(got.number, want.number);
      EXPECT_EQ(got.letter, want.letter);
      EXPECT_EQ(got.addition, want.addition);
    }
    EXPECT_EQ(drafted->csv.delimiter, reference->csv.delimiter);

    ProcessResult check = RunProcess({kBin + "/koppel-agent", "check", "--quiet", "--mapping",
                                      draft.string(), "--input", input.string()});
    EXPECT_TRUE(check.exit_code == 0 || check.exit_code == 1)
        << "exit " << check.exit_code << ": " << check.err;
  }
  EXPECT_GE(exports, 10u);
}

TEST(AgentInitTest, DraftsMappingsThatCheckReadsForEverySyntheticExport) {
  TempDir dir;
  DraftAndCheckEveryExport(dir.path(), false);
}

TEST(AgentInitTest, DraftsMappingsThatCheckReadsForEverySyntheticDialect) {
  if (!SynthHasDialects()) GTEST_SKIP() << "koppel-synth writes no dialects";
  TempDir dir;
  DraftAndCheckEveryExport(dir.path(), true);
}

TEST(AgentInitTest, RefusesAnExportWithoutAHeaderAndKeepsAnExistingMapping) {
  TempDir dir;
  const std::filesystem::path input = dir / "export.csv";
  {
    std::ofstream out(input);
    out << "111222333;2014\n123456782;2013\n";
  }
  ProcessResult init = RunProcess({kBin + "/koppel-agent", "init", "--input", input.string(),
                                   "--out", (dir / "m.yaml").string()});
  EXPECT_EQ(init.exit_code, 5) << init.err;
  EXPECT_EQ(init.err.find("111222333"), std::string::npos) << init.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "m.yaml"));

  { std::ofstream(dir / "kept.yaml") << "mine\n"; }
  ProcessResult kept = RunProcess({kBin + "/koppel-agent", "init", "--input", input.string(),
                                   "--out", (dir / "kept.yaml").string()});
  EXPECT_EQ(kept.exit_code, 3) << kept.err;
  EXPECT_EQ(ReadText(dir / "kept.yaml"), "mine\n");

  ProcessResult usage = RunProcess({kBin + "/koppel-agent", "init", "--input", input.string(),
                                    "--out", (dir / "u.yaml").string(), "--dataset", "Bad Name"});
  EXPECT_EQ(usage.exit_code, 2) << usage.err;

  // A FIFO is refused at once (exit 3, a file that cannot be read), never waited on.
  const std::filesystem::path fifo = dir / "fifo.csv";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  ProcessResult piped = RunProcess({kBin + "/koppel-agent", "init", "--input", fifo.string(),
                                    "--out", (dir / "f.yaml").string()});
  EXPECT_EQ(piped.exit_code, 3) << piped.err;
}

}  // namespace
}  // namespace koppel
