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
// (any n, n_k, H), O(n_h m²) for an EXACT MLP, O(m³) for a KERNEL MLP (approximate).
//
// Heads without an output projection (H > 1, no W_O) write only their own feature block X_h
// (n/H columns), and the cross term X_h f_hᵀ needs X_h's own Gram matrix, not V's (the single
// chain is wrong there: SPEC §4). The chain then keeps V_h = X_h X_hᵀ/n for every head, V = Σ_h V_h,
// and applies the update above to each block with its own root L_h, its own Z_h and
// W_{n/H − m}, and F_h = A_h L_Y for attention (F shared by the blocks for the MLP, whose W_2
// columns are split among them); the logits and RMSNorm read the whole V. At layer 0 the blocks of
// X_0 = sqrt(n) L_0 O with Haar O are drawn as V_h(0) = L_0 C⁻¹ W_h C⁻ᵀ L_0ᵀ, W_h ~ Wishart_m(n/H, I)
// independent, C = chol(Σ_h W_h). Needs n/H ≥ m. O(H m³) per attention layer.
//
// Not representable: LayerNorm (its centring acts on feature rows) — use COLUMNS
// (columns_sampler.h).
//
// Streams: layer ℓ = 1..d draws from RandomStream(seed, point, sample, ℓ), attention block then
// MLP block, each: the branch's draws (block_laws.h), then per feature block Z, then the root of
// W_{n/B−m}; with per-head blocks, layer kInputLayer draws the W_h of V_h(0).
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
