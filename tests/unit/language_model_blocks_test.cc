// Issue 21's language-model blocks (SPEC §2b): gated MLPs, GeLU's tanh form, RoPE, grouped-query
// attention and explicit head widths, peri- and output-norms, ε, LayerNorm scaling, the logit
// soft-cap, QK-norm over the whole projection and the absolute initialisation real code uses.
//
// 1. Law. COLUMNS (the implicit-weight forward pass, with and without gradients) against the
//    DENSE reference through the engine, for each knob alone and for a combined LLaMA-style block.
//    Per case: V₁₁, ρ₁₂, V₂₃ and the attention entropy at the last layer without gradients; the
//    same, the five weight gradients at the last layer and ‖dL/dX_0‖ with gradients — up to 14
//    two-sample KS tests of 1200 against 1200 samples. A test fails at p < 1e-4; with 14 cases
//    (≤ 196 tests, dependent within a run) the family's false-alarm rate under H0 is at most
//    196 × 1e-4 ≈ 2 %. Seeds are fixed, so a pass does not flicker and a failure reproduces.
//    Power: the same test at the same size rejects DENSE with RoPE against COLUMNS without it, and
//    SwiGLU against the plain MLP with φ = SiLU (negative controls below).
// 2. Identities and closed forms: RoPE's logits depend on positions only through i − j and its
//    inverse undoes it; fraction 0 is no RoPE in law; kv_heads = heads is plain multi-head; V_0 of
//    the absolute initialisation is (σ_e² + σ_p²)s²·I exactly; the soft-cap bounds the logits;
//    GeLU-tanh and SiLU against their formulas and finite differences.
// 3. Refusals: GRAM, LIMIT and SDE name the knob's field; validation names each bad field.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/activation.h"
#include "common/engine.h"
#include "common/finite/dense_blocks.h"
#include "common/finite/rotary.h"
#include "common/limit/limit_map.h"
#include "common/rng.h"
#include "common/model_plan.h"
#include "common/stats/distance.h"
#include "common/validate.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {
namespace {

using v1::AttentionSpec;
using v1::MlpSpec;
using v1::ModelSpec;
using v1::RunSpec;

constexpr double kThreshold = 1e-4;
constexpr int kSamples = 1200;
constexpr int kDepth = 3;

struct LmCase {
  std::string name;
  void (*knobs)(ModelSpec*);
};

void PrintTo(const LmCase& c, std::ostream* os) { *os << c.name; }

// m = 4, n = 16, causal softmax with pre-RMSNorm and a ReLU MLP, λ = 0.9, γ = 0.7 (so that a
// backward pass that dropped λ differs), ρ_0 = 0.3; each case changes what it tests.
RunSpec LmRun(const LmCase& c, bool gradients) {
  RunSpec run;
  run.set_samples(kSamples);
  run.set_gradients(gradients);
  run.set_record_every(kDepth);
  ModelSpec* s = run.mutable_model();
  s->set_tokens(4);
  s->set_width(16);
  s->set_depth(kDepth);
  s->set_heads(2);
  s->set_norm(ModelSpec::PRE_RMS);
  s->set_residual(ModelSpec::EXPLICIT);
  s->mutable_initial()->set_rho0(0.3);
  AttentionSpec* a = s->mutable_attention();
  a->set_kind(AttentionSpec::SOFTMAX);
  a->set_causal(true);
  a->set_skip_scale(0.9);
  a->set_branch_scale(0.7);
  s->mutable_mlp()->set_activation(MlpSpec::RELU);
  s->mutable_mlp()->set_skip_scale(0.9);
  s->mutable_mlp()->set_branch_scale(0.7);
  if (c.knobs != nullptr) c.knobs(s);
  return run;
}

// The columns compared: the last layer's forward statistics, its weight gradients, and grad_x at
// layer 0, named "statistic@layer".
struct Columns {
  std::vector<std::string> names;
  std::vector<std::vector<double>> values;
};

Columns Collect(RunSpec run, RunSpec::Method method, uint64_t seed) {
  run.set_method(method);
  run.set_seed(seed);
  Columns out;
  const absl::Status valid = ValidateRun(run, "run", Limits{});
  EXPECT_TRUE(valid.ok()) << valid;
  auto table = SimulateSamples(run, 0, RunContext{});
  EXPECT_TRUE(table.ok()) << table.status();
  if (!table.ok()) return out;
  const int last = static_cast<int>(table->layers.size()) - 1;
  std::vector<std::pair<std::string, int>> wanted = {
      {"v11", last}, {"rho12", last}, {"v23", last}, {"attention_entropy", last}};
  if (run.gradients()) {
    for (const char* g : {"grad_wq", "grad_wk", "grad_wv", "grad_w1", "grad_w2"}) {
      wanted.push_back({g, last});
    }
    wanted.push_back({"grad_x", 0});
  }
  for (const auto& [name, slot] : wanted) {
    const int stat = table->StatIndex(name);
    EXPECT_GE(stat, 0) << name;
    if (stat < 0) continue;
    out.names.push_back(absl::StrCat(name, "@", table->layers[slot]));
    out.values.push_back(table->Column(slot, stat));
    EXPECT_GT(out.values.back().size(), kSamples * 0.99) << name << " lost samples";
  }
  return out;
}

// The smallest KS p-value over the columns with a spread (an absent block's statistic is 0 in
// every sample of both, which must then hold for both).
double SmallestP(const Columns& a, const Columns& b, std::string* where) {
  double smallest = 1.0;
  EXPECT_EQ(a.names, b.names);
  for (size_t k = 0; k < std::min(a.values.size(), b.values.size()); ++k) {
    auto zero = [](const std::vector<double>& c) {
      return std::all_of(c.begin(), c.end(), [](double x) { return x == 0.0; });
    };
    EXPECT_EQ(zero(a.values[k]), zero(b.values[k])) << a.names[k];
    if (zero(a.values[k])) continue;
    const KsResult ks = KolmogorovSmirnov(a.values[k], b.values[k]);
    if (ks.p_value < smallest) {
      smallest = ks.p_value;
      *where = absl::StrCat(a.names[k], " (D = ", ks.statistic, ")");
    }
  }
  return smallest;
}

class LanguageModelLawTest : public ::testing::TestWithParam<LmCase> {};

TEST_P(LanguageModelLawTest, ColumnsHasTheLawOfDense) {
  for (const bool gradients : {false, true}) {
    SCOPED_TRACE(gradients ? "with gradients" : "forward only");
    const RunSpec run = LmRun(GetParam(), gradients);
    ASSERT_NE(LanguageModelField(ResolveModel(run.model())), "")
        << "the case must exercise a language-model knob";
    const Columns dense = Collect(run, RunSpec::DENSE, 71);
    const Columns columns = Collect(run, RunSpec::COLUMNS, 72);
    std::string where;
    const double p = SmallestP(dense, columns, &where);
    EXPECT_GT(p, kThreshold) << "smallest p-value " << p << ": " << where;
  }
}

const LmCase kCases[] = {
    {"RopeHalfSplit",
     [](ModelSpec* s) { s->mutable_attention()->mutable_rope()->set_theta(10.0); }},
    {"RopeInterleavedPartial",
     [](ModelSpec* s) {
       auto* rope = s->mutable_attention()->mutable_rope();
       rope->set_theta(5.0);
       rope->set_fraction(0.5);
       rope->set_interleaved(true);
     }},
    {"GroupedQueryFourHeadsTwoKv",
     [](ModelSpec* s) {
       s->set_heads(4);
       s->set_kv_heads(2);
       s->set_output_projection(true);
     }},
    {"MultiQueryHeadDim8",
     [](ModelSpec* s) {
       s->set_kv_heads(1);
       s->set_heads(3);
       s->set_head_dim(8);  // 3 × 8 = 24 ≠ 16: W_O maps the heads back to the width.
       s->set_output_projection(true);
     }},
    {"Swiglu",
     [](ModelSpec* s) {
       s->mutable_mlp()->set_activation(MlpSpec::SWIGLU);
       s->mutable_mlp()->set_hidden_width(24);
     }},
    {"GegluTanhOutputLayerNorm",
     [](ModelSpec* s) {
       s->mutable_mlp()->set_activation(MlpSpec::GEGLU_TANH);
       s->set_norm(ModelSpec::OUTPUT_LAYER);
     }},
    {"PeriRmsGeglu",
     [](ModelSpec* s) {
       s->set_norm(ModelSpec::PERI_RMS);
       s->mutable_mlp()->set_activation(MlpSpec::GEGLU);
     }},
    {"NormEpsilon",
     [](ModelSpec* s) {
       s->set_norm(ModelSpec::PRE_LAYER);
       s->set_norm_eps(0.5);  // Comparable to ‖x‖²/n, so it changes the law.
     }},
    {"LayerNormScaling",
     [](ModelSpec* s) {
       s->set_norm(ModelSpec::PRE_LAYER);
       s->set_layer_norm_scaling(true);
     }},
    {"LogitSoftcap",
     [](ModelSpec* s) {
       s->mutable_attention()->set_tau(0.25);  // Logits of order 4, so the cap at 1 bites.
       s->mutable_attention()->set_logit_softcap(1.0);
     }},
    {"QkNormOverTheProjection",
     [](ModelSpec* s) {
       s->mutable_attention()->set_qk_norm(AttentionSpec::QkNorm::RMS);
       s->mutable_attention()->set_qk_norm_scope(AttentionSpec::PROJECTION);
     }},
    {"AbsoluteInitWithPositions",
     [](ModelSpec* s) {
       s->clear_initial();
       s->mutable_init()->set_weight_std(0.3);
       s->mutable_init()->set_residual_projection_std(0.15);
       s->mutable_init()->set_position_embedding_std(0.2);
     }},
    {"LlamaBlock",
     [](ModelSpec* s) {
       s->clear_initial();
       s->set_heads(4);
       s->set_kv_heads(2);
       s->set_norm_eps(1e-5);
       s->mutable_attention()->mutable_rope();
       s->mutable_attention()->clear_skip_scale();
       s->mutable_attention()->clear_branch_scale();
       s->mutable_mlp()->clear_skip_scale();
       s->mutable_mlp()->clear_branch_scale();
       s->mutable_mlp()->set_activation(MlpSpec::SWIGLU);
       s->mutable_mlp()->set_hidden_width(40);
       // σ·sqrt(n) = 0.4: a gain that is not 1, so a product that dropped it differs in law (a
       // planted bug survived σ = 0.25, whose gain at n = 16 is exactly 1).
       s->mutable_init()->set_weight_std(0.1);
     }},
    {"GemmaTwoBlock",
     [](ModelSpec* s) {
       s->clear_initial();
       s->set_heads(2);
       s->set_kv_heads(1);
       s->set_head_dim(12);
       s->set_norm(ModelSpec::PERI_RMS);
       s->mutable_attention()->mutable_rope()->set_theta(100.0);
       s->mutable_attention()->set_logit_softcap(2.0);
       s->mutable_mlp()->set_activation(MlpSpec::GEGLU_TANH);
       s->mutable_init()->set_weight_std(0.15);
       s->mutable_init()->set_embedding_multiplier(4.0);
     }},
};

INSTANTIATE_TEST_SUITE_P(EveryKnob, LanguageModelLawTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<LmCase>& info) {
                           return info.param.name;
                         });

