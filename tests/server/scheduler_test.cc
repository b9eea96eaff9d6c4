// The scheduler with real threads and a real task arena: fairness across sweeps, the queue bound,
// cancellation of queued and running points, shutdown, and survival of a throwing run_point.
// Synchronisation is by condition variables only; the timeouts are there to fail, not to wait.
#include "server/scheduler.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "oneapi/tbb/parallel_for.h"

namespace sigprop::server {
namespace {

constexpr auto kTimeout = std::chrono::seconds(10);

Scheduler::Options Sized(int threads, int max_concurrent_points, size_t max_queued_points = 100000) {
  Scheduler::Options options;
  options.threads = threads;
  options.max_concurrent_points = max_concurrent_points;
  options.max_queued_points = max_queued_points;
  return options;
}

std::vector<PointTask> Points(const std::string& sweep_id, int count) {
  std::vector<PointTask> tasks;
  for (int point = 0; point < count; ++point) tasks.push_back({sweep_id, "alice", point, {}});
  return tasks;
}

// What run_point saw, plus a gate that holds every call until opened.
class Recorder {
 public:
  void Record(const PointTask& task) {
    std::unique_lock<std::mutex> lock(mu_);
    calls_.push_back(absl::StrCat(task.sweep_id, task.point));
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    changed_.notify_all();
  }
  bool WaitForCalls(size_t count) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, kTimeout, [&] { return calls_.size() >= count; });
  }
  std::vector<std::string> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> calls_;
  bool open_ = false;
};

// Counts points that started and returned; each runs until its cancelled() turns true.
class CancellablePoints {
 public:
  void Run(const std::function<bool()>& cancelled) {
    Bump(started_);
    while (!cancelled()) std::this_thread::yield();
    Bump(returned_);
  }
  bool WaitStarted(int count) { return Wait(started_, count); }
  bool WaitReturned(int count) { return Wait(returned_, count); }
  int returned() {
    std::lock_guard<std::mutex> lock(mu_);
    return returned_;
  }

 private:
  void Bump(int& counter) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counter;
    changed_.notify_all();
  }
  bool Wait(const int& counter, int count) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, kTimeout, [&] { return counter >= count; });
  }
  std::mutex mu_;
  std::condition_variable changed_;
  int started_ = 0;
  int returned_ = 0;
};

TEST(SchedulerTest, RoundRobinLetsASmallSweepPassABigOne) {
  Recorder recorder;
  Scheduler scheduler(Sized(1, 1),
                      [&](const PointTask& task, oneapi::tbb::task_arena&,
                          const std::function<bool()>&) { recorder.Record(task); });
  ASSERT_TRUE(scheduler.Enqueue(Points("big", 1000)).ok());
  ASSERT_TRUE(recorder.WaitForCalls(1));  // big0 is running and held at the gate.
  ASSERT_TRUE(scheduler.Enqueue(Points("small", 2)).ok());
  recorder.Open();
  ASSERT_TRUE(recorder.WaitForCalls(1002));

  const std::vector<std::string> calls = recorder.calls();
  const std::vector<std::string> head(calls.begin(), calls.begin() + 6);
  EXPECT_EQ(head, (std::vector<std::string>{"big0", "big1", "small0", "big2", "small1", "big3"}));
  for (int i = 6; i < 1002; ++i) EXPECT_EQ(calls[i], absl::StrCat("big", i - 2));
}

