// Runs one sweep point: the samples of a RunSpec in parallel on a oneTBB arena, then aggregation in
// sample order (SPEC §3, §7.4). One kernel, two drivers: each sampler is a plain per-sample function
// (finite/*.h); this file is the parallel driver around them. Results depend only on (spec, point):
// every sample has its own random streams and the reduction order is fixed, so the output is
// byte-identical at any thread count.
#ifndef SIGPROP_COMMON_ENGINE_H_
#define SIGPROP_COMMON_ENGINE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "oneapi/tbb/task_arena.h"
#include "absl/status/statusor.h"
#include "common/huge_page_allocator.h"
#include "common/model_plan.h"
#include "sigprop/v1/results.pb.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {

struct RunContext {
  // Where the samples run; nullptr runs them in the calling thread's arena.
  oneapi::tbb::task_arena* arena = nullptr;
  // Polled once per layer of every sample; true stops the point with CANCELLED.
  std::function<bool()> cancelled;
  // Samples finished so far; called from one thread at a time, at most ~100 times a point.
  std::function<void(int done, int total)> progress;
  // Provisional rows (LayerStats.provisional) over the first K, 2K, … samples, K =
  // ProvisionalEvery(run) (cost_model.h); called between chunks, from the calling thread.
  std::function<void(std::vector<v1::LayerStats> rows)> provisional;
  // Per-sample statistics SimulateRows holds at once for method SDE (its layer blocks,
  // LayerBlockSlots): this many bytes, or an eighth of the table where that is more. Tests set it
  // small to cut a short run into blocks.
  size_t layer_block_bytes = size_t{8} << 20;
};

// Whether a run records attention_entropy, attention_max_logit and attention_gap: the samplers
// that form the attention matrix, for a model with an attention block.
bool HasAttentionStats(v1::RunSpec::Method method, const ModelPlan& plan);

// The method that runs when RunSpec.method is METHOD_UNSPECIFIED.
v1::RunSpec::Method ChooseMethod(const v1::RunSpec& run);

// Per-sample values of every statistic at every recorded layer: the raw material of the
// aggregates and of distribution tests between methods (SPEC §7.2).
struct SampleTable {
  v1::RunSpec::Method method = v1::RunSpec::METHOD_UNSPECIFIED;
  bool approximate = false;
  int tokens = 0;
  int samples = 0;
  std::vector<int> layers;         // Recorded layers, ascending; 0 and depth always included.
  std::vector<std::string> names;  // Statistic names, covariance statistics first.
  // [slot][statistic][sample]; NaN where not computed. Tens of megabytes for a long run: on huge
  // pages (huge_page_allocator.h).
  std::vector<double, HugePageAllocator<double>> values;
  std::vector<uint8_t> diverged;   // [slot][sample]
  std::vector<double> covariances; // [slot][sample][m×m], only when RunSpec.mean_covariance.

  int StatIndex(const std::string& name) const;  // −1 when absent.
  // The statistic's values of every sample at the slot, contiguous. SamplesOffset is the one place
  // that knows the [slot][statistic][sample] layout.
  size_t SamplesOffset(int slot, int stat) const {
    return (static_cast<size_t>(slot) * names.size() + stat) * samples;
  }
  double* Samples(int slot, int stat) { return values.data() + SamplesOffset(slot, stat); }
  const double* Samples(int slot, int stat) const {
    return values.data() + SamplesOffset(slot, stat);
  }
  double At(int slot, int stat, int sample) const { return Samples(slot, stat)[sample]; }
  // The samples that had not diverged at this slot, ascending.
  std::vector<int> LiveSamples(int slot) const;
  // The statistic over those samples, in sample order.
  std::vector<double> Column(int slot, int stat) const;
};

// The level of max V_αα past which the run's samples diverge: RunSpec.divergence_threshold, or
// SPEC §3's 1e12 when it is unset (0).
double DivergenceThreshold(const v1::RunSpec& run);

// Runs the samples of a validated run. `point` is the sweep point (part of the random key).
absl::StatusOr<SampleTable> SimulateSamples(const v1::RunSpec& run, int point,
                                            const RunContext& context);

// Recorded layers per layer block where SimulateRows runs `run` in blocks, else 0 (the whole table
// at once): method SDE on the batched kernel (m ≤ 8) whose table would exceed
// context.layer_block_bytes, without provisional rows or the mean covariance (which need every
// layer of the first samples, or V itself). At most eight blocks.
int LayerBlockSlots(const v1::RunSpec& run, const RunContext& context);

// The rows of a validated run: Aggregate(SimulateSamples(…)), or for method SDE recording more
// layers than one block's worth of table holds, the same rows from the table one layer block at a
// time (engine.cc, ADR 0013). Progress is then in samples' worth of work: `done` of `total` when
// every sample has stepped that share of the layers.
absl::StatusOr<std::vector<v1::LayerStats>> SimulateRows(const v1::RunSpec& run, int point,
                                                         const RunContext& context);

// The table of the first `count` samples (count ≤ table.samples).
SampleTable FirstSamples(const SampleTable& table, int count);

// One LayerStats per recorded layer, aggregated over non-diverged samples in sample order.
std::vector<v1::LayerStats> Aggregate(const SampleTable& table, const v1::RunSpec& run, int point);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_ENGINE_H_
