// An HTML file as a person sees it: rendered by a real headless chromium (tests/tools/
// render_check.py), with what the browser reported while loading it: requests, console
// messages, errors, the screenshot, the printed A4 page count and the DOM's cells and chart
// marks. Tests of koppel's HTML outputs assert on it.
#ifndef KOPPEL_TESTS_TESTING_BROWSER_CHECK_H_
#define KOPPEL_TESTS_TESTING_BROWSER_CHECK_H_

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace koppel::test {

// One element that carries data-row and data-col: a table cell (td) or a chart mark.
struct RenderedElement {
  std::string tag;         // "td", "rect", ...
  std::string class_name;  // the class attribute
  std::string table;       // data-table of the element or its nearest ancestor with one
  bool in_chart = false;   // inside figure.chart
  int chart = -1;          // index of its chart's svg in document order; -1 outside charts
  // A chart mark's width and height attributes as the SVG gives them (its own or its first
  // rect's); empty when it has none.
  std::string svg_width, svg_height;
  std::string row;                                // data-row
  std::string col;                                // data-col
  std::optional<std::string> value;               // data-value
  bool suppressed = false;                        // data-suppressed="true"
  std::string text;                               // textContent
  std::map<std::string, std::string> attributes;  // every attribute, data-* included
  double x = 0, y = 0, width = 0, height = 0;     // bounding box in page coordinates

  bool HasClass(const std::string& name) const;
};

struct BrowserView {
  bool loaded = false;                // the load event fired
  std::vector<std::string> problems;  // navigation errors, a missing load event
  std::vector<std::string> requests;  // URLs fetched other than the file itself (not data:)
  std::vector<std::string> data_urls;
  std::vector<std::string> console;     // "type: text" per console API call
  std::vector<std::string> exceptions;  // uncaught
  std::vector<std::string> log;         // "level source: text", errors and warnings (CSP too)

  std::filesystem::path screenshot;  // the full page as PNG
  int page_width = 0, page_height = 0;
  int distinct_colours = 0;
  double non_white_fraction = 0;
  bool non_blank = false;
  int pdf_pages = 0;  // printed on A4

  std::string title;
  std::string text;                             // document.body.innerText
  std::optional<std::string> metadata_text;     // #release-metadata's innerText
  std::optional<std::string> first_section_id;  // of the body's first <section>
  std::optional<std::string> csp;               // the Content-Security-Policy meta
  int scripts = 0;
  int tables = 0;                         // table.release-table
  int charts = 0;                         // figure.chart
  int charts_with_text_alternative = 0;   // svg title and desc, and a figcaption
  std::vector<std::string> chart_labels;  // chart text tied to no cell, axis ticks apart
  std::vector<std::string> tick_labels;   // the text of every chart's axis (g.axis)
  // One element of a chart that draws a cell: its data-row, data-col and data-value.
  struct ChartCell {
    std::string row, col;
    std::optional<std::string> value;
  };
  // A chart's text alternatives (<title>, <desc> and <figcaption>) and the cells it draws.
  struct ChartText {
    std::string table;  // the figure's data-table
    std::string title, desc, caption;
    std::vector<ChartCell> cells;
  };
  std::vector<ChartText> chart_texts;  // per chart, in document order
  std::vector<RenderedElement> elements;
  double seconds = 0;  // the page's wall time in chromium, from opening its tab to the PDF

  // Everything the browser said that a reader's console would show: console calls,
  // exceptions, errors and warnings. Empty for a clean page.
  std::vector<std::string> Complaints() const;
  // The elements drawn for one cell of one table (its td and its chart marks).
  std::vector<const RenderedElement*> ElementsFor(const std::string& table, const std::string& row,
                                                  const std::string& col) const;
};

// Renders `html` in chromium and returns what it showed. Writes the screenshot, the PDF and
// the script's JSON next to `html` (NAME.png, NAME.pdf, NAME.render.json), and chromium's
// temporary profile in that directory too (so that a killed test leaves nothing in /tmp or
// $HOME: the directory is the caller's to remove). An error when
// python3 or chromium is missing (it names scripts/setup) or chromium did not render the page:
// tests that call this fail rather than skip.
absl::StatusOr<BrowserView> RenderInBrowser(const std::filesystem::path& html);

// The same for several files in one chromium (a tab each): its start-up, most of a small page's
// time, is paid once. The views are in the order of `html`.
absl::StatusOr<std::vector<BrowserView>> RenderInBrowser(
    const std::vector<std::filesystem::path>& html);

}  // namespace koppel::test

#endif  // KOPPEL_TESTS_TESTING_BROWSER_CHECK_H_
