// The attention matrix A of SPEC §2 and issue 15, shared by every sampler and the limit map: the
// mask (causal, sliding window), ALiBi's position bias, the attention function P of the scaled
// logits (softmax, sigmoid, normalised ReLU), the matrix skip A = αI + βP − γC, and the
// per-layer statistics of A (entropy, largest logit, spectral gap).
#ifndef SIGPROP_COMMON_FINITE_ATTENTION_MATRIX_H_
#define SIGPROP_COMMON_FINITE_ATTENTION_MATRIX_H_

#include <vector>

#include "common/linalg.h"
#include "common/model_plan.h"

namespace sigprop {

// Whether token i sees token j: j ≤ i under the causal mask, and with a window w > 0 also
// i − j ≤ w (causal) or |i − j| ≤ w (two-sided).
bool Visible(const AttentionPlan& a, int i, int j);
// How many tokens row i sees.
int VisibleCount(const AttentionPlan& a, int i, int m);

// ALiBi's slope of head h of H: 2^(−8(h+1)/H) when H is a power of two; else the H' = 2^⌊log₂H⌋
// slopes followed by every other slope of 2H' (Press et al. 2022's construction).
double AlibiSlope(int head, int heads);

// In place: the scaled logits S = Q_h K_hᵀ/τ of head h become P = the attention function under
// the mask (masked entries 0), after adding ALiBi's −s_h|i − j| when on:
//   SOFTMAX, SHAPED  row-wise softmax over the visible entries;
//   SIGMOID          sigmoid(S + b), no normalisation;
//   RELU             relu(S) / VisibleCount(i)^p.
// Returns the largest |S_ij| over the visible entries before the bias (attention_max_logit).
double ApplyAttentionFunction(const AttentionPlan& a, int head, int heads, Matrix* s);

// dS from dP for the P that ApplyAttentionFunction made (S the scaled logits):
//   softmax  P ⊙ (dP − rowsum(P ⊙ dP) 1ᵀ);  sigmoid  P ⊙ (1 − P) ⊙ dP;  ReLU  [P > 0] ⊙ dP / m_i^p.
void AttentionFunctionBackward(const AttentionPlan& a, const Matrix& p, const Matrix& dp,
                               Matrix* ds);

// The softmax of zero logits under the mask: C_ij = 1/VisibleCount(i) where visible. It is UNIFORM
// attention, and SHAPED attention is centred with it, so SHAPED is the identity at vanishing logits
// under any mask.
Matrix UniformAttention(const AttentionPlan& a, int m);

// A = αI + βP − γC from the attention function's output P (logit kinds; `p` unread otherwise),
// with P = C for UNIFORM and P = I for IDENTITY.
void AttentionFromFunction(const AttentionPlan& a, int m, const Matrix* p, Matrix* out);

// Per-layer statistics of the attention matrices of one block, averaged over heads (issue 15):
//   entropy    mean over rows of the entropy of P's row, P normalised to sum 1 (SIGMOID and
//              RELU rows are divided by their sums; a row that is all zero counts 0);
//   max_logit  the largest |q·k|/τ over heads and visible entries (0 without logits);
//   gap        σ₁(A) − σ₂(A), the spectral gap of the attention matrix itself.
struct AttentionStats {
  double entropy = 0.0, max_logit = 0.0, gap = 0.0;
};
inline const char* const kAttentionStatNames[] = {"attention_entropy", "attention_max_logit",
                                                  "attention_gap"};
inline constexpr int kAttentionStats = 3;
// `p` per head (empty for kinds without logits), `a` per head.
AttentionStats SummariseAttention(const AttentionPlan& plan, const std::vector<Matrix>& p,
                                  const std::vector<Matrix>& a, double max_logit);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_ATTENTION_MATRIX_H_
