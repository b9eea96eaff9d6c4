// Throughput of method SDE in path-steps/s (one Euler–Maruyama step of one path = one unit), m = 8
// tokens, shaped transformer (both blocks, so every drift and noise term runs), T = 0.5 at Δt = 1/256.
// BM_SdeEngine goes through the engine's driver and statistics, as the CLI does; BM_SdeKernel is
// the per-path kernel alone, the unit bench/reference/sde_numpy.py measures (increments drawn
// from Philox inside, no statistics). bench/run_sde_comparison.sh runs both against NumPy.
#include <benchmark/benchmark.h>

#include "common/engine.h"
#include "common/model_plan.h"
#include "common/sde/sde_sampler.h"
#include "oneapi/tbb/task_arena.h"

namespace sigprop {
namespace {

constexpr int kTokens = 8, kWidth = 256, kDepth = 128;

v1::RunSpec SdeRun(int samples) {
  v1::RunSpec run;
  run.set_method(v1::RunSpec::SDE);
  run.set_samples(samples);
  run.set_seed(1);
  auto* model = run.mutable_model();
  model->set_tokens(kTokens);
  model->set_width(kWidth);
  model->set_depth(kDepth);
  model->set_preset(v1::ModelSpec::SHAPED_TRANSFORMER);
  model->mutable_initial()->set_rho0(0.2);
  return run;
}

// Reports nothing but the terminal layer, so the kernel's own cost is what is timed.
class TerminalOnly final : public SampleObserver {
 public:
  void OnCovariance(int layer, const Matrix& v) override {
    if (layer == kDepth) benchmark::DoNotOptimize(v.data());
  }
  void OnGradients(int, const GradientNorms&) override {}
  void OnDiverged(int) override {}
  bool WantsLayer(int layer) const override { return layer == kDepth; }
  bool Cancelled() const override { return false; }
};

void BM_SdeKernel(benchmark::State& state) {
  const v1::RunSpec run = SdeRun(1);
  auto sampler = SdeSampler::Create(ResolveModel(run.model()), run.sde());
  if (!sampler.ok()) {
    state.SkipWithError(std::string(sampler.status().message()).c_str());
    return;
  }
  uint32_t sample = 0;
  for (auto _ : state) {
    TerminalOnly observer;
    auto status = sampler->Sample({1, 0, sample++}, observer);
    benchmark::DoNotOptimize(status);
  }
  state.counters["path_steps_per_s"] = benchmark::Counter(
      static_cast<double>(kDepth) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SdeKernel)->Unit(benchmark::kMicrosecond);

void BM_SdeEngine(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const v1::RunSpec run = SdeRun(512);
  oneapi::tbb::task_arena arena(threads);
  RunContext context;
  context.arena = &arena;
  for (auto _ : state) {
    auto table = SimulateSamples(run, 0, context);
    if (!table.ok()) state.SkipWithError(std::string(table.status().message()).c_str());
    benchmark::DoNotOptimize(table);
  }
  state.counters["path_steps_per_s"] = benchmark::Counter(
      static_cast<double>(run.samples()) * kDepth * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SdeEngine)->ArgNames({"threads"})->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sigprop
