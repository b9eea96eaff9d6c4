#include "common/stats/covariance_stats.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sigprop {
namespace {

enum Index { kRhoMean, kRhoMin, kVDiagMean, kLogDet, kCollapse, kStableRank, kV11, kRho12, kV23 };

std::vector<double> Stats(const Matrix& v, bool eigenvalues = false) {
  CovarianceStatOptions options;
  options.eigenvalues = eigenvalues;
  std::vector<double> out(
      CovarianceStatNames(static_cast<int>(v.rows()), options).size(),
      -12345.0);  // A sentinel: every slot must be overwritten.
  ComputeCovarianceStats(v, options, out.data());
  return out;
}

TEST(CovarianceStatNamesTest, FixedOrder) {
  CovarianceStatOptions plain;
  EXPECT_EQ(CovarianceStatNames(2, plain),
            (std::vector<std::string>{"rho_mean", "rho_min", "v_diag_mean", "log_det", "collapse",
                                      "stable_rank", "v11", "rho12"}));
  CovarianceStatOptions with_eig;
  with_eig.eigenvalues = true;
  EXPECT_EQ(CovarianceStatNames(3, with_eig),
            (std::vector<std::string>{"rho_mean", "rho_min", "v_diag_mean", "log_det", "collapse",
                                      "stable_rank", "v11", "rho12", "v23", "eig_0", "eig_1",
                                      "eig_2"}));
}

// V = I (m = 4): ρ = 0, log det = 0, tr(PV) = tr P = m − 1 so collapse = sqrt((m − 1)/m),
// stable rank = m/1.
TEST(CovarianceStatsTest, Identity) {
  const std::vector<double> s = Stats(Matrix::Identity(4, 4), true);
  EXPECT_DOUBLE_EQ(s[kRhoMean], 0.0);
  EXPECT_DOUBLE_EQ(s[kRhoMin], 0.0);
  EXPECT_DOUBLE_EQ(s[kVDiagMean], 1.0);
  EXPECT_NEAR(s[kLogDet], 0.0, 1e-14);
  EXPECT_NEAR(s[kCollapse], std::sqrt(3.0 / 4.0), 1e-15);
  EXPECT_NEAR(s[kStableRank], 4.0, 1e-14);
  EXPECT_DOUBLE_EQ(s[kV11], 1.0);
  EXPECT_DOUBLE_EQ(s[kRho12], 0.0);
  EXPECT_DOUBLE_EQ(s[kV23], 0.0);
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(s[9 + k], 1.0, 1e-14);
}

// Every token row equal: V = a·11ᵀ. ρ = 1, X − 1x̄ᵀ = 0 so collapse = 0, one eigenvalue m·a,
// stable rank 1, and V is singular so log det = −inf.
TEST(CovarianceStatsTest, RankOneEqualRows) {
  const double a = 2.5;
  const std::vector<double> s = Stats(Matrix::Constant(3, 3, a), true);
  EXPECT_NEAR(s[kRhoMean], 1.0, 1e-15);
  EXPECT_NEAR(s[kRhoMin], 1.0, 1e-15);
  EXPECT_NEAR(s[kCollapse], 0.0, 1e-7);  // sqrt of a rounding-level trace.
  EXPECT_NEAR(s[kStableRank], 1.0, 1e-14);
  EXPECT_EQ(s[kLogDet], -std::numeric_limits<double>::infinity());
  EXPECT_NEAR(s[9], 3 * a, 1e-13);
  EXPECT_NEAR(s[10], 0.0, 1e-13);
  EXPECT_NEAR(s[11], 0.0, 1e-13);
}

// V = x xᵀ, x = (1, 2, 3): still ρ = 1 and stable rank 1, but the rows differ:
// tr V = 14, 1ᵀV1 = 36, tr(PV) = 14 − 36/3 = 2, collapse = sqrt(2/14).
TEST(CovarianceStatsTest, RankOneUnequalRows) {
  Vector x(3);
  x << 1, 2, 3;
  const std::vector<double> s = Stats(x * x.transpose());
  EXPECT_NEAR(s[kRhoMean], 1.0, 1e-15);
  EXPECT_NEAR(s[kCollapse], std::sqrt(2.0 / 14.0), 1e-14);
  EXPECT_NEAR(s[kStableRank], 1.0, 1e-14);
  EXPECT_EQ(s[kLogDet], -std::numeric_limits<double>::infinity());
  EXPECT_DOUBLE_EQ(s[kV11], 1.0);
  EXPECT_DOUBLE_EQ(s[kV23], 6.0);
}

// Tridiagonal V = [[2,1,0],[1,2,1],[0,1,2]]: eigenvalues 2 − √2, 2, 2 + √2, det 4;
// ρ12 = ρ23 = 1/2, ρ13 = 0; tr V = 6, 1ᵀV1 = 10, tr(PV) = 6 − 10/3 = 8/3, collapse = 2/3.
TEST(CovarianceStatsTest, HandComputedTridiagonal) {
  Matrix v(3, 3);
  v << 2, 1, 0, 1, 2, 1, 0, 1, 2;
  const std::vector<double> s = Stats(v, true);
  EXPECT_NEAR(s[kRhoMean], 1.0 / 3.0, 1e-15);
  EXPECT_DOUBLE_EQ(s[kRhoMin], 0.0);
  EXPECT_DOUBLE_EQ(s[kVDiagMean], 2.0);
  EXPECT_NEAR(s[kLogDet], std::log(4.0), 1e-14);
  EXPECT_NEAR(s[kCollapse], 2.0 / 3.0, 1e-15);
  EXPECT_NEAR(s[kStableRank], 6.0 / (2.0 + std::sqrt(2.0)), 1e-14);
  EXPECT_DOUBLE_EQ(s[kV11], 2.0);
  EXPECT_DOUBLE_EQ(s[kRho12], 0.5);
  EXPECT_DOUBLE_EQ(s[kV23], 1.0);
  EXPECT_NEAR(s[9], 2.0 + std::sqrt(2.0), 1e-14);
  EXPECT_NEAR(s[10], 2.0, 1e-14);
  EXPECT_NEAR(s[11], 2.0 - std::sqrt(2.0), 1e-14);
}

// [[1,2],[2,1]] has eigenvalues 3 and −1: not PD, so log det is −inf, not a crash or NaN.
TEST(CovarianceStatsTest, IndefiniteHasMinusInfiniteLogDet) {
  Matrix v(2, 2);
  v << 1, 2, 2, 1;
  const std::vector<double> s = Stats(v);
  EXPECT_EQ(s[kLogDet], -std::numeric_limits<double>::infinity());
  EXPECT_NEAR(s[kStableRank], 2.0 / 3.0, 1e-14);
}

TEST(CovarianceStatsTest, NonFiniteGivesNaN) {
  Matrix v = Matrix::Identity(3, 3);
  v(1, 1) = std::numeric_limits<double>::infinity();
  for (double x : Stats(v, true)) EXPECT_TRUE(std::isnan(x));
}

// One token: no pair, so the ρ statistics are undefined; the rest is well defined.
TEST(CovarianceStatsTest, SingleTokenHasUndefinedCorrelations) {
  const std::vector<double> s = Stats(Matrix::Constant(1, 1, 3.0));
  ASSERT_EQ(s.size(), 8u);
  EXPECT_TRUE(std::isnan(s[kRhoMean]));
  EXPECT_TRUE(std::isnan(s[kRhoMin]));
  EXPECT_TRUE(std::isnan(s[kRho12]));
  EXPECT_DOUBLE_EQ(s[kVDiagMean], 3.0);
  EXPECT_NEAR(s[kLogDet], std::log(3.0), 1e-15);
  EXPECT_DOUBLE_EQ(s[kCollapse], 0.0);
  EXPECT_DOUBLE_EQ(s[kStableRank], 1.0);
}

// The per-thread solver must not carry state between calls of different sizes.
TEST(CovarianceStatsTest, AlternatingSizesGiveTheSameResults) {
  Matrix v3(3, 3);
  v3 << 2, 1, 0, 1, 2, 1, 0, 1, 2;
  const std::vector<double> first = Stats(v3, true);
  Stats(Matrix::Identity(5, 5), true);
  EXPECT_EQ(Stats(v3, true), first);
}

}  // namespace
}  // namespace sigprop
