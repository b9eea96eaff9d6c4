#include "common/sde/sde_sampler.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "common/rng.h"
#include "common/stats/covariance_stats_lanes.h"

namespace sigprop {
namespace {

static_assert(kSdeLanes == kLanes && kMaxBatchedTokens == kMaxLaneTokens,
              "the lane statistics read the batched kernel's state as it is laid out");

constexpr int kMaxGaussians =
    kMaxBatchedTokens * (kMaxBatchedTokens + 1) / 2 + kMaxBatchedTokens * kMaxBatchedTokens;

// The lanes of `lanes` whose observers take the default statistics (OnCovarianceStats).
uint32_t DefaultStatsLanes(uint32_t lanes, SampleObserver* const* observers) {
  uint32_t taking = 0;
  for (int p = 0; p < kSdeLanes; ++p) {
    if ((lanes >> p) & 1u && observers[p]->TakesDefaultCovarianceStats()) taking |= 1u << p;
  }
  return taking;
}

// Layer `layer`'s default statistics of `lanes` (all taking them), computed from their V in the
// kernel's lane layout at once, each to its lane's observer.
void ReportLaneStats(int m, int layer, const double* covariance_lanes, uint32_t lanes,
                     SampleObserver* const* observers) {
  alignas(64) double stats[kSdeLanes][kMaxDefaultCovarianceStats];
  ComputeCovarianceStatsLanes(m, covariance_lanes, lanes, stats);
  for (int p = 0; p < kSdeLanes; ++p) {
    if ((lanes >> p) & 1u) observers[p]->OnCovarianceStats(layer, stats[p]);
  }
}

// Layers whose default statistics wait to be computed together, eight layers at a time, so that
// the step and the lane statistics each run several times in a row rather than alternating every
// layer (their AVX-512 code, 16.5 and 17.9 KB, is more than a 32 KB instruction cache holds):
// recording every layer took 2 % less time (issue 18, bench/RESULTS.md). Each held layer is a copy
// of the part of the kernel's V lanes that the statistics read (Add; a 4 KB slot). Observers get
// the same calls with the same values, later, and in the same order: Flush comes before any other
// call to them.
class DeferredLayerStats {
 public:
  bool full() const { return count_ == kLayers; }

  // Only the m×m corner is read (row i of V starts i·kMaxBatchedTokens lanes-of-doubles in), so
  // only the layout's prefix up to V(m−1, m−1) is copied: 1.75 of 4 KB at m = 4.
  void Add(int m, int layer, uint32_t lanes, const double* covariance_lanes) {
    const size_t used = (static_cast<size_t>(m - 1) * kMaxBatchedTokens + m) * kSdeLanes;
    std::memcpy(v_[count_], covariance_lanes, used * sizeof(double));
    layer_[count_] = layer;
    lanes_[count_] = lanes;
    ++count_;
  }

  void Flush(int m, SampleObserver* const* observers) {
    for (int i = 0; i < count_; ++i) ReportLaneStats(m, layer_[i], v_[i], lanes_[i], observers);
    count_ = 0;
  }

 private:
  static constexpr int kLayers = 8;
  alignas(64) double v_[kLayers][kMaxBatchedTokens * kMaxBatchedTokens * kSdeLanes];
  int layer_[kLayers];
  uint32_t lanes_[kLayers];
  int count_ = 0;
};

}  // namespace

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
  SampleObserver* const observers[] = {&observer};
  return SampleBatch(at, observers, 1);
}

absl::Status SdeSampler::SampleBatch(const SampleCoordinates& first,
                                     SampleObserver* const* observers, int paths) const {
  const int m = sde_.tokens();
  if (!BatchedEulerMaruyama::Supports(m)) {
    for (int p = 0; p < paths; ++p) {
      SampleCoordinates at = first;
      at.sample += static_cast<uint32_t>(p);
      if (auto status = SamplePath(at, *observers[p]); !status.ok()) return status;
    }
    return absl::OkStatus();
  }
  Batch batch = StartBatch(observers, paths);
  return AdvanceBatch(first, observers, paths, depth_, &batch);
}

SdeSampler::Batch SdeSampler::StartBatch(SampleObserver* const* observers, int paths) const {
  Batch batch{BatchedEulerMaruyama(sde_, dt_, positivity_), 0};
  batch.kernel.Reset(v0_, paths);
  for (int p = 0; p < paths; ++p) observers[p]->OnCovariance(0, v0_);
  return batch;
}

