// The covariance SDE (SPEC §6, §7.3): coefficients against their definitions, paper C's
// one-dimensional correlation SDE, step-size convergence, and method SDE through the engine.
//
// Statistical thresholds and their false-alarm rates (every seed fixed, so a failure reproduces):
// - moment checks: 5 standard errors per entry (two-sided Gaussian tail 5.7e-7; at most 65 checks
//   per test, so < 4e-5 per test);
// - KS checks between laws that should agree: p > 1e-3, a false alarm rate of 1e-3 per check.
#include <array>
#include <cmath>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/engine.h"
#include "common/model_plan.h"
#include "common/rng.h"
#include "common/sde/covariance_sde.h"
#include "common/sde/euler_maruyama.h"
#include "common/sde/sde_sampler.h"
#include "common/stats/distance.h"
#include "common/validate.h"
#include "oneapi/tbb/task_arena.h"

namespace sigprop {
namespace {

using v1::AttentionSpec;
using v1::MlpSpec;
using v1::ModelSpec;
using v1::RunSpec;

// Keeps the last covariance a path reports, and whether it diverged.
class TerminalObserver : public SampleObserver {
 public:
  void OnCovariance(int, const Matrix& v) override { last = v; }
  void OnGradients(int, const GradientNorms&) override {}
  void OnDiverged(int) override { diverged = true; }
  bool WantsLayer(int) const override { return true; }
  bool Cancelled() const override { return false; }
  Matrix last;
  bool diverged = false;
};

ModelSpec Shaped(ModelSpec::Preset preset, int m, int n, int depth) {
  ModelSpec s;
  s.set_preset(preset);
  s.set_tokens(m);
  s.set_width(n);
  s.set_depth(depth);
  return s;
}

// A fixed, well-conditioned V (eigenvalues 0.59 … 1.53) with unequal diagonal and correlations of both signs.
Matrix TestCovariance() {
  Matrix v(4, 4);
  v << 1.3, 0.3, -0.1, 0.1,  //
      0.3, 1.0, 0.2, 0.15,     //
      -0.1, 0.2, 1.1, -0.2,    //
      0.1, 0.15, -0.2, 0.9;
  return v;
}

// SPEC §6's drift, written from its definition with explicit sums.
Matrix SpecDrift(const Matrix& v, double attention_g2, double tau0, double mlp_g2, double c_plus,
                 double c_minus) {
  const int m = static_cast<int>(v.rows());
  Matrix p = Matrix::Identity(m, m);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) p(i, j) -= 1.0 / m;
  const Matrix pvp = p * v * p;
  double tr_pvpv = 0.0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) tr_pvpv += pvp(i, j) * v(j, i);
  std::vector<double> d(m), vd(m, 0.0);
  for (int i = 0; i < m; ++i) d[i] = pvp(i, i) - pvp.trace() / m;
  for (int i = 0; i < m; ++i)
    for (int k = 0; k < m; ++k) vd[i] += v(i, k) * d[k];
  Matrix drift(m, m);
  const double k = (c_plus - c_minus) * (c_plus - c_minus) / (2.0 * M_PI);
  for (int a = 0; a < m; ++a) {
    for (int b = 0; b < m; ++b) {
      double x = (attention_g2 / (tau0 * tau0)) *
                 (v(a, b) * tr_pvpv / (m * m) + (v(a, a) * vd[b] + v(b, b) * vd[a]) / (2.0 * m));
      if (a != b) {
        const double rho = v(a, b) / std::sqrt(v(a, a) * v(b, b));
        x += mlp_g2 * k * (std::sqrt(1 - rho * rho) - rho * std::acos(rho)) *
             std::sqrt(v(a, a) * v(b, b));
      }
      drift(a, b) = x;
    }
  }
  return drift;
}

// Cov(dV_ij, dV_kl)/dt of s Σ_lin + the attention term a(E V + V Eᵀ), E = L Z Lᵀ P:
//   s (V_ik V_jl + V_il V_jk) + a² (V_ik G_jl + V_il G_jk + V_jk G_il + V_jl G_ik),  G = VPVPV.
double SpecDiffusionCovariance(const Matrix& v, double s, double a, int i, int j, int k, int l) {
  const int m = static_cast<int>(v.rows());
  const Matrix p = Matrix::Identity(m, m) - Matrix::Constant(m, m, 1.0 / m);
  const Matrix g = v * p * v * p * v;
  return s * (v(i, k) * v(j, l) + v(i, l) * v(j, k)) +
         a * a * (v(i, k) * g(j, l) + v(i, l) * g(j, k) + v(j, k) * g(i, l) + v(j, l) * g(i, k));
}

