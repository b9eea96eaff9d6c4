// The later literature's attention functions, masks, norms and blocks (issue 15), in every sampler
// that accepts them.
//
// 1. Law: two-sample KS of COLUMNS and (where it runs the model) GRAM against DENSE on V₁₁, ρ₁₂, V₂₃
//    and the attention statistics at the last layer, for each new knob and preset. 1500 samples a
//    method; a pair fails at p < 1e-4. 17 cases × up to 2 methods × 6 statistics ≤ 204 tests, so
//    under H0 the family trips with probability ≤ 2 % (dependent tests: less). The seeds are
//    fixed: a pass does not flicker and a failure reproduces. Statistics that are constant by
//    construction (V₁₁ after RMSNorm, the largest logit of UNIFORM) are compared to 1e-9 instead.
// 2. Closed forms: uniform attention's entropy is log m, causal log(m!)/m, windowed the mean of
//    log(visible count); the parallel block's mean recursion with uniform attention and a linear
//    MLP is E V' = 2V + v̄11ᵀ against the sequential 2(V + v̄11ᵀ); ALiBi's slopes.
// 3. Every refusal, by its message.
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/engine.h"
#include "common/finite/attention_matrix.h"
#include "common/finite/gram_sampler.h"
#include "common/limit/limit_map.h"
#include "common/model_plan.h"
#include "common/stats/distance.h"
#include "common/validate.h"

