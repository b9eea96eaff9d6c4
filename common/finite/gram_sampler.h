// The gram sampler (SPEC §4 "gram"): the transformer of SPEC §1–2 as a Markov chain on the m×m
// covariance V itself, exact in law and independent of the width n, the key width n_k and (for
// attention) the hidden width.
//
// A residual block X' = λX + γ f with f = F G (block_laws.h: F Fᵀ = K the branch's column kernel,
// G ∈ R^{m×n} iid and independent of X) gives, writing X = sqrt(n) L O with O Oᵀ = I and
// rotating G by an orthogonal completion of O (Z = O-part, the rest Wishart):
//
//     V' = λ² V + (λγ / sqrt(n)) (L Zᵀ Fᵀ + F Z Lᵀ) + (γ² / n) F (Z Zᵀ + W_{n−m}) Fᵀ,
//
// Z ∈ R^{m×m} iid N(0,1), W_{n−m} ~ Wishart_m(n − m, I) by its Bartlett root (wishart.h). Here L
// is a root of the block input's V and F comes from the (pre-normed) branch input's root; RMSNorm
// is V ← D^{-1/2} V D^{-1/2}, D = diag V, exact in the chain. Costs per layer: O(m³) for attention
// (any n, n_k, H with output projection), O(n_h m²) for an EXACT MLP, O(m³) for a KERNEL MLP
// (approximate). Not representable: LayerNorm (needs feature rows) and H > 1 without W_O (the
// heads' feature blocks need their own Gram matrices) — use COLUMNS (columns_sampler.h).
//
// Streams: layer ℓ = 1..d draws from RandomStream(seed, point, sample, ℓ), attention block then
// MLP block, each: the branch's draws (block_laws.h), then Z, then the root of W_{n−m}.
#ifndef SIGPROP_COMMON_FINITE_GRAM_SAMPLER_H_
#define SIGPROP_COMMON_FINITE_GRAM_SAMPLER_H_

#include "absl/status/status.h"
#include "common/finite/sample_observer.h"
#include "common/model_plan.h"

namespace sigprop {

// OK when the gram chain is exact for the plan (or approximate only through KERNEL MLP
// sampling); otherwise INVALID_ARGUMENT naming the field and saying to use COLUMNS.
absl::Status GramSupports(const ModelPlan& plan);

// Runs one sample: reports V_0, then V_ℓ for every layer the observer wants; stops with
// OnDiverged(ℓ) and OK at the first diverged V (SPEC §3). Polls Cancelled() once per layer and
// then returns CANCELLED.
absl::Status SampleGram(const ModelPlan& plan, const SampleCoordinates& at,
                        SampleObserver& observer);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_GRAM_SAMPLER_H_
