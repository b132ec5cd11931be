// `koppel-agent init` over every export of the synthetic municipality (and its dialects, when
// koppel-synth writes them): each draft loads, maps the same identifier columns as the
// generator's own mapping, lets `check` read the export (exit 0, or 1 for the injected
// rejects), and neither the draft nor what init prints holds a BSN, postcode or date of birth
// of the export; a crafted export of one person's identifying details shows none of them.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/mapping.h"
#include "tests/testing/plaintext_scanner.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using test::Leak;
using test::PlaintextScanner;
using test::ProcessResult;
using test::ReadFile;
using test::RunProcess;
using test::TempDir;

const std::string kBin = KOPPEL_BIN_DIR;

// An export's text for the scanner: UTF-16 (the dialect with a byte-order mark) with its NUL
// bytes dropped, which leaves the ASCII digits and letters identifiers are made of.
std::string ExportText(const std::filesystem::path& path) {
  std::string text = ReadFile(path);
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

// The values of the column whose header has `word`, in an export with a header line and no
// quoted fields (the BRP export).
std::vector<std::string> ColumnValues(const std::string& text, std::string_view word) {
  std::vector<std::string> lines = absl::StrSplit(text, absl::ByAnyChar("\r\n"), absl::SkipEmpty());
  if (lines.empty()) return {};
  char delimiter = ';';
  size_t most = 0;
  for (char d : {';', ',', '\t', '|'}) {
    const size_t n = static_cast<size_t>(std::count(lines[0].begin(), lines[0].end(), d));
    if (n > most) {
      most = n;
      delimiter = d;
    }
  }
  std::vector<std::string> header = absl::StrSplit(lines[0], delimiter);
  auto column = std::find_if(header.begin(), header.end(), [&](const std::string& h) {
    return h.find(word) != std::string::npos;
  });
  if (column == header.end()) return {};
  const size_t index = static_cast<size_t>(column - header.begin());
  std::vector<std::string> values;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> fields = absl::StrSplit(lines[i], delimiter);
    if (index < fields.size()) values.push_back(fields[index]);
  }
  return values;
}

// The spellings of the exact dates of birth of the BRP export (yyyymmdd there) that a draft
// could show: as written, yyyy-mm-dd and dd-mm-yyyy. The ISO spelling of 1 January and
// 31 December is left to the period check (the period is whole years).
std::vector<std::string> BirthDateSpellings(const std::filesystem::path& brp) {
  std::vector<std::string> spellings;
  for (const std::string& date : ColumnValues(ExportText(brp), "Geboortedatum")) {
    if (date.size() != 8) continue;
    const std::string y = date.substr(0, 4), m = date.substr(4, 2), d = date.substr(6, 2);
    spellings.push_back(date);
    spellings.push_back(d + "-" + m + "-" + y);
    if (m + d != "0101" && m + d != "1231") spellings.push_back(y + "-" + m + "-" + d);
  }
  return spellings;
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
  const std::vector<std::string> birth_dates =
      BirthDateSpellings(dir / "m" / "exports" / "brp.csv");
  ASSERT_GT(birth_dates.size(), 3000u);

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
    Scan(scanner, ReadFile(draft), draft.filename().string(), &leaks);
    Scan(scanner, init.out, "init stdout", &leaks);
    Scan(scanner, init.err, "init stderr", &leaks);
    for (const Leak& leak : leaks) {
      ADD_FAILURE() << leak.kind << " in " << leak.where << " at offset " << leak.offset;
    }
    const std::string written = ReadFile(draft) + init.out + init.err;
    for (const std::string& date : birth_dates) {
      const size_t at = written.find(date);
      if (at != std::string::npos) ADD_FAILURE() << "a date of birth at offset " << at;
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
    EXPECT_TRUE(drafted->period_from.ends_with("-01-01")) << "whole years only";
    EXPECT_TRUE(drafted->period_to.ends_with("-12-31")) << "whole years only";

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

TEST(AgentInitTest, WritesNoneOfAPersonsIdentifyingDetails) {
  // Twelve rows of identifying details, each value frequent enough (--min-cell 3) to pass for a
  // category code, beside one real category; row 7 is someone born long before the others.
  const std::vector<std::string> kBsns = {"775723563", "320081175", "953154002", "614610606",
                                          "324332361", "696198009", "158968219", "941087712",
                                          "058873983", "329270837", "123456782", "111222333"};
  const std::vector<std::string> kLetters = {"QJ", "XK", "VQ"};
  const std::vector<std::string> kSurnames = {"Veenstra", "Bakhuizen", "Oosterhof"};
  TempDir dir;
  const std::filesystem::path input = dir / "export.csv";
  std::vector<std::string> identifying;
  {
    std::ofstream out(input);
    out << "bsn;gebdatum;gebjaar;pc4;pcletters;nummer;zip;ouder_id;naam;zorgsoort\n";
    for (size_t r = 0; r < kBsns.size(); ++r) {
      const std::vector<std::string> row = {
          kBsns[r],
          r == 7 ? "03-04-1901" : fmt::format("{:02d}-0{}-196{}", 11 + r, 1 + r % 9, r % 3),
          r == 7   ? "1899"
          : r == 8 ? "2031"
                   : fmt::format("196{}", r % 3),
          std::to_string(7611 + r % 3),
          kLetters[r % 3],
          std::to_string(231 + r % 3),
          fmt::format("NL{}{}", 7611 + r % 3, kLetters[r % 3]),
          fmt::format("A{}", 31415926 + r % 3),
          kSurnames[r % 3]};
      out << absl::StrJoin(row, ";") << ";" << (r % 2 ? "SGGZ" : "BGGZ") << "\n";
      identifying.insert(identifying.end(), row.begin(), row.end());
    }
  }
  identifying.insert(identifying.end(), {"1901", "04-03", "03-04"});
  const std::filesystem::path draft = dir / "draft.yaml";
  ProcessResult init = RunProcess({kBin + "/koppel-agent", "init", "--input", input.string(),
                                   "--out", draft.string(), "--min-cell", "3"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const std::string written = ReadFile(draft) + init.out + init.err;
  for (const std::string& value : identifying) {
    if (value.starts_with("196") && value.size() == 4) continue;  // a year many were born in
    EXPECT_EQ(written.find(value), std::string::npos) << "an identifying value was written";
  }
  absl::StatusOr<Mapping> drafted = LoadMapping(draft);
  ASSERT_TRUE(drafted.ok()) << drafted.status();
  EXPECT_EQ(drafted->bsn_column, "bsn");
  std::vector<std::string> columns;
  for (const AttributeSpec& a : drafted->attributes) columns.push_back(a.column);
  EXPECT_NE(std::find(columns.begin(), columns.end(), "zorgsoort"), columns.end());
  for (std::string_view left_out :
       {"gebdatum", "pc4", "pcletters", "nummer", "zip", "ouder_id", "naam"}) {
    EXPECT_EQ(std::find(columns.begin(), columns.end(), left_out), columns.end()) << left_out;
  }
  ProcessResult check = RunProcess({kBin + "/koppel-agent", "check", "--quiet", "--mapping",
                                    draft.string(), "--input", input.string()});
  EXPECT_TRUE(check.exit_code == 0 || check.exit_code == 1) << "exit " << check.exit_code;
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
  EXPECT_EQ(ReadFile(dir / "kept.yaml"), "mine\n");

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
