#include "core/mapping.h"

#include <gtest/gtest.h>

#include "core/attribute_value.h"
#include "core/category_code.h"
#include "core/civil_date.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using test::TempDir;
using test::WriteFile;

constexpr char kValid[] = R"(version: 1
dataset: sociale_zaken
holder: "Gemeente Almelo"
period: {from: 2012-01-01, to: 2014-12-31}
csv: {delimiter: "\t", quote: "", encoding: utf-8-bom, line_ending: crlf}
identifiers:
  bsn: BSN
  address: {postcode: PC, number: Nr, letter: Lt, addition: Toev}
attributes:
  - {name: regeling, column: Regeling, type: category, codes: {BIJ: bijstand, IOAW: ioaw, IOAZ: ioaw}, required: true}
  - {name: start, column: Start, type: date, format: yyyymmdd}
  - {name: bedrag, column: Bedrag, type: amount, decimal: comma, thousands: "."}
  - {name: jaar, column: Jaar, type: year}
  - {name: dagen, column: Dagen, type: integer, min: 0, max: 366}
)";

TEST(MappingTest, ParsesEveryKey) {
  absl::StatusOr<Mapping> m = ParseMapping(kValid, "m.yaml");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->dataset, "sociale_zaken");
  EXPECT_EQ(m->csv.delimiter, '\t');
  EXPECT_FALSE(m->csv.quote.has_value());
  EXPECT_EQ(m->encoding, TextEncoding::kUtf8Bom);
  EXPECT_EQ(*m->bsn_column, "BSN");
  EXPECT_FALSE(m->address_columns->free_form());
  EXPECT_EQ(m->address_columns->addition, "Toev");
  ASSERT_EQ(m->attributes.size(), 5u);
  EXPECT_TRUE(m->attributes[0].required);
  EXPECT_EQ(m->attributes[4].max, 366);
  std::vector<v1::AttributeSchema> schema = m->BatchSchema();
  ASSERT_EQ(schema[0].codes_size(), 2);  // canonical codes, deduplicated and sorted
  EXPECT_EQ(schema[0].codes(0), "bijstand");
  EXPECT_EQ(schema[0].codes(1), "ioaw");
}

struct BadCase {
  std::string find;
  std::string replace;
  std::string expected;  // substring of the error
};

// The valid mapping with `c.find` replaced by `c.replace` is refused with `c.expected`.
void ExpectRefused(const BadCase& c) {
  std::string text = kValid;
  size_t at = text.find(c.find);
  ASSERT_NE(at, std::string::npos) << c.find;
  text.replace(at, c.find.size(), c.replace);
  absl::StatusOr<Mapping> m = ParseMapping(text, "m.yaml");
  ASSERT_FALSE(m.ok()) << "accepted: " << c.replace;
  EXPECT_NE(std::string(m.status().message()).find(c.expected), std::string::npos)
      << "for " << c.replace << ", got: " << m.status().message();
}

TEST(MappingTest, RejectsMalformedMappingsNamingLineAndKey) {
  BadCase cases[] = {
      {"version: 1", "version: 2", "m.yaml:1:10: version"},
      {"dataset: sociale_zaken", "dataset: Sociale Zaken", "m.yaml:2:10: dataset"},
      {"from: 2012-01-01", "from: 2012-13-01", "period.from"},
      {"delimiter: \"\\t\"", "delimiter: \";;\"", "csv.delimiter"},
      {"encoding: utf-8-bom", "encoding: latin1",
       "csv.encoding: must be one of utf-8, utf-8-bom, windows-1252"},
      {"line_ending: crlf", "line_ending: cr", "csv.line_ending"},
      {"type: year", "type: jaartal", "m.yaml:13:38: attributes[3].type"},
      {"format: yyyymmdd", "format: yyyyqq", "attributes[1].format"},
      {"min: 0, max: 366", "min: 10, max: 5", "is below min"},
      {"min: 0", "min: zero", "attributes[4].min: expected an integer"},
      {"holder:", "owner:", "m.yaml:3:1: owner: unknown key"},
      {"name: jaar", "name: regeling", "defined twice"},
      {"codes: {BIJ: bijstand", "codes: {BIJ: Bijstand Uitkering", "mapped code"},
      {"  bsn: BSN\n  address: {postcode: PC, number: Nr, letter: Lt, addition: Toev}\n", "",
       "identifiers: expected a mapping"},
      {"{name: jaar, column: Jaar, type: year}",
       "{name: jaar, column: Jaar, type: year, decimal: comma}", "only allowed for type amount"},
      {"period: {from: 2012-01-01, to: 2014-12-31}", "period: [2012, 2014]",
       "period: expected a mapping"},
      {"csv: {", "csv: {{", "not valid YAML"},
  };
  for (const BadCase& c : cases) ExpectRefused(c);
}

