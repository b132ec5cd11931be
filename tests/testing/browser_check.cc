#include "tests/testing/browser_check.h"

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/status/status.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/system_python.h"

namespace koppel::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char kRenderScript[] = KOPPEL_SOURCE_DIR "/tests/tools/render_check.py";

std::string Text(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<std::string> OptionalText(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::vector<std::string> Texts(const json& list) {
  std::vector<std::string> out;
  for (const json& item : list) out.push_back(item.is_string() ? item.get<std::string>() : "");
  return out;
}

RenderedElement ElementFromJson(const json& e) {
  RenderedElement element;
  element.tag = Text(e, "tag");
  element.class_name = Text(e, "class");
  element.table = Text(e, "table");
  element.in_chart = e.value("in_chart", false);
  element.chart = e.value("chart", -1);
  element.svg_width = Text(e, "svg_width");
  element.svg_height = Text(e, "svg_height");
  element.row = Text(e, "row");
  element.col = Text(e, "col");
  element.value = OptionalText(e, "value");
  element.suppressed = Text(e, "suppressed") == "true";
  element.text = Text(e, "text");
  for (const auto& [name, value] : e.at("attributes").items()) {
    element.attributes[name] = value.get<std::string>();
  }
  const json& box = e.at("box");
  element.x = box.value("x", 0.0);
  element.y = box.value("y", 0.0);
  element.width = box.value("width", 0.0);
  element.height = box.value("height", 0.0);
  return element;
}

BrowserView ViewFromJson(const json& result) {
  BrowserView view;
  view.loaded = result.value("loaded", false);
  view.problems = Texts(result.at("problems"));
  for (const json& request : result.at("requests")) view.requests.push_back(Text(request, "url"));
  view.data_urls = Texts(result.at("data_urls"));
  for (const json& message : result.at("console")) {
    view.console.push_back(Text(message, "type") + ": " + Text(message, "text"));
  }
  view.exceptions = Texts(result.at("exceptions"));
  for (const json& entry : result.at("log")) {
    view.log.push_back(Text(entry, "level") + " " + Text(entry, "source") + ": " +
                       Text(entry, "text"));
  }
  const json& screenshot = result.at("screenshot");
  view.screenshot = Text(screenshot, "path");
  view.page_width = screenshot.value("width", 0);
  view.page_height = screenshot.value("height", 0);
  view.distinct_colours = screenshot.value("distinct_colours", 0);
  view.non_white_fraction = screenshot.value("non_white_fraction", 0.0);
  view.non_blank = screenshot.value("non_blank", false);
  view.pdf_pages = result.at("pdf").value("pages", 0);
  view.title = Text(result, "title");
  view.text = Text(result, "text");
  view.metadata_text = OptionalText(result, "metadata_text");
  view.first_section_id = OptionalText(result, "first_section_id");
  view.csp = OptionalText(result, "csp");
  view.scripts = result.value("scripts", 0);
  view.tables = result.value("tables", 0);
  view.charts = result.value("charts", 0);
  view.charts_with_text_alternative = result.value("charts_with_text_alternative", 0);
  view.chart_labels = Texts(result.at("chart_labels"));
  view.tick_labels = Texts(result.at("tick_labels"));
  for (const json& chart : result.at("chart_texts")) {
    BrowserView::ChartText text{Text(chart, "table"),
                                Text(chart, "title"),
                                Text(chart, "desc"),
                                Text(chart, "caption"),
                                {}};
    for (const json& cell : chart.at("cells")) {
      text.cells.push_back({Text(cell, "row"), Text(cell, "col"), OptionalText(cell, "value")});
    }
    view.chart_texts.push_back(std::move(text));
  }
  for (const json& e : result.at("elements")) view.elements.push_back(ElementFromJson(e));
  view.seconds = result.at("seconds").value("pdf", 0.0);
  return view;
}

}  // namespace

bool RenderedElement::HasClass(const std::string& name) const {
  size_t start = 0;
  while (start < class_name.size()) {
    size_t end = class_name.find(' ', start);
    if (end == std::string::npos) end = class_name.size();
    if (class_name.compare(start, end - start, name) == 0 && end - start == name.size()) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

std::vector<std::string> BrowserView::Complaints() const {
  std::vector<std::string> all = problems;
  all.insert(all.end(), console.begin(), console.end());
  all.insert(all.end(), exceptions.begin(), exceptions.end());
  all.insert(all.end(), log.begin(), log.end());
  return all;
}

std::vector<const RenderedElement*> BrowserView::ElementsFor(const std::string& table,
                                                             const std::string& row,
                                                             const std::string& col) const {
  std::vector<const RenderedElement*> found;
  for (const RenderedElement& element : elements) {
    if (element.table == table && element.row == row && element.col == col) {
      found.push_back(&element);
    }
  }
  return found;
}

absl::StatusOr<BrowserView> RenderInBrowser(const fs::path& html) {
  absl::StatusOr<std::vector<BrowserView>> views = RenderInBrowser(std::vector<fs::path>{html});
  if (!views.ok()) return views.status();
  return std::move(views->front());
}

absl::StatusOr<std::vector<BrowserView>> RenderInBrowser(const std::vector<fs::path>& html) {
  if (html.empty()) return std::vector<BrowserView>{};
  if (!fs::exists(kSystemPython)) {
    return absl::FailedPreconditionError(std::string("no ") + kSystemPython +
                                         ": the browser checks need it (run scripts/setup)");
  }
  fs::path out = html.front();
  out.replace_extension(".render.json");
  std::vector<std::string> argv = {kSystemPython, kRenderScript};
  for (const fs::path& file : html) argv.push_back(file.string());
  argv.insert(argv.end(),
              {"--out", out.string(), "--tmp", fs::absolute(html.front()).parent_path().string()});
  const ProcessResult run = RunProcess(argv);
  if (run.exit_code != 0) {
    return absl::FailedPreconditionError("rendering " + html.front().string() +
                                         " in chromium failed (" + std::to_string(run.exit_code) +
                                         "): " + run.err + " (scripts/setup installs chromium)");
  }
  std::ifstream in(out);
  json result = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (result.is_object()) result = json::array({std::move(result)});
  if (!result.is_array() || result.size() != html.size()) {
    return absl::InternalError("render_check.py wrote no result per file to " + out.string());
  }
  try {
    std::vector<BrowserView> views;
    for (const json& page : result) views.push_back(ViewFromJson(page));
    return views;
  } catch (const json::exception& error) {
    return absl::InternalError("unexpected render_check.py output in " + out.string() + ": " +
                               error.what());
  }
}

}  // namespace koppel::test
