// Every command of every program ends its --help with the exit codes it can return, and docs/
// documents the same codes. An exit-code table in docs/*.md is a Markdown table whose header
// starts `| code | meaning |` (or `| exit code | meaning |`) under a heading that names, in
// backticks, the commands it is for (`koppel-agent check`); a heading may name several commands
// that share a table. Each table is compared with the "Exit codes:" footer of the real
// binaries' --help: a code documented but not in --help, or in --help but not documented, fails,
// and so does a meaning that does not start with the one --help gives (after normalising case,
// backticks and spacing; the docs may say more after it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using test::ProcessResult;
using test::ReadFile;
using test::RunProcess;

constexpr const char* kPrograms[] = {"koppel-agent", "koppel-vault", "koppel-linker",
                                     "koppel-synth", "koppel"};

using ExitCodes = std::map<int, std::string>;  // code -> meaning

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Trim(const std::string& s) {
  size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  size_t end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

// Lower case, no backticks, single spaces, no final full stop.
std::string Normalise(const std::string& meaning) {
  std::string out;
  for (char c : meaning) {
    if (c == '`') continue;
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '.')) out.pop_back();
  return out;
}

bool IsCode(const std::string& s) {
  return !s.empty() && s.size() <= 3 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The codes of the "Exit codes:" footer: the lines "  CODE  MEANING" right after it.
std::optional<ExitCodes> ParseHelpFooter(const std::string& help) {
  std::vector<std::string> lines = Lines(help);
  auto it = std::find(lines.begin(), lines.end(), "Exit codes:");
  if (it == lines.end()) return std::nullopt;
  ExitCodes codes;
  for (++it; it != lines.end(); ++it) {
    if (it->rfind("  ", 0) != 0) break;
    std::string rest = it->substr(2);
    size_t gap = rest.find("  ");
    if (gap == std::string::npos || !IsCode(rest.substr(0, gap))) break;
    codes[std::stoi(rest.substr(0, gap))] = Trim(rest.substr(gap));
  }
  return codes;
}

// The names of the subcommands listed under "Subcommands:".
std::vector<std::string> ParseSubcommands(const std::string& help) {
  std::vector<std::string> lines = Lines(help);
  auto it = std::find(lines.begin(), lines.end(), "Subcommands:");
  std::vector<std::string> names;
  if (it == lines.end()) return names;
  for (++it; it != lines.end() && it->rfind("  ", 0) == 0; ++it) {
    if (it->size() > 2 && (*it)[2] != ' ')
      names.push_back(Trim(*it).substr(0, Trim(*it).find(' ')));
  }
  return names;
}

std::vector<std::string> Cells(const std::string& row) {
  std::vector<std::string> cells;
  std::string inner = Trim(row);
  if (inner.size() < 2 || inner.front() != '|' || inner.back() != '|') return cells;
  inner = inner.substr(1, inner.size() - 2);
  std::string cell;
  for (char c : inner) {
    if (c == '|') {
      cells.push_back(Trim(cell));
      cell.clear();
    } else {
      cell += c;
    }
  }
  cells.push_back(Trim(cell));
  return cells;
}

struct DocTable {
  std::string where;                  // file:line of the table's header
  std::vector<std::string> commands;  // from the heading above it
  ExitCodes codes;
  std::vector<std::string> problems;  // rows that do not parse, codes given twice
};

// The commands a heading names: its backticked spans that start with "koppel".
std::vector<std::string> CommandsIn(const std::string& heading) {
  std::vector<std::string> commands;
  size_t open = heading.find('`');
  while (open != std::string::npos) {
    size_t close = heading.find('`', open + 1);
    if (close == std::string::npos) break;
    std::string span = heading.substr(open + 1, close - open - 1);
    if (span.rfind("koppel", 0) == 0) commands.push_back(span);
    open = heading.find('`', close + 1);
  }
  return commands;
}

std::vector<DocTable> ParseDocTables(const std::string& markdown, const std::string& file) {
  std::vector<DocTable> tables;
  std::vector<std::string> lines = Lines(markdown);
  std::string heading;
  bool in_code_block = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("```", 0) == 0) in_code_block = !in_code_block;
    if (in_code_block) continue;
    if (lines[i].rfind("#", 0) == 0) heading = lines[i];
    std::vector<std::string> header = Cells(lines[i]);
    if (header.size() < 2 || Normalise(header[1]) != "meaning" ||
        (Normalise(header[0]) != "code" && Normalise(header[0]) != "exit code")) {
      continue;
    }
    DocTable table;
    table.where = file + ":" + std::to_string(i + 1);
    table.commands = CommandsIn(heading);
    size_t row = i + 2;  // past the |---| line
    for (; row < lines.size() && Trim(lines[row]).rfind("|", 0) == 0; ++row) {
      std::vector<std::string> cells = Cells(lines[row]);
      if (cells.size() < 2 || !IsCode(cells[0])) {
        table.problems.push_back(file + ":" + std::to_string(row + 1) + ": not a code row");
        continue;
      }
      if (!table.codes.emplace(std::stoi(cells[0]), cells[1]).second) {
        table.problems.push_back(file + ":" + std::to_string(row + 1) + ": code " + cells[0] +
                                 " given twice");
      }
    }
    tables.push_back(std::move(table));
    i = row - 1;
  }
  return tables;
}

