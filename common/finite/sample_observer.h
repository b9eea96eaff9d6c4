// What a per-sample kernel reports, layer by layer. Every sampler (dense, columns, gram, the SDE)
// is a plain function `Status Sample…(plan, coordinates, observer)` that calls this interface;
// the parallel driver (engine.h) owns storage and aggregation.
#ifndef SIGPROP_COMMON_FINITE_SAMPLE_OBSERVER_H_
#define SIGPROP_COMMON_FINITE_SAMPLE_OBSERVER_H_

#include <atomic>
#include <cstdint>

#include "common/finite/attention_matrix.h"
#include "common/linalg.h"

namespace sigprop {

// Where a sample sits in the key space of the random streams (rng.h).
struct SampleCoordinates {
  uint64_t seed = 0;
  uint32_t point = 0;
  uint32_t sample = 0;
};

// One layer's gradients (SPEC §3, §4a): Frobenius norms of dL/dW for the N(0,1) weights of layer
// ℓ (zero where the block is absent; NaN at layer 0, which has no weights), the backward signal
// ‖dL/dX_ℓ‖_F / sqrt(n), and whether ‖dL/dW_Q‖ or ‖dL/dW_K‖ lies within its rounding floor
// (dense_blocks.h GradientFloor): then it is floating-point noise, not a measurement.
struct GradientNorms {
  double wq = 0.0, wk = 0.0, wv = 0.0, w1 = 0.0, w2 = 0.0;
  double x = 0.0;
  bool below_floor = false;
};

// Statistic names in GradientNorms order. "grad_floor_fraction" is 1 for a sample whose grad_wq
// or grad_wk is below its floor, else 0, so its mean over samples is the fraction below.
inline const char* const kGradientStatNames[] = {"grad_wq", "grad_wk", "grad_wv",
                                                 "grad_w1", "grad_w2", "grad_x",
                                                 "grad_floor_fraction"};
inline constexpr int kGradientStats = 7;
// COLUMNS and GRAM: negative eigenvalues clamped by their matrix roots so far (OnRootRepairs).
inline constexpr const char* kRootRepairsStatName = "psd_repairs";

class SampleObserver {
 public:
  virtual ~SampleObserver() = default;
  // Called for layer 0 (the input) and after every layer ℓ = 1..depth whose covariance the
  // driver wants (WantsLayer). V is m×m, symmetric.
  virtual void OnCovariance(int layer, const Matrix& v) = 0;
  // Whether this observer records exactly the default statistics of V (covariance_stats.h,
  // ComputeCovarianceStats with no options) and nothing else of V: then a sampler that computes
  // them for several samples at once (the SDE's lanes, covariance_stats_lanes.h) may call
  // OnCovarianceStats instead of OnCovariance, without forming V.
  virtual bool TakesDefaultCovarianceStats() const { return false; }
  // Instead of OnCovariance, where TakesDefaultCovarianceStats: ComputeCovarianceStats(V, {}, ·)'s
  // values of layer ℓ's V.
  virtual void OnCovarianceStats(int /*layer*/, const double* /*stats*/) {}
  // Gradients of layer ℓ = depth down to 0 (DENSE and COLUMNS with gradients), after the forward
  // pass; layer 0 carries only the backward signal x.
  virtual void OnGradients(int layer, const GradientNorms& norms) = 0;
  // Samplers that take matrix roots (COLUMNS, GRAM) report, with each wanted layer, how many
  // negative eigenvalues (rounding, e.g. under rank collapse) they have clamped to zero since the
  // sample began (wishart.h SymmetricRoot). Exact-arithmetic PSD inputs give 0.
  virtual void OnRootRepairs(int /*layer*/, int /*clamped*/) {}
  // The samplers that form the attention matrix (DENSE, COLUMNS, GRAM) report, with each wanted
  // layer, its statistics (attention_matrix.h).
  virtual void OnAttention(int /*layer*/, const AttentionStats& /*stats*/) {}
  // The sample diverged at `layer` (SPEC §3); the kernel stops after this call.
  virtual void OnDiverged(int layer) = 0;
  // Whether layer ℓ's covariance is recorded (record_every); kernels may skip forming V otherwise.
  virtual bool WantsLayer(int layer) const = 0;
  // Polled once per layer; a kernel returns absl::CancelledError when it turns true.
  virtual bool Cancelled() const = 0;
  // The level of max V_αα past which the sample diverges (RunSpec.divergence_threshold).
  virtual double DivergenceThreshold() const { return kDefaultDivergenceThreshold; }

  static constexpr double kDefaultDivergenceThreshold = 1e12;
};

// SPEC §3: non-finite entries or max V_αα > threshold (1e12 unless the run says otherwise).
bool IsDiverged(const Matrix& v,
                double threshold = SampleObserver::kDefaultDivergenceThreshold);

// What every sampler does with layer ℓ's covariance: OnDiverged and false (the sample stops) if V
// diverged (at the observer's threshold), else OnCovariance when the layer is wanted, and true.
bool ReportLayer(SampleObserver& observer, int layer, const Matrix& v);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_SAMPLE_OBSERVER_H_