// yaml-cpp keeps the first of two equal keys, other readers the last: a mapping that repeats
// a key means different things to different readers, at any depth and in flow style too.
TEST(MappingTest, RefusesDuplicateKeysNamingTheSecondOccurrence) {
  BadCase cases[] = {
      {"holder:", "dataset: jeugdzorg\nholder:", "m.yaml:3:1: dataset: the key is given twice"},
      {"to: 2014-12-31}", "to: 2014-12-31, from: 2013-01-01}",
       "m.yaml:4:44: period.from: the key is given twice in one mapping (first on line 4)"},
      {"  bsn: BSN\n", "  bsn: BSN\n  bsn: \"BSN \"\n", "m.yaml:8:3: identifiers.bsn"},
      {"IOAZ: ioaw}", "IOAZ: ioaw, \"BIJ\": ioaw}",
       "attributes[0].codes.BIJ: the key is given twice"},
      {"type: year}", "type: year, type: integer}", "attributes[3].type: the key is given twice"},
      {"version: 1\n", "version: 1\n---\nversion: 2\n", "m.yaml:2: a second YAML document"},
  };
  for (const BadCase& c : cases) ExpectRefused(c);
  // The same key in two different mappings is no duplicate.
  EXPECT_TRUE(ParseMapping(kValid, "m.yaml").ok());
}

// NUL, CR and LF end or break lines, and a quote equal to the delimiter makes rows ambiguous.
TEST(MappingTest, RefusesDelimitersAndQuotesThatCannotWork) {
  BadCase cases[] = {
      {"delimiter: \"\\t\"", "delimiter: \"\\0\"", "m.yaml:5:18: csv.delimiter: cannot be NUL"},
      {"delimiter: \"\\t\"", "delimiter: \"\\x00\"", "csv.delimiter: cannot be NUL"},
      {"delimiter: \"\\t\"", "delimiter: \"\\r\"", "csv.delimiter: cannot be NUL, CR or LF"},
      {"delimiter: \"\\t\"", "delimiter: \"\\n\"", "csv.delimiter: cannot be NUL, CR or LF"},
      {"quote: \"\"", "quote: \"\\0\"", "m.yaml:5:31: csv.quote: cannot be NUL"},
      {"quote: \"\"", "quote: \"\\r\"", "csv.quote: cannot be NUL, CR or LF"},
      {"quote: \"\"", "quote: \"\\t\"", "csv.quote: the quote must differ from the delimiter"},
      {"delimiter: \"\\t\", quote: \"\"", "delimiter: '\"'",
       "m.yaml:5:18: csv.delimiter: must differ from the quote"},
  };
  for (const BadCase& c : cases) ExpectRefused(c);
}

TEST(MappingTest, EmptyAndMissingFilesAreClearErrors) {
  EXPECT_FALSE(ParseMapping("", "m.yaml").ok());
  absl::StatusOr<Mapping> m = LoadMapping("/nonexistent/m.yaml");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(std::string(m.status().message()).find("/nonexistent/m.yaml"), std::string::npos);
}

class AttributeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Mapping> m = ParseMapping(kValid, "m.yaml");
    ASSERT_TRUE(m.ok()) << m.status();
    mapping_ = std::move(*m);
  }
  RejectReason Parse(size_t attribute, std::string_view text, v1::Value* value) {
    AttributeParser parser(mapping_.attributes[attribute]);
    return parser.Parse(text, value);
  }
  Mapping mapping_;
};

