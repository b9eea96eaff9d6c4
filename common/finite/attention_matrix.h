// The pieces of an attention matrix A shared by every sampler and the limit map (SPEC §2): the
// row-wise softmax under an optional causal mask, and the uniform matrix it gives at zero logits.
#ifndef SIGPROP_COMMON_FINITE_ATTENTION_MATRIX_H_
#define SIGPROP_COMMON_FINITE_ATTENTION_MATRIX_H_

#include "common/linalg.h"

namespace sigprop {

// Row i attends to tokens j < VisibleTokens(i): all m, or j ≤ i under the causal mask.
inline int VisibleTokens(int i, int m, bool causal) { return causal ? i + 1 : m; }

// In place, row by row: s_ij ← exp(s_ij − max_j s_ij) / Σ_j (…) over the visible j, 0 elsewhere.
void MaskedSoftmax(bool causal, Matrix* s);

// The softmax of zero logits: U = 11ᵀ/m, or with the causal mask U_ij = 1/(i+1) for j ≤ i. It is
// UNIFORM attention, and SHAPED attention is centred with it (A = I + softmax − U), so causal
// SHAPED attention too is the identity at vanishing logits.
Matrix UniformAttention(int m, bool causal);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_ATTENTION_MATRIX_H_
