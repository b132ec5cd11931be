// The privacy officers' documents (issue 17): `koppel policy explain --format html` and
// `koppel audit report --format html`. They say what the text says, escape every value from a
// covenant or a log, and the text formats stay byte-identical.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "cli/audit_html.h"
#include "cli/audit_report.h"
#include "cli/covenant_html.h"
#include "cli/html_document.h"
#include "core/audit_log.h"
#include "core/file_contents.h"
#include "core/hex.h"
#include "core/key_file.h"
#include "core/secret.h"
#include "policies/covenant.h"
#include "policies/covenant_explain.h"
#include "policies/covenant_signature.h"
#include "tests/testing/browser_check.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using ::koppel::test::ReadFile;
using ::koppel::test::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
using OrderedJson = nlohmann::ordered_json;

const std::filesystem::path kShippedCovenant =
    std::filesystem::path(KOPPEL_SOURCE_DIR) / "policies/almelo-statistical.yaml";

policy::Covenant LoadShipped() {
  absl::StatusOr<policy::Covenant> covenant = policy::LoadCovenantFile(
      kShippedCovenant, policy::CovenantParseOptions{.allow_key_placeholders = true});
  EXPECT_TRUE(covenant.ok()) << covenant.status();
  return covenant.ok() ? *covenant : policy::Covenant{};
}

CovenantFileState UnsignedState() {
  CovenantFileState state;
  state.path = kShippedCovenant.string();
  state.sha256 = std::string(64, 'a');
  state.signatures.heading = "Signatures: none yet";
  return state;
}

size_t Occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// Every document koppel writes: self-contained, no script, nothing loaded from elsewhere.
void ExpectSelfContained(const std::string& html) {
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr(HtmlEscape(kHtmlContentSecurityPolicy)));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("http://")));
  EXPECT_THAT(html, Not(HasSubstr("https://")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr(" src=\"")));
}

// ---- koppel policy explain ------------------------------------------------------------------

TEST(CovenantExplanationText, ShippedCovenantIsByteIdenticalToBeforeTheModel) {
  const policy::Covenant covenant = LoadShipped();
  const std::string golden = ReadFile(std::filesystem::path(KOPPEL_TESTDATA_DIR) / "officers" /
                                      "almelo-statistical.explain.txt");
  ASSERT_FALSE(golden.empty());
  EXPECT_EQ(policy::ExplainCovenant(covenant, kShippedCovenant), golden);
  EXPECT_EQ(policy::ExplanationText(policy::DescribeCovenant(covenant, kShippedCovenant)), golden);
}

TEST(CovenantExplanationHtml, ShowsEveryStatementOfTheTextUnderItsHeading) {
  const policy::Covenant covenant = LoadShipped();
  const policy::CovenantExplanation explanation =
      policy::DescribeCovenant(covenant, kShippedCovenant);
  const std::string html = CovenantExplanationHtml(explanation, UnsignedState());
  ExpectSelfContained(html);
  EXPECT_THAT(html, HasSubstr("<h1>" + HtmlEscape(explanation.headline) + "</h1>"));
  ASSERT_EQ(explanation.sections.size(), 6u);
  for (const policy::ExplanationSection& section : explanation.sections) {
    EXPECT_THAT(html, HasSubstr("<h2>" + HtmlEscape(section.heading) + "</h2>"));
    ASSERT_FALSE(section.lines.empty()) << section.heading;
    for (const policy::ExplanationLine& line : section.lines) {
      EXPECT_THAT(html, HasSubstr(HtmlEscape(line.text))) << section.heading;
    }
  }
  // The header: the facts, the file's digest and its signature state.
  for (const std::string& fact :
       {std::string("almelo-mpg"), std::string("2026-01-01 (00:00 UTC)"),
        std::string("2027-12-31 (until 24:00 UTC)"), std::string("every 365 days, grace 30 days"),
        std::string(64, 'a'), std::string("Signatures: none yet")}) {
    EXPECT_THAT(html, HasSubstr(fact));
  }
  EXPECT_THAT(html, HasSubstr("id=\"signature-state\" class=\"bad\""));
  // The tables: a row per dataset a data holder may deliver, with its fields.
  EXPECT_THAT(html, HasSubstr("<td>agent-jeugdzorg</td><td>jeugdzorg</td><td>identified by "
                              "BSN</td><td>eind, start, zorgvorm</td>"));
  EXPECT_THAT(html, HasSubstr("<td>almelo-mpg</td><td>../analyses/almelo-mpg.yaml</td>"));
}

