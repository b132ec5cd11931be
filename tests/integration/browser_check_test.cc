// The browser check itself (tests/testing/browser_check.h): a page built like koppel's reports
// renders clean, and a page that loads, scripts or shows nothing is caught, so that a clean
// result on a real report means something.
#include "tests/testing/browser_check.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "cli/html_document.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/system_python.h"
#include "tests/testing/temp_dir.h"

namespace koppel::test {
namespace {

// A report in miniature, in koppel's document shell: the metadata page, a chart with a drawn
// value and a suppressed mark, and the table it comes from.
std::string SmallReport() {
  HtmlDocument document("Release small");
  document.Raw(R"(<section id="release-metadata" class="page"><h1>Release small</h1>
<dl class="facts"><dt>Spec SHA-256</dt><dd class="digest">0123abcd</dd></dl></section>
<section><h2>Table 1</h2>
<figure class="chart" data-table="t1"><svg role="img" aria-labelledby="t1-title t1-desc"
 viewBox="0 0 300 80" width="300" height="80"><title id="t1-title">Families per wijk</title>
<desc id="t1-desc">Wijk A 12; wijk B suppressed.</desc>
<g class="axis"><text x="40" y="78">0</text><text x="160" y="78">20</text></g>
<text x="2" y="24">Wijk A</text>
<rect x="40" y="10" width="120" height="20" fill="#3b6ea8" data-row="A" data-col="n"
 data-value="12"/>
<rect class="suppressed-mark" x="40" y="40" width="20" height="20" fill="none" stroke="#777"
 data-row="B" data-col="n" data-suppressed="true"/></svg>
<figcaption>Figure 1. Families per wijk.</figcaption></figure>
<table class="release-table" data-table="t1"><thead><tr><th>wijk</th><th>n</th></tr></thead>
<tbody><tr><th>A</th><td class="num" data-row="A" data-col="n">12</td></tr>
<tr><th>B</th><td class="num suppressed" data-row="B" data-col="n" data-suppressed="true"
 title="suppressed">*</td></tr></tbody></table></section>)");
  return document.Finish();
}

TEST(RenderInBrowserTest, AReportInKoppelsShellRendersCleanWithItsCellsAndMarks) {
  TempDir dir;
  // A name a file:// URL must escape (a space, a '#' that would start a fragment).
  WriteFile(dir / "small report #1.html", SmallReport());
  absl::StatusOr<BrowserView> view = RenderInBrowser(dir / "small report #1.html");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_TRUE(view->loaded);
  EXPECT_EQ(view->Complaints(), std::vector<std::string>{});
  EXPECT_EQ(view->requests, std::vector<std::string>{});
  EXPECT_TRUE(view->non_blank) << view->distinct_colours << " colours, " << view->non_white_fraction
                               << " not white";
  EXPECT_TRUE(std::filesystem::file_size(view->screenshot) > 1000);
  EXPECT_EQ(view->pdf_pages, 2);  // the metadata page breaks after itself
  EXPECT_EQ(view->first_section_id, "release-metadata");
  EXPECT_EQ(view->csp, std::string(kHtmlContentSecurityPolicy));
  EXPECT_EQ(view->scripts, 0);
  EXPECT_EQ(view->tables, 1);
  EXPECT_EQ(view->charts_with_text_alternative, 1);
  EXPECT_NE(view->text.find("0123abcd"), std::string::npos) << view->text;

  std::vector<const RenderedElement*> a = view->ElementsFor("t1", "A", "n");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0]->tag, "rect");
  EXPECT_TRUE(a[0]->in_chart);
  EXPECT_EQ(a[0]->value, "12");
  EXPECT_GT(a[0]->width, 100);
  EXPECT_EQ(a[1]->tag, "td");
  EXPECT_EQ(a[1]->text, "12");
  EXPECT_EQ(a[0]->chart, 0);
  EXPECT_EQ(a[0]->svg_width, "120");
  ASSERT_EQ(view->chart_texts.size(), 1u);
  EXPECT_EQ(view->chart_texts[0].table, "t1");
  EXPECT_EQ(view->chart_texts[0].title, "Families per wijk");
  EXPECT_EQ(view->chart_texts[0].desc, "Wijk A 12; wijk B suppressed.");
  EXPECT_EQ(view->chart_texts[0].caption, "Figure 1. Families per wijk.");
  ASSERT_EQ(view->chart_texts[0].cells.size(), 2u);
  EXPECT_EQ(view->chart_texts[0].cells[0].value, "12");
  EXPECT_EQ(view->chart_texts[0].cells[1].row, "B");
  EXPECT_EQ(view->chart_texts[0].cells[1].value, std::nullopt);
  EXPECT_EQ(view->tick_labels, (std::vector<std::string>{"0", "20"}));
  EXPECT_EQ(view->chart_labels, std::vector<std::string>{"Wijk A"});
  EXPECT_EQ(view->data_urls, std::vector<std::string>{});
  std::vector<const RenderedElement*> b = view->ElementsFor("t1", "B", "n");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_TRUE(b[0]->HasClass("suppressed-mark") && b[0]->suppressed);
  EXPECT_EQ(b[0]->svg_width, "20");
  EXPECT_EQ(b[0]->svg_height, "20");
  EXPECT_EQ(b[0]->value, std::nullopt);
  EXPECT_TRUE(b[1]->HasClass("suppressed") && b[1]->suppressed);
  EXPECT_EQ(b[1]->text, "*");
  EXPECT_EQ(b[1]->attributes.at("title"), "suppressed");
}

