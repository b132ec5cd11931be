#include "core/csv_reader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/mapping.h"
#include "core/text_decoder.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using test::TempDir;
using test::WriteFile;

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
  std::vector<Row> rows = ReadAll(
      "\xEF\xBB\xBF"
      "a,b\r\n1,2\r\n\r\n3,4\n5,6");
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
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"a;b", "say \"hi\"", "", "", "x", ""}));
}

TEST(CsvReaderTest, ReportsEachStructuralProblemAndContinues) {
  std::vector<Row> rows = ReadAll(
      "ok,1\n"
      "\"open,1\n"  // unterminated quote
      "a\"b,1\n"    // quote inside an unquoted field
      "\"a\"b,1\n"  // text after the closing quote
      "ok,2\n");
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].problem, RejectReason::kNone);
  EXPECT_EQ(rows[1].problem, RejectReason::kBadQuoting);
  EXPECT_EQ(rows[2].problem, RejectReason::kBadQuoting);
  EXPECT_EQ(rows[3].problem, RejectReason::kBadQuoting);
  EXPECT_EQ(rows[4].fields, (std::vector<std::string>{"ok", "2"}));
  EXPECT_EQ(rows[4].line, 5u);
}

// Bytes that do not decode are a property of the file, not of a row: the read stops, naming
// line and column (in characters), never the bytes.
TEST(CsvReaderTest, StopsAtBytesThatDoNotDecodeNamingLineAndColumn) {
  for (std::string_view bad : {"caf\xE9", "caf\xC0\xAF", "caf\xED\xA0\x80"}) {
    TempDir dir;
    WriteFile(dir / "x.csv", "a,b\nM\xC3\xBCller,1\n" + std::string(bad) + ",2\nok,3\n");
    absl::StatusOr<std::unique_ptr<CsvReader>> reader = CsvReader::Open(dir / "x.csv", {});
    ASSERT_TRUE(reader.ok()) << reader.status();
    CsvRecord record;
    absl::StatusOr<bool> more;
    int rows = 0;
    while ((more = (*reader)->Next(&record)).ok() && *more) ++rows;
    ASSERT_FALSE(more.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(more.status())) << more.status();
    EXPECT_LT(rows, 3);
    const std::string message(more.status().message());
    EXPECT_NE(message.find("x.csv: line 3, column 4: "), std::string::npos) << message;
    EXPECT_NE(message.find("not valid utf-8; declare"), std::string::npos) << message;
    EXPECT_NE(message.find("csv.encoding"), std::string::npos) << message;
    EXPECT_EQ(message.find("caf"), std::string::npos) << message;
  }
}

TEST(CsvReaderTest, RejectsOverlongRowsWithoutLosingTheNext) {
  CsvOptions options;
  options.max_row_bytes = 100;
  std::string long_line(5000000, 'x');  // longer than the read buffer
  std::vector<Row> rows =
      ReadAll("h\n" + long_line + "\nafter\n" + std::string(150, 'y') + "\n", options);
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
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
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

// --- Encodings (text_decoder.h) ---

// The same little export in UTF-8, with the characters that tell encodings apart: accented
// letters (in a column no mapping uses, as care insurers write provider names) and the euro.
constexpr std::string_view kUtf8Export =
    "bsn;zorgaanbieder;bedrag\n"
    "111222333;Zorggroep Ca\xC3\xAF\xC3\xA9 M\xC3\xBCller;\xE2\x82\xAC 12,50\n"
    "123456782;\xC3\x87"
    "a va \xC3\xA0 l'h\xC3\xB4pital;7,00\n";
// The characters above as windows-1252 and ISO-8859-15 write them (they differ in the euro).
std::string ToSingleByte(std::string_view utf8, char euro) {
  std::string out;
  for (size_t i = 0; i < utf8.size(); ++i) {
    auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out += utf8[i];
    } else if (c == 0xE2) {  // U+20AC
      out += euro;
      i += 2;
    } else {  // U+0080..U+00FF: two bytes
      auto next = static_cast<unsigned char>(utf8[++i]);
      out += static_cast<char>(((c & 0x1F) << 6) | (next & 0x3F));
    }
  }
  return out;
}
// UTF-16 with its byte-order mark, for text in the Basic Multilingual Plane.
std::string ToUtf16(std::string_view utf8, bool big_endian) {
  std::string out = big_endian ? "\xFE\xFF" : "\xFF\xFE";
  for (size_t i = 0; i < utf8.size();) {
    auto c = static_cast<unsigned char>(utf8[i]);
    uint32_t cp;
    if (c < 0x80) {
      cp = c, i += 1;
    } else if (c < 0xE0) {
      cp = ((c & 0x1Fu) << 6) | (utf8[i + 1] & 0x3F), i += 2;
    } else {
      cp = ((c & 0x0Fu) << 12) | ((utf8[i + 1] & 0x3Fu) << 6) | (utf8[i + 2] & 0x3F), i += 3;
    }
    char hi = static_cast<char>(cp >> 8), lo = static_cast<char>(cp & 0xFF);
    out += big_endian ? std::string{hi, lo} : std::string{lo, hi};
  }
  return out;
}