TEST(CovenantExplanationHtml, SignOffHasALinePerPartyForItsOfficer) {
  const policy::Covenant covenant = LoadShipped();
  const std::string html = CovenantExplanationHtml(
      policy::DescribeCovenant(covenant, kShippedCovenant), UnsignedState());
  const size_t signoff = html.find("<div class=\"signoff\">");
  ASSERT_NE(signoff, std::string::npos);
  const std::string block = html.substr(signoff, html.find("</section>", signoff) - signoff);
  EXPECT_EQ(Occurrences(block, "class=\"signoff-line\""), covenant.parties.size());
  for (const auto& [name, party] : covenant.parties) {
    EXPECT_THAT(block, HasSubstr("data-party=\"" + HtmlEscape(name) + "\"")) << name;
    EXPECT_THAT(block, HasSubstr("privacy officer: " + HtmlEscape(party.privacy_officer)));
  }
  EXPECT_EQ(Occurrences(block, "signed by: <span class=\"blank\"></span>"),
            covenant.parties.size());
  EXPECT_THAT(html, HasSubstr("<footer class=\"print-footer\">"));
}

// The shipped covenant with markup in its title, a party's name, organisation and purpose, the
// file name and a signature problem.
std::string HostileCovenantHtml() {
  policy::Covenant covenant = LoadShipped();
  covenant.title = "<script>alert(1)</script>";
  policy::CovenantParty hostile = covenant.parties.begin()->second;
  hostile.organisation = "\"><img src=x onerror=alert(2)>";
  hostile.purpose = "</li></ul><iframe srcdoc='x'>";
  covenant.parties["agent-<b>bold</b>"] = hostile;
  CovenantFileState state = UnsignedState();
  state.path = "<svg onload=alert(3)>.yaml";
  state.signatures.lines.push_back({.depth = 0, .text = "problem: <script>", .problem = true});
  return CovenantExplanationHtml(policy::DescribeCovenant(covenant, kShippedCovenant), state);
}

