#include "agents/row_judge.h"

#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace koppel::agent {
namespace {

using test::TempDir;
using test::WriteFile;

constexpr char kMapping[] = R"(version: 1
dataset: jeugdzorg
period: {from: 2014-01-01, to: 2014-12-31}
csv: {delimiter: ";"}
identifiers:
  address: {postcode: Postcode, house: Huisnummer, postcodes: postcodes.csv}
attributes:
  - {name: vorm, column: Vorm, type: category, ignore_case: true, codes: [ambulant, residentieel]}
  - {name: start, column: Start, type: date, format: iso8601}
)";

class RowJudgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_ / "postcodes.csv", "postcode\n7607AB\n7608\n");
    absl::StatusOr<Mapping> mapping = ParseMapping(kMapping, (dir_ / "m.yaml").string());
    ASSERT_TRUE(mapping.ok()) << mapping.status();
    mapping_ = std::move(*mapping);
    absl::StatusOr<RowJudge> judge =
        RowJudge::Create(mapping_, {"Start", "Postcode", "Huisnummer", "Vorm", "Naam"});
    ASSERT_TRUE(judge.ok()) << judge.status();
    judge_.emplace(std::move(*judge));
  }

  // The judged row; `column` is the header of the offending column, "" for none.
  JudgedRow Judge(std::vector<std::string_view> fields, std::string* column) {
    JudgedRow row;
    judge_->Judge(fields, &row);
    *column = row.column < 0 ? "" : judge_->columns()[static_cast<size_t>(row.column)].header;
    return row;
  }

  TempDir dir_;
  Mapping mapping_;
  std::optional<RowJudge> judge_;
};

TEST_F(RowJudgeTest, RejectsAWellFormedPostcodeNotOnTheList) {
  std::string column;
  JudgedRow row = Judge({"2014-03-07T14:22:05+01:00", "7607 ab", "12", "Ambulant", "x"}, &column);
  EXPECT_EQ(row.reason, RejectReason::kNone);
  EXPECT_EQ(row.address.view(), "7607AB|12||");
  // A PC4 area on the list admits every postcode in it.
  EXPECT_EQ(Judge({"2014-03-07", "7608ZZ", "1", "ambulant", ""}, &column).reason,
            RejectReason::kNone);

  row = Judge({"2014-03-07", "7609AB", "12", "ambulant", ""}, &column);
  EXPECT_EQ(row.reason, RejectReason::kPostcodeUnknown);
  EXPECT_EQ(column, "Postcode");
  EXPECT_EQ(RejectReasonName(row.reason), "postcode_unknown");
  // A postcode that is no postcode keeps its own reason; the house number is judged first too.
  EXPECT_EQ(Judge({"2014-03-07", "760AB", "12", "ambulant", ""}, &column).reason,
            RejectReason::kPostcodeBadFormat);
  EXPECT_EQ(Judge({"2014-03-07", "7609AB", "", "ambulant", ""}, &column).reason,
            RejectReason::kHouseNumberEmpty);
  // The postcode is judged before the attributes.
  row = Judge({"2014-03-07", "7609AB", "12", "onbekend", ""}, &column);
  EXPECT_EQ(row.reason, RejectReason::kPostcodeUnknown);
}

TEST_F(RowJudgeTest, MatchesCategoryCodesInAnyCapitalisation) {
  std::string column;
  for (std::string_view code : {"ambulant", "Ambulant", "AMBULANT", " ambulant "}) {
    JudgedRow row = Judge({"2014-03-07", "7607AB", "12", code, ""}, &column);
    ASSERT_EQ(row.reason, RejectReason::kNone) << code;
    EXPECT_EQ(row.values.Get(0).code(), 0u) << code;
  }
  JudgedRow row = Judge({"2014-03-07", "7607AB", "12", "RESIDENTIEEL", ""}, &column);
  ASSERT_EQ(row.reason, RejectReason::kNone);
  EXPECT_EQ(row.values.Get(0).code(), 1u);
  row = Judge({"2014-03-07", "7607AB", "12", "pleegzorg", ""}, &column);
  EXPECT_EQ(row.reason, RejectReason::kCategoryUnknown);
  EXPECT_EQ(column, "Vorm");
  row = Judge({"2014-03-07T25:00", "7607AB", "12", "ambulant", ""}, &column);
  EXPECT_EQ(row.reason, RejectReason::kDateInvalid);
  EXPECT_EQ(column, "Start");
}

}  // namespace
}  // namespace koppel::agent