TEST(CovarianceSdeTest, CoefficientsOfTheShapedTransformerFollowSpec) {
  ModelSpec spec = Shaped(ModelSpec::SHAPED_TRANSFORMER, 4, 64, 32);
  spec.mutable_attention()->set_tau0(0.8);
  spec.mutable_mlp()->set_c_plus(0.5);
  spec.mutable_mlp()->set_c_minus(-1.5);
  auto sde = CovarianceSde::FromPlan(ResolveModel(spec));
  ASSERT_TRUE(sde.ok()) << sde.status();
  // γ² = ½ for both blocks: s = γ²(2 − γ²) + 2γ² = 1.75, a = γ²/(m τ0).
  EXPECT_NEAR(sde->lin_variance(), 1.75, 1e-12);
  EXPECT_NEAR(sde->attention_scale(), 0.5 / (4 * 0.8), 1e-12);
  const Matrix v = TestCovariance();
  Matrix drift(4, 4);
  SdeWorkspace work(4);
  sde->Drift(v, &work, &drift);
  const Matrix expected = SpecDrift(v, 0.5, 0.8, 0.5, 0.5, -1.5);
  EXPECT_LT((drift - expected).cwiseAbs().maxCoeff(), 1e-12) << drift << "\nvs\n" << expected;
}

// One Euler–Maruyama step from a fixed V, many times: the sample mean of dV is b(V) dt and its
// sample covariance is Σ(V) dt, each within 5 standard errors.
TEST(CovarianceSdeTest, OneStepMomentsMatchDriftAndDiffusion) {
  ModelSpec spec = Shaped(ModelSpec::SHAPED_TRANSFORMER, 4, 64, 32);
  spec.mutable_attention()->set_tau0(0.8);
  auto sde = CovarianceSde::FromPlan(ResolveModel(spec));
  ASSERT_TRUE(sde.ok()) << sde.status();
  const Matrix v = TestCovariance();
  // Small enough that no step leaves the positive-definite cone (the smallest eigenvalue is ~10
  // noise standard deviations away), large enough that b dt is ~7 standard errors of the mean.
  const double dt = 0.002;
  const int samples = 100000;
  const int m = 4;
  std::vector<std::pair<int, int>> entries;
  for (int i = 0; i < m; ++i)
    for (int j = i; j < m; ++j) entries.emplace_back(i, j);
  const int e = static_cast<int>(entries.size());
  std::vector<double> sum(e, 0.0);
  Matrix cross = Matrix::Zero(e, e);
  BrownianIncrement db(m);
  RandomStream stream(7, 0, 0, 1);
  for (int s = 0; s < samples; ++s) {
    SdePathState state(v);
    db.Draw(stream, dt, sde->has_attention_noise());
    ASSERT_EQ(EulerMaruyamaStep(*sde, dt, db, Positivity::kStop, &state), StepOutcome::kOk);
    std::vector<double> dv(e);
    for (int k = 0; k < e; ++k) dv[k] = state.v(entries[k].first, entries[k].second) -
                                        v(entries[k].first, entries[k].second);
    for (int a = 0; a < e; ++a) {
      sum[a] += dv[a];
      for (int b = 0; b < e; ++b) cross(a, b) += dv[a] * dv[b];
    }
  }
  const Matrix drift = SpecDrift(v, 0.5, 0.8, 0.5, 0.0, -1.0);
  const double s_lin = 1.75, a_att = 0.5 / (4 * 0.8);
  for (int a = 0; a < e; ++a) {
    const auto [i, j] = entries[a];
    const double var = SpecDiffusionCovariance(v, s_lin, a_att, i, j, i, j) * dt;
    EXPECT_NEAR(sum[a] / samples, drift(i, j) * dt, 5.0 * std::sqrt(var / samples))
        << "mean of dV_" << i << j;
    for (int b = a; b < e; ++b) {
      const auto [k, l] = entries[b];
      const double cov = SpecDiffusionCovariance(v, s_lin, a_att, i, j, k, l) * dt;
      const double var_b = SpecDiffusionCovariance(v, s_lin, a_att, k, l, k, l) * dt;
      // Var of a product-moment estimate for Gaussian increments: (σ_a² σ_b² + c²)/N; the drift
      // shifts the mean by O(dt), negligible against the O(sqrt(dt)) noise at this dt.
      const double se = std::sqrt((var * var_b + cov * cov) / samples);
      const double mean_a = sum[a] / samples, mean_b = sum[b] / samples;
      EXPECT_NEAR(cross(a, b) / samples - mean_a * mean_b, cov, 5.0 * se + 1e-12)
          << "Cov(dV_" << i << j << ", dV_" << k << l << ")";
    }
  }
}

