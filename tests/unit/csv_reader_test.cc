#include "core/csv_reader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using testing::TempDir;
using testing::WriteFile;

struct Row {
  uint64_t line;
  RejectReason problem;
  std::vector<std::string> fields;
};

std::vector<Row> ReadAll(std::string_view content, CsvOptions options = {}) {
  TempDir dir;
  WriteFile(dir / "x.csv", content);
  absl::StatusOr<std::unique_ptr<CsvReader>> reader = CsvReader::Open(dir / "x.csv", options);
  EXPECT_TRUE(reader.ok()) << reader.status();
  std::vector<Row> rows;
  CsvRecord record;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(&record);
    EXPECT_TRUE(more.ok());
    if (!*more) break;
    rows.push_back({record.line, record.problem, {record.fields.begin(), record.fields.end()}});
  }
  return rows;
}

TEST(CsvReaderTest, ReadsLfAndCrlfAndSkipsBomAndEmptyLines) {
  std::vector<Row> rows = ReadAll("\xEF\xBB\xBF" "a,b\r\n1,2\r\n\r\n3,4\n5,6");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(rows[2].line, 4u);
  EXPECT_EQ(rows[3].fields, (std::vector<std::string>{"5", "6"}));
  EXPECT_EQ(rows[3].line, 5u);
}

TEST(CsvReaderTest, HandlesQuotesEscapesAndEmptyFields) {
  CsvOptions options;
  options.delimiter = ';';
  std::vector<Row> rows = ReadAll("\"a;b\";\"say \"\"hi\"\"\";;\"\";x;\n", options);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].problem, RejectReason::kNone);
  EXPECT_EQ(rows[0].fields,
            (std::vector<std::string>{"a;b", "say \"hi\"", "", "", "x", ""}));
}

TEST(CsvReaderTest, ReportsEachStructuralProblemAndContinues) {
  std::vector<Row> rows = ReadAll(
      "ok,1\n"
      "\"open,1\n"     // unterminated quote
      "a\"b,1\n"       // quote inside an unquoted field
      "\"a\"b,1\n"     // text after the closing quote
      "caf\xE9,1\n"    // Latin-1, not UTF-8
      "\xC0\xAF,1\n"   // overlong encoding
      "ok,2\n");
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[0].problem, RejectReason::kNone);
  EXPECT_EQ(rows[1].problem, RejectReason::kBadQuoting);
  EXPECT_EQ(rows[2].problem, RejectReason::kBadQuoting);
  EXPECT_EQ(rows[3].problem, RejectReason::kBadQuoting);
  EXPECT_EQ(rows[4].problem, RejectReason::kBadEncoding);
  EXPECT_EQ(rows[5].problem, RejectReason::kBadEncoding);
  EXPECT_EQ(rows[6].fields, (std::vector<std::string>{"ok", "2"}));
  EXPECT_EQ(rows[6].line, 7u);
}

TEST(CsvReaderTest, RejectsOverlongRowsWithoutLosingTheNext) {
  CsvOptions options;
  options.max_row_bytes = 100;
  std::string long_line(5000000, 'x');  // longer than the read buffer
  std::vector<Row> rows = ReadAll("h\n" + long_line + "\nafter\n" + std::string(150, 'y') + "\n",
                                  options);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1].problem, RejectReason::kRowTooLong);
  EXPECT_EQ(rows[1].line, 2u);
  EXPECT_EQ(rows[2].fields, (std::vector<std::string>{"after"}));
  EXPECT_EQ(rows[2].line, 3u);
  EXPECT_EQ(rows[3].problem, RejectReason::kRowTooLong);
}

TEST(CsvReaderTest, ReadsManyRowsAcrossBufferBoundaries) {
  std::string content;
  for (int i = 0; i < 300000; ++i) content += std::to_string(i) + ",value\n";
  std::vector<Row> rows = ReadAll(content);
  ASSERT_EQ(rows.size(), 300000u);
  for (int i = 0; i < 300000; i += 9973) {
    EXPECT_EQ(rows[static_cast<size_t>(i)].fields[0], std::to_string(i));
  }
}

TEST(CsvReaderTest, NoQuoteCharacterMeansQuotesAreText) {
  CsvOptions options;
  options.delimiter = '\t';
  options.quote = std::nullopt;
  std::vector<Row> rows = ReadAll("a\"b\tc\n", options);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"a\"b", "c"}));
}

TEST(CsvReaderTest, MissingFileIsAClearError) {
  absl::StatusOr<std::unique_ptr<CsvReader>> reader =
      CsvReader::Open("/nonexistent/x.csv", CsvOptions{});
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(std::string(reader.status().message()).find("/nonexistent/x.csv"), std::string::npos);
}

TEST(Utf8Test, AcceptsValidAndRejectsInvalid) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));        // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));    // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));            // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));                // lone continuation
}

// A FIFO would block open() until a writer comes; only regular files are read.
TEST(CsvReaderTest, OpenRefusesAnythingButARegularFileWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  absl::StatusOr<std::unique_ptr<CsvReader>> fifo = CsvReader::Open(dir / "fifo", CsvOptions{});
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.status().message().find("is a FIFO (named pipe), not a regular file"),
            std::string::npos)
      << fifo.status();
  absl::StatusOr<std::unique_ptr<CsvReader>> directory = CsvReader::Open(dir.path(), {});
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("is a directory"), std::string::npos)
      << directory.status();
}

TEST(CsvReaderTest, OpenRefusesDelimitersAndQuotesThatEndLines) {
  TempDir dir;
  WriteFile(dir / "x.csv", "a,b\n");
  for (char c : {'\0', '\r', '\n'}) {
    EXPECT_FALSE(CsvReader::Open(dir / "x.csv", CsvOptions{.delimiter = c}).ok()) << int{c};
    EXPECT_FALSE(CsvReader::Open(dir / "x.csv", CsvOptions{.quote = c}).ok()) << int{c};
  }
  EXPECT_FALSE(CsvReader::Open(dir / "x.csv", CsvOptions{.delimiter = '"'}).ok());
  EXPECT_TRUE(CsvReader::Open(dir / "x.csv", CsvOptions{.quote = std::nullopt}).ok());
}

}  // namespace
}  // namespace koppel
