#include "core/csv_writer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace koppel {
namespace {

std::string Record(const std::vector<std::string>& fields, const CsvWriteOptions& options = {}) {
  std::string out;
  AppendCsvRecord(fields, options, &out);
  return out;
}

TEST(CsvWriterTest, LeavesPlainFieldsAsTheyAre) {
  EXPECT_EQ(CsvField("Almelo-Noord"), "Almelo-Noord");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(Record({"a", "b c", ""}), "a,b c,\n");
}

TEST(CsvWriterTest, QuotesDelimiterQuoteAndLineBreaksPerRfc4180) {
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
  EXPECT_EQ(Record({"x,y", "z"}), "\"x,y\",z\n");
}

TEST(CsvWriterTest, FollowsTheDialect) {
  const CsvWriteOptions semicolon{.delimiter = ';', .quote = '\'', .crlf = true};
  EXPECT_EQ(Record({"a,b", "c;d", "it's"}, semicolon), "a,b;'c;d';'it''s'\r\n");

  const CsvWriteOptions all{.delimiter = ';', .quote_all = true};
  EXPECT_EQ(Record({"a", ""}, all), "\"a\";\"\"\n");

  const CsvWriteOptions never{.delimiter = ';', .quote = '\0'};
  EXPECT_EQ(Record({"a;b", "\"c\""}, never), "a;b;\"c\"\n");
}

TEST(CsvWriterTest, AppendsToWhatIsThere) {
  std::string out = "head:";
  AppendCsvField("a\"b", CsvWriteOptions(), &out);
  EXPECT_EQ(out, "head:\"a\"\"b\"");
}

}  // namespace
}  // namespace koppel
