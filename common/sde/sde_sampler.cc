#include "common/sde/sde_sampler.h"

#include "common/rng.h"

namespace sigprop {

absl::StatusOr<SdeSampler> SdeSampler::Create(const ModelPlan& plan,
                                              const v1::SdeOptions& options) {
  auto sde = CovarianceSde::FromPlan(plan);
  if (!sde.ok()) return sde.status();
  const int steps = options.steps_per_layer() > 0 ? options.steps_per_layer() : 1;
  const double dt = 1.0 / (static_cast<double>(plan.width) * steps);
  const Positivity positivity = options.positivity() == v1::SdeOptions::STOP
                                    ? Positivity::kStop
                                    : Positivity::kEigenFloor;
  return SdeSampler(*std::move(sde), plan.v0, plan.depth, steps, dt, positivity);
}

absl::Status SdeSampler::Sample(const SampleCoordinates& at, SampleObserver& observer) const {
  SdePathState state(v0_);
  BrownianIncrement db(sde_.tokens());
  const bool attention_noise = sde_.has_attention_noise();
  observer.OnCovariance(0, state.v);
  for (int layer = 1; layer <= depth_; ++layer) {
    if (observer.Cancelled()) return absl::CancelledError("run cancelled");
    RandomStream stream(at.seed, at.point, at.sample, static_cast<uint32_t>(layer));
    for (int k = 0; k < steps_per_layer_; ++k) {
      db.Draw(stream, dt_, attention_noise);
      if (EulerMaruyamaStep(sde_, dt_, db, positivity_, &state) == StepOutcome::kDiverged) {
        observer.OnDiverged(layer);
        return absl::OkStatus();
      }
    }
    if (observer.WantsLayer(layer)) observer.OnCovariance(layer, state.v);
  }
  return absl::OkStatus();
}

}  // namespace sigprop
