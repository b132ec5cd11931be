#include "cli/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <string_view>

#include "cli/html_document.h"
#include "cli/release_writer.h"

namespace koppel {
namespace {

// Geometry in SVG user units (px at 100%). The width is fixed; the height follows the rows.
constexpr double kWidth = 720;
constexpr double kMargin = 8;
constexpr double kCharWidth = 6.4;   // average advance of DejaVu Sans at 11 px, for layout only
constexpr double kLabelRight = 170;  // category labels end here (text-anchor end)
constexpr double kMarkSlotX = 176;   // suppressed marks: a fixed slot left of the plot
constexpr double kMarkSlotWidth = 22;
constexpr double kMarkBox = 10;
constexpr double kPlotStart = 222;
constexpr double kLegendLine = 18;
constexpr size_t kLabelChars = 24;

constexpr std::string_view kFontFamily = "DejaVu Sans, Liberation Sans, Arial, sans-serif";
constexpr std::string_view kTextColour = "#1a1a1a";
constexpr std::string_view kGridColour = "#d9d9d9";

// Okabe-Ito without black: distinguishable with the common colour-vision deficiencies. A group
// also gets a texture (solid, stripes, dots, lines), so no meaning rests on colour alone.
constexpr std::array<std::string_view, 7> kPalette = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                                      "#56B4E9", "#D55E00", "#F0E442"};
constexpr size_t kTextures = 4;

// A coordinate with one decimal; never "-0.0".
std::string Num(double v) {
  std::string s = fmt::format("{:.1f}", v);
  if (s == "-0.0") s = "0.0";
  return s;
}

double TextWidth(std::string_view text) {
  return static_cast<double>(DisplayWidth(text)) * kCharWidth;
}

// The first `max_chars` characters of `text` plus an ellipsis, or `text` when it fits.
std::string Shorten(std::string_view text, size_t max_chars) {
  if (DisplayWidth(text) <= max_chars) return std::string(text);
  size_t kept = 0;
  size_t end = 0;
  for (; end < text.size(); ++end) {
    if ((static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) continue;
    if (kept == max_chars - 1) break;
    ++kept;
  }
  return std::string(text.substr(0, end)) + "\u2026";
}

// A label, shortened on screen when long; the full text is then its <title>.
std::string Label(double x, double y, std::string_view anchor, std::string_view text,
                  size_t max_chars, std::string_view css_class, std::string_view extra = {}) {
  const std::string shown = Shorten(text, max_chars);
  std::string out = fmt::format("<text class=\"{}\" x=\"{}\" y=\"{}\" text-anchor=\"{}\"{}>",
                                css_class, Num(x), Num(y), anchor, extra);
  if (shown.size() != text.size()) out += "<title>" + HtmlEscape(text) + "</title>";
  out += HtmlEscape(shown) + "</text>\n";
  return out;
}

// The value a chart may draw: none for a suppressed cell (whatever it carries), a cell without
// a value, NaN or infinity.
std::optional<double> Drawable(const ChartValue& cell) {
  if (cell.suppressed || !cell.value.has_value() || !std::isfinite(*cell.value)) {
    return std::nullopt;
  }
  return cell.value;
}

std::string CellAttributes(const ChartValue& cell) {
  return HtmlAttribute("data-row", cell.row) + HtmlAttribute("data-col", cell.column);
}

std::string CellTitle(const ChartValue& cell, std::string_view what) {
  std::string title = cell.row;
  if (!cell.column.empty()) title += " \u00b7 " + cell.column;
  title += ": ";
  title += what;
  return "<title>" + HtmlEscape(title) + "</title>";
}

// The value axis: a domain with "nice" ticks (1, 2 or 5 times a power of ten) that starts at or
// below zero and ends at or above it, unless zero need not be in it.
class Axis {
 public:
  Axis(double min_value, double max_value, bool include_zero = true) {
    double lo = include_zero ? std::min(0.0, min_value) : min_value;
    double hi = include_zero ? std::max(0.0, max_value) : max_value;
    if (!(hi > lo)) hi = lo + 1;
    const double step = std::max(std::fabs(lo), std::fabs(hi)) > 1e300
                            ? 0  // no room to round outwards
                            : NiceStep((hi - lo) / 5);
    if (!(std::isfinite(step) && step > 0 && (hi - lo) / step < 100)) {  // also denormals
      lo_ = lo;
      hi_ = hi;
      ticks_ = {lo, hi};
      if (lo < 0 && hi > 0) ticks_.insert(ticks_.begin() + 1, 0.0);
      step_ = hi / 2 - lo / 2;
      return;
    }
    step_ = step;
    const double first = std::floor(lo / step_ + 1e-9);
    const double last = std::ceil(hi / step_ - 1e-9);
    lo_ = first * step_;
    hi_ = last * step_;
    const auto count = static_cast<int>(last - first);
    for (int i = 0; i <= count; ++i) {
      double tick = (first + i) * step_;
      if (std::fabs(tick) < step_ * 1e-9) tick = 0;
      ticks_.push_back(tick);
    }
  }

  const std::vector<double>& ticks() const { return ticks_; }
  // `v` moved into the domain: where the zero line goes when zero is outside it.
  double Clamp(double v) const { return std::clamp(v, lo_, hi_); }

  // Where `v` lies between lo (0) and hi (1); halves keep huge domains finite.
  double Fraction(double v) const {
    const double f = (v / 2 - lo_ / 2) / (hi_ / 2 - lo_ / 2);
    return std::isnan(f) ? 0 : std::clamp(f, 0.0, 1.0);
  }

  // A tick's label: k, M or bn for large numbers, as many decimals as the step needs.
  std::string TickLabel(double tick) const {
    const double largest = std::max(std::fabs(lo_), std::fabs(hi_));
    double scale = 1;
    std::string_view suffix;
    if (largest >= 1e9) {
      scale = 1e9;
      suffix = "bn";
    } else if (largest >= 1e6) {
      scale = 1e6;
      suffix = "M";
    } else if (largest >= 1e4) {
      scale = 1e3;
      suffix = "k";
    }
    const double scaled_step = step_ / scale;
    int decimals = 0;
    if (scaled_step < 1) {
      const double wanted = std::ceil(-std::log10(scaled_step) - 1e-9);  // inf when 0
      decimals = static_cast<int>(std::clamp(std::isnan(wanted) ? 0.0 : wanted, 0.0, 6.0));
    }
    if (tick == 0) return "0";
    return fmt::format("{:.{}f}{}", tick / scale, decimals, suffix);
  }

 private:
  static double NiceStep(double raw) {
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double normalized = raw / magnitude;
    const double nice = normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 5 ? 5 : 10;
    return nice * magnitude;
  }

  double lo_ = 0;
  double hi_ = 1;
  double step_ = 1;
  std::vector<double> ticks_;
};

// The rectangle the values are drawn in, and its axis.
struct Plot {
  Axis axis;
  double left = kPlotStart;
  double right = kWidth - kMargin;
  double top = kMargin;
  double bottom = kMargin;

  double X(double v) const { return left + axis.Fraction(v) * (right - left); }
};

// Collects what sets a chart's scale: the drawable values and the room their labels need on
// either side of the bars.
class Extent {
 public:
  // Bars start at zero, so their axis includes it; a range chart's axis spans its values only.
  explicit Extent(bool include_zero = true)
      : include_zero_(include_zero),
        min_(include_zero ? 0 : std::numeric_limits<double>::infinity()),
        max_(include_zero ? 0 : -std::numeric_limits<double>::infinity()) {}

  void Add(double v) {
    if (std::isnan(v)) return;
    v = std::clamp(v, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  // A value whose label is drawn beyond the bar's end.
  void AddLabelled(double v, std::string_view text) {
    Add(v);
    const double room = TextWidth(text) + 6;
    (v < 0 ? left_room_ : right_room_) = std::max(v < 0 ? left_room_ : right_room_, room);
  }
  void AddRoomBothSides(std::string_view text) {
    const double room = TextWidth(text) + 6;
    left_room_ = std::max(left_room_, room);
    right_room_ = std::max(right_room_, room);
  }

  Plot MakePlot(double top, double height) const {
    Plot plot{min_ <= max_ ? Axis(min_, max_, include_zero_) : Axis(0, 0)};
    plot.left = kPlotStart + std::min(left_room_, 160.0);
    plot.right = kWidth - kMargin - std::min(std::max(right_room_, 12.0), 160.0);
    plot.top = top;
    plot.bottom = top + height;
    return plot;
  }

 private:
  bool include_zero_;
  double min_;
  double max_;
  double left_room_ = 0;
  double right_room_ = 0;
};

// One legend entry: a 12x12 swatch drawn at the origin, and its text.
struct LegendItem {
  std::string swatch;
  std::string text;
};

// Assembles one chart: the root element with its text alternative, the fills it uses, the body
// and the legend.
class ChartWriter {
 public:
  ChartWriter(const ChartFrame& frame, std::string_view kind) : frame_(frame), kind_(kind) {
    for (char c : frame.id) {
      const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
      id_ += safe ? c : '_';
    }
    if (id_.empty()) id_ = "chart";
  }

  std::string& body() { return body_; }

  // The fill of group `index`: a palette colour with one of the textures (the first is solid).
  std::string Fill(size_t index) {
    const std::string_view colour = kPalette[index % kPalette.size()];
    const size_t texture = index % kTextures;
    if (texture == 0) return std::string(colour);
    const std::string pattern_id = fmt::format("{}-fill{}", id_, index);
    if (patterns_.count(index) == 0) {
      std::string pattern = fmt::format(
          "<pattern id=\"{}\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\"{}>"
          "<rect width=\"6\" height=\"6\" fill=\"{}\"/>",
          pattern_id, texture == 1 ? " patternTransform=\"rotate(45)\"" : "", colour);
      if (texture == 1) {
        pattern += "<rect width=\"2\" height=\"6\" fill=\"#fff\" fill-opacity=\"0.6\"/>";
      } else if (texture == 2) {
        pattern += "<circle cx=\"3\" cy=\"3\" r=\"1.4\" fill=\"#fff\" fill-opacity=\"0.7\"/>";
      } else {
        pattern += "<rect width=\"6\" height=\"2\" fill=\"#fff\" fill-opacity=\"0.6\"/>";
      }
      patterns_[index] = pattern + "</pattern>";
    }
    return "url(#" + pattern_id + ")";
  }

  // A suppressed cell: a hatched box and "*" at (x, centre_y); its place and size depend on no
  // value, and it carries none.
  void SuppressedMark(const ChartValue& cell, double x, double centre_y) {
    body_ += fmt::format(
        "<g class=\"suppressed-mark\"{} data-suppressed=\"true\">{}"
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"url(#{}-hatch)\" "
        "stroke=\"#555\" stroke-width=\"0.8\"/>"
        "<text x=\"{}\" y=\"{}\" font-weight=\"bold\" fill=\"{}\">*</text></g>\n",
        CellAttributes(cell), CellTitle(cell, "suppressed (not drawn)"), Num(x),
        Num(centre_y - kMarkBox / 2), Num(kMarkBox), Num(kMarkBox), id_, Num(x + kMarkBox + 2),
        Num(centre_y + 4), kTextColour);
    any_suppressed_ = true;
  }

  // A cell with nothing to draw (not applicable, NaN): a grey "n/a" that claims no cell.
  void NotDrawn(const ChartValue& cell, double x, double centre_y) {
    body_ +=
        fmt::format("<text class=\"not-drawn\" x=\"{}\" y=\"{}\" fill=\"#6b6b6b\">{}n/a</text>\n",
                    Num(x), Num(centre_y + 4), CellTitle(cell, "not applicable"));
  }

  // Draws `cell` as a bar from zero in the band [y, y + height], its label past the bar's end;
  // a suppressed cell as its mark in the slot left of the plot.
  void Bar(const Plot& plot, const ChartValue& cell, double y, double height,
           std::string_view fill) {
    const double centre = y + height / 2;
    if (cell.suppressed) {
      SuppressedMark(cell, kMarkSlotX, centre);
      return;
    }
    const std::optional<double> value = Drawable(cell);
    if (!value) {
      NotDrawn(cell, plot.X(0) + 4, centre);
      return;
    }
    const double zero = plot.X(0);
    const double end = plot.X(*value);
    const bool negative = *value < 0;
    body_ += fmt::format(
        "<g class=\"mark\"{}{}>{}<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>"
        "<text class=\"value\" x=\"{}\" y=\"{}\" text-anchor=\"{}\" fill=\"{}\">{}</text></g>\n",
        CellAttributes(cell), HtmlAttribute("data-value", cell.text), CellTitle(cell, cell.text),
        Num(std::min(zero, end)), Num(y), Num(std::fabs(end - zero)), Num(height), fill,
        Num(negative ? end - 4 : end + 4), Num(centre + 4), negative ? "end" : "start", kTextColour,
        HtmlEscape(cell.text));
  }

  // Grid lines, tick labels, the zero line and the unit, under the marks.
  void AxisGrid(const Plot& plot) {
    body_ += "<g class=\"axis\">\n";
    for (double tick : plot.axis.ticks()) {
      const double x = plot.X(tick);
      body_ += fmt::format(
          "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"1\"/>"
          "<text x=\"{0}\" y=\"{4}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#444\">{5}"
          "</text>\n",
          Num(x), Num(plot.top), Num(plot.bottom + 3), kGridColour, Num(plot.bottom + 14),
          HtmlEscape(plot.axis.TickLabel(tick)));
    }
    body_ += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#777\"/>"
        "<line x1=\"{3}\" y1=\"{4}\" x2=\"{3}\" y2=\"{1}\" stroke=\"#555\" "
        "stroke-width=\"1.2\"/>\n",
        Num(plot.left), Num(plot.bottom), Num(plot.right), Num(plot.X(plot.axis.Clamp(0))),
        Num(plot.top));
    if (!frame_.unit.empty()) {
      body_ += Label(plot.right, plot.bottom + 28, "end", frame_.unit, 20, "unit",
                     " font-size=\"10\" fill=\"#444\"");
    }
    body_ += "</g>\n";
  }

  // Below the axis: where the legend may start.
  double AxisBottom(const Plot& plot) const {
    return plot.bottom + (frame_.unit.empty() ? 20 : 34);
  }

  // A dashed line across the plot at the reference value, with its label above the plot.
  void Reference(const Plot& plot, const std::optional<ReferenceLine>& reference) {
    if (!Drawn(reference)) return;
    const double x = plot.X(reference->value);
    const double half = std::min(TextWidth(Shorten(reference->label, 40)) / 2, 260.0);
    const double label_x = std::clamp(x, kMargin + half, kWidth - kMargin - half);
    const ChartValue& cell = reference->cell;
    body_ += "<g class=\"reference\"";
    if (!cell.row.empty()) body_ += CellAttributes(cell) + HtmlAttribute("data-value", cell.text);
    body_ += ">";
    body_ += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#000\" stroke-width=\"1.5\" "
        "stroke-dasharray=\"5 3\"/>",
        Num(x), Num(plot.top - 4), Num(plot.bottom));
    body_ += Label(label_x, plot.top - 7, "middle", reference->label, 40, "reference-label",
                   " font-size=\"10\"");
    body_ += "</g>\n";
    AddLegend(ReferenceSwatch(), reference->label);
  }

  // Whether a reference line is drawn: a finite value, not a suppressed cell's.
  static bool Drawn(const std::optional<ReferenceLine>& reference) {
    return reference && std::isfinite(reference->value) && !reference->cell.suppressed;
  }

  static std::string ReferenceSwatch() {
    return "<line x1=\"0\" y1=\"6\" x2=\"12\" y2=\"6\" stroke=\"#000\" stroke-width=\"1.5\" "
           "stroke-dasharray=\"4 2\"/>";
  }

  static std::string FillSwatch(std::string_view fill) {
    return fmt::format(
        "<rect width=\"12\" height=\"12\" fill=\"{}\" stroke=\"#555\" "
        "stroke-width=\"0.5\"/>",
        fill);
  }

  void AddLegend(std::string swatch, std::string text) {
    legend_.push_back({std::move(swatch), std::move(text)});
  }

  // The whole SVG; `content_bottom` is where the legend starts.
  std::string Finish(double content_bottom) {
    if (any_suppressed_) {
      AddLegend(fmt::format("<rect width=\"12\" height=\"12\" fill=\"url(#{}-hatch)\" "
                            "stroke=\"#555\" stroke-width=\"0.8\"/>",
                            id_),
                "* suppressed (not drawn)");
    }
    std::string legend;
    double x = kMargin;
    double y = content_bottom + 6;
    if (!legend_.empty()) legend += "<g class=\"chart-legend\" font-size=\"10\">\n";
    for (const LegendItem& item : legend_) {
      const std::string shown = Shorten(item.text, 60);
      const double width = 12 + 5 + TextWidth(shown) + 18;
      if (x > kMargin && x + width > kWidth - kMargin) {
        x = kMargin;
        y += kLegendLine;
      }
      legend += fmt::format("<g transform=\"translate({},{})\">{}", Num(x), Num(y), item.swatch);
      legend += Label(17, 10, "start", item.text, 60, "legend-text");
      legend += "</g>\n";
      x += width;
    }
    if (!legend_.empty()) {
      legend += "</g>\n";
      y += kLegendLine;
    }
    return Assemble(body_ + legend, std::ceil(y + kMargin));
  }

  // A chart without categories: the frame and a note.
  std::string NoData() {
    body_ = fmt::format(
        "<text class=\"no-data\" x=\"{}\" y=\"28\" fill=\"#444\">No data to "
        "draw.</text>\n",
        Num(kMargin));
    return Assemble(body_, 44);
  }

 private:
  std::string Assemble(const std::string& content, double height) const {
    const std::string h = fmt::format("{:.0f}", height);
    std::string svg = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"{0}-title "
        "{0}-desc\" viewBox=\"0 0 {1:.0f} {2}\" width=\"{1:.0f}\" height=\"{2}\" "
        "class=\"chart-svg\" data-chart=\"{3}\" font-family=\"{4}\" font-size=\"11\" "
        "fill=\"{5}\">\n",
        id_, kWidth, h, kind_, kFontFamily, kTextColour);
    svg += fmt::format("<title id=\"{}-title\">{}</title>\n", id_, HtmlEscape(frame_.title));
    svg += fmt::format("<desc id=\"{}-desc\">{}</desc>\n", id_,
                       HtmlEscape(frame_.description.empty() ? frame_.title : frame_.description));
    svg += fmt::format(
        "<defs><pattern id=\"{}-hatch\" patternUnits=\"userSpaceOnUse\" width=\"4\" height=\"4\" "
        "patternTransform=\"rotate(45)\"><rect width=\"4\" height=\"4\" fill=\"#fff\"/>"
        "<rect width=\"1.5\" height=\"4\" fill=\"#666\"/></pattern>",
        id_);
    for (const auto& [index, pattern] : patterns_) svg += pattern;
    svg += "</defs>\n";
    svg += content;
    svg += "</svg>\n";
    return svg;
  }

  const ChartFrame& frame_;
  std::string kind_;
  std::string id_;
  std::string body_;
  std::map<size_t, std::string> patterns_;
  std::vector<LegendItem> legend_;
  bool any_suppressed_ = false;
};

std::string CategoryLabel(double centre_y, std::string_view text) {
  return Label(kLabelRight, centre_y + 4, "end", text, kLabelChars, "category");
}

constexpr double kBarRow = 24;
constexpr double kBarHeight = 16;

}  // namespace

