// Tests of the cell key method (linker/analysis/cell_key.h): every way Parse refuses a
// perturbation table, the compiled-in default and its properties, where keys at interval edges
// go, that the noise drawn over many keys follows the table, record keys, and tables written
// by scripts/make-ptable.
#include "linker/analysis/cell_key.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/hex.h"
#include "core/secret.h"

namespace koppel {
namespace {

using Row = analysis::PerturbationTable::Row;

// Lines 1..8. Count 1 and every count >= 2 get noise -1, 0 or +1 with p 0.25, 0.5, 0.25.
constexpr char kValid[] =
    "i;j;p;v;p_int_lb;p_int_ub\n"
    "0;0;1;0;0;1\n"
    "1;0;0.25;-1;0;0.25\n"
    "1;1;0.5;0;0.25;0.75\n"
    "1;2;0.25;1;0.75;1\n"
    "2;1;0.25;-1;0;0.25\n"
    "2;2;0.5;0;0.25;0.75\n"
    "2;3;0.25;1;0.75;1\n";

constexpr uint32_t kQuarter = uint32_t{1} << 30;

std::string ValidWithLine(int line, const std::string& replacement) {
  std::istringstream in(kValid);
  std::string out, current;
  for (int n = 1; std::getline(in, current); ++n) out += (n == line ? replacement : current) + "\n";
  return out;
}

std::string ParseError(std::string_view csv) {
  absl::StatusOr<analysis::PerturbationTable> table =
      analysis::PerturbationTable::Parse(csv, "t.csv");
  if (table.ok()) return "parsed";
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(table.status().message());
}

analysis::PerturbationTable MustParse(std::string_view csv) {
  absl::StatusOr<analysis::PerturbationTable> table =
      analysis::PerturbationTable::Parse(csv, "t.csv");
  if (!table.ok()) {
    std::fprintf(stderr, "a table the test needs does not parse: %s\n",
                 table.status().ToString().c_str());
    std::abort();
  }
  return *std::move(table);
}

std::string HexSha256(std::string_view bytes) {
  std::array<uint8_t, crypto_hash_sha256_BYTES> digest;
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size());
  return ToHex(digest);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Runs scripts/make-ptable with `arguments`; returns its exit status and standard output.
std::pair<int, std::string> MakePtable(const std::string& arguments) {
  std::string command =
      absl::StrCat("python3 '", KOPPEL_SOURCE_DIR, "/scripts/make-ptable' ", arguments, " -q");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  std::string out;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

struct Moments {
  double sum = 0;
  double mean = 0;
  double variance = 0;
};

// Sum of p, mean and second moment of the noise of every row group.
std::map<int64_t, Moments> MomentsByCount(const analysis::PerturbationTable& table) {
  std::map<int64_t, Moments> moments;
  for (const Row& row : table.rows()) {
    Moments& m = moments[row.i];
    m.sum += row.p;
    m.mean += row.p * static_cast<double>(row.v);
    m.variance += row.p * static_cast<double>(row.v * row.v);
  }
  return moments;
}

TEST(PerturbationTableParse, AcceptsTheSasExport) {
  analysis::PerturbationTable table = MustParse(kValid);
  EXPECT_EQ(table.max_i(), 2);
  EXPECT_EQ(table.max_noise(), 1);
  EXPECT_EQ(table.blocked_up_to(), 0);
  EXPECT_EQ(table.rows().size(), 7u);
  EXPECT_EQ(table.sha256(), HexSha256(kValid));
  EXPECT_EQ(table.rows()[3].j, 2);
  EXPECT_EQ(table.rows()[3].v, 1);
  EXPECT_DOUBLE_EQ(table.rows()[3].p_int_lb, 0.75);
}

TEST(PerturbationTableParse, AcceptsCommasTypeColumnQuotesBomCrlfPaddingAndOtherOrder) {
  // As R's write.table(format(...)) and spreadsheets write it: padded, quoted, exponents.
  std::string csv =
      "\xEF\xBB\xBF\"type\",\"p_int_ub\",\"i\",\"j\",\"p\",\"v\",\"p_int_lb\"\r\n"
      "all,1, 0,0,1.00000000, 0,0\r\n"
      "\r\n"
      "all,2.5e-01, 1,0,0.25,-1,0.00000000\r\n"
      "all,.75, 1,1,5E-1, 0,0.25\r\n"
      "all,1.00000000, 1,2,0.25, +1,0.75\r\n";
  analysis::PerturbationTable table = MustParse(csv);
  EXPECT_EQ(table.max_i(), 1);
  EXPECT_EQ(table.max_noise(), 1);
  EXPECT_EQ(table.sha256(), HexSha256(csv));
  EXPECT_EQ(table.Perturb(1, kQuarter - 1), 0);
  EXPECT_EQ(table.Perturb(1, kQuarter), 1);
  EXPECT_EQ(table.Perturb(7, 3 * kQuarter), 8);
}

TEST(PerturbationTableParse, RefusesMalformedTables) {
  const std::string expected_columns =
      " (expected i, j, p, v, p_int_lb, p_int_ub and optionally type)";
  // Structure.
  EXPECT_EQ(ParseError(""),
            "t.csv:1:1: the table is empty; expected a header with the columns i, j, p, v, "
            "p_int_lb, p_int_ub");
  EXPECT_EQ(ParseError("i;j;p;v;p_int_lb;p_int_ub\n"),
            "t.csv:1:1: the table has a header but no rows");
  EXPECT_EQ(ParseError(ValidWithLine(1, "i;j;p;v;p_int_lb;p_int_ub;weight")),
            "t.csv:1:7: unknown column \"weight\"" + expected_columns);
  EXPECT_EQ(ParseError(ValidWithLine(1, "i;j;P;v;p_int_lb;p_int_ub")),
            "t.csv:1:3: unknown column \"P\"" + expected_columns);
  EXPECT_EQ(ParseError(ValidWithLine(1, "i;j;p;v;p;p_int_lb;p_int_ub")),
            "t.csv:1:5: column p appears twice");
  EXPECT_EQ(ParseError(ValidWithLine(1, "i;j;p;v;p_int_ub")), "t.csv:1:6: missing column p_int_lb");
  EXPECT_EQ(ParseError(ValidWithLine(1, "i;\"j;p;v;p_int_lb;p_int_ub")),
            "t.csv:1:1: row has an unterminated or misplaced quote");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;\"0;0.25;-1;0;0.25")),
            "t.csv:3:1: row has an unterminated or misplaced quote");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0.25;-1;0")),
            "t.csv:3:6: the row has 5 fields, the header 6");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0.25;-1;0;0.25;all")),
            "t.csv:3:7: the row has 7 fields, the header 6");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0.25;-1;0;0.25" + std::string(5000, ' '))),
            "t.csv:3:1: line longer than 4096 bytes");

  // Numbers.
  EXPECT_EQ(ParseError(ValidWithLine(3, "x;0;0.25;-1;0;0.25")),
            "t.csv:3:1: i is not an integer: \"x\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0.0;0.25;-1;0;0.25")),
            "t.csv:3:2: j is not an integer: \"0.0\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0.25;--1;0;0.25")),
            "t.csv:3:4: v is not an integer: \"--1\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0.25;;0;0.25")),
            "t.csv:3:4: v is not an integer: \"\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;12345678901234567890;0.25;-1;0;0.25")),
            "t.csv:3:2: j is not an integer: \"12345678901234567890\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0.2.5;-1;0;0.25")),
            "t.csv:3:3: p is not a number in [0, 1]: \"0.2.5\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;1.5;-1;0;0.25")),
            "t.csv:3:3: p is not a number in [0, 1]: \"1.5\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;-0.25;-1;0;0.25")),
            "t.csv:3:3: p is not a number in [0, 1]: \"-0.25\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0.25;-1;nan;0.25")),
            "t.csv:3:5: p_int_lb is not a number in [0, 1]: \"nan\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0.25;-1;0;inf")),
            "t.csv:3:6: p_int_ub is not a number in [0, 1]: \"inf\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0x1p-2;-1;0;0.25")),
            "t.csv:3:3: p is not a number in [0, 1]: \"0x1p-2\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;1e999;-1;0;0.25")),
            "t.csv:3:3: p is not a number in [0, 1]: \"1e999\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0,25;-1;0;0.25")),
            "t.csv:3:3: p is not a number in [0, 1]: \"0,25\"");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;\x01\xff;-1;0;0.25")),
            "t.csv:3:3: p is not a number in [0, 1]: \"\\x01\\xff\"");

  // Values of a row.
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;-1;0.25;-2;0;0.25")), "t.csv:3:2: j is negative (-1)");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0.25;1;0;0.25")), "t.csv:3:4: v is 1 but j - i is -1");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;1002;0.25;1001;0;0.25")),
            "t.csv:3:4: |v| is 1001; at most 1000 is accepted");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0.3;-1;0;0.25")),
            "t.csv:3:3: p_int_ub - p_int_lb is 0.25 but p is 0.3");

  // The i values and the i=0 group.
  EXPECT_EQ(ParseError(ValidWithLine(2, "1;0;1;-1;0;1")),
            "t.csv:2:1: the first row has i=1; the table must start with i=0");
  EXPECT_EQ(ParseError(ValidWithLine(2, "0;1;1;1;0;1")),
            "t.csv:2:2: i=0 must have exactly one row, with j=0 and p=1");
  EXPECT_EQ(ParseError(ValidWithLine(2, "0;0;0.5;0;0;0.5")),
            "t.csv:2:3: i=0 must have exactly one row, with j=0 and p=1");
  EXPECT_EQ(ParseError(ValidWithLine(2, "0;0;1;0;0;1\n0;1;0;1;1;1")),
            "t.csv:3:1: i=0 must have exactly one row, with j=0 and p=1");
  EXPECT_EQ(ParseError("i;j;p;v;p_int_lb;p_int_ub\n0;0;1;0;0;1\n"),
            "t.csv:2:1: the table has only i=0; it needs at least i=1");
  EXPECT_EQ(ParseError(absl::StrCat(kValid, "4;4;1;0;0;1\n")),
            "t.csv:9:1: i=4 after i=2: the i values must be consecutive");
  EXPECT_EQ(ParseError(absl::StrCat(kValid, "1;3;0;2;1;1\n")),
            "t.csv:9:1: i=1 after i=2: the rows of each i must be together, in increasing i");

  // The rows of one i.
  EXPECT_EQ(ParseError(ValidWithLine(4, "1;0;0.5;-1;0.25;0.75")),
            "t.csv:4:2: j=0 after j=0 in i=1: the rows of an i must be sorted by increasing j");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;2;0.25;1;0;0.25")),
            "t.csv:4:2: j=1 after j=2 in i=1: the rows of an i must be sorted by increasing j");
  EXPECT_EQ(ParseError(ValidWithLine(3, "1;0;0.25;-1;0.1;0.35")),
            "t.csv:3:5: p_int_lb of the first row of i=1 is 0.1; it must be 0");
  EXPECT_EQ(ParseError(ValidWithLine(4, "1;1;0.5;0;0.3;0.8")),
            "t.csv:4:5: p_int_lb is 0.3 but the p_int_ub before it is 0.25; the intervals of i=1 "
            "must be contiguous");
  EXPECT_EQ(ParseError(ValidWithLine(5, "1;2;0.2;1;0.75;0.95")),
            "t.csv:5:3: the p of i=1 sum to 0.95, not 1");
  EXPECT_EQ(ParseError(ValidWithLine(8, "2;3;0.2;1;0.75;0.95")),
            "t.csv:8:3: the p of i=2 sum to 0.95, not 1");
  // Each step within the tolerance, the drift beyond it: p sums to 1, the last bound does not.
  EXPECT_EQ(ParseError("i;j;p;v;p_int_lb;p_int_ub\n"
                       "0;0;1;0;0;1\n"
                       "1;0;0.25;-1;0;0.2499992\n"
                       "1;1;0.5;0;0.2499984;0.7499976\n"
                       "1;2;0.25;1;0.7499968;0.999996\n"),
            "t.csv:5:6: p_int_ub of the last row of i=1 is 0.999996; it must be 1");
}