namespace sigprop {
namespace {

using v1::AttentionSpec;
using v1::MlpSpec;
using v1::ModelSpec;
using v1::RunSpec;

constexpr double kThreshold = 1e-4;
constexpr int kSamples = 1500;
const char* const kStatistics[] = {"v11", "rho12", "v23", "attention_entropy",
                                   "attention_max_logit", "attention_gap"};

struct Knob {
  std::string name;
  std::function<void(ModelSpec*)> set;
};

void PrintTo(const Knob& k, std::ostream* os) { *os << k.name; }

RunSpec KnobRun(const Knob& knob) {
  RunSpec run;
  run.set_samples(kSamples);
  run.set_seed(151);
  ModelSpec* model = run.mutable_model();
  model->set_tokens(4);
  model->set_width(32);
  model->set_depth(6);
  model->set_residual(ModelSpec::UNIT_SUM);
  model->set_norm(ModelSpec::PRE_RMS);
  model->mutable_initial()->set_rho0(0.3);
  model->mutable_attention()->set_kind(AttentionSpec::SOFTMAX);
  model->mutable_mlp()->set_activation(MlpSpec::RELU);
  knob.set(model);
  return run;
}

std::vector<std::vector<double>> LastLayer(RunSpec run, RunSpec::Method method, uint64_t seed) {
  run.set_method(method);
  run.set_seed(seed);
  run.set_record_every(run.model().depth());
  auto table = SimulateSamples(run, 0, RunContext{});
  EXPECT_TRUE(table.ok()) << table.status();
  std::vector<std::vector<double>> out;
  if (!table.ok()) return out;
  const int slot = static_cast<int>(table->layers.size()) - 1;
  for (const char* name : kStatistics) {
    const int stat = table->StatIndex(name);
    EXPECT_GE(stat, 0) << name;
    out.push_back(stat >= 0 ? table->Column(slot, stat) : std::vector<double>());
    EXPECT_GT(out.back().size(), kSamples * 0.99) << name << " lost samples to divergence";
  }
  return out;
}

double Spread(const std::vector<double>& x) {
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  return x.empty() ? 0.0 : *hi - *lo;
}

void ExpectSameLaw(const std::vector<std::vector<double>>& dense,
                   const std::vector<std::vector<double>>& other, const char* method) {
  ASSERT_EQ(dense.size(), other.size());
  for (size_t k = 0; k < dense.size(); ++k) {
    SCOPED_TRACE(absl::StrCat(method, " ", kStatistics[k]));
    if (Spread(dense[k]) < 1e-9 && Spread(other[k]) < 1e-9) {
      EXPECT_NEAR(dense[k][0], other[k][0], 1e-9);
      continue;
    }
    const KsResult ks = KolmogorovSmirnov(dense[k], other[k]);
    EXPECT_GT(ks.p_value, kThreshold) << "D = " << ks.statistic;
  }
}

class AttentionVariantTest : public ::testing::TestWithParam<Knob> {};

TEST_P(AttentionVariantTest, ColumnsAndGramMatchDense) {
  const RunSpec run = KnobRun(GetParam());
  ASSERT_TRUE(ValidateRun(run, "base", Limits{}).ok()) << ValidateRun(run, "base", Limits{});
  const auto dense = LastLayer(run, RunSpec::DENSE, 1);
  ExpectSameLaw(dense, LastLayer(run, RunSpec::COLUMNS, 2), "COLUMNS");
  if (GramSupports(ResolveModel(run.model())).ok()) {
    ExpectSameLaw(dense, LastLayer(run, RunSpec::GRAM, 3), "GRAM");
  }
}

// The preset alone on KnobRun's sizes: every field the base set is cleared, so the preset decides.
void OnlyPreset(ModelSpec::Preset preset, ModelSpec* s) {
  const int tokens = s->tokens(), width = s->width(), depth = s->depth();
  const double rho0 = s->initial().rho0();
  s->Clear();
  s->set_tokens(tokens);
  s->set_width(width);
  s->set_depth(depth);
  s->mutable_initial()->set_rho0(rho0);
  s->set_preset(preset);
}

const Knob kKnobs[] = {
    {"Sigmoid", [](ModelSpec* s) { s->mutable_attention()->set_kind(AttentionSpec::SIGMOID); }},
    {"CausalSigmoidBias",
     [](ModelSpec* s) {
       s->mutable_attention()->set_kind(AttentionSpec::SIGMOID);
       s->mutable_attention()->set_causal(true);
       s->mutable_attention()->set_bias(0.5);
     }},
    {"Relu", [](ModelSpec* s) { s->mutable_attention()->set_kind(AttentionSpec::RELU); }},
    {"CausalReluHalfPower",
     [](ModelSpec* s) {
       s->mutable_attention()->set_kind(AttentionSpec::RELU);
       s->mutable_attention()->set_causal(true);
       s->mutable_attention()->set_relu_power(0.5);
     }},
    {"QkNormRms",
     [](ModelSpec* s) {
       s->mutable_attention()->set_qk_norm(AttentionSpec::QkNorm::RMS);
       s->mutable_attention()->set_tau(2.0);
     }},
    {"QkNormLayerTwoHeadsSigmoid",
     [](ModelSpec* s) {
       s->mutable_attention()->set_kind(AttentionSpec::SIGMOID);
       s->mutable_attention()->set_qk_norm(AttentionSpec::QkNorm::LAYER);
       s->set_heads(2);
       s->set_output_projection(true);
     }},
    {"CausalWindow",
     [](ModelSpec* s) {
       s->mutable_attention()->set_causal(true);
       s->mutable_attention()->set_window(1);
     }},
    {"TwoSidedWindowShaped",
     [](ModelSpec* s) {
       s->mutable_attention()->set_kind(AttentionSpec::SHAPED);
       s->mutable_attention()->set_tau0(0.3);
       s->mutable_attention()->set_window(1);
     }},
    {"AlibiTwoHeads",
     [](ModelSpec* s) {
       s->mutable_attention()->set_alibi(true);
       s->set_heads(2);
     }},
    {"MatrixSkip",
     [](ModelSpec* s) {
       s->mutable_attention()->set_identity_gain(0.5);
       s->mutable_attention()->set_attention_gain(1.5);
       s->mutable_attention()->set_centre_gain(0.7);
     }},
    {"IdentityValuesTwoHeads",
     [](ModelSpec* s) {
       s->mutable_attention()->set_identity_values(true);
       s->set_heads(2);
     }},
    {"ParallelPostLayer",
     [](ModelSpec* s) {
       s->set_parallel(true);
       s->set_norm(ModelSpec::POST_LAYER);
     }},
    {"ParallelTwoHeadsNoProjection",
     [](ModelSpec* s) {
       s->set_parallel(true);
       s->set_heads(2);
     }},
    {"ParallelIdentityValuesPostRms",
     [](ModelSpec* s) {
       s->set_parallel(true);
       s->mutable_attention()->set_identity_values(true);
       s->mutable_attention()->set_identity_gain(1.0);
       s->mutable_attention()->set_centre_gain(1.0);
       s->set_norm(ModelSpec::POST_RMS);
     }},
    {"SimplifiedSas", [](ModelSpec* s) { OnlyPreset(ModelSpec::SIMPLIFIED_SAS, s); }},
    {"SimplifiedSasP", [](ModelSpec* s) { OnlyPreset(ModelSpec::SIMPLIFIED_SAS_P, s); }},
    {"DepthMup", [](ModelSpec* s) { OnlyPreset(ModelSpec::DEPTH_MUP, s); }},
};

INSTANTIATE_TEST_SUITE_P(EveryKnob, AttentionVariantTest, ::testing::ValuesIn(kKnobs),
                         [](const ::testing::TestParamInfo<Knob>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// 2. Closed forms.

double EntropyOfUniform(const Knob& knob) {
  RunSpec run = KnobRun(knob);
  run.set_samples(3);
  run.set_method(RunSpec::COLUMNS);
  auto table = SimulateSamples(run, 0, RunContext{});
  EXPECT_TRUE(table.ok()) << table.status();
  const int stat = table->StatIndex("attention_entropy");
  const double first = table->At(1, stat, 0);
  for (int s = 0; s < 3; ++s) EXPECT_EQ(table->At(1, stat, s), first);  // Not random.
  return first;
}

TEST(AttentionClosedFormTest, UniformAttentionEntropy) {
  const double m = 4;
  EXPECT_NEAR(EntropyOfUniform({"", [](ModelSpec* s) {
                                  s->mutable_attention()->set_kind(AttentionSpec::UNIFORM);
                                }}),
              std::log(m), 1e-12);
  // Causal: row i sees i + 1 tokens, so the mean entropy is Σ log(i + 1)/m = log(m!)/m.
  EXPECT_NEAR(EntropyOfUniform({"", [](ModelSpec* s) {
                                  s->mutable_attention()->set_kind(AttentionSpec::UNIFORM);
                                  s->mutable_attention()->set_causal(true);
                                }}),
              std::lgamma(m + 1) / m, 1e-12);
  // A two-sided window of 1 on 4 tokens: rows see 2, 3, 3, 2 tokens.
  EXPECT_NEAR(EntropyOfUniform({"", [](ModelSpec* s) {
                                  s->mutable_attention()->set_kind(AttentionSpec::UNIFORM);
                                  s->mutable_attention()->set_window(1);
                                }}),
              (2 * std::log(2.0) + 2 * std::log(3.0)) / m, 1e-12);
}

// DENSE's Monte-Carlo mean of V₁ over 4000 samples and its standard error, entry by entry.
std::pair<Matrix, Matrix> DenseMeanOfFirstLayer(const ModelSpec& s) {
  RunSpec run;
  *run.mutable_model() = s;
  run.mutable_model()->set_depth(1);
  run.set_method(RunSpec::DENSE);
  run.set_samples(4000);
  run.set_seed(7);
  run.set_mean_covariance(true);
  auto table = SimulateSamples(run, 0, RunContext{});
  EXPECT_TRUE(table.ok()) << table.status();
  const int m = s.tokens();
  Matrix sum = Matrix::Zero(m, m), sum2 = Matrix::Zero(m, m);
  for (int k = 0; k < run.samples(); ++k) {
    const Eigen::Map<const Matrix> vk(&table->covariances[(run.samples() + k) * m * m], m, m);
    sum += vk;
    sum2 += vk.cwiseProduct(vk);
  }
  const Matrix mean = sum / run.samples();
  const Matrix se = ((sum2 / run.samples() - mean.cwiseProduct(mean)) / run.samples()).cwiseSqrt();
  return {mean, se};
}

// With uniform attention, a linear MLP, λ = γ = 1 and no norm, fresh weights give, at any width,
// E V' = V + C V Cᵀ + V = 2V + v̄11ᵀ for the parallel block and 2(V + v̄11ᵀ) for the sequential one
// (C = 11ᵀ/m, v̄ = 1ᵀV1/m²). The LIMIT map must give both exactly, and DENSE's Monte-Carlo mean of
// V₁ (4000 samples) must agree with the parallel one entry by entry within 4.5 standard errors
// (two-sided false-alarm rate 7e-6 per entry, 16 entries) and be ≥ 10 SE from the sequential one.
TEST(AttentionClosedFormTest, ParallelBlockMeanRecursion) {
  ModelSpec s;
  s.set_tokens(4);
  s.set_width(16);
  s.set_depth(1);
  s.set_residual(ModelSpec::EXPLICIT);
  s.set_norm(ModelSpec::NONE);
  s.mutable_attention()->set_kind(AttentionSpec::UNIFORM);
  s.mutable_mlp()->set_activation(MlpSpec::LINEAR);
  s.mutable_initial()->set_rho0(0.3);
  const ModelPlan sequential_plan = ResolveModel(s);
  s.set_parallel(true);
  const ModelPlan parallel_plan = ResolveModel(s);
  const Matrix v = sequential_plan.v0;
  const double v_bar = v.sum() / 16.0;
  const Matrix ones = Matrix::Ones(4, 4);
  const Matrix parallel_mean = 2 * v + v_bar * ones;
  const Matrix sequential_mean = 2 * (v + v_bar * ones);
  EXPECT_LT(((*LimitTrajectory(parallel_plan))[1] - parallel_mean).norm(), 1e-12);
  EXPECT_LT(((*LimitTrajectory(sequential_plan))[1] - sequential_mean).norm(), 1e-12);

  const auto [mean, se] = DenseMeanOfFirstLayer(s);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      EXPECT_LT(std::abs(mean(i, j) - parallel_mean(i, j)), 4.5 * se(i, j)) << i << "," << j;
    }
  }
  EXPECT_GT(((mean - sequential_mean).cwiseQuotient(se)).cwiseAbs().maxCoeff(), 10.0);
}

// UNIFORM attention under a causal window of 1 with the matrix skip (α, β, γ) = (0.5, 1, 0.3): A is
// deterministic, so with fresh W_V and no norm E V₁ = λ²V + γ_b² A V Aᵀ at any width; the LIMIT
// map must be that, and DENSE's mean must agree within 4.5 standard errors per entry.
TEST(AttentionClosedFormTest, LimitOfWindowedUniformWithMatrixSkip) {
  ModelSpec s;
  s.set_tokens(4);
  s.set_width(16);
  s.set_depth(1);
  s.set_residual(ModelSpec::EXPLICIT);
  s.set_norm(ModelSpec::NONE);
  AttentionSpec* a = s.mutable_attention();
  a->set_kind(AttentionSpec::UNIFORM);
  a->set_causal(true);
  a->set_window(1);
  a->set_identity_gain(0.5);
  a->set_centre_gain(0.3);
  a->set_branch_scale(0.8);
  s.mutable_mlp()->set_activation(MlpSpec::NONE);
  s.mutable_initial()->set_rho0(0.3);
  const ModelPlan plan = ResolveModel(s);
  // Rows see {0}, {0, 1}, {1, 2}, {2, 3}: C = [[1], [½ ½], [0 ½ ½], [0 0 ½ ½]].
  Matrix c = Matrix::Zero(4, 4);
  c(0, 0) = 1;
  c(1, 0) = c(1, 1) = c(2, 1) = c(2, 2) = c(3, 2) = c(3, 3) = 0.5;
  const Matrix attention = 0.5 * Matrix::Identity(4, 4) + c - 0.3 * c;
  const Matrix expected = plan.v0 + 0.64 * attention * plan.v0 * attention.transpose();
  EXPECT_LT(((*LimitTrajectory(plan))[1] - expected).norm(), 1e-12);
  const auto [mean, se] = DenseMeanOfFirstLayer(s);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      EXPECT_LT(std::abs(mean(i, j) - expected(i, j)), 4.5 * se(i, j)) << i << "," << j;
    }
  }
}

