#include "common/engine.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/cost_model.h"
#include "common/finite/columns_sampler.h"
#include "common/finite/dense_sampler.h"
#include "common/finite/gram_sampler.h"
#include "common/finite/implicit_sampler.h"
#include "common/finite/sample_observer.h"
#include "common/limit/limit_map.h"
#include "common/model_plan.h"
#include "common/sde/sde_sampler.h"
#include "common/stats/covariance_stats.h"
#include "common/stats/summary.h"
#include "oneapi/tbb/blocked_range.h"
#include "oneapi/tbb/enumerable_thread_specific.h"
#include "oneapi/tbb/parallel_for.h"
#include "oneapi/tbb/partitioner.h"
#include "oneapi/tbb/task_group.h"

namespace sigprop {
namespace {

using v1::RunSpec;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<int> RecordedLayers(int depth, int record_every) {
  const int every = record_every > 0 ? record_every : 1;
  std::vector<int> layers;
  for (int l = 0; l <= depth; l += every) layers.push_back(l);
  if (layers.back() != depth) layers.push_back(depth);
  return layers;
}

// slot_of_layer[ℓ]: layer ℓ's slot among the table's `layers`, −1 where it is not recorded there.
std::vector<int> SlotOfLayer(int depth, const std::vector<int>& layers) {
  std::vector<int> slot_of_layer(depth + 1, -1);
  for (size_t i = 0; i < layers.size(); ++i) slot_of_layer[layers[i]] = static_cast<int>(i);
  return slot_of_layer;
}

// Writes one sample's column of the table; samples touch disjoint entries, so no locking.
class TableObserver final : public SampleObserver {
 public:
  TableObserver(SampleTable* table, const std::vector<int>& slot_of_layer,
                const CovarianceStatOptions& options, int covariance_stats, int sample,
                const std::function<bool()>* cancelled, double divergence_threshold)
      : table_(table),
        slot_of_layer_(slot_of_layer),
        options_(options),
        covariance_stats_(covariance_stats),
        sample_(sample),
        cancelled_(cancelled),
        repairs_stat_(table->StatIndex(kRootRepairsStatName)),
        attention_stat_(table->StatIndex(kAttentionStatNames[0])),
        divergence_threshold_(divergence_threshold),
        buffer_(covariance_stats) {}

  void OnCovariance(int layer, const Matrix& v) override {
    if (slot_of_layer_[layer] < 0) return;
    ComputeCovarianceStats(v, options_, buffer_.data());
    Record(layer, v, buffer_.data());
  }

  // Where the run averages V (mean_covariance) the table needs V itself.
  bool TakesDefaultCovarianceStats() const override {
    return !options_.eigenvalues && table_->covariances.empty();
  }

  // Every layer of every sample of an SDE run recording all layers comes here (issue 18): the
  // column's first entry once, then a stride, rather than Set's index arithmetic per statistic.
  void OnCovarianceStats(int layer, const double* stats) override {
    const int slot = slot_of_layer_[layer];
    if (slot < 0) return;
    const size_t stride = static_cast<size_t>(table_->samples);
    double* out = table_->Samples(slot, 0) + sample_;
    for (int k = 0; k < covariance_stats_; ++k) out[k * stride] = stats[k];
  }

  void OnGradients(int layer, const GradientNorms& g) override {
    const int slot = slot_of_layer_[layer];
    if (slot < 0) return;
    const double values[kGradientStats] = {g.wq, g.wk, g.wv, g.w1, g.w2, g.x,
                                           g.below_floor ? 1.0 : 0.0};
    for (int k = 0; k < kGradientStats; ++k) Set(slot, covariance_stats_ + k, values[k]);
  }

  void OnDiverged(int layer) override {
    const int stats = static_cast<int>(table_->names.size());
    for (size_t slot = 0; slot < table_->layers.size(); ++slot) {
      if (table_->layers[slot] < layer) continue;
      table_->diverged[slot * table_->samples + sample_] = 1;
      for (int k = 0; k < stats; ++k) Set(static_cast<int>(slot), k, kNaN);
    }
  }

