// The SVG charts of the HTML report on values built in code: the accessible root, a mark with
// data attributes per drawn value, suppressed cells drawn only as value-free marks (whatever
// value they carry), escaping of hostile labels, empty and degenerate input, negative values,
// nice ticks and byte-identical output. SvgChartXml parses every chart with python3's XML parser.
#include "cli/svg_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <string>
#include <vector>

#include "tests/testing/subprocess.h"
#include "tests/testing/system_python.h"
#include "tests/testing/temp_dir.h"

namespace koppel {
namespace {

using test::Contains;

ChartValue Cell(std::string row, std::string column, double value, std::string text) {
  return ChartValue{std::move(row), std::move(column), value, false, std::move(text)};
}

// A suppressed cell that still carries a value and a text: both must be ignored.
ChartValue Suppressed(std::string row, std::string column, double leaked = 987654) {
  return ChartValue{std::move(row), std::move(column), leaked, true,
                    leaked == 987654 ? "987654" : "13579.24"};
}

ChartFrame Frame(std::string id) {
  return ChartFrame{id, "Share with a problem per wijk", "Bars per wijk; text alternative.", "%"};
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// The attributes a mark of `cell` carries.
std::string MarkAttributes(const ChartValue& cell) {
  return "data-row=\"" + cell.row + "\" data-col=\"" + cell.column + "\" data-value=\"" +
         cell.text + "\"";
}

// One chart of every kind, each with published, suppressed (987654 / 13579.24 inside) and
// negative cells.
struct Charts {
  std::vector<std::pair<std::string, std::string>> svgs;  // kind, svg
  std::vector<ChartValue> published;
};

Charts EveryKind() {
  Charts charts;
  const std::vector<ChartValue> bars = {
      Cell("Noord", "any_pct", 42.1, "42.1"), Suppressed("Oost", "any_pct"),
      Cell("Zuid", "any_pct", -3.5, "-3.5"), Suppressed("West", "any_pct", 13579.24)};
  charts.svgs.emplace_back(
      "bar", BarChartSvg(Frame("bar"), bars, ReferenceLine{30.2, "Almelo totaal 30.2%"}));
  const std::vector<std::pair<ChartValue, ChartValue>> pairs = {
      {Cell("Noord", "any_pct", 12.5, "12.5"), Cell("Noord", "any_pct_2013", 11.0, "11.0")},
      {Suppressed("Oost", "any_pct"), Cell("Oost", "any_pct_2013", 9.5, "9.5")},
      {Cell("Zuid", "any_pct", 7.25, "7.3"), Suppressed("Zuid", "any_pct_2013", 13579.24)}};
  charts.svgs.emplace_back(
      "paired", PairedBarChartSvg(Frame("paired"), {"2014", "2013"}, pairs, std::nullopt));
  const std::vector<StackedBar> stacked = {
      {"mpg_eur",
       {{Cell("Jeugdhulp", "mpg_eur", 1234.0, "1234.00"), "Gemeente"},
        {Suppressed("Jeugdbescherming", "mpg_eur"), "Gemeente"},
        {Cell("Huisarts", "mpg_eur", 350.5, "350.50"), "Zorgverzekeraar"},
        {Cell("Correctie", "mpg_eur", -120.0, "-120.00"), "Zorgverzekeraar"}}},
      {"families_eur",
       {{Suppressed("Jeugdhulp", "families_eur", 13579.24), "Gemeente"},
        {Cell("Huisarts", "families_eur", 80.0, "80.00"), "Zorgverzekeraar"}}}};
  charts.svgs.emplace_back("stacked", StackedBarChartSvg(Frame("stacked"), stacked));
  const std::vector<SetIntersection> intersections = {
      {{0}, Cell("only jeugdhulp", "n", 120, "120"), ""},
      {{0, 1}, Suppressed("also jeugdbescherming", "n"), "at least jeugdhulp and bescherming"},
      {{0, 1, 2}, Cell("in all of these domains", "n", 14, "14"), ""},
      {{2, 7}, Cell("only reclassering", "n", 0, "0"), ""}};
  charts.svgs.emplace_back(
      "upset", UpSetChartSvg(Frame("upset"), {"jeugdhulp", "jeugdbescherming", "reclassering"},
                             intersections));
  const std::vector<Range> ranges = {
      {"price +10%", Cell("price", "low", -2.5, "-2.50"), Cell("price", "high", 4.0, "4.00")},
      {"hours", Suppressed("hours", "low"), Cell("hours", "high", 1.5, "1.50")},
      {"both hidden", Suppressed("both", "low", 13579.24), Suppressed("both", "high")}};
  charts.svgs.emplace_back("range",
                           RangeChartSvg(Frame("range"), Cell("mean", "eur", 1.0, "1.00"), ranges));
  charts.published = {bars[0],
                      bars[2],
                      pairs[0].first,
                      pairs[0].second,
                      pairs[1].second,
                      pairs[2].first,
                      stacked[0].segments[0].value,
                      stacked[0].segments[2].value,
                      stacked[0].segments[3].value,
                      stacked[1].segments[1].value,
                      intersections[0].value,
                      intersections[2].value,
                      intersections[3].value,
                      ranges[0].low,
                      ranges[0].high,
                      ranges[1].high,
                      Cell("mean", "eur", 1.0, "1.00")};
  return charts;
}

TEST(SvgChart, EveryKindIsAnAccessibleSelfContainedSvg) {
  for (const auto& [kind, svg] : EveryKind().svgs) {
    SCOPED_TRACE(kind);
    EXPECT_EQ(
        svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"" +
                      kind + "-title " + kind + "-desc\" viewBox=\"0 0 720 ",
                  0),
        0u);
    EXPECT_TRUE(Contains(svg, "<title id=\"" + kind + "-title\">Share with a problem per wijk"));
    EXPECT_TRUE(Contains(svg, "<desc id=\"" + kind + "-desc\">Bars per wijk; text alternative."));
    EXPECT_EQ(Count(svg, "http"), 1u) << "only the namespace";
    for (const char* banned : {"href", "<script", "foreignObject", "<image", "@font-face", "<style",
                               "url(http", "nan", "inf"}) {
      EXPECT_FALSE(Contains(svg, banned)) << banned;
    }
    EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  }
}

TEST(SvgChart, SuppressedCellsAreValueFreeMarksWhateverTheyCarry) {
  for (const auto& [kind, svg] : EveryKind().svgs) {
    SCOPED_TRACE(kind);
    for (const char* leaked : {"987654", "98765", "13579", "1357"}) {
      EXPECT_FALSE(Contains(svg, leaked)) << leaked;
    }
    EXPECT_TRUE(Contains(svg, "class=\"suppressed-mark\""));
    EXPECT_TRUE(Contains(svg, "* suppressed (not drawn)"));
    // A suppressed mark carries its cell but no value.
    const std::regex mark("<g class=\"suppressed-mark\"([^>]*)>");
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), mark); it != std::sregex_iterator();
         ++it) {
      const std::string attributes = (*it)[1];
      EXPECT_TRUE(Contains(attributes, "data-row=\"")) << attributes;
      EXPECT_TRUE(Contains(attributes, "data-col=\"")) << attributes;
      EXPECT_TRUE(Contains(attributes, "data-suppressed=\"true\"")) << attributes;
      EXPECT_FALSE(Contains(attributes, "data-value")) << attributes;
    }
  }
}