// Terminal ρ₁₂ at t = T of the V-SDE of the shaped MLP without residual (λ = 0, γ = 1), m = 2;
// hidden width n_h = `hidden` (0: the width).
std::vector<double> ShapedMlpSdeRho(double c_minus, double rho0, int width, int depth, int steps,
                                    int paths, uint64_t seed, int hidden = 0) {
  ModelSpec spec;
  spec.mutable_mlp()->set_hidden_width(hidden);
  spec.set_tokens(2);
  spec.set_width(width);
  spec.set_depth(depth);
  spec.set_residual(ModelSpec::EXPLICIT);
  spec.mutable_attention()->set_kind(AttentionSpec::NONE);
  spec.mutable_mlp()->set_activation(MlpSpec::SHAPED_RELU);
  spec.mutable_mlp()->set_c_minus(c_minus);
  spec.mutable_mlp()->set_skip_scale(0.0);
  spec.mutable_mlp()->set_branch_scale(1.0);
  spec.mutable_initial()->set_rho0(rho0);
  v1::SdeOptions options;
  options.set_steps_per_layer(steps);
  auto sampler = SdeSampler::Create(ResolveModel(spec), options);
  EXPECT_TRUE(sampler.ok()) << sampler.status();
  std::vector<double> rho;
  for (int p = 0; p < paths; ++p) {
    TerminalObserver observer;
    EXPECT_TRUE(sampler->Sample({seed, 0, static_cast<uint32_t>(p)}, observer).ok());
    if (observer.diverged) continue;
    const Matrix& v = observer.last;
    rho.push_back(v(0, 1) / std::sqrt(v(0, 0) * v(1, 1)));
  }
  return rho;
}

// An independent Euler scheme for dρ = [k ν(ρ) − q ρ(1 − ρ²)] dt + r (1 − ρ²) dB, ρ kept in [−1, 1].
std::vector<double> CorrelationEuler(double k, double q, double r, double rho0, double horizon,
                                     int steps, int paths, uint64_t seed) {
  const double dt = horizon / steps;
  std::vector<double> out;
  for (int p = 0; p < paths; ++p) {
    RandomStream stream(seed, 1, static_cast<uint32_t>(p), 0);
    double rho = rho0;
    for (int s = 0; s < steps; ++s) {
      const double nu = std::sqrt(1 - rho * rho) - rho * std::acos(rho);
      rho += (k * nu - q * rho * (1 - rho * rho)) * dt +
             r * (1 - rho * rho) * std::sqrt(dt) * stream.Gaussian();
      rho = std::clamp(rho, -1.0, 1.0);
    }
    out.push_back(rho);
  }
  return out;
}

// Paper C: for two tokens of the shaped MLP without residual, Itô's formula applied to
// ρ = V₁₂/sqrt(V₁₁V₂₂) under dV = ν sqrt(V₁₁V₂₂) dt + sqrt(2) Σ_lin^{1/2} dB gives
//   dρ = [ν(ρ) − ρ(1 − ρ²)] dt + sqrt(2) (1 − ρ²) dB,
// ν with its factor (c₊ − c₋)²/2π. The V-SDE's ρ must follow it (KS p > 1e-3, false alarm 1e-3).
// c₋ = −3 makes the ν term as large as the Itô terms, so both are tested. T = 1, Δt = 1/400.
TEST(CovarianceSdeTest, ShapedMlpCorrelationFollowsPaperC) {
  const double c_minus = -3.0, k = 9.0 / (2 * M_PI), rho0 = 0.2;
  const auto sde = ShapedMlpSdeRho(c_minus, rho0, 100, 100, 4, 4000, 11);
  const auto closed = CorrelationEuler(k, 1.0, std::sqrt(2.0), rho0, 1.0, 400, 4000, 12);
  ASSERT_EQ(sde.size(), 4000u);
  const KsResult ks = KolmogorovSmirnov(sde, closed);
  EXPECT_GT(ks.p_value, 1e-3) << "KS D = " << ks.statistic;
}

// Issue 5's closed-form check, for paper C's network: there a layer is one weight matrix and one
// activation, so a layer has one Wishart fluctuation (diffusion Σ_lin) besides the ν drift. Our
// MLP block has two matrices (SPEC §2); its first one's fluctuation is the sampling of the kernel
// by n_h hidden units, (n/n_h) Σ_lin (covariance_sde.h), which vanishes as n_h/n → ∞. So with
// n_h = 10⁴ n the block is paper C's layer and ρ must follow the recalled equation exactly as the
// issue writes it, dρ = [ν(ρ) − ρ(1 − ρ²)/2] dt + (1 − ρ²) dB (KS p > 1e-3, false alarm 1e-3;
// the 10⁻⁴ left of the first fluctuation is far below what 4000 paths resolve).
TEST(CovarianceSdeTest, PaperCNetworkFollowsPaperCsCorrelationSde) {
  const double c_minus = -3.0, k = 9.0 / (2 * M_PI), rho0 = 0.2;
  const auto sde = ShapedMlpSdeRho(c_minus, rho0, 100, 100, 4, 4000, 14, 1000000);
  const auto closed = CorrelationEuler(k, 0.5, 1.0, rho0, 1.0, 400, 4000, 15);
  ASSERT_EQ(sde.size(), 4000u);
  const KsResult ks = KolmogorovSmirnov(sde, closed);
  EXPECT_GT(ks.p_value, 1e-3) << "KS D = " << ks.statistic;
}

