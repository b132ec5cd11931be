// The release as an Excel workbook, read back with openpyxl (tests/tools/xlsx_to_json.py): a
// sheet per table with every figure a number holding what FormatCell shows, `*` as text, frozen
// headers and a legend; the metadata sheet; sheet names Excel accepts; no suppressed value in any
// part of the file, even when the proto carries one.
#include "cli/release_xlsx.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "cli/release_writer.h"
#include "core/proto_time.h"
#include "tests/testing/released_cells.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/xlsx_reader.h"

namespace koppel {
namespace {

using nlohmann::json;
using test::AddRow;
using test::Amount;
using test::Count;
using test::Percent;
using test::Suppressed;
using test::SuppressedWithValue;
using test::TempDir;
using test::XlsxCell;
using test::XlsxSheet;

// A title that would be a formula, markup, an Excel escape, a control character and a byte that
// is not UTF-8, if any of them were taken for more than text.
const std::string kHostileTitle =
    "=HYPERLINK(\"http://evil.example\",\"x\") <b>&amp; _x0041_ \x01tab\there \xff end";
// What a reader gets back: the same text, the control character dropped, the byte as U+FFFD.
const std::string kHostileTitleRead =
    "=HYPERLINK(\"http://evil.example\",\"x\") <b>&amp; _x0041_ tab\there \xEF\xBF\xBD end";

// Two 40-character names that agree on their first 31 characters.
const std::string kLongName2013 = "problem_domain_overlap_per_wijk_2013_new";
const std::string kLongName2014 = "problem_domain_overlap_per_wijk_2014_new";

v1::ReleasedTable PerWijkTable() {
  v1::ReleasedTable table;
  table.set_name("per_wijk");
  table.set_title(kHostileTitle);
  table.set_row_heading("Wijk");
  for (const char* c : {"Families", "Multi-problem", "% multi-problem", "Mean cost (EUR)"}) {
    table.add_columns(c);
  }
  AddRow(&table, "Centrum", {Count(412), Count(37), Percent(8.98), Amount(12345.678)});
  AddRow(&table, "=cmd|' /C calc'!A0",
         {SuppressedWithValue(Count(987654)), Suppressed(), Suppressed(),
          SuppressedWithValue(Amount(13579.24))});
  AddRow(&table, "Oost", {Count(96), Suppressed(), v1::ReleasedCell(), Amount(2500)});
  AddRow(&table, "Almelo totaal", {Count(516), Count(52), Percent(10.077), Amount(-0.001)});
  table.set_cells_suppressed(5);
  return table;
}

v1::ReleasedTable SmallTable(const std::string& name, int64_t base) {
  v1::ReleasedTable table;
  table.set_name(name);
  table.set_title("Overlap " + name);
  table.set_row_heading("Domain");
  table.add_columns("n");
  table.add_columns("pct");
  AddRow(&table, "school", {Count(base), Percent(12.25)});
  AddRow(&table, "police", {Count(base + 1), Suppressed()});
  table.set_cells_suppressed(1);
  return table;
}

v1::Release TestRelease() {
  v1::Release release;
  v1::ReleaseMetadata* m = release.mutable_metadata();
  *m = test::TestMetadata();
  m->set_covenant_version(2);
  *release.add_tables() = PerWijkTable();
  *release.add_tables() = SmallTable(kLongName2013, 40);
  *release.add_tables() = SmallTable(kLongName2014, 50);
  *release.add_tables() = SmallTable("Release", 60);  // the metadata sheet's name, in other case
  v1::ReleasedTable empty;
  empty.set_name("empty");
  empty.set_title("A table without rows");
  empty.set_row_heading("Wijk");
  empty.add_columns("n");
  *release.add_tables() = empty;
  return release;
}

// Writes the release's workbook into `dir` and reads it back.
json WriteAndRead(const v1::Release& release, const TempDir& dir) {
  absl::StatusOr<std::string> bytes = ReleaseToXlsx(release);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (!bytes.ok()) return json();
  test::WriteFile(dir / "release.xlsx", *bytes);
  absl::StatusOr<json> workbook = test::ReadXlsx(dir / "release.xlsx");
  EXPECT_TRUE(workbook.ok()) << workbook.status();
  return workbook.ok() ? *workbook : json();
}

std::string Text(const json* cell) {
  if (cell == nullptr) return "<empty>";
  return (*cell)["type"] == "s" ? (*cell)["value"].get<std::string>() : (*cell)["value"].dump();
}

// A numeric cell's value; NaN for anything else.
double Number(const json* cell) {
  if (cell == nullptr || (*cell)["type"] != "n") return std::nan("");
  return (*cell)["value"].get<double>();
}

// The row (1-based) of the metadata sheet whose column A is `label`; 0 when there is none.
int RowLabelled(const json& sheet, const std::string& label) {
  for (const json& cell : sheet["cells"]) {
    if (cell["col"] == 1 && cell["value"] == label) return cell["row"].get<int>();
  }
  return 0;
}

TEST(ReleaseXlsxTest, SheetNamesFitExcelAndStayApart) {
  v1::Release release = TestRelease();
  *release.add_tables() = SmallTable("history", 1);  // reserved by Excel
  *release.add_tables() = SmallTable("exactly_31_characters_long_name", 1);
  *release.add_tables() = SmallTable("PER_WIJK", 1);  // differs from per_wijk in case only
  const std::vector<std::string> expected = {"per_wijk",
                                             "problem_domain_overlap_per_wi~1",
                                             "problem_domain_overlap_per_wi~2",
                                             "Release~1",
                                             "empty",
                                             "history~1",
                                             "exactly_31_characters_long_name",
                                             "PER_WIJK~1"};
  EXPECT_EQ(XlsxSheetNames(release), expected);
  for (const std::string& name : XlsxSheetNames(release)) EXPECT_LE(name.size(), 31u) << name;
}

TEST(ReleaseXlsxTest, TheSameReleaseGivesTheSameBytes) {
  absl::StatusOr<std::string> first = ReleaseToXlsx(TestRelease());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->substr(0, 4), std::string("PK\x03\x04", 4));  // a zip container
  absl::StatusOr<std::string> second = ReleaseToXlsx(TestRelease());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(*first == *second);
}

// Sets TMPDIR for the lifetime of the object, then puts back what was there.
class ScopedTmpdir {
 public:
  explicit ScopedTmpdir(const std::filesystem::path& dir) {
    const char* old = std::getenv("TMPDIR");
    if (old != nullptr) saved_ = old;
    ::setenv("TMPDIR", dir.c_str(), 1);
  }
  ~ScopedTmpdir() {
    if (saved_) {
      ::setenv("TMPDIR", saved_->c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
  }
  ScopedTmpdir(const ScopedTmpdir&) = delete;
  ScopedTmpdir& operator=(const ScopedTmpdir&) = delete;

 private:
  std::optional<std::string> saved_;
};

TEST(ReleaseXlsxTest, WritesOnlyTheWorkbookAndLeavesNoTemporaryFile) {
  TempDir dir;
  std::filesystem::create_directory(dir / "tmp");
  absl::StatusOr<std::vector<std::filesystem::path>> written;
  {
    ScopedTmpdir tmpdir(dir / "tmp");
    written = WriteRelease(TestRelease(), ReleaseFormat::kXlsx, dir / "out");
  }
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, std::vector<std::filesystem::path>{dir / "out" / "release.xlsx"});
  EXPECT_TRUE(std::filesystem::is_empty(dir / "tmp"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "out"),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(ReleaseXlsxTest, AFailingStepIsNamedAndLeavesNoTemporaryDirectory) {
  v1::Release release = TestRelease();
  *release.add_tables() = SmallTable("bad[name", 1);  // a sheet name libxlsxwriter refuses
  TempDir dir;
  std::filesystem::create_directory(dir / "tmp");
  absl::StatusOr<std::string> bytes;
  {
    ScopedTmpdir tmpdir(dir / "tmp");
    bytes = ReleaseToXlsx(release);
  }
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StartsWith(bytes.status().message(),
                               "the xlsx workbook could not be written: adding sheet 'bad[name': "))
      << bytes.status();
  EXPECT_TRUE(std::filesystem::is_empty(dir / "tmp"));
}

// A workbook that cannot be made is not an output directory that cannot be written (koppel query
// exits 1, not 4): WriteRelease says so and names the temporary directory.
TEST(ReleaseXlsxTest, ATemporaryDirectoryThatCannotBeMadeIsNamed) {
  TempDir dir;
  absl::StatusOr<std::vector<std::filesystem::path>> written;
  {
    ScopedTmpdir tmpdir("/proc");  // not even root can make a directory there
    written = WriteRelease(TestRelease(), ReleaseFormat::kXlsx, dir / "out");
  }
  ASSERT_FALSE(written.ok());
  EXPECT_FALSE(absl::IsPermissionDenied(written.status())) << written.status();
  EXPECT_FALSE(absl::IsInvalidArgument(written.status())) << written.status();
  EXPECT_TRUE(absl::StartsWith(
      written.status().message(),
      "the xlsx workbook could not be written: creating a temporary directory in /proc: "))
      << written.status();
  EXPECT_TRUE(std::filesystem::is_empty(dir / "out"));
}

// What `koppel query --format xlsx` checks before it asks the linker.
TEST(ReleaseXlsxTest, CheckXlsxCanBeWrittenMakesAndRemovesATemporaryDirectory) {
  TempDir dir;
  std::filesystem::create_directory(dir / "tmp");
  {
    ScopedTmpdir tmpdir(dir / "tmp");
    EXPECT_TRUE(CheckXlsxCanBeWritten().ok());
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir / "tmp"));
  absl::Status status;
  {
    ScopedTmpdir tmpdir("/proc");
    status = CheckXlsxCanBeWritten();
  }
  EXPECT_TRUE(absl::StartsWith(
      status.message(),
      "the xlsx workbook could not be written: creating a temporary directory in /proc: "))
      << status;
}

TEST(ReleaseXlsxReadBackTest, AWorkbookOpenpyxlCannotReadShowsItsError) {
  TempDir dir;
  test::WriteFile(dir / "release.xlsx", "not a workbook");
  absl::StatusOr<json> workbook = test::ReadXlsx(dir / "release.xlsx");
  ASSERT_FALSE(workbook.ok());
  EXPECT_EQ(workbook.status().message().find("scripts/setup"), std::string::npos)
      << workbook.status();
  EXPECT_NE(workbook.status().message().find("is not a zip file"), std::string::npos)
      << workbook.status();
}

// The creation time in docProps/core.xml is the release time, the only thing in which the
// workbooks of two releases that differ only in their release time differ.
TEST(ReleaseXlsxReadBackTest, TheCreationTimeIsTheReleaseTime) {
  v1::Release old_release = TestRelease();
  *old_release.mutable_metadata()->mutable_release_time() = ToProtoTimestamp(
      absl::FromCivil(absl::CivilSecond(1995, 3, 4, 12, 34, 56), absl::UTCTimeZone()));
  TempDir dir;
  const json workbook = WriteAndRead(old_release, dir);
  ASSERT_FALSE(workbook.is_null());
  EXPECT_EQ(workbook["properties"]["created"], "1995-03-04T12:34:56");

  absl::StatusOr<std::string> old_parts = test::XlsxPartsText(dir / "release.xlsx");
  ASSERT_TRUE(old_parts.ok()) << old_parts.status();
  TempDir new_dir;
  ASSERT_FALSE(WriteAndRead(TestRelease(), new_dir).is_null());
  absl::StatusOr<std::string> new_parts = test::XlsxPartsText(new_dir / "release.xlsx");
  ASSERT_TRUE(new_parts.ok()) << new_parts.status();
  ASSERT_NE(*old_parts, *new_parts);
  // core.xml's created and modified, and released_at on the metadata sheet.
  EXPECT_EQ(absl::StrReplaceAll(*old_parts, {{"1995-03-04T12:34:56Z", "2024-05-01T10:00:00Z"}}),
            *new_parts);
}

TEST(ReleaseXlsxReadBackTest, AReleaseWithoutReleaseTimeIsDatedTheZipEpoch) {
  v1::Release release = TestRelease();
  release.mutable_metadata()->clear_release_time();
  TempDir dir;
  const json workbook = WriteAndRead(release, dir);
  ASSERT_FALSE(workbook.is_null());
  EXPECT_EQ(workbook["properties"]["created"], "1980-01-01T00:00:00");
}

TEST(ReleaseXlsxReadBackTest, SheetsComeInReleaseOrderAfterTheMetadata) {
  TempDir dir;
  const json workbook = WriteAndRead(TestRelease(), dir);
  ASSERT_FALSE(workbook.is_null());
  std::vector<std::string> names;
  for (const json& sheet : workbook["sheets"]) names.push_back(sheet["name"]);
  EXPECT_EQ(names,
            (std::vector<std::string>{"release", "per_wijk", "problem_domain_overlap_per_wi~1",
                                      "problem_domain_overlap_per_wi~2", "Release~1", "empty"}));
  EXPECT_EQ(workbook["properties"]["creator"], "koppel");
  EXPECT_EQ(workbook["properties"]["title"], "Release: almelo-2014");
  EXPECT_EQ(workbook["properties"]["created"], "2024-05-01T10:00:00");
}

TEST(ReleaseXlsxReadBackTest, EveryCellIsTheNumberOrTextTheReleaseShows) {
  const v1::Release release = TestRelease();
  TempDir dir;
  const json workbook = WriteAndRead(release, dir);
  ASSERT_FALSE(workbook.is_null());
  const std::vector<std::string> sheet_names = XlsxSheetNames(release);
  for (int t = 0; t < release.tables_size(); ++t) {
    const v1::ReleasedTable& table = release.tables(t);
    SCOPED_TRACE(table.name());
    const json* sheet = XlsxSheet(workbook, sheet_names[static_cast<size_t>(t)]);
    ASSERT_NE(sheet, nullptr);
    EXPECT_EQ((*sheet)["freeze_panes"], "B4");
    EXPECT_EQ(Text(XlsxCell(*sheet, 2, 1)), "Table " + table.name() + ", " +
                                                std::to_string(table.cells_suppressed()) +
                                                " cell(s) suppressed");
    const json* heading = XlsxCell(*sheet, 3, 1);
    ASSERT_NE(heading, nullptr);
    EXPECT_EQ((*heading)["value"], table.row_heading());
    EXPECT_TRUE((*heading)["bold"].get<bool>());
    for (int c = 0; c < table.columns_size(); ++c) {
      const json* header = XlsxCell(*sheet, 3, c + 2);
      ASSERT_NE(header, nullptr);
      EXPECT_EQ((*header)["value"], table.columns(c));
      EXPECT_TRUE((*header)["bold"].get<bool>());
    }
    for (int r = 0; r < table.rows_size(); ++r) {
      const v1::ReleasedRow& row = table.rows(r);
      EXPECT_EQ(Text(XlsxCell(*sheet, r + 4, 1)), row.label());
      for (int c = 0; c < row.cells_size(); ++c) {
        const v1::ReleasedCell& cell = row.cells(c);
        const std::string shown = FormatCell(cell);
        const json* read = XlsxCell(*sheet, r + 4, c + 2);
        SCOPED_TRACE(row.label() + " / " + table.columns(c) + " = " + shown);
        if (shown.empty()) {
          EXPECT_EQ(read, nullptr) << (*read).dump();
        } else if (shown == "*") {
          ASSERT_NE(read, nullptr);
          EXPECT_EQ((*read)["type"], "s");
          EXPECT_EQ((*read)["value"], "*");
        } else {
          ASSERT_NE(read, nullptr);
          EXPECT_EQ((*read)["type"], "n");
          EXPECT_EQ((*read)["value"].get<double>(), std::strtod(shown.c_str(), nullptr));
          const char* format = cell.has_count() ? "0" : cell.has_amount() ? "0.00" : "0.0";
          EXPECT_EQ((*read)["number_format"], format);
        }
      }
    }
    EXPECT_EQ(Text(XlsxCell(*sheet, table.rows_size() + 5, 1)), kXlsxLegend);
  }
}

TEST(ReleaseXlsxReadBackTest, FiguresAreWhatTheOtherFormatsShow) {
  TempDir dir;
  const json workbook = WriteAndRead(TestRelease(), dir);
  ASSERT_FALSE(workbook.is_null());
  const json* sheet = XlsxSheet(workbook, "per_wijk");
  ASSERT_NE(sheet, nullptr);
  EXPECT_EQ(Text(XlsxCell(*sheet, 1, 1)), kHostileTitleRead);
  EXPECT_EQ((*XlsxCell(*sheet, 1, 1))["type"], "s");
  // Excel (unlike openpyxl) reads `_x0041_` as "A"; written as `_x005F_x0041_` it stays text.
  absl::StatusOr<std::string> parts = test::XlsxPartsText(dir / "release.xlsx");
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_NE(parts->find("&amp;amp; _x005F_x0041_ tab"), std::string::npos);
  EXPECT_EQ(Number(XlsxCell(*sheet, 4, 2)), 412);
  EXPECT_EQ(Number(XlsxCell(*sheet, 4, 4)), 9.0);       // 8.98 as shown: one decimal
  EXPECT_EQ(Number(XlsxCell(*sheet, 4, 5)), 12345.68);  // two decimals
  EXPECT_EQ(Text(XlsxCell(*sheet, 5, 1)), "=cmd|' /C calc'!A0");
  EXPECT_EQ((*XlsxCell(*sheet, 5, 1))["type"], "s");  // a label is never a formula
  EXPECT_EQ(Text(XlsxCell(*sheet, 5, 2)), "*");
  EXPECT_EQ(XlsxCell(*sheet, 6, 4), nullptr);  // not applicable: empty
  EXPECT_EQ(Number(XlsxCell(*sheet, 7, 4)), 10.1);
  EXPECT_EQ(Text(XlsxCell(*sheet, 7, 5)), "0");  // -0.001 shows as 0.00, no sign
  EXPECT_EQ((*sheet)["auto_filter"], "A3:E7");

  const json* empty = XlsxSheet(workbook, "empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(Text(XlsxCell(*empty, 1, 1)), "A table without rows");
  EXPECT_EQ(Text(XlsxCell(*empty, 3, 2)), "n");
  EXPECT_EQ(Text(XlsxCell(*empty, 5, 1)), kXlsxLegend);
  EXPECT_EQ((*empty)["cells"].size(), 5u);
}

TEST(ReleaseXlsxReadBackTest, TheMetadataSheetHasEveryFieldTheDeliveriesAndTheTables) {
  const v1::Release release = TestRelease();
  TempDir dir;
  const json workbook = WriteAndRead(release, dir);
  ASSERT_FALSE(workbook.is_null());
  const json* sheet = XlsxSheet(workbook, "release");
  ASSERT_NE(sheet, nullptr);
  EXPECT_EQ(Text(XlsxCell(*sheet, 1, 1)), "Release: almelo-2014");
  const nlohmann::ordered_json metadata = MetadataToJson(release.metadata());
  for (const auto& [key, value] : metadata.items()) {
    if (key == "deliveries" || key == "warnings") continue;
    SCOPED_TRACE(key);
    const int row = RowLabelled(*sheet, key);
    ASSERT_GT(row, 0);
    const json* read = XlsxCell(*sheet, row, 2);
    if (value.is_number()) {
      ASSERT_NE(read, nullptr);
      EXPECT_EQ((*read)["type"], "n");
      EXPECT_EQ((*read)["value"].get<double>(), value.get<double>());
    } else if (value.is_string() && !value.get<std::string>().empty()) {
      EXPECT_EQ(Text(read), value.get<std::string>());
    }
  }
  EXPECT_EQ(Text(XlsxCell(*sheet, RowLabelled(*sheet, "reference_dates"), 2)),
            "2014-01-01, 2013-01-01");
  EXPECT_EQ(Text(XlsxCell(*sheet, RowLabelled(*sheet, "releases_left"), 2)), "unlimited");
  EXPECT_EQ(Text(XlsxCell(*sheet, RowLabelled(*sheet, "released_at"), 2)), "2024-05-01T10:00:00Z");

  const int brp = RowLabelled(*sheet, "brp");
  ASSERT_GT(brp, 0);
  EXPECT_EQ(Text(XlsxCell(*sheet, brp - 1, 1)), "Dataset");
  EXPECT_EQ(Number(XlsxCell(*sheet, brp, 2)), 3);
  EXPECT_EQ(Number(XlsxCell(*sheet, brp, 3)), 12000);
  EXPECT_EQ(Text(XlsxCell(*sheet, brp + 1, 1)), "uwv");
  EXPECT_GT(RowLabelled(*sheet, "dataset jeugdzorg has no records for 2013"), 0);
  EXPECT_GT(RowLabelled(*sheet, std::string(kXlsxLegend)), 0);

  const int index = RowLabelled(*sheet, "problem_domain_overlap_per_wi~2");
  ASSERT_GT(index, 0);
  EXPECT_EQ(Text(XlsxCell(*sheet, index, 2)), kLongName2014);
  EXPECT_EQ(Text(XlsxCell(*sheet, index, 3)), "Overlap " + kLongName2014);
  EXPECT_EQ(Number(XlsxCell(*sheet, index, 4)), 2);
  EXPECT_EQ(Number(XlsxCell(*sheet, index, 5)), 1);
}

TEST(ReleaseXlsxReadBackTest, TextBeyondExcelsLimitIsCutNotRefused) {
  v1::Release release = TestRelease();
  v1::ReleasedTable* table = release.mutable_tables(0);
  table->mutable_rows(0)->set_label(std::string(40000, 'a'));
  std::string escapes;
  while (escapes.size() < 40000) escapes += "_x0041_";
  table->set_title(escapes);  // each `_` written as `_x005F_`: longer than it reads
  TempDir dir;
  const json workbook = WriteAndRead(release, dir);
  ASSERT_FALSE(workbook.is_null());
  const json* sheet = XlsxSheet(workbook, "per_wijk");
  ASSERT_NE(sheet, nullptr);
  EXPECT_EQ(Text(XlsxCell(*sheet, 4, 1)), std::string(32767, 'a'));
  const std::string title = Text(XlsxCell(*sheet, 1, 1));
  EXPECT_GT(title.size(), 10000u);
  EXPECT_EQ(escapes.compare(0, title.size(), title), 0);
}

TEST(ReleaseXlsxReadBackTest, NoSuppressedValueIsInAnyPartOfTheFile) {
  TempDir dir;
  const json workbook = WriteAndRead(TestRelease(), dir);
  ASSERT_FALSE(workbook.is_null());
  const std::string dumped = workbook.dump();
  absl::StatusOr<std::string> parts = test::XlsxPartsText(dir / "release.xlsx");
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_NE(parts->find("sheetData"), std::string::npos);  // the parts were read
  for (const std::string value : {"987654", "13579.24", "13579.2", "13579"}) {
    EXPECT_EQ(dumped.find(value), std::string::npos) << value;
    EXPECT_EQ(parts->find(value), std::string::npos) << value;
  }
}

}  // namespace
}  // namespace koppel