// Every kind of chart with `hidden` in each place a value is drawn: a bar, both bars of a pair,
// a stack segment (offsets of the segments after it), an UpSet bar, both ends of a range and the
// range's base. Any of these reaching a length, an offset or the axis would change the bytes.
std::vector<std::string> EveryKindWith(const ChartValue& hidden) {
  const ChartFrame frame = Frame("same");
  const ChartValue a = Cell("Noord", "any_pct", 42.1, "42.1");
  const ChartValue b = Cell("Zuid", "any_pct", 7.5, "7.5");
  ChartValue reference_cell = hidden;
  reference_cell.row = "Almelo totaal";
  return {
      BarChartSvg(frame, {a, hidden, b}, std::nullopt),
      BarChartSvg(frame, {a, b}, ReferenceLine{hidden.value.value_or(0), "total", reference_cell}),
      PairedBarChartSvg(frame, {"2014", "2013"}, {{a, hidden}, {hidden, b}}, std::nullopt),
      StackedBarChartSvg(frame, {{"mpg_eur", {{hidden, "Gemeente"}, {a, "Gemeente"}, {b, "Uwv"}}},
                                 {"other_eur", {{a, "Uwv"}, {hidden, "Uwv"}}}}),
      UpSetChartSvg(frame, {"A: socio", "B: psycho"},
                    {{{0}, hidden, "A (at least)"}, {{0, 1}, a, "A + B (at least)"}}),
      RangeChartSvg(frame, a, {{"price", hidden, b}, {"hours", a, hidden}}),
      RangeChartSvg(frame, hidden, {{"price", a, b}}),
  };
}