// What differs between a documented table and a --help footer; empty when they agree.
std::vector<std::string> Differences(const ExitCodes& documented, const ExitCodes& help) {
  std::vector<std::string> differences;
  for (const auto& [code, meaning] : documented) {
    auto it = help.find(code);
    if (it == help.end()) {
      differences.push_back("code " + std::to_string(code) + " is documented but not in --help");
    } else if (Normalise(meaning).rfind(Normalise(it->second), 0) != 0) {
      differences.push_back("code " + std::to_string(code) + ": the docs say \"" + meaning +
                            "\", which does not start with --help's \"" + it->second + "\"");
    }
  }
  for (const auto& [code, meaning] : help) {
    if (!documented.contains(code)) {
      differences.push_back("code " + std::to_string(code) + " (" + meaning +
                            ") is in --help but not documented");
    }
  }
  return differences;
}

std::string Help(const std::string& command) {
  std::vector<std::string> argv;
  std::istringstream words(command);
  for (std::string word; words >> word;) argv.push_back(word);
  argv[0] = std::string(KOPPEL_BIN_DIR) + "/" + argv[0];
  argv.push_back("--help");
  ProcessResult result = RunProcess(argv);
  EXPECT_EQ(result.exit_code, 0) << command << " --help: " << result.err;
  return result.out;
}

// Every program and, recursively, every subcommand its --help lists, with its --help.
std::map<std::string, std::string> AllCommands() {
  std::map<std::string, std::string> commands;
  std::vector<std::string> pending(std::begin(kPrograms), std::end(kPrograms));
  while (!pending.empty()) {
    std::string command = pending.back();
    pending.pop_back();
    std::string help = Help(command);
    for (const std::string& sub : ParseSubcommands(help)) pending.push_back(command + " " + sub);
    commands.emplace(command, std::move(help));
  }
  return commands;
}

std::vector<DocTable> AllDocTables() {
  std::vector<DocTable> tables;
  const std::filesystem::path docs = std::filesystem::path(KOPPEL_SOURCE_DIR) / "docs";
  for (const auto& entry : std::filesystem::directory_iterator(docs)) {
    if (entry.path().extension() != ".md") continue;
    std::vector<DocTable> found =
        ParseDocTables(ReadFile(entry.path()), "docs/" + entry.path().filename().string());
    tables.insert(tables.end(), found.begin(), found.end());
  }
  return tables;
}

class CliHelpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    commands_ = new std::map<std::string, std::string>(AllCommands());
    tables_ = new std::vector<DocTable>(AllDocTables());
  }
  static void TearDownTestSuite() {
    delete commands_;
    delete tables_;
  }
  static std::map<std::string, std::string>* commands_;
  static std::vector<DocTable>* tables_;
};

std::map<std::string, std::string>* CliHelpTest::commands_ = nullptr;
std::vector<DocTable>* CliHelpTest::tables_ = nullptr;

TEST_F(CliHelpTest, FindsEveryProgramAndItsSubcommands) {
  for (const char* program : kPrograms) EXPECT_TRUE(commands_->contains(program)) << program;
  EXPECT_TRUE(commands_->contains("koppel-agent seal"));
  EXPECT_TRUE(commands_->contains("koppel policy verify"));
  EXPECT_TRUE(commands_->contains("koppel audit report"));
  EXPECT_GE(commands_->size(), 30u);
}

TEST_F(CliHelpTest, EveryCommandEndsItsHelpWithItsExitCodes) {
  for (const auto& [command, help] : *commands_) {
    std::optional<ExitCodes> codes = ParseHelpFooter(help);
    ASSERT_TRUE(codes.has_value()) << command << " --help has no \"Exit codes:\" footer";
    EXPECT_TRUE(codes->contains(0)) << command;
    EXPECT_TRUE(codes->contains(2)) << command << ": a usage error exits 2";
    for (const auto& [code, meaning] : *codes) {
      EXPECT_FALSE(meaning.empty()) << command << ": code " << code << " has no meaning";
    }
  }
}