// SPEC §6 recalls paper C's equation as dρ = [ν − ρ(1 − ρ²)/2] dt + (1 − ρ²) dB: the Itô terms of
// a diffusion Σ_lin instead of 2Σ_lin, right for paper C's one-matrix layers (above) but not for
// SPEC §2's two-matrix block at n_h = n. With the V-SDE's 2Σ_lin (derived from the gram chain and
// checked against finite networks in SdeVersusFiniteWidth) that form is far off; this test pins
// the discrepancy so that SPEC's line gets corrected (D ≈ 0.1 at 4000 paths, p < 1e-6).
TEST(CovarianceSdeTest, SpecRecalledCorrelationFormDisagrees) {
  const double c_minus = -3.0, k = 9.0 / (2 * M_PI), rho0 = 0.2;
  const auto sde = ShapedMlpSdeRho(c_minus, rho0, 100, 100, 4, 4000, 11);
  const auto recalled = CorrelationEuler(k, 0.5, 1.0, rho0, 1.0, 400, 4000, 13);
  EXPECT_LT(KolmogorovSmirnov(sde, recalled).p_value, 1e-6);
}

RunSpec SdeRun(ModelSpec model, int samples, uint64_t seed, int steps_per_layer) {
  RunSpec run;
  *run.mutable_model() = std::move(model);
  run.set_method(RunSpec::SDE);
  run.set_samples(samples);
  run.set_seed(seed);
  run.mutable_sde()->set_steps_per_layer(steps_per_layer);
  return run;
}

// Terminal values of `statistic` over the non-exploded samples, and the exploded fraction.
struct Terminal {
  std::vector<double> values;
  double exploded = 0;  // Fraction of samples diverged.
  int diverged = 0;
};
Terminal RunTerminal(const RunSpec& run, const std::string& statistic, int point = 0) {
  EXPECT_TRUE(ValidateRun(run, "run", Limits{}).ok()) << ValidateRun(run, "run", Limits{});
  auto table = SimulateSamples(run, point, RunContext{});
  EXPECT_TRUE(table.ok()) << table.status();
  const int slot = static_cast<int>(table->layers.size()) - 1;
  Terminal out;
  out.values = table->Column(slot, table->StatIndex(statistic));
  out.diverged = table->samples - static_cast<int>(out.values.size());
  out.exploded = static_cast<double>(out.diverged) / table->samples;
  return out;
}

// Which correlation SDE is the truth is settled by a finite network, not by the V-SDE alone: GRAM
// without residual at n = 128, depth 128 (T = 1), c₋ = −1 (whose ν error at this width, 10 % of a
// small drift, is below the noise), 4000 samples, against independent Euler schemes of both forms
// (20000 paths): the derived form agrees (KS p > 1e-3, false alarm 1e-3; measured D = 0.013) and
// the recalled form of SPEC §6 and issue 5 — paper C's, for one matrix a layer — is rejected for
// this two-matrix block (p < 1e-6; measured D = 0.14).
TEST(CovarianceSdeTest, FiniteNetworkFollowsTheDerivedCorrelationForm) {
  RunSpec run;
  ModelSpec& spec = *run.mutable_model();
  spec.set_tokens(2);
  spec.set_width(128);
  spec.set_depth(128);
  spec.set_residual(ModelSpec::EXPLICIT);
  spec.mutable_attention()->set_kind(AttentionSpec::NONE);
  spec.mutable_mlp()->set_activation(MlpSpec::SHAPED_RELU);
  spec.mutable_mlp()->set_c_minus(-1.0);
  spec.mutable_mlp()->set_skip_scale(0.0);
  spec.mutable_mlp()->set_branch_scale(1.0);
  spec.mutable_initial()->set_rho0(0.2);
  run.set_method(RunSpec::GRAM);
  run.set_samples(4000);
  run.set_seed(31);
  run.set_record_every(128);
  const Terminal network = RunTerminal(run, "rho12");
  ASSERT_EQ(network.values.size(), 4000u);
  const double k = 1.0 / (2 * M_PI);
  const auto derived = CorrelationEuler(k, 1.0, std::sqrt(2.0), 0.2, 1.0, 400, 20000, 32);
  const auto recalled = CorrelationEuler(k, 0.5, 1.0, 0.2, 1.0, 400, 20000, 33);
  const KsResult with_derived = KolmogorovSmirnov(network.values, derived);
  const KsResult with_recalled = KolmogorovSmirnov(network.values, recalled);
  RecordProperty("ks_derived", std::to_string(with_derived.statistic));
  RecordProperty("ks_recalled", std::to_string(with_recalled.statistic));
  EXPECT_GT(with_derived.p_value, 1e-3) << "KS D = " << with_derived.statistic;
  EXPECT_LT(with_recalled.p_value, 1e-6) << "KS D = " << with_recalled.statistic;
}