TEST(SvgChart, ASuppressedCellsValueDoesNotChangeAByte) {
  ChartValue hidden{"Oost", "any_pct", std::nullopt, true, "*"};
  const std::vector<std::string> without = EveryKindWith(hidden);
  for (double leaked : {987654.0, -987654.0, 13579.24, 1.0, 0.0, 1e300, -1e300}) {
    hidden.value = leaked;
    hidden.text = "987654";
    const std::vector<std::string> with = EveryKindWith(hidden);
    ASSERT_EQ(with.size(), without.size());
    for (size_t i = 0; i < with.size(); ++i) EXPECT_EQ(with[i], without[i]) << i << " " << leaked;
  }
}

TEST(SvgChart, EveryPublishedValueIsOneMarkWithItsCellAndText) {
  const Charts charts = EveryKind();
  std::string all;
  size_t marks = 0;
  for (const auto& [kind, svg] : charts.svgs) {
    all += svg;
    marks += Count(svg, "<g class=\"mark");
  }
  EXPECT_EQ(marks, charts.published.size());
  for (const ChartValue& cell : charts.published) {
    EXPECT_EQ(Count(all, MarkAttributes(cell)), 1u) << cell.row << " " << cell.column;
  }
  // Value labels are the text as given, not reformatted.
  for (const char* label : {">42.1</text>", ">7.3</text>", ">1234.00</text>", ">-3.5</text>",
                            ">120</text>", ">0</text>", ">-2.50</text>"}) {
    EXPECT_TRUE(Contains(all, label)) << label;
  }
}

TEST(SvgChart, ChartsComputeNoFiguresButPositionsAndTicks) {
  // A stacked bar shows its segments, never their sum (1234 + 350.5 = 1584.5).
  const std::string svg = EveryKind().svgs[2].second;
  EXPECT_FALSE(Contains(svg, "1584")) << svg;
  EXPECT_FALSE(Contains(svg, "1464")) << svg;  // with the negative segment
}

TEST(SvgChart, AReferenceLineCarriesItsCellAndASuppressedOneIsNotDrawn) {
  const std::vector<ChartValue> bars = {Cell("Noord", "any_pct", 42.1, "42.1")};
  ReferenceLine total{30.2, "Almelo totaal 30.2%"};
  const std::string bare = BarChartSvg(Frame("ref"), bars, total);
  EXPECT_TRUE(Contains(bare, "<g class=\"reference\">")) << bare;
  EXPECT_TRUE(Contains(bare, "stroke-dasharray")) << bare;
  EXPECT_TRUE(Contains(bare, ">Almelo totaal 30.2%</text>")) << bare;
  total.cell = Cell("Almelo totaal", "any_pct", 30.2, "30.2");
  const std::string with_cell = BarChartSvg(Frame("ref"), bars, total);
  EXPECT_TRUE(Contains(with_cell, "<g class=\"reference\" " + MarkAttributes(total.cell) + ">"))
      << with_cell;
  const ReferenceLine hidden{987654, "Almelo totaal", Suppressed("Almelo totaal", "any_pct")};
  const std::string suppressed = BarChartSvg(Frame("ref"), bars, hidden);
  EXPECT_FALSE(Contains(suppressed, "class=\"reference\"")) << suppressed;
  EXPECT_FALSE(Contains(suppressed, "987654")) << suppressed;
  EXPECT_EQ(suppressed, BarChartSvg(Frame("ref"), bars, std::nullopt));
}