TEST(AttentionClosedFormTest, AlibiSlopes) {
  for (int h = 0; h < 8; ++h) EXPECT_DOUBLE_EQ(AlibiSlope(h, 8), std::exp2(-(h + 1.0)));
  // Six heads: the four slopes of 4 heads (2^-2, 2^-4, 2^-6, 2^-8), then 2^-1 and 2^-3.
  const double six[] = {0.25, 1.0 / 16, 1.0 / 64, 1.0 / 256, 0.5, 0.125};
  for (int h = 0; h < 6; ++h) EXPECT_DOUBLE_EQ(AlibiSlope(h, 6), six[h]) << h;
}

// ---------------------------------------------------------------------------------------------
// 3. Refusals.

void ExpectRefused(const std::function<void(RunSpec*)>& change, const std::string& field,
                   const std::string& words) {
  RunSpec run = KnobRun({"", [](ModelSpec*) {}});
  change(&run);
  const absl::Status status = ValidateRun(run, "base", Limits{});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find(field), std::string::npos) << status;
  EXPECT_NE(status.message().find(words), std::string::npos) << status;
}

TEST(AttentionRefusalTest, EveryRefusalNamesItsField) {
  ExpectRefused([](RunSpec* r) { r->mutable_model()->mutable_attention()->set_bias(1); },
                "base.model.attention.bias", "SIGMOID only");
  ExpectRefused([](RunSpec* r) { r->mutable_model()->mutable_attention()->set_relu_power(1); },
                "base.model.attention.relu_power", "RELU only");
  ExpectRefused(
      [](RunSpec* r) {
        r->mutable_model()->mutable_attention()->set_kind(AttentionSpec::RELU);
        r->mutable_model()->mutable_attention()->set_relu_power(-1);
      },
      "base.model.attention.relu_power", "≥ 0");
  ExpectRefused(
      [](RunSpec* r) {
        r->mutable_model()->mutable_attention()->set_kind(AttentionSpec::UNIFORM);
        r->mutable_model()->mutable_attention()->set_qk_norm(AttentionSpec::QkNorm::RMS);
      },
      "base.model.attention.qk_norm", "UNIFORM");
  ExpectRefused(
      [](RunSpec* r) {
        r->mutable_model()->mutable_attention()->set_kind(AttentionSpec::IDENTITY);
        r->mutable_model()->mutable_attention()->set_alibi(true);
      },
      "base.model.attention.alibi", "IDENTITY");
  ExpectRefused([](RunSpec* r) { r->mutable_model()->mutable_attention()->set_window(-2); },
                "base.model.attention.window", "got -2");
  ExpectRefused(
      [](RunSpec* r) {
        r->mutable_model()->mutable_attention()->set_identity_values(true);
        r->mutable_model()->set_output_projection(true);
      },
      "base.model.attention.identity_values", "output_projection");
  ExpectRefused(
      [](RunSpec* r) {
        r->mutable_model()->set_parallel(true);
        r->mutable_model()->mutable_mlp()->set_activation(MlpSpec::NONE);
      },
      "base.model.parallel", "lacks one");
  ExpectRefused(
      [](RunSpec* r) {
        r->mutable_model()->set_preset(ModelSpec::DEPTH_MUP);
        r->mutable_model()->set_norm(ModelSpec::NORM_UNSPECIFIED);
        r->set_method(RunSpec::GRAM);
      },
      "base.model.norm", "COLUMNS");
  ExpectRefused(
      [](RunSpec* r) {
        r->mutable_model()->mutable_attention()->set_kind(AttentionSpec::SIGMOID);
        r->set_method(RunSpec::LIMIT);
      },
      "base.model.attention.kind", "SIGMOID");
  ExpectRefused(
      [](RunSpec* r) {
        r->mutable_model()->mutable_attention()->set_kind(AttentionSpec::SHAPED);
        r->mutable_model()->mutable_attention()->set_alibi(true);
        r->set_method(RunSpec::LIMIT);
      },
      "base.model.attention.alibi", "LIMIT");
  ExpectRefused(
      [](RunSpec* r) {
        r->mutable_model()->mutable_attention()->set_kind(AttentionSpec::SHAPED);
        r->mutable_model()->mutable_attention()->set_window(2);
        r->mutable_model()->set_norm(ModelSpec::NONE);
        r->mutable_model()->mutable_mlp()->set_activation(MlpSpec::NONE);
        r->set_method(RunSpec::SDE);
      },
      "attention.window", "SDE");
}