// Negative controls: the law test tells RoPE from no RoPE, and GeGLU from the plain GeLU MLP, at
// the same threshold and sample size. RoPE at θ = 1 turns every pair by i radians, so the logits
// of one query against keys 1, 2, 3 places away are correlated by cos 1, cos 2, cos 3 of what
// they would be; with τ = 0.2 the logits decide the attention pattern and its entropy moves.
// (V's entries alone hardly move: p = 0.25 for them at τ = 0.5.)
TEST(LanguageModelLawTest, RopeChangesTheLaw) {
  const LmCase with = {"", [](ModelSpec* s) {
                         s->mutable_attention()->mutable_rope()->set_theta(1.0);
                         s->mutable_attention()->set_tau(0.2);
                       }};
  const LmCase without = {"", [](ModelSpec* s) { s->mutable_attention()->set_tau(0.2); }};
  const Columns rope = Collect(LmRun(with, false), RunSpec::DENSE, 71);
  const Columns plain = Collect(LmRun(without, false), RunSpec::COLUMNS, 72);
  std::string where;
  const double p = SmallestP(rope, plain, &where);
  EXPECT_LT(p, kThreshold) << where;
}

TEST(LanguageModelLawTest, TheGateChangesTheLaw) {
  const LmCase gated = {"", [](ModelSpec* s) { s->mutable_mlp()->set_activation(MlpSpec::GEGLU); }};
  const LmCase plain = {"", [](ModelSpec* s) { s->mutable_mlp()->set_activation(MlpSpec::GELU); }};
  const Columns a = Collect(LmRun(gated, false), RunSpec::DENSE, 71);
  const Columns b = Collect(LmRun(plain, false), RunSpec::DENSE, 72);
  std::string where;
  const double p = SmallestP(a, b, &where);
  EXPECT_LT(p, kThreshold) << where;
}

