// Reports how far a long run is: on a terminal one line that updates in place (done, rate,
// ETA), otherwise a plain line every few seconds so logs stay readable.
#ifndef KOPPEL_SYNTH_PROGRESS_METER_H_
#define KOPPEL_SYNTH_PROGRESS_METER_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace koppel::synth {

class ProgressMeter {
 public:
  // Writes to `out` (stderr in the tool); `enabled` false makes every call a no-op.
  ProgressMeter(std::string what, uint64_t total, std::FILE* out, bool enabled);

  void Update(uint64_t done) {
    if (enabled_ && (done & 1023) == 0) Report(done, false);
  }
  void Finish(uint64_t done) {
    if (enabled_) Report(done, true);
  }

 private:
  using Clock = std::chrono::steady_clock;
  void Report(uint64_t done, bool final);

  std::string what_;
  uint64_t total_;
  std::FILE* out_;
  bool enabled_;
  bool terminal_;
  Clock::time_point start_, last_;
};

}  // namespace koppel::synth

#endif  // KOPPEL_SYNTH_PROGRESS_METER_H_
