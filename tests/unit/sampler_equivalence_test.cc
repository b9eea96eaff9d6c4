// SPEC §7.2: the COLUMNS and GRAM samplers have the law of the DENSE reference. Two-sample
// Kolmogorov–Smirnov tests on V₁₁, ρ₁₂ and V₂₃ at the last layer, 2000 samples per method, for
// every block combination (softmax / uniform / shaped attention × no / ReLU / shaped-ReLU MLP ×
// no norm / pre-RMSNorm), plus multi-head, causal and LayerNorm variants.
//
// Threshold: a pair of methods fails when p < 1e-3 (SPEC §7.2). The suite runs 18 × 3 × 2 = 108
// tests in the block grid and 45 more in the variants; under H0 each has false-alarm rate 1e-3, so
// a fresh seed would trip the family with probability at most 1 − (1 − 1e-3)^153 ≈ 14% (the tests
// share the DENSE samples, so somewhat less). A Bonferroni threshold for a 1% family rate would be
// 6.5e-5; the SPEC's 1e-3 is kept because the negative controls must be rejected at the same
// threshold and sample size, which a smaller one would make weaker. The seeds are fixed, so the
// outcome is deterministic: a failure is reproducible, and a pass does not flicker.
//
// Power: the negative control runs GRAM with the attention γ off by 10% (λ re-solved from
// λ² + γ² = 1, so the mean diagonal is still preserved and only the shape of the law changes) and
// requires that the same test at the same sample size rejects it (some p < 1e-3).
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/engine.h"
#include "common/stats/distance.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {
namespace {

using v1::AttentionSpec;
using v1::MlpSpec;
using v1::ModelSpec;
using v1::RunSpec;

constexpr double kThreshold = 1e-3;
constexpr int kSamples = 2000;
const char* const kStatistics[] = {"v11", "rho12", "v23"};

struct Block {
  AttentionSpec::Kind attention;
  MlpSpec::Activation mlp;
  ModelSpec::Norm norm;
};

RunSpec BaseRun(const Block& b) {
  RunSpec run;
  run.set_samples(kSamples);
  run.set_seed(20260);
  ModelSpec* model = run.mutable_model();
  model->set_tokens(4);
  model->set_width(32);
  model->set_depth(16);
  model->set_residual(ModelSpec::UNIT_SUM);
  model->set_norm(b.norm);
  model->mutable_initial()->set_rho0(0.3);
  model->mutable_attention()->set_kind(b.attention);
  model->mutable_attention()->set_tau0(b.attention == AttentionSpec::SHAPED ? 0.1 : 1.0);
  model->mutable_mlp()->set_activation(b.mlp);
  model->mutable_mlp()->set_c_minus(-2.0);
  return run;
}

// Last-layer columns of the three statistics.
std::vector<std::vector<double>> LastLayer(const RunSpec& run, RunSpec::Method method,
                                           uint64_t seed) {
  RunSpec r = run;
  r.set_method(method);
  r.set_seed(seed);
  r.set_record_every(r.model().depth());
  auto table = SimulateSamples(r, 0, RunContext{});
  EXPECT_TRUE(table.ok()) << table.status();
  std::vector<std::vector<double>> out;
  if (!table.ok()) return out;
  EXPECT_EQ(table->method, method);
  const int slot = static_cast<int>(table->layers.size()) - 1;
  for (const char* name : kStatistics) {
    out.push_back(table->Column(slot, table->StatIndex(name)));
    EXPECT_GT(out.back().size(), kSamples * 0.99) << name << " lost samples to divergence";
  }
  return out;
}

// Smallest KS p-value over the three statistics, with a description of each.
double MinP(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b,
            std::string* report) {
  double min_p = 1.0;
  for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
    const KsResult ks = KolmogorovSmirnov(a[k], b[k]);
    absl::StrAppend(report, kStatistics[k], ": D=", ks.statistic, " p=", ks.p_value, "; ");
    min_p = std::min(min_p, ks.p_value);
  }
  return min_p;
}