// RoPE at rotated fraction 0 is no RoPE: COLUMNS through the implicit forward pass against the
// plain columns sampler, in law (the plan differs only in the route).
TEST(LanguageModelIdentityTest, RopeFractionZeroIsNoRope) {
  const LmCase zero = {"", [](ModelSpec* s) {
                         s->mutable_attention()->mutable_rope()->set_fraction(0.0);
                       }};
  const RunSpec run = LmRun(zero, false);
  EXPECT_EQ(ResolveModel(run.model()).attention.rope.rotated, 0);
  const Columns rope0 = Collect(run, RunSpec::COLUMNS, 81);
  const Columns none = Collect(LmRun({"", nullptr}, false), RunSpec::COLUMNS, 82);
  std::string where;
  EXPECT_GT(SmallestP(rope0, none, &where), kThreshold) << where;
}

// kv_heads = heads is plain multi-head attention: the same plan, so the same draws.
TEST(LanguageModelIdentityTest, KvHeadsEqualToHeadsIsPlainMultiHead) {
  RunSpec grouped = LmRun({"", nullptr}, true);
  grouped.mutable_model()->set_kv_heads(2);
  grouped.set_method(RunSpec::DENSE);
  grouped.set_samples(3);
  RunSpec plain = grouped;
  plain.mutable_model()->clear_kv_heads();
  EXPECT_EQ(LanguageModelField(ResolveModel(grouped.model())), "");
  auto a = SimulateSamples(grouped, 0, RunContext{});
  auto b = SimulateSamples(plain, 0, RunContext{});
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->values.size(), b->values.size());
  for (size_t i = 0; i < a->values.size(); ++i) {
    // Layer 0 has no weight gradients (NaN in both).
    if (std::isnan(a->values[i]) && std::isnan(b->values[i])) continue;
    ASSERT_EQ(a->values[i], b->values[i]) << "value " << i;
  }
}

