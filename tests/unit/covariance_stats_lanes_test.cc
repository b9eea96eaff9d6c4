#include "common/stats/covariance_stats_lanes.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <Eigen/QR>
#include <gtest/gtest.h>

#include "common/cpu_features.h"
#include "common/model_plan.h"
#include "common/sde/sde_sampler.h"
#include "common/stats/covariance_stats.h"
#include "common/stats/extreme_eigenvalues.h"
#include "tests/unit/random_matrices.h"
#include "sigprop/v1/model.pb.h"

namespace sigprop {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kSentinel = -12345.678;

struct alignas(64) LaneMatrices {
  double v[kMaxLaneTokens * kMaxLaneTokens * kLanes];
};

void Put(const Matrix& matrix, int lane, LaneMatrices* lanes) {
  for (int i = 0; i < matrix.rows(); ++i) {
    for (int j = 0; j < matrix.cols(); ++j) {
      lanes->v[(i * kMaxLaneTokens + j) * kLanes + lane] = matrix(i, j);
    }
  }
}

// The values must be ComputeCovarianceStats's bit for bit; NaN matches any NaN (its sign and
// payload are not part of the contract).
bool SameBits(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// Q diag(10, 1, r, …, r^{m−2}) Qᵀ with r^{m−2} = 1e-12 and Q a random rotation (m ≥ 3).
Matrix SpreadSpectrum(int m, std::mt19937_64& rng) {
  const Matrix q = Eigen::HouseholderQR<Matrix>(testing::GaussianMatrix(m, m, rng)).householderQ();
  Eigen::VectorXd eig(m);
  eig(0) = 10.0;
  for (int k = 1; k < m; ++k) eig(k) = std::pow(1e-12, (k - 1.0) / (m - 2));
  const Matrix v = q * eig.asDiagonal() * q.transpose();
  return (v + v.transpose()) / 2;
}

// The matrices the statistics meet, lane kernel's common path first: Wishart draws of several
// degrees of freedom, the SDE's start, correlated tokens; then what leaves it: near rank one
// (exactly, or up to 1e-13), a spectrum spread from 10 to 1e-12 (λ_min computed), V = cI and
// other already-tridiagonal columns, indefinite ones, a zero diagonal entry (undefined ρ),
// non-finite entries.
std::vector<Matrix> Cases(int m, std::mt19937_64& rng) {
  auto gaussian = [&](int rows, int cols) { return testing::GaussianMatrix(rows, cols, rng); };
  std::vector<Matrix> cases;
  for (int dof : {m + 1, 2 * m + 3, 64, 1000}) {
    const Matrix x = gaussian(m, dof);
    cases.push_back(x * x.transpose() / dof);
  }
  const Matrix ones = Matrix::Constant(m, m, 1.0);
  cases.push_back(0.8 * Matrix::Identity(m, m) + 0.2 * ones);
  const Matrix mix = Matrix::Identity(m, m) + 0.3 * gaussian(m, m);
  cases.push_back(1e6 * mix * mix.transpose());
  cases.push_back(1e-6 * mix * mix.transpose());
  const Matrix noise = gaussian(m, m);
  const Matrix sym_noise = (noise + noise.transpose()) / 2;
  cases.push_back(ones + 1e-9 * (Matrix::Identity(m, m) + sym_noise * sym_noise.transpose()));
  cases.push_back(ones + 1e-13 * Matrix::Identity(m, m));
  cases.push_back(ones);
  if (m >= 3) cases.push_back(SpreadSpectrum(m, rng));
  const Matrix direction = gaussian(m, 1);
  cases.push_back(direction * direction.transpose() + 1e-10 * cases[1]);
  cases.push_back(3.0 * Matrix::Identity(m, m));
  cases.push_back(sym_noise);
  Matrix zero_diagonal = cases[1];  // Indices below: the Wishart draws.
  zero_diagonal(m - 1, m - 1) = 0.0;
  cases.push_back(zero_diagonal);
  Matrix infinite = cases[0];
  infinite(0, m - 1) = infinite(m - 1, 0) = std::numeric_limits<double>::infinity();
  cases.push_back(infinite);
  Matrix not_a_number = cases[0];
  not_a_number(m / 2, m / 2) = kNaN;
  cases.push_back(not_a_number);
  return cases;
}

// Every variant this CPU runs, m = 1…8, every case in every lane position with random company and
// a random subset of lanes wanted: each wanted lane equals the scalar code bit for bit, and no
// other lane's row is written.
TEST(CovarianceStatsLanesTest, EveryLaneIsTheScalarStatisticsBitForBit) {
  std::mt19937_64 rng(20261206);
  for (VectorIsa isa : SupportedVectorIsas()) {
    for (int m = 1; m <= kMaxLaneTokens; ++m) {
      const int count = static_cast<int>(CovarianceStatNames(m, {}).size());
      for (int round = 0; round < 40; ++round) {
        const std::vector<Matrix> cases = Cases(m, rng);
        LaneMatrices lanes;
        std::fill(std::begin(lanes.v), std::end(lanes.v), kNaN);  // Beyond m×m: never read.
        std::vector<Matrix> chosen;
        for (int p = 0; p < kLanes; ++p) {
          chosen.push_back(cases[(round * kLanes + p) % cases.size()]);
          Put(chosen.back(), p, &lanes);
        }
        const uint32_t wanted = round == 0 ? 0xffu : static_cast<uint32_t>(rng() & 0xffu);
        double out[kLanes][kMaxDefaultCovarianceStats];
        for (auto& row : out) std::fill(std::begin(row), std::end(row), kSentinel);
        ComputeCovarianceStatsLanes(isa, m, lanes.v, wanted, out);
        for (int p = 0; p < kLanes; ++p) {
          if (!((wanted >> p) & 1u)) {
            for (double x : out[p]) EXPECT_EQ(x, kSentinel) << "lane " << p << " not wanted";
            continue;
          }
          std::vector<double> expected(count);
          ComputeCovarianceStats(chosen[p], {}, expected.data());
          for (int k = 0; k < count; ++k) {
            EXPECT_TRUE(SameBits(out[p][k], expected[k]))
                << "isa " << static_cast<int>(isa) << ", m = " << m << ", lane " << p
                << ", statistic " << k << ": " << out[p][k] << " against " << expected[k];
          }
        }
      }
    }
  }
}

// The floor on λ_min, in the lanes: the nearly diagonal V of extreme_eigenvalues_test, λ_min below
// the floor θ (log_det −inf) and above it (finite) in alternate lanes, for every instruction set.
TEST(CovarianceStatsLanesTest, LogDetIsFiniteExactlyAboveTheDefinitenessFloor) {
  constexpr int kLogDet = 3;
  for (VectorIsa isa : SupportedVectorIsas()) {
    for (int m : {3, 8}) {
      ASSERT_EQ(CovarianceStatNames(m, {})[kLogDet], "log_det");
      const double floor = DefinitenessFloor(m, 1.0);
      LaneMatrices lanes;
      std::fill(std::begin(lanes.v), std::end(lanes.v), kNaN);
      for (int p = 0; p < kLanes; ++p) {
        Matrix v = Matrix::Constant(m, m, 1e-20);
        for (int i = 0; i < m; ++i) v(i, i) = i == m - 1 ? 1.0 : 0.5;
        v(0, 0) = (p % 2 == 0 ? 0.5 : 2.0) * floor;
        Put(v, p, &lanes);
      }
      double out[kLanes][kMaxDefaultCovarianceStats];
      ComputeCovarianceStatsLanes(isa, m, lanes.v, 0xffu, out);
      for (int p = 0; p < kLanes; ++p) {
        EXPECT_EQ(std::isinf(out[p][kLogDet]), p % 2 == 0)
            << "isa " << static_cast<int>(isa) << ", m = " << m << ", lane " << p << ": "
            << out[p][kLogDet];
      }
    }
  }
}

// A V far from 1 (largest diagonal entry beyond 10^±100) leaves the lanes for the scalar code,
// which reduces it scaled; the others stay, and every lane is the scalar statistics.
TEST(CovarianceStatsLanesTest, CovariancesFarFromOneLeaveTheLanes) {
  std::mt19937_64 rng(99);
  for (VectorIsa isa : SupportedVectorIsas()) {
    for (int m : {3, 8}) {
      const Matrix g = testing::GaussianMatrix(m, 3 * m, rng);
      const Matrix v = g * g.transpose() / (3.0 * m);
      // Lanes 1, 2, 4, 6 beyond the range; 3 and 5 scaled within it, their determinants too.
      const double scales[kLanes] = {1.0, 0x1p-400, 0x1p-340, 1e-15, 0x1p400, 1e15, 0x1p-1000, 1.0};
      LaneMatrices lanes;
      for (int p = 0; p < kLanes; ++p) Put(scales[p] * v, p, &lanes);
      double out[kLanes][kMaxDefaultCovarianceStats];
      ComputeCovarianceStatsLanes(isa, m, lanes.v, 0xffu, out);
      EXPECT_EQ(LastScalarLanesForTesting(), (1u << 1) | (1u << 2) | (1u << 4) | (1u << 6))
          << "isa " << static_cast<int>(isa) << ", m = " << m;
      const int count = static_cast<int>(CovarianceStatNames(m, {}).size());
      for (int p = 0; p < kLanes; ++p) {
        std::vector<double> expected(count);
        ComputeCovarianceStats(scales[p] * v, {}, expected.data());
        for (int k = 0; k < count; ++k) {
          EXPECT_TRUE(SameBits(out[p][k], expected[k])) << "lane " << p << ", statistic " << k;
        }
        EXPECT_TRUE(std::isfinite(out[p][3])) << "lane " << p << ": log_det lost";
      }
    }
  }
}

// The lane path does the work for ordinary covariances (else the test above would compare the
// scalar code with itself), and hands the rare ones to the scalar code.
TEST(CovarianceStatsLanesTest, OrdinaryCovariancesStayInTheLanesAndRareOnesLeaveThem) {
  std::mt19937_64 rng(7);
  for (VectorIsa isa : SupportedVectorIsas()) {
    // m = 2 is left out: Laguerre's step is exact for a quadratic, lands on λ_max from afar and
    // ends in bisection (scalar) as often as not.
    for (int m = 3; m <= kMaxLaneTokens; ++m) {
      const std::vector<Matrix> cases = Cases(m, rng);
      LaneMatrices lanes;
      const int ordinary[kLanes] = {0, 1, 2, 3, 5, 6, 0, 1};  // Wishart draws, rescaled ones.
      for (int p = 0; p < kLanes; ++p) Put(cases[ordinary[p]], p, &lanes);
      double out[kLanes][kMaxDefaultCovarianceStats];
      ComputeCovarianceStatsLanes(isa, m, lanes.v, 0xffu, out);
      EXPECT_EQ(LastScalarLanesForTesting(), 0u) << "m = " << m;

      if (m >= 4) {
        // Eigenvalues 10, 1, r, …, r^{m−2} = 1e-12: λ_min is above the floor m·ε·λ_max by far
        // less than the spread, and the Sturm count at the floor must say so in the lanes.
        // Checked here from Eigen's eigenvalues, so that the case cannot drift.
        const Matrix spread = SpreadSpectrum(m, rng);
        const Eigen::VectorXd eig = spread.selfadjointView<Eigen::Lower>().eigenvalues();
        const double floor = m * std::numeric_limits<double>::epsilon() * eig(m - 1);
        ASSERT_GT(eig(0), 10 * floor) << "m = " << m;
        ASSERT_LT(eig(0), 1e-10 * eig(m - 1)) << "m = " << m;
        Put(spread, 5, &lanes);
        ComputeCovarianceStatsLanes(isa, m, lanes.v, 0xffu, out);
        EXPECT_EQ(LastScalarLanesForTesting(), 0u) << "m = " << m;
        std::vector<double> expected(kMaxDefaultCovarianceStats);
        ComputeCovarianceStats(spread, {}, expected.data());
        EXPECT_TRUE(std::isfinite(expected[3])) << "m = " << m;  // Definite after all,
        EXPECT_TRUE(SameBits(out[5][3], expected[3])) << "m = " << m;  // in the lanes too.
      }
      // Already tridiagonal: the scalar reduction skips the column, the lanes hand it over.
      Put(3.0 * Matrix::Identity(m, m), 2, &lanes);
      ComputeCovarianceStatsLanes(isa, m, lanes.v, 0xffu, out);
      EXPECT_EQ(LastScalarLanesForTesting(), 1u << 2) << "m = " << m;
    }
  }
  LaneMatrices lanes;
  Put(Matrix::Constant(1, 1, 2.0), 0, &lanes);
  double out[kLanes][kMaxDefaultCovarianceStats];
  ComputeCovarianceStatsLanes(1, lanes.v, 1u, out);
  EXPECT_EQ(LastScalarLanesForTesting(), 1u);  // m = 1: scalar.
  EXPECT_EQ(out[0][3], std::log(2.0));
}

// Records each layer's default statistics, either as the sampler hands them over
// (OnCovarianceStats, computed in lanes) or computed here from V (OnCovariance, the scalar code).
class RecordingObserver final : public SampleObserver {
 public:
  explicit RecordingObserver(bool takes_stats) : takes_stats_(takes_stats) {}
  void OnCovariance(int layer, const Matrix& v) override {
    Row(layer).resize(CovarianceStatNames(static_cast<int>(v.rows()), {}).size());
    ComputeCovarianceStats(v, {}, Row(layer).data());
    ++matrices;
  }
  bool TakesDefaultCovarianceStats() const override { return takes_stats_; }
  void OnCovarianceStats(int layer, const double* stats) override {
    Row(layer).assign(stats, stats + count);
    ++handed;
  }
  void OnGradients(int, const GradientNorms&) override {}
  void OnDiverged(int) override { ++diverged; }
  bool WantsLayer(int) const override { return true; }
  bool Cancelled() const override { return false; }

  std::vector<double>& Row(int layer) {
    if (rows.size() <= static_cast<size_t>(layer)) rows.resize(layer + 1);
    return rows[layer];
  }

  const bool takes_stats_;
  size_t count = 0;  // Statistics per layer.
  std::vector<std::vector<double>> rows;
  int matrices = 0, handed = 0, diverged = 0;
};

// The SDE sampler hands each path's observer the lane statistics of that path's own V: the same
// bits as the scalar statistics of V reported to an observer that does not take them.
TEST(CovarianceStatsLanesTest, TheSdeSamplerReportsEachPathItsOwnStatistics) {
  v1::ModelSpec model;
  model.set_tokens(6);
  model.set_width(64);
  model.set_depth(32);
  model.set_preset(v1::ModelSpec::SHAPED_TRANSFORMER);
  model.mutable_initial()->set_rho0(0.3);
  const ModelPlan plan = ResolveModel(model);
  auto sampler = SdeSampler::Create(plan, v1::SdeOptions());
  ASSERT_TRUE(sampler.ok()) << sampler.status();
  std::vector<RecordingObserver> lanes, scalar;
  for (int p = 0; p < SdeSampler::kMaxBatch; ++p) {
    lanes.emplace_back(true);
    scalar.emplace_back(false);
    lanes.back().count = scalar.back().count = CovarianceStatNames(6, {}).size();
  }
  SampleObserver* lane_pointers[SdeSampler::kMaxBatch];
  SampleObserver* scalar_pointers[SdeSampler::kMaxBatch];
  for (int p = 0; p < SdeSampler::kMaxBatch; ++p) {
    lane_pointers[p] = &lanes[p];
    scalar_pointers[p] = &scalar[p];
  }
  ASSERT_TRUE(sampler->SampleBatch({5, 0, 16}, lane_pointers, 7).ok());
  ASSERT_TRUE(sampler->SampleBatch({5, 0, 16}, scalar_pointers, 7).ok());
  for (int p = 0; p < 7; ++p) {
    EXPECT_EQ(lanes[p].diverged, 0) << "path " << p;
    EXPECT_EQ(lanes[p].handed, 32) << "path " << p;    // Layers 1…32 in lanes,
    EXPECT_EQ(lanes[p].matrices, 1) << "path " << p;   // the input V0 as a matrix.
    EXPECT_EQ(scalar[p].matrices, 33) << "path " << p;
    ASSERT_EQ(lanes[p].rows.size(), 33u);
    ASSERT_EQ(scalar[p].rows.size(), 33u);
    for (int layer = 0; layer <= 32; ++layer) {
      for (size_t k = 0; k < lanes[p].count; ++k) {
        EXPECT_TRUE(SameBits(lanes[p].rows[layer][k], scalar[p].rows[layer][k]))
            << "path " << p << ", layer " << layer << ", statistic " << k;
      }
    }
  }
  EXPECT_EQ(lanes[7].handed + lanes[7].matrices, 0);  // Idle lane.
}

// Records the order of a path's calls: each layer's statistics (+layer) and its divergence
// (−layer).
class OrderObserver final : public SampleObserver {
 public:
  explicit OrderObserver(double threshold) : threshold_(threshold) {}
  void OnCovariance(int layer, const Matrix&) override { calls.push_back(layer); }
  bool TakesDefaultCovarianceStats() const override { return true; }
  void OnCovarianceStats(int layer, const double*) override { calls.push_back(layer); }
  void OnGradients(int, const GradientNorms&) override {}
  void OnDiverged(int layer) override { calls.push_back(-layer); }
  bool WantsLayer(int) const override { return true; }
  bool Cancelled() const override { return false; }
  double DivergenceThreshold() const override { return threshold_; }

  std::vector<int> calls;

 private:
  double threshold_;
};

// The sampler holds several layers' statistics and computes them together (sde_sampler.cc): a
// path's observer still gets layers 0, 1, 2, … in order, and its divergence after them, not
// before the statistics still held. Paths diverge part-way two ways: at a low threshold (the
// sampler's test once a layer), and at the default one in a regime that explodes (τ0 = 0.3, the
// kernel's own test inside a step).
TEST(CovarianceStatsLanesTest, TheSdeSamplersHeldStatisticsComeBeforeADivergence) {
  struct Case {
    double threshold, tau0, rho0;
    int width, depth;
  };
  for (const Case& c : {Case{2.0, 1.0, 0.3, 64, 48},
                        Case{SampleObserver::kDefaultDivergenceThreshold, 0.3, 0.5, 32, 64}}) {
    v1::ModelSpec model;
    model.set_tokens(6);
    model.set_width(c.width);
    model.set_depth(c.depth);
    model.set_preset(v1::ModelSpec::SHAPED_TRANSFORMER);
    model.mutable_attention()->set_tau0(c.tau0);
    model.mutable_initial()->set_rho0(c.rho0);
    auto sampler = SdeSampler::Create(ResolveModel(model), v1::SdeOptions());
    ASSERT_TRUE(sampler.ok()) << sampler.status();
    std::vector<OrderObserver> observers(SdeSampler::kMaxBatch, OrderObserver(c.threshold));
    SampleObserver* pointers[SdeSampler::kMaxBatch];
    for (int p = 0; p < SdeSampler::kMaxBatch; ++p) pointers[p] = &observers[p];
    ASSERT_TRUE(sampler->SampleBatch({3, 0, 0}, pointers, SdeSampler::kMaxBatch).ok());
    int diverged_late = 0, survived = 0;
    for (int p = 0; p < SdeSampler::kMaxBatch; ++p) {
      const std::vector<int>& calls = observers[p].calls;
      ASSERT_FALSE(calls.empty());
      const bool diverged = calls.back() < 0;
      const size_t layers = calls.size() - (diverged ? 1 : 0);
      for (size_t i = 0; i < layers; ++i) {
        ASSERT_EQ(calls[i], static_cast<int>(i))
            << "threshold " << c.threshold << ", path " << p << ", call " << i;
      }
      if (diverged) {
        EXPECT_EQ(-calls.back(), static_cast<int>(layers)) << "path " << p;
        // Past the first eight layers held: statistics were held, and some already flushed.
        if (layers > 9) ++diverged_late;
      } else {
        EXPECT_EQ(layers, static_cast<size_t>(c.depth + 1)) << "path " << p;
        ++survived;
      }
    }
    // The case makes the test: some paths diverge late, and some never.
    EXPECT_GT(diverged_late, 0) << "threshold " << c.threshold;
    EXPECT_GT(survived, 0) << "threshold " << c.threshold;
  }
}

}  // namespace
}  // namespace sigprop