struct EncodedExport {
  TextEncoding declared;
  std::string bytes;
  TextEncoding auto_choice;  // what auto reads it as
};

std::vector<EncodedExport> EncodedExports(std::string_view utf8) {
  return {
      {TextEncoding::kUtf8, std::string(utf8), TextEncoding::kUtf8},
      {TextEncoding::kUtf8Bom, "\xEF\xBB\xBF" + std::string(utf8), TextEncoding::kUtf8Bom},
      {TextEncoding::kWindows1252, ToSingleByte(utf8, '\x80'), TextEncoding::kWindows1252},
      {TextEncoding::kIso885915, ToSingleByte(utf8, '\xA4'), TextEncoding::kWindows1252},
      {TextEncoding::kUtf16, ToUtf16(utf8, false), TextEncoding::kUtf16},
      {TextEncoding::kUtf16, ToUtf16(utf8, true), TextEncoding::kUtf16},
  };
}

std::vector<std::vector<std::string>> Fields(const std::vector<Row>& rows) {
  std::vector<std::vector<std::string>> out;
  for (const Row& row : rows) {
    EXPECT_EQ(row.problem, RejectReason::kNone) << "line " << row.line;
    out.push_back(row.fields);
  }
  return out;
}

TEST(TextEncodingTest, ReadsEachEncodingToTheSameFieldsAsUtf8) {
  CsvOptions options{.delimiter = ';'};
  const auto expected = Fields(ReadAll(kUtf8Export, options));
  ASSERT_EQ(expected.size(), 3u);
  EXPECT_EQ(expected[1][2], "\xE2\x82\xAC 12,50");
  for (const EncodedExport& e : EncodedExports(kUtf8Export)) {
    SCOPED_TRACE(std::string(TextEncodingName(e.declared)));
    options.encoding = e.declared;
    EXPECT_EQ(Fields(ReadAll(e.bytes, options)), expected);
  }
}

TEST(TextEncodingTest, AutoDetectsByteOrderMarksElseUtf8ElseWindows1252) {
  for (const EncodedExport& e : EncodedExports(kUtf8Export)) {
    SCOPED_TRACE(std::string(TextEncodingName(e.declared)));
    TempDir dir;
    WriteFile(dir / "x.csv", e.bytes);
    absl::StatusOr<EncodingCheck> check = CheckFileEncoding(dir / "x.csv", TextEncoding::kAuto);
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_EQ(check->encoding, e.auto_choice);
    EXPECT_EQ(check->bom,
              e.auto_choice == TextEncoding::kUtf8Bom || e.auto_choice == TextEncoding::kUtf16);
    EXPECT_TRUE(check->reason.starts_with("auto: ")) << check->reason;
    // The reader resolves auto itself; ISO-8859-15 is read as windows-1252 (docs/agent.md).
    CsvOptions options{.delimiter = ';', .encoding = TextEncoding::kAuto};
    if (e.declared != TextEncoding::kIso885915) {
      EXPECT_EQ(Fields(ReadAll(e.bytes, options)),
                Fields(ReadAll(kUtf8Export, {.delimiter = ';'})));
    }
  }
  TempDir dir;
  WriteFile(dir / "le.csv", ToUtf16(kUtf8Export, false));
  EXPECT_EQ(CheckFileEncoding(dir / "le.csv", TextEncoding::kAuto)->reason,
            "auto: UTF-16 LE byte-order mark");
  WriteFile(dir / "plain.csv", kUtf8Export);
  EXPECT_EQ(CheckFileEncoding(dir / "plain.csv", TextEncoding::kAuto)->reason,
            "auto: the whole file is valid UTF-8");
  WriteFile(dir / "cp.csv", ToSingleByte(kUtf8Export, '\x80'));
  EXPECT_EQ(CheckFileEncoding(dir / "cp.csv", TextEncoding::kAuto)->reason,
            "auto: not valid UTF-8 (first at line 2, column 23), read as windows-1252");
  WriteFile(dir / "empty.csv", "");
  EXPECT_EQ(CheckFileEncoding(dir / "empty.csv", TextEncoding::kAuto)->encoding,
            TextEncoding::kUtf8);
}