  void OnAttention(int layer, const AttentionStats& a) override {
    const int slot = slot_of_layer_[layer];
    if (slot < 0 || attention_stat_ < 0) return;
    const double values[kAttentionStats] = {a.entropy, a.max_logit, a.gap};
    for (int k = 0; k < kAttentionStats; ++k) Set(slot, attention_stat_ + k, values[k]);
  }

  void OnRootRepairs(int layer, int clamped) override {
    const int slot = slot_of_layer_[layer];
    if (slot < 0 || repairs_stat_ < 0) return;
    Set(slot, repairs_stat_, clamped);
  }

  bool WantsLayer(int layer) const override { return slot_of_layer_[layer] >= 0; }

  bool Cancelled() const override { return *cancelled_ && (*cancelled_)(); }

  double DivergenceThreshold() const override { return divergence_threshold_; }

 private:
  // Layer ℓ's covariance statistics (and V itself where the run averages it).
  void Record(int layer, const Matrix& v, const double* stats) {
    const int slot = slot_of_layer_[layer];
    for (int k = 0; k < covariance_stats_; ++k) Set(slot, k, stats[k]);
    if (!table_->covariances.empty()) {
      const size_t mm = static_cast<size_t>(table_->tokens) * table_->tokens;
      double* out = &table_->covariances[(static_cast<size_t>(slot) * table_->samples + sample_) * mm];
      for (size_t i = 0; i < mm; ++i) out[i] = v.data()[i];
    }
  }

  void Set(int slot, int stat, double x) { table_->Samples(slot, stat)[sample_] = x; }

  SampleTable* table_;
  const std::vector<int>& slot_of_layer_;
  const CovarianceStatOptions& options_;
  int covariance_stats_;
  int sample_;
  const std::function<bool()>* cancelled_;
  int repairs_stat_;
  int attention_stat_;
  double divergence_threshold_;
  std::vector<double> buffer_;
};

// The observers of an SDE batch's paths first, …, first + count − 1 (count ≤ SdeSampler::kMaxBatch),
// as SdeSampler takes them: an array of pointers. Not copyable: the pointers point into it.
class BatchObservers {
 public:
  BatchObservers(SampleTable* table, const std::vector<int>& slot_of_layer,
                 const CovarianceStatOptions& options, int covariance_stats, int first, int count,
                 const std::function<bool()>* cancelled, double threshold) {
    observers_.reserve(count);
    for (int p = 0; p < count; ++p) {
      observers_.emplace_back(table, slot_of_layer, options, covariance_stats, first + p,
                              cancelled, threshold);
      pointers_[p] = &observers_.back();
    }
  }
  BatchObservers(const BatchObservers&) = delete;
  BatchObservers& operator=(const BatchObservers&) = delete;

  SampleObserver* const* pointers() const { return pointers_.data(); }