std::string BarChartSvg(const ChartFrame& frame, const std::vector<ChartValue>& bars,
                        const std::optional<ReferenceLine>& reference) {
  ChartWriter chart(frame, "bar");
  if (bars.empty()) return chart.NoData();
  Extent extent;
  for (const ChartValue& bar : bars) {
    if (const auto value = Drawable(bar)) extent.AddLabelled(*value, bar.text);
  }
  const bool has_reference = ChartWriter::Drawn(reference);
  if (has_reference) extent.Add(reference->value);
  const double top = kMargin + (has_reference ? 16 : 0);
  const Plot plot = extent.MakePlot(top, static_cast<double>(bars.size()) * kBarRow);
  chart.AxisGrid(plot);
  const std::string fill = chart.Fill(0);
  for (size_t i = 0; i < bars.size(); ++i) {
    const double y = plot.top + static_cast<double>(i) * kBarRow;
    chart.body() += CategoryLabel(y + kBarRow / 2, bars[i].row);
    chart.Bar(plot, bars[i], y + (kBarRow - kBarHeight) / 2, kBarHeight, fill);
  }
  chart.Reference(plot, reference);
  return chart.Finish(chart.AxisBottom(plot));
}

std::string PairedBarChartSvg(const ChartFrame& frame, const std::vector<std::string>& series,
                              const std::vector<std::pair<ChartValue, ChartValue>>& pairs,
                              const std::optional<ReferenceLine>& reference) {
  ChartWriter chart(frame, "paired-bar");
  if (pairs.empty()) return chart.NoData();
  constexpr double kBar = 13;
  constexpr double kGroup = 2 * kBar + 2 + 10;
  Extent extent;
  for (const auto& [first, second] : pairs) {
    if (const auto value = Drawable(first)) extent.AddLabelled(*value, first.text);
    if (const auto value = Drawable(second)) extent.AddLabelled(*value, second.text);
  }
  const bool has_reference = ChartWriter::Drawn(reference);
  if (has_reference) extent.Add(reference->value);
  const double top = kMargin + (has_reference ? 16 : 0);
  const Plot plot = extent.MakePlot(top, static_cast<double>(pairs.size()) * kGroup);
  chart.AxisGrid(plot);
  const std::array<std::string, 2> fills = {chart.Fill(0), chart.Fill(1)};
  for (size_t i = 0; i < pairs.size(); ++i) {
    const double y = plot.top + static_cast<double>(i) * kGroup + 5;
    chart.body() += CategoryLabel(y + kBar + 1, pairs[i].first.row);
    chart.Bar(plot, pairs[i].first, y, kBar, fills[0]);
    chart.Bar(plot, pairs[i].second, y + kBar + 2, kBar, fills[1]);
  }
  chart.Reference(plot, reference);
  for (size_t s = 0; s < 2; ++s) {
    std::string name = s < series.size() ? series[s] : "";
    if (name.empty()) name = s == 0 ? pairs[0].first.column : pairs[0].second.column;
    chart.AddLegend(chart.FillSwatch(fills[s]), name + (s == 0 ? " (upper bar)" : " (lower bar)"));
  }
  return chart.Finish(chart.AxisBottom(plot));
}

