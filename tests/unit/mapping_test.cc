#include "core/mapping.h"

#include <gtest/gtest.h>

#include "core/attribute_value.h"
#include "core/civil_date.h"

namespace koppel {
namespace {

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
  EXPECT_EQ(m->encoding, "utf-8-bom");
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
      {"encoding: utf-8-bom", "encoding: latin1", "iconv"},
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
      {"{name: jaar, column: Jaar, type: year}", "{name: jaar, column: Jaar, type: year, decimal: comma}",
       "only allowed for type amount"},
      {"period: {from: 2012-01-01, to: 2014-12-31}", "period: [2012, 2014]", "period: expected a mapping"},
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
  EXPECT_EQ(IsoDate(DateFromDays(v.date_days())), "2014-12-31");
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
  } ok[] = {{"0", 0}, {"12", 1200}, {"12,5", 1250}, {"12,05", 1205}, {"1.234,56", 123456},
            {"-7,10", -710}, {"1.234.567", 123456700}};
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

}  // namespace
}  // namespace koppel
