// koppel-agent as a user runs it: exit codes, error messages that say what and where, the
// interop token command against the reference vectors, and nothing identifying in any output.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using test::Contains;
using test::ProcessResult;
using test::ReadFile;
using test::RunProcess;
using test::TempDir;
using test::WriteFile;

const std::string kAgent = KOPPEL_BIN_DIR "/koppel-agent";

ProcessResult Agent(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), kAgent);
  return RunProcess(args, input);
}

class AgentCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_ / "m.yaml", R"(version: 1
dataset: schuldhulp
period: {from: 2014-01-01, to: 2014-12-31}
csv: {delimiter: ",", encoding: utf-8, line_ending: lf}
identifiers:
  bsn: bsn
  address: {postcode: pc, house: huisnummer}
attributes:
  - {name: traject, column: traject, type: category, codes: {SHV: debt_counselling, BB: budget_management}, required: true}
  - {name: start, column: start, type: date, format: d-m-yyyy}
)");
    // Valid rows, then one per reason; the plaintext identifiers must not appear in outputs.
    WriteFile(dir_ / "e.csv",
              "bsn,pc,huisnummer,traject,start,notitie\n"
              "123456782,7607 ab,12a,SHV,1-2-2014,\n"
              "111222333,7607AB,12 bis,BB,15-3-2014,\n"
              "999999990,7608CD,3-1,SHV,,\n"
              "987654321,7607AB,1,SHV,1-2-2014,\n"    // 11-test
              "123456782,7607SA,1,SHV,1-2-2014,\n"    // unused letters
              "111222333,7607AB,12,XX,1-2-2014,\n"    // unknown category
              "111222333,7607AB,12,SHV,30-2-2014,\n"  // date
              "111222333,7607AB,12,,1-2-2014,\n"      // required missing
              "111222333,7607AB,12,SHV,1-2-2014\n");  // field count
    WriteFile(dir_ / "k", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
    ::chmod((dir_ / "k").c_str(), 0600);
  }
  TempDir dir_;
};

