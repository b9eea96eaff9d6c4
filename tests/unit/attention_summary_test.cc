// The attention statistics each sampler reports (SummariseAttention): closed forms, and the gap
// against an independent SVD. The law tests compare these statistics between samplers, which all
// call this one function, so they cannot see an error in it; these can.
#include <cmath>
#include <random>
#include <vector>

#include <Eigen/SVD>
#include <gtest/gtest.h>

#include "common/finite/attention_matrix.h"
#include "common/model_plan.h"

namespace sigprop {
namespace {

// σ_k from the eigenvalues of AᵀA are exact to about √ε‖A‖ where σ_k is near 0 (the function's
// comment), so the gap to 1e-7 there; 1e-12 where both singular values are well away from 0.
constexpr double kNearRankOne = 1e-7;

AttentionPlan Plan(AttentionKind kind) {
  AttentionPlan plan;
  plan.kind = kind;
  return plan;
}

// A = 11ᵀ/m: σ = (1, 0, …), so the gap is 1; each row uniform, entropy log m.
TEST(AttentionSummaryTest, UniformAttentionHasUnitGapAndEntropyLogM) {
  for (int m : {2, 3, 8, 16}) {
    const Matrix a = Matrix::Constant(m, m, 1.0 / m);
    const AttentionStats s = SummariseAttention(Plan(AttentionKind::kUniform), {}, {a}, 0.25);
    EXPECT_NEAR(s.gap, 1.0, kNearRankOne) << "m = " << m;
    EXPECT_NEAR(s.entropy, std::log(m), 1e-12) << "m = " << m;
    EXPECT_EQ(s.max_logit, 0.25);
  }
}

// A = I: every singular value 1, no gap; each row a point mass, entropy 0.
TEST(AttentionSummaryTest, IdentityHasNoGap) {
  const AttentionStats s =
      SummariseAttention(Plan(AttentionKind::kIdentity), {}, {Matrix::Identity(5, 5)}, 0.0);
  EXPECT_NEAR(s.gap, 0.0, 1e-12);
  EXPECT_NEAR(s.entropy, 0.0, 1e-12);
}

// A diagonal matrix's singular values are its |entries|: diag(3, −1, 0.5) has gap 3 − 1 = 2.
// Heads average: with a second head of gap 0 (the identity) the statistic is 1.
TEST(AttentionSummaryTest, GapIsTheFirstMinusTheSecondSingularValueAveragedOverHeads) {
  Matrix d = Matrix::Zero(3, 3);
  d.diagonal() << 0.5, -1.0, 3.0;
  const Matrix p = Matrix::Identity(3, 3);
  EXPECT_NEAR(SummariseAttention(Plan(AttentionKind::kSoftmax), {p}, {d}, 0.0).gap, 2.0, 1e-12);
  EXPECT_NEAR(SummariseAttention(Plan(AttentionKind::kSoftmax), {p, p},
                                 {d, Matrix::Identity(3, 3)}, 0.0).gap,
              1.0, 1e-12);
}

// Random softmax-like rows (row-stochastic, some near rank one) against Eigen's Jacobi SVD of A.
TEST(AttentionSummaryTest, GapAgreesWithAJacobiSvd) {
  std::mt19937_64 rng(18);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int m : {2, 4, 8, 16}) {
    for (double sharpness : {0.1, 3.0, 30.0}) {
      Matrix a(m, m);
      for (int i = 0; i < m; ++i) {
        for (int j = 0; j < m; ++j) a(i, j) = std::exp(sharpness * uniform(rng));
        a.row(i) /= a.row(i).sum();
      }
      const Eigen::VectorXd sigma = Eigen::JacobiSVD<Matrix>(a).singularValues();
      const AttentionStats s = SummariseAttention(Plan(AttentionKind::kSoftmax), {a}, {a}, 0.0);
      EXPECT_NEAR(s.gap, sigma(0) - sigma(1), kNearRankOne * sigma(0))
          << "m = " << m << ", sharpness " << sharpness;
    }
  }
}

}  // namespace
}  // namespace sigprop
