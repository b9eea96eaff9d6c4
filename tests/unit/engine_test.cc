// The parallel driver: results are byte-identical at any thread count (SPEC §7.4), cancellation
// stops a run, and aggregates agree with the per-sample table they come from.
#include "common/engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <set>
#include <utility>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

#include "common/finite/dense_sampler.h"
#include "common/model_plan.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "oneapi/tbb/task_arena.h"

namespace sigprop {
namespace {

v1::RunSpec SmallRun() {
  v1::RunSpec run;
  run.set_samples(24);
  run.set_seed(11);
  run.set_gradients(true);
  run.set_record_every(2);
  run.set_eigenvalues(true);
  run.set_mean_covariance(true);
  auto* model = run.mutable_model();
  model->set_tokens(4);
  model->set_width(16);
  model->set_depth(5);
  model->set_preset(v1::ModelSpec::PAPER_A_STANDARD);
  model->mutable_initial()->set_rho0(0.3);
  auto* h = run.add_histogram();
  h->set_statistic("rho_mean");
  h->set_bins(8);
  h->set_lo(-1);
  h->set_hi(1);
  return run;
}

std::string Serialise(const std::vector<v1::LayerStats>& layers) {
  std::string bytes;
  for (const auto& l : layers) {
    std::string one;
    google::protobuf::io::StringOutputStream stream(&one);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    l.SerializeToCodedStream(&coded);
    coded.Trim();
    bytes += one;
  }
  return bytes;
}

std::string RunWithThreads(const v1::RunSpec& run, int threads) {
  oneapi::tbb::task_arena arena(threads);
  RunContext context;
  context.arena = &arena;
  auto table = SimulateSamples(run, 3, context);
  EXPECT_TRUE(table.ok()) << table.status();
  return Serialise(Aggregate(*table, run, 3));
}

TEST(EngineTest, ByteIdenticalAtOneTwoAndFourThreads) {
  const v1::RunSpec run = SmallRun();
  const std::string one = RunWithThreads(run, 1);
  EXPECT_FALSE(one.empty());
  EXPECT_EQ(one, RunWithThreads(run, 2));
  EXPECT_EQ(one, RunWithThreads(run, 4));
}

// SmallRun has gradients, so the test above covers COLUMNS' implicit backward; the same for DENSE.
TEST(EngineTest, DenseGradientsByteIdenticalAtOneAndTwoThreads) {
  v1::RunSpec run = SmallRun();
  run.set_method(v1::RunSpec::DENSE);
  const std::string one = RunWithThreads(run, 1);
  EXPECT_FALSE(one.empty());
  EXPECT_EQ(one, RunWithThreads(run, 2));
}

TEST(EngineTest, PointIndexAndSeedChangeTheDraws) {
  const v1::RunSpec run = SmallRun();
  oneapi::tbb::task_arena arena(2);
  RunContext context;
  context.arena = &arena;
  auto a = SimulateSamples(run, 0, context);
  auto b = SimulateSamples(run, 1, context);
  ASSERT_TRUE(a.ok() && b.ok());
  const int slot = static_cast<int>(a->layers.size()) - 1;
  // Not v11: post-LayerNorm makes every diagonal entry 1.
  EXPECT_NE(a->At(slot, a->StatIndex("rho12"), 0), b->At(slot, b->StatIndex("rho12"), 0));
}

TEST(EngineTest, RecordsLayerZeroEveryKthAndTheLast) {
  auto table = SimulateSamples(SmallRun(), 0, RunContext{});
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->layers, (std::vector<int>{0, 2, 4, 5}));
}

// Keeps the last covariance a sample reports.
class LastCovariance final : public SampleObserver {
 public:
  void OnCovariance(int, const Matrix& v) override { last = v; }
  void OnGradients(int, const GradientNorms&) override {}
  void OnDiverged(int) override { ADD_FAILURE() << "diverged"; }
  bool WantsLayer(int) const override { return true; }
  bool Cancelled() const override { return false; }
  Matrix last;
};

// mean_covariance at the last layer is the mean over samples of V_d, computed here independently
// by running each sample's kernel alone (same coordinates), and its diagonal's mean is
// v_diag_mean's mean.
TEST(EngineTest, MeanCovarianceIsTheMeanOfTheSamplesCovariances) {
  v1::RunSpec run = SmallRun();
  run.set_gradients(false);
  run.set_method(v1::RunSpec::DENSE);
  auto table = SimulateSamples(run, 2, RunContext{});
  ASSERT_TRUE(table.ok());
  const auto layers = Aggregate(*table, run, 2);
  const v1::LayerStats& last = layers.back();
  ASSERT_EQ(last.layer(), run.model().depth());
  const ModelPlan plan = ResolveModel(run.model());
  const int m = plan.tokens;
  Matrix sum = Matrix::Zero(m, m);
  for (int s = 0; s < run.samples(); ++s) {
    LastCovariance observer;
    ASSERT_TRUE(SampleDense(plan, {run.seed(), 2, static_cast<uint32_t>(s)}, false, observer).ok());
    sum += observer.last;
  }
  const Matrix expected = sum / run.samples();
  ASSERT_EQ(last.mean_covariance_size(), m * m);
  double diagonal = 0.0;
  for (int i = 0; i < m; ++i) {
    diagonal += last.mean_covariance(i * m + i) / m;
    for (int j = 0; j < m; ++j) {
      EXPECT_NEAR(last.mean_covariance(i * m + j), expected(i, j), 1e-12) << i << "," << j;
    }
  }
  EXPECT_NEAR(diagonal, last.stats().at("v_diag_mean").mean(), 1e-12);
  EXPECT_GT((expected - plan.v0).norm(), 1e-3);  // Not the input: the check has something to see.
}

// E V leaves out the samples that diverged, as every statistic does: a ReLU MLP without a norm
// doubles V's diagonal each layer (about 54 at layer 6 here, spread 23–225), so a threshold of 60
// stops about half the paths. trace(E V)/m must then equal v_diag_mean's mean over the others
// (the same samples, rounding apart), which an E V divided by every sample would not.
TEST(EngineTest, MeanCovarianceLeavesOutDivergedSamples) {
  v1::RunSpec run;
  run.set_method(v1::RunSpec::DENSE);
  run.set_samples(40);
  run.set_seed(3);
  run.set_mean_covariance(true);
  run.set_divergence_threshold(60);
  auto* model = run.mutable_model();
  model->set_tokens(3);
  model->set_width(16);
  model->set_depth(6);
  model->mutable_attention()->set_kind(v1::AttentionSpec::NONE);
  model->mutable_mlp()->set_activation(v1::MlpSpec::RELU);
  model->mutable_initial()->set_rho0(0.3);
  auto table = SimulateSamples(run, 0, RunContext{});
  ASSERT_TRUE(table.ok()) << table.status();
  const v1::LayerStats last = Aggregate(*table, run, 0).back();
  ASSERT_GT(last.diverged_fraction(), 0.2);
  ASSERT_LT(last.diverged_fraction(), 0.8);
  double trace = 0.0;
  for (int i = 0; i < 3; ++i) trace += last.mean_covariance(i * 3 + i);
  EXPECT_NEAR(trace / 3, last.stats().at("v_diag_mean").mean(), 1e-9 * trace);
}

TEST(EngineTest, AggregatesMatchTheTable) {
  const v1::RunSpec run = SmallRun();
  auto table = SimulateSamples(run, 0, RunContext{});
  ASSERT_TRUE(table.ok());
  const auto layers = Aggregate(*table, run, 0);
  ASSERT_EQ(layers.size(), table->layers.size());
  const int slot = 2;
  const int stat = table->StatIndex("rho_mean");
  double sum = 0;
  for (int s = 0; s < table->samples; ++s) sum += table->At(slot, stat, s);
  const auto& summary = layers[slot].stats().at("rho_mean");
  EXPECT_DOUBLE_EQ(summary.mean(), sum / table->samples);
  EXPECT_EQ(summary.count(), table->samples);
  EXPECT_EQ(summary.histogram().counts_size(), 8);
  EXPECT_TRUE(summary.quantiles().contains("q50"));
  EXPECT_EQ(layers[slot].layer(), 4);
  EXPECT_DOUBLE_EQ(layers[slot].t(), 4.0 / 16);
  EXPECT_EQ(layers[slot].mean_covariance_size(), 16);
  EXPECT_EQ(layers[0].stats().count("grad_wq"), 0u);  // no weights at layer 0
  EXPECT_EQ(layers[0].stats().count("grad_floor_fraction"), 0u);
  EXPECT_EQ(layers[0].stats().count("attention_entropy"), 0u);  // no attention at layer 0
  EXPECT_EQ(layers[1].stats().count("attention_entropy"), 1u);
  EXPECT_EQ(layers[0].stats().count("grad_x"), 1u);  // the backward signal at the input
  EXPECT_EQ(layers[0].stats().at("grad_x").count(), table->samples);
  EXPECT_EQ(layers[1].stats().count("grad_wq"), 1u);
  EXPECT_EQ(layers[1].stats().count("eig_3"), 1u);
  EXPECT_EQ(layers[1].method(), v1::RunSpec::COLUMNS);  // gradients choose COLUMNS
}

TEST(EngineTest, CancellationStopsTheRun) {
  v1::RunSpec run = SmallRun();
  run.set_samples(200);
  std::atomic<int> polls{0};
  RunContext context;
  context.cancelled = [&polls] { return ++polls > 50; };
  auto table = SimulateSamples(run, 0, context);
  EXPECT_EQ(table.status().code(), absl::StatusCode::kCancelled);
  // Polled once per layer: cancellation took effect long before 200 samples × 5 layers.
  EXPECT_LT(polls.load(), 200);
}

TEST(EngineTest, DivergedSamplesAreCountedAndLeftOutOfSummaries) {
  v1::RunSpec run;
  run.set_samples(6);
  auto* model = run.mutable_model();
  model->set_tokens(3);
  model->set_width(8);
  model->set_depth(4);
  model->mutable_attention()->set_kind(v1::AttentionSpec::IDENTITY);
  model->mutable_attention()->set_branch_scale(1e4);
  model->mutable_attention()->set_skip_scale(1e4);
  model->mutable_mlp()->set_activation(v1::MlpSpec::NONE);
  auto table = SimulateSamples(run, 0, RunContext{});
  ASSERT_TRUE(table.ok()) << table.status();
  const auto layers = Aggregate(*table, run, 0);
  EXPECT_EQ(layers.front().diverged_fraction(), 0.0);
  EXPECT_EQ(layers.back().diverged_fraction(), 1.0);
  EXPECT_EQ(layers.back().stats().at("v11").count(), 0);
}

// RunSpec.divergence_threshold: under every method a sample diverges at the first layer whose
// max V_αα exceeds the threshold, and nothing before that layer changes. The reference is the same
// run at the default threshold, recorded at every layer with its covariances, which says where each
// sample first crosses; the shaped transformer at width 16 (τ0 = 0.5) wanders enough that some
// samples cross the threshold within 12 layers and some do not (both are required: the test has
// teeth).
TEST(EngineTest, DivergenceThresholdStopsEachSampleWhereItFirstCrosses) {
  // m = 9 takes the SDE's one-path scheme (more tokens than the batched kernel's lanes hold).
  // The threshold is where some of 37 samples cross and some do not.
  const struct {
    v1::RunSpec::Method method;
    int m;
    double threshold;
  } cases[] = {{v1::RunSpec::DENSE, 3, 1.5},
               {v1::RunSpec::COLUMNS, 3, 1.5},
               {v1::RunSpec::GRAM, 3, 1.5},
               {v1::RunSpec::SDE, 3, 1.5},
               {v1::RunSpec::SDE, 9, 3.0}};
  for (const auto& [method, m, threshold] : cases) {
    SCOPED_TRACE(absl::StrCat(v1::RunSpec::Method_Name(method), " m = ", m));
    v1::RunSpec run;
    run.set_method(method);
    run.set_samples(37);  // SDE: four batches of 8 lanes and one of 5.
    run.set_seed(5);
    run.set_mean_covariance(true);
    auto* model = run.mutable_model();
    model->set_preset(v1::ModelSpec::SHAPED_TRANSFORMER);
    model->set_tokens(m);
    model->set_width(16);
    model->set_depth(12);
    model->mutable_attention()->set_tau0(0.5);
    auto free = SimulateSamples(run, 0, RunContext{});
    run.set_divergence_threshold(threshold);
    auto stopped = SimulateSamples(run, 0, RunContext{});
    ASSERT_TRUE(free.ok() && stopped.ok());
    const int samples = run.samples(), stats = static_cast<int>(free->names.size());
    const int slots = static_cast<int>(free->layers.size());
    ASSERT_EQ(slots, 13);
    int crossed = 0;
    for (int s = 0; s < samples; ++s) {
      int first = slots;  // First slot past the threshold (or diverged anyway).
      for (int slot = 0; slot < slots && first == slots; ++slot) {
        const double* v = &free->covariances[(slot * samples + s) * m * m];
        double largest = v[0];
        for (int i = 1; i < m; ++i) largest = std::max(largest, v[i * m + i]);
        if (free->diverged[slot * samples + s] || largest > threshold) first = slot;
      }
      crossed += first < slots;
      for (int slot = 0; slot < slots; ++slot) {
        EXPECT_EQ(stopped->diverged[slot * samples + s], slot >= first)
            << "sample " << s << " slot " << slot << " (first crossing " << first << ")";
        for (int k = 0; k < stats; ++k) {
          const double a = free->At(slot, k, s), b = stopped->At(slot, k, s);
          if (slot >= first) {
            EXPECT_TRUE(std::isnan(b)) << free->names[k] << " recorded after the sample stopped";
          } else {
            EXPECT_TRUE(a == b || (std::isnan(a) && std::isnan(b))) << free->names[k];
          }
        }
      }
    }
    EXPECT_GT(crossed, 0);
    EXPECT_LT(crossed, samples);
  }
}

// Method LIMIT on width 8, λ = γ = 1, attention of `kind` and no MLP: a linear map of V.
v1::RunSpec LinearLimitRun(int tokens, int depth, v1::AttentionSpec::Kind kind) {
  v1::RunSpec run;
  run.set_method(v1::RunSpec::LIMIT);
  run.set_samples(1);
  auto* model = run.mutable_model();
  model->set_tokens(tokens);
  model->set_width(8);
  model->set_depth(depth);
  model->mutable_attention()->set_kind(kind);
  model->mutable_mlp()->set_activation(v1::MlpSpec::NONE);
  return run;
}

std::vector<v1::LayerStats> LimitLayers(const v1::RunSpec& run) {
  auto table = SimulateSamples(run, 0, RunContext{});
  EXPECT_TRUE(table.ok()) << table.status();
  if (!table.ok()) return {};
  return Aggregate(*table, run, 0);
}

// LIMIT's one trajectory stops at the threshold too: identity attention with λ = γ = 1 and no MLP
// doubles V each layer, so V_αα = 8 at layer 3 and 16 at layer 4 > 10.
TEST(EngineTest, DivergenceThresholdStopsTheLimitTrajectory) {
  v1::RunSpec run = LinearLimitRun(2, 6, v1::AttentionSpec::IDENTITY);
  run.set_divergence_threshold(10);
  const auto layers = LimitLayers(run);
  ASSERT_EQ(layers.size(), 7u);
  EXPECT_DOUBLE_EQ(layers[3].stats().at("v11").mean(), 8.0);
  EXPECT_EQ(layers[3].diverged_fraction(), 0.0);
  for (int l = 4; l <= 6; ++l) EXPECT_EQ(layers[l].diverged_fraction(), 1.0) << l;
}

TEST(EngineTest, LimitMethodRunsOneDeterministicTrajectory) {
  v1::RunSpec run = LinearLimitRun(3, 2, v1::AttentionSpec::UNIFORM);
  run.mutable_model()->mutable_initial()->set_rho0(0.5);
  const auto layers = LimitLayers(run);
  ASSERT_EQ(layers.size(), 3u);
  // λ = γ = 1, unit diagonal, ρ0 = ½: v̄ = (3 + 6·½)/9 = 2/3, so V_1 = V_0 + (2/3)11ᵀ.
  EXPECT_DOUBLE_EQ(layers[1].stats().at("v11").mean(), 1.0 + 2.0 / 3.0);
  EXPECT_EQ(layers[1].method(), v1::RunSpec::LIMIT);
}

// Method SDE in layer blocks (SimulateRows, ADR 0013): the rows are byte for byte those of the
// whole table, whatever the blocks and threads. The run's threshold makes some of the 37 samples
// (four batches of eight and one of five) diverge and some not, at layers spread over the run, so
// that paths which diverged in an earlier block must stay diverged in the later ones.
v1::RunSpec SdeBlocksRun() {
  v1::RunSpec run;
  run.set_method(v1::RunSpec::SDE);
  run.set_samples(37);
  run.set_seed(5);
  run.set_record_every(2);  // Layers 0, 2, …, 12, 13: the last block may be shorter.
  run.set_divergence_threshold(4.0);
  auto* model = run.mutable_model();
  model->set_preset(v1::ModelSpec::SHAPED_TRANSFORMER);
  model->set_tokens(5);
  model->set_width(16);
  model->set_depth(13);
  model->mutable_attention()->set_tau0(0.5);
  return run;
}

// "" where the rows are byte for byte the same, else the first that differs (compact: a failure
// should not print kilobytes of serialised protobuf).
std::string FirstDifference(const std::vector<v1::LayerStats>& a,
                            const std::vector<v1::LayerStats>& b) {
  if (a.size() != b.size()) return absl::StrCat(a.size(), " rows against ", b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (Serialise({a[i]}) != Serialise({b[i]})) {
      return absl::StrCat("row ", i, " (layer ", a[i].layer(), "): diverged fraction ",
                          a[i].diverged_fraction(), " against ", b[i].diverged_fraction());
    }
  }
  return "";
}

// SimulateRows with `bytes` of table a block on `threads` threads, and the layers a block it took.
struct BlockRun {
  int slots;
  absl::StatusOr<std::vector<v1::LayerStats>> rows;
};
BlockRun RunInBlocks(const v1::RunSpec& run, int point, size_t bytes, int threads) {
  oneapi::tbb::task_arena arena(threads);
  RunContext context;
  context.arena = &arena;
  context.layer_block_bytes = bytes;
  return {LayerBlockSlots(run, context), SimulateRows(run, point, context)};
}

TEST(EngineTest, SdeLayerBlocksGiveTheWholeTablesRows) {
  const v1::RunSpec run = SdeBlocksRun();
  auto table = SimulateSamples(run, 2, RunContext{});
  ASSERT_TRUE(table.ok()) << table.status();
  const std::vector<v1::LayerStats> whole = Aggregate(*table, run, 2);
  ASSERT_EQ(whole.size(), 8u);
  // The test's teeth: samples diverge at several layers, and some never do.
  std::vector<double> fractions;
  for (const auto& row : whole) fractions.push_back(row.diverged_fraction());
  EXPECT_EQ(fractions.front(), 0.0);
  EXPECT_LT(fractions.back(), 1.0);
  EXPECT_GE(std::set<double>(fractions.begin(), fractions.end()).size(), 6u) << "few divergences";

  const size_t slot_bytes = table->names.size() * run.samples() * sizeof(double);
  const struct {
    size_t bytes;
    int slots;
  } blocks[] = {{1, 1}, {slot_bytes, 1}, {3 * slot_bytes + 7, 3}, {7 * slot_bytes, 7},
                {8 * slot_bytes, 0}};
  for (const auto& [bytes, slots] : blocks) {
    for (int threads : {1, 2}) {
      SCOPED_TRACE(absl::StrCat(bytes, " bytes a block, ", threads, " threads"));
      const BlockRun blocked = RunInBlocks(run, 2, bytes, threads);
      EXPECT_EQ(blocked.slots, slots);
      ASSERT_TRUE(blocked.rows.ok()) << blocked.rows.status();
      EXPECT_EQ(FirstDifference(*blocked.rows, whole), "");
    }
  }
}

// The same over the run's other shapes: V reported whole (eigenvalues) with a histogram and other
// quantiles, one token and eight (the kernel's widest), several steps a layer with positivity STOP,
// layers recorded every third (blocks ending between steps), and a batch of one path.
TEST(EngineTest, SdeLayerBlocksGiveTheWholeTablesRowsForEveryShapeOfRun) {
  std::vector<std::pair<std::string, v1::RunSpec>> runs;
  v1::RunSpec run = SdeBlocksRun();
  run.set_eigenvalues(true);
  auto* h = run.add_histogram();
  h->set_statistic("rho_mean");
  h->set_bins(5);
  h->set_lo(-1);
  h->set_hi(1);
  run.add_quantiles(0.1);
  run.add_quantiles(0.9);
  runs.emplace_back("eigenvalues, histogram, quantiles", run);
  run = SdeBlocksRun();
  run.mutable_model()->set_tokens(8);
  run.mutable_sde()->set_steps_per_layer(3);
  run.mutable_sde()->set_positivity(v1::SdeOptions::STOP);
  run.set_record_every(3);
  runs.emplace_back("m = 8, three steps a layer, STOP, every third layer", run);
  run = SdeBlocksRun();
  run.mutable_model()->set_tokens(1);
  run.set_samples(9);
  runs.emplace_back("m = 1, a last batch of one path", run);
  for (const auto& [name, run] : runs) {
    SCOPED_TRACE(name);
    auto table = SimulateSamples(run, 1, RunContext{});
    ASSERT_TRUE(table.ok()) << table.status();
    const std::vector<v1::LayerStats> whole = Aggregate(*table, run, 1);
    const size_t slot_bytes = table->names.size() * run.samples() * sizeof(double);
    for (size_t bytes : {size_t{1}, 2 * slot_bytes}) {
      for (int threads : {1, 2}) {
        SCOPED_TRACE(absl::StrCat(bytes, " bytes a block, ", threads, " threads"));
        const BlockRun blocked = RunInBlocks(run, 1, bytes, threads);
        EXPECT_GT(blocked.slots, 0);
        ASSERT_TRUE(blocked.rows.ok()) << blocked.rows.status();
        EXPECT_EQ(FirstDifference(*blocked.rows, whole), "");
      }
    }
  }
}

// At most eight blocks, however small the budget. The runs that take the whole table: provisional
// rows (every layer of the first K samples), the mean covariance (V itself), more tokens than the
// batched kernel holds, and other methods.
TEST(EngineTest, SdeLayerBlocksOnlyWhereTheyKeepTheRunsMeaning) {
  RunContext small;
  small.layer_block_bytes = 1;
  v1::RunSpec run = SdeBlocksRun();
  EXPECT_EQ(LayerBlockSlots(run, small), 1);
  run.set_record_every(1);  // 14 layers, at most eight blocks: two layers a block.
  EXPECT_EQ(LayerBlockSlots(run, small), 2);
  run.set_record_every(2);
  RunContext provisional = small;
  provisional.provisional = [](std::vector<v1::LayerStats>) {};
  EXPECT_EQ(LayerBlockSlots(run, provisional), 1) << "this run has no provisional rows";
  run.set_provisional_every(8);
  EXPECT_EQ(LayerBlockSlots(run, provisional), 0);
  EXPECT_EQ(LayerBlockSlots(run, small), 1) << "provisional rows that no one receives";
  run = SdeBlocksRun();
  run.set_mean_covariance(true);
  EXPECT_EQ(LayerBlockSlots(run, small), 0);
  run = SdeBlocksRun();
  run.mutable_model()->set_tokens(9);
  EXPECT_EQ(LayerBlockSlots(run, small), 0);
  run = SdeBlocksRun();
  run.set_method(v1::RunSpec::GRAM);
  EXPECT_EQ(LayerBlockSlots(run, small), 0);
}

// Progress over the blocks: non-decreasing, about a hundred reports at most, ending at all samples
// done; and a cancelled run stops with CANCELLED in whichever block it is.
TEST(EngineTest, SdeLayerBlocksReportProgressAndStopWhenCancelled) {
  v1::RunSpec run = SdeBlocksRun();
  run.set_samples(400);
  RunContext context;
  context.layer_block_bytes = 1;
  std::vector<std::pair<int, int>> reports;
  context.progress = [&](int done, int total) { reports.emplace_back(done, total); };
  ASSERT_TRUE(SimulateRows(run, 0, context).ok());
  ASSERT_FALSE(reports.empty());
  EXPECT_LE(reports.size(), 101u);
  EXPECT_GE(reports.size(), 8u);  // Reports within blocks, not one a block.
  for (size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i].second, 400);
    if (i > 0) EXPECT_GE(reports[i].first, reports[i - 1].first);
  }
  EXPECT_EQ(reports.back().first, 400);

  std::atomic<int> polls{0};
  context.progress = nullptr;
  context.cancelled = [&polls] { return ++polls > 120; };
  EXPECT_EQ(SimulateRows(run, 0, context).status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(polls.load(), 400);
}

}  // namespace
}  // namespace sigprop
