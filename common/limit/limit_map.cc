#include "common/limit/limit_map.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/finite/attention_matrix.h"

namespace sigprop {
namespace {

double ClampedCorrelation(double v_ab, double sigma_a, double sigma_b) {
  return std::clamp(v_ab / (sigma_a * sigma_b), -1.0, 1.0);
}

Matrix TwoSlopeKernel(const Activation& activation, const Matrix& v) {
  const int m = static_cast<int>(v.rows());
  const double sp = activation.slope_plus, sm = activation.slope_minus;
  const double odd_weight = (sp - sm) * (sp - sm);
  const double even_weight = M_PI * (sp * sp + sm * sm);
  Matrix k(m, m);
  for (int a = 0; a < m; ++a) {
    for (int b = a; b < m; ++b) {
      const double sigma_a = std::sqrt(v(a, a)), sigma_b = std::sqrt(v(b, b));
      double value = 0.0;
      if (sigma_a * sigma_b != 0.0) {
        const double rho = a == b ? 1.0 : ClampedCorrelation(v(a, b), sigma_a, sigma_b);
        const double theta = std::acos(rho);
        value = activation.c * sigma_a * sigma_b / (2.0 * M_PI) *
                (odd_weight * (std::sin(theta) - theta * rho) + even_weight * rho);
      }
      k(a, b) = k(b, a) = value;
    }
  }
  return k;
}

Matrix QuadratureKernel(const Activation& activation, const Matrix& v) {
  const int m = static_cast<int>(v.rows());
  const double* x = GaussHermiteNodes();
  const double* w = GaussHermiteWeights();
  constexpr int p = kGaussHermitePoints;
  // φ(σ_α x_i) for every token and node: the outer variable of every pair.
  Matrix outer(m, p);
  for (int a = 0; a < m; ++a) {
    const double sigma = std::sqrt(v(a, a));
    for (int i = 0; i < p; ++i) outer(a, i) = activation.Apply(sigma * x[i]);
  }
  Matrix k(m, m);
  for (int a = 0; a < m; ++a) {
    double diagonal = 0.0;
    for (int i = 0; i < p; ++i) diagonal += w[i] * outer(a, i) * outer(a, i);
    k(a, a) = activation.c * diagonal;
    for (int b = a + 1; b < m; ++b) {
      const double sigma_a = std::sqrt(v(a, a)), sigma_b = std::sqrt(v(b, b));
      if (sigma_a * sigma_b == 0.0) {
        k(a, b) = k(b, a) = 0.0;
        continue;
      }
      const double rho = ClampedCorrelation(v(a, b), sigma_a, sigma_b);
      const double rest = std::sqrt(1.0 - rho * rho);
      double sum = 0.0;
      for (int i = 0; i < p; ++i) {
        double inner = 0.0;
        for (int j = 0; j < p; ++j) {
          inner += w[j] * activation.Apply(sigma_b * (rho * x[i] + rest * x[j]));
        }
        sum += w[i] * outer(a, i) * inner;
      }
      k(a, b) = k(b, a) = activation.c * sum;
    }
  }
  return k;
}

Matrix RmsNormalise(const Matrix& v) {
  const Vector scale = v.diagonal().cwiseSqrt().cwiseInverse();
  return scale.asDiagonal() * v * scale.asDiagonal();
}

// K = A∞ V A∞ᵀ with A∞ the attention matrix's infinite-width limit (deterministic): the attention
// function of zero logits (SHAPED: they vanish like 1/sqrt(n)), i.e. C under the mask for SHAPED
// and UNIFORM, I for IDENTITY, then the matrix skip αI + βP − γC.
Matrix AttentionKernel(const AttentionPlan& attention, const Matrix& v) {
  const int m = static_cast<int>(v.rows());
  Matrix p = Matrix::Zero(m, m), a;
  if (attention.uses_logits()) ApplyAttentionFunction(attention, 0, 1, &p);
  AttentionFromFunction(attention, m, &p, &a);
  const Matrix k = a * v * a.transpose();
  return 0.5 * (k + k.transpose());
}

template <typename Kernel>
Matrix ResidualStep(const ModelPlan& plan, double skip, double branch, const Matrix& v,
                    Kernel kernel) {
  const bool normalised = plan.norm != NormKind::kNone;
  if (plan.NormsSum()) {
    return RmsNormalise(skip * skip * v + branch * branch * kernel(v));
  }
  return skip * skip * v + branch * branch * kernel(normalised ? RmsNormalise(v) : v);
}

}  // namespace

Matrix MlpKernel(const Activation& activation, const Matrix& v) {
  switch (activation.kind) {
    case ActivationKind::kRelu:
    case ActivationKind::kShapedRelu:
      return TwoSlopeKernel(activation, v);
    case ActivationKind::kGelu:
    case ActivationKind::kTanh:
    case ActivationKind::kGeluTanh:
    case ActivationKind::kSilu:
      return QuadratureKernel(activation, v);
    case ActivationKind::kNone:
    case ActivationKind::kLinear:
      break;
  }
  return activation.c * v;
}

absl::Status LimitSupports(const ModelPlan& plan) {
  if (const std::string field = LanguageModelField(plan); !field.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.", field, ": method LIMIT has no closed form for the language-model knobs of "
        "SPEC §2b; use method COLUMNS, exact at the model's real width"));
  }
  const AttentionKind kind = plan.attention.kind;
  if (kind == AttentionKind::kSoftmax || kind == AttentionKind::kSigmoid ||
      kind == AttentionKind::kRelu) {
    return absl::InvalidArgumentError(
        "model.attention.kind: SOFTMAX, SIGMOID and RELU have no deterministic infinite-width "
        "limit: at τ = sqrt(n_k) the logits QKᵀ/τ stay O(1) and random as n → ∞, so the attention "
        "matrix and V stay random (SPEC §5); use UNIFORM, SHAPED or IDENTITY, or a finite-width "
        "sampler");
  }
  const char* unsupported = plan.attention.identity_values ? "model.attention.identity_values"
                            : plan.attention.alibi         ? "model.attention.alibi"
                            : plan.attention.qk_norm != QkNormKind::kNone ? "model.attention.qk_norm"
                                                                          : nullptr;
  if (unsupported != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        unsupported, ": method LIMIT has no closed form for it (identity values keep the "
                     "branch correlated with the stream; ALiBi and QK-norm act on logits that "
                     "SHAPED's limit removes); use a finite-width method"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Matrix>> LimitTrajectory(const ModelPlan& plan) {
  if (absl::Status supported = LimitSupports(plan); !supported.ok()) return supported;
  std::vector<Matrix> trajectory;
  trajectory.reserve(plan.depth + 1);
  trajectory.push_back(plan.v0);
  Matrix v = plan.v0;
  for (int layer = 1; layer <= plan.depth; ++layer) {
    if (plan.parallel) {
      // Independent fresh weights: the two branches' kernels add, with no cross term.
      v = ResidualStep(plan, plan.attention.skip, 1.0, v, [&](const Matrix& x) {
        const double ga = plan.attention.branch, gf = plan.mlp.branch;
        return Matrix(ga * ga * AttentionKernel(plan.attention, x) +
                      gf * gf * MlpKernel(plan.mlp.activation, x));
      });
      trajectory.push_back(v);
      continue;
    }
    if (plan.attention.enabled()) {
      v = ResidualStep(plan, plan.attention.skip, plan.attention.branch, v,
                       [&](const Matrix& x) { return AttentionKernel(plan.attention, x); });
    }
    if (plan.mlp.enabled()) {
      v = ResidualStep(plan, plan.mlp.skip, plan.mlp.branch, v,
                       [&](const Matrix& x) { return MlpKernel(plan.mlp.activation, x); });
    }
    trajectory.push_back(v);
  }
  return trajectory;
}

}  // namespace sigprop
