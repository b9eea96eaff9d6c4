#include "common/sde/covariance_sde.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/sde/shaped_relu_nu.h"

namespace sigprop {
namespace {

constexpr double kUnitSumTolerance = 1e-9;

absl::Status CheckUnitSum(const std::string& block, double lambda, double gamma) {
  if (std::abs(lambda * lambda + gamma * gamma - 1.0) > kUnitSumTolerance) {
    return absl::InvalidArgumentError(absl::StrCat(
        block, ".branch_scale: method SDE needs λ² + γ² = 1 (residual UNIT_SUM), so that a layer "
               "moves V by O(1/n); got λ = ", lambda, ", γ = ", gamma));
  }
  return absl::OkStatus();
}

}  // namespace

BrownianIncrement::BrownianIncrement(int tokens)
    : symmetric(tokens, tokens), attention(tokens, tokens) {}

void BrownianIncrement::Draw(RandomStream& stream, double dt, bool attention_noise) {
  const int m = static_cast<int>(symmetric.rows());
  const double root_dt = std::sqrt(dt);
  const double root_2dt = std::sqrt(2.0 * dt);
  for (int i = 0; i < m; ++i) {
    symmetric(i, i) = root_2dt * stream.GaussianZigguratOneWord();
    for (int j = 0; j < i; ++j) {
      const double x = root_dt * stream.GaussianZigguratOneWord();
      symmetric(i, j) = x;
      symmetric(j, i) = x;
    }
  }
  if (!attention_noise) return;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) attention(i, j) = root_dt * stream.GaussianZigguratOneWord();
}

SdeWorkspace::SdeWorkspace(int tokens)
    : centred(tokens, tokens),
      column_mean(tokens),
      d_tilde(tokens),
      vd(tokens) {}

double ShapedReluNu(double rho) {
  const double r = std::clamp(rho, -1.0, 1.0);
  const double x = std::abs(r);
  if (x <= 0.5) return nu_internal::NearZero(r * r - 0.125) - nu_internal::kHalfPi * r;
  const double w = 0.5 * (1.0 - x);
  const double near_one = w * std::sqrt(w) * nu_internal::NearOne(w - 0.125);
  return r < 0.0 ? near_one + nu_internal::kPi * x : near_one;
}

absl::StatusOr<CovarianceSde> CovarianceSde::FromPlan(const ModelPlan& plan) {
  if (const std::string field = LanguageModelField(plan); !field.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": method SDE is derived for paper B's shaped block; the language-model knobs of "
               "SPEC §2b have no covariance SDE here; use method COLUMNS"));
  }
  if (plan.norm != NormKind::kNone) {
    return absl::InvalidArgumentError(
        "norm: method SDE has no normalisation layers (SPEC §6 covers the unnormalised shaped "
        "transformer); use norm NONE, or a finite-width method");
  }
  double lin_variance = 0.0, attention_scale = 0.0, attention_drift = 0.0, mlp_drift = 0.0;

  const AttentionPlan& a = plan.attention;
  // The SDE of SPEC §6 is derived for the shaped block as paper B defines it; none of the later
  // literature's knobs (issue 15) has one here.
  const char* unsupported = plan.parallel                                 ? "parallel"
                            : a.window > 0                                ? "attention.window"
                            : a.alibi                                     ? "attention.alibi"
                            : a.qk_norm != QkNormKind::kNone              ? "attention.qk_norm"
                            : a.identity_values                           ? "attention.identity_values"
                            : a.kind == AttentionKind::kShaped &&
                                      (a.IdentityGain() != 1.0 || a.AttentionGain() != 1.0 ||
                                       a.CentreGain() != 1.0)
                                ? "attention.identity_gain"
                                : nullptr;
  if (unsupported != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        unsupported, ": method SDE has no covariance SDE for it (SPEC §6 covers paper B's shaped "
                     "block only); use a finite-width method"));
  }
  if (a.enabled()) {
    if (a.kind != AttentionKind::kShaped && a.kind != AttentionKind::kIdentity) {
      return absl::InvalidArgumentError(
          "attention.kind: method SDE needs SHAPED, IDENTITY or NONE attention; softmax and uniform "
          "attention change V by O(1) per layer, so there is no diffusion limit");
    }
    if (a.causal) {
      return absl::InvalidArgumentError(
          "attention.causal: method SDE has no causal mask (SPEC §6 derives the unmasked softmax)");
    }
    if (auto st = CheckUnitSum("attention", a.skip, a.branch); !st.ok()) return st;
    const double g2 = a.branch * a.branch;
    lin_variance += a.output_projection ? 2.0 * g2 : g2 * (2.0 - g2);
    if (a.kind == AttentionKind::kShaped) {
      // Logit variance per entry is V_αα V_ββ (n_k/H)/τ²; with τ = τ0 sqrt(n n_k/H) that is
      // V_αα V_ββ/(τ0² n). An explicit τ is folded into the same effective τ0.
      const double head_key_width = static_cast<double>(plan.key_width) / plan.heads;
      const double tau0 = a.tau / std::sqrt(static_cast<double>(plan.width) * head_key_width);
      attention_drift = g2 / (tau0 * tau0);
      attention_scale = g2 / (plan.tokens * tau0 * std::sqrt(static_cast<double>(plan.heads)));
    }
  }

  const MlpPlan& mlp = plan.mlp;
  if (mlp.enabled()) {
    const ActivationKind kind = mlp.activation.kind;
    if (kind != ActivationKind::kShapedRelu && kind != ActivationKind::kLinear) {
      return absl::InvalidArgumentError(
          "mlp.activation: method SDE needs SHAPED_RELU, LINEAR or NONE; an unshaped activation "
          "changes V by O(1) per layer, so there is no diffusion limit");
    }
    if (auto st = CheckUnitSum("mlp", mlp.skip, mlp.branch); !st.ok()) return st;
    const double g2 = mlp.branch * mlp.branch;
    const double width_ratio = static_cast<double>(plan.width) / mlp.hidden;
    lin_variance += g2 * (2.0 - g2 + g2 * width_ratio);
    if (kind == ActivationKind::kShapedRelu) {
      const double spread = mlp.c_plus - mlp.c_minus;
      mlp_drift = g2 * spread * spread / (2.0 * M_PI);
    }
  }
  return CovarianceSde(plan.tokens, lin_variance, attention_scale, attention_drift, mlp_drift);
}