TEST_F(AttributeTest, Category) {
  v1::Value v;
  EXPECT_EQ(Parse(0, "IOAZ", &v), RejectReason::kNone);
  EXPECT_EQ(v.code(), 1u);
  EXPECT_EQ(Parse(0, "ioaw", &v), RejectReason::kCategoryUnknown);  // export codes only
  EXPECT_EQ(Parse(0, "BIJ ", &v), RejectReason::kCategoryUnknown);  // caller trims
}

TEST_F(AttributeTest, Date) {
  v1::Value v;
  EXPECT_EQ(Parse(1, "19700102", &v), RejectReason::kNone);
  EXPECT_EQ(v.date_days(), 1);
  EXPECT_EQ(Parse(1, "20141231", &v), RejectReason::kNone);
  EXPECT_EQ(IsoDate(DayFromDays(v.date_days())), "2014-12-31");
  EXPECT_EQ(Parse(1, "20000229", &v), RejectReason::kNone);
  for (const char* bad : {"20130229", "20130231", "2013-02-01", "201302011", "18991231", "abc"}) {
    EXPECT_EQ(Parse(1, bad, &v), RejectReason::kDateInvalid) << bad;
  }
  absl::StatusOr<DateFormat> dmy = DateFormat::Parse("d-m-yyyy");
  ASSERT_TRUE(dmy.ok());
  EXPECT_EQ(dmy->ToDays("1-2-2014"), dmy->ToDays("01-02-2014"));
  EXPECT_FALSE(dmy->ToDays("1-2-14").has_value());
}

TEST_F(AttributeTest, Amount) {
  v1::Value v;
  struct {
    const char* text;
    int64_t cents;
  } ok[] = {{"0", 0},
            {"12", 1200},
            {"12,5", 1250},
            {"12,05", 1205},
            {"1.234,56", 123456},
            {"-7,10", -710},
            {"1.234.567", 123456700}};
  for (const auto& c : ok) {
    ASSERT_EQ(Parse(2, c.text, &v), RejectReason::kNone) << c.text;
    EXPECT_EQ(v.amount_cents(), c.cents) << c.text;
  }
  for (const char* bad : {"12,345", "12.5", "1.23,4", "12,", ",5", "1,2,3", "EUR 5", "12.34.56",
                          "99999999999999999999"}) {
    EXPECT_EQ(Parse(2, bad, &v), RejectReason::kAmountInvalid) << bad;
  }
}

TEST_F(AttributeTest, YearAndInteger) {
  v1::Value v;
  EXPECT_EQ(Parse(3, "2014", &v), RejectReason::kNone);
  EXPECT_EQ(v.year(), 2014);
  for (const char* bad : {"14", "1899", "2101", "20x4"}) {
    EXPECT_EQ(Parse(3, bad, &v), RejectReason::kYearInvalid) << bad;
  }
  EXPECT_EQ(Parse(4, "366", &v), RejectReason::kNone);
  EXPECT_EQ(v.integer(), 366);
  for (const char* bad : {"367", "-1", "1.5", "", "9223372036854775808"}) {
    EXPECT_EQ(Parse(4, bad, &v), RejectReason::kIntegerInvalid) << bad;
  }
}

TEST(MappingTest, RefusesDateFormatsThatMixUpDateAndTime) {
  BadCase cases[] = {
      {"format: yyyymmdd", "format: yyyy-mm-dd MM",
       "m.yaml:11:54: attributes[1].format: date format 'yyyy-mm-dd MM' has minutes (MM) but no "
       "hour (HH); the month is mm, in lower case"},
      {"format: yyyymmdd", "format: HH:MM yyyymmdd", "attributes[1].format: date format"},
      {"format: yyyymmdd", "format: yyyymmdd H", "hours, minutes and seconds are written HH"},
  };
  for (const BadCase& c : cases) ExpectRefused(c);
  for (const char* format : {"iso8601", "\"yyyy-mm-ddTHH:MM:SS\"", "\"dd-mm-yyyy HH:MM\""}) {
    std::string text = kValid;
    text.replace(text.find("yyyymmdd"), 8, format);
    absl::StatusOr<Mapping> m = ParseMapping(text, "m.yaml");
    ASSERT_TRUE(m.ok()) << format << ": " << m.status();
  }
}

