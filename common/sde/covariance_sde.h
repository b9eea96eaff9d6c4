// The neural covariance SDE of a shaped transformer (SPEC §6): in layer time t = ℓ/n, as d, n → ∞
// with d/n → T, the token covariance V of one layer follows
//
//   dV = b(V) dt + σ(V) dB,
//
// where a layer (attention block, then MLP block) contributes the sum of its blocks' drifts and
// independent noises. This file is the process only (drift and how the noise acts); the
// discretisation is euler_maruyama.h, so a path can be re-run from stored increments.
//
// Blocks, each a residual branch with λ² + γ² = 1 (λ = skip, γ = branch scale):
//   shaped MLP, φ = shaped ReLU, s± = 1 + c±/sqrt(n):
//     drift     γ² ν(ρ_αβ) sqrt(V_αα V_ββ),  ν(ρ) = ((c₊ − c₋)²/2π)(sqrt(1 − ρ²) − ρ arccos ρ)
//     diffusion γ²(2 − γ² + γ² n/n_h) Σ_lin        (2γ² Σ_lin at n_h = n)
//   linear MLP: the same with ν = 0.
//   shaped attention, A = I + softmax(QKᵀ/τ) − 11ᵀ/m, τ = τ0 sqrt(n n_k/H):
//     drift     (γ²/τ0²)[V tr(PVPV)/m² + (V_αα (V d̃)_β + V_ββ (V d̃)_α)/(2m)],
//               d̃ = diag(PVP) − tr(PVP)/m
//     diffusion γ²(2 − γ²) Σ_lin (2γ² Σ_lin with the output projection W_O)
//               + (γ²/(m τ0 sqrt(H))) (E V + V Eᵀ),  E = L dB₂ Lᵀ P
//   identity attention: the shaped one without its drift and attention noise.
// Σ_lin is the noise of a linear residual layer, Cov(dV_αβ, dV_γδ) = (V_αγ V_βδ + V_αδ V_βγ) dt,
// sampled as L dG Lᵀ with dG a symmetric Brownian matrix (see BrownianIncrement). Never an m²×m²
// matrix: every term costs O(m³).
//
// Where the coefficients come from (derived from the gram chain, SPEC §4, and checked by KS against
// it in sde_test.cc): per layer E[V' | V] = λ²V + γ² E[K] with K the branch's kernel, so the drift is
// n γ² (E K − V). For the MLP, E K − V = b²(2/π)(sqrt(1 − ρ²) − ρ arccos ρ) sqrt(V_αα V_ββ)/(a² + b²)
// with a, b = (s₊ ± s₋)/2, i.e. ν/n. For attention, softmax(Y) to second order in the O(n^{-1/2})
// logits Y gives E[A V Aᵀ] − V. The noise is three independent O(n^{-1/2}) fluctuations: the cross
// term λγ(L Zᵀ Fᵀ + F Z Lᵀ)/sqrt(n) (2λ²γ² Σ_lin), the Wishart of the branch's output weights
// (γ⁴ Σ_lin), and for the MLP the kernel's own sampling (γ⁴ (n/n_h) Σ_lin); for attention the logits'
// first-order term Y P/m replaces the last. With multi-head attention each head has its own logits,
// so their term averages over H heads.
#ifndef SIGPROP_COMMON_SDE_COVARIANCE_SDE_H_
#define SIGPROP_COMMON_SDE_COVARIANCE_SDE_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/linalg.h"
#include "common/model_plan.h"
#include "common/rng.h"

namespace sigprop {

// The Brownian increments of one step of length dt.
struct BrownianIncrement {
  // Symmetric: dG_αα ~ N(0, 2 dt), dG_αβ = dG_βα ~ N(0, dt); so L dG Lᵀ has covariance Σ_lin dt.
  Matrix symmetric;
  // iid N(0, dt) entries; read only when the process has attention noise.
  Matrix attention;

  // Allocates both m×m matrices.
  explicit BrownianIncrement(int tokens);
  // Fresh increments from `stream` (its one-word ziggurat Gaussians): m(m+1)/2, then m² more when
  // `attention_noise`.
  void Draw(RandomStream& stream, double dt, bool attention_noise);
};

// Scratch space of one path for the drift, so that a step allocates nothing.
struct SdeWorkspace {
  explicit SdeWorkspace(int tokens);
  Matrix centred;
  Vector column_mean, d_tilde, vd;
};

class CovarianceSde {
 public:
  // The process of one layer of `plan`. InvalidArgument, naming the model field relative to the
  // model ("attention.kind: …"), when a block has no covariance SDE: softmax or uniform attention,
  // an MLP other than shaped ReLU or linear, a norm, a causal mask, or λ² + γ² ≠ 1.
  static absl::StatusOr<CovarianceSde> FromPlan(const ModelPlan& plan);

  int tokens() const { return tokens_; }
  bool has_attention_noise() const { return attention_scale_ != 0.0; }

  // b(V), written into `drift` (m×m).
  void Drift(const Matrix& v, SdeWorkspace* work, Matrix* drift) const;
  // σ(V) dB given L = chol(V) (zeros above the diagonal), written into `noise` (m×m, symmetric).
  void Diffusion(const Matrix& v, const Matrix& l, const BrownianIncrement& db,
                 Matrix* noise) const;

  // The coefficients, for tests and documentation.
  double lin_variance() const { return lin_variance_; }        // s in s Σ_lin
  double attention_scale() const { return attention_scale_; }  // a in a (E V + V Eᵀ)
  double attention_drift() const { return attention_drift_; }  // γ²/τ0²
  double mlp_drift() const { return mlp_drift_; }              // γ² (c₊ − c₋)²/2π

  CovarianceSde(int tokens, double lin_variance, double attention_scale, double attention_drift,
                double mlp_drift);

 private:
  int tokens_;
  double lin_variance_;
  double attention_scale_;
  double attention_drift_;
  double mlp_drift_;
  double root_lin_variance_;
};

// ν(ρ) = sqrt(1 − ρ²) − ρ arccos ρ, the shaped ReLU's kernel correction up to (c₊ − c₋)²/2π;
// ρ is clamped to [−1, 1]. Polynomials, not libm's arccos (shaped_relu_nu.h): error < 1e-15.
double ShapedReluNu(double rho);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_SDE_COVARIANCE_SDE_H_
