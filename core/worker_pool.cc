#include "core/worker_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <typeinfo>

namespace koppel {
namespace {

// part(begin, end), with an exception it throws turned into INTERNAL: an exception must not
// unwind a caller while workers still run its loop, nor end the process on a worker.
absl::Status RunPart(const std::function<absl::Status(size_t, size_t)>& part, size_t begin,
                     size_t end) {
  try {
    return part(begin, end);
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format(
        "a part of a parallel loop threw {}; this is a bug, please report it", typeid(e).name()));
  } catch (...) {
    return absl::InternalError(
        "a part of a parallel loop threw an exception; this is a bug, please report it");
  }
}

// One ParallelFor call: the parts not yet claimed, the ones finished and their statuses. Shared
// with the workers that help, which may pick up their task after the caller has returned.
struct Loop {
  Loop(size_t size, size_t part_count, const std::function<absl::Status(size_t, size_t)>& run)
      : n(size), parts(part_count), part(run), statuses(part_count) {}

  // Runs parts until none is left to claim.
  void RunParts() {
    for (size_t p = next.fetch_add(1); p < parts; p = next.fetch_add(1)) {
      statuses[p] = RunPart(part, n * p / parts, n * (p + 1) / parts);
      absl::MutexLock lock(&mutex);
      ++finished;
    }
  }

  bool AllFinished() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex) { return finished == parts; }

  const size_t n;
  const size_t parts;
  const std::function<absl::Status(size_t, size_t)>& part;  // valid until every part finished
  std::vector<absl::Status> statuses;
  std::atomic<size_t> next{0};
  absl::Mutex mutex;
  size_t finished ABSL_GUARDED_BY(mutex) = 0;
};

}  // namespace

WorkerPool::WorkerPool(size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency()) - 1;
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  for (std::thread& worker : workers_) worker.join();
}

void WorkerPool::Work() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mutex_, absl::Condition(this, &WorkerPool::HasTaskOrStopping));
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

absl::Status WorkerPool::ParallelFor(size_t n, size_t min_part,
                                     const std::function<absl::Status(size_t, size_t)>& part) {
  if (n == 0) return absl::OkStatus();
  // A few parts per thread, so that a thread the kernel takes off its core holds up little.
  constexpr size_t kPartsPerThread = 4;
  const size_t parts = std::min(kPartsPerThread * concurrency(),
                                std::max<size_t>(1, n / std::max<size_t>(1, min_part)));
  if (parts == 1) return RunPart(part, 0, n);
  auto loop = std::make_shared<Loop>(n, parts, part);
  {
    absl::MutexLock lock(&mutex_);
    for (size_t i = 1; i < parts; ++i) tasks_.emplace_back([loop] { loop->RunParts(); });
  }
  loop->RunParts();
  {
    // Returns once every part has finished; workers may still hold `loop` a moment longer.
    absl::MutexLock lock(&loop->mutex, absl::Condition(loop.get(), &Loop::AllFinished));
  }
  for (absl::Status& status : loop->statuses) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status ParallelFor(WorkerPool* pool, size_t n, size_t min_part,
                         const std::function<absl::Status(size_t, size_t)>& part) {
  if (pool == nullptr) return n == 0 ? absl::OkStatus() : RunPart(part, 0, n);
  return pool->ParallelFor(n, min_part, part);
}

}  // namespace koppel