TEST_F(AgentCliTest, HelpAndUsageErrors) {
  ProcessResult help = Agent({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* sub : {"check", "seal", "token", "keygen"}) EXPECT_TRUE(Contains(help.out, sub));
  EXPECT_EQ(Agent({"seal", "--help"}).exit_code, 0);
  EXPECT_EQ(Agent({}).exit_code, 2);
  EXPECT_EQ(Agent({"frobnicate"}).exit_code, 2);
  ProcessResult missing = Agent({"check", "--mapping", (dir_ / "m.yaml").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(Contains(missing.err, "--input")) << missing.err;
  ProcessResult kind = Agent({"token", "--kind", "iban", "--key-file", (dir_ / "k").string()});
  EXPECT_EQ(kind.exit_code, 2);
}

TEST_F(AgentCliTest, CheckReportsEveryReasonAndNeverAValue) {
  // Two thirds of e.csv's rows are rejected: far above the default --max-reject-rate.
  ProcessResult r = Agent({"check", "--mapping", (dir_ / "m.yaml").string(), "--input",
                           (dir_ / "e.csv").string(), "--format", "json", "--rejects",
                           (dir_ / "rejects.csv").string(), "--max-reject-rate", "100"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  nlohmann::json summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["rows"], 9);
  EXPECT_EQ(summary["valid"], 3);
  EXPECT_EQ(summary["rejected"], nlohmann::json({{"bsn_eleven_test", 1},
                                                 {"postcode_unused_letters", 1},
                                                 {"category_unknown", 1},
                                                 {"date_invalid", 1},
                                                 {"missing_value", 1},
                                                 {"field_count", 1}}));
  EXPECT_EQ(summary["missing"]["start"], 1);
  EXPECT_EQ(summary["missing"]["traject"], 1);
  EXPECT_EQ(summary["missing"]["bsn"], 0);
  std::string rejects = ReadFile(dir_ / "rejects.csv");
  EXPECT_EQ(rejects,
            "record,line,reason,column,first_line\n"
            "4,5,bsn_eleven_test,bsn,\n"
            "5,6,postcode_unused_letters,pc,\n"
            "6,7,category_unknown,traject,\n"
            "7,8,date_invalid,start,\n"
            "8,9,missing_value,traject,\n"
            "9,10,field_count,,\n");
  for (const char* secret : {"123456782", "111222333", "987654321", "7607", "7608"}) {
    EXPECT_FALSE(Contains(r.out + r.err + rejects, secret)) << secret;
  }
  EXPECT_EQ(Agent({"check", "--allow-rejects", "--quiet", "--mapping", (dir_ / "m.yaml").string(),
                   "--input", (dir_ / "e.csv").string(), "--max-reject-rate", "70"})
                .exit_code,
            0);
}

TEST_F(AgentCliTest, BadMappingAndHeaderGiveTheirExitCodeAndSayWhere) {
  WriteFile(dir_ / "bad.yaml",
            "version: 1\ndataset: x\nperiod: {from: 2014-01-01, to: 2014-12-31}\n"
            "csv: {delimiter: \",\"}\nidentifiers: {bsn: BSN}\nattributes:\n"
            "  - {name: a, column: A, type: decimal}\n");
  ProcessResult bad = Agent(
      {"check", "--mapping", (dir_ / "bad.yaml").string(), "--input", (dir_ / "e.csv").string()});
  EXPECT_EQ(bad.exit_code, 4);
  EXPECT_TRUE(Contains(bad.err, "bad.yaml:7:")) << bad.err;
  EXPECT_TRUE(Contains(bad.err, "attributes[0].type")) << bad.err;

  WriteFile(dir_ / "other.csv", "BSN;Postcode\n123456782;7607AB\n");
  ProcessResult header = Agent(
      {"check", "--mapping", (dir_ / "m.yaml").string(), "--input", (dir_ / "other.csv").string()});
  EXPECT_EQ(header.exit_code, 5);
  EXPECT_TRUE(Contains(header.err, "has no column named 'bsn'")) << header.err;
  EXPECT_FALSE(Contains(header.err, "123456782"));

  WriteFile(dir_ / "empty.csv", "");
  EXPECT_EQ(Agent({"check", "--mapping", (dir_ / "m.yaml").string(), "--input",
                   (dir_ / "empty.csv").string()})
                .exit_code,
            5);
}

// The identifiers of e.csv's rows, as they are written in it.
const char* const kExportIdentifiers[] = {
    "123456782", "111222333", "999999990", "987654321", "7607", "7608", "12a", "12 bis", "3-1"};

// An export without a header line, or with lines ended by CR alone, puts data where the header
// should be: no error may quote it.
TEST_F(AgentCliTest, ExportErrorsNeverQuoteTheExport) {
  const std::string rows = ReadFile(dir_ / "e.csv").substr(ReadFile(dir_ / "e.csv").find('\n') + 1);
  WriteFile(dir_ / "no-header.csv", rows);
  std::string cr_only = ReadFile(dir_ / "e.csv");
  std::replace(cr_only.begin(), cr_only.end(), '\n', '\r');
  WriteFile(dir_ / "cr-only.csv", cr_only);
  ASSERT_LT(cr_only.size(), 64u * 1024);

  std::string keys = (dir_ / "keys").string();
  std::filesystem::create_directory(keys);
  ASSERT_EQ(Agent({"keygen", "--type", "linker-box", "--out", keys + "/linker"}).exit_code, 0);
  ASSERT_EQ(Agent({"keygen", "--type", "signing", "--out", keys + "/agent"}).exit_code, 0);
  for (const char* file : {"no-header.csv", "cr-only.csv"}) {
    const std::string input = (dir_ / file).string();
    ProcessResult check =
        Agent({"check", "--quiet", "--mapping", (dir_ / "m.yaml").string(), "--input", input});
    ProcessResult seal =
        Agent({"seal", "--quiet", "--mapping", (dir_ / "m.yaml").string(), "--input", input,
               "--covenant-key", (dir_ / "k").string(), "--linker-public-key", keys + "/linker.pub",
               "--signing-key", keys + "/agent", "--outbox", (dir_ / "outbox").string()});
    for (const ProcessResult& r : {check, seal}) {
      // Failures print no output of the agent: it may hold what this test looks for.
      EXPECT_EQ(r.exit_code, 5) << file;
      EXPECT_TRUE(Contains(r.err, input)) << file;
      // The temporary directory's random name is no part of the export.
      std::string output = r.out + r.err;
      for (size_t at; (at = output.find(dir_.path().string())) != std::string::npos;) {
        output.erase(at, dir_.path().string().size());
      }
      for (const char* identifier : kExportIdentifiers) {
        EXPECT_FALSE(Contains(output, identifier)) << file << " leaks " << identifier;
      }
    }
    if (std::string(file) == "no-header.csv") {
      EXPECT_TRUE(Contains(check.err,
                           "has no column named 'bsn', 'pc', 'huisnummer', "
                           "'traject', 'start'"));
      EXPECT_TRUE(Contains(check.err, "6 column(s)"));
      EXPECT_TRUE(Contains(check.err, "csv.delimiter"));
    } else {
      EXPECT_TRUE(Contains(check.err, "carriage return"));
    }
  }
}

// A FIFO (or anything but a regular file) as a key, mapping or export is refused at once
// instead of waiting for a writer.
TEST_F(AgentCliTest, InputsMustBeRegularFiles) {
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto agent_within_10s = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/timeout", "10", kAgent});
    return RunProcess(args);
  };
  ProcessResult key = agent_within_10s({"token", "--kind", "bsn", "--key-file", fifo});
  EXPECT_EQ(key.exit_code, 3) << key.err;
  EXPECT_TRUE(Contains(key.err, "key file " + fifo + " is a FIFO")) << key.err;
  ProcessResult mapping = agent_within_10s(
      {"check", "--quiet", "--mapping", fifo, "--input", (dir_ / "e.csv").string()});
  EXPECT_EQ(mapping.exit_code, 4) << mapping.err;
  EXPECT_TRUE(Contains(mapping.err, "mapping file " + fifo + " is a FIFO")) << mapping.err;
  ProcessResult input = agent_within_10s(
      {"check", "--quiet", "--mapping", (dir_ / "m.yaml").string(), "--input", fifo});
  EXPECT_EQ(input.exit_code, 3) << input.err;
  EXPECT_TRUE(Contains(input.err, fifo + " is a FIFO")) << input.err;
  ProcessResult signing = agent_within_10s(
      {"seal", "--quiet", "--mapping", (dir_ / "m.yaml").string(), "--input",
       (dir_ / "e.csv").string(), "--covenant-key", (dir_ / "k").string(), "--linker-public-key",
       fifo, "--signing-key", fifo, "--outbox", (dir_ / "outbox").string()});
  EXPECT_EQ(signing.exit_code, 3) << signing.err;
  EXPECT_TRUE(Contains(signing.err, "is a FIFO")) << signing.err;
}

// What YAML readers disagree on, and delimiters that cut lines, are refused naming the line.
TEST_F(AgentCliTest, MappingWithDuplicateKeyOrNulDelimiterIsRefused) {
  const std::string text = ReadFile(dir_ / "m.yaml");
  WriteFile(dir_ / "dup.yaml", text + "dataset: jeugdzorg\n");
  ProcessResult dup = Agent({"check", "--quiet", "--mapping", (dir_ / "dup.yaml").string(),
                             "--input", (dir_ / "e.csv").string()});
  EXPECT_EQ(dup.exit_code, 4) << dup.err;
  EXPECT_TRUE(Contains(dup.err, "dup.yaml:11:1: dataset: the key is given twice")) << dup.err;
  EXPECT_TRUE(Contains(dup.err, "first on line 2")) << dup.err;

  std::string nul = text;
  nul.replace(nul.find("delimiter: \",\""), 14, "delimiter: \"\\0\"");
  WriteFile(dir_ / "nul.yaml", nul);
  ProcessResult refused = Agent({"check", "--quiet", "--mapping", (dir_ / "nul.yaml").string(),
                                 "--input", (dir_ / "e.csv").string()});
  EXPECT_EQ(refused.exit_code, 4) << refused.err;
  EXPECT_TRUE(Contains(refused.err, "nul.yaml:4:") && Contains(refused.err, "csv.delimiter"))
      << refused.err;
  EXPECT_TRUE(Contains(refused.err, "NUL")) << refused.err;
}

TEST_F(AgentCliTest, TokenCommandReproducesTheReferenceVectors) {
  std::ifstream in(KOPPEL_TESTDATA_DIR "/token_vectors.json");
  nlohmann::json vectors = nlohmann::json::parse(in);
  std::string bsn_input, bsn_expected, address_input, address_expected;
  for (const auto& v : vectors["valid"]) {
    std::string expected =
        v["canonical"].get<std::string>() + "\t" + v["token_hex"].get<std::string>() + "\n";
    if (v["kind"] == "bsn") {
      bsn_input += v["input"].get<std::string>() + "\n";
      bsn_expected += expected;
    } else if (v["input"].contains("house")) {
      address_input += v["input"]["postcode"].get<std::string>() + ";" +
                       v["input"]["house"].get<std::string>() + "\n";
      address_expected += expected;
    }
  }
  for (const auto& v : vectors["invalid"]) {
    if (v["kind"] == "bsn") {
      bsn_input += v["input"].get<std::string>() + "\n";
      bsn_expected += "error\t\n";
    } else {
      address_input += v["input"]["postcode"].get<std::string>() + ";" +
                       v["input"]["house"].get<std::string>() + "\n";
      address_expected += "error\t\n";
    }
  }
  ProcessResult bsn =
      Agent({"token", "--kind", "bsn", "--key-file", (dir_ / "k").string()}, bsn_input);
  ASSERT_EQ(bsn.exit_code, 0) << bsn.err;
  ProcessResult address =
      Agent({"token", "--kind", "address", "--key-file", (dir_ / "k").string()}, address_input);
  ASSERT_EQ(address.exit_code, 0) << address.err;
  // Valid lines match exactly; invalid lines start with "error<TAB>" and name a reason.
  auto matches = [](const std::string& got, const std::string& expected) {
    std::istringstream g(got), e(expected);
    std::string gl, el;
    while (std::getline(e, el)) {
      if (!std::getline(g, gl)) return false;
      if (el == "error\t" ? !gl.starts_with("error\t") || gl.size() <= 6 : gl != el) return false;
    }
    return !std::getline(g, gl);
  };
  EXPECT_TRUE(matches(bsn.out, bsn_expected)) << bsn.out;
  EXPECT_TRUE(matches(address.out, address_expected)) << address.out;
}

TEST_F(AgentCliTest, KeysMustBePrivateAndWellFormed) {
  WriteFile(dir_ / "open", ReadFile(dir_ / "k"));
  ::chmod((dir_ / "open").c_str(), 0644);
  ProcessResult open =
      Agent({"token", "--kind", "bsn", "--key-file", (dir_ / "open").string()}, "123456782\n");
  EXPECT_EQ(open.exit_code, 3);
  EXPECT_TRUE(Contains(open.err, "chmod 600")) << open.err;
  WriteFile(dir_ / "short", "0011\n");
  ::chmod((dir_ / "short").c_str(), 0600);
  EXPECT_EQ(Agent({"token", "--kind", "bsn", "--key-file", (dir_ / "short").string()}).exit_code,
            3);
}

TEST_F(AgentCliTest, KeygenThenSealWritesOnlySealedBatchesAndAManifest) {
  std::string keys = (dir_ / "keys").string();
  std::filesystem::create_directory(keys);
  ASSERT_EQ(Agent({"keygen", "--type", "covenant", "--out", keys + "/cov"}).exit_code, 0);
  ASSERT_EQ(Agent({"keygen", "--type", "linker-box", "--out", keys + "/linker"}).exit_code, 0);
  ASSERT_EQ(Agent({"keygen", "--type", "signing", "--out", keys + "/agent"}).exit_code, 0);
  EXPECT_EQ(Agent({"keygen", "--type", "covenant", "--out", keys + "/cov"}).exit_code, 3)
      << "must refuse to overwrite a key";
  struct stat st;
  ASSERT_EQ(::stat((keys + "/cov").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ProcessResult r = Agent({"seal",
                           "--mapping",
                           (dir_ / "m.yaml").string(),
                           "--input",
                           (dir_ / "e.csv").string(),
                           "--covenant-key",
                           keys + "/cov",
                           "--linker-public-key",
                           keys + "/linker.pub",
                           "--signing-key",
                           keys + "/agent",
                           "--outbox",
                           (dir_ / "outbox").string(),
                           "--format",
                           "json",
                           "--allow-rejects",
                           "--batch-size",
                           "2",
                           "--max-reject-rate",
                           "100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json manifest = nlohmann::json::parse(r.out);
  EXPECT_EQ(manifest["records_sealed"], 3);
  EXPECT_EQ(manifest["batches"].size(), 2u);
  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_ / "outbox")) {
    if (!entry.is_regular_file()) continue;
    ++files;
    std::string content = ReadFile(entry.path());
    for (const char* secret : {"123456782", "111222333", "999999990", "7607AB", "7608CD"}) {
      EXPECT_FALSE(Contains(content, secret)) << entry.path() << " holds " << secret;
    }
  }
  EXPECT_EQ(files, 3u);  // two batches and the run manifest

  // Sealing the same export into the same outbox again would deliver it twice.
  std::vector<std::string> again = {"seal",
                                    "--mapping",
                                    (dir_ / "m.yaml").string(),
                                    "--input",
                                    (dir_ / "e.csv").string(),
                                    "--covenant-key",
                                    keys + "/cov",
                                    "--linker-public-key",
                                    keys + "/linker.pub",
                                    "--signing-key",
                                    keys + "/agent",
                                    "--outbox",
                                    (dir_ / "outbox").string(),
                                    "--allow-rejects",
                                    "--quiet",
                                    "--max-reject-rate",
                                    "100"};
  ProcessResult refused = Agent(again);
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_TRUE(Contains(refused.err, "already holds a sealed run")) << refused.err;

  // The remains of an interrupted run (a batch no manifest lists) are removed, never delivered.
  WriteFile(dir_ / "outbox" / "deadbeef.sealed", "partial");
  again.push_back("--new-run");
  ProcessResult second = Agent(again);
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_TRUE(Contains(second.err, "removed 1 batch")) << second.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "outbox" / "deadbeef.sealed"));
}

// What the outbox holds: run manifests and sealed batches.
size_t OutboxFiles(const std::filesystem::path& outbox) {
  if (!std::filesystem::exists(outbox)) return 0;
  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(outbox)) {
    if (entry.is_regular_file()) ++files;
  }
  return files;
}

class AgentEncodingTest : public AgentCliTest {
 protected:
  void SetUp() override {
    AgentCliTest::SetUp();
    std::filesystem::create_directory(dir_ / "keys");
    ASSERT_EQ(Agent({"keygen", "--type", "linker-box", "--out", Key("linker")}).exit_code, 0);
    ASSERT_EQ(Agent({"keygen", "--type", "signing", "--out", Key("agent")}).exit_code, 0);
    // Valid rows with accented free text (and a euro sign) in the column the mapping ignores.
    WriteFile(dir_ / "cp1252.csv",
              "bsn,pc,huisnummer,traject,start,notitie\n"
              "123456782,7607AB,12,SHV,1-2-2014,ok\n"
              "111222333,7607AB,14,BB,15-3-2014,Caf\xE9 \x80 5 \xE0 l'h\xF4pital\n"
              "999999990,7608CD,3,SHV,1-2-2014,M\xFCller\n");
  }
  std::string Key(const std::string& name) const { return (dir_ / "keys" / name).string(); }
  // The mapping with csv.encoding set to `encoding`.
  std::string MappingWith(const std::string& encoding) {
    std::string text = ReadFile(dir_ / "m.yaml");
    text.replace(text.find("encoding: utf-8"), 15, "encoding: " + encoding);
    const std::string path = (dir_ / ("m-" + encoding + ".yaml")).string();
    WriteFile(path, text);
    return path;
  }
  ProcessResult Seal(const std::string& mapping, const std::string& input,
                     std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"seal",
                                     "--quiet",
                                     "--mapping",
                                     mapping,
                                     "--input",
                                     input,
                                     "--covenant-key",
                                     (dir_ / "k").string(),
                                     "--linker-public-key",
                                     Key("linker.pub"),
                                     "--signing-key",
                                     Key("agent"),
                                     "--outbox",
                                     (dir_ / "outbox").string(),
                                     "--batch-size",
                                     "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Agent(args);
  }
};

// A windows-1252 export read as UTF-8 is refused as a whole (exit 5, naming line and column),
// never turned into row rejects, and nothing is sealed.
TEST_F(AgentEncodingTest, WrongDeclaredEncodingExits5NamingLineAndColumnAndSealsNothing) {
  const std::string input = (dir_ / "cp1252.csv").string();
  for (std::string command : {"check", "seal"}) {
    SCOPED_TRACE(command);
    ProcessResult r = command == "check"
                          ? Agent({"check", "--quiet", "--allow-rejects", "--mapping",
                                   MappingWith("utf-8"), "--input", input})
                          : Seal(MappingWith("utf-8"), input, {"--allow-rejects"});
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_TRUE(Contains(r.err, input + ": line 3, column 37: a byte that is not valid utf-8; "
                                        "declare the export's encoding as csv.encoding"))
        << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_FALSE(Contains(r.err, "Caf")) << r.err;
    EXPECT_FALSE(Contains(r.err, "111222333")) << r.err;
  }
  EXPECT_EQ(OutboxFiles(dir_ / "outbox"), 0u);

  // Declared (or detected), the same file reads without a reject, whatever the unmapped column
  // holds, and the summary says how it was read.
  ProcessResult declared = Agent({"check", "--quiet", "--format", "json", "--mapping",
                                  MappingWith("windows-1252"), "--input", input});
  ASSERT_EQ(declared.exit_code, 0) << declared.err;
  nlohmann::json summary = nlohmann::json::parse(declared.out);
  EXPECT_EQ(summary["valid"], 3);
  EXPECT_EQ(summary["rejected"], nlohmann::json::object());
  EXPECT_EQ(summary["encoding"],
            nlohmann::json(
                {{"name", "windows-1252"}, {"bom", false}, {"reason", "declared in the mapping"}}));
  ProcessResult detected =
      Agent({"check", "--quiet", "--mapping", MappingWith("auto"), "--input", input});
  ASSERT_EQ(detected.exit_code, 0) << detected.err;
  EXPECT_TRUE(Contains(detected.out,
                       "encoding    windows-1252 (auto: not valid UTF-8 (first at "
                       "line 3, column 37), read as windows-1252)"))
      << detected.out;
  ProcessResult sealed = Seal(MappingWith("windows-1252"), input, {"--format", "json"});
  ASSERT_EQ(sealed.exit_code, 0) << sealed.err;
  EXPECT_EQ(nlohmann::json::parse(sealed.out)["records_sealed"], 3);
}

TEST_F(AgentEncodingTest, ReadsUtf16WithByteOrderMark) {
  // e.csv's first four lines as Excel's "Unicode text" writes them: UTF-16 LE with a BOM.
  const std::string all = ReadFile(dir_ / "e.csv");
  size_t end = 0;
  for (int i = 0; i < 4; ++i) end = all.find('\n', end) + 1;
  const std::string utf8 = all.substr(0, end);
  std::string utf16 = "\xFF\xFE";
  for (char c : utf8) utf16 += std::string{c, '\0'};
  WriteFile(dir_ / "u16.csv", utf16);
  ProcessResult r = Agent({"check", "--quiet", "--format", "json", "--mapping",
                           MappingWith("utf-16"), "--input", (dir_ / "u16.csv").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["rows"], 3);
  EXPECT_EQ(summary["valid"], 3);
  EXPECT_EQ(summary["encoding"]["reason"], "declared in the mapping, UTF-16 LE byte-order mark");
  ProcessResult wrong = Agent({"check", "--quiet", "--mapping", MappingWith("utf-8"), "--input",
                               (dir_ / "u16.csv").string()});
  EXPECT_EQ(wrong.exit_code, 5);
  EXPECT_TRUE(Contains(wrong.err,
                       "starts with a UTF-16 byte-order mark but csv.encoding is "
                       "utf-8; declare utf-16 or auto"))
      << wrong.err;
}

// More than --max-reject-rate rejected rows is a broken export: exit 5 whatever
// --allow-rejects says, and seal leaves no run (and no batch) in the outbox.
TEST_F(AgentEncodingTest, RejectRateGuardTripsAboveTheLimitAndLeavesNoRun) {
  const std::string input = (dir_ / "e.csv").string();  // 6 of 9 rows rejected
  const std::string expected =
      input + ": 6 of 9 data rows (66.7%) were rejected, more than --max-reject-rate 5%";
  for (bool allow : {false, true}) {
    SCOPED_TRACE(allow);
    std::vector<std::string> extra;
    if (allow) extra.push_back("--allow-rejects");
    std::vector<std::string> check = {"check",   "--quiet", "--mapping", (dir_ / "m.yaml").string(),
                                      "--input", input};
    check.insert(check.end(), extra.begin(), extra.end());
    ProcessResult checked = Agent(check);
    EXPECT_EQ(checked.exit_code, 5) << checked.err;
    EXPECT_TRUE(Contains(checked.err, expected)) << checked.err;
    ProcessResult sealed = Seal((dir_ / "m.yaml").string(), input, extra);
    EXPECT_EQ(sealed.exit_code, 5) << sealed.err;
    EXPECT_TRUE(Contains(sealed.err, expected)) << sealed.err;
    EXPECT_TRUE(Contains(sealed.err, "nothing was sealed")) << sealed.err;
    // The valid rows were sealed one per batch during the scan; none may stay behind.
    EXPECT_EQ(OutboxFiles(dir_ / "outbox"), 0u);
  }
  // At or below the limit the usual rules apply.
  ProcessResult lenient =
      Seal((dir_ / "m.yaml").string(), input, {"--allow-rejects", "--max-reject-rate", "66.7"});
  EXPECT_EQ(lenient.exit_code, 0) << lenient.err;
  EXPECT_EQ(OutboxFiles(dir_ / "outbox"), 4u);  // three batches and the manifest
  EXPECT_EQ(Agent({"check", "--quiet", "--mapping", (dir_ / "m.yaml").string(), "--input", input,
                   "--max-reject-rate", "101"})
                .exit_code,
            2);
}

// Rounding the allowed share up to whole rows must not let an export with no valid row pass.
TEST_F(AgentEncodingTest, RejectRateGuardTripsWhenEveryRowIsRejected) {
  WriteFile(dir_ / "one.csv",
            "bsn,pc,huisnummer,traject,start,notitie\n"
            "987654321,7607AB,1,SHV,1-2-2014,\n");  // 11-test
  const std::string input = (dir_ / "one.csv").string();
  ProcessResult checked = Agent({"check", "--quiet", "--allow-rejects", "--mapping",
                                 (dir_ / "m.yaml").string(), "--input", input});
  EXPECT_EQ(checked.exit_code, 5) << checked.err;
  EXPECT_TRUE(Contains(checked.err, input + ": all 1 data row(s) were rejected")) << checked.err;
  ProcessResult sealed =
      Seal((dir_ / "m.yaml").string(), input, {"--allow-rejects", "--max-reject-rate", "100"});
  EXPECT_EQ(sealed.exit_code, 5) << sealed.err;
  EXPECT_EQ(OutboxFiles(dir_ / "outbox"), 0u);
}

// When the guard trips and the run's batches cannot be removed, seal must not claim that
// nothing was sealed: it says the outbox holds batches no manifest lists.
TEST_F(AgentEncodingTest, SaysWhichOutboxKeepsBatchesItCouldNotRemove) {
  // A manifest that becomes unreadable during the scan: a link to the reject report, which the
  // scan creates. The removal after the guard tripped then fails (a damaged outbox).
  std::filesystem::create_directories(dir_ / "outbox" / "runs");
  std::filesystem::create_symlink(dir_ / "rejects.csv", dir_ / "outbox" / "runs" / "x.json");
  ProcessResult sealed = Seal((dir_ / "m.yaml").string(), (dir_ / "e.csv").string(),
                              {"--allow-rejects", "--rejects", (dir_ / "rejects.csv").string()});
  EXPECT_EQ(sealed.exit_code, 5) << sealed.err;
  EXPECT_TRUE(Contains(sealed.err, "were rejected, more than --max-reject-rate")) << sealed.err;
  EXPECT_FALSE(Contains(sealed.err, "nothing was sealed")) << sealed.err;
  EXPECT_TRUE(Contains(sealed.err, "outbox " + (dir_ / "outbox").string() +
                                       " may still hold batches of it that no run manifest "
                                       "lists: send ignores them, and the next seal into this "
                                       "outbox removes them"))
      << sealed.err;
  EXPECT_GT(OutboxFiles(dir_ / "outbox"), 1u);  // the batches of the stopped run are still there
}

// UTF-16 without a byte-order mark is valid UTF-8 with NULs: refused at once, saying what the
// file probably is, instead of a misleading complaint about line ends or column names.
TEST_F(AgentEncodingTest, Utf16WithoutByteOrderMarkIsRefusedSayingWhatItProbablyIs) {
  std::string utf16;
  for (char c : ReadFile(dir_ / "e.csv")) utf16 += std::string{c, '\0'};
  WriteFile(dir_ / "u16.csv", utf16);
  for (std::string encoding : {"auto", "utf-8", "windows-1252"}) {
    SCOPED_TRACE(encoding);
    ProcessResult r = Agent({"check", "--quiet", "--allow-rejects", "--mapping",
                             MappingWith(encoding), "--input", (dir_ / "u16.csv").string()});
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_TRUE(Contains(
        r.err, (dir_ / "u16.csv").string() + ": line 1, column 2: a NUL character (U+0000)"))
        << r.err;
    EXPECT_TRUE(Contains(r.err,
                         "is this UTF-16 without a byte-order mark? save it as Unicode "
                         "text with a BOM"))
        << r.err;
    EXPECT_FALSE(Contains(r.err, "CR alone")) << r.err;
    EXPECT_FALSE(Contains(r.err, "no column named")) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  // UTF-32 is refused, not read as UTF-16.
  std::string utf32("\xFF\xFE\0\0", 4);
  for (char c : ReadFile(dir_ / "e.csv")) utf32 += std::string{c, '\0', '\0', '\0'};
  WriteFile(dir_ / "u32.csv", utf32);
  ProcessResult r = Agent({"check", "--quiet", "--mapping", MappingWith("auto"), "--input",
                           (dir_ / "u32.csv").string()});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_TRUE(Contains(r.err, "UTF-32 is not supported; save as UTF-8 or UTF-16")) << r.err;
}

// A header cell with a terminal escape sequence reaches the terminal escaped.
TEST_F(AgentEncodingTest, HeaderCellsReachTheTerminalEscaped) {
  std::string mapping = ReadFile(dir_ / "m.yaml");
  mapping.replace(mapping.find("column: start"), 13, "column: \"start\\e[31m\"");
  WriteFile(dir_ / "esc.yaml", mapping);
  std::string csv = ReadFile(dir_ / "e.csv");
  csv.replace(csv.find(",start,"), 7, ",start\x1b[31m,");
  WriteFile(dir_ / "esc.csv", csv);
  ProcessResult r = Agent({"check", "--quiet", "--max-reject-rate", "100", "--mapping",
                           (dir_ / "esc.yaml").string(), "--input", (dir_ / "esc.csv").string(),
                           "--rejects", (dir_ / "r.csv").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_FALSE(Contains(r.out + r.err, "\x1b")) << r.out;
  EXPECT_TRUE(Contains(r.out, "  start\\x1b[31m ")) << r.out;
  EXPECT_TRUE(Contains(ReadFile(dir_ / "r.csv"), "7,8,date_invalid,start\\x1b[31m,\n"));
}

// Duplicates are sealed and are not rejects, but the report lists each with its first line.
TEST_F(AgentEncodingTest, RejectReportListsDuplicatesWithTheirFirstLine) {
  WriteFile(dir_ / "dup.csv",
            "bsn,pc,huisnummer,traject,start,notitie\n"
            "123456782,7607AB,12,SHV,1-2-2014,a\n"
            "111222333,7607AB,14,BB,15-3-2014,b\n"
            "123456782,7607 ab,12,SHV,01-02-2014,c\n"  // the same row, written differently
            "111222333,7607AB,14,BB,15-3-2014,d\n");
  ProcessResult r =
      Agent({"check", "--quiet", "--format", "json", "--mapping", (dir_ / "m.yaml").string(),
             "--input", (dir_ / "dup.csv").string(), "--rejects", (dir_ / "r.csv").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["duplicates"], 2);
  const std::string report = ReadFile(dir_ / "r.csv");
  EXPECT_EQ(report,
            "record,line,reason,column,first_line\n"
            "3,4,duplicate,,2\n"
            "4,5,duplicate,,3\n");
}

}  // namespace
}  // namespace koppel