CovarianceSde::CovarianceSde(int tokens, double lin_variance, double attention_scale,
                             double attention_drift, double mlp_drift)
    : tokens_(tokens),
      lin_variance_(lin_variance),
      attention_scale_(attention_scale),
      attention_drift_(attention_drift),
      mlp_drift_(mlp_drift),
      root_lin_variance_(std::sqrt(lin_variance)) {}

void CovarianceSde::Drift(const Matrix& v, SdeWorkspace* work, Matrix* drift) const {
  const int m = tokens_;
  drift->setZero();
  if (attention_drift_ != 0.0) {
    // PVP by centring rows and columns (V is symmetric, so row means are column means): O(m²).
    Vector& mean = work->column_mean;
    mean.noalias() = v.colwise().mean().transpose();
    const double grand_mean = mean.mean();
    Matrix& centred = work->centred;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) centred(i, j) = v(i, j) - mean(i) - mean(j) + grand_mean;
    const double tr_pvpv = (centred.array() * v.array()).sum();
    const double tr_pvp = centred.trace();
    for (int i = 0; i < m; ++i) work->d_tilde(i) = centred(i, i) - tr_pvp / m;
    work->vd.noalias() = v * work->d_tilde;
    const double cubic = attention_drift_ * tr_pvpv / (m * m);
    const double half = attention_drift_ / (2.0 * m);
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < m; ++j) {
        (*drift)(i, j) = cubic * v(i, j) + half * (v(i, i) * work->vd(j) + v(j, j) * work->vd(i));
      }
    }
  }
  if (mlp_drift_ != 0.0) {
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < i; ++j) {
        const double scale = std::sqrt(v(i, i) * v(j, j));
        const double x = mlp_drift_ * ShapedReluNu(v(i, j) / scale) * scale;
        (*drift)(i, j) += x;
        (*drift)(j, i) += x;
      }
    }
  }
}

namespace {

// σ(V) dB with M×M Eigen types: fixed sizes (M ≤ 8) unroll and vectorise the six small products,
// which at m = 8 otherwise cost as much as the rest of the step; M = Eigen::Dynamic for the rest.
template <int M>
void StructuredNoise(const Matrix& v, const Matrix& l, const BrownianIncrement& db,
                     double root_lin_variance, double attention_scale, Matrix* noise) {
  using Mat = Eigen::Matrix<double, M, M, Eigen::RowMajor>;
  const int m = static_cast<int>(v.rows());
  const Eigen::Map<const Mat> V(v.data(), m, m), L(l.data(), m, m);
  const Eigen::Map<const Mat> G(db.symmetric.data(), m, m), B(db.attention.data(), m, m);
  Eigen::Map<Mat> out(noise->data(), m, m);
  const Mat left = L * G;
  out.noalias() = left * L.transpose();
  out *= root_lin_variance;
  if (attention_scale == 0.0) return;
  // E V = (L dB₂)(Lᵀ (P V)); P V centres V's columns.
  Mat pv = V;
  pv.rowwise() -= V.colwise().mean();
  const Mat lb = L * B;
  const Mat ltpv = L.transpose() * pv;
  const Mat ev = lb * ltpv;
  out += attention_scale * (ev + ev.transpose());
}

}  // namespace

void CovarianceSde::Diffusion(const Matrix& v, const Matrix& l, const BrownianIncrement& db,
                              Matrix* noise) const {
  const double s = root_lin_variance_, a = attention_scale_;
  switch (v.rows()) {
    case 2: return StructuredNoise<2>(v, l, db, s, a, noise);
    case 3: return StructuredNoise<3>(v, l, db, s, a, noise);
    case 4: return StructuredNoise<4>(v, l, db, s, a, noise);
    case 5: return StructuredNoise<5>(v, l, db, s, a, noise);
    case 6: return StructuredNoise<6>(v, l, db, s, a, noise);
    case 7: return StructuredNoise<7>(v, l, db, s, a, noise);
    case 8: return StructuredNoise<8>(v, l, db, s, a, noise);
    default: return StructuredNoise<Eigen::Dynamic>(v, l, db, s, a, noise);
  }
}

}  // namespace sigprop
