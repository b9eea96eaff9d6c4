// Deterministic infinite-width maps (SPEC §5): as n → ∞ at fixed depth, V_ℓ concentrates on a
// deterministic sequence obtained by iterating one kernel map per block.
#ifndef SIGPROP_COMMON_LIMIT_LIMIT_MAP_H_
#define SIGPROP_COMMON_LIMIT_LIMIT_MAP_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/activation.h"
#include "common/linalg.h"
#include "common/model_plan.h"

namespace sigprop {

// V_ℓ for ℓ = 0..depth of the n → ∞ limit at fixed depth (depth + 1 matrices, V_0 = plan.v0).
//
// Each layer applies the attention block, then the MLP block (absent blocks are skipped), as
//   pre-norm:  V ← λ²V + γ² K(N(V)),      post-norm:  V ← N(λ²V + γ² K(V)).
// The cross terms λγ(X f(X)ᵀ + f(X) Xᵀ)/n of the residual have mean zero (the branch's last weight
// is zero-mean and independent of X) and variance O(1/n), so they vanish in the limit; so does the
// fluctuation of f(X) f(X)ᵀ/n around its kernel K.
// Kernels K(V):
// - attention with limit attention matrix A∞: K = A∞ V A∞ᵀ (the values X W_V/√n have covariance
//   V across tokens). Heads and the output projection W_O leave this unchanged: every head has the
//   same A∞, and W_O/√n preserves covariances.
//   UNIFORM:  A∞ = 11ᵀ/m, so K = v̄ 11ᵀ, v̄ = 1ᵀV1/m² — exact in expectation at any width (SPEC §5).
//             With the causal mask A = C (row α uniform over β ≤ α, the causal softmax at zero
//             logits), as in the finite samplers, so K = C V Cᵀ.
//   IDENTITY: A∞ = I, K = V.
//   SHAPED:   logits QKᵀ/τ with τ = τ0·sqrt(n·n_k) are O(1/√n), so softmax → its value at zero
//             logits: 11ᵀ/m, or with the causal mask C. The samplers centre causal SHAPED
//             attention with C instead of 11ᵀ/m, so A∞ = I (K = V) either way. (An explicit τ
//             that does not grow with n is outside this limit.)
//   SOFTMAX:  no deterministic limit (see the error below).
// - MLP: K = MlpKernel(plan.mlp.activation, V), with φ as the plan resolved it at width n (for
//   SHAPED_RELU the slopes 1 + c±/√n; the map then differs from the linear one by O(1/n) per
//   layer, which is SPEC §6's proportional regime, not this one).
// Norms: RMSNorm N(V) = D^{-1/2} V D^{-1/2}, D = diag V. LayerNorm has the same limit: a token
// row's mean over features is a sum of n zero-mean terms divided by n, so it is O(1/√n) and its
// centring vanishes as n → ∞.
//
// Errors: InvalidArgument naming "model.attention.kind" for SOFTMAX. At τ = sqrt(n_k) its logits
// stay O(1) and random as n → ∞, so the attention matrix — and V — stay random in the limit;
// there is no deterministic map to return.
absl::StatusOr<std::vector<Matrix>> LimitTrajectory(const ModelPlan& plan);

// OK when the model has a deterministic limit here; else INVALID_ARGUMENT naming the field
// ("model.attention.kind: …"): SOFTMAX, SIGMOID and RELU attention (random limits), identity
// values, ALiBi and QK-norm.
absl::Status LimitSupports(const ModelPlan& plan);

// One MLP kernel map, K = c·E[φ(u)φ(u)ᵀ] for u ~ N(0, V), with σ_α = sqrt(V_αα),
// ρ = V_αβ/(σ_α σ_β), θ = arccos ρ:
// - LINEAR (and kNone, whose φ is the identity): K = c·V.
// - RELU and SHAPED_RELU, φ(x) = s₊ max(x,0) + s₋ min(x,0) = s₊ r(x) − s₋ r(−x), r = relu.
//   The arc-cosine kernel of degree one (Cho & Saul 2009):
//     E[r(u_α) r(u_β)]   = σ_α σ_β J(θ)/(2π),  J(θ) = sin θ + (π − θ) cos θ;
//   (−u_α, −u_β) has the law of (u_α, u_β), so E[r(−u_α) r(−u_β)] is the same; (u_α, −u_β) has
//   correlation −ρ, angle π − θ, so
//     E[r(u_α) r(−u_β)]  = E[r(−u_α) r(u_β)] = σ_α σ_β J(π − θ)/(2π) = σ_α σ_β (sin θ − θ cos θ)/(2π).
//   Expanding φ(u_α)φ(u_β) and using J(θ) = (sin θ − θ cos θ) + π cos θ:
//     E[φ(u_α)φ(u_β)] = σ_α σ_β/(2π) · [(s₊² + s₋²) J(θ) − 2 s₊ s₋ (sin θ − θ cos θ)]
//                     = σ_α σ_β/(2π) · [(s₊ − s₋)² (sin θ − θ cos θ) + π (s₊² + s₋²) cos θ].
//   With the normalising c = 2/(s₊² + s₋²):
//     K_αβ = σ_α σ_β [ρ + (s₊ − s₋)²/(π (s₊² + s₋²)) · (sqrt(1 − ρ²) − ρ arccos ρ)],
//   so K_αα = V_αα for every V (φ is positively homogeneous), RELU (1, 0) gives
//   σ_α σ_β [ρ + (sqrt(1 − ρ²) − ρ arccos ρ)/π], and s₊ = s₋ gives back the linear map.
//   The code uses the plan's c as given, in the second-to-last form.
// - GELU, TANH, GELU_TANH (and SiLU): 2-D Gauss–Hermite quadrature (the 64-point rule of activation.h, squared):
//   u_α = σ_α z₁, u_β = σ_β (ρ z₁ + sqrt(1 − ρ²) z₂), z iid N(0,1); the diagonal uses the 1-D rule.
//   c normalises E φ(u)² at unit variance, so K_αα = V_αα only where V_αα = 1.
// Entries whose σ_α σ_β is 0 are 0 (φ(0) = 0 for every kind).
Matrix MlpKernel(const Activation& activation, const Matrix& v);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_LIMIT_LIMIT_MAP_H_