TEST(CategoryCodeTest, FoldsCaseBlanksAndCompatibilityForms) {
  EXPECT_EQ(FoldCategoryCode("Ambulant"), "ambulant");
  EXPECT_EQ(FoldCategoryCode("AMBULANT"), "ambulant");
  EXPECT_EQ(FoldCategoryCode(" \tambulant  "), "ambulant");
  EXPECT_EQ(FoldCategoryCode("Jeugd \t GGZ"), "jeugd ggz");
  // ÉÉN, a no-break space, GEZIN
  EXPECT_EQ(FoldCategoryCode("\xC3\x89\xC3\x89N\xC2\xA0GEZIN"), "\xC3\xA9\xC3\xA9n gezin");
  EXPECT_EQ(FoldCategoryCode("\xC3\x98RE"), FoldCategoryCode("\xC3\xB8re"));  // Øre, øre
  EXPECT_EQ(FoldCategoryCode("Stra\xC3\x9F"
                             "e"),
            FoldCategoryCode("STRASSE"));
  EXPECT_EQ(FoldCategoryCode("\xEF\xAC\x81"
                             "ets"),
            "fiets");  // the ligature fi
  EXPECT_NE(FoldCategoryCode("ambulant"), FoldCategoryCode("ambulante"));
  EXPECT_NE(FoldCategoryCode("e"), FoldCategoryCode("\xC3\xA9"));  // accents still count
  EXPECT_EQ(FoldCategoryCode(""), "");
}

constexpr char kCategories[] = R"(version: 1
dataset: jeugdzorg
period: {from: 2014-01-01, to: 2014-12-31}
csv: {delimiter: ";"}
identifiers: {bsn: BSN}
attributes:
  - {name: vorm, column: Vorm, type: category, ignore_case: true, codes: [ambulant, residentieel, "\u00c9\u00e9n gezin"]}
  - {name: soort, column: Soort, type: category, ignore_case: true, codes: {"Jeugd  GGZ": ggz, JGGZ: ggz, Opvang: opvang}}
  - {name: exact, column: Exact, type: category, codes: [ambulant]}
)";

// The kCategories mapping with `find` replaced by `replace`, parsed as `source`.
absl::StatusOr<Mapping> CategoriesWith(std::string_view find, std::string_view replace,
                                       const std::string& source = "m.yaml") {
  std::string text = kCategories;
  size_t at = text.find(find);
  EXPECT_NE(at, std::string::npos) << find;
  if (at != std::string::npos) text.replace(at, find.size(), replace);
  return ParseMapping(text, source);
}

void ExpectError(const absl::StatusOr<Mapping>& m, std::string_view expected) {
  ASSERT_FALSE(m.ok()) << "accepted, expected " << expected;
  EXPECT_NE(std::string(m.status().message()).find(expected), std::string::npos)
      << m.status().message();
}

TEST(MappingTest, IgnoreCaseMatchesCodesInAnyCapitalisationAndSpacing) {
  absl::StatusOr<Mapping> m = ParseMapping(kCategories, "m.yaml");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->attributes[0].ignore_case);
  EXPECT_FALSE(m->attributes[2].ignore_case);
  AttributeParser vorm(m->attributes[0]), soort(m->attributes[1]), exact(m->attributes[2]);
  v1::Value v;
  for (const char* text : {"ambulant", "Ambulant", "AMBULANT", " ambulant\t", "aMbUlAnT"}) {
    ASSERT_EQ(vorm.Parse(text, &v), RejectReason::kNone) << text;
    EXPECT_EQ(v.code(), 0u) << text;
  }
  for (const char* text :
       {"\xC3\x89\xC3\x89N GEZIN", "\xC3\xA9\xC3\xA9n   gezin", "\xC3\xA9\xC3\xA9n\xC2\xA0Gezin"}) {
    ASSERT_EQ(vorm.Parse(text, &v), RejectReason::kNone) << text;
    EXPECT_EQ(v.code(), 2u) << text;  // sorted: ambulant, residentieel, \u00c9\u00e9n gezin
  }
  for (const char* text : {"ambulan", "ambulant x", "ambu lant", "een gezin"}) {
    EXPECT_EQ(vorm.Parse(text, &v), RejectReason::kCategoryUnknown) << text;
  }
  ASSERT_EQ(soort.Parse("jeugd ggz", &v), RejectReason::kNone);
  EXPECT_EQ(v.code(), 0u);
  ASSERT_EQ(soort.Parse("jggz", &v), RejectReason::kNone);
  EXPECT_EQ(v.code(), 0u);
  ASSERT_EQ(soort.Parse("OPVANG", &v), RejectReason::kNone);
  EXPECT_EQ(v.code(), 1u);
  EXPECT_EQ(exact.Parse("ambulant", &v), RejectReason::kNone);
  EXPECT_EQ(exact.Parse("Ambulant", &v), RejectReason::kCategoryUnknown);
}