TEST(RotaryTest, LogitsDependOnPositionsOnlyThroughTheirDifference) {
  RopePlan rope{true, 50.0, 6, false};
  for (const bool interleaved : {false, true}) {
    rope.interleaved = interleaved;
    const int m = 5, d = 8;
    // Every token carries the same query and the same key: any dependence on (i, j) beyond
    // i − j would show in the rotated logits.
    Vector q(d), k(d);
    q << 0.3, -1.2, 0.5, 2.0, -0.7, 0.1, 0.9, -0.4;
    k << 1.1, 0.4, -0.6, 0.2, 0.8, -1.5, 0.3, 0.6;
    Matrix qs = q.transpose().replicate(m, 1), ks = k.transpose().replicate(m, 1);
    ApplyRotary(rope, false, qs);
    ApplyRotary(rope, false, ks);
    const Matrix logits = qs * ks.transpose();
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < m; ++j) {
        const int shift = std::min(i, j);
        EXPECT_NEAR(logits(i, j), logits(i - shift, j - shift), 1e-12) << i << "," << j;
      }
    }
    // The unrotated dimensions pass; the map is a rotation, and its inverse undoes it.
    EXPECT_NEAR(qs(3, 6), q(6), 0.0);
    EXPECT_NEAR(qs.row(3).norm(), q.norm(), 1e-12);
    EXPECT_GT((qs.row(3) - q.transpose()).norm(), 0.1);
    ApplyRotary(rope, true, qs);
    EXPECT_LT((qs - q.transpose().replicate(m, 1)).norm(), 1e-12);
  }
}

