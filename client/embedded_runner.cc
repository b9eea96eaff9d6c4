#include "client/embedded_runner.h"

#include <thread>

#include "common/engine.h"
#include "common/sweep_expansion.h"
#include "common/validate.h"
#include "oneapi/tbb/task_arena.h"

namespace sigprop::cli {

absl::Status RunEmbedded(const v1::SweepSpec& sweep, const EmbeddedOptions& options,
                         const std::atomic<bool>& cancel,
                         const std::function<void(const v1::Event&)>& on_event) {
  if (auto status = ValidateSweep(sweep, Limits{}); !status.ok()) return status;
  auto points = ExpandSweep(sweep);
  if (!points.ok()) return points.status();

  const int threads = options.threads > 0 ? options.threads
                                          : static_cast<int>(std::thread::hardware_concurrency());
  oneapi::tbb::task_arena arena(std::max(1, threads));
  int64_t sequence = 0;
  auto emit = [&](int point, v1::Event event) {
    event.set_sweep_id("embedded");
    event.set_sequence(++sequence);
    event.set_point(point);
    on_event(event);
  };

  for (const SweepPoint& point : *points) {
    if (point.index % options.shard_count != options.shard_index) continue;
    v1::Event started;
    *started.mutable_point_started()->mutable_spec() = point.spec;
    emit(point.index, started);

    RunContext context;
    context.arena = &arena;
    context.cancelled = [&cancel] { return cancel.load(std::memory_order_relaxed); };
    context.progress = [&](int done, int total) {
      v1::Event progress;
      progress.mutable_progress()->set_samples_done(done);
      progress.mutable_progress()->set_samples_total(total);
      emit(point.index, progress);
    };
    auto table = SimulateSamples(point.spec, point.index, context);
    if (!table.ok()) {
      v1::Event finished;
      finished.mutable_sweep_finished()->set_state(table.status().code() ==
                                                           absl::StatusCode::kCancelled
                                                       ? v1::SweepFinished::CANCELLED
                                                       : v1::SweepFinished::FAILED);
      emit(point.index, finished);
      return table.status();
    }
    const auto layers = Aggregate(*table, point.spec, point.index);
    for (const auto& stats : layers) {
      v1::Event event;
      *event.mutable_layer() = stats;
      emit(point.index, event);
    }
    v1::Event finished;
    finished.mutable_point_finished()->set_layers(static_cast<int>(layers.size()));
    emit(point.index, finished);
  }
  v1::Event done;
  done.mutable_sweep_finished()->set_state(v1::SweepFinished::SUCCEEDED);
  emit(0, done);
  return absl::OkStatus();
}

}  // namespace sigprop::cli
