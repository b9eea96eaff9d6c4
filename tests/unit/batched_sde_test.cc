// The batched SDE kernel (batched_euler_maruyama.h) and what it is built from: its Gaussians equal
// RandomStream's one-word ziggurat draw for draw in the chunks the sampler asks for, its ν(ρ) polynomials stay within their
// documented bound of the definition, its paths agree with the one-path scheme (euler_maruyama.h)
// fed the same increments, and its results are bit-identical across instruction-set variants,
// across lane positions and between a batch and a single path. Deterministic; no statistical
// thresholds.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <iostream>
#include <string>

#include <gtest/gtest.h>

#include "common/finite/sample_observer.h"
#include "common/model_plan.h"
#include "common/rng.h"
#include "common/sde/batched_euler_maruyama.h"
#include "common/sde/covariance_sde.h"
#include "common/sde/euler_maruyama.h"
#include "common/sde/sde_sampler.h"

namespace sigprop {
namespace {

using v1::ModelSpec;

// The sampler's increments: FillGaussianZigguratOneWord in chunks of one step's Gaussians
// (m(m+1)/2 + m² = 100 at m = 8, 36 without attention noise) and sizes that end inside Philox
// blocks and batches, against single GaussianZigguratOneWord() calls; 10⁶ draws reach the tail
// (probability 5.8e-4 per draw) and the wedges (about 1%) many times.
TEST(SdeIncrementsTest, BatchedDrawsEqualRepeatedGaussianZigguratOneWord) {
  for (uint32_t sample : {0u, 7u, 123456u}) {
    RandomStream reference(0xC0FFEE12345ull, 3, sample, 9);
    RandomStream batched(0xC0FFEE12345ull, 3, sample, 9);
    std::vector<double> chunk(1000);
    int draws = 0, tails = 0;
    for (int size : {1, 7, 36, 64, 65, 100, 333, 1000}) {
      for (int rep = 0; rep < 150; ++rep) {
        batched.FillGaussianZigguratOneWord(chunk.data(), size);
        for (int i = 0; i < size; ++i, ++draws) {
          const double expected = reference.GaussianZigguratOneWord();
          ASSERT_EQ(chunk[i], expected) << "sample " << sample << " draw " << draws;
          tails += std::abs(expected) > 3.442619855899;
        }
      }
    }
    EXPECT_GT(tails, 10) << "the tail branch was not exercised";
  }
}

// |ν_poly(ρ) − ν(ρ)| < 1e-15 against a long-double arccos, on a fine grid, both polynomial pieces,
// their junction at |ρ| = ½ and the clamped ends.
TEST(ShapedReluNuTest, PolynomialsStayWithinTheirBound) {
  double worst = 0.0;
  for (int k = -200000; k <= 200000; ++k) {
    const long double rho = k / 200000.0L;
    const long double exact = std::sqrt(1.0L - rho * rho) - rho * std::acos(rho);
    const double error = std::abs(ShapedReluNu(static_cast<double>(rho)) - static_cast<double>(exact));
    worst = std::max(worst, error);
  }
  for (double rho : {0.5, std::nextafter(0.5, 1.0), -0.5, std::nextafter(-0.5, -1.0)}) {
    const long double exact =
        std::sqrt(1.0L - static_cast<long double>(rho) * rho) - rho * std::acos(static_cast<long double>(rho));
    worst = std::max(worst, std::abs(ShapedReluNu(rho) - static_cast<double>(exact)));
  }
  EXPECT_LT(worst, 1e-15);
  EXPECT_EQ(ShapedReluNu(1.0), 0.0);
  EXPECT_NEAR(ShapedReluNu(-1.0), M_PI, 1e-15);
  EXPECT_EQ(ShapedReluNu(2.0), ShapedReluNu(1.0));
  EXPECT_EQ(ShapedReluNu(-2.0), ShapedReluNu(-1.0));
}

ModelSpec Transformer(int m, double tau0, double rho0) {
  ModelSpec s;
  s.set_preset(ModelSpec::SHAPED_TRANSFORMER);
  s.set_tokens(m);
  s.set_width(64);
  s.set_depth(32);
  s.mutable_attention()->set_tau0(tau0);
  s.mutable_initial()->set_rho0(rho0);
  return s;
}

// V of every lane after `steps` steps from the same Gaussians (stream (5, 0, p, 1) for lane p).
std::vector<double> RunLanes(const CovarianceSde& sde, const Matrix& v0, double dt, int steps,
                             SdeIsa isa, uint32_t* live) {
  BatchedEulerMaruyama kernel(sde, dt, Positivity::kEigenFloor, isa);
  kernel.Reset(v0, kSdeLanes);
  const int n = kernel.gaussians_per_step();
  std::vector<double> g(n * kSdeLanes), drawn(n);
  std::vector<RandomStream> streams;
  for (int p = 0; p < kSdeLanes; ++p) streams.emplace_back(5, 0, p, 1);
  for (int s = 0; s < steps; ++s) {
    for (int p = 0; p < kSdeLanes; ++p) {
      streams[p].FillGaussianZigguratOneWord(drawn.data(), n);
      for (int k = 0; k < n; ++k) g[k * kSdeLanes + p] = drawn[k];
    }
    kernel.Step(g.data());
  }
  const int m = sde.tokens();
  std::vector<double> out;
  Matrix v(m, m);
  *live = 0;
  for (int p = 0; p < kSdeLanes; ++p) {
    *live |= kernel.live(p) ? 1u << p : 0u;
    kernel.Get(p, &v);
    out.insert(out.end(), v.data(), v.data() + m * m);
  }
  return out;
}

// The batched ν(ρ) (one Horner scheme for both polynomial pieces, each lane taking its own
// argument and coefficients) against the one-path ShapedReluNu, bit for bit, in every variant:
// on a grid over [−1.25, 1.25] with ±½, ±1, ±0 and the doubles next to ±½, in vectors whose lanes
// are all on one side of |ρ| = ½ and vectors that mix both sides and the clamped ends.
TEST(ShapedReluNuTest, BatchedLanesEqualTheOnePathFunction) {
  std::string isas;
  for (SdeIsa isa : SupportedSdeIsas()) {
    isas += std::string(isas.empty() ? "" : ", ") +
            (isa == SdeIsa::kAvx512 ? "avx512" : isa == SdeIsa::kAvx2 ? "avx2" : "baseline");
  }
  std::cout << "[ isa      ] batched SDE exercised: " << isas << std::endl;
  ::testing::Test::RecordProperty("isas", isas);
  std::vector<double> rhos;
  for (int k = -2500; k <= 2500; ++k) rhos.push_back(k * 0.0005);
  for (double edge : {0.5, -0.5, 1.0, -1.0}) {
    double below = edge, above = edge;
    for (int d = 0; d < 4; ++d) {
      below = std::nextafter(below, -2.0);
      above = std::nextafter(above, 2.0);
      rhos.push_back(below);
      rhos.push_back(above);
    }
  }
  rhos.push_back(0.0);
  rhos.push_back(-0.0);
  std::vector<double> mixed = rhos;  // Neighbouring lanes far apart: both pieces in most vectors.
  for (std::size_t k = 0; k < mixed.size(); ++k) std::swap(mixed[k], mixed[(k * 7919) % mixed.size()]);
  for (const auto* values : {&rhos, &mixed}) {
    for (std::size_t first = 0; first + kSdeLanes <= values->size(); first += kSdeLanes) {
      const double* rho = values->data() + first;
      for (SdeIsa isa : SupportedSdeIsas()) {
        double nu[kSdeLanes];
        BatchedNuForTesting(isa, rho, nu);
        for (int p = 0; p < kSdeLanes; ++p) {
          const double expected = ShapedReluNu(rho[p]);
          ASSERT_EQ(0, std::memcmp(&nu[p], &expected, sizeof expected))
              << "rho " << rho[p] << " isa " << static_cast<int>(isa) << ": " << nu[p] << " vs "
              << expected;
        }
      }
    }
  }
}

// The batched kernel and the one-path scheme on the same increments agree to rounding (the
// products are summed in another order and the Cholesky divides differently, so not bit for bit):
// relative 1e-9 after 200 steps, for every m the kernel has a specialisation of, both blocks on;
// a path that explodes does so in both. The step amplifies rounding differences along a path
// whose V grows (the worst lane here, m = 8 lane 4, ends at 1.06e-10 relative, V's entries ~10);
// a wrong term or increment differs at 1e-3 or more.
TEST(BatchedEulerMaruyamaTest, AgreesWithTheOnePathScheme) {
  for (int m = 1; m <= kMaxBatchedTokens; ++m) {
    const ModelPlan plan = ResolveModel(Transformer(m, 1.5, 0.3));
    auto sde = CovarianceSde::FromPlan(plan);
    ASSERT_TRUE(sde.ok()) << sde.status();
    const double dt = 1.0 / 256;
    const int steps = 200;
    uint32_t live = 0;
    const std::vector<double> batched =
        RunLanes(*sde, plan.v0, dt, steps, SupportedSdeIsas().back(), &live);
    int compared = 0;
    for (int p = 0; p < kSdeLanes; ++p) {
      SdePathState path(plan.v0);
      BrownianIncrement db(m);
      RandomStream stream(5, 0, p, 1);
      bool diverged = false;
      for (int s = 0; s < steps && !diverged; ++s) {
        db.Draw(stream, dt, sde->has_attention_noise());
        diverged = EulerMaruyamaStep(*sde, dt, db, Positivity::kEigenFloor, &path) ==
                   StepOutcome::kDiverged;
      }
      EXPECT_EQ(diverged, !((live >> p) & 1u)) << "m " << m << " lane " << p;
      if (diverged) continue;
      ++compared;
      const double scale = path.v.cwiseAbs().maxCoeff();
      for (int k = 0; k < m * m; ++k) {
        EXPECT_NEAR(batched[p * m * m + k], path.v.data()[k], 1e-9 * scale)
            << "m " << m << " lane " << p << " entry " << k;
      }
    }
    EXPECT_GE(compared, kSdeLanes / 2) << "m " << m << ": most paths exploded";
  }
}

// Every variant this CPU runs (SSE2, AVX2, AVX-512) returns the same bits, including lanes that
// explode (τ0 = 0.4) and near-singular starts (ρ0 = 0.9, Δt = 1/32).
TEST(BatchedEulerMaruyamaTest, VariantsAreBitIdentical) {
  for (int m : {2, 5, 8}) {
    for (double tau0 : {1.0, 0.4}) {
      const ModelPlan plan = ResolveModel(Transformer(m, tau0, 0.9));
      auto sde = CovarianceSde::FromPlan(plan);
      ASSERT_TRUE(sde.ok()) << sde.status();
      uint32_t live_base = 0;
      const std::vector<double> base =
          RunLanes(*sde, plan.v0, 1.0 / 32, 300, SdeIsa::kBaseline, &live_base);
      for (SdeIsa isa : SupportedSdeIsas()) {
        uint32_t live = 0;
        const std::vector<double> other = RunLanes(*sde, plan.v0, 1.0 / 32, 300, isa, &live);
        EXPECT_EQ(live, live_base) << "m " << m << " isa " << static_cast<int>(isa);
        EXPECT_EQ(0, std::memcmp(base.data(), other.data(), base.size() * sizeof(double)))
            << "m " << m << " tau0 " << tau0 << " isa " << static_cast<int>(isa);
      }
    }
  }
}

// floored() names the live lanes whose V the last step changed after its own divergence test
// (the sampler then tests only those at the default threshold), in every variant, in a
// near-singular regime (rho0 = 0.9, tau0 = 0.4, dt = 1/32) where the kernel does floor:
// - every other live lane is within that threshold as the step left it;
// - the lanes named are the right ones: a Positivity::kStop kernel on the same increments holds
//   the same V until a lane's first floor, and stops exactly the lanes that the flooring kernel
//   diverged or floored (so a mask shifted to the wrong group, or always empty, fails).
TEST(BatchedEulerMaruyamaTest, FlooredNamesTheLanesChangedAfterTheDivergenceTest) {
  double thresholds[kSdeLanes];
  std::fill(thresholds, thresholds + kSdeLanes, SampleObserver::kDefaultDivergenceThreshold);
  int floors = 0;
  for (SdeIsa isa : SupportedSdeIsas()) {
    for (int m : {2, 5, 8}) {
      const ModelPlan plan = ResolveModel(Transformer(m, 0.4, 0.9));
      auto sde = CovarianceSde::FromPlan(plan);
      ASSERT_TRUE(sde.ok()) << sde.status();
      BatchedEulerMaruyama kernel(*sde, 1.0 / 32, Positivity::kEigenFloor, isa);
      BatchedEulerMaruyama stopping(*sde, 1.0 / 32, Positivity::kStop, isa);
      kernel.Reset(plan.v0, kSdeLanes);
      stopping.Reset(plan.v0, kSdeLanes);
      uint32_t same = (1u << kSdeLanes) - 1;  // Lanes whose V the two kernels still share.
      const int n = kernel.gaussians_per_step();
      std::vector<double> g(n * kSdeLanes), drawn(n);
      std::vector<RandomStream> streams;
      for (int p = 0; p < kSdeLanes; ++p) streams.emplace_back(5, 0, p, 1);
      for (int step = 0; step < 300 && kernel.live_lanes() != 0; ++step) {
        for (int p = 0; p < kSdeLanes; ++p) {
          streams[p].FillGaussianZigguratOneWord(drawn.data(), n);
          for (int k = 0; k < n; ++k) g[k * kSdeLanes + p] = drawn[k];
        }
        const uint32_t diverged = kernel.Step(g.data());
        const uint32_t stopped = stopping.Step(g.data());
        const uint32_t floored = kernel.floored();
        const std::string where = "m " + std::to_string(m) + " isa " +
                                  std::to_string(static_cast<int>(isa)) + " step " +
                                  std::to_string(step);
        ASSERT_EQ(floored & ~kernel.live_lanes(), 0u) << where;
        ASSERT_EQ(stopped & same, (diverged | floored) & same) << where;
        same &= ~(stopped | floored);
        floors += __builtin_popcount(floored);
        ASSERT_EQ(kernel.Diverged(thresholds, kernel.live_lanes() & ~floored), 0u) << where;
      }
    }
  }
  EXPECT_GT(floors, 0) << "no step floored: the regime does not exercise floored()";
}

// Diverged is IsDiverged (sample_observer.h) of each asked lane, in every variant this CPU runs:
// a NaN or an infinity anywhere in V (off the diagonal too), a diagonal entry above the lane's
// own threshold (not at it), and lanes not asked are never reported. Every entry of the m×m block
// is tested, the last one included, for m = 1, 5 and 8.
TEST(BatchedEulerMaruyamaTest, DivergedIsIsDivergedOfEachLane) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  constexpr double kInf = std::numeric_limits<double>::infinity();
  for (int m : {1, 5, 8}) {
    const ModelPlan plan = ResolveModel(Transformer(m, 1.0, 0.3));
    auto sde = CovarianceSde::FromPlan(plan);
    ASSERT_TRUE(sde.ok()) << sde.status();
    // Per lane: at, below and above the diagonal's largest entry, and the defaults.
    const double largest = plan.v0.diagonal().maxCoeff();
    const double thresholds[kSdeLanes] = {largest,       std::nextafter(largest, 0.0),
                                          2 * largest,   1e12,
                                          0.5 * largest, largest,
                                          1e12,          std::nextafter(largest, 0.0)};
    std::vector<Matrix> cases = {plan.v0};
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < m; ++j) {
        for (double bad : {kNaN, kInf, -kInf}) {
          Matrix v = plan.v0;
          v(i, j) = bad;
          cases.push_back(v);
        }
      }
    }
    for (SdeIsa isa : SupportedSdeIsas()) {
      BatchedEulerMaruyama kernel(*sde, 1.0 / 64, Positivity::kEigenFloor, isa);
      for (const Matrix& v : cases) {
        kernel.Reset(v, kSdeLanes);
        for (uint32_t asked : {0xFFu, 0x5Au, 0x00u}) {
          uint32_t expected = 0;
          for (int p = 0; p < kSdeLanes; ++p) {
            if ((asked >> p) & 1u && IsDiverged(v, thresholds[p])) expected |= 1u << p;
          }
          EXPECT_EQ(kernel.Diverged(thresholds, asked), expected)
              << "m " << m << " isa " << static_cast<int>(isa) << " asked " << asked << "\n"
              << v;
        }
      }
    }
  }
}