// Many rows, so that characters (and UTF-16 code units) straddle the reader's chunks.
TEST(TextEncodingTest, DecodesAcrossChunkBoundaries) {
  std::string utf8 = "bsn;zorgaanbieder;bedrag\n";
  for (int i = 0; i < 40000; ++i) {
    utf8 += std::to_string(i) + ";Caf\xC3\xA9 \xE2\x82\xAC" +
            std::string(static_cast<size_t>(i % 7), 'x') + ";1\n";
  }
  CsvOptions options{.delimiter = ';'};
  const auto expected = Fields(ReadAll(utf8, options));
  for (const EncodedExport& e : EncodedExports(utf8)) {
    SCOPED_TRACE(std::string(TextEncodingName(e.declared)));
    options.encoding = e.declared;
    EXPECT_EQ(Fields(ReadAll(e.bytes, options)), expected);
  }
}

TEST(TextEncodingTest, DecoderKeepsCharactersSplitAcrossInputs) {
  const std::string utf8(kUtf8Export);
  for (const EncodedExport& e : EncodedExports(kUtf8Export)) {
    SCOPED_TRACE(std::string(TextEncodingName(e.declared)));
    absl::StatusOr<std::unique_ptr<TextDecoder>> decoder = TextDecoder::Create(e.declared, "x");
    ASSERT_TRUE(decoder.ok());
    std::string pending;
    std::string out;
    for (size_t i = 0; i <= e.bytes.size(); ++i) {
      const bool end = i == e.bytes.size();
      if (!end) pending += e.bytes[i];
      std::string_view input = pending;
      ASSERT_TRUE((*decoder)->Decode(&input, end, &out).ok()) << "at byte " << i;
      pending.erase(0, pending.size() - input.size());
    }
    EXPECT_EQ(out, utf8);
    EXPECT_TRUE(pending.empty());
  }
}

struct Refusal {
  std::string bytes;
  TextEncoding declared;
  std::string expected;
};