TEST(SvgChart, HostileLabelsAreEscaped) {
  const std::string hostile =
      "<script>alert(1)</script>\"quoted\" & 'single' \xff\xfe\x01 \xef\xbf\xbf";
  ChartFrame frame{"x\"><script>", hostile, hostile, hostile};
  const ChartValue cell = Cell(hostile, hostile, 5, hostile);
  const std::vector<std::string> svgs = {
      BarChartSvg(frame, {cell}, ReferenceLine{2, hostile}),
      PairedBarChartSvg(frame, {hostile, hostile}, {{cell, cell}}, ReferenceLine{2, hostile}),
      StackedBarChartSvg(frame,
                         {{hostile, {{cell, hostile}, {Suppressed(hostile, hostile), "g"}}}}),
      UpSetChartSvg(frame, {hostile, hostile}, {{{0, 1}, cell, hostile}}),
      RangeChartSvg(frame, cell, {{hostile, cell, cell}})};
  for (const std::string& svg : svgs) {
    EXPECT_FALSE(Contains(svg, "<script")) << svg;
    EXPECT_FALSE(Contains(svg, "\"quoted\"")) << svg;
    EXPECT_FALSE(Contains(svg, "'single'")) << svg;
    EXPECT_FALSE(Contains(svg, "\xff")) << svg;
    EXPECT_FALSE(Contains(svg, "\x01")) << svg;
    EXPECT_FALSE(Contains(svg, "\xef\xbf\xbf")) << svg;
    EXPECT_TRUE(Contains(svg,
                         "&lt;script&gt;alert(1)&lt;/script&gt;&quot;quoted&quot; &amp; "
                         "&#39;single&#39; \xef\xbf\xbd"))
        << svg;
    EXPECT_TRUE(Contains(svg, "aria-labelledby=\"x___script_-title x___script_-desc\"")) << svg;
  }
}

TEST(SvgChart, LongLabelsAreShortenedWithTheFullTextAsTitle) {
  const std::string name = "Almelo Noord-Oost met een heel erg lange wijknaam";
  const std::string svg =
      BarChartSvg(Frame("long"), {Cell(name, "any_pct", 3, "3.0")}, std::nullopt);
  EXPECT_TRUE(Contains(svg, "<title>" + name + "</title>Almelo Noord-Oost met e\u2026</text>"))
      << svg;
  // Shortening never splits a UTF-8 sequence.
  const std::string accented =
      "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
      "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
      "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9";
  const std::string short_svg =
      BarChartSvg(Frame("long"), {Cell(accented, "any_pct", 3, "3.0")}, std::nullopt);
  EXPECT_TRUE(Contains(short_svg, accented.substr(0, 23 * 2) + "\u2026</text>")) << short_svg;
}

TEST(SvgChart, EmptyInputDrawsANoDataNote) {
  const ChartFrame frame = Frame("empty");
  for (const std::string& svg :
       {BarChartSvg(frame, {}, std::nullopt), PairedBarChartSvg(frame, {}, {}, std::nullopt),
        StackedBarChartSvg(frame, {}), UpSetChartSvg(frame, {}, {}),
        RangeChartSvg(frame, ChartValue{}, {})}) {
    EXPECT_TRUE(Contains(svg, "No data to draw.")) << svg;
    EXPECT_TRUE(Contains(svg, "<desc id=\"empty-desc\">")) << svg;
  }
}

TEST(SvgChart, DegenerateInputStillDrawsAnAxis) {
  const ChartFrame frame = Frame("degenerate");
  const std::string zeros =
      BarChartSvg(frame, {Cell("a", "n", 0, "0"), Cell("b", "n", 0, "0")}, std::nullopt);
  EXPECT_EQ(Count(zeros, "<g class=\"mark\""), 2u);
  EXPECT_TRUE(Contains(zeros, ">1.0</text>")) << zeros;  // the axis runs 0 to 1
  const std::string single = BarChartSvg(frame, {Cell("a", "n", 7, "7")}, std::nullopt);
  EXPECT_EQ(Count(single, "<g class=\"mark\""), 1u);
  const std::string hidden = BarChartSvg(frame, {Suppressed("a", "n"), Suppressed("b", "n")},
                                         ReferenceLine{std::nan(""), "total"});
  EXPECT_EQ(Count(hidden, "class=\"suppressed-mark\""), 2u);
  EXPECT_EQ(Count(hidden, "<g class=\"mark\""), 0u);
  EXPECT_FALSE(Contains(hidden, "class=\"reference\""));
  const std::string not_finite =
      BarChartSvg(frame,
                  {Cell("a", "n", std::numeric_limits<double>::quiet_NaN(), ""),
                   Cell("b", "n", std::numeric_limits<double>::infinity(), ""),
                   ChartValue{"c", "n", std::nullopt, false, ""}, Cell("d", "n", 1e308, "1e308")},
                  std::nullopt);
  EXPECT_EQ(Count(not_finite, "class=\"not-drawn\""), 3u);
  EXPECT_EQ(Count(not_finite, "<g class=\"mark\""), 1u);
  EXPECT_FALSE(Contains(not_finite, "nan")) << not_finite;
  EXPECT_FALSE(Contains(not_finite, "inf")) << not_finite;
  for (double tiny : {std::numeric_limits<double>::denorm_min(), 1e-300, -1e-310}) {
    const std::string svg = BarChartSvg(frame, {Cell("a", "n", tiny, "tiny")}, std::nullopt);
    EXPECT_EQ(Count(svg, "<g class=\"mark\""), 1u);
    EXPECT_FALSE(Contains(svg, "nan")) << svg;
    EXPECT_FALSE(Contains(svg, "inf")) << svg;
  }
}

