// A fixed set of threads that run the parts of parallel loops for any number of callers at
// once, so that CPU-bound work (OPRF blinding and evaluation) uses every core without each
// caller starting threads of its own. The caller works on its own loop too, so a loop never
// waits for a pool busy with other callers' loops.
#ifndef KOPPEL_CORE_WORKER_POOL_H_
#define KOPPEL_CORE_WORKER_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace koppel {

class WorkerPool {
 public:
  // `threads` workers besides the callers; 0 means one fewer than the machine's cores, so that
  // a loop with its caller occupies every core.
  explicit WorkerPool(size_t threads = 0);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool();

  // The threads a loop can run on: the workers and the caller.
  size_t concurrency() const { return workers_.size() + 1; }

  // Runs part(begin, end) over consecutive ranges that cover [0, n), each of at least
  // `min_part` indices (one range if n is smaller), and returns when all are done. The parts
  // write to disjoint places, so the result does not depend on how many threads ran them. Every
  // part runs even if one fails; the error returned is that of the part with the lowest indices.
  // A part that throws fails with INTERNAL instead (the exception goes no further), so the
  // caller returns only once every claimed part has finished.
  absl::Status ParallelFor(size_t n, size_t min_part,
                           const std::function<absl::Status(size_t, size_t)>& part)
      ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  void Work() ABSL_LOCKS_EXCLUDED(mutex_);
  bool HasTaskOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return stopping_ || !tasks_.empty();
  }

  absl::Mutex mutex_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> workers_;
};

// Runs `part` over [0, n) on `pool`, or in one piece on the caller's thread when `pool` is null.
absl::Status ParallelFor(WorkerPool* pool, size_t n, size_t min_part,
                         const std::function<absl::Status(size_t, size_t)>& part);

}  // namespace koppel

#endif  // KOPPEL_CORE_WORKER_POOL_H_