TEST(TextEncodingTest, RefusesAFileThatDoesNotDecodeNamingLineAndColumn) {
  const std::string cp1252 = ToSingleByte(kUtf8Export, '\x80');
  const Refusal refusals[] = {
      {cp1252, TextEncoding::kUtf8, "line 2, column 23: a byte that is not valid utf-8"},
      {"a\nb\x81"
       "c\n",
       TextEncoding::kWindows1252, "line 2, column 2: a byte that is not valid windows-1252"},
      {cp1252, TextEncoding::kIso88591, "line 2, column 33: a C1 control code"},
      {"a;b\n\xC3\xA9\xE2\x82", TextEncoding::kUtf8,
       "line 2, column 2: the file ends inside a character"},
      {std::string("\xFF\xFE"
                   "a\0\n\0\x00\xDC\n\0",
                   10),
       TextEncoding::kUtf16, "line 2, column 1: a byte that is not valid utf-16 (LE)"},
      {std::string("a\0;\0b\0\n\0", 8), TextEncoding::kUtf16,
       "does not start with a UTF-16 byte-order mark"},
      {"\xEF\xBB\xBF"
       "a;b\n",
       TextEncoding::kWindows1252,
       "starts with a UTF-8 byte-order mark but csv.encoding is windows-1252"},
      {ToUtf16("a;b\n", false), TextEncoding::kUtf8,
       "starts with a UTF-16 byte-order mark but csv.encoding is utf-8"},
  };
  for (const Refusal& r : refusals) {
    SCOPED_TRACE(r.expected);
    TempDir dir;
    WriteFile(dir / "x.csv", r.bytes);
    absl::StatusOr<EncodingCheck> check = CheckFileEncoding(dir / "x.csv", r.declared);
    ASSERT_FALSE(check.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(check.status()));
    const std::string message(check.status().message());
    EXPECT_TRUE(message.starts_with((dir / "x.csv").string() + ": ")) << message;
    EXPECT_NE(message.find(r.expected), std::string::npos) << message;
    EXPECT_NE(message.find("docs/agent.md"), std::string::npos) << message;
    EXPECT_EQ(message.find("Zorggroep"), std::string::npos) << message;
  }
  // auto falls back to windows-1252 only when that decodes the whole file.
  TempDir dir;
  WriteFile(dir / "x.csv", "a\n\xE9\n\x81\n");
  absl::StatusOr<EncodingCheck> check = CheckFileEncoding(dir / "x.csv", TextEncoding::kAuto);
  ASSERT_FALSE(check.ok());
  EXPECT_NE(check.status().message().find("line 3, column 1: a byte that is not valid "
                                          "windows-1252"),
            std::string::npos)
      << check.status();
}

// U+0000 is no text in any encoding: it refuses the file where it stands, never a row.
TEST(TextEncodingTest, RefusesANulCharacterInEveryEncodingNamingLineAndColumn) {
  const std::string utf8 =
      std::string(kUtf8Export) + "1112" + std::string(1, '\0') + "33;Caf\xC3\xA9;1\n";
  const std::string where =
      "line 4, column 5: a NUL character (U+0000), which no text export holds";
  for (const EncodedExport& e : EncodedExports(utf8)) {
    SCOPED_TRACE(std::string(TextEncodingName(e.declared)));
    TempDir dir;
    WriteFile(dir / "x.csv", e.bytes);
    for (TextEncoding declared : {e.declared, TextEncoding::kAuto}) {
      absl::StatusOr<EncodingCheck> check = CheckFileEncoding(dir / "x.csv", declared);
      ASSERT_FALSE(check.ok());
      EXPECT_TRUE(absl::IsFailedPrecondition(check.status()));
      const std::string message(check.status().message());
      EXPECT_TRUE(message.starts_with((dir / "x.csv").string() + ": " + where)) << message;
      EXPECT_EQ(message.find("UTF-16 without"), std::string::npos) << message;
    }
    // The same from a decoder fed one byte at a time.
    absl::StatusOr<std::unique_ptr<TextDecoder>> decoder = TextDecoder::Create(e.declared, "x");
    ASSERT_TRUE(decoder.ok());
    std::string pending;
    std::string out;
    absl::Status status;
    for (size_t i = 0; i <= e.bytes.size() && status.ok(); ++i) {
      const bool end = i == e.bytes.size();
      if (!end) pending += e.bytes[i];
      std::string_view input = pending;
      status = (*decoder)->Decode(&input, end, &out);
      pending.erase(0, pending.size() - input.size());
    }
    EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
    EXPECT_NE(status.message().find(where), std::string::npos) << status;
    EXPECT_EQ(out.find('\0'), std::string::npos);
  }
  // The reader stops at one as well.
  TempDir dir;
  WriteFile(dir / "x.csv", std::string("a;b\nx;\0\n", 9));
  absl::StatusOr<std::unique_ptr<CsvReader>> reader =
      CsvReader::Open(dir / "x.csv", {.delimiter = ';'});
  ASSERT_TRUE(reader.ok()) << reader.status();
  CsvRecord record;
  absl::StatusOr<bool> more;
  while ((more = (*reader)->Next(&record)).ok() && *more) {
  }
  ASSERT_FALSE(more.ok());
  EXPECT_NE(more.status().message().find("line 2, column 3: a NUL character"), std::string::npos)
      << more.status();
}