// The x of a mark's rect and its width, by the mark's cell.
std::pair<double, double> BarOf(const std::string& svg, const ChartValue& cell) {
  const size_t at = svg.find(MarkAttributes(cell));
  EXPECT_NE(at, std::string::npos);
  std::smatch match;
  const std::string rest = svg.substr(at);
  EXPECT_TRUE(std::regex_search(rest, match,
                                std::regex("<rect x=\"([-0-9.]+)\" y=\"[-0-9.]+\" "
                                           "width=\"([-0-9.]+)\"")));
  return {std::stod(match[1]), std::stod(match[2])};
}

TEST(SvgChart, NegativeValuesGoLeftOfZero) {
  const ChartValue negative = Cell("a", "n", -50, "-50");
  const ChartValue positive = Cell("b", "n", 100, "100");
  const std::string svg = BarChartSvg(Frame("neg"), {negative, positive}, std::nullopt);
  const auto [negative_x, negative_width] = BarOf(svg, negative);
  const auto [positive_x, positive_width] = BarOf(svg, positive);
  EXPECT_NEAR(negative_x + negative_width, positive_x, 0.11);
  EXPECT_NEAR(positive_width, 2 * negative_width, 0.2);
  EXPECT_TRUE(Contains(svg, ">-50</text>")) << svg;
  EXPECT_TRUE(Contains(svg, "text-anchor=\"end\" fill=\"#1a1a1a\">-50</text>")) << svg;
}

TEST(SvgChart, TicksAreNiceNumbers) {
  const std::string shares =
      BarChartSvg(Frame("t"), {Cell("a", "p", 42.1, "42.1")}, ReferenceLine{30.2, "total"});
  for (const char* tick : {">0</text>", ">10</text>", ">20</text>", ">50</text>"}) {
    EXPECT_TRUE(Contains(shares, tick)) << tick;
  }
  EXPECT_FALSE(Contains(shares, ">60</text>"));
  const std::string euros =
      BarChartSvg(Frame("t"), {Cell("a", "e", 1234567.0, "1234567.00")}, std::nullopt);
  EXPECT_TRUE(Contains(euros, ">0.5M</text>")) << euros;
  EXPECT_TRUE(Contains(euros, ">1.5M</text>")) << euros;
  const std::string small = BarChartSvg(Frame("t"), {Cell("a", "e", 0.17, "0.17")}, std::nullopt);
  EXPECT_TRUE(Contains(small, ">0.05</text>")) << small;
  EXPECT_TRUE(Contains(small, ">0.20</text>")) << small;
}