std::string StackedBarChartSvg(const ChartFrame& frame, const std::vector<StackedBar>& bars) {
  ChartWriter chart(frame, "stacked-bar");
  if (bars.empty()) return chart.NoData();
  constexpr double kBar = 18;
  constexpr double kRow = 28;
  constexpr double kSuppressedLine = 16;
  constexpr double kSuppressedSlot = 160;
  constexpr size_t kSuppressedLabelChars = 22;  // 10 px type in the slot after the mark
  const auto slots_per_line =
      static_cast<size_t>((kWidth - kMargin - kMarkSlotX) / kSuppressedSlot);

  // Groups in order of first appearance; the stacked extent of every bar; the rows needed.
  std::vector<std::string> groups;
  Extent extent;
  std::vector<double> row_top;
  double y = kMargin;
  for (const StackedBar& bar : bars) {
    double positive = 0;
    double negative = 0;
    size_t suppressed = 0;
    for (const StackSegment& segment : bar.segments) {
      if (std::find(groups.begin(), groups.end(), segment.group) == groups.end()) {
        groups.push_back(segment.group);
      }
      if (segment.value.suppressed) ++suppressed;
      const auto value = Drawable(segment.value);
      if (!value) continue;
      (*value < 0 ? negative : positive) += *value;
    }
    extent.Add(positive);
    extent.Add(negative);
    row_top.push_back(y);
    const size_t lines = (suppressed + slots_per_line - 1) / slots_per_line;
    y += kRow + static_cast<double>(lines) * kSuppressedLine;
  }
  const Plot plot = extent.MakePlot(kMargin, y - kMargin);
  chart.AxisGrid(plot);
  auto group_index = [&groups](const std::string& group) {
    return static_cast<size_t>(std::find(groups.begin(), groups.end(), group) - groups.begin());
  };
  for (size_t b = 0; b < bars.size(); ++b) {
    const StackedBar& bar = bars[b];
    const double bar_y = row_top[b] + (kRow - kBar) / 2;
    chart.body() += CategoryLabel(row_top[b] + kRow / 2, bar.label);
    double positive = 0;
    double negative = 0;
    size_t suppressed = 0;
    for (const StackSegment& segment : bar.segments) {
      const ChartValue& cell = segment.value;
      if (cell.suppressed) {
        // Listed under the bar in a fixed slot, never stacked.
        const double slot_x =
            kMarkSlotX + static_cast<double>(suppressed % slots_per_line) * kSuppressedSlot;
        const double line_y =
            row_top[b] + kRow + static_cast<double>(suppressed / slots_per_line) * kSuppressedLine;
        chart.SuppressedMark(cell, slot_x, line_y + kSuppressedLine / 2 - 2);
        // The row alone, which fits the slot whole; the caller's caption names its group.
        chart.body() +=
            Label(slot_x + kMarkBox + 12, line_y + kSuppressedLine / 2 + 2, "start", cell.row,
                  kSuppressedLabelChars, "suppressed-label", " font-size=\"10\"");
        ++suppressed;
        continue;
      }
      const auto value = Drawable(cell);
      if (!value) continue;
      double& stack = *value < 0 ? negative : positive;
      const double from = plot.X(stack);
      stack += *value;
      const double to = plot.X(stack);
      const double x = std::min(from, to);
      const double width = std::fabs(to - from);
      std::string what = cell.text;
      if (!segment.group.empty() && segment.group != cell.row) {
        what = segment.group + ": " + cell.text;
      }
      std::string mark = fmt::format(
          "<g class=\"mark\"{}{}>{}<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" "
          "stroke=\"#fff\" stroke-width=\"0.75\"/>",
          CellAttributes(cell), HtmlAttribute("data-value", cell.text), CellTitle(cell, what),
          Num(x), Num(bar_y), Num(width), Num(kBar), chart.Fill(group_index(segment.group)));
      if (width >= TextWidth(cell.text) + 8) {
        // On a white plate: readable on every fill and texture.
        const double plate = TextWidth(cell.text) * 10 / 11 + 4;
        mark += fmt::format(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"12\" rx=\"2\" fill=\"#fff\" "
            "fill-opacity=\"0.9\"/><text class=\"value\" x=\"{}\" y=\"{}\" "
            "text-anchor=\"middle\" font-size=\"10\" fill=\"{}\">{}</text>",
            Num(x + (width - plate) / 2), Num(bar_y + kBar / 2 - 6), Num(plate), Num(x + width / 2),
            Num(bar_y + kBar / 2 + 3.5), kTextColour, HtmlEscape(cell.text));
      }
      chart.body() += mark + "</g>\n";
    }
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    chart.AddLegend(chart.FillSwatch(chart.Fill(g)), groups[g].empty() ? "(no group)" : groups[g]);
  }
  return chart.Finish(chart.AxisBottom(plot));
}