TEST(MappingTest, IgnoreCaseRefusesCodesThatFoldTogetherButMapApart) {
  ExpectError(CategoriesWith("JGGZ: ggz", "jeugd ggz: opvang"),
              "m.yaml:8:96: attributes[1].codes: maps to another code than the code at line 8, "
              "column 77, which matches the same export values when case and blanks are "
              "ignored; map both to one code or remove one");
  ExpectError(CategoriesWith("[ambulant,", "[ambulant, Ambulant,"),
              "m.yaml:7:85: attributes[0].codes: maps to another code than the code at line 7, "
              "column 75");
  // Codes that fold together and map to one code are fine; without ignore_case nothing folds.
  EXPECT_TRUE(CategoriesWith("JGGZ: ggz", "jeugd ggz: ggz").ok());
  EXPECT_TRUE(CategoriesWith("codes: [ambulant]}", "codes: [ambulant, Ambulant]}").ok());
  ExpectError(
      CategoriesWith("type: category, codes: [ambulant]}", "type: integer, ignore_case: true}"),
      "m.yaml:9:62: attributes[2].ignore_case: only allowed for type category");
  ExpectError(CategoriesWith("ignore_case: true, codes: [", "ignore_case: maybe, codes: ["),
              "attributes[0].ignore_case: expected true or false");
  ExpectError(CategoriesWith(", codes: [ambulant]}", "}"),
              "attributes[2]: a category needs its allowed codes: give codes, codes_file or both");
}

TEST(MappingTest, ReadsCodesFilesRelativeToTheMapping) {
  TempDir dir;
  WriteFile(dir / "delicten.csv", "code,maps_to\n3200,geweld\n1100,vermogen\n1110,vermogen\n");
  WriteFile(dir / "vormen.csv", "code\nAMBULANT\nPleegzorg\n");
  const std::string source = (dir / "m.yaml").string();
  absl::StatusOr<Mapping> m =
      CategoriesWith("codes: {\"Jeugd  GGZ\": ggz, JGGZ: ggz, Opvang: opvang}",
                     "codes_file: delicten.csv, codes: {9999: overig}", source);
  ASSERT_TRUE(m.ok()) << m.status();
  const AttributeSpec& soort = m->attributes[1];
  EXPECT_EQ(soort.codes_file, dir / "delicten.csv");
  EXPECT_EQ(soort.codes.size(), 4u);
  std::vector<v1::AttributeSchema> schema = m->BatchSchema();
  ASSERT_EQ(schema[1].codes_size(), 3);
  EXPECT_EQ(schema[1].codes(0), "geweld");
  EXPECT_EQ(schema[1].codes(1), "overig");
  EXPECT_EQ(schema[1].codes(2), "vermogen");
  AttributeParser parser(soort);
  v1::Value v;
  ASSERT_EQ(parser.Parse("1110", &v), RejectReason::kNone);
  EXPECT_EQ(v.code(), 2u);

  // A file without maps_to lists codes standing for themselves; with ignore_case they fold
  // together with the mapping's own; an absolute path is used as it is.
  m = CategoriesWith("codes: [ambulant, residentieel, \"\\u00c9\\u00e9n gezin\"]",
                     "codes: [ambulant], codes_file: " + (dir / "vormen.csv").string(), source);
  ExpectError(m,
              "vormen.csv line 2: the code maps to another code than the code at line 7, "
              "column 75");
  m = CategoriesWith("codes: [ambulant, residentieel, \"\\u00c9\\u00e9n gezin\"]",
                     "codes: [AMBULANT], codes_file: " + (dir / "vormen.csv").string(), source);
  ASSERT_TRUE(m.ok()) << m.status();
  AttributeParser vorm(m->attributes[0]);
  EXPECT_EQ(vorm.Parse("pleegzorg", &v), RejectReason::kNone);
  EXPECT_EQ(vorm.Parse("Ambulant", &v), RejectReason::kNone);

  WriteFile(dir / "m.yaml", std::string(kCategories));
  EXPECT_TRUE(LoadMapping(dir / "m.yaml").ok());
}

