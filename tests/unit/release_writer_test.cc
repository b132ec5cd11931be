// The release writer on a release built in code: exact CSV, JSON that parses back to the same
// figures, markdown with the rows and the metadata, aligned terminal text, and refusals of
// directories that cannot be written and of releases that cannot be written safely.
#include "cli/release_writer.h"

#include <gtest/gtest.h>

#include <set>

#include "core/proto_time.h"
#include "tests/testing/released_cells.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/unprivileged.h"

namespace koppel {
namespace {

using test::AddRow;
using test::Amount;
using test::Count;
using test::Percent;
using test::ReadFile;
using test::Suppressed;
using test::SuppressedWithValue;
using test::TempDir;
using test::WriteFile;

v1::ReleasedTable PerWijkTable() {
  v1::ReleasedTable table;
  table.set_name("per_wijk");
  table.set_title("Families with problems on several fronts, by wijk");
  table.set_row_heading("Wijk");
  for (const char* c : {"Families", "Multi-problem", "% multi-problem", "Mean cost (EUR)"}) {
    table.add_columns(c);
  }
  AddRow(&table, "Centrum", {Count(412), Count(37), Percent(8.98), Amount(12345.678)});
  AddRow(&table, "Noord, \"De Riet\"",
         {SuppressedWithValue(Count(8)), Suppressed(), Suppressed(),
          SuppressedWithValue(Amount(99999.99))});
  // A cell without a value that is not suppressed does not apply (written blank).
  AddRow(&table, "Oost", {Count(96), Suppressed(), v1::ReleasedCell(), Amount(2500)});
  AddRow(&table, "Total", {Count(516), Count(52), Percent(10.077), Amount(4321.5)});
  table.set_cells_suppressed(6);
  return table;
}

v1::Release TestRelease() {
  v1::Release release;
  *release.mutable_metadata() = test::TestMetadata();
  *release.add_tables() = PerWijkTable();
  return release;
}

std::set<std::string> FilesIn(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

TEST(ReleaseWriterTest, FormatsCellsWithFixedDecimalsAndHidesSuppressedValues) {
  EXPECT_EQ(FormatCell(Count(-3)), "-3");
  EXPECT_EQ(FormatCell(Amount(12345.678)), "12345.68");
  EXPECT_EQ(FormatCell(Amount(2500)), "2500.00");
  EXPECT_EQ(FormatCell(Amount(-0.001)), "0.00");
  EXPECT_EQ(FormatCell(Amount(-1.5)), "-1.50");
  EXPECT_EQ(FormatCell(Percent(8.98)), "9.0");
  EXPECT_EQ(FormatCell(Percent(-0.01)), "0.0");
  EXPECT_EQ(FormatCell(Count(0)), "0");
  EXPECT_EQ(FormatCell(Suppressed()), "*");
  EXPECT_EQ(FormatCell(v1::ReleasedCell()), "");  // not applicable: blank
  EXPECT_EQ(FormatCell(SuppressedWithValue(Count(7))), "*");
}

TEST(ReleaseWriterTest, CsvIsExactAndMetadataGoesToJson) {
  TempDir dir;
  absl::StatusOr<std::vector<std::filesystem::path>> written =
      WriteRelease(TestRelease(), ReleaseFormat::kCsv, dir.path());
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(FilesIn(dir.path()), (std::set<std::string>{"per_wijk.csv", "release-metadata.json"}));
  EXPECT_EQ(ReadFile(dir / "per_wijk.csv"),
            "Wijk,Families,Multi-problem,% multi-problem,Mean cost (EUR)\n"
            "Centrum,412,37,9.0,12345.68\n"
            "\"Noord, \"\"De Riet\"\"\",*,*,*,*\n"
            "Oost,96,*,,2500.00\n"
            "Total,516,52,10.1,4321.50\n");
  nlohmann::ordered_json meta =
      nlohmann::ordered_json::parse(ReadFile(dir / "release-metadata.json"));
  EXPECT_EQ(meta["metadata"]["covenant_id"], "almelo-demo");
  EXPECT_EQ(meta["metadata"]["warnings"][0], "dataset jeugdzorg has no records for 2013");
  EXPECT_EQ(meta["tables"][0]["file"], "per_wijk.csv");
  EXPECT_EQ(meta["tables"][0]["title"], "Families with problems on several fronts, by wijk");
  EXPECT_EQ(meta["tables"][0]["cells_suppressed"], 6);
}

TEST(ReleaseWriterTest, JsonRoundTripsWithSuppressedCellsAsStars) {
  TempDir dir;
  ASSERT_TRUE(WriteRelease(TestRelease(), ReleaseFormat::kJson, dir.path()).ok());
  EXPECT_EQ(FilesIn(dir.path()), std::set<std::string>{"release.json"});
  const std::string text = ReadFile(dir / "release.json");
  EXPECT_EQ(text.find("99999"), std::string::npos) << "a suppressed value leaked";
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(text);
  EXPECT_EQ(j, ReleaseToJson(TestRelease()));

  const nlohmann::ordered_json& table = j["tables"][0];
  EXPECT_EQ(table["name"], "per_wijk");
  EXPECT_EQ(table["columns"].size(), 4u);
  const nlohmann::ordered_json& centrum = table["rows"][0]["cells"];
  EXPECT_TRUE(centrum[0].is_number_integer());
  EXPECT_EQ(centrum[0], 412);
  EXPECT_DOUBLE_EQ(centrum[2].get<double>(), 9.0);
  EXPECT_DOUBLE_EQ(centrum[3].get<double>(), 12345.68);
  EXPECT_EQ(table["rows"][1]["label"], "Noord, \"De Riet\"");
  EXPECT_EQ(table["rows"][1]["cells"], nlohmann::ordered_json({"*", "*", "*", "*"}));
  EXPECT_EQ(table["rows"][2]["cells"], nlohmann::ordered_json({96, "*", nullptr, 2500.0}));

  const nlohmann::ordered_json& meta = j["metadata"];
  EXPECT_EQ(meta["spec_sha256"],
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(meta["reference_dates"], nlohmann::ordered_json({"2014-01-01", "2013-01-01"}));
  EXPECT_EQ(meta["deliveries"][1]["records"], 850);
  EXPECT_EQ(meta["min_cell"], 10);
  EXPECT_EQ(meta["cells_suppressed_secondary"], 3);
}

TEST(ReleaseWriterTest, MarkdownHasMetadataAndRightAlignedRows) {
  TempDir dir;
  ASSERT_TRUE(WriteRelease(TestRelease(), ReleaseFormat::kMarkdown, dir.path()).ok());
  EXPECT_EQ(FilesIn(dir.path()), std::set<std::string>{"release.md"});
  const std::string md = ReadFile(dir / "release.md");
  for (const char* expected : {
           "## Families with problems on several fronts, by wijk\n",
           "| Wijk | Families | Multi-problem | % multi-problem | Mean cost (EUR) |\n"
           "| --- | ---: | ---: | ---: | ---: |\n"
           "| Centrum | 412 | 37 | 9.0 | 12345.68 |\n"
           "| Noord, \"De Riet\" | * | * | * | * |\n"
           "| Oost | 96 | * |  | 2500.00 |\n"
           "| Total | 516 | 52 | 10.1 | 4321.50 |\n",
           "**Covenant:** almelo-demo",
           "`9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08`",
           "**Reference dates:** 2014-01-01, 2013-01-01",
           "brp (3 batches, 12000 records); uwv (1 batches, 850 records)",
           "minimum cell 10; dominance (1, 80%)",
           "**Cells suppressed:** 3 primary, 3 secondary",
           "  - dataset jeugdzorg has no records for 2013\n",
       }) {
    EXPECT_NE(md.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << md;
  }
  EXPECT_EQ(md.find("99999"), std::string::npos) << "a suppressed value leaked";
}

// A release of a linker from before Timestamp, Date and presence: its time and dates as text,
// -1 for an unlimited budget (still sent so, for older clients). It is written as the same
// release in the new fields is.
TEST(ReleaseWriterTest, AnOldStyleReleaseIsWrittenAsItsNewStyleTwin) {
  v1::Release twin = TestRelease();
  twin.mutable_metadata()->set_covenant_version(3);
  v1::Release old = twin;
  v1::ReleaseMetadata* m = old.mutable_metadata();
  m->clear_reference_dates();
  m->add_legacy_reference_dates("2014-01-01");
  m->add_legacy_reference_dates("2013-01-01");
  m->clear_release_time();
  m->set_legacy_released_at("2024-05-01T10:00:00Z");
  m->set_releases_left(-1);

  const nlohmann::ordered_json j = ReleaseToJson(old);
  EXPECT_EQ(j, ReleaseToJson(twin));
  EXPECT_EQ(j["metadata"]["reference_dates"], nlohmann::ordered_json({"2014-01-01", "2013-01-01"}));
  EXPECT_EQ(j["metadata"]["released_at"], "2024-05-01T10:00:00Z");
  EXPECT_TRUE(j["metadata"]["releases_left"].is_null());
  const std::string md = ReleaseToMarkdown(old);
  EXPECT_EQ(md, ReleaseToMarkdown(twin));
  EXPECT_NE(md.find("**Reference dates:** 2014-01-01, 2013-01-01"), std::string::npos) << md;
  EXPECT_NE(md.find("**Released at:** 2024-05-01T10:00:00Z"), std::string::npos) << md;
  EXPECT_EQ(md.find("Release budget"), std::string::npos) << md;

  m->set_releases_left(2);  // a budget: shown whichever linker sent it
  EXPECT_EQ(ReleaseToJson(old)["metadata"]["releases_left"], 2);
  EXPECT_NE(ReleaseToMarkdown(old).find("**Release budget:** 2 release(s) left"),
            std::string::npos);
}

TEST(ReleaseWriterTest, MarkdownEscapesLabelsThatWouldBreakTheTable) {
  v1::Release release = TestRelease();
  release.mutable_tables(0)->mutable_rows(0)->set_label("a|b *c*");
  const std::string md = ReleaseToMarkdown(release);
  EXPECT_NE(md.find("| a\\|b \\*c\\* | 412 |"), std::string::npos) << md;
}

TEST(ReleaseWriterTest, TextAlignsLabelsLeftAndFiguresRight) {
  v1::ReleasedTable table;
  table.set_name("small");
  table.set_title("Small");
  table.set_row_heading("Area");
  table.add_columns("N");
  table.add_columns("%");
  AddRow(&table, "Café", {Count(1234), Percent(5.26)});
  AddRow(&table, "Totaal", {Count(12000), Percent(100)});
  AddRow(&table, "X", {Suppressed(), Suppressed()});
  EXPECT_EQ(FormatTableText(table),
            "Small\n"
            "Area        N      %\n"
            "------  -----  -----\n"
            "Café     1234    5.3\n"
            "Totaal  12000  100.0\n"
            "X           *      *\n");
}

TEST(ReleaseWriterTest, TextOfTheTestTableHasEveryLineEndingInOneColumn) {
  const std::string text = FormatTableText(PerWijkTable());
  std::vector<std::string> lines;
  size_t start = text.find('\n') + 1;  // after the title
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  ASSERT_EQ(lines.size(), 6u);  // header, rule, four rows
  for (const std::string& line : lines) EXPECT_EQ(line.size(), lines[0].size()) << line;
  EXPECT_EQ(lines[2].substr(0, 8), "Centrum ");
  EXPECT_EQ(lines[3].back(), '*');
  EXPECT_EQ(text.find("99999"), std::string::npos);
}

TEST(ReleaseWriterTest, RefusesADirectoryThatCannotBeCreatedAndNamesIt) {
  TempDir dir;
  WriteFile(dir / "blocker", "a file, not a directory");
  const std::filesystem::path out = dir / "blocker" / "release";
  absl::StatusOr<std::vector<std::filesystem::path>> written =
      WriteRelease(TestRelease(), ReleaseFormat::kCsv, out);
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.status().message().find(out.string()), std::string::npos) << written.status();
  absl::Status prepared = PrepareOutputDir(dir / "blocker");
  ASSERT_FALSE(prepared.ok());
  EXPECT_NE(prepared.message().find((dir / "blocker").string()), std::string::npos) << prepared;
}

TEST(ReleaseWriterTest, RefusesADirectoryWithoutWritePermission) {
  TempDir dir;
  const std::filesystem::path out = dir / "readonly";
  std::filesystem::create_directory(out);
  std::filesystem::permissions(
      out, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  // Root may write anywhere; without that privilege the write must be refused (CI runs as root).
  const absl::Status written = test::RunWithoutPermissionOverride(
      [&] { return WriteRelease(TestRelease(), ReleaseFormat::kJson, out).status(); });
  std::filesystem::permissions(out, std::filesystem::perms::owner_all);
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.message().find(out.string()), std::string::npos) << written;
  EXPECT_TRUE(FilesIn(out).empty());
}

TEST(ReleaseWriterTest, WritesNothingForATableNameThatIsNotAFileName) {
  TempDir dir;
  for (const char* name : {"../escape", "", ".hidden", "a/b"}) {
    v1::Release release = TestRelease();
    release.mutable_tables(0)->set_name(name);
    absl::StatusOr<std::vector<std::filesystem::path>> written =
        WriteRelease(release, ReleaseFormat::kCsv, dir.path());
    EXPECT_TRUE(absl::IsInvalidArgument(written.status())) << name << ": " << written.status();
  }
  v1::Release twice = TestRelease();
  *twice.add_tables() = PerWijkTable();
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRelease(twice)));
  v1::Release ragged = TestRelease();
  ragged.mutable_tables(0)->mutable_rows(1)->add_cells()->set_count(1);
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateRelease(ragged)));
  EXPECT_TRUE(FilesIn(dir.path()).empty());
  EXPECT_TRUE(FilesIn(dir.path().parent_path()).count("escape.csv") == 0);
}

TEST(ReleaseWriterTest, KnowsTheThreeFormatNames) {
  EXPECT_EQ(ReleaseFormatFromName("csv"), ReleaseFormat::kCsv);
  EXPECT_EQ(ReleaseFormatFromName("json"), ReleaseFormat::kJson);
  EXPECT_EQ(ReleaseFormatFromName("md"), ReleaseFormat::kMarkdown);
  EXPECT_EQ(ReleaseFormatFromName("html"), ReleaseFormat::kHtml);
  EXPECT_EQ(ReleaseFormatFromName("xlsx"), ReleaseFormat::kXlsx);
  EXPECT_FALSE(ReleaseFormatFromName("pdf").has_value());
}

}  // namespace
}  // namespace koppel
