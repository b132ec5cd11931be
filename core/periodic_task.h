// Runs a function every so many seconds on a thread of its own until destroyed; services use it
// to end covenants whose retention runs out while they run.
#ifndef KOPPEL_CORE_PERIODIC_TASK_H_
#define KOPPEL_CORE_PERIODIC_TASK_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

namespace koppel {

class PeriodicTask {
 public:
  PeriodicTask(std::chrono::seconds period, std::function<void()> task)
      : thread_([period, task = std::move(task)](std::stop_token stop) {
          std::mutex mutex;
          std::condition_variable_any wake;
          std::unique_lock<std::mutex> lock(mutex);
          while (!wake.wait_for(lock, stop, period, [] { return false; }) &&
                 !stop.stop_requested()) {
            task();
          }
        }) {}

 private:
  std::jthread thread_;  // stops and joins on destruction
};

}  // namespace koppel

#endif  // KOPPEL_CORE_PERIODIC_TASK_H_