TEST(MappingTest, RefusesBadCodesFilesNamingTheMappingKeyAndTheFileLine) {
  TempDir dir;
  const std::string source = (dir / "m.yaml").string();
  const std::string file = (dir / "codes.csv").string();
  auto with_file = [&](std::string_view content) {
    WriteFile(dir / "codes.csv", content);
    return CategoriesWith("codes: {\"Jeugd  GGZ\": ggz, JGGZ: ggz, Opvang: opvang}",
                          "codes: {Opvang: opvang}, codes_file: codes.csv", source);
  };
  ExpectError(with_file("code,maps_to\nJGGZ,ggz\nBeschermd,Beschermd Wonen\n"),
              source + ":8:106: attributes[1].codes_file: codes file " + file +
                  " line 3: maps_to must be lower-case letters, digits and _");
  ExpectError(with_file("code,maps_to\nJGGZ,ggz\n,ggz\n"),
              "attributes[1].codes_file: codes file " + file + ":3: the code is empty");
  ExpectError(with_file("code,maps_to\nJGGZ,ggz\nOPVANG,ggz\n"),
              "attributes[1].codes_file: codes file " + file +
                  " line 3: the code maps to another code than the code at line 8, column 77, "
                  "which matches the same export values when case and blanks are ignored");
  ExpectError(
      with_file("code,maps_to\nJGGZ,ggz\njggz,opvang\n"),
      " line 3: the code maps to another code than the code at codes file " + file + " line 2");
  std::filesystem::remove(dir / "codes.csv");
  ExpectError(CategoriesWith("codes: [ambulant]}", "codes_file: nope.csv}", source),
              source + ":9:62: attributes[2].codes_file: cannot read codes file " +
                  (dir / "nope.csv").string());
  ExpectError(CategoriesWith("type: category, codes: [ambulant]}", "type: year, codes_file: x.csv}",
                             source),
              "attributes[2].codes_file: only allowed for type category");
}

constexpr char kAddress[] = R"(version: 1
dataset: brp
period: {from: 2014-12-31, to: 2014-12-31}
csv: {delimiter: ";"}
identifiers: {address: {postcode: Postcode, house: Huisnummer, postcodes: postcodes.csv}}
)";

TEST(MappingTest, ReadsThePostcodeListRelativeToTheMapping) {
  TempDir dir;
  const std::string source = (dir / "m.yaml").string();
  WriteFile(dir / "postcodes.csv", "postcode\n7607AB\n7608\n");
  absl::StatusOr<Mapping> m = ParseMapping(kAddress, source);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_NE(m->address_columns->postcodes, nullptr);
  EXPECT_EQ(m->address_columns->postcodes_file, dir / "postcodes.csv");
  EXPECT_TRUE(m->address_columns->postcodes->Contains("7607AB"));
  EXPECT_TRUE(m->address_columns->postcodes->Contains("7608ZZ"));
  EXPECT_FALSE(m->address_columns->postcodes->Contains("7609AB"));

  WriteFile(dir / "postcodes.csv", "postcode\n7607AB\n7607 ABC\n");
  m = ParseMapping(kAddress, source);
  ExpectError(m, source + ":5:75: identifiers.address.postcodes: postcodes file " +
                     (dir / "postcodes.csv").string() + ":3: is neither a postcode");
  EXPECT_EQ(std::string(m.status().message()).find("7607"), std::string::npos);
  std::filesystem::remove(dir / "postcodes.csv");
  ExpectError(ParseMapping(kAddress, source),
              "identifiers.address.postcodes: cannot read postcodes file");
}

}  // namespace
}  // namespace koppel