// SPEC §6 "Convergence check": halving Δt (steps_per_layer 1 → 2 at width 64, i.e. Δt = 1/64 →
// 1/128) moves the law of terminal ρ₁₂ and V₁₁ of the shaped transformer (T = 0.5, τ0 = 0.8) less
// than the sampling noise of 4000 paths: KS p > 1e-3 (false alarm 1e-3 per statistic), and the
// exploded fractions agree within 4 binomial standard errors (6e-5).
TEST(SdeSamplerTest, HalvingTheStepMovesTheLawLessThanSamplingNoise) {
  ModelSpec model = Shaped(ModelSpec::SHAPED_TRANSFORMER, 4, 64, 32);
  model.mutable_attention()->set_tau0(0.8);
  model.mutable_initial()->set_rho0(0.2);
  for (const char* statistic : {"rho12", "v11"}) {
    const Terminal coarse = RunTerminal(SdeRun(model, 4000, 21, 1), statistic);
    const Terminal fine = RunTerminal(SdeRun(model, 4000, 22, 2), statistic);
    const KsResult ks = KolmogorovSmirnov(coarse.values, fine.values);
    EXPECT_GT(ks.p_value, 1e-3) << statistic << ": KS D = " << ks.statistic;
    const double pooled = 0.5 * (coarse.exploded + fine.exploded);
    EXPECT_LE(std::abs(coarse.exploded - fine.exploded),
              4.0 * std::sqrt(pooled * (1 - pooled) * 2.0 / 4000) + 1e-12)
        << coarse.exploded << " vs " << fine.exploded;
  }
}

// The same check has power: a step 16 times coarser (Δt = 1/4, width 4) is detected.
TEST(SdeSamplerTest, ACoarseStepIsDetected) {
  ModelSpec fine_model = Shaped(ModelSpec::SHAPED_MLP_ONLY, 4, 64, 32);
  fine_model.mutable_mlp()->set_c_minus(-3.0);
  fine_model.mutable_initial()->set_rho0(0.2);
  ModelSpec coarse_model = fine_model;
  coarse_model.set_width(4);
  coarse_model.set_depth(2);
  const Terminal coarse = RunTerminal(SdeRun(coarse_model, 4000, 23, 1), "rho12");
  const Terminal fine = RunTerminal(SdeRun(fine_model, 4000, 24, 1), "rho12");
  EXPECT_LT(KolmogorovSmirnov(coarse.values, fine.values).p_value, 1e-3);
}

// Method SDE through the engine: byte-identical tables at 1 and 2 threads, and the recorded times
// are the finite-width grid t = ℓ/n.
TEST(SdeSamplerTest, EngineResultsDoNotDependOnThreads) {
  ModelSpec model = Shaped(ModelSpec::SHAPED_TRANSFORMER, 5, 32, 16);
  model.mutable_attention()->set_tau0(0.5);  // Some paths explode: divergence is covered too.
  RunSpec run = SdeRun(model, 300, 5, 2);
  run.set_record_every(4);
  ASSERT_TRUE(ValidateRun(run, "run", Limits{}).ok());
  oneapi::tbb::task_arena one(1), two(2);
  RunContext c1, c2;
  c1.arena = &one;
  c2.arena = &two;
  auto a = SimulateSamples(run, 3, c1);
  auto b = SimulateSamples(run, 3, c2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->layers, (std::vector<int>{0, 4, 8, 12, 16}));
  EXPECT_EQ(a->diverged, b->diverged);
  ASSERT_EQ(a->values.size(), b->values.size());
  EXPECT_EQ(0, std::memcmp(a->values.data(), b->values.data(), a->values.size() * sizeof(double)));
  const auto layers = Aggregate(*a, run, 3);
  EXPECT_DOUBLE_EQ(layers.back().t(), 0.5);
  EXPECT_EQ(layers.back().method(), RunSpec::SDE);
}