TEST(SchedulerTest, BoundedQueueRefusesWholeBatchNamingTheLimit) {
  Recorder recorder;
  Scheduler scheduler(Sized(1, 1, 5),
                      [&](const PointTask& task, oneapi::tbb::task_arena&,
                          const std::function<bool()>&) { recorder.Record(task); });
  ASSERT_TRUE(scheduler.Enqueue(Points("a", 1)).ok());
  ASSERT_TRUE(recorder.WaitForCalls(1));  // a0 is out of the queue, held at the gate.

  const absl::Status too_many = scheduler.Enqueue(Points("b", 6));
  EXPECT_EQ(too_many.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(too_many.message().find("max_queued_points=5"), std::string::npos) << too_many;
  EXPECT_EQ(scheduler.queued(), 0u);

  ASSERT_TRUE(scheduler.Enqueue(Points("b", 5)).ok());
  EXPECT_EQ(scheduler.queued(), 5u);
  EXPECT_EQ(scheduler.Enqueue(Points("c", 1)).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(scheduler.queued(), 5u);

  recorder.Open();
  ASSERT_TRUE(recorder.WaitForCalls(6));
}

TEST(SchedulerTest, CancelSweepDropsQueuedAndStopsOnlyItsRunningPoints) {
  CancellablePoints points;
  Scheduler scheduler(Sized(2, 2),
                      [&](const PointTask&, oneapi::tbb::task_arena&,
                          const std::function<bool()>& cancelled) { points.Run(cancelled); });
  ASSERT_TRUE(scheduler.Enqueue(Points("a", 5)).ok());
  ASSERT_TRUE(points.WaitStarted(2));  // a0 and a1 run; a2..a4 wait.
  ASSERT_TRUE(scheduler.Enqueue(Points("b", 1)).ok());

  EXPECT_EQ(scheduler.CancelSweep("a"), 3);
  ASSERT_TRUE(points.WaitReturned(2));
  ASSERT_TRUE(points.WaitStarted(3));  // b0 takes a freed runner and keeps running.
  EXPECT_EQ(points.returned(), 2);
  EXPECT_EQ(scheduler.queued(), 0u);

  EXPECT_EQ(scheduler.CancelSweep("b"), 0);
  ASSERT_TRUE(points.WaitReturned(3));
  EXPECT_EQ(scheduler.CancelSweep("unknown"), 0);
}

TEST(SchedulerTest, ShutdownCancelsRunningPointsAndReturns) {
  CancellablePoints points;
  Scheduler scheduler(Sized(2, 2),
                      [&](const PointTask&, oneapi::tbb::task_arena&,
                          const std::function<bool()>& cancelled) { points.Run(cancelled); });
  ASSERT_TRUE(scheduler.Enqueue(Points("a", 3)).ok());
  ASSERT_TRUE(points.WaitStarted(2));

  scheduler.Shutdown(/*cancel_running=*/true);
  EXPECT_EQ(points.returned(), 2);  // The third point never started.
  EXPECT_EQ(scheduler.running(), 0);
  EXPECT_EQ(scheduler.queued(), 0u);
  EXPECT_EQ(scheduler.Enqueue(Points("b", 1)).code(), absl::StatusCode::kUnavailable);
  scheduler.Shutdown(/*cancel_running=*/true);  // Idempotent.
}

TEST(SchedulerTest, ThrowingRunPointDoesNotStopTheRunner) {
  Recorder recorder;
  recorder.Open();
  Scheduler scheduler(Sized(1, 1),
                      [&](const PointTask& task, oneapi::tbb::task_arena&,
                          const std::function<bool()>&) {
                        recorder.Record(task);
                        if (task.point == 0) throw std::runtime_error("engine blew up");
                      });
  ASSERT_TRUE(scheduler.Enqueue(Points("a", 3)).ok());
  ASSERT_TRUE(recorder.WaitForCalls(3));
  EXPECT_EQ(recorder.calls(), (std::vector<std::string>{"a0", "a1", "a2"}));
}

TEST(SchedulerTest, RunPointGetsTheSharedArenaOfTheConfiguredConcurrency) {
  std::mutex mu;
  std::condition_variable done;
  std::vector<int> concurrency;
  std::vector<long> sums;
  Scheduler scheduler(Sized(3, 2),
                      [&](const PointTask&, oneapi::tbb::task_arena& arena,
                          const std::function<bool()>&) {
                        std::atomic<long> sum{0};
                        arena.execute([&] {
                          oneapi::tbb::parallel_for(0, 1000, [&](int i) { sum += i; });
                        });
                        std::lock_guard<std::mutex> lock(mu);
                        concurrency.push_back(arena.max_concurrency());
                        sums.push_back(sum.load());
                        done.notify_all();
                      });
  ASSERT_TRUE(scheduler.Enqueue(Points("a", 4)).ok());
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(done.wait_for(lock, kTimeout, [&] { return sums.size() == 4; }));
  EXPECT_EQ(concurrency, (std::vector<int>{3, 3, 3, 3}));
  EXPECT_EQ(sums, (std::vector<long>{499500, 499500, 499500, 499500}));
}

}  // namespace
}  // namespace sigprop::server
