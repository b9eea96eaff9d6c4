#include "common/limit/limit_map.h"

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "common/rng.h"

namespace sigprop {
namespace {

Matrix TestCovariance() {
  Matrix v(3, 3);
  v << 1.0, 0.5, -0.3,  //
      0.5, 2.0, 0.2,    //
      -0.3, 0.2, 0.8;
  return v;
}

std::vector<Activation> AllNonlinear() {
  // SHAPED_RELU at width 4 with c₋ = −1: slopes (1, 1/2), far from linear so the test sees it.
  return {MakeActivation(ActivationKind::kRelu, 0, 0, 0),
          MakeActivation(ActivationKind::kShapedRelu, 0.0, -1.0, 4),
          MakeActivation(ActivationKind::kGelu, 0, 0, 0),
          MakeActivation(ActivationKind::kTanh, 0, 0, 0)};
}

// Monte Carlo of c·E[φ(u)φ(u)ᵀ], u = L z ~ N(0, V), 400,000 draws. Each entry is compared with
// MlpKernel within 5 standard errors (the sample std of c·φ(u_α)φ(u_β) over sqrt(N)): two-sided
// false-alarm rate 5.7e-7 per entry, under 1.4e-5 for the 24 entries checked (fixed seed).
TEST(MlpKernelTest, MatchesMonteCarlo) {
  const Matrix v = TestCovariance();
  const Matrix l = v.llt().matrixL();
  const int n = 400000, m = 3;
  RandomStream stream(7, 0, 0, 0);
  std::vector<double> z(static_cast<size_t>(n) * m);
  stream.FillGaussian(z.data(), z.size());
  for (const Activation& activation : AllNonlinear()) {
    Matrix sum = Matrix::Zero(m, m), sum_sq = Matrix::Zero(m, m);
    for (int s = 0; s < n; ++s) {
      const Vector u = l * Eigen::Map<const Vector>(&z[static_cast<size_t>(s) * m], m);
      Vector phi(m);
      for (int a = 0; a < m; ++a) phi(a) = activation.Apply(u(a));
      const Matrix product = activation.c * phi * phi.transpose();
      sum += product;
      sum_sq += product.cwiseProduct(product);
    }
    const Matrix mean = sum / n;
    const Matrix variance = (sum_sq / n - mean.cwiseProduct(mean)) * n / (n - 1.0);
    const Matrix k = MlpKernel(activation, v);
    for (int a = 0; a < m; ++a) {
      for (int b = a; b < m; ++b) {
        const double standard_error = std::sqrt(variance(a, b) / n);
        EXPECT_NEAR(k(a, b), mean(a, b), 5.0 * standard_error)
            << "kind " << static_cast<int>(activation.kind) << " entry " << a << b;
      }
    }
  }
}

// c normalises E φ(u)² = 1/c at unit variance, so on a unit-diagonal V the kernel keeps the
// diagonal; the quadrature kinds share the 64-point rule with MakeActivation, hence to rounding.
TEST(MlpKernelTest, NormalisationPreservesUnitDiagonal) {
  Matrix v(2, 2);
  v << 1.0, 0.4, 0.4, 1.0;
  for (const Activation& activation : AllNonlinear()) {
    const Matrix k = MlpKernel(activation, v);
    EXPECT_NEAR(k(0, 0), 1.0, 1e-12) << static_cast<int>(activation.kind);
    EXPECT_NEAR(k(1, 1), 1.0, 1e-12) << static_cast<int>(activation.kind);
  }
}

// The two-slope φ is positively homogeneous: K_αα = V_αα for every V, not only unit diagonal.
TEST(MlpKernelTest, TwoSlopePreservesAnyDiagonal) {
  const Matrix v = TestCovariance();
  for (const Activation& activation : {AllNonlinear()[0], AllNonlinear()[1]}) {
    const Matrix k = MlpKernel(activation, v);
    for (int a = 0; a < 3; ++a) EXPECT_NEAR(k(a, a), v(a, a), 1e-14);
  }
}

// Hand values of the ReLU kernel: ρ = 0 gives σ_α σ_β/π, ρ = −1 gives 0 (relu(u)relu(−u) = 0).
TEST(MlpKernelTest, ReluHandValues) {
  const Activation relu = MakeActivation(ActivationKind::kRelu, 0, 0, 0);
  Matrix v(2, 2);
  v << 4.0, 0.0, 0.0, 9.0;
  EXPECT_NEAR(MlpKernel(relu, v)(0, 1), 6.0 / M_PI, 1e-14);
  v << 4.0, -6.0, -6.0, 9.0;
  EXPECT_NEAR(MlpKernel(relu, v)(0, 1), 0.0, 1e-14);
}

// s₊ = s₋ (c₊ = c₋) makes SHAPED_RELU linear; LINEAR itself returns V.
TEST(MlpKernelTest, EqualSlopesAreLinear) {
  const Matrix v = TestCovariance();
  EXPECT_TRUE(MlpKernel(MakeActivation(ActivationKind::kShapedRelu, 0.5, 0.5, 16), v)
                  .isApprox(v, 1e-14));
  EXPECT_EQ(MlpKernel(MakeActivation(ActivationKind::kLinear, 0, 0, 0), v), v);
}

ModelPlan BasePlan(const Matrix& v0, int depth) {
  ModelPlan plan;
  plan.tokens = static_cast<int>(v0.rows());
  plan.width = 64;
  plan.key_width = 64;
  plan.depth = depth;
  plan.v0 = v0;
  return plan;
}

Matrix FourTokenCovariance() {
  Matrix v(4, 4);
  v << 1.0, 0.3, 0.1, 0.0,  //
      0.3, 1.5, 0.2, 0.1,   //
      0.1, 0.2, 0.7, -0.2,  //
      0.0, 0.1, -0.2, 1.2;
  return v;
}

// Uniform attention alone: K = v̄ 11ᵀ and v̄(11ᵀ) = 1, so v̄' = (λ² + γ²) v̄.
//   λ = γ = 1:          V_ℓ = V_0 + (2^ℓ − 1) v̄_0 11ᵀ;
//   λ² = .6, γ² = .4:   v̄ is constant and V_ℓ = λ^{2ℓ} V_0 + (1 − λ^{2ℓ}) v̄_0 11ᵀ (ρ → 1).
TEST(LimitTrajectoryTest, UniformAttentionClosedForm) {
  const Matrix v0 = FourTokenCovariance();
  const double v_bar = v0.sum() / 16.0;
  const Matrix ones = Matrix::Ones(4, 4);
  ModelPlan plan = BasePlan(v0, 12);
  plan.attention.kind = AttentionKind::kUniform;

  absl::StatusOr<std::vector<Matrix>> doubling = LimitTrajectory(plan);
  ASSERT_TRUE(doubling.ok()) << doubling.status();
  ASSERT_EQ(doubling->size(), 13u);
  for (int l = 0; l <= 12; ++l) {
    const Matrix expected = v0 + (std::pow(2.0, l) - 1.0) * v_bar * ones;
    EXPECT_TRUE((*doubling)[l].isApprox(expected, 1e-13)) << l;
  }

  plan.attention.skip = std::sqrt(0.6);
  plan.attention.branch = std::sqrt(0.4);
  absl::StatusOr<std::vector<Matrix>> unit_sum = LimitTrajectory(plan);
  ASSERT_TRUE(unit_sum.ok());
  for (int l = 0; l <= 12; ++l) {
    const double decay = std::pow(0.6, l);
    const Matrix expected = decay * v0 + (1.0 - decay) * v_bar * ones;
    EXPECT_TRUE((*unit_sum)[l].isApprox(expected, 1e-13)) << l;
  }
}

// ReLU MLP alone with λ = γ = 1 (no norm): the diagonal doubles each layer (K_αα = V_αα) and the
// correlation follows the arc-cosine map of Cho & Saul, ρ' = (ρ + f(ρ))/2 with
// f(ρ) = (sqrt(1 − ρ²) + (π − arccos ρ) ρ)/π, iterated here on scalars.
TEST(LimitTrajectoryTest, ReluMlpKnownRecursion) {
  Matrix v0(2, 2);
  v0 << 1.0, 0.1 * std::sqrt(2.0), 0.1 * std::sqrt(2.0), 2.0;
  ModelPlan plan = BasePlan(v0, 10);
  plan.mlp.activation = MakeActivation(ActivationKind::kRelu, 0, 0, 0);
  absl::StatusOr<std::vector<Matrix>> trajectory = LimitTrajectory(plan);
  ASSERT_TRUE(trajectory.ok());
  double rho = 0.1;
  for (int l = 0; l <= 10; ++l) {
    const Matrix& v = (*trajectory)[l];
    const double q0 = std::pow(2.0, l), q1 = 2.0 * q0;
    EXPECT_NEAR(v(0, 0) / q0, 1.0, 1e-13) << l;
    EXPECT_NEAR(v(1, 1) / q1, 1.0, 1e-13) << l;
    EXPECT_NEAR(v(0, 1) / std::sqrt(q0 * q1), rho, 1e-13) << l;
    const double f = (std::sqrt(1.0 - rho * rho) + (M_PI - std::acos(rho)) * rho) / M_PI;
    rho = 0.5 * (rho + f);
  }
}

// Post-norm RMSNorm: every layer ends with D^{-1/2} V D^{-1/2}, so diag V_ℓ = 1 for ℓ ≥ 1, while
// the correlations still move. LayerNorm has the same limit.
TEST(LimitTrajectoryTest, PostRmsNormGivesUnitDiagonal) {
  ModelPlan plan = BasePlan(FourTokenCovariance(), 6);
  plan.attention.kind = AttentionKind::kUniform;
  plan.mlp.activation = MakeActivation(ActivationKind::kGelu, 0, 0, 0);
  plan.norm = NormKind::kRms;
  plan.placement = NormPlacement::kPost;
  absl::StatusOr<std::vector<Matrix>> rms = LimitTrajectory(plan);
  ASSERT_TRUE(rms.ok());
  EXPECT_EQ((*rms)[0], plan.v0);
  for (int l = 1; l <= 6; ++l) {
    for (int a = 0; a < 4; ++a) EXPECT_NEAR((*rms)[l](a, a), 1.0, 1e-14) << l;
  }
  EXPECT_GT((*rms)[6](0, 1), (*rms)[1](0, 1));  // Uniform attention drives ρ up.

  plan.norm = NormKind::kLayer;
  absl::StatusOr<std::vector<Matrix>> layer = LimitTrajectory(plan);
  ASSERT_TRUE(layer.ok());
  for (int l = 0; l <= 6; ++l) EXPECT_EQ((*layer)[l], (*rms)[l]);
}

// Pre-norm RMSNorm acts on the branch input only: with ReLU (diagonal-preserving) and
// λ = γ = 1, diag V grows by exactly 1 per layer from its initial value 2.
TEST(LimitTrajectoryTest, PreRmsNormNormalisesOnlyTheBranch) {
  Matrix v0 = 2.0 * Matrix::Identity(3, 3);
  v0(0, 1) = v0(1, 0) = 0.5;
  ModelPlan plan = BasePlan(v0, 5);
  plan.mlp.activation = MakeActivation(ActivationKind::kRelu, 0, 0, 0);
  plan.norm = NormKind::kRms;
  absl::StatusOr<std::vector<Matrix>> trajectory = LimitTrajectory(plan);
  ASSERT_TRUE(trajectory.ok());
  for (int l = 0; l <= 5; ++l) {
    for (int a = 0; a < 3; ++a) EXPECT_NEAR((*trajectory)[l](a, a), 2.0 + l, 1e-13) << l;
  }
}

// SHAPED without mask: A → I, so with λ² + γ² = 1 the map is the identity.
TEST(LimitTrajectoryTest, ShapedAttentionIsIdentityInTheLimit) {
  ModelPlan plan = BasePlan(FourTokenCovariance(), 8);
  plan.attention.kind = AttentionKind::kShaped;
  plan.attention.skip = std::sqrt(0.5);
  plan.attention.branch = std::sqrt(0.5);
  absl::StatusOr<std::vector<Matrix>> trajectory = LimitTrajectory(plan);
  ASSERT_TRUE(trajectory.ok());
  EXPECT_TRUE(trajectory->back().isApprox(plan.v0, 1e-14));
}

// Causal UNIFORM, m = 2: A = C = [[1, 0], [½, ½]] (row α averages tokens β ≤ α); with λ = 0,
// γ = 1, V_0 = I: V_1 = C Cᵀ = [[1, ½], [½, ½]].
TEST(LimitTrajectoryTest, CausalUniformAttentionHandCase) {
  ModelPlan plan = BasePlan(Matrix::Identity(2, 2), 1);
  plan.attention.kind = AttentionKind::kUniform;
  plan.attention.causal = true;
  plan.attention.skip = 0.0;
  absl::StatusOr<std::vector<Matrix>> trajectory = LimitTrajectory(plan);
  ASSERT_TRUE(trajectory.ok());
  Matrix expected(2, 2);
  expected << 1.0, 0.5, 0.5, 0.5;
  EXPECT_TRUE((*trajectory)[1].isApprox(expected, 1e-15));
}

// Causal SHAPED is centred with C, so at vanishing logits A∞ = I + C − C = I, as without the mask.
TEST(LimitTrajectoryTest, CausalShapedAttentionIsCentredAtIdentity) {
  ModelPlan plan = BasePlan(FourTokenCovariance(), 2);
  plan.attention.kind = AttentionKind::kShaped;
  plan.attention.causal = true;
  plan.attention.skip = 0.0;
  absl::StatusOr<std::vector<Matrix>> trajectory = LimitTrajectory(plan);
  ASSERT_TRUE(trajectory.ok());
  EXPECT_TRUE(trajectory->back().isApprox(plan.v0, 1e-14));
}

TEST(LimitTrajectoryTest, SoftmaxHasNoDeterministicLimit) {
  ModelPlan plan = BasePlan(FourTokenCovariance(), 3);
  plan.attention.kind = AttentionKind::kSoftmax;
  absl::StatusOr<std::vector<Matrix>> trajectory = LimitTrajectory(plan);
  ASSERT_FALSE(trajectory.ok());
  EXPECT_EQ(trajectory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(trajectory.status().message()).find("model.attention.kind"),
            std::string::npos);
  EXPECT_NE(std::string(trajectory.status().message()).find("random"), std::string::npos);
}

}  // namespace
}  // namespace sigprop
