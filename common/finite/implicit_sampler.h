// The columns sampler with gradients (SPEC §4a): the dense transformer's forward and backward pass
// with every weight product replaced by its implicit form (implicit_weights.h), so no weight matrix
// is formed and a layer costs O(m² (n + n_k + n_h)) and O(m (n + n_k + n_h)) Gaussians each way,
// against the dense sampler's O(m n²) and 5n² Gaussians.
//
// It is exact in law jointly for the forward statistics and the gradients, but its draws are not the
// plain columns sampler's (that one samples the logits as an m×m Wishart problem and keeps no
// Q, K): a run with gradients gives other sample values, with the same law, than one without
// (docs/adr/0007-gradients-by-implicit-weights.md).
//
// Memory: the forward pass keeps X_0..X_d, (d + 1)·m·n doubles a sample; the backward pass
// recomputes layer ℓ's forward pass from X_{ℓ−1} on the same stream (the draws G come back from
// their Philox counters) instead of keeping every layer's factorisations and draws, which would be
// about ten times more. One layer's working set is O(m (n + n_k + n_h)).
//
// Streams: X_0 as the dense sampler (DenseInput on kInputLayer); layer ℓ's forward draws from
// RandomStream(seed, point, sample, ℓ): G_Q, G_K, G_V, G_O (those the model has), then G_1, G_2;
// (a gated MLP draws G_g after G_1); its backward draws G' from RandomStream(…, BackwardLayer(ℓ)): MLP hidden input, MLP input,
// attention heads (W_O), attention input; the loss targets u, y from kLossLayer as the dense sampler.
#ifndef SIGPROP_COMMON_FINITE_IMPLICIT_SAMPLER_H_
#define SIGPROP_COMMON_FINITE_IMPLICIT_SAMPLER_H_

#include "absl/status/status.h"
#include "common/finite/dense_blocks.h"
#include "common/finite/implicit_weights.h"
#include "common/finite/sample_observer.h"
#include "common/linalg.h"
#include "common/model_plan.h"
#include "common/rng.h"

namespace sigprop {

// Runs one sample: reports V_0 and V_ℓ as SampleColumns does (stopping at the first diverged V,
// without gradients then), then OnGradients(ℓ, …) for ℓ = d down to 0. Polls Cancelled() once per
// layer of each pass and then returns CANCELLED.
absl::Status SampleColumnsWithGradients(const ModelPlan& plan, const SampleCoordinates& at,
                                        SampleObserver& observer,
                                        BackwardLaw law = BackwardLaw::kConditioned);

// The forward pass alone, without keeping X_0 … X_{d−1}: method COLUMNS for the language-model
// knobs (SPEC §2b, model_plan.h LanguageModelField), which the plain columns sampler's m×m
// Wishart draws of the logits do not represent (per-position rotations, grouped heads, gates).
// Same law as SampleColumns where both apply; other draws.
absl::Status SampleColumnsImplicitForward(const ModelPlan& plan, const SampleCoordinates& at,
                                          SampleObserver& observer);

// One layer's state between its forward and its backward pass.
struct ImplicitLayerCache {
  ResidualCache attention_block;
  AttentionCache attention;
  ImplicitInput attention_input;  // The branch input Y, read by W_Q, W_K, W_V.
  ImplicitInput heads_input;      // The concatenated heads, read by W_O.
  Matrix g_q, g_k, g_v, g_o;  // G_Q: k × H·d_q, G_K: k × kv·d_q, G_V: k × kv·d_v, G_O: k × n.
  ResidualCache mlp_block;
  ImplicitInput mlp_input;     // Y, read by W_1.
  ImplicitInput hidden_input;  // sqrt(c) φ(H), read by W_2 (n_in = n_h).
  Matrix g_1, g_2, hidden, activated;
  Matrix g_g, gate;  // The gate of a gated MLP: G_g and H_g.
};

// X_ℓ from X_{ℓ−1} (ℓ = `layer`), drawing from `stream` (the layer's forward stream).
void ImplicitLayerForward(const ModelPlan& plan, int layer, const Matrix& x, RandomStream& stream,
                          ImplicitLayerCache* cache, Matrix* out);

// dL/dX_{ℓ−1} from dL/dX_ℓ, drawing G' from `stream` (the layer's backward stream); sets the weight
// norms and below_floor of `norms`, and x to 0 (the caller knows which layer's signal to report).
void ImplicitLayerBackward(const ModelPlan& plan, int layer, ImplicitLayerCache& cache,
                           const Matrix& dout, BackwardLaw law, RandomStream& stream, Matrix* dx,
                           GradientNorms* norms);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_IMPLICIT_SAMPLER_H_