TEST(PerturbationTableParse, RefusesMoreThanTheRowLimit) {
  std::string csv = "i;j;p;v;p_int_lb;p_int_ub\n";
  for (size_t i = 0; i <= analysis::PerturbationTable::kMaxRows; ++i) {
    absl::StrAppend(&csv, i, ";", i, ";1;0;0;1\n");
  }
  EXPECT_EQ(ParseError(csv), "t.csv:10002:1: more than 10000 rows");
  // Exactly the limit is fine.
  csv.resize(csv.rfind("\n10000;") + 1);
  analysis::PerturbationTable table = MustParse(csv);
  EXPECT_EQ(table.max_i(), 9999);
  EXPECT_EQ(table.max_noise(), 0);
}

TEST(PerturbationTablePerturb, KeysAtIntervalEdges) {
  analysis::PerturbationTable table = MustParse(kValid);
  // u = key / 2^32 exactly at a cut belongs to the row above it.
  EXPECT_EQ(table.Perturb(1, 0), 0);
  EXPECT_EQ(table.Perturb(1, kQuarter - 1), 0);
  EXPECT_EQ(table.Perturb(1, kQuarter), 1);
  EXPECT_EQ(table.Perturb(1, 3 * kQuarter - 1), 1);
  EXPECT_EQ(table.Perturb(1, 3 * kQuarter), 2);
  EXPECT_EQ(table.Perturb(1, UINT32_MAX), 2);
  // Counts from imax up use imax's rows.
  EXPECT_EQ(table.Perturb(2, kQuarter - 1), 1);
  EXPECT_EQ(table.Perturb(1000, kQuarter - 1), 999);
  EXPECT_EQ(table.Perturb(1000, UINT32_MAX), 1001);
  EXPECT_EQ(table.Perturb(INT64_MAX, UINT32_MAX), INT64_MAX);
  // 0 stays 0 whatever the key.
  EXPECT_EQ(table.Perturb(0, 0), 0);
  EXPECT_EQ(table.Perturb(0, UINT32_MAX), 0);

  // A cut that is not a multiple of 2^-32: ceil(0.66666667 * 2^32) = 2863311545.
  analysis::PerturbationTable thirds = MustParse(
      "i;j;p;v;p_int_lb;p_int_ub\n0;0;1;0;0;1\n"
      "1;0;0.66666667;-1;0.00000000;0.66666667\n1;3;0.33333333;2;0.66666667;1.00000000\n");
  EXPECT_EQ(thirds.Perturb(1, 2863311544u), 0);
  EXPECT_EQ(thirds.Perturb(1, 2863311545u), 3);

  // A row with p = 0 is never chosen, not even at its own bound, and does not count as noise.
  analysis::PerturbationTable empty_row = MustParse(
      "i;j;p;v;p_int_lb;p_int_ub\n0;0;1;0;0;1\n"
      "1;0;0.5;-1;0;0.5\n1;2;0;1;0.5;0.5\n1;3;0.5;2;0.5;1\n1;6;0;5;1;1\n");
  EXPECT_EQ(empty_row.Perturb(1, (uint32_t{1} << 31) - 1), 0);
  EXPECT_EQ(empty_row.Perturb(1, uint32_t{1} << 31), 3);
  EXPECT_EQ(empty_row.max_noise(), 2);
  EXPECT_EQ(empty_row.Perturb(1, UINT32_MAX), 3);
  EXPECT_EQ(empty_row.blocked_up_to(), 0);  // count 2 becomes 1 with a key below 2^31

  // A last bound a little below 1 still covers every key.
  analysis::PerturbationTable short_top = MustParse(
      "i;j;p;v;p_int_lb;p_int_ub\n0;0;1;0;0;1\n1;0;0.5;-1;0;0.5\n1;2;0.4999995;1;0.5;0.9999995\n");
  EXPECT_EQ(short_top.Perturb(1, UINT32_MAX), 2);
  EXPECT_EQ(short_top.Perturb(5, UINT32_MAX), 6);
}

