#include "common/stats/extreme_eigenvalues.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/stats/covariance_stats.h"
#include "tests/unit/random_matrices.h"

namespace sigprop {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

// V = diag(λ) + 10⁻²⁰ off the diagonal, λ = (λ_min, ½, …, ½, 1): λ_min in the corner the first
// reflector leaves alone, coupled to the rest by ~10⁻²⁰ (a shift of ~10⁻³⁹), so the tridiagonal
// form keeps it far below rounding although the rest moves by ~ε. It sits where it was put
// relative to the floor θ = m·ε·λ_max: log_det is −inf for λ_min = θ/4 and θ/2 (below the floor,
// though V is positive definite), finite and Σ log λ for 2θ and 4θ. A test against 0 instead of
// θ, or one that lets through what it should not, flips one of them.
Matrix NearlyDiagonal(int m, double smallest) {
  Matrix v = Matrix::Constant(m, m, 1e-20);
  for (int i = 0; i < m; ++i) v(i, i) = i == 0 ? smallest : i == m - 1 ? 1.0 : 0.5;
  return v;
}

TEST(ExtremeEigenvaluesTest, LogDetIsFiniteExactlyAboveTheDefinitenessFloor) {
  for (int m : {2, 3, 5, 8}) {
    const double floor = DefinitenessFloor(m, 1.0);
    for (double factor : {0.25, 0.5, 2.0, 4.0}) {
      const double smallest = factor * floor;
      const ExtremeEigenvalues e = ComputeExtremeEigenvalues(NearlyDiagonal(m, smallest));
      EXPECT_NEAR(e.largest, 1.0, 4 * kEps);
      if (factor < 1) {
        EXPECT_EQ(e.log_det, -std::numeric_limits<double>::infinity())
            << "m = " << m << ", λ_min = " << factor << "·floor";
      } else {
        const double expected = (m - 2) * std::log(0.5) + std::log(smallest);
        EXPECT_NEAR(e.log_det, expected, 1e-12 * std::abs(expected))
            << "m = " << m << ", λ_min = " << factor << "·floor";
      }
    }
  }
}

// A V of entries near 2^k·1 (a signal that vanished or exploded over many layers) has the
// statistics of V at k = 0 scaled: λ_max·2^k and log det + m·k·log 2. Unscaled, the Laguerre
// minors underflowed from about 10^−160 (log_det −inf, λ_max wrong) and overflowed beyond 10^160.
TEST(ExtremeEigenvaluesTest, VFarFromOneIsScaledAndScaledBack) {
  std::mt19937_64 rng(314);
  for (int m : {1, 2, 5, 8}) {
    const Matrix g = testing::GaussianMatrix(m, 3 * m, rng);
    const Matrix v = g * g.transpose() / (3.0 * m);
    const ExtremeEigenvalues base = ComputeExtremeEigenvalues(v);
    ASSERT_TRUE(std::isfinite(base.log_det)) << "m = " << m;
    for (int k : {-1000, -700, -400, 400, 700}) {
      const ExtremeEigenvalues scaled = ComputeExtremeEigenvalues(std::ldexp(1.0, k) * v);
      EXPECT_NEAR(scaled.largest / std::ldexp(base.largest, k), 1.0, 1e-13)
          << "m = " << m << ", 2^" << k;
      const double expected = base.log_det + m * k * std::log(2.0);
      EXPECT_NEAR(scaled.log_det, expected, 1e-12 * std::abs(expected) + 1e-12)
          << "m = " << m << ", 2^" << k;
    }
  }
  EXPECT_EQ(ScaleExponent(Matrix::Identity(3, 3)), 0);
  EXPECT_EQ(ScaleExponent(1e-150 * Matrix::Identity(3, 3)), std::ilogb(1e-150));
  EXPECT_EQ(ScaleExponent(Matrix::Zero(3, 3)), 0);
}

// Closed form: T = tridiag(−1, 2, −1) of size n has eigenvalues 2 − 2cos(kπ/(n + 1)), k = 1…n.
TEST(ExtremeEigenvaluesTest, DiscreteLaplacianMatchesItsClosedForm) {
  for (int n : {1, 2, 3, 8, 17, 64}) {
    const std::vector<double> diagonal(n, 2.0);
    const std::vector<double> off_squared(std::max(0, n - 1), 1.0);
    const double largest = LargestTridiagonalEigenvalue(diagonal.data(), off_squared.data(), n);
    const double expected = n == 1 ? 2.0 : 2.0 - 2.0 * std::cos(n * M_PI / (n + 1));
    EXPECT_NEAR(largest, expected, 16 * kEps * 4.0) << "n = " << n;
    std::vector<double> negated(n, -2.0);
    const double smallest =
        -LargestTridiagonalEigenvalue(negated.data(), off_squared.data(), n);
    const double expected_smallest = n == 1 ? 2.0 : 2.0 - 2.0 * std::cos(M_PI / (n + 1));
    EXPECT_NEAR(smallest, expected_smallest, 16 * kEps * 4.0) << "n = " << n;
  }
}

// Matrices the statistics meet: Wishart draws, near rank one (collapse), clusters and exact
// repeats (V = cI, block repeats: Laguerre's slow case), and indefinite symmetric ones.
std::vector<Matrix> Cases(int m, std::mt19937_64& rng) {
  auto gaussian = [&](int rows, int cols) { return testing::GaussianMatrix(rows, cols, rng); };
  std::vector<Matrix> cases;
  const Matrix x = gaussian(m, 2 * m + 3);
  cases.push_back(x * x.transpose() / x.cols());                      // Wishart.
  const Matrix ones = Matrix::Constant(m, m, 1.0);
  const Matrix noise = gaussian(m, m);
  const Matrix sym_noise = (noise + noise.transpose()) / 2;
  cases.push_back(ones + 1e-9 * (Matrix::Identity(m, m) + sym_noise * sym_noise.transpose()));
  cases.push_back(3.0 * Matrix::Identity(m, m));                      // One eigenvalue, m times.
  cases.push_back(Matrix::Identity(m, m) + 1e-12 * sym_noise);        // A tight cluster.
  Matrix blocks = Matrix::Identity(m, m);
  blocks.topLeftCorner(m / 2, m / 2) *= 5.0;                          // Two repeated values.
  cases.push_back(blocks);
  cases.push_back(sym_noise);                                          // Indefinite.
  cases.push_back(0.8 * Matrix::Identity(m, m) + 0.2 * ones);          // The SDE's start.
  return cases;
}

// Against Eigen's full self-adjoint solver (implicit-shift QR): both are backward stable, so the
// extreme eigenvalues agree to a small multiple of ε‖V‖ (64·m·ε‖V‖ allowed; rounding, no sigma).
TEST(ExtremeEigenvaluesTest, AgreeWithTheFullSolver) {
  std::mt19937_64 rng(18);
  for (int m : {1, 2, 3, 4, 5, 8, 13, 16, 32}) {
    for (const Matrix& v : Cases(m, rng)) {
      const Eigen::VectorXd eig =
          Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(v, Eigen::EigenvaluesOnly).eigenvalues();
      const double norm = eig.cwiseAbs().maxCoeff();
      const ExtremeEigenvalues got = ComputeExtremeEigenvalues(v);
      const double tolerance = 64 * m * kEps * std::max(norm, 1e-300);
      EXPECT_NEAR(got.largest, eig(m - 1), tolerance) << "m = " << m << "\n" << v;
      // λ_min through the same iteration on −T (what log det's definiteness test falls back to).
      const Eigen::Tridiagonalization<Eigen::MatrixXd> t(v);
      std::vector<double> negated(m), off_squared(std::max(0, m - 1));
      for (int i = 0; i < m; ++i) negated[i] = -t.diagonal()(i);
      for (int i = 0; i + 1 < m; ++i) off_squared[i] = t.subDiagonal()(i) * t.subDiagonal()(i);
      if (m == 1) negated[0] = -v(0, 0);
      EXPECT_NEAR(-LargestTridiagonalEigenvalue(negated.data(), off_squared.data(), m), eig(0),
                  tolerance) << "m = " << m << "\n" << v;
      if (eig(0) > 1e3 * tolerance) {
        // log det = Σ log λ_k; each λ_k moves by at most the tolerance, so log det by at most
        // Σ tolerance/λ_k.
        double expected = 0.0;
        double allowed = 0.0;
        for (int k = 0; k < m; ++k) {
          expected += std::log(eig(k));
          allowed += tolerance / eig(k);
        }
        EXPECT_NEAR(got.log_det, expected, allowed + 1e-13 * std::abs(expected)) << "m = " << m;
      } else if (eig(0) < -1e3 * tolerance) {
        EXPECT_EQ(got.log_det, -std::numeric_limits<double>::infinity()) << "m = " << m;
      }
    }
  }
}

double LogDetRounding(const Matrix& v) {
  const Eigen::VectorXd eig =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(v, Eigen::EigenvaluesOnly).eigenvalues();
  const double unit = 64 * v.rows() * kEps * eig.cwiseAbs().maxCoeff();
  double allowed = 1e-13 * std::abs(eig.array().log().sum());
  for (int k = 0; k < eig.size(); ++k) allowed += unit / eig(k);
  return allowed;
}

// The per-sample statistics agree whichever path computed them (eig_k requested or not).
TEST(ExtremeEigenvaluesTest, StatisticsAgreeWithAndWithoutTheFullSpectrum) {
  std::mt19937_64 rng(7);
  for (int m : {2, 4, 8, 16, 32}) {
    for (const Matrix& v : Cases(m, rng)) {
      CovarianceStatOptions fast;
      CovarianceStatOptions full;
      full.eigenvalues = true;
      std::vector<double> a(CovarianceStatNames(m, fast).size());
      std::vector<double> b(CovarianceStatNames(m, full).size());
      ComputeCovarianceStats(v, fast, a.data());
      ComputeCovarianceStats(v, full, b.data());
      for (size_t k = 0; k < a.size(); ++k) {
        if (std::isnan(b[k])) {
          EXPECT_TRUE(std::isnan(a[k])) << k;
        } else if (std::isinf(b[k])) {
          EXPECT_EQ(a[k], b[k]) << "statistic " << k << ", m = " << m << "\n" << v;
        } else {
          // log det reads the small eigenvalues, which either algorithm knows only to about
          // ε‖V‖ absolute: allow Σ_k 64·m·ε‖V‖/λ_k there (rounding, no sigma).
          const double allowed = k == 3 ? LogDetRounding(v) : 1e-12 * std::max(1.0, std::abs(b[k]));
          EXPECT_NEAR(a[k], b[k], allowed)
              << "statistic " << k << ", m = " << m << "\n" << v;
        }
      }
    }
  }
}

}  // namespace
}  // namespace sigprop
