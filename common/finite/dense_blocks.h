// The blocks of the dense transformer (SPEC §2) with explicit N(0,1) weights: forward passes that
// fill a cache, and hand-written backward passes that read it. One layer is an attention block
// then an MLP block, each a residual branch
//
//     pre-norm or no norm:  X ← λX + γ f(N(X))        post-norm:  X ← N(λX + γ f(X)).
//
// Every weight enters divided by the square root of its fan-in, so dL/dW below is the gradient
// with respect to the N(0,1) matrix itself (SPEC §3).
#ifndef SIGPROP_COMMON_FINITE_DENSE_BLOCKS_H_
#define SIGPROP_COMMON_FINITE_DENSE_BLOCKS_H_

#include <vector>

#include "common/linalg.h"
#include "common/model_plan.h"
#include "common/rng.h"

namespace sigprop {

// The N(0,1) weights of one layer, or (same shapes) their gradients dL/dW. A matrix the plan does
// not use is empty: W_Q, W_K exist only for the kinds that read the logits
// (AttentionPlan::uses_logits), W_V for any attention without identity_values, W_O only with
// output_projection, W_1, W_2 only with an MLP.
struct LayerWeights {
  Matrix wq;      // n × H·d_q; query head h owns columns [h·d_q, (h+1)·d_q) (d_q = query_cols).
  Matrix wk;      // n × kv·d_q; key/value head g owns columns [g·d_q, (g+1)·d_q).
  Matrix wv;      // n × kv·d_v; kv head g owns columns [g·d_v, (g+1)·d_v) (d_v = value_cols).
  Matrix wo;      // H·d_v × n.
  Matrix w1;      // n × n_h (the up projection W_u of a gated MLP).
  Matrix wg;      // n × n_h, the gate W_g (gated MLPs only).
  Matrix w2;      // n_h × n.
};

// Draws a layer's weights from its stream RandomStream(seed, point, sample, ℓ) by the one-word
// ziggurat, in this fixed order, each matrix row by row: W_Q, W_K, W_V, W_O, W_1, W_G, W_2,
// skipping the absent ones. The backward pass
// calls it again on a fresh stream with the same coordinates and gets the same weights back.
// Matrices already of the right shape are refilled without reallocating.
void DrawLayerWeights(const ModelPlan& plan, RandomStream& stream, LayerWeights* w);

// Row-wise normalisation N (SPEC §2). RMSNorm: y = x / r, r² = ‖x‖²/n for each token row x.
// LayerNorm: the same applied to x − mean(x) (mean over the row's n features); no affine. With
// ε: r² = ‖x‖²/n + ε.
struct NormCache {
  Matrix y;   // N(X), m × n.
  Vector r;   // Per-row r, m.
};
void NormForward(NormKind kind, const Matrix& x, NormCache* cache, double eps = 0.0);

// Backward of N. With y = c/r (c the row, centred for LayerNorm): dc = (dy − y (y·dy)/n) / r (the
// same with ε, since ∂r/∂c = c/(n r) either way); RMSNorm returns dx = dc, LayerNorm
// dx = dc − mean(dc) (the centring is an orthogonal projection).
void NormBackward(NormKind kind, const NormCache& cache, const Matrix& dy, Matrix* dx);

// The row norm QK-norm applies (LAYER or RMS; read only where qk_norm is on).
NormKind QkNormKindOf(const AttentionPlan& a);

// Attention f(Y) = A(Y) Y W_V / sqrt(n) per head, heads concatenated, then × W_O / sqrt(n) if
// output_projection (SPEC §2; W_V = I with identity_values). Per head h: Q_h = Y W_Q^h / sqrt(n),
// K_h = Y W_K^h / sqrt(n), normalised per token under qk_norm, P_h the attention function of
// Q_h K_hᵀ/τ under the mask and A_h = αI + βP_h − γC (attention_matrix.h; SHAPED is α = β = γ = 1,
// UNIFORM has P = C, IDENTITY P = I).
//
// Language-model knobs (SPEC §2b): kv heads (query head h reads kv head plan.kv_head_of(h)), the
// head widths d_q, d_v, QK-norm per head or over the whole projection, then RoPE on each head's
// queries and keys, the logit soft-cap c·tanh(S/c) before the mask, and the products' gains.
struct AttentionCache {
  Matrix q;                  // m × H·d_q, all query heads (logit kinds only).
  Matrix k;                  // m × kv·d_q.
  Matrix v;                  // m × kv·d_v, gain · Y W_V / sqrt(n) (Y with identity_values).
  // Under qk_norm: per query (key) head, or one entry for the whole projection.
  std::vector<NormCache> q_norm, k_norm;
  std::vector<Matrix> q_heads;  // Per query head, the queries the logits read (normed, rotated).
  std::vector<Matrix> k_heads;  // Per kv head, likewise.
  std::vector<Matrix> cap_slope;  // Per head, 1 − tanh²(S/c) under the soft-cap.
  std::vector<Matrix> p;     // Per head P_h (logit kinds only).
  std::vector<Matrix> a;     // Per head A_h.
  Matrix heads;              // m × H·d_v, concatenated A_h V_h (output_projection only).
  double max_logit = 0.0;    // Largest |q·k|/τ over heads and visible entries.
};
void AttentionForward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y,
                      AttentionCache* cache, Matrix* f);

// The part of AttentionForward after the projections, shared with the implicit-weight sampler:
// from cache->q, k, v (already formed) to P_h, A_h and the concatenated heads A_h V_h.
void AttentionHeads(const ModelPlan& plan, AttentionCache* cache, Matrix* concat);

