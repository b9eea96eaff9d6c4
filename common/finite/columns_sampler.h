// The columns sampler (SPEC §4 "columns"): keeps the representation X ∈ R^{m×n} but never forms a
// weight matrix. Given the branch input Y (X, or N(X) under pre-norm) with Y Yᵀ/n = L Lᵀ, every
// product Y W/sqrt(n) with fresh N(0,1) weights has iid N(0, L Lᵀ) columns independent of X, so a
// branch output is F G with F the m×m root of its column kernel and G ∈ R^{m×n} iid
// (block_laws.h); attention logits and multi-head value kernels are m×m Wishart draws there.
// Exact in law for every block of SPEC §2, LayerNorm included (its centring acts on X's rows,
// which are kept; its covariance is V − μμᵀ with μ the row means, so N(X) is never formed), and
// for H > 1 without W_O (head h's columns get A_h L G_h). Cost O(m² n + m n_h) per layer, memory
// O(m n) per sample.
//
// Streams: X_0 as the dense sampler (DenseInput on layer kInputLayer), so V_0 is exact; layer ℓ
// draws from RandomStream(seed, point, sample, ℓ), attention block then MLP block, each: the
// branch's draws (block_laws.h), then G in chunks of kColumnChunk columns, row by row.
#ifndef SIGPROP_COMMON_FINITE_COLUMNS_SAMPLER_H_
#define SIGPROP_COMMON_FINITE_COLUMNS_SAMPLER_H_

#include "absl/status/status.h"
#include "common/finite/sample_observer.h"
#include "common/linalg.h"
#include "common/model_plan.h"

namespace sigprop {

inline constexpr int kColumnChunk = 256;

// V = X Xᵀ / n, exactly symmetric (one rank update of the lower triangle, mirrored): how the
// samplers that keep X (with and without gradients) form the covariance they report.
void SymmetricCovariance(const Matrix& x, Matrix* v);

// Runs one sample: reports V_0, then V_ℓ for every layer the observer wants; stops with
// OnDiverged(ℓ) and OK at the first diverged V (SPEC §3). Polls Cancelled() once per layer and
// then returns CANCELLED. MLP KERNEL sampling is a GRAM option; COLUMNS always samples exactly.
absl::Status SampleColumns(const ModelPlan& plan, const SampleCoordinates& at,
                           SampleObserver& observer);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_COLUMNS_SAMPLER_H_
