// Runs one sweep point for the scheduler: calls the engine (common/engine.h) for a SweepSpec's
// point, or both runs and the distances (common/compare.h) for a comparison's, stores what it
// produces, and announces each stored event on the hub. A point's final rows are stored in one
// transaction together with its PointFinished event, so a crash mid-point leaves none of them and
// the restarted server re-runs it from scratch (same spec and seed, so the same bytes). Provisional
// rows (RunSpec.provisional_every) are events stored as they come; a re-run appends them again.
#ifndef SIGPROP_SERVER_POINT_RUNNER_H_
#define SIGPROP_SERVER_POINT_RUNNER_H_

#include <atomic>
#include <functional>

#include "absl/synchronization/mutex.h"
#include "oneapi/tbb/task_arena.h"
#include "server/event_hub.h"
#include "server/job_store.h"
#include "server/scheduler.h"

namespace sigprop::server {

class PointRunner {
 public:
  // `on_sweep_failed(sweep_id)` drops the failed sweep's other queued points.
  PointRunner(JobStore* store, EventHub* hub, const std::atomic<bool>* shutting_down,
              std::function<void(const std::string&)> on_sweep_failed);

  void Run(const PointTask& task, oneapi::tbb::task_arena& arena,
           const std::function<bool()>& cancelled);

  // Marks the sweep CANCELLED (appending its SweepFinished event) unless it already ended:
  // FAILED_PRECONDITION then, naming the state. Serialised with point completion, so no point's
  // results are stored after a sweep's SweepFinished event.
  absl::Status CancelSweep(const std::string& sweep_id);
  // Marks the sweep SUCCEEDED if every point is done and it has not ended (restart recovery).
  void FinishIfComplete(const std::string& sweep_id);

 private:
  // Appends an event and announces it; store failures are reported to the caller.
  absl::Status Append(const std::string& sweep_id, int point, v1::Event event);
  void Fail(const PointTask& task, const absl::Status& status);
  // Marks the sweep SUCCEEDED once its last point is done (exactly one SweepFinished event).
  void FinishSweepIfComplete(const std::string& sweep_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(finish_mutex_);

  JobStore* const store_;
  EventHub* const hub_;
  const std::atomic<bool>* const shutting_down_;
  const std::function<void(const std::string&)> on_sweep_failed_;
  // Guards every change of a sweep's state and the storing of a point's results.
  absl::Mutex finish_mutex_;
};

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_POINT_RUNNER_H_