std::string UpSetChartSvg(const ChartFrame& frame, const std::vector<std::string>& set_names,
                          const std::vector<SetIntersection>& intersections) {
  ChartWriter chart(frame, "upset");
  if (intersections.empty()) return chart.NoData();
  constexpr double kRow = 22;
  constexpr double kBar = 14;
  constexpr double kLabelEnd = 196;
  constexpr double kMatrixStart = kLabelEnd + 10;
  const double column =
      set_names.empty() ? 20 : std::clamp(240.0 / static_cast<double>(set_names.size()), 8.0, 24.0);
  const double matrix_end = kMatrixStart + column * static_cast<double>(set_names.size());
  constexpr size_t kSetNameChars = 20;

  // Set names stand rotated above their columns; the header is as tall as the longest needs.
  double header = 12;
  for (const std::string& name : set_names) {
    header = std::max(header, TextWidth(Shorten(name, kSetNameChars)) * 0.71 + 12);
  }

  Extent extent;
  for (const SetIntersection& intersection : intersections) {
    if (const auto value = Drawable(intersection.value)) {
      extent.AddLabelled(*value, intersection.value.text);
    }
  }
  Plot plot = extent.MakePlot(kMargin + header, static_cast<double>(intersections.size()) * kRow);
  const double shift = matrix_end + 16 - kPlotStart;  // the plot starts after the matrix
  plot.left = std::min(plot.left + shift, plot.right - 120);

  for (size_t i = 0; i < intersections.size(); ++i) {
    if (i % 2 == 1) {
      chart.body() += fmt::format(
          "<rect class=\"stripe\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" "
          "fill=\"#f3f3f3\"/>\n",
          Num(kMargin), Num(plot.top + static_cast<double>(i) * kRow), Num(kWidth - 2 * kMargin),
          Num(kRow));
    }
  }
  for (size_t s = 0; s < set_names.size(); ++s) {
    const double x = kMatrixStart + column * (static_cast<double>(s) + 0.5);
    const std::string shown = Shorten(set_names[s], kSetNameChars);
    chart.body() +=
        fmt::format("<text class=\"set-name\" transform=\"translate({},{}) rotate(-45)\">",
                    Num(x + 3), Num(plot.top - 6));
    if (shown.size() != set_names[s].size()) {
      chart.body() += "<title>" + HtmlEscape(set_names[s]) + "</title>";
    }
    chart.body() += HtmlEscape(shown) + "</text>\n";
  }
  chart.AxisGrid(plot);
  const std::string fill = chart.Fill(0);
  for (size_t i = 0; i < intersections.size(); ++i) {
    const SetIntersection& intersection = intersections[i];
    const double y = plot.top + static_cast<double>(i) * kRow;
    const double centre = y + kRow / 2;
    const std::string& label =
        intersection.label.empty() ? intersection.value.row : intersection.label;
    chart.body() += Label(kLabelEnd, centre + 4, "end", label, 28, "category");
    std::vector<bool> member(set_names.size(), false);
    for (size_t s : intersection.sets) {
      if (s < member.size()) member[s] = true;
    }
    const auto first = std::find(member.begin(), member.end(), true);
    const auto last = std::find(member.rbegin(), member.rend(), true);
    std::string dots = "<g class=\"sets\">";
    if (first != member.end()) {
      const auto from = static_cast<double>(first - member.begin());
      const auto to = static_cast<double>(member.rend() - last - 1);
      if (to > from) {
        dots += fmt::format(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"/>",
            Num(kMatrixStart + column * (from + 0.5)), Num(centre),
            Num(kMatrixStart + column * (to + 0.5)), Num(centre), kTextColour);
      }
    }
    for (size_t s = 0; s < member.size(); ++s) {
      dots +=
          fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"/>",
                      Num(kMatrixStart + column * (static_cast<double>(s) + 0.5)), Num(centre),
                      Num(std::min(5.0, column / 2 - 1)), member[s] ? kTextColour : kGridColour);
    }
    chart.body() += dots + "</g>\n";
    if (intersection.value.suppressed) {
      // Past the matrix, at the same place in every row.
      chart.SuppressedMark(intersection.value, plot.left + 2, centre);
    } else {
      chart.Bar(plot, intersection.value, y + (kRow - kBar) / 2, kBar, fill);
    }
  }
  chart.AddLegend(fmt::format("<circle cx=\"6\" cy=\"6\" r=\"5\" fill=\"{}\"/>", kTextColour),
                  "a set the row is about (grey: not)");
  return chart.Finish(chart.AxisBottom(plot));
}