TEST(PerturbationTablePerturb, BlockedUpToCountsTheCountsAboveImax) {
  // Count 1 is published as 0 or 3, but count 2 (taking imax=1's noise) can become 1.
  analysis::PerturbationTable table = MustParse(
      "i;j;p;v;p_int_lb;p_int_ub\n0;0;1;0;0;1\n1;0;0.66666667;-1;0;0.66666667\n"
      "1;3;0.33333333;2;0.66666667;1\n");
  EXPECT_EQ(table.blocked_up_to(), 0);
  EXPECT_EQ(table.Perturb(2, 0), 1);
}

TEST(PerturbationTablePerturb, IsDeterministic) {
  const analysis::PerturbationTable& table = analysis::PerturbationTable::Default();
  analysis::PerturbationTable again =
      MustParse(ReadFile(KOPPEL_SOURCE_DIR "/linker/analysis/ptable_default.csv"));
  std::mt19937 random(7);
  for (int n = 0; n < 20000; ++n) {
    const int64_t count = static_cast<int64_t>(random() % 50);
    const uint32_t key = static_cast<uint32_t>(random());
    const int64_t published = table.Perturb(count, key);
    EXPECT_EQ(table.Perturb(count, key), published);
    EXPECT_EQ(again.Perturb(count, key), published);
  }
}