// What the report must never do, each caught: a request (through the dead proxy, so it fails),
// a script that logs and throws, and an empty page.
TEST(RenderInBrowserTest, RequestsScriptsPolicyViolationsAndBlankPagesAreCaught) {
  TempDir dir;
  WriteFile(dir / "open.html",
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>open</title></head><body>"
            "<img src=\"http://192.0.2.1/pixel.png\" alt=\"\">"
            "<script>console.log('hello'); throw new Error('boom');</script></body></html>");
  // koppel's policy: the same markup inside it neither runs the script nor loads the image,
  // and the browser says so.
  HtmlDocument document("closed");
  document.Raw(
      "<img src=\"http://192.0.2.1/pixel.png\" alt=\"\"><script>console.log('hello');</script>");
  WriteFile(dir / "closed.html", document.Finish());
  absl::StatusOr<std::vector<BrowserView>> views =
      RenderInBrowser({dir / "open.html", dir / "closed.html"});
  ASSERT_TRUE(views.ok()) << views.status();
  ASSERT_EQ(views->size(), 2u);
  const BrowserView& open = (*views)[0];
  EXPECT_EQ(open.requests, std::vector<std::string>{"http://192.0.2.1/pixel.png"});
  EXPECT_EQ(open.console, std::vector<std::string>{"log: hello"});
  ASSERT_EQ(open.exceptions.size(), 1u);
  EXPECT_NE(open.exceptions[0].find("boom"), std::string::npos);
  EXPECT_FALSE(open.non_blank) << open.distinct_colours << " colours";
  EXPECT_EQ(open.scripts, 1);

  const BrowserView& closed = (*views)[1];
  EXPECT_EQ(closed.console, std::vector<std::string>{});
  int violations = 0;
  for (const std::string& entry : closed.log) {
    violations += entry.find("Content Security Policy") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(violations, 2) << testing::PrintToString(closed.log);
}

// The chromium processes whose command line names `profile`.
int ChromiumProcessesOf(const std::filesystem::path& profile) {
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string cmdline = ReadFile(entry.path() / "cmdline");
    if (cmdline.find(profile.string()) != std::string::npos) ++found;
  }
  return found;
}

// A test runner's timeout kills the script with SIGKILL, when nothing can clean up: chromium's
// profile (its HOME too) is in the directory the caller named, which the caller removes, not
// in /tmp or $HOME, and chromium exits with the script.
TEST(RenderInBrowserTest, AKilledRenderLeavesItsProfileInTheCallersDirectoryAndNoChromium) {
  TempDir dir;
  WriteFile(dir / "small.html", SmallReport());
  const std::filesystem::path area = dir / "profiles";
  std::filesystem::create_directory(area);
  BackgroundProcess render({kSystemPython, KOPPEL_SOURCE_DIR "/tests/tools/render_check.py",
                            (dir / "small.html").string(), "--tmp", area.string(), "--out",
                            (dir / "small.json").string()},
                           (dir / "render.log").string());
  // Chromium is up once it has written its profile (more than the script's log file).
  std::filesystem::path profile;
  for (bool up = false; !up && !render.HasExited();) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (const auto& entry : std::filesystem::directory_iterator(area)) {
      profile = entry.path();
      up = std::distance(std::filesystem::directory_iterator(profile),
                         std::filesystem::directory_iterator()) > 1;
    }
  }
  ASSERT_FALSE(profile.empty()) << "no profile in " << area << ": " << ReadFile(dir / "render.log");
  ASSERT_FALSE(render.HasExited()) << "rendered before it could be killed";
  EXPECT_GT(ChromiumProcessesOf(profile), 0);
  render.Signal(SIGKILL);
  EXPECT_EQ(render.Wait(), -SIGKILL);
  EXPECT_TRUE(std::filesystem::exists(profile));  // left for the caller, in its directory
  // Chromium follows its parent (PR_SET_PDEATHSIG); its helpers follow it. Waits for that
  // (ctest's timeout bounds a chromium that stays).
  while (ChromiumProcessesOf(profile) > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace
}  // namespace koppel::test