std::string RangeChartSvg(const ChartFrame& frame, const ChartValue& base,
                          const std::vector<Range>& ranges, std::string_view base_label) {
  ChartWriter chart(frame, "range");
  const std::string label(base_label.empty() ? std::string_view(base.row) : base_label);
  if (ranges.empty()) return chart.NoData();
  constexpr double kRow = 24;
  constexpr double kBar = 12;
  constexpr double kHeader = 22;  // the base's label
  Extent extent(/*include_zero=*/false);
  const auto base_value = Drawable(base);
  if (base_value) extent.Add(*base_value);
  for (const Range& range : ranges) {
    for (const ChartValue* end : {&range.low, &range.high}) {
      if (const auto value = Drawable(*end)) {
        extent.Add(*value);
        extent.AddRoomBothSides(end->text);
      }
    }
  }
  const Plot plot = extent.MakePlot(kMargin + kHeader, static_cast<double>(ranges.size()) * kRow);
  chart.AxisGrid(plot);
  const double header_centre = kMargin + kHeader / 2 - 2;
  chart.body() += CategoryLabel(header_centre, label);
  if (base.suppressed) {
    chart.SuppressedMark(base, kMarkSlotX, header_centre);
  } else if (base_value) {
    const double x = plot.X(*base_value);
    chart.body() += fmt::format(
        "<g class=\"mark base\"{}{}>{}<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" "
        "stroke-width=\"1.5\"/><text class=\"value\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" "
        "font-weight=\"bold\">{}</text></g>\n",
        CellAttributes(base), HtmlAttribute("data-value", base.text), CellTitle(base, base.text),
        Num(x), Num(plot.top - 4), Num(x), Num(plot.bottom), kTextColour, Num(x),
        Num(header_centre + 4), HtmlEscape(base.text));
    chart.AddLegend(fmt::format("<line x1=\"6\" y1=\"0\" x2=\"6\" y2=\"12\" stroke=\"{}\" "
                                "stroke-width=\"1.5\"/>",
                                kTextColour),
                    label.empty() ? "base" : label);
  } else {
    chart.NotDrawn(base, kMarkSlotX, header_centre);
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    const Range& range = ranges[i];
    const double y = plot.top + static_cast<double>(i) * kRow + (kRow - kBar) / 2;
    const double centre = y + kBar / 2;
    chart.body() += CategoryLabel(centre, range.label);
    const auto low = Drawable(range.low);
    const auto high = Drawable(range.high);
    if (low && high) {
      const double from = plot.X(std::min(*low, *high));
      const double to = plot.X(std::max(*low, *high));
      chart.body() += fmt::format(
          "<rect class=\"range-bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" "
          "fill=\"#56B4E9\" fill-opacity=\"0.75\" stroke=\"#0072B2\" stroke-width=\"0.8\"/>\n",
          Num(from), Num(y), Num(to - from), Num(kBar));
    }
    int slot = 0;
    for (const ChartValue* end : {&range.low, &range.high}) {
      const auto value = Drawable(*end);
      if (end->suppressed) {
        chart.SuppressedMark(*end, kMarkSlotX + slot * kMarkSlotWidth, centre);
      } else if (value) {
        // The smaller end's label goes left, the larger one's right.
        const auto other = end == &range.low ? high : low;
        const bool left =
            other ? (*value < *other || (*value == *other && end == &range.low)) : *value < 0;
        const double x = plot.X(*value);
        chart.body() += fmt::format(
            "<g class=\"mark\"{}{}>{}<rect x=\"{}\" y=\"{}\" width=\"2\" height=\"{}\" "
            "fill=\"{}\"/>"
            "<text class=\"value\" x=\"{}\" y=\"{}\" text-anchor=\"{}\">{}</text></g>\n",
            CellAttributes(*end), HtmlAttribute("data-value", end->text),
            CellTitle(*end, end->text), Num(x - 1), Num(y - 2), Num(kBar + 4), kTextColour,
            Num(left ? x - 5 : x + 5), Num(centre + 4), left ? "end" : "start",
            HtmlEscape(end->text));
      }
      ++slot;
    }
  }
  return chart.Finish(chart.AxisBottom(plot));
}

}  // namespace koppel