// UTF-16 without a byte-order mark reads as valid UTF-8 (or windows-1252) with a NUL in every
// second byte: refused, and the message says what the file probably is.
TEST(TextEncodingTest, NamesUtf16WithoutAByteOrderMark) {
  for (bool big_endian : {false, true}) {
    SCOPED_TRACE(big_endian);
    TempDir dir;
    WriteFile(dir / "x.csv", ToUtf16(kUtf8Export, big_endian).substr(2));
    for (TextEncoding declared :
         {TextEncoding::kAuto, TextEncoding::kUtf8, TextEncoding::kWindows1252}) {
      SCOPED_TRACE(std::string(TextEncodingName(declared)));
      absl::StatusOr<EncodingCheck> check = CheckFileEncoding(dir / "x.csv", declared);
      ASSERT_FALSE(check.ok());
      EXPECT_TRUE(absl::IsFailedPrecondition(check.status()));
      const std::string message(check.status().message());
      EXPECT_NE(message.find(big_endian ? "line 1, column 1: a NUL character"
                                        : "line 1, column 2: a NUL character"),
                std::string::npos)
          << message;
      EXPECT_NE(message.find("is this UTF-16 without a byte-order mark? save it as Unicode text "
                             "with a BOM"),
                std::string::npos)
          << message;
      EXPECT_EQ(message.find("read as windows-1252"), std::string::npos) << message;
    }
  }
}

TEST(TextEncodingTest, RefusesUtf32) {
  std::string le("\xFF\xFE\0\0", 4), be("\0\0\xFE\xFF", 4);
  for (char c : std::string_view("a;b\n")) {
    le += std::string{c, '\0', '\0', '\0'};
    be += std::string{'\0', '\0', '\0', c};
  }
  for (const std::string& bytes : {le, be}) {
    TempDir dir;
    WriteFile(dir / "x.csv", bytes);
    for (TextEncoding declared : {TextEncoding::kAuto, TextEncoding::kUtf16, TextEncoding::kUtf8,
                                  TextEncoding::kWindows1252}) {
      SCOPED_TRACE(std::string(TextEncodingName(declared)));
      absl::StatusOr<EncodingCheck> check = CheckFileEncoding(dir / "x.csv", declared);
      ASSERT_FALSE(check.ok());
      EXPECT_TRUE(absl::IsFailedPrecondition(check.status()));
      EXPECT_NE(check.status().message().find(
                    "starts with a UTF-32 byte-order mark: UTF-32 is not supported; save as UTF-8 "
                    "or UTF-16"),
                std::string::npos)
          << check.status();
    }
  }
}

TEST(TextEncodingTest, MappingAcceptsTheSevenNamesAndListsThemOtherwise) {
  for (std::string_view name :
       {"utf-8", "utf-8-bom", "windows-1252", "iso-8859-1", "iso-8859-15", "utf-16", "auto"}) {
    absl::StatusOr<TextEncoding> encoding = ParseTextEncoding(name);
    ASSERT_TRUE(encoding.ok()) << name;
    EXPECT_EQ(TextEncodingName(*encoding), name);
    std::string yaml =
        "version: 1\ndataset: zvw\nperiod: {from: 2012-01-01, to: 2014-12-31}\n"
        "csv: {delimiter: \";\", encoding: " +
        std::string(name) +
        "}\n"
        "identifiers: {bsn: bsn}\n";
    absl::StatusOr<Mapping> mapping = ParseMapping(yaml, "m.yaml");
    ASSERT_TRUE(mapping.ok()) << mapping.status();
    EXPECT_EQ(mapping->encoding, *encoding);
    EXPECT_EQ(mapping->csv.encoding, *encoding);
  }
  absl::StatusOr<Mapping> mapping = ParseMapping(
      "version: 1\ndataset: zvw\nperiod: {from: 2012-01-01, to: 2014-12-31}\n"
      "csv: {delimiter: \";\", encoding: latin9}\nidentifiers: {bsn: bsn}\n",
      "m.yaml");
  ASSERT_FALSE(mapping.ok());
  EXPECT_NE(mapping.status().message().find(
                "m.yaml:4:33: csv.encoding: must be one of utf-8, utf-8-bom, windows-1252, "
                "iso-8859-1, iso-8859-15, utf-16, auto"),
            std::string::npos)
      << mapping.status();
}

}  // namespace
}  // namespace koppel