// Records every layer of one path.
class Recorder : public SampleObserver {
 public:
  void OnCovariance(int layer, const Matrix& v) override {
    layers.push_back(layer);
    values.insert(values.end(), v.data(), v.data() + v.size());
  }
  void OnGradients(int, const GradientNorms&) override {}
  void OnDiverged(int layer) override { diverged_at = layer; }
  bool WantsLayer(int) const override { return true; }
  bool Cancelled() const override { return false; }
  double DivergenceThreshold() const override { return threshold; }
  std::vector<int> layers;
  std::vector<double> values;
  int diverged_at = -1;
  double threshold = kDefaultDivergenceThreshold;
};

// A path is a function of (seed, point, sample) only: alone, in lane 0 of a batch, or in lane 3
// of a batch that starts three samples earlier, its reports are the same bits.
TEST(SdeSamplerBatchTest, APathDoesNotDependOnItsBatch) {
  ModelSpec model = Transformer(6, 0.5, 0.2);
  v1::SdeOptions options;
  options.set_steps_per_layer(2);
  auto sampler = SdeSampler::Create(ResolveModel(model), options);
  ASSERT_TRUE(sampler.ok()) << sampler.status();
  auto run_batch = [&](uint32_t first, int paths) {
    std::vector<Recorder> recorders(paths);
    std::vector<SampleObserver*> pointers;
    for (auto& r : recorders) pointers.push_back(&r);
    EXPECT_TRUE(sampler->SampleBatch({9, 2, first}, pointers.data(), paths).ok());
    return recorders;
  };
  const auto early = run_batch(10, 8);
  const auto late = run_batch(13, 8);
  int diverged = 0;
  for (uint32_t sample = 13; sample < 18; ++sample) {
    Recorder alone;
    ASSERT_TRUE(sampler->Sample({9, 2, sample}, alone).ok());
    for (const Recorder* other : {&early[sample - 10], &late[sample - 13]}) {
      EXPECT_EQ(alone.layers, other->layers) << sample;
      EXPECT_EQ(alone.diverged_at, other->diverged_at) << sample;
      ASSERT_EQ(alone.values.size(), other->values.size()) << sample;
      EXPECT_EQ(0, std::memcmp(alone.values.data(), other->values.data(),
                               alone.values.size() * sizeof(double)))
          << sample;
    }
    diverged += alone.diverged_at >= 0;
  }
  EXPECT_LT(diverged, 5) << "every compared path exploded; the comparison says little";
}