TEST(RotaryTest, PairsAreHalfSplitOrInterleaved) {
  // Token 1 turns pair 0 by ω_0 = 1 radian: half-split pair (0, 2) of 4 rotated dims, interleaved
  // pair (0, 1).
  Matrix x = Matrix::Zero(2, 4);
  x(1, 0) = 1.0;
  Matrix half = x, inter = x;
  ApplyRotary(RopePlan{true, 1e4, 4, false}, false, half);
  ApplyRotary(RopePlan{true, 1e4, 4, true}, false, inter);
  EXPECT_NEAR(half(1, 0), std::cos(1.0), 1e-15);
  EXPECT_NEAR(half(1, 2), std::sin(1.0), 1e-15);
  EXPECT_NEAR(inter(1, 0), std::cos(1.0), 1e-15);
  EXPECT_NEAR(inter(1, 1), std::sin(1.0), 1e-15);
  EXPECT_EQ(half.row(0), x.row(0));  // Position 0 never turns.
}

// Absolute initialisation: V_0 is the embeddings' expected Gram exactly (X_0 is built with
// X_0 X_0ᵀ/n = V_0), and layer 0's v_diag_mean is (σ_e² + σ_p²)s².
TEST(AbsoluteInitTest, TokensStartFromTheEmbeddingsExpectedGram) {
  RunSpec run = LmRun({"", nullptr}, false);
  run.mutable_model()->clear_initial();
  auto* init = run.mutable_model()->mutable_init();
  init->set_weight_std(0.02);
  init->set_embedding_std(0.03);
  init->set_position_embedding_std(0.04);
  init->set_embedding_multiplier(2.0);
  const ModelPlan plan = ResolveModel(run.model());
  EXPECT_NEAR(plan.v0(0, 0), (0.03 * 0.03 + 0.04 * 0.04) * 4.0, 1e-15);
  EXPECT_EQ(plan.v0(0, 1), 0.0);
  EXPECT_TRUE(plan.attention.output_projection) << "init turns the output projection on";
  EXPECT_NEAR(plan.attention.qk_gain, 0.02 * 4.0, 1e-15);  // σ·sqrt(n), n = 16.
  run.set_samples(2);
  run.set_method(RunSpec::COLUMNS);
  auto table = SimulateSamples(run, 0, RunContext{});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_NEAR(table->At(0, table->StatIndex("v_diag_mean"), 0), 0.01, 1e-15);
  init->set_normalised_embeddings(true);
  EXPECT_EQ(ResolveModel(run.model()).v0, Matrix::Identity(4, 4));
}

// ε enters the root: y = x / sqrt(‖x‖²/n + ε), against the formula for one row.
TEST(NormEpsilonTest, EpsilonEntersTheRoot) {
  Matrix x(1, 4);
  x << 0.1, -0.2, 0.05, 0.3;
  NormCache cache;
  NormForward(NormKind::kRms, x, &cache, 0.01);
  const double r = std::sqrt(x.squaredNorm() / 4.0 + 0.01);
  EXPECT_NEAR((cache.y - x / r).norm(), 0.0, 1e-15);
  NormForward(NormKind::kLayer, x, &cache, 0.01);
  const Matrix centred = x.array() - x.mean();
  EXPECT_NEAR((cache.y - centred / std::sqrt(centred.squaredNorm() / 4.0 + 0.01)).norm(), 0.0,
              1e-15);
}

