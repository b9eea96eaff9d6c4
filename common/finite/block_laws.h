// The laws of the transformer's branches given the covariance of their input (SPEC §4 "common
// fact"): the pieces that the columns and the gram samplers share.
//
// For Y ∈ R^{m×n} with Y Yᵀ/n = L Lᵀ and W ∈ R^{n×k} iid N(0,1), Y W/sqrt(n) =ᵈ L G with G ∈ R^{m×k}
// iid and independent of Y. Hence every branch output is F G for an m×m root F of its kernel K,
// and the random parts that stay inside an m×m problem are drawn as Wishart roots (wishart.h):
//
//   attention logits, head h   Q_h K_hᵀ = L G_Q G_Kᵀ Lᵀ =ᵈ L Z' Rᵀ Lᵀ,  R Rᵀ ~ Wishart_m(n_k/H, I),
//                                Z' ∈ R^{m×r} iid (conditionally on G_K the rows of G_Q G_Kᵀ are
//                                iid N(0, G_K G_Kᵀ));
//   attention without W_O       F = A L (H = 1; per head A_h L on the head's feature block);
//   attention with W_O          K = Σ_h A_h L R_h R_hᵀ Lᵀ A_hᵀ / n,  R_h R_hᵀ ~ Wishart_m(n/H, I);
//   MLP (exact)                 K = (c/n_h) Σ_{k=1}^{n_h} φ(L g_k) φ(L g_k)ᵀ,  g_k iid N(0, I_m);
//   MLP (KERNEL, approximate)   K = E_c R_W R_Wᵀ E_cᵀ / n_h with E_c E_cᵀ = c E[φ(u)φ(u)ᵀ],
//                                u ~ N(0, L Lᵀ), R_W R_Wᵀ ~ Wishart_m(n_h, I): the exact mean and the
//                                fluctuation that Gaussian features with that covariance would
//                                have. φ(L g) is not Gaussian, so this is an approximation.
#ifndef SIGPROP_COMMON_FINITE_BLOCK_LAWS_H_
#define SIGPROP_COMMON_FINITE_BLOCK_LAWS_H_

#include <vector>

#include "common/finite/dense_blocks.h"
#include "common/finite/wishart.h"
#include "common/linalg.h"
#include "common/model_plan.h"
#include "common/rng.h"

namespace sigprop {

// Buffers reused from layer to layer, so that the per-layer loop does not allocate once the
// shapes are known.
struct BlockWorkspace {
  std::vector<Matrix> mixing;    // A_h, per head.
  std::vector<Matrix> function;  // P_h, per head (logit kinds): for the attention statistics.
  double max_logit = 0.0;        // Largest |q·k|/τ of the last DrawAttentionMixing.
  NormCache q_norm, k_norm;      // Under qk_norm.
  Matrix logits, key_root, z, product, kernel, wishart, hidden;
  SymmetricRoot roots;
  int repairs = 0;  // Eigenvalues clamped by SymmetricRoot since the sample began.
};

// A_h for every head (SPEC §2 kinds, masks, ALiBi, the matrix skip: attention_matrix.h) given the
// root `l` of the attention input's covariance. Draws, per head and only for logit kinds: R then
// Z', or under qk_norm G_Q then G_K (m × n_k/H each: the per-token norms need Q_h and K_h).
void DrawAttentionMixing(const ModelPlan& plan, const Matrix& l, RandomStream& stream,
                         BlockWorkspace* ws);

// The root F of the attention branch's column kernel, for output_projection or a single head
// (see above); for H > 1 with W_O it draws R_h per head. Needs DrawAttentionMixing first.
void AttentionBranchRoot(const ModelPlan& plan, const Matrix& l, RandomStream& stream,
                         BlockWorkspace* ws, Matrix* f);

// The root F of the MLP branch's column kernel: exact (n_h·m Gaussians, in chunks of
// kHiddenChunk hidden units) or, with plan.mlp.kernel_sampling and `allow_kernel`, the KERNEL
// approximation (O(m³), width-independent).
void MlpBranchRoot(const ModelPlan& plan, const Matrix& l, bool allow_kernel, RandomStream& stream,
                   BlockWorkspace* ws, Matrix* f);
inline constexpr int kHiddenChunk = 256;

// c E[φ(u)φ(u)ᵀ] for u ~ N(0, V): closed forms for the piecewise-linear activations (ReLU,
// shaped ReLU, linear: arc-cosine kernel), Gauss–Hermite quadrature for GELU and tanh.
void ExpectedMlpKernel(const Activation& phi, const Matrix& v, Matrix* kernel);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_BLOCK_LAWS_H_