TEST(SvgChart, ARangeChartsAxisSpansTheValuesNotZero) {
  // Means around 4000 EUR: an axis from zero would squeeze every range into a sliver.
  const ChartValue base = Cell("price", "base_mean_eur", 4000, "4000.00");
  const std::vector<Range> ranges = {
      {"price", Cell("price", "low", 3800, "3800.00"), Cell("price", "high", 4300, "4300.00")},
      {"hours", Cell("hours", "low", 3950, "3950.00"), Cell("hours", "high", 4050, "4050.00")}};
  const std::string svg = RangeChartSvg(Frame("range"), base, ranges);
  EXPECT_FALSE(Contains(svg, ">0</text>")) << svg;
  EXPECT_TRUE(Contains(svg, ">4000</text>") || Contains(svg, ">4.0k</text>")) << svg;
  // The widest range fills most of the plot, the base lies inside it, and each end's mark sits
  // where its bar ends.
  std::smatch bar;
  ASSERT_TRUE(std::regex_search(svg, bar,
                                std::regex("<rect class=\"range-bar\" x=\"([-0-9.]+)\" "
                                           "y=\"[-0-9.]+\" width=\"([-0-9.]+)\"")));
  const double from = std::stod(bar[1]);
  const double width = std::stod(bar[2]);
  EXPECT_GT(width, 250) << svg;
  const auto [low_x, low_width] = BarOf(svg, ranges[0].low);
  const auto [high_x, high_width] = BarOf(svg, ranges[0].high);
  EXPECT_NEAR(low_x + low_width / 2, from, 0.11);
  EXPECT_NEAR(high_x + high_width / 2, from + width, 0.11);
  std::smatch base_line;
  ASSERT_TRUE(std::regex_search(svg, base_line,
                                std::regex("<g class=\"mark base\"[^>]*>.*?"
                                           "<line x1=\"([-0-9.]+)\"")));
  EXPECT_GT(std::stod(base_line[1]), from);
  EXPECT_LT(std::stod(base_line[1]), from + width);
}

TEST(SvgChart, OutputIsDeterministic) {
  const Charts first = EveryKind();
  const Charts second = EveryKind();
  ASSERT_EQ(first.svgs.size(), second.svgs.size());
  for (size_t i = 0; i < first.svgs.size(); ++i) EXPECT_EQ(first.svgs[i], second.svgs[i]);
}

TEST(SvgChart, HeightGrowsWithTheCategories) {
  std::vector<ChartValue> few(2, Cell("a", "n", 1, "1"));
  std::vector<ChartValue> many(20, Cell("a", "n", 1, "1"));
  const std::regex height("height=\"([0-9]+)\"");
  std::smatch a;
  std::smatch b;
  const std::string few_svg = BarChartSvg(Frame("h"), few, std::nullopt);
  const std::string many_svg = BarChartSvg(Frame("h"), many, std::nullopt);
  ASSERT_TRUE(std::regex_search(few_svg, a, height));
  ASSERT_TRUE(std::regex_search(many_svg, b, height));
  EXPECT_GT(std::stoi(b[1]), std::stoi(a[1]) + 18 * 24 - 1);
}

// python3's XML parser accepts every chart, hostile and empty ones included.
TEST(SvgChartXml, EveryChartParsesAsXml) {
  test::TempDir dir;
  std::vector<std::string> argv = {test::kSystemPython, "-c",
                                   "import sys, xml.etree.ElementTree as E\n"
                                   "for p in sys.argv[1:]:\n"
                                   "    root = E.parse(p).getroot()\n"
                                   "    assert root.tag == '{http://www.w3.org/2000/svg}svg', p\n"
                                   "print('parsed', len(sys.argv) - 1)\n"};
  std::vector<std::string> svgs;
  for (const auto& [kind, svg] : EveryKind().svgs) svgs.push_back(svg);
  const std::string hostile = "<b>&amp; \"q\" 'a' \xff\xc3 \x1b \xef\xbf\xbe end";
  const ChartValue cell = Cell(hostile, hostile, -5, hostile);
  const ChartFrame frame{hostile, hostile, hostile, hostile};
  svgs.push_back(
      BarChartSvg(frame, {cell, Suppressed(hostile, hostile)}, ReferenceLine{1, hostile}));
  svgs.push_back(PairedBarChartSvg(frame, {hostile}, {{cell, cell}}, std::nullopt));
  svgs.push_back(StackedBarChartSvg(frame, {{hostile, {{cell, hostile}}}}));
  svgs.push_back(UpSetChartSvg(frame, {hostile}, {{{0}, cell, hostile}}));
  svgs.push_back(RangeChartSvg(frame, Suppressed(hostile, hostile), {{hostile, cell, cell}}));
  svgs.push_back(BarChartSvg(frame, {}, std::nullopt));
  for (size_t i = 0; i < svgs.size(); ++i) {
    const auto path = dir / ("chart" + std::to_string(i) + ".svg");
    test::WriteFile(path, svgs[i]);
    argv.push_back(path.string());
  }
  const test::ProcessResult result = test::RunProcess(argv);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "parsed " + std::to_string(svgs.size()) + "\n") << result.err;
}

}  // namespace
}  // namespace koppel
