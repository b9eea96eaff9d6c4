// Runs sweep points on a bounded pool, fairly across sweeps.
//
// Why it looks like this:
// - One FIFO per sweep and a round-robin over the sweeps that have work: each dispatch takes the
//   next point of the next sweep, so a sweep of 1000 points submitted first cannot starve a sweep of
//   2 submitted after it (its points start within the next dispatches).
// - `max_concurrent_points` runner threads each run one point at a time; inside a point the samples
//   go in parallel on one oneTBB task_arena of `threads` slots owned here, so the total CPU use is
//   bounded by --threads however many points run at once.
// - The queue is bounded (`max_queued_points`): an Enqueue that would exceed it queues nothing and
//   is RESOURCE_EXHAUSTED naming the limit, so the caller can refuse the whole sweep.
// - Cancellation is cooperative: a running point's `cancelled()` turns true and the engine polls it
//   once per layer. Queued points of a cancelled sweep are dropped without running.
// - The scheduler keeps no durable state: after a restart the service re-enqueues the store's
//   unfinished points. Exceptions escaping run_point are swallowed here (the service stores its
//   own failures); a runner survives them.
#ifndef SIGPROP_SERVER_SCHEDULER_H_
#define SIGPROP_SERVER_SCHEDULER_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "oneapi/tbb/task_arena.h"
#include "sigprop/v1/plan.pb.h"

namespace sigprop::server {

// One point of a stored sweep, as its plan (common/sweep_plan.h) gave it.
struct PointTask {
  std::string sweep_id;
  std::string owner;
  int point = 0;
  v1::PlannedPoint planned;  // run (a SweepSpec's point) or compare (a CompareSweep's).
};

class Scheduler {
 public:
  // Runs one point to completion (supplied by the service: it calls the engine and stores the
  // results). `cancelled()` turns true when the sweep is cancelled or on Shutdown(true); the engine
  // polls it once per layer.
  using RunPoint = std::function<void(const PointTask&, oneapi::tbb::task_arena& arena,
                                      const std::function<bool()>& cancelled)>;
  struct Options {
    int threads = 1;                // Slots of the task arena; values < 1 mean 1.
    int max_concurrent_points = 0;  // Runner threads; 0 means `threads`.
    size_t max_queued_points = 100000;
  };

  Scheduler(Options options, RunPoint run_point);
  ~Scheduler();  // Shutdown(true).
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues the points (normally one sweep's) at the back of their sweeps' FIFOs. RESOURCE_EXHAUSTED
  // naming the limit ("max_queued_points=N") if the bound would be exceeded, and nothing is queued;
  // UNAVAILABLE after Shutdown.
  absl::Status Enqueue(std::vector<PointTask> tasks);
  // Drops the sweep's queued points and signals its running ones; returns how many were dropped.
  int CancelSweep(const std::string& sweep_id);
  // Stops dispatching (queued points are dropped); with cancel_running, signals running points;
  // waits for the runners to return. Idempotent.
  void Shutdown(bool cancel_running);

  size_t queued() const;
  int running() const;
  // The arena every simulation runs on, for work that is not a queued point (Compare calls), so
  // the CPU bound of --threads holds for all of it.
  oneapi::tbb::task_arena& arena() { return arena_; }

 private:
  struct Running {
    std::string sweep_id;
    std::shared_ptr<std::atomic<bool>> cancelled;
  };

  void RunnerLoop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const RunPoint run_point_;
  oneapi::tbb::task_arena arena_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::deque<PointTask>> queues_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> rotation_ ABSL_GUARDED_BY(mu_);  // Sweeps with queued points, in turn.
  size_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  std::list<Running> running_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> shutdown_cancel_{false};

  absl::Mutex join_mu_;  // Serialises Shutdown callers around the joins.
  std::vector<std::thread> runners_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_SCHEDULER_H_