// Models without a covariance SDE are refused with the field named.
// positivity STOP ends a path where a step leaves V not positive definite, and it counts as
// diverged from there on; EIGEN_FLOOR projects V back and goes on. The two runs share every draw,
// so each path is the same in both up to its first stop. Shaped attention alone with a strong drift
// (γ = 0.9, τ0 = 0.3, one step a layer): measured, 97 % of 400 paths stopped by layer 8 against
// 33 % that exploded past 1e12 under EIGEN_FLOOR.
TEST(SdeSamplerTest, PositivityStopEndsThePathWhereVLeavesTheCone) {
  RunSpec run;
  run.set_method(RunSpec::SDE);
  run.set_samples(200);
  run.set_seed(5);
  run.set_record_every(4);
  auto* model = run.mutable_model();
  model->set_tokens(4);
  model->set_width(16);
  model->set_depth(16);
  model->set_preset(v1::ModelSpec::SHAPED_ATTENTION_ONLY);
  model->mutable_attention()->set_tau0(0.3);
  model->mutable_attention()->set_branch_scale(0.9);
  model->mutable_initial()->set_rho0(0.2);
  run.mutable_sde()->set_positivity(v1::SdeOptions::EIGEN_FLOOR);
  auto floor = SimulateSamples(run, 0, RunContext{});
  run.mutable_sde()->set_positivity(v1::SdeOptions::STOP);
  auto stop = SimulateSamples(run, 0, RunContext{});
  ASSERT_TRUE(floor.ok() && stop.ok());
  const int slots = static_cast<int>(stop->layers.size());
  const int rho = stop->StatIndex("rho12");
  int stopped_only_by_stop = 0;
  for (int s = 0; s < run.samples(); ++s) {
    for (int slot = 0; slot < slots; ++slot) {
      const bool stopped = stop->diverged[slot * run.samples() + s];
      const bool exploded = floor->diverged[slot * run.samples() + s];
      EXPECT_TRUE(stopped || !exploded) << "sample " << s << " slot " << slot;
      if (stopped) {
        if (!exploded) ++stopped_only_by_stop;
        // Diverged from there on, with no values.
        EXPECT_TRUE(std::isnan(stop->At(slot, rho, s)));
        continue;
      }
      // The same path as EIGEN_FLOOR's until it stops.
      EXPECT_EQ(stop->At(slot, rho, s), floor->At(slot, rho, s)) << "sample " << s;
    }
  }
  EXPECT_GT(stopped_only_by_stop, run.samples() / 4);
}

TEST(SdeSamplerTest, ValidationNamesTheBlockWithoutAnSde) {
  ModelSpec model = Shaped(ModelSpec::SHAPED_TRANSFORMER, 4, 32, 16);
  model.mutable_attention()->set_kind(AttentionSpec::SOFTMAX);
  auto status = ValidateRun(SdeRun(model, 10, 1, 1), "base", Limits{});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("base.model.attention.kind: method SDE"), std::string::npos)
      << status;

  model = Shaped(ModelSpec::SHAPED_MLP_ONLY, 4, 32, 16);
  model.set_residual(ModelSpec::EXPLICIT);  // λ = γ = 1: V doubles per layer, no SDE.
  status = ValidateRun(SdeRun(model, 10, 1, 1), "base", Limits{});
  EXPECT_NE(status.message().find("base.model.mlp.branch_scale: method SDE needs λ² + γ² = 1"),
            std::string::npos)
      << status;

  model = Shaped(ModelSpec::SHAPED_MLP_ONLY, 4, 32, 16);
  RunSpec run = SdeRun(model, 10, 1, -1);
  status = ValidateRun(run, "base", Limits{});
  EXPECT_NE(status.message().find("base.sde.steps_per_layer"), std::string::npos) << status;
}