// An unset method picks COLUMNS for what GRAM cannot run, and the new statistics are reported.
TEST(AttentionRefusalTest, DefaultMethodAndStatistics) {
  RunSpec run = KnobRun({"", [](ModelSpec* s) { s->set_parallel(true); }});
  EXPECT_EQ(ChooseMethod(run), RunSpec::GRAM);
  run = KnobRun({"", [](ModelSpec* s) { s->set_preset(ModelSpec::DEPTH_MUP); }});
  run.mutable_model()->set_norm(ModelSpec::NORM_UNSPECIFIED);  // The preset's pre-LayerNorm.
  EXPECT_EQ(ChooseMethod(run), RunSpec::COLUMNS);
  run = KnobRun({"", [](ModelSpec* s) { s->mutable_attention()->set_window(2); }});
  EXPECT_EQ(ChooseMethod(run), RunSpec::GRAM);
  run.set_samples(2);
  auto table = SimulateSamples(run, 0, RunContext{});
  ASSERT_TRUE(table.ok());
  for (const char* name : kAttentionStatNames) EXPECT_GE(table->StatIndex(name), 0) << name;
  run.mutable_model()->mutable_attention()->set_kind(AttentionSpec::NONE);
  table = SimulateSamples(run, 0, RunContext{});
  ASSERT_TRUE(table.ok());
  EXPECT_LT(table->StatIndex("attention_entropy"), 0);
}

}  // namespace
}  // namespace sigprop