TEST(CovenantExplanationHtml, HostileCovenantValuesShowAsText) {
  const std::string html = HostileCovenantHtml();
  ExpectSelfContained(html);
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("<iframe")));
  EXPECT_THAT(html, Not(HasSubstr("<svg")));
  EXPECT_THAT(html, Not(HasSubstr("<b>bold")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(html, HasSubstr("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
  EXPECT_THAT(html, HasSubstr("data-party=\"agent-&lt;b&gt;bold&lt;/b&gt;\""));
  EXPECT_THAT(html, HasSubstr("<li class=\"problem\">problem: &lt;script&gt;"));
}

// ---- koppel audit report --------------------------------------------------------------------

struct KeyPair {
  Secret secret;
  std::string public_raw;
};

KeyPair MakeKey() {
  Secret secret = *Secret::Allocate(crypto_sign_SECRETKEYBYTES);
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk;
  crypto_sign_keypair(pk.data(), secret.mutable_data());
  secret.Seal();
  return {std::move(secret), std::string(pk.begin(), pk.end())};
}

class AuditReportHtmlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = AuditLog::Open(log_path_, key_.secret, "linker");
    ASSERT_TRUE(log.ok()) << log.status();
    AuditLog& l = **log;
    const std::string c = "almelo-mpg";
    ASSERT_TRUE(l.Append("covenant_load", "linker", c,
                         {{"version", 1}, {"sha256", std::string(64, 'c')}, {"state", "in force"}})
                    .ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(l.Append("delivery", "agent-brp", c,
                           {{"batch_id", std::string(64, static_cast<char>('0' + i))},
                            {"dataset", "brp"},
                            {"records", 400 + i},
                            {"rejected", i},
                            {"duplicate", i == 2}})
                      .ok());
    }
    ASSERT_TRUE(l.Append("delivery_refused", "agent-<script>", c,
                         {{"dataset", "\"><img src=x>"}, {"rule", "parties.datasets"}})
                    .ok());
    ASSERT_TRUE(l.Append("query", "research-unit", c, {{"analysis", "almelo-mpg"}}).ok());
    ASSERT_TRUE(l.Append("release", "research-unit", c,
                         {{"analysis", "almelo-mpg"},
                          {"spec_sha256", std::string(64, 'd')},
                          {"tables", 4},
                          {"cells_suppressed_primary", 3},
                          {"cells_suppressed_secondary", 5},
                          {"mode", "exact"},
                          {"releases_left", 19}})
                    .ok());
    ASSERT_TRUE(l.Append("query_refused", "research-unit", c,
                         {{"analysis", "other"}, {"rule", "analysis.approved"}})
                    .ok());
  }

  AuditReport Report(std::optional<std::string> signer_key) {
    absl::StatusOr<std::vector<AuditEntry>> entries = ReadAuditLog(log_path_);
    EXPECT_TRUE(entries.ok()) << entries.status();
    return BuildAuditReport(
        {AuditLogInput{.file = log_path_.string(),
                       .signer_key = std::move(signer_key),
                       .entries = entries.ok() ? *entries : std::vector<AuditEntry>{},
                       .torn_bytes = 0}});
  }

  TempDir dir_;
  KeyPair key_ = MakeKey();
  std::filesystem::path log_path_ = dir_ / "linker.audit.log";
};

TEST_F(AuditReportHtmlTest, VerdictComesFirstAndSaysIntact) {
  const AuditReport report = Report(key_.public_raw);
  ASSERT_FALSE(report.any_tampered);
  const std::string html = AuditReportHtml(report.json);
  ExpectSelfContained(html);
  const size_t verdict = html.find("<section id=\"verdict\" class=\"ok\"");
  ASSERT_NE(verdict, std::string::npos);
  EXPECT_LT(verdict, html.find("<section id=\"summary\">"));
  EXPECT_LT(verdict, html.find("<table"));
  EXPECT_THAT(html, HasSubstr("Every log intact"));
  EXPECT_THAT(html, HasSubstr(report.json["logs"][0]["verification"]["head"].get<std::string>()));
  EXPECT_THAT(
      html,
      HasSubstr(ToHex(std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(key_.public_raw.data()), key_.public_raw.size()))));
  EXPECT_THAT(html, HasSubstr("<div class=\"signoff-line\">reviewed by"));
}

TEST_F(AuditReportHtmlTest, UnverifiedAndTamperedLogsAreNotShownAsOk) {
  EXPECT_THAT(AuditReportHtml(Report(std::nullopt).json),
              HasSubstr("<section id=\"verdict\" class=\"warning\""));
  std::string bytes = ReadFile(log_path_);
  const size_t at = bytes.find("\"records\":401");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 13, "\"records\":901");
  test::WriteFile(log_path_, bytes);
  const AuditReport report = Report(key_.public_raw);
  EXPECT_TRUE(report.any_tampered);
  const std::string html = AuditReportHtml(report.json);
  EXPECT_THAT(html, HasSubstr("<section id=\"verdict\" class=\"bad\""));
  EXPECT_THAT(html, HasSubstr("FAILED VERIFICATION"));
  EXPECT_THAT(html, HasSubstr("data-state=\"tampered\""));
}

