// Per-sample statistics of one covariance V (issue 18): the default set, whose log_det and
// stable_rank come from V's tridiagonal form (extreme_eigenvalues.h), against the same with
// `eigenvalues` on (one full symmetric eigensolve), the same eight at a time in SIMD lanes, and
// the attention summary's gap. Wishart V
// (m × 3m Gaussian factor), 1024 different matrices cycled so the branch predictor and caches see
// a realistic mix. Results: bench/RESULTS.md.
//   taskset -c 0 build/release/bench/stats_bench
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <Eigen/SVD>
#include <benchmark/benchmark.h>

#include "common/finite/attention_matrix.h"
#include "common/cpu_features.h"
#include "common/stats/covariance_stats.h"
#include "common/stats/covariance_stats_lanes.h"
#include "common/stats/extreme_eigenvalues.h"
#include "common/stats/summary.h"

namespace sigprop {
namespace {

std::vector<Matrix> Wisharts(int m) {
  std::mt19937_64 rng(18);
  std::normal_distribution<double> normal;
  std::vector<Matrix> out;
  for (int t = 0; t < 1024; ++t) {
    Matrix x(m, 3 * m);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < 3 * m; ++j) x(i, j) = normal(rng) + 0.7 * (t % 3) * (j % 5);
    out.push_back(x * x.transpose() / x.cols());
  }
  return out;
}

// One head's attention matrix: rows exp(u)/Σ exp(u), u uniform on [0, 3).
Matrix SoftmaxLikeAttention(int m) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> uniform(0.0, 3.0);
  Matrix a(m, m);
  for (int r = 0; r < m; ++r) {
    for (int c = 0; c < m; ++c) a(r, c) = std::exp(uniform(rng));
    a.row(r) /= a.row(r).sum();
  }
  return a;
}

void BM_CovarianceStats(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  CovarianceStatOptions options;
  options.eigenvalues = state.range(1) != 0;
  const std::vector<Matrix> vs = Wisharts(m);
  std::vector<double> out(CovarianceStatNames(m, options).size());
  size_t i = 0;
  for (auto _ : state) {
    ComputeCovarianceStats(vs[i++ % vs.size()], options, out.data());
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_CovarianceStats)
    ->ArgNames({"m", "eigenvalues"})
    ->ArgsProduct({{4, 8, 16, 32}, {0, 1}});

// The same statistics eight matrices at a time in SIMD lanes (covariance_stats_lanes.h), as the
// SDE's batch of paths gets them; per matrix (items), for each instruction set this CPU has
// (isa: 0 SSE2, 1 AVX2, 2 AVX-512).
void BM_CovarianceStatsLanes(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const auto isa = static_cast<VectorIsa>(state.range(1));
  const std::vector<VectorIsa> supported = SupportedVectorIsas();
  if (std::find(supported.begin(), supported.end(), isa) == supported.end()) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  const std::vector<Matrix> vs = Wisharts(m);
  struct alignas(64) Lanes {
    double v[kMaxLaneTokens * kMaxLaneTokens * kLanes];
  };
  std::vector<Lanes> batches(vs.size() / kLanes);
  for (size_t b = 0; b < batches.size(); ++b) {
    for (int p = 0; p < kLanes; ++p) {
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j)
          batches[b].v[(i * kMaxLaneTokens + j) * kLanes + p] = vs[b * kLanes + p](i, j);
    }
  }
  double out[kLanes][kMaxDefaultCovarianceStats];
  size_t b = 0;
  for (auto _ : state) {
    ComputeCovarianceStatsLanes(isa, m, batches[b++ % batches.size()].v, 0xffu, out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * kLanes);
}
BENCHMARK(BM_CovarianceStatsLanes)->ArgNames({"m", "isa"})->ArgsProduct({{4, 8}, {0, 1, 2}});

void BM_ExtremeEigenvalues(benchmark::State& state) {
  const std::vector<Matrix> vs = Wisharts(static_cast<int>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(ComputeExtremeEigenvalues(vs[i++ % vs.size()]));
}
BENCHMARK(BM_ExtremeEigenvalues)->ArgName("m")->Arg(4)->Arg(8)->Arg(16)->Arg(32);

void BM_FullEigensolve(benchmark::State& state) {
  const std::vector<Matrix> vs = Wisharts(static_cast<int>(state.range(0)));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver;
  size_t i = 0;
  for (auto _ : state) {
    solver.compute(vs[i++ % vs.size()], Eigen::EigenvaluesOnly);
    benchmark::DoNotOptimize(solver.eigenvalues().data());
  }
}
BENCHMARK(BM_FullEigensolve)->ArgName("m")->Arg(4)->Arg(8)->Arg(16)->Arg(32);

void BM_AttentionSummary(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const Matrix a = SoftmaxLikeAttention(m);
  AttentionPlan plan;
  plan.kind = AttentionKind::kSoftmax;
  const std::vector<Matrix> heads = {a};
  for (auto _ : state) benchmark::DoNotOptimize(SummariseAttention(plan, heads, heads, 0.0));
}
BENCHMARK(BM_AttentionSummary)->ArgName("m")->Arg(4)->Arg(8)->Arg(16)->Arg(32);

// What the attention gap cost before issue 18: a Jacobi SVD of A for σ_1 − σ_2.
void BM_JacobiSvdGap(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const Matrix a = SoftmaxLikeAttention(m);
  for (auto _ : state) {
    const Eigen::VectorXd sigma = Eigen::JacobiSVD<Matrix>(a).singularValues();
    benchmark::DoNotOptimize(sigma(0) - sigma(1));
  }
}
BENCHMARK(BM_JacobiSvdGap)->ArgName("m")->Arg(4)->Arg(8)->Arg(16)->Arg(32);
// One layer's aggregation (issue 18): the summaries (mean, standard error, five quantiles) of ten
// statistics over 2000 samples, column by column with Summarize (arg 0) or all ten at once with
// ColumnSummarizer (arg 1), the way Aggregate does for every recorded layer. The columns mix
// spreads: Gaussian, log-normal (skewed) and a constant one.
void BM_SummarizeLayer(benchmark::State& state) {
  constexpr size_t kSamples = 2000, kStats = 10;
  std::mt19937_64 rng(20);
  std::normal_distribution<double> normal;
  std::vector<std::vector<double>> table(kStats, std::vector<double>(kSamples));
  for (size_t k = 0; k < kStats; ++k) {
    for (double& x : table[k]) x = k == 9 ? 1.0 : k % 2 ? std::exp(2.0 * normal(rng)) : normal(rng);
  }
  const std::vector<double> levels = {0.05, 0.25, 0.5, 0.75, 0.95};
  std::vector<const double*> columns;
  for (const auto& column : table) columns.push_back(column.data());
  ColumnSummarizer summarizer(levels);
  std::vector<v1::Summary> out;
  const bool together = state.range(0) == 1;
  for (auto _ : state) {
    if (together) {
      summarizer.Summarize(columns, kSamples, {}, &out);
      benchmark::DoNotOptimize(out.data());
    } else {
      for (const auto& column : table) {
        v1::Summary summary = Summarize(column, levels, nullptr);
        benchmark::DoNotOptimize(&summary);
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * kStats);
}
BENCHMARK(BM_SummarizeLayer)->ArgName("together")->Arg(0)->Arg(1);

}  // namespace
}  // namespace sigprop
