// Throughput of method SDE in path-steps/s (one Euler–Maruyama step of one path = one unit), m = 8
// tokens, shaped transformer (both blocks, so every drift and noise term runs), T = 0.5 at Δt = 1/256.
// BM_SdeEngine goes through the engine's driver and statistics, as the CLI does; BM_SdeKernel is
// the sampler alone on one batch of paths, the unit bench/reference/sde_numpy.py measures
// (increments drawn from Philox inside, no statistics); BM_SdePathKernel is the one-path scheme it
// replaced. bench/run_sde_comparison.sh runs them against NumPy.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "common/engine.h"
#include "common/model_plan.h"
#include "common/rng.h"
#include "common/sde/batched_euler_maruyama.h"
#include "common/sde/euler_maruyama.h"
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

// The model's covariance SDE; none (the benchmark skipped with the reason) where it has none.
std::optional<CovarianceSde> SdeOf(const ModelPlan& plan, benchmark::State& state) {
  auto sde = CovarianceSde::FromPlan(plan);
  if (!sde.ok()) {
    state.SkipWithError(std::string(sde.status().message()).c_str());
    return std::nullopt;
  }
  return *std::move(sde);
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

// The engine's unit of work: SdeSampler::kMaxBatch paths through the batched kernel.
void BM_SdeKernel(benchmark::State& state) {
  const v1::RunSpec run = SdeRun(1);
  auto sampler = SdeSampler::Create(ResolveModel(run.model()), run.sde());
  if (!sampler.ok()) {
    state.SkipWithError(std::string(sampler.status().message()).c_str());
    return;
  }
  constexpr int kPaths = SdeSampler::kMaxBatch;
  uint32_t sample = 0;
  for (auto _ : state) {
    TerminalOnly observers[kPaths];
    SampleObserver* pointers[kPaths];
    for (int p = 0; p < kPaths; ++p) pointers[p] = &observers[p];
    auto status = sampler->SampleBatch({1, 0, sample}, pointers, kPaths);
    sample += kPaths;
    benchmark::DoNotOptimize(status);
  }
  state.counters["path_steps_per_s"] = benchmark::Counter(
      static_cast<double>(kDepth) * kPaths * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SdeKernel)->Unit(benchmark::kMicrosecond);

// One step of the batched kernel's eight paths, for each instruction set this CPU has (isa: 0 SSE2,
// 1 AVX2, 2 AVX-512), increments fixed (drawn once), the paths restarted from V0 every kDepth
// steps; per path-step (items).
void BM_SdeStep(benchmark::State& state) {
  const auto isa = static_cast<SdeIsa>(state.range(0));
  const std::vector<SdeIsa> supported = SupportedSdeIsas();
  if (std::find(supported.begin(), supported.end(), isa) == supported.end()) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  const ModelPlan plan = ResolveModel(SdeRun(1).model());
  const std::optional<CovarianceSde> sde = SdeOf(plan, state);
  if (!sde) return;
  BatchedEulerMaruyama kernel(*sde, 1.0 / kWidth, Positivity::kEigenFloor, isa);
  std::vector<double> gaussians(static_cast<size_t>(kernel.gaussians_per_step()) * kSdeLanes *
                                kDepth);
  RandomStream stream(1, 0, 0, 0);
  for (double& g : gaussians) g = stream.Gaussian();
  const size_t per_step = static_cast<size_t>(kernel.gaussians_per_step()) * kSdeLanes;
  int step = 0;
  for (auto _ : state) {
    if (step % kDepth == 0) kernel.Reset(plan.v0, kSdeLanes);
    benchmark::DoNotOptimize(kernel.Step(gaussians.data() + (step % kDepth) * per_step));
    ++step;
  }
  state.SetItemsProcessed(state.iterations() * kSdeLanes);
}
BENCHMARK(BM_SdeStep)->ArgName("isa")->DenseRange(0, 2);

// The one-path scheme (euler_maruyama.h, RandomStream::GaussianZigguratOneWord increments) that the
// batched kernel replaced, for the ratio in the same run.
void BM_SdePathKernel(benchmark::State& state) {
  const ModelPlan plan = ResolveModel(SdeRun(1).model());
  const std::optional<CovarianceSde> sde = SdeOf(plan, state);
  if (!sde) return;
  const double dt = 1.0 / kWidth;
  BrownianIncrement db(kTokens);
  uint32_t sample = 0;
  for (auto _ : state) {
    SdePathState path(plan.v0);
    for (int layer = 1; layer <= kDepth; ++layer) {
      RandomStream stream(1, 0, sample, static_cast<uint32_t>(layer));
      db.Draw(stream, dt, sde->has_attention_noise());
      if (EulerMaruyamaStep(*sde, dt, db, Positivity::kEigenFloor, &path) ==
          StepOutcome::kDiverged) {
        break;
      }
    }
    benchmark::DoNotOptimize(path.v.data());
    ++sample;
  }
  state.counters["path_steps_per_s"] = benchmark::Counter(
      static_cast<double>(kDepth) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SdePathKernel)->Unit(benchmark::kMicrosecond);

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
