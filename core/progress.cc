#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

namespace koppel {
namespace {

std::string Duration(double seconds) {
  auto s = static_cast<uint64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

std::string WithThousands(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

ProgressReporter::ProgressReporter(std::string label, uint64_t total, std::string items, FILE* out)
    : label_(std::move(label)),
      total_(total),
      items_(std::move(items)),
      out_(out),
      terminal_(::isatty(::fileno(out)) == 1),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

ProgressReporter::~ProgressReporter() {
  if (!finished_ && terminal_ && !silent_ && last_items_ > 0) std::fputc('\n', out_);
}

void ProgressReporter::MaybePrint(uint64_t done, uint64_t items) {
  auto now = std::chrono::steady_clock::now();
  auto interval = terminal_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  if (now - last_print_ < interval) return;
  last_print_ = now;
  Print(done, items, false);
}

void ProgressReporter::Finish(uint64_t items) {
  Print(total_, items, true);
  finished_ = true;
}

void ProgressReporter::Print(uint64_t done, uint64_t items, bool final) {
  last_done_ = done;
  last_items_ = items;
  if (silent_) return;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(items) / elapsed : 0;
  std::string line = fmt::format("{}: {} {}, {} {}/s", label_, WithThousands(items), items_,
                                 WithThousands(static_cast<uint64_t>(rate)), items_);
  if (final) {
    line += fmt::format(", done in {}", Duration(elapsed));
  } else if (total_ > 0 && done > 0) {
    double fraction = static_cast<double>(done) / static_cast<double>(total_);
    double eta = elapsed / fraction - elapsed;
    line += fmt::format(", {:.0f}%, ETA {}", fraction * 100, Duration(eta));
  }
  if (terminal_) {
    fmt::print(out_, "\r\033[K{}{}", line, final ? "\n" : "");
  } else {
    fmt::print(out_, "{}\n", line);
  }
  std::fflush(out_);
}

}  // namespace koppel
