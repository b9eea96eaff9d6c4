// method SDE: one Monte-Carlo path of the covariance SDE (covariance_sde.h) by Euler–Maruyama
// (euler_maruyama.h), reported through the same SampleObserver as a finite-width sampler, with
// layer ℓ ↔ t = ℓ/n. A model of width n and depth d runs to T = d/n with Δt = 1/(n · steps_per_layer).
// Increments of layer ℓ come from the stream (seed, point, sample, ℓ), so paths are reproducible
// and independent of thread scheduling.
#ifndef SIGPROP_COMMON_SDE_SDE_SAMPLER_H_
#define SIGPROP_COMMON_SDE_SDE_SAMPLER_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/finite/sample_observer.h"
#include "common/model_plan.h"
#include "common/sde/covariance_sde.h"
#include "common/sde/euler_maruyama.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {

class SdeSampler {
 public:
  // InvalidArgument (field relative to the model) when the model has no covariance SDE.
  static absl::StatusOr<SdeSampler> Create(const ModelPlan& plan, const v1::SdeOptions& options);

  // One path; stops after OnDiverged when it explodes (SPEC §3). CANCELLED when the observer says so.
  absl::Status Sample(const SampleCoordinates& at, SampleObserver& observer) const;

  const CovarianceSde& process() const { return sde_; }
  double dt() const { return dt_; }
  int steps_per_layer() const { return steps_per_layer_; }

 private:
  SdeSampler(CovarianceSde sde, Matrix v0, int depth, int steps_per_layer, double dt,
             Positivity positivity)
      : sde_(std::move(sde)),
        v0_(std::move(v0)),
        depth_(depth),
        steps_per_layer_(steps_per_layer),
        dt_(dt),
        positivity_(positivity) {}

  CovarianceSde sde_;
  Matrix v0_;
  int depth_;
  int steps_per_layer_;
  double dt_;
  Positivity positivity_;
};

}  // namespace sigprop

#endif  // SIGPROP_COMMON_SDE_SDE_SAMPLER_H_