 private:
  std::vector<TableObserver> observers_;
  std::array<SampleObserver*, SdeSampler::kMaxBatch> pointers_{};
};

// Runs `kernel(first, count)` on the arena for the samples in batches of `batch` (the last one
// shorter); the first failure (lowest sample index) wins, so the error too is independent of
// scheduling.
// Samples [begin, end) of `samples`: the progress reports count the earlier ones as done.
absl::Status ForEachSample(int begin, int end, int samples, int batch, const RunContext& context,
                           const std::function<absl::Status(int, int)>& kernel) {
  std::mutex mutex;
  absl::Status first_error;
  int first_failed = samples;
  std::atomic<int> done{begin};
  int reported = begin;
  oneapi::tbb::task_group_context group;
  auto body = [&](const oneapi::tbb::blocked_range<int>& range) {
    for (int b = range.begin(); b != range.end(); ++b) {
      const int s = begin + b * batch;
      const int count = std::min(batch, end - s);
      auto which = [&] {
        return count == 1 ? absl::StrCat("sample ", s)
                          : absl::StrCat("samples ", s, "-", s + count - 1);
      };
      absl::Status status;
      try {
        status = kernel(s, count);
      } catch (const std::bad_alloc&) {
        status = absl::ResourceExhaustedError(absl::StrCat(which(), ": out of memory"));
      } catch (const std::exception& e) {
        status = absl::InternalError(absl::StrCat(which(), ": ", e.what()));
      }
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(mutex);
        if (s < first_failed) {
          first_failed = s;
          first_error = status;
        }
        group.cancel_group_execution();
        return;
      }
      const int now = done.fetch_add(count) + count;
      if (context.progress) {
        std::lock_guard<std::mutex> lock(mutex);
        // About a hundred reports a point, and always the last one.
        if (now == samples || now - reported >= std::max(1, samples / 100)) {
          reported = now;
          context.progress(now, samples);
        }
      }
    }
  };
  auto run = [&] {
    const int batches = (end - begin + batch - 1) / batch;
    oneapi::tbb::parallel_for(oneapi::tbb::blocked_range<int>(0, batches, 1), body,
                              oneapi::tbb::simple_partitioner(), group);
  };
  if (context.arena != nullptr) {
    context.arena->execute(run);
  } else {
    run();
  }
  if (!first_error.ok()) return first_error;
  if (context.cancelled && context.cancelled()) return absl::CancelledError("run cancelled");
  return absl::OkStatus();
}

// The statistics a run records, covariance statistics first (SampleTable::names).
std::vector<std::string> StatNames(const RunSpec& run, const ModelPlan& plan, RunSpec::Method method,
                                   const CovarianceStatOptions& options) {
  std::vector<std::string> names = CovarianceStatNames(plan.tokens, options);
  if (run.gradients()) {
    for (const char* name : kGradientStatNames) names.push_back(name);
  }
  if (method == RunSpec::COLUMNS || method == RunSpec::GRAM) names.push_back(kRootRepairsStatName);
  if (HasAttentionStats(method, plan)) {
    for (const char* name : kAttentionStatNames) names.push_back(name);
  }
  return names;
}

// The table of `layers` (all the recorded ones, or one layer block's), every entry NaN.
SampleTable MakeTable(const RunSpec& run, const ModelPlan& plan, RunSpec::Method method,
                      int samples, const CovarianceStatOptions& options, std::vector<int> layers) {
  SampleTable table;
  table.method = method;
  table.approximate = method == RunSpec::GRAM && plan.mlp.enabled() && plan.mlp.kernel_sampling;
  table.tokens = plan.tokens;
  table.samples = samples;
  table.layers = std::move(layers);
  table.names = StatNames(run, plan, method, options);
  const size_t entries = table.layers.size() * table.names.size() * samples;
  table.values.assign(entries, kNaN);
  table.diverged.assign(table.layers.size() * samples, 0);
  if (run.mean_covariance()) {
    table.covariances.assign(
        table.layers.size() * samples * static_cast<size_t>(plan.tokens) * plan.tokens, kNaN);
  }
  return table;
}

constexpr size_t kMaxLayerBlocks = 8;

int LayerBlockSlots(const RunSpec& run, const ModelPlan& plan, const RunContext& context) {
  if (ChooseMethod(run) != RunSpec::SDE || !BatchedEulerMaruyama::Supports(plan.tokens) ||
      run.mean_covariance()) {
    return 0;
  }
  const int every = ProvisionalEvery(run);
  if (every > 0 && every < run.samples() && context.provisional) return 0;
  CovarianceStatOptions options;
  options.eigenvalues = run.eigenvalues();
  const size_t slot_bytes =
      StatNames(run, plan, RunSpec::SDE, options).size() * run.samples() * sizeof(double);
  const size_t slots = RecordedLayers(plan.depth, run.record_every()).size();
  if (slot_bytes == 0 || slots * slot_bytes <= context.layer_block_bytes) return 0;
  // At most kMaxLayerBlocks blocks: each block reloads every batch's state (~1 KB a path), which
  // cost 9 % more user time at 52 blocks of 20,000 paths and none at 8 (bench/RESULTS.md).
  const size_t fewest = (slots + kMaxLayerBlocks - 1) / kMaxLayerBlocks;
  return static_cast<int>(std::max({size_t{1}, context.layer_block_bytes / slot_bytes, fewest}));
}

// Method SDE in layer blocks (ADR 0013): every batch of paths advances through the block's
// recorded layers, the block's rows are aggregated, and its table is reused for the next block, so
// that a run recording many layers never holds the whole [slot][statistic][sample] table (37 MB for
// 257 layers × 9 statistics × 2000 samples, memory the kernel must clear on first touch). Between
// blocks a batch keeps only its kernel's state (~8 KB for eight paths). Aggregate is per slot, so
// the rows are byte for byte those of the whole table.
absl::StatusOr<std::vector<v1::LayerStats>> SimulateSdeInLayerBlocks(const RunSpec& run, int point,
                                                                      const RunContext& context,
                                                                      const ModelPlan& plan,
                                                                      int slots_per_block) {
  auto sampler = SdeSampler::Create(plan, run.sde());
  if (!sampler.ok()) return sampler.status();
  const SdeSampler& sde = *sampler;
  CovarianceStatOptions options;
  options.eigenvalues = run.eigenvalues();
  const double threshold = DivergenceThreshold(run);
  const int samples = run.samples();
  const int batch = SdeSampler::kMaxBatch;
  const std::vector<int> recorded = RecordedLayers(plan.depth, run.record_every());
  const int blocks = (static_cast<int>(recorded.size()) + slots_per_block - 1) / slots_per_block;
  const int covariance_stats = static_cast<int>(CovarianceStatNames(plan.tokens, options).size());
  const SampleCoordinates base{run.seed(), static_cast<uint32_t>(point), 0};
  // Batch b (samples b·batch, …): its kernel's state and the layer it reached, from block to block.
  std::vector<std::optional<SdeSampler::Batch>> batches((samples + batch - 1) / batch);
  SampleTable table = MakeTable(run, plan, RunSpec::SDE, samples, options, {});
  std::vector<v1::LayerStats> rows;
  rows.reserve(recorded.size());
  // About a hundred progress reports a point over all blocks, in samples' worth of work: the
  // layers stepped so far over all the layers, times the samples.
  const int64_t depth = std::max(plan.depth, 1);
  int reported = 0;
  for (int block = 0; block < blocks; ++block) {
    const auto from = recorded.begin() + static_cast<ptrdiff_t>(block) * slots_per_block;
    const auto to = block + 1 == blocks ? recorded.end() : from + slots_per_block;
    table.layers.assign(from, to);
    const size_t slots = table.layers.size();
    const std::vector<int> slot_of_layer = SlotOfLayer(plan.depth, table.layers);
    table.values.assign(slots * table.names.size() * samples, kNaN);
    table.diverged.assign(slots * samples, 0);
    // A path that diverged in an earlier block is diverged at every layer of this one.
    for (size_t b = 0; b < batches.size(); ++b) {
      if (!batches[b]) continue;
      const int first = static_cast<int>(b) * batch, count = std::min(batch, samples - first);
      for (int p = 0; p < count; ++p) {
        if (batches[b]->kernel.live(p)) continue;
        for (size_t slot = 0; slot < slots; ++slot) table.diverged[slot * samples + first + p] = 1;
      }
    }
    RunContext block_context = context;
    block_context.provisional = nullptr;
    // Layers this block steps: those after the last block's last layer, up to its own last.
    const int64_t stepped_before = block == 0 ? 0 : *(from - 1);
    const int64_t stepped_here = table.layers.back() - stepped_before;
    if (context.progress) {
      block_context.progress = [&](int done, int total) {
        const int work =
            static_cast<int>((stepped_before * total + stepped_here * done) / depth);
        if (work == total || work - reported >= std::max(1, total / 100)) {
          reported = work;
          context.progress(work, total);
        }
      };
    }
    auto kernel = [&](int first, int count) -> absl::Status {
      SampleCoordinates at = base;
      at.sample = static_cast<uint32_t>(first);
      BatchObservers observers(&table, slot_of_layer, options, covariance_stats, first, count,
                               &context.cancelled, threshold);
      std::optional<SdeSampler::Batch>& state = batches[first / batch];
      if (!state) state.emplace(sde.StartBatch(observers.pointers(), count));
      return sde.AdvanceBatch(at, observers.pointers(), count, table.layers.back(), &*state);
    };
    if (auto status = ForEachSample(0, samples, samples, batch, block_context, kernel);
        !status.ok()) {
      return status;
    }
    for (v1::LayerStats& row : Aggregate(table, run, point)) rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

bool HasAttentionStats(RunSpec::Method method, const ModelPlan& plan) {
  return plan.attention.enabled() &&
         (method == RunSpec::DENSE || method == RunSpec::COLUMNS || method == RunSpec::GRAM);
}

RunSpec::Method ChooseMethod(const RunSpec& run) {
  if (run.method() != RunSpec::METHOD_UNSPECIFIED) return run.method();
  // Gradients: the implicit-weight backward pass (SPEC §4a), exact and O(m² n) a layer; DENSE is
  // the reference, chosen explicitly.
  if (run.gradients()) return RunSpec::COLUMNS;
  // GRAM where it represents the model (its one approximation, KERNEL MLP sampling, is opt-in),
  // else COLUMNS, which is exact for every block.
  return GramSupports(ResolveModel(run.model())).ok() ? RunSpec::GRAM : RunSpec::COLUMNS;
}

int SampleTable::StatIndex(const std::string& name) const {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<int> SampleTable::LiveSamples(int slot) const {
  std::vector<int> live;
  live.reserve(samples);
  for (int s = 0; s < samples; ++s) {
    if (!diverged[static_cast<size_t>(slot) * samples + s]) live.push_back(s);
  }
  return live;
}

std::vector<double> SampleTable::Column(int slot, int stat) const {
  std::vector<double> column;
  for (int s : LiveSamples(slot)) column.push_back(At(slot, stat, s));
  return column;
}

double DivergenceThreshold(const RunSpec& run) {
  return run.divergence_threshold() > 0 ? run.divergence_threshold()
                                        : SampleObserver::kDefaultDivergenceThreshold;
}

SampleTable FirstSamples(const SampleTable& table, int count) {
  SampleTable first;
  first.method = table.method;
  first.approximate = table.approximate;
  first.tokens = table.tokens;
  first.samples = count;
  first.layers = table.layers;
  first.names = table.names;
  const size_t slots = table.layers.size(), stats = table.names.size();
  const size_t mm = static_cast<size_t>(table.tokens) * table.tokens;
  first.values.reserve(slots * stats * count);
  for (size_t slot = 0; slot < slots; ++slot) {
    for (size_t k = 0; k < stats; ++k) {
      const double* from = table.Samples(static_cast<int>(slot), static_cast<int>(k));
      first.values.insert(first.values.end(), from, from + count);
    }
  }
  for (size_t slot = 0; slot < slots; ++slot) {
    const auto from = table.diverged.begin() + static_cast<ptrdiff_t>(slot * table.samples);
    first.diverged.insert(first.diverged.end(), from, from + count);
    if (!table.covariances.empty()) {
      const auto cov = table.covariances.begin() + static_cast<ptrdiff_t>(slot * table.samples * mm);
      first.covariances.insert(first.covariances.end(), cov, cov + static_cast<ptrdiff_t>(count * mm));
    }
  }
  return first;
}

absl::StatusOr<SampleTable> SimulateSamples(const RunSpec& run, int point,
                                            const RunContext& context) {
  const ModelPlan plan = ResolveModel(run.model());
  const RunSpec::Method method = ChooseMethod(run);
  CovarianceStatOptions options;
  options.eigenvalues = run.eigenvalues();
  const double threshold = DivergenceThreshold(run);

  if (method == RunSpec::LIMIT) {
    auto trajectory = LimitTrajectory(plan);
    if (!trajectory.ok()) return trajectory.status();
    SampleTable table =
        MakeTable(run, plan, method, 1, options, RecordedLayers(plan.depth, run.record_every()));
    const std::vector<int> slot_of_layer = SlotOfLayer(plan.depth, table.layers);
    const std::function<bool()> never;
    TableObserver observer(&table, slot_of_layer, options,
                           static_cast<int>(CovarianceStatNames(plan.tokens, options).size()), 0,
                           &never, threshold);
    for (int l = 0; l <= plan.depth; ++l) {
      if (IsDiverged((*trajectory)[l], threshold)) {
        observer.OnDiverged(l);
        break;
      }
      observer.OnCovariance(l, (*trajectory)[l]);
    }
    return table;
  }
  std::optional<SdeSampler> sde;
  if (method == RunSpec::SDE) {
    auto sampler = SdeSampler::Create(plan, run.sde());
    if (!sampler.ok()) return sampler.status();
    sde.emplace(*std::move(sampler));
  } else if (method != RunSpec::DENSE && method != RunSpec::COLUMNS && method != RunSpec::GRAM) {
    return absl::UnimplementedError(absl::StrCat(
        "method: ", RunSpec::Method_Name(method), " is not available in this build"));
  }

  const int samples = run.samples();
  SampleTable table = MakeTable(run, plan, method, samples, options,
                                RecordedLayers(plan.depth, run.record_every()));
  const std::vector<int> slot_of_layer = SlotOfLayer(plan.depth, table.layers);
  const int covariance_stats = static_cast<int>(CovarianceStatNames(plan.tokens, options).size());
  const SampleCoordinates base{run.seed(), static_cast<uint32_t>(point), 0};
  // Method SDE advances SdeSampler::kMaxBatch paths together; the others one sample at a time.
  const int batch = method == RunSpec::SDE ? SdeSampler::kMaxBatch : 1;
  // DENSE's per-layer buffers, one set per worker thread for this run (DenseWorkspace).
  oneapi::tbb::enumerable_thread_specific<DenseWorkspace> dense_space;
  auto kernel = [&](int first, int count) -> absl::Status {
    SampleCoordinates at = base;
    at.sample = static_cast<uint32_t>(first);
    if (method == RunSpec::SDE) {
      BatchObservers observers(&table, slot_of_layer, options, covariance_stats, first, count,
                               &context.cancelled, threshold);
      return sde->SampleBatch(at, observers.pointers(), count);
    }
    TableObserver observer(&table, slot_of_layer, options, covariance_stats, first,
                           &context.cancelled, threshold);
    switch (method) {
      case RunSpec::COLUMNS:
        return run.gradients() ? SampleColumnsWithGradients(plan, at, observer)
                               : SampleColumns(plan, at, observer);
      case RunSpec::GRAM: return SampleGram(plan, at, observer);
      default: return SampleDense(plan, at, run.gradients(), observer, &dense_space.local());
    }
  };
  // Chunks of `every` samples (whole SDE batches, so that the batches are those of one pass), each
  // followed by the provisional rows over the samples done so far; the samples and their order in
  // the table do not depend on the chunking, so neither do the final rows.
  int every = ProvisionalEvery(run);
  if (every <= 0 || every >= samples || !context.provisional) every = samples;
  every = (every + batch - 1) / batch * batch;
  for (int begin = 0; begin < samples; begin += every) {
    const int end = std::min(samples, begin + every);
    if (auto status = ForEachSample(begin, end, samples, batch, context, kernel); !status.ok()) {
      return status;
    }
    if (end < samples) {
      std::vector<v1::LayerStats> rows = Aggregate(FirstSamples(table, end), run, point);
      for (v1::LayerStats& row : rows) row.set_provisional(true);
      context.provisional(std::move(rows));
    }
  }
  return table;
}

std::vector<v1::LayerStats> Aggregate(const SampleTable& table, const RunSpec& run, int point) {
  static const std::vector<double> kDefaultQuantiles = {0.05, 0.25, 0.5, 0.75, 0.95};
  const std::vector<double> quantiles =
      run.quantiles_size() > 0 ? std::vector<double>(run.quantiles().begin(), run.quantiles().end())
                               : kDefaultQuantiles;
  const ModelPlan plan = ResolveModel(run.model());
  const size_t mm = static_cast<size_t>(table.tokens) * table.tokens;
  std::vector<v1::LayerStats> out;
  out.reserve(table.layers.size());
  ColumnSummarizer summarizer(quantiles);
  // One layer's statistics: their columns (the table's own rows where no sample diverged there,
  // else copies of the undiverged samples), histograms and summaries, reused from layer to layer.
  std::vector<std::vector<double>> copies(table.names.size());
  std::vector<const double*> columns;
  std::vector<const v1::HistogramSpec*> histograms;
  std::vector<size_t> summarized;
  std::vector<v1::Summary> summaries;
  for (size_t slot = 0; slot < table.layers.size(); ++slot) {
    v1::LayerStats stats;
    stats.set_point(point);
    stats.set_layer(table.layers[slot]);
    stats.set_t(static_cast<double>(table.layers[slot]) / plan.width);
    stats.set_samples(table.samples);
    stats.set_method(table.method);
    stats.set_approximate(table.approximate);
    // The samples alive here, in order, once for all of the layer's columns.
    const std::vector<int> kept = table.LiveSamples(static_cast<int>(slot));
    const int diverged = table.samples - static_cast<int>(kept.size());
    stats.set_diverged_fraction(static_cast<double>(diverged) / table.samples);
    columns.clear();
    histograms.clear();
    summarized.clear();
    for (size_t k = 0; k < table.names.size(); ++k) {
      // Layer 0 has no weights and no attention, only the input and the backward signal there.
      const bool weight_gradient =
          table.names[k].rfind("grad_", 0) == 0 && table.names[k] != "grad_x";
      const bool attention = table.names[k].rfind("attention_", 0) == 0;
      if ((weight_gradient || attention) && table.layers[slot] == 0) continue;
      const v1::HistogramSpec* histogram = nullptr;
      for (const auto& h : run.histogram()) {
        if (h.statistic() == table.names[k]) histogram = &h;
      }
      const double* row = table.Samples(static_cast<int>(slot), static_cast<int>(k));
      if (diverged == 0) {
        columns.push_back(row);
      } else {
        copies[k].resize(kept.size());
        for (size_t j = 0; j < kept.size(); ++j) copies[k][j] = row[kept[j]];
        columns.push_back(copies[k].data());
      }
      histograms.push_back(histogram);
      summarized.push_back(k);
    }
    summarizer.Summarize(columns, static_cast<size_t>(table.samples - diverged), histograms,
                         &summaries);
    for (size_t i = 0; i < summarized.size(); ++i) {
      (*stats.mutable_stats())[table.names[summarized[i]]] = std::move(summaries[i]);
    }
    if (!table.covariances.empty()) {
      std::vector<double> mean(mm, 0.0);
      int count = 0;
      for (int s = 0; s < table.samples; ++s) {
        if (table.diverged[slot * table.samples + s]) continue;
        const double* v = &table.covariances[(slot * table.samples + s) * mm];
        for (size_t i = 0; i < mm; ++i) mean[i] += v[i];
        ++count;
      }
      for (double x : mean) stats.add_mean_covariance(count > 0 ? x / count : kNaN);
    }
    out.push_back(std::move(stats));
  }
  return out;
}

int LayerBlockSlots(const RunSpec& run, const RunContext& context) {
  return LayerBlockSlots(run, ResolveModel(run.model()), context);
}

absl::StatusOr<std::vector<v1::LayerStats>> SimulateRows(const RunSpec& run, int point,
                                                         const RunContext& context) {
  const ModelPlan plan = ResolveModel(run.model());
  if (const int slots = LayerBlockSlots(run, plan, context); slots > 0) {
    return SimulateSdeInLayerBlocks(run, point, context, plan, slots);
  }
  auto table = SimulateSamples(run, point, context);
  if (!table.ok()) return table.status();
  return Aggregate(*table, run, point);
}

}  // namespace sigprop
