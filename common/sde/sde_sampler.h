// method SDE: Monte-Carlo paths of the covariance SDE (covariance_sde.h) by Euler–Maruyama,
// reported through the same SampleObserver as a finite-width sampler, with layer ℓ ↔ t = ℓ/n.
// Up to kSdeLanes paths advance together in the batched kernel (batched_euler_maruyama.h; m ≤ 8,
// else one path at a time by euler_maruyama.h), the engine's unit of work for method SDE. A model of width n and depth d runs to T = d/n with Δt = 1/(n · steps_per_layer).
// Increments of layer ℓ come from the stream (seed, point, sample, ℓ) (its one-word ziggurat
// Gaussians, drawn for all lanes of a step by FillGaussianZigguratOneWordEach, each lane's values as
// a separate fill would give them), and lanes never mix, so a path depends only on (seed, point,
// sample): not on thread scheduling, nor on which paths share its batch.
#ifndef SIGPROP_COMMON_SDE_SDE_SAMPLER_H_
#define SIGPROP_COMMON_SDE_SDE_SAMPLER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/finite/sample_observer.h"
#include "common/model_plan.h"
#include "common/sde/batched_euler_maruyama.h"
#include "common/sde/covariance_sde.h"
#include "common/sde/euler_maruyama.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {

class SdeSampler {
 public:
  // InvalidArgument (field relative to the model) when the model has no covariance SDE.
  static absl::StatusOr<SdeSampler> Create(const ModelPlan& plan, const v1::SdeOptions& options);

  // Paths that advance together in SampleBatch.
  static constexpr int kMaxBatch = kSdeLanes;

  // One path; stops after OnDiverged when it explodes (SPEC §3). CANCELLED when the observer says so.
  absl::Status Sample(const SampleCoordinates& at, SampleObserver& observer) const;
  // Paths first.sample, …, first.sample + paths − 1 (paths ≤ kMaxBatch), path p reported to
  // observers[p]; each the same as Sample would give. CANCELLED when observers[0] says so.
  absl::Status SampleBatch(const SampleCoordinates& first, SampleObserver* const* observers,
                           int paths) const;

  // A batch that advances in pieces (the engine's layer blocks): the batched kernel's state and
  // the last layer it reached. Only for m ≤ kMaxBatchedTokens (BatchedEulerMaruyama::Supports).
  struct Batch {
    BatchedEulerMaruyama kernel;
    int layer = 0;
  };
  // Paths at V0, layer 0 reported to observers[p] (as SampleBatch begins).
  Batch StartBatch(SampleObserver* const* observers, int paths) const;
  // Advances `batch` through layers batch->layer + 1, …, min(to_layer, depth), reporting them as
  // SampleBatch does; a sequence of calls reports what one SampleBatch would, whatever the pieces.
  absl::Status AdvanceBatch(const SampleCoordinates& first, SampleObserver* const* observers,
                            int paths, int to_layer, Batch* batch) const;

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

  // Layer ℓ of the lanes in `lanes` to their observers: the default statistics, computed for all
  // lanes at once, where the observers take them; else V itself (formed in `v`).
  static void Report(int layer, const BatchedEulerMaruyama& kernel, uint32_t lanes,
                     SampleObserver* const* observers, Matrix* v);

  // One path by the scalar scheme (euler_maruyama.h), for m > kMaxBatchedTokens.
  absl::Status SamplePath(const SampleCoordinates& at, SampleObserver& observer) const;

  CovarianceSde sde_;
  Matrix v0_;
  int depth_;
  int steps_per_layer_;
  double dt_;
  Positivity positivity_;
};

}  // namespace sigprop

#endif  // SIGPROP_COMMON_SDE_SDE_SAMPLER_H_