absl::Status SdeSampler::AdvanceBatch(const SampleCoordinates& first,
                                      SampleObserver* const* observers, int paths, int to_layer,
                                      Batch* batch) const {
  BatchedEulerMaruyama& kernel = batch->kernel;
  const int m = sde_.tokens();
  const int n = kernel.gaussians_per_step();
  // gaussians[k * kSdeLanes + p]: lanes that are idle keep these zeros. Page-aligned: the
  // ziggurat stores into it while loading from its word buffer in the callee's frame, and where the
  // two met modulo 4 KB (the SampleBatch/AdvanceBatch split moved it) the ziggurat ran 28 % slower
  // and a whole SDE run 6 % (bench/RESULTS.md, issue 18, sixth step).
  alignas(4096) std::array<double, kMaxGaussians * kSdeLanes> gaussians{};
  std::array<std::optional<RandomStream>, kSdeLanes> streams;
  Matrix v(m, m);
  double thresholds[kSdeLanes];  // Idle lanes: any value, never tested.
  std::fill(thresholds, thresholds + kSdeLanes, SampleObserver::kDefaultDivergenceThreshold);
  for (int p = 0; p < paths; ++p) thresholds[p] = observers[p]->DivergenceThreshold();
  const int last = std::min(to_layer, depth_);
  DeferredLayerStats deferred;
  for (int layer = batch->layer + 1; layer <= last && kernel.live_lanes() != 0; ++layer) {
    if (observers[0]->Cancelled()) {
      deferred.Flush(m, observers);
      return absl::CancelledError("run cancelled");
    }
    batch->layer = layer;
    for (int p = 0; p < paths; ++p) {
      if (kernel.live(p)) {
        streams[p].emplace(first.seed, first.point, first.sample + static_cast<uint32_t>(p),
                           static_cast<uint32_t>(layer));
      }
    }
    for (int k = 0; k < steps_per_layer_; ++k) {
      // Each live lane's increments straight into its column of `gaussians`.
      RandomStream* live_streams[kSdeLanes];
      double* columns[kSdeLanes];
      int live = 0;
      for (int p = 0; p < paths; ++p) {
        if (!kernel.live(p)) continue;
        live_streams[live] = &*streams[p];
        columns[live++] = gaussians.data() + p;
      }
      RandomStream::FillGaussianZigguratOneWordEach(live_streams, columns, live, n, kSdeLanes);
      const uint32_t diverged = kernel.Step(gaussians.data());
      if (diverged != 0) deferred.Flush(m, observers);
      for (int p = 0; p < paths; ++p) {
        if ((diverged >> p) & 1u) observers[p]->OnDiverged(layer);
      }
    }
    // The kernel stops a lane at 1e12 after any step; a lower threshold is tested here, once a
    // layer t = ℓ/n, as the finite-width samplers test theirs (ReportLayer): an SDE run at a
    // network's width (finer Δt by steps_per_layer) tests at the network's times. A recorded
    // layer is tested at the default threshold too, but only where the last step floored V after
    // its own test (BatchedEulerMaruyama::floored): elsewhere that test already passed.
    const uint32_t floored = kernel.floored();
    uint32_t tested = 0, wanted = 0;
    for (int p = 0; p < paths; ++p) {
      if (!kernel.live(p)) continue;
      if (observers[p]->WantsLayer(layer)) wanted |= 1u << p;
      if (((wanted & floored) >> p) & 1u ||
          thresholds[p] < SampleObserver::kDefaultDivergenceThreshold) {
        tested |= 1u << p;
      }
    }
    // IsDiverged (sample_observer.h) of every tested lane at once.
    const uint32_t diverged = kernel.Diverged(thresholds, tested);
    if (diverged != 0) deferred.Flush(m, observers);
    for (int p = 0; p < paths; ++p) {
      if (!((diverged >> p) & 1u)) continue;
      kernel.Retire(p);
      observers[p]->OnDiverged(layer);
    }
    wanted &= ~diverged;
    if (wanted == 0) continue;
    if (DefaultStatsLanes(wanted, observers) == wanted) {
      if (deferred.full()) deferred.Flush(m, observers);
      deferred.Add(m, layer, wanted, kernel.covariance_lanes());
    } else {
      deferred.Flush(m, observers);
      Report(layer, kernel, wanted, observers, &v);
    }
  }
  deferred.Flush(m, observers);
  return absl::OkStatus();
}

void SdeSampler::Report(int layer, const BatchedEulerMaruyama& kernel, uint32_t lanes,
                        SampleObserver* const* observers, Matrix* v) {
  const uint32_t batched = DefaultStatsLanes(lanes, observers);
  if (batched != 0) {
    ReportLaneStats(static_cast<int>(v->rows()), layer, kernel.covariance_lanes(), batched,
                    observers);
  }
  for (int p = 0; p < kSdeLanes; ++p) {
    if (!(((lanes & ~batched) >> p) & 1u)) continue;
    kernel.Get(p, v);
    observers[p]->OnCovariance(layer, *v);
  }
}

absl::Status SdeSampler::SamplePath(const SampleCoordinates& at, SampleObserver& observer) const {
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
    if (IsDiverged(state.v, observer.DivergenceThreshold())) {
      observer.OnDiverged(layer);
      return absl::OkStatus();
    }
    if (observer.WantsLayer(layer)) observer.OnCovariance(layer, state.v);
  }
  return absl::OkStatus();
}

}  // namespace sigprop