TEST(DefaultPerturbationTable, IsTheCommittedFileAndReproducible) {
  const std::string file = ReadFile(KOPPEL_SOURCE_DIR "/linker/analysis/ptable_default.csv");
  const analysis::PerturbationTable& table = analysis::PerturbationTable::Default();
  EXPECT_EQ(table.sha256(), HexSha256(file));
  EXPECT_EQ(&table, &analysis::PerturbationTable::Default());
  auto [status, generated] = MakePtable("-D 3 -V 2 --js 2");
  EXPECT_EQ(status, 0);
  EXPECT_EQ(generated, file) << "regenerate with scripts/make-ptable -D 3 -V 2 --js 2";
}

TEST(DefaultPerturbationTable, HasTheDocumentedProperties) {
  const analysis::PerturbationTable& table = analysis::PerturbationTable::Default();
  EXPECT_EQ(table.max_i(), 6);  // D + js + 1
  EXPECT_EQ(table.max_noise(), 3);
  EXPECT_EQ(table.blocked_up_to(), 2);
  std::map<int64_t, Moments> moments = MomentsByCount(table);
  ASSERT_EQ(moments.size(), 7u);
  for (const auto& [i, m] : moments) {
    SCOPED_TRACE(absl::StrCat("i=", i));
    EXPECT_NEAR(m.sum, 1.0, 1e-6);
    EXPECT_NEAR(m.mean, 0.0, 1e-6);  // unbiased for every count, the blocked ones too
    EXPECT_LE(m.variance, 2.0 + 1e-6);
    if (i == 0) {
      EXPECT_EQ(m.variance, 0.0);
    } else if (i == 4) {
      // Count 4 can go down by 1 only; with ptable's monotonicity (p(3) <= p(4)) the
      // maximum-entropy noise has variance 1.107 and the constraint <= 2 is not binding.
      EXPECT_NEAR(m.variance, 1.10727847, 1e-6);
    } else {
      EXPECT_NEAR(m.variance, 2.0, 1e-6);
    }
  }
  for (const Row& row : table.rows()) {
    EXPECT_LE(std::abs(row.v), 3);
    EXPECT_FALSE(row.j >= 1 && row.j <= 2) << "i=" << row.i << " j=" << row.j;
  }
  // No original count 1..2 is published unchanged, and blocked counts go to 0 or 3.
  EXPECT_EQ(table.rows()[1].j, 0);
  EXPECT_EQ(table.rows()[2].j, 3);
  std::mt19937 random(11);
  for (int n = 0; n < 100000; ++n) {
    const int64_t count = static_cast<int64_t>(random() % 40);
    const uint32_t key = static_cast<uint32_t>(random());
    const int64_t published = table.Perturb(count, key);
    if (count == 0) {
      ASSERT_EQ(published, 0);
      continue;
    }
    ASSERT_GE(published, 0);
    ASSERT_FALSE(published == 1 || published == 2) << count << " " << key;
    ASSERT_LE(std::abs(published - count), 3);
  }
}

