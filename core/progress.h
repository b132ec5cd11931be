// Progress of a long operation on stderr: on a terminal one line that updates in place (items,
// rate, percentage and ETA), otherwise a plain line every few seconds, so that logs of batch
// runs stay readable. Cheap enough to call once per record.
#ifndef KOPPEL_CORE_PROGRESS_H_
#define KOPPEL_CORE_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace koppel {

class ProgressReporter {
 public:
  // `total` is the amount of work in the unit Update() reports `done` in (bytes, households);
  // 0 when unknown. `items` names what is counted, e.g. "rows".
  ProgressReporter(std::string label, uint64_t total, std::string items, FILE* out = stderr);
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  void Update(uint64_t done, uint64_t items) {
    if (++calls_ % kCallsPerClockCheck == 0) MaybePrint(done, items);
  }
  // Prints the final line (always, also when nothing was printed before).
  void Finish(uint64_t items);
  // Suppresses all output (for --quiet).
  void Silence() { silent_ = true; }

 private:
  static constexpr uint64_t kCallsPerClockCheck = 1024;
  void MaybePrint(uint64_t done, uint64_t items);
  void Print(uint64_t done, uint64_t items, bool final);

  std::string label_;
  uint64_t total_;
  std::string items_;
  FILE* out_;
  bool terminal_;
  bool silent_ = false;
  bool finished_ = false;
  uint64_t calls_ = 0;
  uint64_t last_done_ = 0;
  uint64_t last_items_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

// "1,234,567"
std::string WithThousands(uint64_t n);

}  // namespace koppel

#endif  // KOPPEL_CORE_PROGRESS_H_
