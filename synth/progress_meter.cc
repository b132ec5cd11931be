#include "synth/progress_meter.h"

#include <unistd.h>

#include "fmt/format.h"

namespace koppel::synth {

ProgressMeter::ProgressMeter(std::string what, uint64_t total, std::FILE* out, bool enabled)
    : what_(std::move(what)), total_(total), out_(out), enabled_(enabled),
      terminal_(isatty(fileno(out)) != 0), start_(Clock::now()), last_(start_) {}

void ProgressMeter::Report(uint64_t done, bool final) {
  const Clock::time_point now = Clock::now();
  const auto interval = terminal_ ? std::chrono::milliseconds(200) : std::chrono::seconds(5);
  if (!final && now - last_ < interval) return;
  last_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
  const double pct = total_ == 0 ? 100 : 100.0 * static_cast<double>(done) / static_cast<double>(total_);
  std::string line;
  if (final) {
    line = fmt::format("{}: {} done in {:.1f} s ({:.0f}/s)", what_, done, seconds, rate);
  } else {
    line = fmt::format("{}: {}/{} ({:.1f}%), {:.0f}/s, ETA {:.0f} s", what_, done, total_, pct,
                       rate, eta);
  }
  if (terminal_) {
    fmt::print(out_, "\r\033[K{}{}", line, final ? "\n" : "");
  } else {
    fmt::print(out_, "{}\n", line);
  }
  std::fflush(out_);
}

}  // namespace koppel::synth