// LayerNorm scaling, closed form: IDENTITY attention (A = I) with W_V, no MLP, pre-RMSNorm,
// λ = γ = 1. Given X_{ℓ−1}, E V_ℓ = V_{ℓ−1} + (1/ℓ)·N(X)N(X)ᵀ/n (the cross term has mean 0, W_V is
// fresh), and N(X)'s rows have unit mean square, so E v_diag_mean_d = v_0 + Σ_{ℓ≤d} 1/ℓ: 1 + H_4 =
// 3.0833 at d = 4, against 5 without the scaling. Monte Carlo mean of 2000 samples within 5
// standard errors (false alarm ≈ 6e-7 per check, 4 checks), for DENSE and COLUMNS.
TEST(LayerNormScalingTest, TheDiagonalGrowsHarmonically) {
  RunSpec run;
  run.set_samples(2000);
  run.set_seed(5);
  ModelSpec* s = run.mutable_model();
  s->set_tokens(4);
  s->set_width(16);
  s->set_depth(4);
  s->set_norm(ModelSpec::PRE_RMS);
  s->set_residual(ModelSpec::EXPLICIT);
  s->set_layer_norm_scaling(true);
  s->mutable_attention()->set_kind(AttentionSpec::IDENTITY);
  s->mutable_mlp()->set_activation(MlpSpec::NONE);
  for (RunSpec::Method method : {RunSpec::DENSE, RunSpec::COLUMNS}) {
    run.set_method(method);
    auto table = SimulateSamples(run, 0, RunContext{});
    ASSERT_TRUE(table.ok()) << table.status();
    double harmonic = 0.0;
    for (const v1::LayerStats& layer : Aggregate(*table, run, 0)) {
      if (layer.layer() > 0) harmonic += 1.0 / layer.layer();
      const v1::Summary& diag = layer.stats().at("v_diag_mean");
      EXPECT_NEAR(diag.mean(), 1.0 + harmonic, 5.0 * diag.stderr() + 1e-12)
          << RunSpec::Method_Name(method) << " at layer " << layer.layer();
    }
  }
}

TEST(LogitSoftcapTest, TheLargestLogitStaysBelowTheCap) {
  RunSpec run = LmRun({"", [](ModelSpec* s) {
                         s->mutable_attention()->set_tau(0.01);
                         s->mutable_attention()->set_logit_softcap(3.0);
                       }},
                      false);
  run.set_samples(20);
  run.set_method(RunSpec::DENSE);
  auto table = SimulateSamples(run, 0, RunContext{});
  ASSERT_TRUE(table.ok()) << table.status();
  const std::vector<double> max_logit =
      table->Column(static_cast<int>(table->layers.size()) - 1, table->StatIndex("attention_max_logit"));
  ASSERT_FALSE(max_logit.empty());
  for (double x : max_logit) {
    EXPECT_LE(x, 3.0);
    EXPECT_GT(x, 2.5);  // τ = 0.01 puts the raw logits far above the cap: tanh saturates.
  }
}

TEST(ActivationTest, GeluTanhAndSiluMatchTheirFormulasAndDerivatives) {
  const Activation gelu_tanh = MakeActivation(ActivationKind::kGeluTanh, 0, 0, 16);
  const Activation silu = MakeActivation(ActivationKind::kSilu, 0, 0, 16);
  const Activation gelu = MakeActivation(ActivationKind::kGelu, 0, 0, 16);
  for (double x : {-3.0, -1.0, -0.2, 0.0, 0.4, 1.5, 4.0}) {
    const double tanh_form =
        0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    EXPECT_NEAR(gelu_tanh.Apply(x), tanh_form, 1e-15);
    EXPECT_NEAR(gelu_tanh.Apply(x), gelu.Apply(x), 1e-3);  // The approximation is close.
    EXPECT_NEAR(silu.Apply(x), x / (1.0 + std::exp(-x)), 1e-15);
    const double h = 1e-6;
    for (const Activation* a : {&gelu_tanh, &silu}) {
      EXPECT_NEAR(a->Derivative(x), (a->Apply(x + h) - a->Apply(x - h)) / (2 * h), 1e-8);
    }
  }
  // c normalises E φ(u)² = 1/c; GeLU-tanh's is within 1e-3 of GeLU's, SiLU's is its own.
  EXPECT_NEAR(gelu_tanh.c, gelu.c, 1e-3 * gelu.c);
  EXPECT_NEAR(1.0 / silu.c, GaussianExpectation([](double u) {
                const double s = u / (1.0 + std::exp(-u));
                return s * s;
              }),
              1e-14);
}

