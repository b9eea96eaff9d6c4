// Euler–Maruyama (euler_maruyama.h) for kSdeLanes paths at once: the same scheme, step for step,
// with every quantity of a step held as a vector of one value per path (structure of arrays), so the
// 8×8 products, the Cholesky factor, the drift and ν(ρ) (shaped_relu_nu.h) run as vector
// instructions across paths. Lanes never mix: a path's values depend only on its own increments,
// whatever the other lanes hold, and the arithmetic is elementwise IEEE +, −, ×, ÷, sqrt without
// contraction (compiled with -ffp-contract=off), so the SSE2, AVX2 and AVX-512 variants, chosen at
// run time, return identical bits.
//
// Per step, with L = chol(V) (lower) and the symmetric increment written dG = U + Uᵀ (U lower,
// U_αα = dG_αα/2), every product is triangular where it can be:
//   L dG Lᵀ = M + Mᵀ,  M = (L U) Lᵀ;     E V = L (dB₂ (Lᵀ (P V))),  P V = V − 1 (column means)ᵀ.
// The new V is symmetric by construction (the increments are formed as X + Xᵀ), so the scheme's
// symmetrisation is exact. Non-finite V or V_αα > 1e12 diverges the lane; a failed Cholesky floors
// the eigenvalues (FloorEigenvalues, per lane) or diverges it, as Positivity says.
#ifndef SIGPROP_COMMON_SDE_BATCHED_EULER_MARUYAMA_H_
#define SIGPROP_COMMON_SDE_BATCHED_EULER_MARUYAMA_H_

#include <cstdint>
#include <vector>

#include "common/cpu_features.h"
#include "common/linalg.h"
#include "common/sde/covariance_sde.h"
#include "common/sde/euler_maruyama.h"

namespace sigprop {

inline constexpr int kSdeLanes = 8;
inline constexpr int kMaxBatchedTokens = 8;

// Instruction sets of the dispatched variants (cpu_features.h); all give the same results.
using SdeIsa = VectorIsa;

// The variants this CPU runs, best last.
inline std::vector<SdeIsa> SupportedSdeIsas() { return SupportedVectorIsas(); }

// For tests: ν(ρ) of eight lanes as the given variant's step computes it (bit for bit the same as
// ShapedReluNu, covariance_sde.h, lane by lane).
void BatchedNuForTesting(SdeIsa isa, const double rho[kSdeLanes], double nu[kSdeLanes]);

class BatchedEulerMaruyama {
 public:
  // Whether m tokens fit the batched kernel (1 ≤ m ≤ kMaxBatchedTokens).
  static bool Supports(int tokens);

  // The variant the kernels use (BestVectorIsa: the CPU's best, capped by SIGPROP_MAX_ISA); tests
  // pass one explicitly.
  BatchedEulerMaruyama(const CovarianceSde& sde, double dt, Positivity positivity);
  BatchedEulerMaruyama(const CovarianceSde& sde, double dt, Positivity positivity, SdeIsa isa);

  // Standard normals one step consumes per path, in BrownianIncrement::Draw's order (dG's lower
  // triangle row by row, diagonal first, then dB₂ row-major when there is attention noise).
  int gaussians_per_step() const { return gaussians_; }

  // Every lane at V0 (positive definite); lanes ≥ `paths` are idle (never stepped).
  void Reset(const Matrix& v0, int paths);

  // One step of every live lane. `gaussians[k * kSdeLanes + p]` is the k-th standard normal of
  // lane p (idle or diverged lanes: any finite value). Returns the lanes that diverged in this
  // step (bit p), which are then idle.
  uint32_t Step(const double* gaussians);

  // The live lanes whose V the last step floored (Positivity::kEigenFloor) after its divergence
  // test. Every other live lane passed that test as the step left it: V finite, no V_αα above
  // 1e12, so IsDiverged at the default threshold is false for it without looking.
  uint32_t floored() const { return state_.floored & live_; }

  bool live(int lane) const { return (live_ >> lane) & 1u; }
  uint32_t live_lanes() const { return live_; }
  // Makes a lane idle, as if it had diverged (the sampler's own test: RunSpec.divergence_threshold).
  void Retire(int lane) { live_ &= ~(1u << lane); }
  // V of one live lane into `v` (m×m, already sized). An idle lane's state is finite but otherwise
  // unspecified: it may have been reset to the identity, or kept where it stopped (a variant skips
  // a group of lanes that are all idle).
  void Get(int lane, Matrix* v) const;
  // The lanes p of `lanes` whose V IsDiverged (sample_observer.h) at thresholds[p]: a non-finite
  // entry, or a diagonal entry above the threshold. Reads the state in place, without Get. The
  // thresholds must be finite (validation bounds RunSpec.divergence_threshold by 1e12): the test
  // is arithmetic, and an infinite one would read as diverged.
  uint32_t Diverged(const double* thresholds, uint32_t lanes) const;
  // Every lane's V as the lane statistics read them (covariance_stats_lanes.h): entry (i, j) of
  // lane p at [(i * kMaxBatchedTokens + j) * kSdeLanes + p], 64-byte aligned.
  const double* covariance_lanes() const { return state_.v; }

  // Structure of arrays: entry (i, j) of lane p at [(i * kMaxBatchedTokens + j) * kSdeLanes + p].
  struct alignas(64) State {
    double v[kMaxBatchedTokens * kMaxBatchedTokens * kSdeLanes];
    double l[kMaxBatchedTokens * kMaxBatchedTokens * kSdeLanes];
    uint32_t floored = 0;  // The lanes the last step floored (see floored()).
  };
  struct Params {
    int tokens;
    double dt, half_root_2dt, root_dt, root_lin_variance, attention_scale, attention_drift,
        mlp_drift;
    Positivity positivity;
  };
  using StepFunction = uint32_t (*)(const Params&, uint32_t live, const double* gaussians,
                                    State* state);
  using DivergedFunction = uint32_t (*)(const double* v, const double* thresholds,
                                        uint32_t lanes);

 private:
  Params params_;
  int gaussians_;
  StepFunction step_;
  DivergedFunction diverged_;
  uint32_t live_ = 0;
  State state_;
};

}  // namespace sigprop

#endif  // SIGPROP_COMMON_SDE_BATCHED_EULER_MARUYAMA_H_