TEST(DefaultPerturbationTable, NoiseOverManyKeysFollowsTheTable) {
  const analysis::PerturbationTable& table = analysis::PerturbationTable::Default();
  constexpr int kKeys = 200000;
  std::mt19937 random(20240611);
  std::vector<uint32_t> keys(kKeys);
  for (uint32_t& key : keys) key = static_cast<uint32_t>(random());
  for (int64_t count : {1, 2, 3, 5, 10, 100}) {
    SCOPED_TRACE(absl::StrCat("count ", count));
    std::map<int64_t, int> seen;
    for (uint32_t key : keys) ++seen[table.Perturb(count, key) - count];
    const int64_t i = std::min(count, table.max_i());
    std::map<int64_t, double> expected;
    for (const Row& row : table.rows()) {
      if (row.i == i) expected[row.v] = row.p;
    }
    for (const auto& [v, n] : seen) EXPECT_TRUE(expected.count(v)) << "noise " << v;
    for (const auto& [v, p] : expected) {
      // The count of a row is binomial(kKeys, p); 5 standard errors, for ~40 comparisons.
      const double frequency = seen.count(v) ? static_cast<double>(seen[v]) / kKeys : 0.0;
      const double sigma = std::sqrt(p * (1 - p) / kKeys);
      EXPECT_LE(std::abs(frequency - p), 5 * sigma) << "noise " << v << " p " << p;
    }
  }
}