void ExpectSameLaw(const RunSpec& run, const std::vector<RunSpec::Method>& methods) {
  auto dense = LastLayer(run, RunSpec::DENSE, run.seed());
  const bool post_norm = run.model().norm() == ModelSpec::POST_RMS ||
                         run.model().norm() == ModelSpec::POST_LAYER;
  for (RunSpec::Method method : methods) {
    // An independent seed: the samplers use their streams differently anyway.
    auto other = LastLayer(run, method, run.seed() + 1000 + method);
    if (post_norm && !other.empty() && !dense.empty()) {
      // V₁₁ ≡ 1 after a post-norm; KS would compare rounding noise. Check the identity instead.
      for (double v11 : other[0]) ASSERT_NEAR(v11, 1.0, 1e-12);
      other[0] = dense[0];
    }
    std::string report;
    const double p = MinP(dense, other, &report);
    EXPECT_GT(p, kThreshold) << "DENSE vs " << RunSpec::Method_Name(method) << ": " << report;
    ::testing::Test::RecordProperty(RunSpec::Method_Name(method), report);
  }
}

class BlockGridTest : public ::testing::TestWithParam<Block> {};

TEST_P(BlockGridTest, ColumnsAndGramMatchDense) {
  ExpectSameLaw(BaseRun(GetParam()), {RunSpec::COLUMNS, RunSpec::GRAM});
}

std::vector<Block> Grid() {
  std::vector<Block> grid;
  for (auto a : {AttentionSpec::SOFTMAX, AttentionSpec::UNIFORM, AttentionSpec::SHAPED}) {
    for (auto f : {MlpSpec::NONE, MlpSpec::RELU, MlpSpec::SHAPED_RELU}) {
      for (auto n : {ModelSpec::NONE, ModelSpec::PRE_RMS}) grid.push_back({a, f, n});
    }
  }
  return grid;
}

std::string GridName(const ::testing::TestParamInfo<Block>& info) {
  return absl::StrCat(AttentionSpec::Kind_Name(info.param.attention), "_",
                      MlpSpec::Activation_Name(info.param.mlp), "_",
                      ModelSpec::Norm_Name(info.param.norm));
}

INSTANTIATE_TEST_SUITE_P(Sampler, BlockGridTest, ::testing::ValuesIn(Grid()), GridName);

TEST(SamplerVariantsTest, MultiHeadWithOutputProjection) {
  RunSpec run = BaseRun({AttentionSpec::SOFTMAX, MlpSpec::NONE, ModelSpec::NONE});
  run.mutable_model()->set_heads(2);
  run.mutable_model()->set_output_projection(true);
  ExpectSameLaw(run, {RunSpec::COLUMNS, RunSpec::GRAM});
}

// Without W_O the gram chain keeps one Gram matrix per head (gram_sampler.h); SPEC §4's check
// of the single chain here failed (p = 6e-7 on V₁₁): this is its sizes, m = 4, n = 48, H = 2,
// depth 24, plus an MLP and pre-RMSNorm, whose F is shared by the blocks.
TEST(SamplerVariantsTest, MultiHeadWithoutOutputProjection) {
  RunSpec run = BaseRun({AttentionSpec::SOFTMAX, MlpSpec::NONE, ModelSpec::NONE});
  run.mutable_model()->set_heads(2);
  run.mutable_model()->set_width(48);
  run.mutable_model()->set_depth(24);
  run.mutable_model()->mutable_attention()->set_tau0(0.5);
  ExpectSameLaw(run, {RunSpec::COLUMNS, RunSpec::GRAM});
  run.mutable_model()->set_depth(16);
  run.mutable_model()->set_norm(ModelSpec::PRE_RMS);
  run.mutable_model()->mutable_mlp()->set_activation(MlpSpec::RELU);
  ExpectSameLaw(run, {RunSpec::COLUMNS, RunSpec::GRAM});
}

TEST(SamplerVariantsTest, CausalShapedAttentionWithPostRms) {
  RunSpec run = BaseRun({AttentionSpec::SHAPED, MlpSpec::SHAPED_RELU, ModelSpec::POST_RMS});
  run.mutable_model()->mutable_attention()->set_causal(true);
  ExpectSameLaw(run, {RunSpec::COLUMNS, RunSpec::GRAM});
}