// Gradients of the head outputs' inputs, given dC = dL/d(concatenated heads). Per head:
//   dV_h = A_hᵀ dC_h,   dA_h = dC_h V_hᵀ,   dP_h = β dA_h (logit kinds),
//   dS_h from dP_h by the attention function's Jacobian (attention_matrix.h), divided by τ
//   (masked entries have P = 0, so dS = 0),
//   dQ_h = dS_h K_h,   dK_h = dS_hᵀ Q_h, then through qk_norm's backward when it is on.
// Under rank collapse the rows of dP_h are constant and the softmax's dS_h is a difference of
// equal terms: zero in exact arithmetic, rounding noise in floating point. dq_rounding bounds the
// Frobenius norm of that noise in dQ: slack · m · ε · sqrt(Σ_h ‖Ŝ_h‖² ‖K_h‖²), Ŝ_h = P_h ⊙ (|dP_h| +
// rowsum(P_h ⊙ |dP_h|) 1ᵀ)/τ the size of the terms dS_h subtracts (dk_rounding likewise with Q_h);
// 0 for SIGMOID and RELU, whose backward subtracts nothing.
struct AttentionCotangents {
  Matrix dq;      // m × H·d_q (logit kinds only).
  Matrix dk;      // m × kv·d_q (logit kinds only).
  Matrix dv;      // m × kv·d_v.
  double dq_rounding = 0.0, dk_rounding = 0.0;
};
inline constexpr double kSoftmaxRoundingSlack = 8.0;
void AttentionHeadsBackward(const ModelPlan& plan, const AttentionCache& cache, const Matrix& dc,
                            AttentionCotangents* out);

// The level below which ‖dL/dW_Q‖_F, ‖dL/dW_K‖_F are rounding noise, not a measurement: the
// rounding bound of dQ (dK) above times ‖Y‖_F/sqrt(n), since dW_Q = Yᵀ dQ/sqrt(n). Zero where
// the attention kind has no logits.
struct GradientFloor {
  double wq = 0.0, wk = 0.0;
  // The floor of the products gain·Y W_Q, gain·Y W_K for the branch input Y and the heads'
  // cotangents.
  static GradientFloor Of(const Matrix& y, const AttentionCotangents& d, double gain = 1.0);
  // Whether the norms ‖dL/dW_Q‖, ‖dL/dW_K‖ lie within it.
  bool Below(double wq_norm, double wk_norm) const { return wq_norm <= wq || wk_norm <= wk; }
};

// Backward of attention given dF. With dC = dF W_Oᵀ / sqrt(n) (or dF), AttentionHeadsBackward,
// then dW_Q = Yᵀ dQ / sqrt(n), dW_K = Yᵀ dK / sqrt(n), dW_V = Yᵀ dV / sqrt(n) and
// dY = (dQ W_Qᵀ + dK W_Kᵀ + dV W_Vᵀ) / sqrt(n). dW_O is not formed (SPEC §3 does not report it).
void AttentionBackward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y,
                       const AttentionCache& cache, const Matrix& df, Matrix* dy,
                       LayerWeights* grad, GradientFloor* floor);

// MLP f(Y) = out_gain·φ(H) W_2/sqrt(n_h) with H = in_gain·Y W_1/sqrt(n) (SPEC §2: in_gain 1,
// out_gain sqrt(c)); gated (SPEC §2b): φ(H) becomes φ(H_g) ⊙ H with H_g = in_gain·Y W_g/sqrt(n).
struct MlpCache {
  Matrix h;     // m × n_h pre-activations (the up projection of a gated MLP).
  Matrix gate;  // m × n_h gate pre-activations H_g (gated only).
  Matrix phi;   // φ(H), or φ(H_g) ⊙ H.
};
void MlpForward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y, MlpCache* cache,
                Matrix* f);

// Backward of the MLP: with s = out_gain/sqrt(n_h), t = in_gain/sqrt(n): dW_2 = s φ(H)ᵀ dF,
// dΦ = s dF W_2ᵀ, dH = dΦ ⊙ φ'(H), dW_1 = t Yᵀ dH, dY = t dH W_1ᵀ; gated: dH_g = dΦ ⊙ H ⊙ φ'(H_g),
// dH = dΦ ⊙ φ(H_g), dW_g = t Yᵀ dH_g, dY = t (dH W_1ᵀ + dH_g W_gᵀ).
void MlpBackward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y,
                 const MlpCache& cache, const Matrix& df, Matrix* dy, LayerWeights* grad);

// One residual block's state: its input X, the norm (of X for pre- and peri-norm, of λX + γf for
// post-norm), the branch output f and, for peri- and output-norm, the norm of f.
struct ResidualCache {
  Matrix input;
  NormCache norm;
  Matrix branch;
  NormCache branch_norm;
  Matrix scaled_input;  // N(X)/sqrt(ℓ) under LayerNorm scaling.
};

// Everything the backward pass of a layer reads; reused from layer to layer without reallocating.
struct LayerCache {
  ResidualCache attention_block;
  AttentionCache attention;
  ResidualCache mlp_block;
  MlpCache mlp;
};

// X_ℓ = layer ℓ (1-based; LayerNorm scaling reads it) applied to X_{ℓ−1}: attention block (if
// enabled) then MLP block (if enabled).
void LayerForward(const ModelPlan& plan, int layer, const LayerWeights& w, const Matrix& x,
                  LayerCache* cache, Matrix* out);

// Given dL/dX_ℓ, returns dL/dX_{ℓ−1}, the layer's weight gradients (absent blocks: empty) and the
// rounding floor of its query and key gradients; each block backward as residual_block.h.
void LayerBackward(const ModelPlan& plan, int layer, const LayerWeights& w, const LayerCache& cache,
                   const Matrix& dout, Matrix* dx, LayerWeights* grad, GradientFloor* floor);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_DENSE_BLOCKS_H_