TEST(DefaultPerturbationTable, CellKeysAreOrderFree) {
  absl::StatusOr<Secret> data_key = Secret::Random(32);
  ASSERT_TRUE(data_key.ok());
  absl::StatusOr<analysis::RecordKeys> keys = analysis::RecordKeys::Create(*data_key);
  ASSERT_TRUE(keys.ok()) << keys.status();
  uint32_t forward = 0, backward = 0;
  for (int h = 0; h < 12; ++h) forward += keys->Of(absl::StrCat("household-", h));
  for (int h = 11; h >= 0; --h) backward += keys->Of(absl::StrCat("household-", h));
  EXPECT_EQ(forward, backward);
  const analysis::PerturbationTable& table = analysis::PerturbationTable::Default();
  EXPECT_EQ(table.Perturb(12, forward), table.Perturb(12, backward));
}

TEST(RecordKeys, KnownAnswer) {
  // HKDF-SHA256(ikm = 00 01 .. 1f, salt empty, info "koppel/v1/record-keys", 32), then the
  // first 4 bytes of HMAC-SHA256 as little endian; computed with Python's hmac and hashlib.
  std::array<uint8_t, 32> bytes;
  for (size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<uint8_t>(k);
  absl::StatusOr<Secret> data_key = Secret::FromBytes(bytes);
  ASSERT_TRUE(data_key.ok());
  absl::StatusOr<analysis::RecordKeys> keys = analysis::RecordKeys::Create(*data_key);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->Of("household-1"), 0x89b78fccu);
  EXPECT_EQ(keys->Of(""), 0x60a069bfu);
  EXPECT_EQ(keys->Of(std::string_view("\x00\xff", 2)), 0x48782d52u);
}