// Every figure of every table is the JSON format's number, in a cell of class "num".
TEST_F(AuditReportHtmlTest, CountsEqualTheJsonFormat) {
  const AuditReport report = Report(key_.public_raw);
  const std::string html = AuditReportHtml(report.json);
  size_t figures = 0;
  for (const AuditReportTable& table : AuditReportTables()) {
    EXPECT_THAT(html, HasSubstr(" data-table=\"" + std::string(table.key) + "\">" +
                                std::to_string(report.json[table.key].size()) + "</td>"));
    for (const OrderedJson& row : AuditTableRows(report.json, table)) {
      for (const AuditReportColumn& column : table.columns) {
        if (!row.contains(column.key) || !row[column.key].is_number()) continue;
        ++figures;
        EXPECT_THAT(html, HasSubstr("<td class=\"num\" data-col=\"" + std::string(column.key) +
                                    "\">" + row[column.key].dump() + "</td>"))
            << table.key << "." << column.key;
      }
    }
  }
  EXPECT_GE(figures, 10u);
  // The deliveries: three batches, one of them a re-acknowledged duplicate.
  EXPECT_EQ(report.json["deliveries"][0]["batches"], 2);
  EXPECT_EQ(report.json["deliveries"][0]["records"], 801);
  EXPECT_THAT(html, HasSubstr("<td class=\"num\" data-col=\"records\">801</td>"));
}

TEST_F(AuditReportHtmlTest, LogValuesAreEscaped) {
  const std::string html = AuditReportHtml(Report(key_.public_raw).json);
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, HasSubstr("agent-&lt;script&gt;"));
  EXPECT_THAT(html, HasSubstr("&quot;&gt;&lt;img src=x&gt;"));
}

// A log without its first ("open") entry names no signer: without --signer-key nothing can be
// checked, so it is reported as tampered in every format, never as intact (as an empty log is).
TEST_F(AuditReportHtmlTest, LogWithoutItsOpenEntryIsNotCheckedAndNeverIntact) {
  const std::string bytes = ReadFile(log_path_);
  std::string stripped = bytes.substr(bytes.find('\n') + 1);
  for (const bool edit_another : {false, true}) {
    SCOPED_TRACE(edit_another ? "open entry removed, another edited" : "open entry removed");
    if (edit_another) {
      const size_t at = stripped.find("\"records\":401");
      ASSERT_NE(at, std::string::npos);
      stripped.replace(at, 13, "\"records\":901");
    }
    test::WriteFile(log_path_, stripped);
    const AuditReport report = Report(std::nullopt);
    EXPECT_TRUE(report.any_tampered);
    const OrderedJson& verification = report.json["logs"][0]["verification"];
    EXPECT_EQ(verification["state"], "tampered");
    EXPECT_THAT(verification["message"].get<std::string>(), ::testing::StartsWith("NOT CHECKED"));
    EXPECT_THAT(AuditReportText(report.json), HasSubstr("FAILED VERIFICATION: NOT CHECKED"));
    const std::string html = AuditReportHtml(report.json);
    EXPECT_THAT(html, HasSubstr("<section id=\"verdict\" class=\"bad\""));
    EXPECT_THAT(html, Not(HasSubstr("intact")));
  }
}

// An edited entry in a log that still names its signer: tampered without --signer-key too.
TEST_F(AuditReportHtmlTest, EditedEntryIsTamperedWithoutSignerKey) {
  std::string bytes = ReadFile(log_path_);
  const size_t at = bytes.find("\"records\":401");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 13, "\"records\":901");
  test::WriteFile(log_path_, bytes);
  const AuditReport report = Report(std::nullopt);
  EXPECT_TRUE(report.any_tampered);
  EXPECT_EQ(report.json["logs"][0]["verification"]["state"], "tampered");
  EXPECT_THAT(AuditReportHtml(report.json), HasSubstr("<section id=\"verdict\" class=\"bad\""));
}

// A crafted entry cannot send terminal escape sequences through the text report, nor forge a
// line of it.
TEST_F(AuditReportHtmlTest, TextReportCarriesNoControlCharacters) {
  {
    auto log = AuditLog::Open(log_path_, key_.secret, "linker");
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)
                    ->Append("query_refused", "research-unit\x1b]0;owned\x07", "almelo-mpg",
                             {{"analysis", "\x1b[2J\x1b[31mred"},
                              {"rule",
                               "a\nWARNING: forged line\xc2\x9b"
                               "1m"}})
                    .ok());
  }
  const AuditReport report = Report(key_.public_raw);
  const std::string text = AuditReportText(report.json);
  for (const char c : text) {
    EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20) << static_cast<int>(c);
  }
  EXPECT_THAT(text, Not(HasSubstr("\xc2\x9b")));
  EXPECT_THAT(text, HasSubstr("[2J[31mred"));
  EXPECT_THAT(text, HasSubstr("a WARNING: forged line"));
  EXPECT_THAT(text, Not(HasSubstr("\nWARNING: forged")));
}

