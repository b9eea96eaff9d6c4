// Throughput of the per-sample kernels in layer-samples per second (issue 4), by method and width,
// m = 8, for shaped attention alone and the full shaped block (shaped attention + shaped ReLU MLP,
// EXACT), and of the parallel driver by thread count. One process, so ratios compare. The kernels
// run on the benchmark's thread and are timed by its CPU time (the rate of one core, robust on a
// shared machine); the driver benchmark is timed by wall-clock time.
//
//   sampler_bench --benchmark_counters_tabular=true --benchmark_out=bench.json
#include <algorithm>
#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/engine.h"
#include "common/finite/columns_sampler.h"
#include "common/finite/dense_sampler.h"
#include "common/finite/gram_sampler.h"
#include "common/model_plan.h"
#include "common/rng.h"
#include "oneapi/tbb/task_arena.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {
namespace {

constexpr int kTokens = 8;

enum Method { kDense, kColumns, kGram };

class NullObserver final : public SampleObserver {
 public:
  void OnCovariance(int, const Matrix& v) override { benchmark::DoNotOptimize(v.data()); }
  void OnGradients(int, const GradientNorms&) override {}
  void OnDiverged(int layer) override { diverged_at = layer; }
  bool WantsLayer(int) const override { return false; }
  bool Cancelled() const override { return false; }
  int diverged_at = 0;  // The layer a sample stopped at, 0 if it ran to the end.
};

v1::ModelSpec Model(int width, int depth, bool mlp) {
  v1::ModelSpec model;
  model.set_preset(mlp ? v1::ModelSpec::SHAPED_TRANSFORMER : v1::ModelSpec::SHAPED_ATTENTION_ONLY);
  model.set_tokens(kTokens);
  model.set_width(width);
  model.set_depth(depth);
  model.mutable_initial()->set_rho0(0.2);
  return model;
}

// Enough layers per sample that the per-sample setup (X_0's QR for DENSE and COLUMNS) is noise;
// at most T = d/n = 1, where few shaped-transformer samples diverge (those that do count the
// layers they ran).
int Depth(Method method, int width) {
  if (method == kGram) return 64;
  if (method == kColumns) return std::max(2, 1 << 20 >> __builtin_ctz(width));
  return 2;
}

// Gaussians per second of the two fixed transforms, batched as the samplers call them: 8 rows of
// 256 (the exact MLP's hidden chunk at m = 8).
void BM_FillGaussian(benchmark::State& state) {
  const bool ziggurat = state.range(0) != 0;
  RandomStream stream(2026, 0, 0, 1);
  std::vector<double> out(8 * 256);
  for (auto _ : state) {
    if (ziggurat) {
      stream.FillGaussianZigguratOneWord(out.data(), out.size());
    } else {
      stream.FillGaussian(out.data(), out.size());
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["gaussians_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * out.size()), benchmark::Counter::kIsRate);
  state.SetLabel(ziggurat ? "one-word ziggurat" : "box-muller");
}
BENCHMARK(BM_FillGaussian)->ArgName("ziggurat")->Arg(0)->Arg(1);

void BM_Sampler(benchmark::State& state) {
  const auto method = static_cast<Method>(state.range(0));
  const int width = static_cast<int>(state.range(1));
  const bool mlp = state.range(2) != 0;
  const int depth = Depth(method, width);
  const ModelPlan plan = ResolveModel(Model(width, depth, mlp));
  SampleCoordinates at{2026, 0, 0};
  int64_t layers = 0;
  for (auto _ : state) {
    NullObserver observer;
    absl::Status status = method == kDense     ? SampleDense(plan, at, false, observer)
                          : method == kColumns ? SampleColumns(plan, at, observer)
                                               : SampleGram(plan, at, observer);
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
    layers += observer.diverged_at > 0 ? observer.diverged_at : depth;
    ++at.sample;
  }
  state.counters["layer_samples_per_s"] =
      benchmark::Counter(static_cast<double>(layers), benchmark::Counter::kIsRate);
  state.SetLabel(std::string(method == kDense ? "dense" : method == kColumns ? "columns" : "gram") +
                 (mlp ? " full block" : " attention"));
}

void SamplerArgs(benchmark::internal::Benchmark* b) {
  for (int mlp : {0, 1}) {
    for (int method : {kGram, kColumns, kDense}) {
      for (int width : {64, 256, 1024, 4096, 16384, 65536}) {
        if (method == kDense && width > 1024) continue;  // O(m n²): minutes a layer beyond.
        b->Args({method, width, mlp});
      }
    }
  }
}
BENCHMARK(BM_Sampler)->Apply(SamplerArgs)->ArgNames({"method", "n", "mlp"})
    ->Unit(benchmark::kMillisecond);

// The TBB driver (SimulateSamples: arena, per-sample observers, ordered table) at 1…16 threads,
// GRAM full block at n = 4096.
void BM_DriverThreads(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  v1::RunSpec run;
  *run.mutable_model() = Model(4096, 32, true);
  run.set_method(v1::RunSpec::GRAM);
  run.set_samples(256);
  run.set_seed(7);
  run.set_record_every(32);
  oneapi::tbb::task_arena arena(threads);
  RunContext context;
  context.arena = &arena;
  int64_t layers = 0;
  for (auto _ : state) {
    auto table = SimulateSamples(run, 0, context);
    if (!table.ok()) {
      state.SkipWithError(std::string(table.status().message()).c_str());
      break;
    }
    layers += int64_t{run.samples()} * run.model().depth();
  }
  state.counters["layer_samples_per_s"] =
      benchmark::Counter(static_cast<double>(layers), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DriverThreads)->ArgName("threads")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(16)
    ->UseRealTime()->Unit(benchmark::kMillisecond);
// The same timed by the process's CPU time (all threads): on a machine shared with other work,
// where wall-clock scaling says more about the neighbours, rate(t) / rate(1) is the parallel
// efficiency the driver would reach on t idle cores (it counts scheduling, spinning and
// imbalance-free overhead, not memory-bandwidth contention or idle waiting for a straggler).
BENCHMARK(BM_DriverThreads)->Name("BM_DriverThreadsProcessCpu")->ArgName("threads")->Arg(1)
    ->Arg(2)->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sigprop