// SPEC §7.3, paper B's claim (issue 5): the KS distance between terminal ρ₁₂ of the finite network
// under GRAM at width n, depth n/2 (T = 0.5), and of the SDE falls from n = 64 to 256 to 1024, for
// the shaped MLP, shaped attention and the shaped transformer. m = 2: ρ₁₂ is then the only
// correlation, and GRAM's exact MLP costs O(n_h m²) per layer, so n = 1024 (512 layers of 1024
// hidden units) is ~5 ms a sample (bench/RESULTS.md), the budget of this test. The SDE runs at
// Δt = 1/1024 on each width's layer grid (KsByWidth).
//
// Where a resolvable finite-width error comes from:
// - MLP: the shaped ReLU's normalisation c = 2/(s₊² + s₋²), s± = 1 + c±/sqrt(n), makes each
//   layer's ν drift larger than the SDE's by 1/(1 + (c₊ + c₋)/sqrt(n) + (c₊² + c₋²)/2n), an
//   O(n^{-1/2}) error: with c₋ = −7 it is 97 %, 52 % and 24 % at n = 64, 256, 1024. The preset
//   c₋ = −1 makes it 13 %, 6 % and 3 %: too small against the noise of the samples we can afford.
// - Attention: the SDE is the small-logit expansion of the softmax, and the logits are of order
//   1/(τ0 sqrt(n)); the odd terms of the expansion average out (the logits are symmetric in law),
//   so at τ0 = 1 the error is O(1/n) and below the sampling noise past n = 64 (that agreement is
//   AgreesInTheSmallLogitRegime below). A small τ0 makes the error large (logits ≈ 0.8 at n = 64
//   for τ0 = 0.15) but makes the SDE's cubic drift explode paths (SPEC §6) that a network, whose
//   softmax saturates, keeps: at the default threshold 1e12 the SDE loses 17 % of its paths and
//   GRAM none, a mismatch of the compared sets that does not shrink with n. So both sides use one
//   stopping rule, max V_αα > 10 (RunSpec.divergence_threshold), tested at the same times t = ℓ/n;
//   the distance over all samples with a stopped one at +∞ (ks_with_exploded) then compares the
//   two stopped laws, explosion included, and must fall too. γ² = 0.1 keeps the drift,
//   γ²/τ0² ≈ 4.4, from exploding most paths before T = 0.5.
//
// Statistics: with N_g GRAM samples and N_s SDE paths, D's sampling spread is about
// 0.5 sqrt(1/N_g + 1/N_s) or less when the laws differ. N_s = 20000 paths (cheap: O(m³) a step),
// N_g = 8000 (MLP, transformer) or 10000 (attention) at every width: spread ≤ 0.0066 (≤ 0.0068 for
// attention's survivors, about 16000 and 8600), and the difference of two independent distances
// has spread ≤ 0.0096. Measured with these seeds, at n = 64, 256, 1024:
//   shaped MLP          (c₋ = −7)               D 0.321  0.188  0.099
//   shaped transformer  (τ0 = 1, c₋ = −7)       D 0.240  0.159  0.072
//   shaped attention    (γ² = 0.1, τ0 = 0.15)   D 0.172  0.092  0.030
//                                  with exploded  0.242  0.153  0.059
// (without explosion the two distances coincide up to a few SDE paths past 1e12), so every step
// down is ≥ 0.062, ≥ 6.4 spreads: a chance reversal has probability < 1e-10 per comparison. How far
// to trust the spread formula: over three other seed pairs with N_g = 2000 (shaped MLP; D =
// 0.31–0.34, 0.18–0.20, 0.08–0.13) the spread at n = 1024 came out about twice the formula's (three
// values: a loose estimate), which leaves the MLP and transformer margins (≥ 0.081) at ≥ 4.2
// spreads, a false alarm below 2e-5; attention with three other seed pairs (7/8, 100/200, 3/4) gave
// D = 0.159–0.170, 0.092–0.106, 0.036–0.042 and with exploded 0.227–0.245, 0.152–0.161,
// 0.059–0.066, as tight as the formula says. Its exploded-fraction gap falls 0.18 → 0.13 → 0.05
// (SDE 19 %; GRAM 0.3 %, 5.5 %, 14 %); ks_with_exploded ≥ that gap, so it is part of what falls.
struct WidthCase {
  const char* name;
  ModelSpec::Preset preset;
  double tau0 = 1.0;
  double c_minus = -7.0;
  double attention_gamma2 = 0.0;      // 0: the preset's γ² = ½.
  double divergence_threshold = 0.0;  // 0: SPEC §3's 1e12.
  int gram_samples = 8000;
};

constexpr int kWidths[3] = {64, 256, 1024};

ModelSpec WidthModel(const WidthCase& c, int n) {
  ModelSpec s = Shaped(c.preset, 2, n, n / 2);
  s.mutable_initial()->set_rho0(0.2);
  if (c.preset != ModelSpec::SHAPED_MLP_ONLY) s.mutable_attention()->set_tau0(c.tau0);
  if (c.attention_gamma2 > 0) {
    s.mutable_attention()->set_branch_scale(std::sqrt(c.attention_gamma2));
  }
  if (c.preset != ModelSpec::SHAPED_ATTENTION_ONLY) s.mutable_mlp()->set_c_minus(c.c_minus);
  return s;
}

struct WidthDistance {
  KsResult ks;              // Between the samples that did not diverge.
  double ks_with_exploded;  // Over all samples, a diverged one at +∞ (KsDistanceWithAtomAtInfinity).
  double exploded_gap;      // |SDE exploded fraction − GRAM exploded fraction|.
};