TEST(RecordKeys, DeterministicAndDistinct) {
  absl::StatusOr<Secret> key_a = Secret::Random(32);
  absl::StatusOr<Secret> key_b = Secret::Random(32);
  ASSERT_TRUE(key_a.ok() && key_b.ok());
  absl::StatusOr<analysis::RecordKeys> a = analysis::RecordKeys::Create(*key_a);
  absl::StatusOr<analysis::RecordKeys> a_again = analysis::RecordKeys::Create(*key_a);
  absl::StatusOr<analysis::RecordKeys> b = analysis::RecordKeys::Create(*key_b);
  ASSERT_TRUE(a.ok() && a_again.ok() && b.ok());
  std::set<uint32_t> distinct;
  int same_under_b = 0;
  constexpr int kTokens = 2000;
  for (int n = 0; n < kTokens; ++n) {
    const std::string token = absl::StrCat("household-", n);
    const uint32_t key = a->Of(token);
    EXPECT_EQ(a->Of(token), key);
    EXPECT_EQ(a_again->Of(token), key);
    distinct.insert(key);
    if (b->Of(token) == key) ++same_under_b;
  }
  // 2000 random 32-bit values collide with probability < 5e-4; equal under both keys 5e-7.
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kTokens));
  EXPECT_EQ(same_under_b, 0);
}

TEST(RecordKeys, RoughlyUniform) {
  std::array<uint8_t, 32> bytes{};
  bytes[0] = 42;
  absl::StatusOr<Secret> data_key = Secret::FromBytes(bytes);
  ASSERT_TRUE(data_key.ok());
  absl::StatusOr<analysis::RecordKeys> keys = analysis::RecordKeys::Create(*data_key);
  ASSERT_TRUE(keys.ok());
  constexpr int kTokens = 64000;
  std::array<int, 16> high{}, low{};
  for (int n = 0; n < kTokens; ++n) {
    const uint32_t key = keys->Of(absl::StrCat("household-", n));
    ++high[key >> 28];
    ++low[key & 15];
  }
  // Chi-square with 15 degrees of freedom: P(X > 44.3) = 1e-4. The sample is fixed, so this
  // is a deterministic check that neither end of the key is visibly skewed.
  auto chi_square = [](const std::array<int, 16>& buckets) {
    const double expected = kTokens / 16.0;
    double sum = 0;
    for (int n : buckets) sum += (n - expected) * (n - expected) / expected;
    return sum;
  };
  EXPECT_LT(chi_square(high), 44.3);
  EXPECT_LT(chi_square(low), 44.3);
}

TEST(MakePtable, OtherParametersGiveAValidTable) {
  auto [status, csv] = MakePtable("-D 2 -V 1 --js 0");
  ASSERT_EQ(status, 0);
  absl::StatusOr<analysis::PerturbationTable> table =
      analysis::PerturbationTable::Parse(csv, "make-ptable");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->max_i(), 2);  // D when js = 0
  EXPECT_EQ(table->max_noise(), 2);
  EXPECT_EQ(table->blocked_up_to(), 0);
  for (const auto& [i, m] : MomentsByCount(*table)) {
    SCOPED_TRACE(absl::StrCat("i=", i));
    EXPECT_NEAR(m.sum, 1.0, 1e-6);
    EXPECT_NEAR(m.mean, 0.0, 1e-6);
    EXPECT_LE(m.variance, 1.0 + 1e-6);
    // i=1 can only go down by 1: under monotonicity its maximum-entropy variance is 0.93.
    if (i == 2) {
      EXPECT_NEAR(m.variance, 1.0, 1e-6);
    }
  }
  // Monotone up to v = 0 (8-decimal rounding may tie the two first rows of i=1 within 1e-8).
  std::map<int64_t, double> previous;
  for (const Row& row : table->rows()) {
    EXPECT_LE(std::abs(row.v), 2);
    if (row.v <= 0 && previous.count(row.i)) {
      EXPECT_GE(row.p, previous[row.i] - 2e-8);
    }
    previous[row.i] = row.p;
  }
  // The symmetric row for counts >= 2 is the discrete Gaussian-like max-entropy one.
  EXPECT_EQ(table->rows().back().i, 2);
  EXPECT_EQ(table->rows().back().j, 4);

  // js >= D cannot be unbiased for count 1: the script refuses.
  EXPECT_EQ(MakePtable("-D 2 -V 1 --js 3").first, 1);
}

}  // namespace
}  // namespace koppel
