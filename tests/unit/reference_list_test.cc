#include "core/reference_list.h"

#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using test::TempDir;
using test::WriteFile;

// `status` is an error whose message holds `expected` and none of `forbidden`.
void ExpectError(const absl::Status& status, std::string_view expected,
                 std::vector<std::string_view> forbidden = {}) {
  ASSERT_FALSE(status.ok()) << "accepted, expected " << expected;
  const std::string message(status.message());
  EXPECT_NE(message.find(expected), std::string::npos) << message;
  for (std::string_view value : forbidden) {
    EXPECT_EQ(message.find(value), std::string::npos) << "quotes " << value << ": " << message;
  }
}

TEST(CodeListTest, ReadsCodesWithOrWithoutMapsTo) {
  TempDir dir;
  // A BOM, CRLF, blank lines, blanks around values, a quoted code with the delimiter in it.
  WriteFile(dir / "plain.csv",
            "\xEF\xBB\xBF"
            "code\r\nAmbulant\r\n\r\n  Residentieel \r\n\"a,b\"\r\n");
  absl::StatusOr<std::vector<ListedCode>> plain = LoadCodeList(dir / "plain.csv");
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_EQ(plain->size(), 3u);
  EXPECT_EQ((*plain)[0].code, "Ambulant");
  EXPECT_EQ((*plain)[0].maps_to, "");
  EXPECT_EQ((*plain)[0].line, 2u);
  EXPECT_EQ((*plain)[1].code, "Residentieel");
  EXPECT_EQ((*plain)[1].line, 4u);
  EXPECT_EQ((*plain)[2].code, "a,b");

  // Header in any capitalisation, `;` as a Dutch spreadsheet writes it, extra columns ignored.
  WriteFile(dir / "mapped.csv",
            "Omschrijving;Code;Maps_To\nMishandeling;3200;geweld\n"
            "Diefstal;1100;vermogen\n");
  absl::StatusOr<std::vector<ListedCode>> mapped = LoadCodeList(dir / "mapped.csv");
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  ASSERT_EQ(mapped->size(), 2u);
  EXPECT_EQ((*mapped)[1].code, "1100");
  EXPECT_EQ((*mapped)[1].maps_to, "vermogen");
  EXPECT_EQ((*mapped)[1].line, 3u);
}

TEST(CodeListTest, RefusesBadFilesNamingTheLineAndWhatToDo) {
  TempDir dir;
  struct {
    std::string content;
    std::string expected;
  } cases[] = {
      {"codes\nA\n", "codes.csv:1: the header must name the column code"},
      {"code,maps_to\nA,a\n,b\n", "codes.csv:3: the code is empty; give one or remove the line"},
      {"code,maps_to\nA,a\nB,\n", "codes.csv:3: maps_to is empty"},
      {"code,maps_to\nA,a\nB\n", "codes.csv:3: has 1 field(s) where the header has 2"},
      {"code\nA\n\"B\n", "codes.csv:3: is not valid CSV"},
      {"code\nA\n\xff\xfe\n", "codes.csv:3: is not valid UTF-8; save the file as UTF-8"},
      {"code\n\n", "codes.csv: lists no codes"},
      {"", "codes.csv:1: the header must name the column code"},
  };
  for (const auto& c : cases) {
    WriteFile(dir / "codes.csv", c.content);
    ExpectError(LoadCodeList(dir / "codes.csv").status(), c.expected);
  }
  ExpectError(LoadCodeList(dir / "missing.csv").status(), "cannot read codes file");
}

TEST(CodeListTest, RefusesFilesBeyondItsBounds) {
  TempDir dir;
  std::string many = "code\n";
  for (size_t i = 0; i <= kMaxCodesFileCodes; ++i) many += std::to_string(i) + "\n";
  ASSERT_LT(many.size(), kMaxCodesFileBytes);
  WriteFile(dir / "many.csv", many);
  ExpectError(LoadCodeList(dir / "many.csv").status(), "many.csv:100002: more than 100000 codes");
  WriteFile(dir / "big.csv", "code\n" + std::string(kMaxCodesFileBytes, 'x') + "\n");
  ExpectError(LoadCodeList(dir / "big.csv").status(),
              "big.csv is larger than 1 MiB, the most a codes file may be");
}

TEST(PostcodeListTest, ReadsPostcodesAsExportsWriteThemAndPc4Areas) {
  TempDir dir;
  WriteFile(dir / "pc.csv", "postcode\r\n7607AB\r\n7607 cd\r\n 7608EF \r\n7609\r\n7607AB\r\n");
  absl::StatusOr<PostcodeList> list = PostcodeList::Load(dir / "pc.csv");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->size(), 4u);  // three postcodes (one listed twice) and one PC4 area
  for (const char* in : {"7607AB", "7607CD", "7608EF", "7609AA", "7609ZZ"}) {
    EXPECT_TRUE(list->Contains(in)) << in;
  }
  for (const char* out : {"7607AC", "7608AB", "1234AB", "7610AA", "7607A", ""}) {
    EXPECT_FALSE(list->Contains(out)) << out;
  }
}

TEST(PostcodeListTest, ErrorsNameTheLineNeverThePostcode) {
  TempDir dir;
  struct {
    std::string content;
    std::string expected;
  } cases[] = {
      {"postcode\n7607AB\n0607AB\n", "pc.csv:3: is neither a postcode"},
      {"postcode\n7607AB\n7607ABC\n", "pc.csv:3: is neither a postcode"},
      {"postcode\n760\n", "pc.csv:2: is neither a postcode"},
      {"postcode\n7607SS\n", "pc.csv:2: is neither a postcode"},
      {"postcode,huisnummer\n7607AB\n", "pc.csv:2: has 1 field(s) where the header has 2"},
      {"pc\n7607AB\n", "pc.csv:1: the header must name the column postcode"},
      {"postcode\n", "pc.csv: lists no postcodes"},
  };
  for (const auto& c : cases) {
    WriteFile(dir / "pc.csv", c.content);
    ExpectError(PostcodeList::Load(dir / "pc.csv").status(), c.expected,
                {"0607AB", "7607ABC", "760\n", "7607SS", "7607AB"});
  }
  ExpectError(PostcodeList::Load(dir / "missing.csv").status(), "cannot read postcodes file");
}

}  // namespace
}  // namespace koppel