// The releases table (12 columns) gets a landscape page when printed; headers of figures may
// wrap, times may not.
TEST_F(AuditReportHtmlTest, WideTablesPrintLandscape) {
  const std::string html = AuditReportHtml(Report(key_.public_raw).json);
  EXPECT_THAT(html, HasSubstr("<div class=\"table-wrap wide\">\n<table class=\"audit-table\" "
                              "data-table=\"releases\">"));
  EXPECT_THAT(html, Not(HasSubstr("<div class=\"table-wrap wide\">\n<table class=\"audit-table\" "
                                  "data-table=\"queries\">")));
  EXPECT_THAT(html, HasSubstr("@page wide { size: A4 landscape; }"));
  EXPECT_THAT(html, HasSubstr("<td class=\"time\" data-col=\"time\">"));
  EXPECT_THAT(html, HasSubstr("table.audit-table th.num { white-space: normal; }"));
}

// ---- the CLI (processes) ----------------------------------------------------------------------

test::ProcessResult Koppel(std::vector<std::string> args) {
  args.insert(args.begin(), std::string(KOPPEL_BIN_DIR) + "/koppel");
  return test::RunProcess(args);
}

TEST(OfficerDocumentsCli, ExplainHtmlToAFileAndTextUnchanged) {
  TempDir dir;
  const test::ProcessResult text = Koppel({"policy", "explain", kShippedCovenant.string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const std::string golden = ReadFile(std::filesystem::path(KOPPEL_TESTDATA_DIR) / "officers" /
                                      "almelo-statistical.explain.txt");
  EXPECT_TRUE(text.out.starts_with(golden));
  EXPECT_THAT(text.out.substr(golden.size()), HasSubstr("\nSignatures: none yet ("));
  const test::ProcessResult explicit_text =
      Koppel({"policy", "explain", "--format", "text", kShippedCovenant.string()});
  EXPECT_EQ(explicit_text.out, text.out);

  const std::filesystem::path out = dir / "covenant.html";
  const test::ProcessResult html = Koppel(
      {"policy", "explain", "--format", "html", "--out", out.string(), kShippedCovenant.string()});
  ASSERT_EQ(html.exit_code, 0) << html.err;
  EXPECT_EQ(html.out, "");
  const std::string document = ReadFile(out);
  ExpectSelfContained(document);
  EXPECT_THAT(document, HasSubstr("Signatures: none yet ("));
  EXPECT_THAT(document, HasSubstr(policy::CovenantSha256Hex(ReadFile(kShippedCovenant))));
}

TEST(OfficerDocumentsCli, ReportHtmlAndOtherFormatsRefused) {
  TempDir dir;
  const KeyPair key = MakeKey();
  const std::filesystem::path log_path = dir / "vault.audit.log";
  {
    auto log = AuditLog::Open(log_path, key.secret, "vault");
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE(
        (*log)
            ->Append("key_issue", "agent-brp", "almelo-mpg", {{"epoch", 1}, {"kind", "hmac"}})
            .ok());
  }
  const test::ProcessResult html =
      Koppel({"audit", "report", "--format", "html", "--log", log_path.string()});
  ASSERT_EQ(html.exit_code, 0) << html.err;
  ExpectSelfContained(html.out);
  EXPECT_THAT(html.out, HasSubstr("<td class=\"num\" data-col=\"count\">1</td>"));

  for (const char* format : {"pdf", "markdown", ""}) {
    EXPECT_EQ(Koppel({"audit", "report", "--format", format, "--log", log_path.string()}).exit_code,
              2)
        << format;
    EXPECT_EQ(
        Koppel({"policy", "explain", "--format", format, kShippedCovenant.string()}).exit_code, 2)
        << format;
  }
  EXPECT_EQ(Koppel({"policy", "explain", "--format", "json", kShippedCovenant.string()}).exit_code,
            2);
}

// --out never replaces a file the command reads, however it is spelled; another file it does.
TEST(OfficerDocumentsCli, OutIsNeverAnInput) {
  TempDir dir;
  const KeyPair key = MakeKey();
  const std::filesystem::path log_path = dir / "victim.log";
  {
    auto log = AuditLog::Open(log_path, key.secret, "vault");
    ASSERT_TRUE(log.ok()) << log.status();
  }
  const std::string log_bytes = ReadFile(log_path);
  for (const std::string& out : {log_path.string(), (dir / "." / "victim.log").string()}) {
    const test::ProcessResult r =
        Koppel({"audit", "report", "--format", "html", "--log", log_path.string(), "--out", out});
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_THAT(r.err, HasSubstr(out));
    EXPECT_THAT(r.err, HasSubstr("--log " + log_path.string()));
  }
  EXPECT_EQ(ReadFile(log_path), log_bytes);

  const std::filesystem::path covenant = dir / "cov.yaml";
  std::filesystem::copy_file(kShippedCovenant, covenant);
  test::WriteFile(dir / "cov.yaml.sig", "not a signature file\n");
  const std::string covenant_bytes = ReadFile(covenant);
  for (const std::filesystem::path& out : {covenant, dir / "cov.yaml.sig"}) {
    const test::ProcessResult r =
        Koppel({"policy", "explain", "--format", "html", "--out", out.string(), covenant.string()});
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_THAT(r.err, HasSubstr(out.string()));
  }
  EXPECT_EQ(ReadFile(covenant), covenant_bytes);
  EXPECT_EQ(ReadFile(dir / "cov.yaml.sig"), "not a signature file\n");

  // Nor over a file the covenant pins: an approved spec turned into HTML would stop its releases.
  std::filesystem::create_directories(dir / "policies");
  std::filesystem::create_directories(dir / "analyses");
  std::filesystem::copy_file(kShippedCovenant, dir / "policies" / "cov.yaml");
  const std::filesystem::path spec = dir / "analyses" / "almelo-mpg.yaml";
  test::WriteFile(spec, "analysis: pinned\n");
  const test::ProcessResult pinned =
      Koppel({"policy", "explain", "--format", "html", "--out", spec.string(),
              (dir / "policies" / "cov.yaml").string()});
  EXPECT_EQ(pinned.exit_code, 4) << pinned.err;
  EXPECT_THAT(pinned.err, HasSubstr("analysis.approved[almelo-mpg].spec"));
  EXPECT_EQ(ReadFile(spec), "analysis: pinned\n");

  test::WriteFile(dir / "old.html", "old");
  const test::ProcessResult replaced = Koppel({"policy", "explain", "--format", "html", "--out",
                                               (dir / "old.html").string(), covenant.string()});
  EXPECT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_THAT(ReadFile(dir / "old.html"), HasSubstr("<!DOCTYPE html>"));
}

// A covenant's text cannot send terminal escape sequences through the explanation.
TEST(OfficerDocumentsCli, ExplainTextCarriesNoControlCharacters) {
  TempDir dir;
  std::string yaml = ReadFile(kShippedCovenant);
  const size_t title = yaml.find("\ntitle: ");
  ASSERT_NE(title, std::string::npos);
  yaml.replace(title, yaml.find('\n', title + 1) - title,
               "\ntitle: \"Almelo \\e[2J\\e]0;owned\\a study\"");
  test::WriteFile(dir / "hostile.yaml", yaml);
  const test::ProcessResult r = Koppel({"policy", "explain", (dir / "hostile.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Almelo [2J]0;owned study"));
  for (const char c : r.out) {
    EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20) << static_cast<int>(c);
  }
}

// A log without its open entry: every format and koppel audit verify say it failed (exit 5);
// with an --out that cannot be written, the warning still comes first.
TEST(OfficerDocumentsCli, LogWithoutOpenEntryFailsInEveryFormatAndWarnsFirst) {
  TempDir dir;
  const KeyPair key = MakeKey();
  const std::filesystem::path log_path = dir / "linker.log";
  {
    auto log = AuditLog::Open(log_path, key.secret, "linker");
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append("query", "research-unit", "almelo-mpg", {{"analysis", "a"}}).ok());
  }
  const std::string bytes = ReadFile(log_path);
  test::WriteFile(log_path, bytes.substr(bytes.find('\n') + 1));
  for (const char* format : {"text", "json", "html"}) {
    const test::ProcessResult r =
        Koppel({"audit", "report", "--format", format, "--log", log_path.string()});
    EXPECT_EQ(r.exit_code, 5) << format;
    EXPECT_THAT(r.out, HasSubstr("NOT CHECKED")) << format;
    EXPECT_THAT(r.out, Not(HasSubstr("intact"))) << format;
    EXPECT_THAT(r.err, HasSubstr("failed verification: NOT CHECKED")) << format;
  }
  ASSERT_TRUE(WritePublicKeyFile(
                  dir / "linker.pub",
                  std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(key.public_raw.data()),
                                           key.public_raw.size()))
                  .ok());
  EXPECT_EQ(Koppel({"audit", "verify", "--log", log_path.string(), "--signer-key",
                    (dir / "linker.pub").string()})
                .exit_code,
            5);

  const test::ProcessResult unwritable = Koppel({"audit", "report", "--log", log_path.string(),
                                                 "--out", (dir / "no-dir" / "r.txt").string()});
  EXPECT_EQ(unwritable.exit_code, 4);
  const size_t warning = unwritable.err.find("failed verification");
  ASSERT_NE(warning, std::string::npos) << unwritable.err;
  EXPECT_LT(warning, unwritable.err.find("no-dir"));
}