TEST(SamplerVariantsTest, CausalSoftmaxWithGelu) {
  RunSpec run = BaseRun({AttentionSpec::SOFTMAX, MlpSpec::GELU, ModelSpec::NONE});
  run.mutable_model()->mutable_attention()->set_causal(true);
  ExpectSameLaw(run, {RunSpec::COLUMNS, RunSpec::GRAM});
}

TEST(SamplerVariantsTest, LayerNormUnderColumns) {
  for (auto norm : {ModelSpec::PRE_LAYER, ModelSpec::POST_LAYER}) {
    RunSpec run = BaseRun({AttentionSpec::SOFTMAX, MlpSpec::RELU, norm});
    ExpectSameLaw(run, {RunSpec::COLUMNS});
  }
}

TEST(SamplerVariantsTest, NarrowKeysAndHiddenBelowTokens) {
  // n_k/H and n_h below m exercise the singular-Wishart and singular-kernel roots.
  RunSpec run = BaseRun({AttentionSpec::SOFTMAX, MlpSpec::TANH, ModelSpec::NONE});
  run.mutable_model()->set_key_width(4);
  run.mutable_model()->set_heads(2);
  run.mutable_model()->set_output_projection(true);
  run.mutable_model()->mutable_mlp()->set_hidden_width(3);
  ExpectSameLaw(run, {RunSpec::COLUMNS, RunSpec::GRAM});
}

// The check of ExpectSameLaw, DENSE on `run` against GRAM on `wrong` with the same seeds, must
// reject: p below the threshold.
void ExpectGramRejected(const RunSpec& run, const RunSpec& wrong) {
  std::string report;
  EXPECT_LT(MinP(LastLayer(run, RunSpec::DENSE, run.seed()),
                 LastLayer(wrong, RunSpec::GRAM, run.seed() + 1000 + RunSpec::GRAM), &report),
            kThreshold)
      << report;
}

// The negative controls: the same test, at the same sample size, rejects a GRAM chain whose
// attention γ is 10% too large, (a) with λ kept (the mean grows 10% a layer) and (b) with λ
// re-solved from λ² + γ² = 1, which keeps E V_αα and changes only the balance of drift and
// noise — a subtle error that needs the deeper of the SPEC's sizes (depth 48) to show.
TEST(SamplerNegativeControlTest, TenPercentWrongGammaIsRejected) {
  RunSpec run = BaseRun({AttentionSpec::SHAPED, MlpSpec::SHAPED_RELU, ModelSpec::NONE});
  run.mutable_model()->set_residual(ModelSpec::EXPLICIT);
  run.mutable_model()->mutable_attention()->set_skip_scale(std::sqrt(0.5));
  run.mutable_model()->mutable_attention()->set_branch_scale(std::sqrt(0.5));
  run.mutable_model()->mutable_mlp()->set_skip_scale(std::sqrt(0.5));
  run.mutable_model()->mutable_mlp()->set_branch_scale(std::sqrt(0.5));
  RunSpec wrong = run;
  wrong.mutable_model()->mutable_attention()->set_branch_scale(1.1 * std::sqrt(0.5));
  ExpectGramRejected(run, wrong);
}

TEST(SamplerNegativeControlTest, TenPercentWrongGammaWithResolvedSkipIsRejected) {
  RunSpec run = BaseRun({AttentionSpec::SHAPED, MlpSpec::SHAPED_RELU, ModelSpec::NONE});
  run.mutable_model()->set_depth(48);
  RunSpec wrong = run;
  wrong.mutable_model()->mutable_attention()->set_branch_scale(1.1 * std::sqrt(0.5));
  ExpectGramRejected(run, wrong);
  // The correct chain at the same depth passes, so the rejection is the error's doing.
  ExpectSameLaw(run, {RunSpec::GRAM});
}

}  // namespace
}  // namespace sigprop
