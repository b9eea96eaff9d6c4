// The dense sampler (SPEC §4 "dense"): one Monte-Carlo sample of the transformer of SPEC §1–2 with
// explicit N(0,1) weights, the reference every other sampler is tested against, and the only one
// with gradients (SPEC §3).
//
// Streams (rng.h), all keyed by the sample's (seed, point, sample):
//   layer kInputLayer   the n×m Gaussian whose QR gives the rotation O of X_0;
//   layer ℓ = 1..d      the layer's weights, in the order of DrawLayerWeights (dense_blocks.h);
//   layer kLossLayer    u (n entries) then y (m entries) of the loss.
// The backward pass draws layer ℓ's weights again from its stream instead of keeping them, so at
// most one layer's weights are in memory; it keeps the layer inputs X_0..X_d (O(d·m·n)).
#ifndef SIGPROP_COMMON_FINITE_DENSE_SAMPLER_H_
#define SIGPROP_COMMON_FINITE_DENSE_SAMPLER_H_

#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/finite/dense_blocks.h"
#include "common/finite/sample_observer.h"
#include "common/linalg.h"
#include "common/model_plan.h"
#include "common/rng.h"

namespace sigprop {

// Runs one sample: reports V_0, then V_ℓ for every layer the observer wants; stops with
// OnDiverged(ℓ) and OkStatus at the first layer whose V is diverged (SPEC §3; V is formed every
// layer for this check, and a diverged V is not reported as a covariance). With `gradients`, then
// reports OnGradients(ℓ, …) for ℓ = d down to 1. Observer::Cancelled is polled once per layer of
// each pass; when it turns true the result is CANCELLED. INVALID_ARGUMENT when the plan cannot be
// sampled densely (n < m, V_0 not positive definite, H not dividing n and n_k).
// `workspace`, when given, holds the buffers the passes reuse (see DenseWorkspace).
struct DenseWorkspace;
absl::Status SampleDense(const ModelPlan& plan, const SampleCoordinates& at, bool gradients,
                         SampleObserver& observer, DenseWorkspace* workspace = nullptr);

// A layer's weights, their gradients and the layer's cache: n² doubles each or more, what one
// sample's forward and backward passes fill layer after layer. Kept from sample to sample on one
// thread (the engine holds one per worker for a run), they are allocated once instead of once a
// sample: fresh allocations of that size are mapped pages the kernel zero-fills on first touch,
// 10–15 % of DENSE's time at n = 256 (issue 18). Contents never carry over: every pass writes
// what it reads.
struct DenseWorkspace {
  LayerWeights weights;
  LayerWeights gradients;
  LayerCache cache;
  Matrix recomputed;
};

// The pieces of SampleDense, for tests that supply their own weights.

// X_0 = sqrt(n) · chol(V_0) · O, so X_0 X_0ᵀ / n = V_0 exactly (SPEC §1). O = Qᵀ, G = QR the thin
// QR of an n×m N(0,1) matrix G drawn row by row from `stream`, with the signs of Q's columns
// chosen so that diag(R) > 0: that QR is unique and Q is then Haar on the Stiefel manifold (a
// Householder QR alone fixes the sign of R_11 by G_11 and biases O).
absl::StatusOr<Matrix> DenseInput(const ModelPlan& plan, RandomStream& stream);

// The loss L = (1/2m) Σ_α (x_α·u / sqrt(n) − y_α)² of SPEC §3 on the output X_d.
struct LossTargets {
  Vector u;  // n
  Vector y;  // m
};
LossTargets DrawLossTargets(const ModelPlan& plan, RandomStream& stream);
double DenseLoss(const Matrix& x, const LossTargets& targets);
// dL/dX = r uᵀ / (m sqrt(n)), r = X u / sqrt(n) − y.
Matrix DenseLossGradient(const Matrix& x, const LossTargets& targets);

// Supplies layer ℓ's weights (SampleDense: DrawLayerWeights on the layer's stream).
using LayerWeightSource = absl::FunctionRef<void(int layer, LayerWeights* w)>;
// What the backward pass hands over for layer ℓ: dL/dW_ℓ, the rounding floor of its query and
// key gradients, and dL/dX_ℓ (the gradient at the layer's output).
struct LayerGradient {
  const LayerWeights& weights;
  const GradientFloor& floor;
  const Matrix& d_output;
};
// Receives layer ℓ's gradients; a non-OK status stops the backward pass and is returned.
using LayerGradientSink = absl::FunctionRef<absl::Status(int layer, const LayerGradient& grad)>;

// Backward pass from L(X_d) down to layer 1. `inputs` holds X_0..X_d (inputs[ℓ] = X_ℓ). For
// ℓ = d..1: fetches W_ℓ from `weights`, recomputes layer ℓ's forward pass from X_{ℓ−1} to refill
// its cache, back-propagates dL/dX_ℓ to dL/dX_{ℓ−1} and hands dL/dW_ℓ to `sink`. Returns
// dL/dX_0 in `d_input` when that is not null.
absl::Status BackpropagateDense(const ModelPlan& plan, const std::vector<Matrix>& inputs,
                                const LossTargets& targets, LayerWeightSource weights,
                                LayerGradientSink sink, Matrix* d_input = nullptr,
                                DenseWorkspace* workspace = nullptr);

// The norms a sampler reports for one layer from its gradients (n the width).
GradientNorms ReportedNorms(const LayerWeights& grad, const GradientFloor& floor,
                            const Matrix& d_output);
// Layer 0's report: the backward signal at the input, NaN weight norms.
GradientNorms InputGradientNorms(const Matrix& d_input);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_DENSE_SAMPLER_H_
