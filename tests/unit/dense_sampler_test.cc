#include "common/finite/dense_sampler.h"

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/finite/dense_blocks.h"
#include "common/model_plan.h"
#include "common/rng.h"

namespace sigprop {
namespace {

using v1::AttentionSpec;
using v1::MlpSpec;
using v1::ModelSpec;

// Keeps everything a sample reports; optionally cancels at the k-th poll of Cancelled().
class RecordingObserver : public SampleObserver {
 public:
  explicit RecordingObserver(int cancel_at_poll = -1, int record_every = 1)
      : cancel_at_poll_(cancel_at_poll), record_every_(record_every) {}
  void OnCovariance(int layer, const Matrix& v) override { covariances[layer] = v; }
  void OnGradients(int layer, const GradientNorms& g) override { gradients[layer] = g; }
  void OnDiverged(int layer) override { diverged_at = layer; }
  bool WantsLayer(int layer) const override { return layer % record_every_ == 0; }
  bool Cancelled() const override { return cancel_at_poll_ >= 0 && polls_++ >= cancel_at_poll_; }

  std::map<int, Matrix> covariances;
  std::map<int, GradientNorms> gradients;
  int diverged_at = -1;

 private:
  int cancel_at_poll_;
  int record_every_;
  mutable int polls_ = 0;
};

ModelSpec BaseSpec(int m, int n, int depth) {
  ModelSpec s;
  s.set_tokens(m);
  s.set_width(n);
  s.set_depth(depth);
  s.set_residual(ModelSpec::EXPLICIT);
  return s;
}

// Mean and standard error of every entry of V_depth over `samples` samples of `plan`.
struct EntryMoments {
  Matrix mean, standard_error;
};
EntryMoments MonteCarloFinalCovariance(const ModelPlan& plan, int samples, uint64_t seed) {
  const int m = plan.tokens;
  Matrix sum = Matrix::Zero(m, m), sum2 = Matrix::Zero(m, m);
  for (int s = 0; s < samples; ++s) {
    RecordingObserver obs;
    EXPECT_TRUE(SampleDense(plan, {seed, 0, static_cast<uint32_t>(s)}, false, obs).ok());
    const Matrix& v = obs.covariances.at(plan.depth);
    sum += v;
    sum2 += v.cwiseProduct(v);
  }
  EntryMoments r;
  r.mean = sum / samples;
  const Matrix var = (sum2 / samples - r.mean.cwiseProduct(r.mean)) * samples / (samples - 1.0);
  r.standard_error = (var / samples).cwiseSqrt();
  return r;
}

// ---------------------------------------------------------------------------------------------
// Gradients against central finite differences, full matrices.

struct GradientCase {
  std::string name;
  AttentionSpec::Kind attention;
  bool causal;
  int heads;
  bool projection;
  MlpSpec::Activation activation;
  ModelSpec::Norm norm;
  int n, n_k, n_h;
  void (*knobs)(ModelSpec*) = nullptr;  // The later literature's fields (issue 15), if any.
};

void PrintTo(const GradientCase& c, std::ostream* os) { *os << c.name; }

ModelPlan GradientPlan(const GradientCase& c) {
  ModelSpec s = BaseSpec(3, c.n, 2);
  s.set_key_width(c.n_k);
  s.set_heads(c.heads);
  s.set_output_projection(c.projection);
  s.set_norm(c.norm);
  s.mutable_attention()->set_kind(c.attention);
  s.mutable_attention()->set_causal(c.causal);
  s.mutable_attention()->set_tau0(0.7);
  s.mutable_attention()->set_skip_scale(0.8);
  s.mutable_attention()->set_branch_scale(0.6);
  s.mutable_mlp()->set_activation(c.activation);
  s.mutable_mlp()->set_hidden_width(c.n_h);
  s.mutable_mlp()->set_c_plus(0.5);
  s.mutable_mlp()->set_c_minus(-1.0);
  s.mutable_mlp()->set_skip_scale(0.9);
  s.mutable_mlp()->set_branch_scale(0.5);
  s.mutable_initial()->set_rho0(0.3);
  if (c.knobs != nullptr) c.knobs(&s);
  return ResolveModel(s);
}

double LossWithWeights(const ModelPlan& plan, const Matrix& x0,
                       const std::vector<LayerWeights>& weights, const LossTargets& targets) {
  Matrix x = x0, next;
  LayerCache cache;
  int layer = 0;
  for (const LayerWeights& w : weights) {
    LayerForward(plan, ++layer, w, x, &cache, &next);
    x = next;
  }
  return DenseLoss(x, targets);
}

std::vector<Matrix> ForwardInputs(const ModelPlan& plan, const Matrix& x0,
                                  const std::vector<LayerWeights>& weights) {
  std::vector<Matrix> inputs{x0};
  LayerCache cache;
  Matrix next;
  int layer = 0;
  for (const LayerWeights& w : weights) {
    LayerForward(plan, ++layer, w, inputs.back(), &cache, &next);
    inputs.push_back(next);
  }
  return inputs;
}

std::vector<LayerWeights> BackpropagatedGradients(const ModelPlan& plan, const Matrix& x0,
                                                  const std::vector<LayerWeights>& weights,
                                                  const LossTargets& targets) {
  std::vector<LayerWeights> grads(weights.size());
  const absl::Status status = BackpropagateDense(
      plan, ForwardInputs(plan, x0, weights), targets,
      [&](int layer, LayerWeights* w) { *w = weights[layer - 1]; },
      [&](int layer, const LayerGradient& g) {
        grads[layer - 1] = g.weights;
        return absl::OkStatus();
      });
  EXPECT_TRUE(status.ok()) << status;
  return grads;
}

// Weights of every layer as the sampler draws them.
std::vector<LayerWeights> DrawAllWeights(const ModelPlan& plan, const SampleCoordinates& at) {
  std::vector<LayerWeights> weights(plan.depth);
  for (int l = 1; l <= plan.depth; ++l) {
    RandomStream stream(at.seed, at.point, at.sample, l);
    DrawLayerWeights(plan, stream, &weights[l - 1]);
  }
  return weights;
}

class DenseGradientTest : public ::testing::TestWithParam<GradientCase> {};

// The loss is smooth at the drawn point (ReLU kinks are met with probability ~h per entry), so
// central differences have truncation error O(h²) ≈ 1e-12 and rounding error O(ε/h) ≈ 1e-10,
// far below the 1e-5 relative tolerance; a wrong backward formula gives O(1) relative error.
TEST_P(DenseGradientTest, MatchesCentralFiniteDifferences) {
  const GradientCase& c = GetParam();
  const ModelPlan plan = GradientPlan(c);
  const SampleCoordinates at{77, 1, 2};
  RandomStream input_stream(at.seed, at.point, at.sample, kInputLayer);
  const Matrix x0 = *DenseInput(plan, input_stream);
  RandomStream loss_stream(at.seed, at.point, at.sample, kLossLayer);
  const LossTargets targets = DrawLossTargets(plan, loss_stream);
  std::vector<LayerWeights> weights = DrawAllWeights(plan, at);
  const std::vector<LayerWeights> grads = BackpropagatedGradients(plan, x0, weights, targets);

  const double h = 1e-6;
  int checked = 0;
  for (int l = 0; l < plan.depth; ++l) {
    struct Named {
      const char* name;
      Matrix LayerWeights::*member;
    };
    for (const Named& p : {Named{"wq", &LayerWeights::wq}, Named{"wk", &LayerWeights::wk},
                           Named{"wv", &LayerWeights::wv}, Named{"w1", &LayerWeights::w1},
                           Named{"wg", &LayerWeights::wg}, Named{"w2", &LayerWeights::w2}}) {
      Matrix& w = weights[l].*p.member;
      const Matrix& g = grads[l].*p.member;
      SCOPED_TRACE(std::string(p.name) + " of layer " + std::to_string(l + 1));
      ASSERT_EQ(g.rows(), w.rows());
      ASSERT_EQ(g.cols(), w.cols());
      if (w.size() == 0) continue;
      Matrix fd(w.rows(), w.cols());
      for (int i = 0; i < w.rows(); ++i) {
        for (int j = 0; j < w.cols(); ++j) {
          const double saved = w(i, j);
          w(i, j) = saved + h;
          const double up = LossWithWeights(plan, x0, weights, targets);
          w(i, j) = saved - h;
          const double down = LossWithWeights(plan, x0, weights, targets);
          w(i, j) = saved;
          fd(i, j) = (up - down) / (2 * h);
        }
      }
      ASSERT_GT(g.norm(), 1e-8);
      EXPECT_LT((fd - g).norm() / g.norm(), 1e-5) << "fd:\n" << fd << "\nbackprop:\n" << g;
      ++checked;
    }
  }
  const int per_layer = (plan.attention.uses_logits() ? 2 : 0) +
                        (plan.attention.enabled() && !plan.attention.identity_values ? 1 : 0) +
                        (plan.mlp.enabled() ? (plan.mlp.gated ? 3 : 2) : 0);
  EXPECT_EQ(checked, plan.depth * per_layer);
}

INSTANTIATE_TEST_SUITE_P(
    TinyModels, DenseGradientTest,
    ::testing::Values(
        GradientCase{"SoftmaxReluNoNorm", AttentionSpec::SOFTMAX, false, 1, false, MlpSpec::RELU,
                     ModelSpec::NONE, 4, 4, 4},
        GradientCase{"SoftmaxTwoHeadsGeluPreRms", AttentionSpec::SOFTMAX, false, 2, false,
                     MlpSpec::GELU, ModelSpec::PRE_RMS, 6, 4, 5},
        GradientCase{"CausalSoftmaxTanhPostLayer", AttentionSpec::SOFTMAX, true, 1, false,
                     MlpSpec::TANH, ModelSpec::POST_LAYER, 5, 5, 5},
        GradientCase{"CausalSoftmaxTwoHeadsProjectionPreLayer", AttentionSpec::SOFTMAX, true, 2,
                     true, MlpSpec::RELU, ModelSpec::PRE_LAYER, 6, 6, 4},
        GradientCase{"ShapedTwoHeadsShapedReluPreLayer", AttentionSpec::SHAPED, false, 2, false,
                     MlpSpec::SHAPED_RELU, ModelSpec::PRE_LAYER, 4, 6, 4},
        GradientCase{"CausalShapedLinearPostRms", AttentionSpec::SHAPED, true, 1, false,
                     MlpSpec::LINEAR, ModelSpec::POST_RMS, 5, 4, 6},
        GradientCase{"UniformGeluPostLayer", AttentionSpec::UNIFORM, false, 1, false,
                     MlpSpec::GELU, ModelSpec::POST_LAYER, 4, 4, 4},
        GradientCase{"CausalUniformTwoHeadsTanhPreRms", AttentionSpec::UNIFORM, true, 2, false,
                     MlpSpec::TANH, ModelSpec::PRE_RMS, 6, 6, 6},
        GradientCase{"IdentityShapedReluPostRms", AttentionSpec::IDENTITY, false, 1, true,
                     MlpSpec::SHAPED_RELU, ModelSpec::POST_RMS, 4, 4, 5},
        GradientCase{"SoftmaxOnlyPostRms", AttentionSpec::SOFTMAX, false, 2, true, MlpSpec::NONE,
                     ModelSpec::POST_RMS, 6, 4, 4},
        GradientCase{"ShapedOnlyNoNorm", AttentionSpec::SHAPED, true, 1, false, MlpSpec::NONE,
                     ModelSpec::NONE, 4, 4, 4},
        GradientCase{"MlpOnlyTanhPostLayer", AttentionSpec::NONE, false, 1, false, MlpSpec::TANH,
                     ModelSpec::POST_LAYER, 5, 5, 3},
        // Issue 15's attention functions, masks, norms and blocks.
        GradientCase{"SigmoidBiasPreRms", AttentionSpec::SIGMOID, false, 1, false, MlpSpec::RELU,
                     ModelSpec::PRE_RMS, 4, 4, 4,
                     [](ModelSpec* s) { s->mutable_attention()->set_bias(-0.5); }},
        GradientCase{"CausalReluWindowPostLayer", AttentionSpec::RELU, true, 1, false,
                     MlpSpec::GELU, ModelSpec::POST_LAYER, 5, 4, 4,
                     [](ModelSpec* s) {
                       s->mutable_attention()->set_window(1);
                       s->mutable_attention()->set_relu_power(0.5);
                     }},
        GradientCase{"SoftmaxQkRmsAlibiTwoHeads", AttentionSpec::SOFTMAX, false, 2, true,
                     MlpSpec::RELU, ModelSpec::PRE_LAYER, 6, 6, 4,
                     [](ModelSpec* s) {
                       s->mutable_attention()->set_qk_norm(AttentionSpec::QkNorm::RMS);
                       s->mutable_attention()->set_alibi(true);
                     }},
        GradientCase{"SigmoidQkLayerTwoSidedWindow", AttentionSpec::SIGMOID, false, 1, false,
                     MlpSpec::TANH, ModelSpec::NONE, 4, 6, 4,
                     [](ModelSpec* s) {
                       s->mutable_attention()->set_qk_norm(AttentionSpec::QkNorm::LAYER);
                       s->mutable_attention()->set_window(1);
                     }},
        GradientCase{"MatrixSkipIdentityValuesTwoHeads", AttentionSpec::SOFTMAX, true, 2, false,
                     MlpSpec::RELU, ModelSpec::PRE_RMS, 6, 4, 4,
                     [](ModelSpec* s) {
                       s->mutable_attention()->set_identity_gain(0.8);
                       s->mutable_attention()->set_attention_gain(1.2);
                       s->mutable_attention()->set_centre_gain(0.5);
                       s->mutable_attention()->set_identity_values(true);
                     }},
        GradientCase{"ParallelPreLayer", AttentionSpec::SOFTMAX, false, 1, false, MlpSpec::GELU,
                     ModelSpec::PRE_LAYER, 5, 5, 4, [](ModelSpec* s) { s->set_parallel(true); }},
        GradientCase{"ParallelShapedPostRms", AttentionSpec::SHAPED, true, 2, true,
                     MlpSpec::TANH, ModelSpec::POST_RMS, 4, 4, 6,
                     [](ModelSpec* s) { s->set_parallel(true); }},
        // Issue 21's language-model blocks (SPEC §2b).
        GradientCase{"LlamaGqaRopeSwigluEpsAbsoluteInit", AttentionSpec::SOFTMAX, true, 4, true,
                     MlpSpec::SWIGLU, ModelSpec::PRE_RMS, 8, 0, 5,
                     [](ModelSpec* s) {
                       s->set_kv_heads(2);
                       s->set_head_dim(3);
                       s->mutable_attention()->mutable_rope()->set_theta(100.0);
                       s->set_norm_eps(1e-3);
                       s->mutable_init()->set_weight_std(0.3);
                     }},
        GradientCase{"GemmaMqaSoftcapPeriInterleavedPartialRope", AttentionSpec::SOFTMAX, true,
                     2, true, MlpSpec::GEGLU_TANH, ModelSpec::PERI_RMS, 6, 0, 4,
                     [](ModelSpec* s) {
                       s->set_kv_heads(1);
                       s->set_head_dim(4);
                       s->mutable_attention()->set_logit_softcap(0.8);
                       s->mutable_attention()->mutable_rope()->set_fraction(0.5);
                       s->mutable_attention()->mutable_rope()->set_interleaved(true);
                       s->mutable_init()->set_weight_std(0.4);
                       s->mutable_init()->set_residual_projection_std(0.2);
                       s->mutable_init()->set_embedding_multiplier(2.0);
                     }},
        GradientCase{"OlmoOutputNormProjectionQkNorm", AttentionSpec::SOFTMAX, true, 2, true,
                     MlpSpec::SWIGLU, ModelSpec::OUTPUT_RMS, 6, 6, 4,
                     [](ModelSpec* s) {
                       s->mutable_attention()->set_qk_norm(AttentionSpec::QkNorm::RMS);
                       s->mutable_attention()->set_qk_norm_scope(AttentionSpec::PROJECTION);
                       s->mutable_attention()->mutable_rope();
                     }},
        GradientCase{"LayerNormScalingGroupedQkLayerGeglu", AttentionSpec::SOFTMAX, false, 2,
                     false, MlpSpec::GEGLU, ModelSpec::PERI_LAYER, 6, 6, 4,
                     [](ModelSpec* s) {
                       s->set_kv_heads(1);
                       s->set_layer_norm_scaling(true);
                       s->mutable_attention()->set_qk_norm(AttentionSpec::QkNorm::LAYER);
                     }},
        GradientCase{"GeluTanhOutputLayer", AttentionSpec::SOFTMAX, true, 1, false,
                     MlpSpec::GELU_TANH, ModelSpec::OUTPUT_LAYER, 5, 5, 4, nullptr}),
    [](const ::testing::TestParamInfo<GradientCase>& info) { return info.param.name; });

// The norms SampleDense reports come from weights regenerated from the layer streams; they must be
// exactly those of the explicit-weight backward pass on the same draws.
TEST(DenseSamplerTest, ReportedGradientsMatchExplicitWeights) {
  const ModelPlan plan = GradientPlan({"", AttentionSpec::SOFTMAX, true, 2, true, MlpSpec::GELU,
                                       ModelSpec::PRE_LAYER, 8, 6, 10});
  const SampleCoordinates at{5, 3, 11};
  RecordingObserver obs;
  ASSERT_TRUE(SampleDense(plan, at, true, obs).ok());

  RandomStream input_stream(at.seed, at.point, at.sample, kInputLayer);
  const Matrix x0 = *DenseInput(plan, input_stream);
  RandomStream loss_stream(at.seed, at.point, at.sample, kLossLayer);
  const LossTargets targets = DrawLossTargets(plan, loss_stream);
  const std::vector<LayerWeights> weights = DrawAllWeights(plan, at);
  const std::vector<LayerWeights> grads = BackpropagatedGradients(plan, x0, weights, targets);
  const std::vector<Matrix> inputs = ForwardInputs(plan, x0, weights);

  ASSERT_EQ(obs.gradients.size(), static_cast<size_t>(plan.depth) + 1);
  for (int l = 1; l <= plan.depth; ++l) {
    const GradientNorms& g = obs.gradients.at(l);
    EXPECT_EQ(g.wq, grads[l - 1].wq.norm());
    EXPECT_EQ(g.wk, grads[l - 1].wk.norm());
    EXPECT_EQ(g.wv, grads[l - 1].wv.norm());
    EXPECT_EQ(g.w1, grads[l - 1].w1.norm());
    EXPECT_EQ(g.w2, grads[l - 1].w2.norm());
    EXPECT_GT(g.wq, 0.0);
    const Matrix v = inputs[l] * inputs[l].transpose() / plan.width;
    EXPECT_LT((obs.covariances.at(l) - v).norm(), 1e-12 * v.norm());
  }
}

// ---------------------------------------------------------------------------------------------
// Input.

// X_0 X_0ᵀ/n = V_0 exactly, and O is Haar: E O_11 = 0. O_11 = X_0(0,0) / (sqrt(n) L_11) has
// variance 1/n, so over N = 2000 samples at n = 16 its mean has standard error 1/sqrt(nN) = 0.0056;
// the tolerance is 4 SE (two-sided false-alarm rate 6e-5). A Householder QR without the sign fix
// gives O_11 = −|g_11|/‖g_1‖, E O_11 ≈ −sqrt(2/(πn)) ≈ −0.2, 35 SE away.
TEST(DenseSamplerTest, InputHasExactCovarianceAndHaarRotation) {
  ModelSpec s = BaseSpec(4, 16, 0);
  s.mutable_attention()->set_kind(AttentionSpec::NONE);
  s.mutable_mlp()->set_activation(MlpSpec::NONE);
  s.mutable_initial()->set_rho0(0.3);
  const ModelPlan plan = ResolveModel(s);
  const double l11 = std::sqrt(plan.v0(0, 0));
  const int samples = 2000;
  double sum = 0.0;
  for (int i = 0; i < samples; ++i) {
    RecordingObserver obs;
    ASSERT_TRUE(SampleDense(plan, {8, 0, static_cast<uint32_t>(i)}, false, obs).ok());
    EXPECT_LT((obs.covariances.at(0) - plan.v0).cwiseAbs().maxCoeff(), 1e-12);
    RandomStream stream(8, 0, static_cast<uint32_t>(i), kInputLayer);
    sum += (*DenseInput(plan, stream))(0, 0) / (std::sqrt(16.0) * l11);
  }
  EXPECT_NEAR(sum / samples, 0.0, 4 * std::sqrt(1.0 / (16.0 * samples)));
}

TEST(DenseSamplerTest, RejectsUnsampleablePlans) {
  ModelSpec s = BaseSpec(4, 3, 1);
  RecordingObserver obs;
  EXPECT_EQ(SampleDense(ResolveModel(s), {}, false, obs).code(),
            absl::StatusCode::kInvalidArgument);
  s.set_width(8);
  s.mutable_initial()->set_rho0(1.5);  // Indefinite V_0.
  EXPECT_EQ(SampleDense(ResolveModel(s), {}, false, obs).code(),
            absl::StatusCode::kInvalidArgument);
  s.mutable_initial()->set_rho0(0.0);
  s.set_heads(3);
  EXPECT_EQ(SampleDense(ResolveModel(s), {}, false, obs).code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// SPEC §7.1 closed forms.

// Uniform attention, λ = γ = 1: E[V' | V] = V + v̄ 11ᵀ, v̄ = 1ᵀV1/m² (SPEC §5), so E V_d is the
// d-fold map applied to V_0. Each of the 10 distinct entries of the Monte Carlo mean over
// N = 4000 samples must lie within 4 standard errors: per entry the two-sided false-alarm rate is
// 6.3e-5 (CLT), 6.3e-4 for the 10 entries together (Bonferroni).
TEST(DenseSamplerTest, UniformAttentionMeanMatchesRecursion) {
  ModelSpec s = BaseSpec(4, 16, 3);
  s.mutable_attention()->set_kind(AttentionSpec::UNIFORM);
  s.mutable_mlp()->set_activation(MlpSpec::NONE);
  s.set_norm(ModelSpec::NONE);
  s.mutable_initial()->set_rho0(0.3);
  const ModelPlan plan = ResolveModel(s);

  Matrix expected = plan.v0;
  const Matrix ones = Matrix::Ones(4, 4);
  for (int l = 0; l < plan.depth; ++l) expected += (expected.sum() / 16.0) * ones;

  const EntryMoments mc = MonteCarloFinalCovariance(plan, 4000, 31);
  for (int i = 0; i < 4; ++i) {
    for (int j = i; j < 4; ++j) {
      EXPECT_NEAR(mc.mean(i, j), expected(i, j), 4 * mc.standard_error(i, j))
          << "entry " << i << "," << j;
    }
  }
  // The recursion is far from V_0 here, so agreement is informative: it more than doubles.
  EXPECT_GT(expected(0, 1), 2 * plan.v0(0, 1));
}

// Identity attention and a LINEAR MLP with λ² + γ² = 1 preserve E V (E[V'|V] = λ²V + γ²V): the
// 10 distinct entries of E V_3 over N = 4000 samples within 4 SE (false-alarm rate 6.3e-4 in all,
// as above).
TEST(DenseSamplerTest, LinearBlocksWithUnitSumPreserveMeanCovariance) {
  ModelSpec s = BaseSpec(4, 16, 3);
  s.set_residual(ModelSpec::UNIT_SUM);
  s.set_heads(2);
  s.mutable_attention()->set_kind(AttentionSpec::IDENTITY);
  s.mutable_attention()->set_branch_scale(0.6);
  s.mutable_mlp()->set_activation(MlpSpec::LINEAR);
  s.mutable_mlp()->set_hidden_width(8);
  s.mutable_initial()->set_rho0(0.3);
  const ModelPlan plan = ResolveModel(s);
  ASSERT_NEAR(plan.attention.skip, 0.8, 1e-15);

  const EntryMoments mc = MonteCarloFinalCovariance(plan, 4000, 32);
  for (int i = 0; i < 4; ++i) {
    for (int j = i; j < 4; ++j) {
      EXPECT_NEAR(mc.mean(i, j), plan.v0(i, j), 4 * mc.standard_error(i, j))
          << "entry " << i << "," << j;
    }
  }
}

// Post-norm RMSNorm and LayerNorm leave every token with ‖x‖²/n = 1: diag V = 1 at every layer,
// whatever the weights (a deterministic identity, checked to 1e-12).
TEST(DenseSamplerTest, PostNormGivesUnitDiagonalAtEveryLayer) {
  for (ModelSpec::Norm norm : {ModelSpec::POST_RMS, ModelSpec::POST_LAYER}) {
    ModelSpec s = BaseSpec(5, 32, 6);
    s.set_norm(norm);
    s.mutable_attention()->set_kind(AttentionSpec::SOFTMAX);
    s.mutable_mlp()->set_activation(MlpSpec::RELU);
    s.mutable_initial()->set_rho0(0.2);
    const ModelPlan plan = ResolveModel(s);
    for (uint32_t sample = 0; sample < 5; ++sample) {
      RecordingObserver obs;
      ASSERT_TRUE(SampleDense(plan, {3, 0, sample}, true, obs).ok());
      ASSERT_EQ(obs.covariances.size(), 7u);
      for (int l = 1; l <= plan.depth; ++l) {
        EXPECT_LT((obs.covariances.at(l).diagonal().array() - 1.0).abs().maxCoeff(), 1e-12)
            << "norm " << norm << " layer " << l;
      }
    }
  }
}

// Rank collapse (SPEC §7.1, paper A): when all token rows are equal, Q Kᵀ has equal entries in
// each row, the softmax is (causal) uniform whatever W_Q, W_K are, dL/dA_ij = dC_i·v_j does not
// depend on j, so dL/dS = 0 and dL/dW_Q = dL/dW_K = 0 to rounding, while dL/dW_V is not small.
// Rows stay equal through every block, so this holds at every layer.
TEST(DenseSamplerTest, CollapsedInputGivesZeroQueryKeyGradients) {
  for (AttentionSpec::Kind kind : {AttentionSpec::SOFTMAX, AttentionSpec::SHAPED}) {
    for (bool causal : {false, true}) {
      ModelSpec s = BaseSpec(4, 8, 3);
      s.set_heads(2);
      s.set_norm(ModelSpec::POST_LAYER);
      s.mutable_attention()->set_kind(kind);
      s.mutable_attention()->set_causal(causal);
      s.mutable_mlp()->set_activation(MlpSpec::GELU);
      const ModelPlan plan = ResolveModel(s);
      RandomStream row_stream(1, 0, 0, 0);
      RowVector row(8);
      row_stream.FillGaussian(row.data(), 8);
      const Matrix x0 = row.replicate(4, 1);
      RandomStream loss_stream(1, 0, 0, kLossLayer);
      const LossTargets targets = DrawLossTargets(plan, loss_stream);
      const std::vector<LayerWeights> grads =
          BackpropagatedGradients(plan, x0, DrawAllWeights(plan, {1, 0, 0}), targets);
      for (int l = 0; l < plan.depth; ++l) {
        SCOPED_TRACE("kind " + std::to_string(kind) + " causal " + std::to_string(causal) +
                     " layer " + std::to_string(l + 1));
        EXPECT_GT(grads[l].wv.norm(), 1e-3);
        EXPECT_LT(grads[l].wq.norm(), 1e-12 * grads[l].wv.norm());
        EXPECT_LT(grads[l].wk.norm(), 1e-12 * grads[l].wv.norm());
      }
    }
  }
}

// The causal centring choice: with zero logits the causal softmax is the causal uniform matrix, so
// causal SHAPED attention is exactly the identity (f = Y W_V/sqrt(n)) and causal UNIFORM averages
// each token over its prefix.
TEST(DenseBlocksTest, CausalShapedIsIdentityAtZeroLogits) {
  ModelSpec s = BaseSpec(4, 6, 1);
  s.mutable_attention()->set_kind(AttentionSpec::SHAPED);
  s.mutable_attention()->set_causal(true);
  s.mutable_mlp()->set_activation(MlpSpec::NONE);
  ModelPlan plan = ResolveModel(s);
  LayerWeights w = DrawAllWeights(plan, {4, 0, 0})[0];
  w.wq.setZero();
  RandomStream stream(4, 0, 0, kInputLayer);
  const Matrix y = *DenseInput(plan, stream);
  AttentionCache cache;
  Matrix f;
  AttentionForward(plan, w, y, &cache, &f);
  const Matrix values = y * w.wv / std::sqrt(6.0);
  EXPECT_LT((f - values).cwiseAbs().maxCoeff(), 1e-12);

  plan.attention.kind = AttentionKind::kUniform;
  AttentionForward(plan, w, y, &cache, &f);
  for (int i = 0; i < 4; ++i) {
    const RowVector prefix_mean = values.topRows(i + 1).colwise().mean();
    EXPECT_LT((f.row(i) - prefix_mean).cwiseAbs().maxCoeff(), 1e-12) << "token " << i;
  }
}

// Causal SOFTMAX with random logits: every A_h is lower triangular with unit row sums, so token i
// reads only tokens j ≤ i (the finite-difference tests cannot see a missing mask: the forward and
// backward passes would agree on the wrong model).
TEST(DenseBlocksTest, CausalSoftmaxAttendsOnlyToThePast) {
  ModelSpec s = BaseSpec(5, 8, 1);
  s.set_heads(2);
  s.mutable_attention()->set_kind(AttentionSpec::SOFTMAX);
  s.mutable_attention()->set_causal(true);
  s.mutable_attention()->set_tau(0.5);
  s.mutable_mlp()->set_activation(MlpSpec::NONE);
  const ModelPlan plan = ResolveModel(s);
  const LayerWeights w = DrawAllWeights(plan, {6, 0, 0})[0];
  RandomStream stream(6, 0, 0, kInputLayer);
  const Matrix y = *DenseInput(plan, stream);
  AttentionCache cache;
  Matrix f;
  AttentionForward(plan, w, y, &cache, &f);
  ASSERT_EQ(cache.a.size(), 2u);
  for (const Matrix& a : cache.a) {
    EXPECT_LT((a.rowwise().sum().array() - 1.0).abs().maxCoeff(), 1e-14);
    for (int i = 0; i < 5; ++i) {
      EXPECT_GT(a.row(i).head(i + 1).minCoeff(), 0.0) << "row " << i;
      for (int j = i + 1; j < 5; ++j) EXPECT_EQ(a(i, j), 0.0) << "entry " << i << "," << j;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Determinism, cancellation, divergence.

ModelPlan SmallTransformer() {
  ModelSpec s = BaseSpec(4, 16, 4);
  s.set_preset(ModelSpec::PAPER_A_STANDARD);
  s.mutable_initial()->set_rho0(0.1);
  return ResolveModel(s);
}

TEST(DenseSamplerTest, SameCoordinatesGiveIdenticalBytes) {
  const ModelPlan plan = SmallTransformer();
  RecordingObserver a, b, other;
  ASSERT_TRUE(SampleDense(plan, {9, 2, 5}, true, a).ok());
  ASSERT_TRUE(SampleDense(plan, {9, 2, 5}, true, b).ok());
  ASSERT_TRUE(SampleDense(plan, {9, 2, 6}, true, other).ok());
  ASSERT_EQ(a.covariances.size(), 5u);
  for (int l = 0; l <= plan.depth; ++l) {
    const Matrix& va = a.covariances.at(l);
    const Matrix& vb = b.covariances.at(l);
    EXPECT_EQ(std::memcmp(va.data(), vb.data(), sizeof(double) * va.size()), 0) << "layer " << l;
    if (l > 0) EXPECT_GT((va - other.covariances.at(l)).norm(), 1e-6) << "layer " << l;
  }
  for (int l = 1; l <= plan.depth; ++l) {
    EXPECT_EQ(std::memcmp(&a.gradients.at(l), &b.gradients.at(l), sizeof(GradientNorms)), 0);
    EXPECT_NE(a.gradients.at(l).wq, other.gradients.at(l).wq);
  }
}

// V_0 always; then only the layers the observer wants, bitwise equal to the full record.
TEST(DenseSamplerTest, ReportsOnlyWantedLayers) {
  const ModelPlan plan = SmallTransformer();
  RecordingObserver all, even(-1, 2);
  ASSERT_TRUE(SampleDense(plan, {9, 0, 1}, false, all).ok());
  ASSERT_TRUE(SampleDense(plan, {9, 0, 1}, false, even).ok());
  ASSERT_EQ(even.covariances.size(), 3u);
  for (const auto& [layer, v] : even.covariances) {
    EXPECT_EQ(layer % 2, 0);
    EXPECT_EQ(v, all.covariances.at(layer)) << "layer " << layer;
  }
}

TEST(DenseSamplerTest, CancellationReturnsCancelled) {
  const ModelPlan plan = SmallTransformer();
  RecordingObserver at_start(0);
  EXPECT_EQ(SampleDense(plan, {1, 0, 0}, true, at_start).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(at_start.covariances.size(), 1u);  // Only V_0.
  // The forward pass polls once per layer (depth polls); poll depth + 1 is the first backward one.
  RecordingObserver in_backward(plan.depth);
  EXPECT_EQ(SampleDense(plan, {1, 0, 0}, true, in_backward).code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(in_backward.covariances.size(), static_cast<size_t>(plan.depth) + 1);
  EXPECT_TRUE(in_backward.gradients.empty());
}

// λ = γ = 1e4: V grows by about λ² + γ² = 2e8 per layer, past 1e12 at layer 2.
TEST(DenseSamplerTest, DivergenceIsReportedAndStopsTheSample) {
  ModelSpec s = BaseSpec(4, 16, 10);
  s.mutable_attention()->set_kind(AttentionSpec::IDENTITY);
  s.mutable_attention()->set_skip_scale(1e4);
  s.mutable_attention()->set_branch_scale(1e4);
  s.mutable_mlp()->set_activation(MlpSpec::NONE);
  const ModelPlan plan = ResolveModel(s);
  RecordingObserver obs;
  ASSERT_TRUE(SampleDense(plan, {2, 0, 0}, true, obs).ok());
  EXPECT_EQ(obs.diverged_at, 2);
  EXPECT_EQ(obs.covariances.size(), 2u);  // V_0 and V_1.
  EXPECT_TRUE(obs.gradients.empty());
}

}  // namespace
}  // namespace sigprop
