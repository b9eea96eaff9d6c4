// Throughput of the DENSE reference sampler in layer-samples/s (one layer of one sample = one unit),
// through the same driver the CLI uses. m = 8 tokens, n = 256: softmax attention + ReLU MLP,
// post-LayerNorm (PAPER_A_STANDARD), forward only and with gradients.
#include <benchmark/benchmark.h>

#include "common/engine.h"
#include "oneapi/tbb/task_arena.h"

namespace sigprop {
namespace {

v1::RunSpec DenseRun(int width, bool gradients) {
  v1::RunSpec run;
  run.set_method(v1::RunSpec::DENSE);
  run.set_samples(8);
  run.set_seed(1);
  run.set_gradients(gradients);
  auto* model = run.mutable_model();
  model->set_tokens(8);
  model->set_width(width);
  model->set_depth(8);
  model->set_preset(v1::ModelSpec::PAPER_A_STANDARD);
  model->mutable_initial()->set_rho0(0.2);
  return run;
}

void BM_Dense(benchmark::State& state) {
  const int width = static_cast<int>(state.range(0));
  const bool gradients = state.range(1) != 0;
  const int threads = static_cast<int>(state.range(2));
  const v1::RunSpec run = DenseRun(width, gradients);
  oneapi::tbb::task_arena arena(threads);
  RunContext context;
  context.arena = &arena;
  for (auto _ : state) {
    auto table = SimulateSamples(run, 0, context);
    if (!table.ok()) state.SkipWithError(std::string(table.status().message()).c_str());
    benchmark::DoNotOptimize(table);
  }
  state.counters["layer_samples_per_s"] = benchmark::Counter(
      static_cast<double>(run.samples()) * run.model().depth() * state.iterations(),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Dense)
    ->ArgNames({"n", "gradients", "threads"})
    ->Args({256, 0, 1})
    ->Args({256, 1, 1})
    ->Args({256, 0, 2})
    ->Args({256, 1, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace sigprop