// A batch advanced in pieces (StartBatch, then AdvanceBatch to any layers: repeated, below the
// batch's layer, past the depth) reports what one SampleBatch reports, bit for bit, paths that
// diverge on the way included; a cancelled piece leaves the batch where it was.
TEST(SdeSamplerBatchTest, ABatchAdvancedInPiecesIsTheSameBatch) {
  ModelSpec model = Transformer(6, 0.5, 0.2);  // Depth 32; some of the paths explode.
  v1::SdeOptions options;
  options.set_steps_per_layer(2);
  auto sampler = SdeSampler::Create(ResolveModel(model), options);
  ASSERT_TRUE(sampler.ok()) << sampler.status();
  constexpr int kPaths = 7;
  std::vector<Recorder> whole(kPaths), pieces(kPaths);
  std::vector<SampleObserver*> whole_pointers, piece_pointers;
  for (int p = 0; p < kPaths; ++p) {
    // Even paths stop where max V_αα passes 1.5 (the sampler retires their lanes): paths 0, 2
    // and 6 do, at layers 2, 17 and 1.
    if (p % 2 == 0) whole[p].threshold = pieces[p].threshold = 1.5;
    whole_pointers.push_back(&whole[p]);
    piece_pointers.push_back(&pieces[p]);
  }
  ASSERT_TRUE(sampler->SampleBatch({4, 1, 40}, whole_pointers.data(), kPaths).ok());
  SdeSampler::Batch batch = sampler->StartBatch(piece_pointers.data(), kPaths);
  int reached = 0;
  for (int to : {0, 5, 5, 3, 11, 12, 29, 1000}) {
    ASSERT_TRUE(sampler->AdvanceBatch({4, 1, 40}, piece_pointers.data(), kPaths, to, &batch).ok());
    reached = std::max(reached, std::min(to, 32));
    if (batch.kernel.live_lanes() != 0) EXPECT_EQ(batch.layer, reached) << "to " << to;
  }
  int diverged = 0;
  for (int p = 0; p < kPaths; ++p) {
    EXPECT_EQ(whole[p].layers, pieces[p].layers) << p;
    EXPECT_EQ(whole[p].diverged_at, pieces[p].diverged_at) << p;
    ASSERT_EQ(whole[p].values.size(), pieces[p].values.size()) << p;
    EXPECT_EQ(0, std::memcmp(whole[p].values.data(), pieces[p].values.data(),
                             whole[p].values.size() * sizeof(double)))
        << p;
    diverged += whole[p].diverged_at >= 0;
  }
  EXPECT_GT(diverged, 0) << "no path diverged: the pieces' handling of dead lanes is untested";
  EXPECT_LT(diverged, kPaths) << "every path diverged early; the comparison says little";

  class Cancelling final : public Recorder {
   public:
    bool Cancelled() const override { return true; }
  };
  std::vector<Cancelling> cancelling(kPaths);
  std::vector<SampleObserver*> cancelling_pointers;
  for (auto& c : cancelling) cancelling_pointers.push_back(&c);
  SdeSampler::Batch stopped = sampler->StartBatch(cancelling_pointers.data(), kPaths);
  EXPECT_EQ(sampler->AdvanceBatch({4, 1, 40}, cancelling_pointers.data(), kPaths, 10, &stopped)
                .code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(stopped.layer, 0);
}

}  // namespace
}  // namespace sigprop