// Both documents as an officer's browser shows them (headless chromium): nothing loaded, no
// script run, no console complaint, a page that is not blank, printable on A4, the hostile
// values shown as text.
void ExpectCleanInBrowser(const test::BrowserView& view) {
  EXPECT_TRUE(view.loaded);
  EXPECT_EQ(view.Complaints(), std::vector<std::string>{});
  EXPECT_EQ(view.requests, std::vector<std::string>{});
  EXPECT_EQ(view.scripts, 0);
  EXPECT_EQ(view.csp, std::string(kHtmlContentSecurityPolicy));
  EXPECT_TRUE(view.non_blank) << view.distinct_colours << " colours";
  EXPECT_GE(view.pdf_pages, 2);
}

TEST(OfficerDocumentsBrowser, CovenantDocumentRendersCleanWithEverySection) {
  TempDir dir;
  test::WriteFile(dir / "covenant.html", HostileCovenantHtml());
  absl::StatusOr<test::BrowserView> view = test::RenderInBrowser(dir / "covenant.html");
  ASSERT_TRUE(view.ok()) << view.status();
  ExpectCleanInBrowser(*view);
  EXPECT_THAT(view->title, HasSubstr("<script>alert(1)</script>"));
  for (const std::string& text :
       {std::string("Who shares what (data holders)"), std::string("What can come out: analyses"),
        std::string("Who signs"), std::string("Sign-off"), std::string("agent-<b>bold</b>"),
        std::string("</li></ul><iframe srcdoc='x'>"), std::string("problem: <script>"),
        std::string("Guarantee for exact releases")}) {
    EXPECT_THAT(view->text, HasSubstr(text));
  }
}

TEST_F(AuditReportHtmlTest, RendersCleanInBrowserWithItsFigures) {
  const AuditReport report = Report(key_.public_raw);
  test::WriteFile(dir_ / "audit.html", AuditReportHtml(report.json));
  absl::StatusOr<test::BrowserView> view = test::RenderInBrowser(dir_ / "audit.html");
  ASSERT_TRUE(view.ok()) << view.status();
  ExpectCleanInBrowser(*view);
  EXPECT_THAT(view->text, HasSubstr("Every log intact"));
  EXPECT_THAT(view->text, HasSubstr("agent-<script>"));
  EXPECT_THAT(view->text, HasSubstr("801"));
  EXPECT_THAT(view->text, HasSubstr("reviewed by"));
}

}  // namespace
}  // namespace koppel