TEST_F(CliHelpTest, EveryCommandHasADocumentedExitCodeTable) {
  std::set<std::string> documented;
  for (const DocTable& table : *tables_) {
    documented.insert(table.commands.begin(), table.commands.end());
  }
  for (const auto& [command, help] : *commands_) {
    EXPECT_TRUE(documented.contains(command))
        << "no exit-code table in docs/ under a heading naming `" << command << "`";
  }
}

TEST_F(CliHelpTest, EveryDocumentedTableAgreesWithHelp) {
  ASSERT_FALSE(tables_->empty());
  for (const DocTable& table : *tables_) {
    EXPECT_FALSE(table.commands.empty())
        << table.where << ": an exit-code table under a heading that names no `koppel...` command";
    for (const std::string& problem : table.problems) ADD_FAILURE() << problem;
    for (const std::string& command : table.commands) {
      auto it = commands_->find(command);
      if (it == commands_->end()) {
        ADD_FAILURE() << table.where << ": `" << command << "` is not a command";
        continue;
      }
      std::optional<ExitCodes> help = ParseHelpFooter(it->second);
      if (!help) continue;  // EveryCommandEndsItsHelpWithItsExitCodes reports it
      for (const std::string& difference : Differences(table.codes, *help)) {
        ADD_FAILURE() << table.where << " (`" << command << "`): " << difference;
      }
    }
  }
}

// A code --help does not list must not happen: keygen into a directory that cannot be created
// used to end with an uncaught exception (SIGABRT) instead of its code 3.
TEST(CliExitCodeTest, LinkerKeygenWhereNoDirectoryCanBeMadeExits3) {
  test::TempDir dir;
  test::WriteFile(dir / "a-file", "");
  ProcessResult result = RunProcess({std::string(KOPPEL_BIN_DIR) + "/koppel-linker", "keygen",
                                     "--out", (dir / "a-file" / "keys").string()});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_TRUE(test::Contains(result.err, "koppel-linker: error: cannot create directory"))
      << result.err;
}

// The comparison itself, on tables made up here.
TEST(CliHelpParsingTest, ReadsAFooterAndATable) {
  std::optional<ExitCodes> help = ParseHelpFooter(
      "Usage: x\n\nEach command's --help lists them.\nExit codes:\n  0  done\n  2  usage: bad "
      "flags\n  10  late\n");
  ASSERT_TRUE(help.has_value());
  EXPECT_EQ(*help, (ExitCodes{{0, "done"}, {2, "usage: bad flags"}, {10, "late"}}));

  std::vector<DocTable> tables = ParseDocTables(
      "# Exit codes of `koppel-x a` and `koppel-x b`\n\n| code | meaning |\n|---|---|\n"
      "| 0 | done |\n| 2 | usage: bad flags, e.g. `--x` |\n\ntext\n",
      "x.md");
  ASSERT_EQ(tables.size(), 1u);
  EXPECT_EQ(tables[0].commands, (std::vector<std::string>{"koppel-x a", "koppel-x b"}));
  EXPECT_EQ(tables[0].codes.size(), 2u);
  EXPECT_TRUE(tables[0].problems.empty());
  EXPECT_EQ(tables[0].where, "x.md:3");
}

TEST(CliHelpParsingTest, ReportsEveryDisagreement) {
  const ExitCodes help = {{0, "done"}, {2, "usage: bad flags"}, {3, "a file cannot be read"}};
  EXPECT_TRUE(
      Differences(
          {{0, "Done."}, {2, "usage: bad `flags`, or a missing one"}, {3, "a file cannot be read"}},
          help)
          .empty());
  EXPECT_EQ(Differences({{0, "done"}, {2, "usage: bad flags"}}, help).size(), 1u);  // 3 missing
  EXPECT_EQ(Differences({{0, "done"},
                         {2, "usage: bad flags"},
                         {3, "a file cannot be read"},
                         {4, "undocumented in help"}},
                        help)
                .size(),
            1u);
  EXPECT_EQ(Differences({{0, "done"}, {2, "bad flags"}, {3, "a file cannot be read"}}, help).size(),
            1u);
}

TEST(CliHelpParsingTest, FlagsARepeatedCode) {
  std::vector<DocTable> tables = ParseDocTables(
      "### `koppel-x`\n| code | meaning | what to do |\n|---|---|---|\n| 5 | a | b |\n"
      "| 5 | c | d |\n",
      "x.md");
  ASSERT_EQ(tables.size(), 1u);
  EXPECT_EQ(tables[0].problems.size(), 1u);
}

}  // namespace
}  // namespace koppel