// Terminal ρ₁₂, SDE vs GRAM at each of kWidths; the distances are recorded as test properties
// ks_64, ks_256, ks_1024. The SDE side runs on each width's own layer grid: width n, depth n/2,
// Δt = 1/1024 (steps_per_layer 1024/n), so both sides test the divergence threshold at the same
// times t = ℓ/n; 20000 paths, independent per width (point n).
std::vector<WidthDistance> KsByWidth(const WidthCase& c) {
  std::vector<WidthDistance> out;
  for (const int n : kWidths) {
    RunSpec sde_run = SdeRun(WidthModel(c, n), 20000, 41, kWidths[2] / n);
    sde_run.set_divergence_threshold(c.divergence_threshold);
    const Terminal sde = RunTerminal(sde_run, "rho12", n);
    RunSpec finite;
    *finite.mutable_model() = WidthModel(c, n);
    finite.set_method(RunSpec::GRAM);
    finite.set_samples(c.gram_samples);
    finite.set_seed(42);
    finite.set_divergence_threshold(c.divergence_threshold);
    const Terminal gram = RunTerminal(finite, "rho12", n);
    out.push_back({KolmogorovSmirnov(sde.values, gram.values),
                   KsDistanceWithAtomAtInfinity(sde.values, sde.diverged, gram.values, gram.diverged),
                   std::abs(sde.exploded - gram.exploded)});
    ::testing::Test::RecordProperty(absl::StrCat("ks_", n), std::to_string(out.back().ks.statistic));
  }
  return out;
}

std::string Describe(const char* name, const std::vector<WidthDistance>& d) {
  return absl::StrCat(name, ": at n = 64, 256, 1024: D ", d[0].ks.statistic, ", ",
                      d[1].ks.statistic, ", ", d[2].ks.statistic, " (p ", d[0].ks.p_value, ", ",
                      d[1].ks.p_value, ", ", d[2].ks.p_value, "); D with exploded ",
                      d[0].ks_with_exploded, ", ", d[1].ks_with_exploded, ", ",
                      d[2].ks_with_exploded, "; exploded-fraction gaps ", d[0].exploded_gap, ", ",
                      d[1].exploded_gap, ", ", d[2].exploded_gap);
}

class SdeVersusFiniteWidth : public ::testing::TestWithParam<WidthCase> {};

TEST_P(SdeVersusFiniteWidth, KsDistanceFallsWithWidth) {
  const std::vector<WidthDistance> d = KsByWidth(GetParam());
  const std::string measured = Describe(GetParam().name, d);
  std::cerr << measured << "\n";  // The distances, for the CI log and README.
  for (int i = 0; i < 2; ++i) {
    EXPECT_GT(d[i].ks.statistic, d[i + 1].ks.statistic) << measured;
    EXPECT_GT(d[i].ks_with_exploded, d[i + 1].ks_with_exploded) << measured;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Blocks, SdeVersusFiniteWidth,
    ::testing::Values(WidthCase{"ShapedMlp", ModelSpec::SHAPED_MLP_ONLY},
                      WidthCase{"ShapedAttention", ModelSpec::SHAPED_ATTENTION_ONLY, 0.15, 0.0, 0.1,
                                10.0, 10000},
                      WidthCase{"ShapedTransformer", ModelSpec::SHAPED_TRANSFORMER}),
    [](const ::testing::TestParamInfo<WidthCase>& info) { return info.param.name; });

// The falling distances above could fall towards a floor: an O(1) error in the SDE's attention
// terms would leave one. In the small-logit regime (τ0 = 1, γ² = ½, where a network's error is
// O(1/n) and tiny) shaped attention must agree with the SDE: KS p > 1e-3 at n = 256 and 1024
// (false alarm 2e-3 for the two), and D < 0.05 at n = 64, where the O(1/n) error is just
// resolvable: measured D = 0.022, 0.007, 0.009 (p = 0.003, 0.87, 0.67), and over the three other
// seed pairs D(64) = 0.011–0.020 and p ≥ 0.13 at n = 256 and 1024. 0.05 is the largest of those
// plus more than 4 spreads (0.5 sqrt(1/10000 + 1/20000) = 0.006).
TEST(SdeVersusFiniteWidthShapedAttention, AgreesInTheSmallLogitRegime) {
  const std::vector<WidthDistance> d =
      KsByWidth({"ShapedAttentionTau1", ModelSpec::SHAPED_ATTENTION_ONLY, 1.0, 0.0, 0.0, 0.0, 10000});
  const std::string measured = Describe("ShapedAttention tau0 = 1", d);
  std::cerr << measured << "\n";
  EXPECT_LT(d[0].ks.statistic, 0.05) << measured;
  for (int i = 1; i < 3; ++i) EXPECT_GT(d[i].ks.p_value, 1e-3) << measured;
}

}  // namespace
}  // namespace sigprop