// GELU_TANH is a plain activation, so GRAM and LIMIT run it too. GRAM against DENSE by the law
// test above (same size and threshold), and LIMIT's kernel c·E[φ(u)φ(v)] against a Monte Carlo
// mean of 400,000 draws of (u, v) ~ N(0, V): within 5 standard errors (false alarm 6e-7 a check).
TEST(GeluTanhTest, GramRunsItInLaw) {
  const LmCase gelu_tanh = {"", [](ModelSpec* s) {
                              s->mutable_mlp()->set_activation(MlpSpec::GELU_TANH);
                              s->set_width(32);
                            }};
  const RunSpec run = LmRun(gelu_tanh, false);
  EXPECT_EQ(ChooseMethod(run), RunSpec::GRAM);
  std::string where;
  const double p =
      SmallestP(Collect(run, RunSpec::DENSE, 91), Collect(run, RunSpec::GRAM, 92), &where);
  EXPECT_GT(p, kThreshold) << where;
}

TEST(GeluTanhTest, TheLimitKernelIsItsGaussianExpectation) {
  const Activation phi = MakeActivation(ActivationKind::kGeluTanh, 0, 0, 16);
  Matrix v(2, 2);
  v << 1.3, 0.6, 0.6, 0.8;
  const Matrix kernel = MlpKernel(phi, v);
  const Eigen::LLT<Matrix> chol(v);
  const Matrix l = chol.matrixL();
  RandomStream stream(3, 0, 0, 0);
  const int draws = 400000;
  Matrix sum = Matrix::Zero(2, 2), sum2 = Matrix::Zero(2, 2);
  for (int i = 0; i < draws; ++i) {
    Vector z(2);
    z << stream.Gaussian(), stream.Gaussian();
    const Vector u = l * z;
    const Vector f = u.unaryExpr([&](double x) { return phi.Apply(x); });
    const Matrix outer = phi.c * f * f.transpose();
    sum += outer;
    sum2 += outer.cwiseProduct(outer);
  }
  const Matrix mean = sum / draws;
  const Matrix se = ((sum2 / draws - mean.cwiseProduct(mean)) / draws).cwiseSqrt();
  for (int a = 0; a < 2; ++a) {
    for (int b = 0; b < 2; ++b) {
      EXPECT_NEAR(kernel(a, b), mean(a, b), 5.0 * se(a, b)) << a << "," << b;
    }
  }
}

// GRAM, LIMIT and SDE refuse each knob naming its field; AUTO picks COLUMNS.
TEST(LanguageModelRefusalTest, OtherMethodsNameTheKnob) {
  const struct {
    const char* field;
    void (*knobs)(ModelSpec*);
  } knobs[] = {
      {"model.attention.rope", [](ModelSpec* s) { s->mutable_attention()->mutable_rope(); }},
      {"model.kv_heads", [](ModelSpec* s) { s->set_kv_heads(1); }},
      {"model.mlp.activation",
       [](ModelSpec* s) { s->mutable_mlp()->set_activation(MlpSpec::SWIGLU); }},
      {"model.norm", [](ModelSpec* s) { s->set_norm(ModelSpec::PERI_RMS); }},
      {"model.norm_eps", [](ModelSpec* s) { s->set_norm_eps(1e-6); }},
      {"model.attention.logit_softcap",
       [](ModelSpec* s) { s->mutable_attention()->set_logit_softcap(50.0); }},
      {"model.init",
       [](ModelSpec* s) {
         s->clear_initial();
         s->mutable_init()->set_weight_std(0.02);
       }},
  };
  for (const auto& k : knobs) {
    SCOPED_TRACE(k.field);
    RunSpec run = LmRun({"", k.knobs}, false);
    EXPECT_EQ(ChooseMethod(run), RunSpec::COLUMNS);
    for (RunSpec::Method method : {RunSpec::GRAM, RunSpec::LIMIT, RunSpec::SDE}) {
      run.set_method(method);
      if (method != RunSpec::GRAM) {
        run.mutable_model()->mutable_attention()->set_kind(AttentionSpec::SHAPED);
        run.mutable_model()->set_norm(run.model().norm() == ModelSpec::PERI_RMS
                                          ? ModelSpec::PERI_RMS
                                          : ModelSpec::NONE);
      }
      const absl::Status st = ValidateRun(run, "run", Limits{});
      EXPECT_FALSE(st.ok()) << RunSpec::Method_Name(method);
      EXPECT_NE(st.message().find(k.field), std::string::npos)
          << RunSpec::Method_Name(method) << ": " << st;
    }
  }
}

