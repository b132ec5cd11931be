#include "core/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "core/periodic_task.h"

namespace koppel {
namespace {

TEST(WorkerPoolTest, PartsCoverTheRangeOnceInConsecutivePiecesOfAtLeastTheMinimum) {
  for (size_t workers : {size_t{1}, size_t{3}}) {
    WorkerPool pool(workers);
    EXPECT_EQ(pool.concurrency(), workers + 1);
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{64}, size_t{1000}}) {
      std::vector<std::atomic<int>> seen(n);
      std::atomic<size_t> parts{0};
      ASSERT_TRUE(pool.ParallelFor(n, 10,
                                   [&](size_t begin, size_t end) {
                                     EXPECT_LT(begin, end);
                                     if (n >= 10) {
                                       EXPECT_GE(end - begin, 10u);
                                     }
                                     for (size_t i = begin; i < end; ++i) ++seen[i];
                                     ++parts;
                                     return absl::OkStatus();
                                   })
                      .ok());
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(seen[i], 1) << n << " " << i;
      if (n == 1000) {
        EXPECT_GT(parts.load(), 1u);
      }
    }
  }
}

TEST(WorkerPoolTest, ReturnsTheErrorOfTheLowestFailingPartAfterAllRan) {
  WorkerPool pool(3);
  std::atomic<size_t> done{0};
  absl::Status status = pool.ParallelFor(1600, 100, [&](size_t begin, size_t end) {
    done += end - begin;
    if (begin >= 800) return absl::InternalError("late " + std::to_string(begin));
    if (begin >= 400) return absl::InvalidArgumentError("early");
    return absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(done.load(), 1600u);
}

TEST(WorkerPoolTest, ServesManyCallersAtOnce) {
  WorkerPool pool(2);
  std::vector<std::thread> callers;
  std::atomic<size_t> total{0};
  for (int c = 0; c < 6; ++c) {
    callers.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        EXPECT_TRUE(pool.ParallelFor(300, 16,
                                     [&](size_t begin, size_t end) {
                                       total += end - begin;
                                       return absl::OkStatus();
                                     })
                        .ok());
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(total.load(), 6u * 50u * 300u);
}

TEST(WorkerPoolTest, APartThatThrowsFailsTheLoopOnceEveryPartHasRun) {
  WorkerPool pool(3);
  for (size_t thrower : {size_t{0}, size_t{700}, size_t{1500}}) {  // the caller's part or not
    SCOPED_TRACE(thrower);
    std::atomic<size_t> done{0};
    absl::Status status = pool.ParallelFor(1600, 100, [&](size_t begin, size_t end) {
      // The parts still running when one throws would use the caller's loop after it returned.
      std::this_thread::sleep_for(std::chrono::milliseconds(begin == 0 ? 0 : 5));
      done += end - begin;
      if (begin <= thrower && thrower < end) {
        if (thrower == 700) throw 7;  // not a std::exception
        throw std::runtime_error("part failed");
      }
      return absl::OkStatus();
    });
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
    EXPECT_EQ(done.load(), 1600u);
  }
  // Also with a single part, and without a pool.
  auto single = [](size_t, size_t) -> absl::Status { throw std::bad_alloc(); };
  EXPECT_EQ(pool.ParallelFor(5, 10, single).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ParallelFor(nullptr, 5, 10, single).code(), absl::StatusCode::kInternal);
}

// The task runs again and again, a period apart, on a thread of its own until destroyed.
TEST(PeriodicTaskTest, RunsTheTaskEveryPeriodUntilDestroyed) {
  std::atomic<int> runs{0};
  absl::Notification ran_twice;
  {
    PeriodicTask task(std::chrono::seconds(1), [&] {
      if (++runs == 2) ran_twice.Notify();
    });
    ran_twice.WaitForNotification();
  }
  const int runs_at_destruction = runs.load();
  EXPECT_GE(runs_at_destruction, 2);
  EXPECT_EQ(runs.load(), runs_at_destruction) << "the thread is joined: no run after";
}

// Destroying the task wakes its thread at once: a service stops without waiting out a period,
// and a task destroyed before its first period never runs.
TEST(PeriodicTaskTest, DestroyedBeforeItsFirstPeriodNeverRuns) {
  std::atomic<int> runs{0};
  {
    PeriodicTask task(std::chrono::hours(24), [&] { ++runs; });
  }
  EXPECT_EQ(runs.load(), 0);
}

TEST(WorkerPoolTest, WithoutAPoolRunsOnePartOnTheCaller) {
  size_t calls = 0;
  ASSERT_TRUE(ParallelFor(nullptr, 500, 10, [&](size_t begin, size_t end) {
                EXPECT_EQ(begin, 0u);
                EXPECT_EQ(end, 500u);
                ++calls;
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(calls, 1u);
}

}  // namespace
}  // namespace koppel
