#include "common/model_plan.h"

#include <algorithm>
#include <cmath>

namespace sigprop {
namespace {

using v1::AttentionSpec;
using v1::MlpSpec;
using v1::ModelSpec;

constexpr double kHalfRoot = 0.70710678118654752440;  // sqrt(1/2): γ² = ½.

void FillShapedAttention(AttentionSpec* a) {
  if (a->kind() == AttentionSpec::KIND_UNSPECIFIED) a->set_kind(AttentionSpec::SHAPED);
  if (!a->has_tau0()) a->set_tau0(1.0);
  if (!a->has_branch_scale()) a->set_branch_scale(kHalfRoot);
}

void FillShapedMlp(MlpSpec* mlp) {
  if (mlp->activation() == MlpSpec::ACTIVATION_UNSPECIFIED) {
    mlp->set_activation(MlpSpec::SHAPED_RELU);
    if (mlp->c_plus() == 0.0 && mlp->c_minus() == 0.0) mlp->set_c_minus(-1.0);
  }
  if (!mlp->has_branch_scale()) mlp->set_branch_scale(kHalfRoot);
}

void FillShaped(ModelSpec* s, bool attention, bool mlp) {
  if (s->norm() == ModelSpec::NORM_UNSPECIFIED) s->set_norm(ModelSpec::NONE);
  if (s->residual() == ModelSpec::RESIDUAL_UNSPECIFIED) s->set_residual(ModelSpec::UNIT_SUM);
  if (attention) {
    FillShapedAttention(s->mutable_attention());
  } else if (s->attention().kind() == AttentionSpec::KIND_UNSPECIFIED) {
    s->mutable_attention()->set_kind(AttentionSpec::NONE);
  }
  if (mlp) {
    FillShapedMlp(s->mutable_mlp());
  } else if (s->mlp().activation() == MlpSpec::ACTIVATION_UNSPECIFIED) {
    s->mutable_mlp()->set_activation(MlpSpec::NONE);
  }
}

void FillPaperA(ModelSpec* s, bool scaled) {
  if (s->attention().kind() == AttentionSpec::KIND_UNSPECIFIED) {
    s->mutable_attention()->set_kind(AttentionSpec::SOFTMAX);
  }
  if (s->mlp().activation() == MlpSpec::ACTIVATION_UNSPECIFIED) {
    s->mutable_mlp()->set_activation(MlpSpec::RELU);
  }
  if (s->norm() == ModelSpec::NORM_UNSPECIFIED) s->set_norm(ModelSpec::POST_LAYER);
  if (s->residual() == ModelSpec::RESIDUAL_UNSPECIFIED) {
    s->set_residual(scaled ? ModelSpec::DEPTH_SCALED : ModelSpec::EXPLICIT);
  }
}

// He & Hofmann's simplified block (arXiv 2311.01906), sequential or parallel.
void FillSimplified(ModelSpec* s, bool parallel) {
  AttentionSpec* a = s->mutable_attention();
  if (a->kind() == AttentionSpec::KIND_UNSPECIFIED) a->set_kind(AttentionSpec::SOFTMAX);
  if (!a->has_identity_gain()) a->set_identity_gain(1.0);
  if (!a->has_attention_gain()) a->set_attention_gain(1.0);
  if (!a->has_centre_gain()) a->set_centre_gain(1.0);
  a->set_identity_values(true);
  if (!a->has_skip_scale()) a->set_skip_scale(0.0);
  if (!a->has_branch_scale()) a->set_branch_scale(1.0);
  MlpSpec* mlp = s->mutable_mlp();
  if (mlp->activation() == MlpSpec::ACTIVATION_UNSPECIFIED) mlp->set_activation(MlpSpec::RELU);
  if (!mlp->has_branch_scale()) mlp->set_branch_scale(1.0);
  if (!mlp->has_skip_scale()) mlp->set_skip_scale(parallel ? 0.0 : 1.0);
  if (s->norm() == ModelSpec::NORM_UNSPECIFIED) s->set_norm(ModelSpec::PRE_RMS);
  if (s->residual() == ModelSpec::RESIDUAL_UNSPECIFIED) s->set_residual(ModelSpec::EXPLICIT);
  if (parallel) s->set_parallel(true);
}

// Depth-µP: 1/n_k logits (per head), 1/sqrt(depth) branches, pre-LayerNorm.
void FillDepthMup(ModelSpec* s) {
  AttentionSpec* a = s->mutable_attention();
  if (a->kind() == AttentionSpec::KIND_UNSPECIFIED) a->set_kind(AttentionSpec::SOFTMAX);
  if (!a->has_tau() && !a->has_tau0()) {
    const int heads = s->heads() > 0 ? s->heads() : 1;
    const int key_width = s->key_width() > 0 ? s->key_width() : s->width();
    a->set_tau(static_cast<double>(key_width) / heads);
  }
  if (s->mlp().activation() == MlpSpec::ACTIVATION_UNSPECIFIED) {
    s->mutable_mlp()->set_activation(MlpSpec::RELU);
  }
  if (s->norm() == ModelSpec::NORM_UNSPECIFIED) s->set_norm(ModelSpec::PRE_LAYER);
  if (s->residual() == ModelSpec::RESIDUAL_UNSPECIFIED) s->set_residual(ModelSpec::DEPTH_SCALED);
}

// λ, γ of one block under the model's residual mode (SPEC §2 "Residual scaling").
void ResolveScales(const ModelSpec& s, bool has_branch, double branch, bool has_skip, double skip,
                   double* lambda, double* gamma) {
  switch (s.residual()) {
    case ModelSpec::UNIT_SUM:
      *gamma = has_branch ? branch : kHalfRoot;
      *lambda = std::sqrt(1.0 - *gamma * *gamma);
      return;
    case ModelSpec::DEPTH_SCALED:
      *gamma = (s.has_alpha() ? s.alpha() : 1.0) / std::sqrt(static_cast<double>(s.depth()));
      *lambda = 1.0;
      return;
    default:
      *gamma = has_branch ? branch : 1.0;
      *lambda = has_skip ? skip : 1.0;
      return;
  }
}

AttentionKind ToKind(AttentionSpec::Kind kind) {
  switch (kind) {
    case AttentionSpec::UNIFORM: return AttentionKind::kUniform;
    case AttentionSpec::SHAPED: return AttentionKind::kShaped;
    case AttentionSpec::IDENTITY: return AttentionKind::kIdentity;
    case AttentionSpec::NONE: return AttentionKind::kNone;
    case AttentionSpec::SIGMOID: return AttentionKind::kSigmoid;
    case AttentionSpec::RELU: return AttentionKind::kRelu;
    default: return AttentionKind::kSoftmax;
  }
}

ActivationKind ToKind(MlpSpec::Activation activation) {
  switch (activation) {
    case MlpSpec::SHAPED_RELU: return ActivationKind::kShapedRelu;
    case MlpSpec::LINEAR: return ActivationKind::kLinear;
    case MlpSpec::GELU: return ActivationKind::kGelu;
    case MlpSpec::TANH: return ActivationKind::kTanh;
    case MlpSpec::NONE: return ActivationKind::kNone;
    case MlpSpec::GELU_TANH: return ActivationKind::kGeluTanh;
    case MlpSpec::SWIGLU: return ActivationKind::kSilu;
    case MlpSpec::GEGLU: return ActivationKind::kGelu;
    case MlpSpec::GEGLU_TANH: return ActivationKind::kGeluTanh;
    default: return ActivationKind::kRelu;
  }
}

// V_0 = (σ_e² + σ_p²)·s²·I for m distinct tokens with fresh embedding draws (SPEC §2b); unit
// rows where the family normalises its embeddings.
double EmbeddingVariance(const ModelSpec::Init& init) {
  if (init.normalised_embeddings()) return 1.0;
  const double e = init.has_embedding_std() ? init.embedding_std() : init.weight_std();
  const double p = init.position_embedding_std();
  const double s = init.has_embedding_multiplier() ? init.embedding_multiplier() : 1.0;
  return (e * e + p * p) * s * s;
}

// Every weight N(0, σ²) in absolute terms: B W = σ sqrt(n_in)·(B W'/sqrt(n_in)) with W' iid
// N(0, 1), so each product's gain is σ times the root of its fan-in, and the MLP has no c.
void ResolveAbsoluteInit(const ModelSpec& s, ModelPlan* p) {
  const ModelSpec::Init& init = s.init();
  const double sigma = init.weight_std();
  const double residual =
      init.has_residual_projection_std() ? init.residual_projection_std() : sigma;
  const double root_n = std::sqrt(static_cast<double>(p->width));
  p->absolute_init = true;
  p->attention.qk_gain = sigma * root_n;
  p->attention.v_gain = sigma * root_n;
  p->attention.o_gain = residual * std::sqrt(static_cast<double>(p->heads * p->value_cols));
  p->mlp.in_gain = sigma * root_n;
  p->mlp.out_gain = residual * std::sqrt(static_cast<double>(p->mlp.hidden));
}

}  // namespace

NormPlacement PlacementOf(ModelSpec::Norm norm) {
  switch (norm) {
    case ModelSpec::POST_RMS:
    case ModelSpec::POST_LAYER: return NormPlacement::kPost;
    case ModelSpec::PERI_RMS:
    case ModelSpec::PERI_LAYER: return NormPlacement::kPeri;
    case ModelSpec::OUTPUT_RMS:
    case ModelSpec::OUTPUT_LAYER: return NormPlacement::kOutput;
    default: return NormPlacement::kPre;
  }
}

bool IsGatedMlp(MlpSpec::Activation activation) {
  return activation == MlpSpec::SWIGLU || activation == MlpSpec::GEGLU ||
         activation == MlpSpec::GEGLU_TANH;
}

std::string LanguageModelField(const ModelPlan& p) {
  const AttentionPlan& a = p.attention;
  if (p.absolute_init) return "init";
  if (p.attention.enabled()) {
    if (a.rope.on) return "attention.rope";
    if (a.softcap > 0.0) return "attention.logit_softcap";
    if (a.qk_norm_projection) return "attention.qk_norm_scope";
    if (p.kv_heads != p.heads) return "kv_heads";
    // (A plan built by hand, as some tests do, leaves the head widths 0: derived, not custom.)
    if ((p.query_cols != 0 && p.query_cols * p.heads != p.key_width) ||
        (p.value_cols != 0 && p.value_cols * p.heads != p.width)) {
      return "head_dim";
    }
  }
  if (p.mlp.enabled() && p.mlp.gated) return "mlp.activation";
  if (p.placement == NormPlacement::kPeri || p.placement == NormPlacement::kOutput) return "norm";
  if (p.norm_eps != 0.0) return "norm_eps";
  if (p.layer_norm_scaling) return "layer_norm_scaling";
  return "";
}

ModelSpec ApplyPreset(const ModelSpec& spec) {
  ModelSpec s = spec;
  switch (spec.preset()) {
    case ModelSpec::PAPER_A_STANDARD: FillPaperA(&s, false); break;
    case ModelSpec::PAPER_A_SCALED: FillPaperA(&s, true); break;
    case ModelSpec::SHAPED_TRANSFORMER: FillShaped(&s, true, true); break;
    case ModelSpec::SHAPED_ATTENTION_ONLY: FillShaped(&s, true, false); break;
    case ModelSpec::SHAPED_MLP_ONLY: FillShaped(&s, false, true); break;
    case ModelSpec::SIMPLIFIED_SAS: FillSimplified(&s, false); break;
    case ModelSpec::SIMPLIFIED_SAS_P: FillSimplified(&s, true); break;
    case ModelSpec::DEPTH_MUP: FillDepthMup(&s); break;
    default: break;
  }
  return s;
}

ModelPlan ResolveModel(const ModelSpec& spec) {
  const ModelSpec s = ApplyPreset(spec);
  ModelPlan p;
  p.tokens = s.tokens();
  p.width = s.width();
  p.key_width = s.key_width() > 0 ? s.key_width() : s.width();
  p.heads = s.heads() > 0 ? s.heads() : 1;
  p.kv_heads = s.kv_heads() > 0 ? s.kv_heads() : p.heads;
  if (s.head_dim() > 0) {
    p.query_cols = p.value_cols = s.head_dim();
    p.key_width = p.heads * s.head_dim();
  } else {
    p.query_cols = p.key_width / p.heads;
    p.value_cols = p.width / p.heads;
  }
  p.depth = s.depth();

  const AttentionSpec& a = s.attention();
  p.attention.kind = ToKind(a.kind());
  p.attention.tau0 = a.has_tau0() ? a.tau0() : 1.0;
  p.attention.causal = a.causal();
  p.attention.output_projection = s.output_projection() || s.has_init();
  // Per head the logits sum over n_k/H key features, so the temperature uses the head's key width.
  const double head_key_width = static_cast<double>(p.key_width) / p.heads;
  if (a.has_tau()) {
    p.attention.tau = a.tau();
  } else if (p.attention.kind == AttentionKind::kShaped) {
    p.attention.tau = p.attention.tau0 * std::sqrt(static_cast<double>(p.width) * head_key_width);
  } else {
    p.attention.tau = p.attention.tau0 * std::sqrt(head_key_width);
  }
  ResolveScales(s, a.has_branch_scale(), a.branch_scale(), a.has_skip_scale(), a.skip_scale(),
                &p.attention.skip, &p.attention.branch);
  p.attention.sigmoid_bias =
      a.has_bias() ? a.bias() : -std::log(static_cast<double>(std::max(s.tokens(), 1)));
  p.attention.relu_power = a.has_relu_power() ? a.relu_power() : 1.0;
  switch (a.qk_norm()) {
    case AttentionSpec::QkNorm::RMS: p.attention.qk_norm = QkNormKind::kRms; break;
    case AttentionSpec::QkNorm::LAYER: p.attention.qk_norm = QkNormKind::kLayer; break;
    default: p.attention.qk_norm = QkNormKind::kNone; break;
  }
  p.attention.window = a.window();
  p.attention.alibi = a.alibi();
  if (a.has_identity_gain()) p.attention.identity_gain = a.identity_gain();
  if (a.has_attention_gain()) p.attention.attention_gain = a.attention_gain();
  if (a.has_centre_gain()) p.attention.centre_gain = a.centre_gain();
  p.attention.identity_values = a.identity_values();
  p.parallel = s.parallel();
  if (a.has_rope()) {
    p.attention.rope.on = true;
    p.attention.rope.theta = a.rope().has_theta() ? a.rope().theta() : 10000.0;
    const double fraction = a.rope().has_fraction() ? a.rope().fraction() : 1.0;
    p.attention.rope.rotated = 2 * static_cast<int>(std::floor(fraction * p.query_cols / 2.0));
    p.attention.rope.interleaved = a.rope().interleaved();
  }
  p.attention.softcap = a.has_logit_softcap() ? a.logit_softcap() : 0.0;
  p.attention.qk_norm_projection = a.qk_norm_scope() == AttentionSpec::PROJECTION;

  const MlpSpec& m = s.mlp();
  p.mlp.c_plus = m.c_plus();
  p.mlp.c_minus = m.c_minus();
  p.mlp.hidden = m.hidden_width() > 0 ? m.hidden_width() : s.width();
  p.mlp.activation = MakeActivation(ToKind(m.activation()), m.c_plus(), m.c_minus(), s.width());
  p.mlp.kernel_sampling = m.mlp_sampling() == MlpSpec::KERNEL;
  p.mlp.gated = IsGatedMlp(m.activation());
  p.mlp.in_gain = 1.0;
  p.mlp.out_gain = std::sqrt(p.mlp.activation.c);
  ResolveScales(s, m.has_branch_scale(), m.branch_scale(), m.has_skip_scale(), m.skip_scale(),
                &p.mlp.skip, &p.mlp.branch);

  switch (s.norm()) {
    case ModelSpec::PRE_RMS:
    case ModelSpec::POST_RMS:
    case ModelSpec::PERI_RMS:
    case ModelSpec::OUTPUT_RMS: p.norm = NormKind::kRms; break;
    case ModelSpec::PRE_LAYER:
    case ModelSpec::POST_LAYER:
    case ModelSpec::PERI_LAYER:
    case ModelSpec::OUTPUT_LAYER: p.norm = NormKind::kLayer; break;
    default: p.norm = NormKind::kNone; break;
  }
  p.placement = PlacementOf(s.norm());
  p.norm_eps = s.norm_eps();
  p.layer_norm_scaling = s.layer_norm_scaling();
  if (s.has_init()) ResolveAbsoluteInit(s, &p);

  const int m_tokens = p.tokens;
  p.v0 = Matrix::Identity(m_tokens, m_tokens);
  if (s.has_init() && !s.has_initial()) {
    p.v0 *= EmbeddingVariance(s.init());
  } else if (s.initial().has_v0()) {
    const auto& values = s.initial().v0().values();
    for (int i = 0; i < m_tokens; ++i)
      for (int j = 0; j < m_tokens; ++j) p.v0(i, j) = values[i * m_tokens + j];
  } else {
    const double rho0 = s.initial().rho0();
    for (int i = 0; i < m_tokens; ++i)
      for (int j = 0; j < m_tokens; ++j) if (i != j) p.v0(i, j) = rho0;
  }
  return p;
}

}  // namespace sigprop