TEST(LanguageModelValidationTest, EachBadFieldIsNamed) {
  const struct {
    const char* expected;
    void (*knobs)(ModelSpec*);
  } bad[] = {
      {"run.model.kv_heads: must divide heads 2", [](ModelSpec* s) { s->set_kv_heads(3); }},
      {"run.model.kv_heads: must be ≥ 0", [](ModelSpec* s) { s->set_kv_heads(-1); }},
      {"run.model.head_dim: heads × head_dim = 24 differs from width 16",
       [](ModelSpec* s) { s->set_head_dim(12); }},
      {"run.model.key_width: is heads × head_dim",
       [](ModelSpec* s) {
         s->set_head_dim(8);
         s->set_key_width(8);
       }},
      {"run.model.attention.rope.fraction: must lie in [0, 1]",
       [](ModelSpec* s) { s->mutable_attention()->mutable_rope()->set_fraction(1.5); }},
      {"run.model.attention.rope.theta: must be > 0",
       [](ModelSpec* s) { s->mutable_attention()->mutable_rope()->set_theta(0.0); }},
      {"run.model.attention.rope: rotates queries and keys, which kind UNIFORM",
       [](ModelSpec* s) {
         s->mutable_attention()->set_kind(AttentionSpec::UNIFORM);
         s->mutable_attention()->mutable_rope();
       }},
      {"run.model.attention.logit_softcap: must be > 0",
       [](ModelSpec* s) { s->mutable_attention()->set_logit_softcap(-1.0); }},
      {"run.model.attention.qk_norm_scope: says what QK-norm normalises",
       [](ModelSpec* s) {
         s->mutable_attention()->set_qk_norm_scope(AttentionSpec::PROJECTION);
       }},
      {"run.model.norm_eps: must be ≥ 0", [](ModelSpec* s) { s->set_norm_eps(-1e-6); }},
      {"run.model.layer_norm_scaling: scales the pre-norm output",
       [](ModelSpec* s) {
         s->set_norm(ModelSpec::POST_LAYER);
         s->set_layer_norm_scaling(true);
       }},
      {"run.model.norm: PERI_RMS normalises each branch's output",
       [](ModelSpec* s) {
         s->set_norm(ModelSpec::PERI_RMS);
         s->set_parallel(true);
       }},
      {"run.model.init.weight_std: must be > 0", [](ModelSpec* s) { s->mutable_init(); }},
      {"run.model.residual: UNIT_SUM rescales",
       [](ModelSpec* s) {
         s->mutable_init()->set_weight_std(0.02);
         s->set_residual(ModelSpec::UNIT_SUM);
         s->mutable_attention()->clear_skip_scale();
         s->mutable_attention()->clear_branch_scale();
         s->mutable_mlp()->clear_skip_scale();
         s->mutable_mlp()->clear_branch_scale();
       }},
      {"run.model.init.embedding_std: and position_embedding_std are both 0",
       [](ModelSpec* s) {
         s->clear_initial();
         s->mutable_init()->set_weight_std(0.02);
         s->mutable_init()->set_embedding_std(0.0);
       }},
      {"run.model.attention.identity_values: mixes the branch input's own features per head",
       [](ModelSpec* s) {
         s->set_kv_heads(1);
         s->mutable_attention()->set_identity_values(true);
       }},
  };
  for (const auto& b : bad) {
    const RunSpec run = LmRun({"", b.knobs}, false);
    const absl::Status st = ValidateRun(run, "run", Limits{});
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << b.expected;
    EXPECT_NE(st.message().find(b.expected), std::string::npos)
        << "expected '" << b.expected << "', got: " << st;
  }
}

}  // namespace
}  // namespace sigprop
