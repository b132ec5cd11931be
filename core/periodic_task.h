// Runs a function every so many seconds on a thread of its own until destroyed; services use it
// to end covenants whose retention runs out while they run.
#ifndef KOPPEL_CORE_PERIODIC_TASK_H_
#define KOPPEL_CORE_PERIODIC_TASK_H_

#include <chrono>
#include <functional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace koppel {

class PeriodicTask {
 public:
  PeriodicTask(std::chrono::seconds period, std::function<void()> task)
      : thread_([this, period = absl::FromChrono(period), task = std::move(task)] {
          while (!stop_.WaitForNotificationWithTimeout(period)) task();
        }) {}
  // Stops the thread (a task running finishes first) and joins it.
  ~PeriodicTask() {
    stop_.Notify();
    thread_.join();
  }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

 private:
  absl::Notification stop_;
  std::thread thread_;  // last: starts when stop_ is ready
};

}  // namespace koppel

#endif  // KOPPEL_CORE_PERIODIC_TASK_H_
