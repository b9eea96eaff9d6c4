#include "server/point_runner.h"

#include "absl/strings/str_cat.h"
#include "common/compare.h"
#include "common/engine.h"

namespace sigprop::server {

PointRunner::PointRunner(JobStore* store, EventHub* hub, const std::atomic<bool>* shutting_down,
                         std::function<void(const std::string&)> on_sweep_failed)
    : store_(store),
      hub_(hub),
      shutting_down_(shutting_down),
      on_sweep_failed_(std::move(on_sweep_failed)) {}

absl::Status PointRunner::Append(const std::string& sweep_id, int point, v1::Event event) {
  event.set_point(point);
  auto stored = store_->AppendEvent(sweep_id, std::move(event));
  if (!stored.ok()) return stored.status();
  hub_->Notify(sweep_id);
  return absl::OkStatus();
}

void PointRunner::Fail(const PointTask& task, const absl::Status& status) {
  v1::Event error;
  error.mutable_error()->set_code(static_cast<int>(status.code()));
  error.mutable_error()->set_message(std::string(status.message()));
  // Best effort: if the store itself failed, these fail too, and the point stays unfinished so a
  // restarted server runs it again.
  (void)Append(task.sweep_id, task.point, std::move(error));
  (void)store_->SetPointState(task.sweep_id, task.point, PointState::kFailed);
  {
    absl::MutexLock lock(&finish_mutex_);
    auto sweep = store_->GetSweep(task.sweep_id);
    if (sweep.ok() && !IsTerminal(sweep->state)) {
      (void)store_->SetSweepState(task.sweep_id, v1::SweepStatus::FAILED,
                                  std::string(status.message()));
    }
  }
  hub_->Notify(task.sweep_id);
  on_sweep_failed_(task.sweep_id);
}

absl::Status PointRunner::CancelSweep(const std::string& sweep_id) {
  absl::MutexLock lock(&finish_mutex_);
  auto sweep = store_->GetSweep(sweep_id);
  if (!sweep.ok()) return sweep.status();
  if (IsTerminal(sweep->state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("sweep ", sweep_id, " already ended: ",
                     v1::SweepStatus::State_Name(sweep->state)));
  }
  auto finished = store_->SetSweepState(sweep_id, v1::SweepStatus::CANCELLED, "cancelled by the user");
  if (!finished.ok()) return finished.status();
  hub_->Notify(sweep_id);
  return absl::OkStatus();
}

void PointRunner::FinishIfComplete(const std::string& sweep_id) {
  {
    absl::MutexLock lock(&finish_mutex_);
    FinishSweepIfComplete(sweep_id);
  }
  hub_->Notify(sweep_id);
}

void PointRunner::FinishSweepIfComplete(const std::string& sweep_id) {
  auto sweep = store_->GetSweep(sweep_id);
  if (!sweep.ok()) return;
  if (sweep->points_done < sweep->points_total) return;
  if (IsTerminal(sweep->state)) return;
  (void)store_->SetSweepState(sweep_id, v1::SweepStatus::SUCCEEDED, "");
}

void PointRunner::Run(const PointTask& task, oneapi::tbb::task_arena& arena,
                      const std::function<bool()>& cancelled) {
  if (auto st = store_->SetPointState(task.sweep_id, task.point, PointState::kRunning); !st.ok()) {
    return Fail(task, st);
  }
  {
    absl::MutexLock lock(&finish_mutex_);
    auto sweep = store_->GetSweep(task.sweep_id);
    if (sweep.ok() && sweep->state == v1::SweepStatus::QUEUED) {
      (void)store_->SetSweepState(task.sweep_id, v1::SweepStatus::RUNNING, "");
    }
  }
  const bool comparison = task.planned.has_compare();
  v1::Event started;
  if (comparison) {
    *started.mutable_point_started()->mutable_compare() = task.planned.compare();
  } else {
    *started.mutable_point_started()->mutable_spec() = task.planned.run();
  }
  if (auto st = Append(task.sweep_id, task.point, std::move(started)); !st.ok()) {
    return Fail(task, st);
  }

  RunContext context;
  context.arena = &arena;
  context.cancelled = cancelled;
  context.progress = [&](int done, int total) {
    v1::Event progress;
    progress.mutable_progress()->set_samples_done(done);
    progress.mutable_progress()->set_samples_total(total);
    (void)Append(task.sweep_id, task.point, std::move(progress));
  };
  // Provisional rows are events only (stored, so a cancelled or failed point keeps them); the
  // final rows replace them in Results.
  if (!comparison) {
    // One transaction per set, so a cancel between rows cannot leave half a set.
    context.provisional = [&](std::vector<v1::LayerStats> rows) {
      std::vector<v1::Event> events(rows.size());
      for (size_t i = 0; i < rows.size(); ++i) {
        events[i].set_point(task.point);
        *events[i].mutable_layer() = std::move(rows[i]);
      }
      if (store_->AppendEvents(task.sweep_id, std::move(events)).ok()) hub_->Notify(task.sweep_id);
    };
  }

  std::vector<v1::LayerStats> layers;
  std::vector<v1::CompareRow> rows;
  absl::Status ran;
  if (comparison) {
    ComparePoint point{task.point, task.planned.compare(), task.planned.label()};
    auto compared = RunComparison(point, context);
    ran = compared.status();
    if (compared.ok()) rows = *std::move(compared);
  } else {
    auto simulated = SimulateRows(task.planned.run(), task.point, context);
    ran = simulated.status();
    if (simulated.ok()) layers = *std::move(simulated);
  }
  if (!ran.ok()) {
    if (ran.code() == absl::StatusCode::kCancelled) {
      // Shutdown: the point stays RUNNING and is re-run by the next server on this db.
      // A user's Cancel already marked the sweep CANCELLED.
      if (!shutting_down_->load()) {
        (void)store_->SetPointState(task.sweep_id, task.point, PointState::kCancelled);
      }
      return;
    }
    return Fail(task, ran);
  }
  absl::Status stored;
  {
    absl::MutexLock lock(&finish_mutex_);
    auto sweep = store_->GetSweep(task.sweep_id);
    if (!sweep.ok()) {
      stored = sweep.status();
    } else if (IsTerminal(sweep->state)) {
      return;  // Cancelled while this point ran: its results are not wanted.
    } else {
      stored = comparison ? store_->CompleteComparePoint(task.sweep_id, task.point, rows).status()
                          : store_->CompletePoint(task.sweep_id, task.point, layers).status();
      if (stored.ok()) FinishSweepIfComplete(task.sweep_id);
    }
  }
  if (!stored.ok()) return Fail(task, stored);
  hub_->Notify(task.sweep_id);
}

}  // namespace sigprop::server
