// Gradients at init (issue 14), in layer-samples/s (one layer of one sample, forward and backward,
// is one unit): COLUMNS with its implicit-weight backward (SPEC §4a) against DENSE with explicit
// weights, paper A's standard block (softmax attention + ReLU MLP, post-LayerNorm), m = 8,
// depth 32, through the driver the CLI uses. bench/run_gradient_comparison.sh runs this beside the
// PyTorch autograd reference (bench/reference/gradients_torch.py) and prints the ratios.
#include <string>

#include <benchmark/benchmark.h>

#include "common/engine.h"
#include "oneapi/tbb/task_arena.h"

namespace sigprop {
namespace {

v1::RunSpec GradientRun(v1::RunSpec::Method method, int width, int samples, int depth) {
  v1::RunSpec run;
  run.set_method(method);
  run.set_samples(samples);
  run.set_seed(1);
  run.set_gradients(true);
  auto* model = run.mutable_model();
  model->set_tokens(8);
  model->set_width(width);
  model->set_depth(depth);
  model->set_preset(v1::ModelSpec::PAPER_A_STANDARD);
  model->mutable_initial()->set_rho0(0.2);
  return run;
}

// range(0): method (2 COLUMNS, 1 DENSE), range(1): width, range(2): threads, range(3): samples,
// range(4): depth.
void BM_Gradients(benchmark::State& state) {
  const auto method = static_cast<v1::RunSpec::Method>(state.range(0));
  const v1::RunSpec run =
      GradientRun(method, static_cast<int>(state.range(1)), static_cast<int>(state.range(3)),
                  static_cast<int>(state.range(4)));
  oneapi::tbb::task_arena arena(static_cast<int>(state.range(2)));
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

void OneThreadArgs(benchmark::internal::Benchmark* b) {
  for (int n : {64, 256, 512, 1024, 2048, 4096}) b->Args({v1::RunSpec::COLUMNS, n, 1, 8, 32});
  for (int n : {64, 256, 512, 1024, 2048}) b->Args({v1::RunSpec::DENSE, n, 1, 2, 32});
  // At n = 4096 a DENSE sample of depth 32 takes about 8 minutes: one sample of depth 4 measures
  // the same per-layer rate (the cost of a layer does not depend on the depth).
  b->Args({v1::RunSpec::DENSE, 4096, 1, 1, 4});
}
BENCHMARK(BM_Gradients)
    ->Apply(OneThreadArgs)
    ->ArgNames({"method", "n", "threads", "samples", "depth"})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();

// The wall-clock target: n = 4096, depth 64, 16 samples, 2 threads, in under 60 s.
BENCHMARK(BM_Gradients)
    ->Name("BM_GradientsTarget")
    ->ArgNames({"method", "n", "threads", "samples", "depth"})
    ->Args({v1::RunSpec::COLUMNS, 4096, 2, 16, 64})
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace
}  // namespace sigprop
