#include "common/validate.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/engine.h"
#include "common/finite/gram_sampler.h"
#include "common/finite/sample_observer.h"
#include "common/limit/limit_map.h"
#include "common/linalg.h"
#include "common/model_plan.h"
#include "common/sde/covariance_sde.h"
#include "common/stats/covariance_stats.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace sigprop {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using v1::AttentionSpec;
using v1::MlpSpec;
using v1::ModelSpec;
using v1::RunSpec;

absl::Status Bad(const std::string& path, const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ".", field, ": ", what));
}

bool NeedsFiniteWidth(RunSpec::Method method) {
  return method == RunSpec::METHOD_UNSPECIFIED || method == RunSpec::DENSE ||
         method == RunSpec::COLUMNS || method == RunSpec::GRAM;
}

absl::Status ValidateInitial(const ModelSpec& s, const std::string& path) {
  const int m = s.tokens();
  if (s.initial().has_v0()) {
    const auto& values = s.initial().v0().values();
    if (values.size() != static_cast<int64_t>(m) * m) {
      return Bad(path, "initial.v0.values",
                 absl::StrCat("needs tokens² = ", static_cast<int64_t>(m) * m,
                              " entries (row-major), got ", values.size()));
    }
    Matrix v(m, m);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) v(i, j) = values[i * m + j];
    for (int i = 0; i < m; ++i) {
      for (int j = i + 1; j < m; ++j) {
        if (std::abs(v(i, j) - v(j, i)) > 1e-12 * (std::abs(v(i, j)) + std::abs(v(j, i)) + 1)) {
          return Bad(path, "initial.v0.values",
                     absl::StrCat("must be symmetric; entry (", i, ",", j, ") = ", v(i, j),
                                  " but (", j, ",", i, ") = ", v(j, i)));
        }
      }
    }
    Eigen::LLT<Matrix> llt(v);
    if (llt.info() != Eigen::Success || llt.matrixLLT().diagonal().minCoeff() <= 0.0) {
      return Bad(path, "initial.v0.values", "must be positive definite (Cholesky failed)");
    }
    return absl::OkStatus();
  }
  const double rho0 = s.initial().rho0();
  const double lo = -1.0 / (m - 1);
  if (!(rho0 > lo && rho0 < 1.0)) {
    return Bad(path, "initial.rho0",
               absl::StrCat("must lie in (", lo, ", 1) so that V_0 is positive definite, got ",
                            rho0));
  }
  return absl::OkStatus();
}

absl::Status ValidateScales(const ModelSpec& s, const std::string& path, const std::string& block,
                            bool has_branch, double branch) {
  if (s.residual() == ModelSpec::UNIT_SUM && has_branch && std::abs(branch) > 1.0) {
    return Bad(path, block + ".branch_scale",
               absl::StrCat("must be in [-1, 1] under residual UNIT_SUM (λ = sqrt(1 − γ²)), got ",
                            branch));
  }
  return absl::OkStatus();
}

// The attention kind as validation reads it: unset is SOFTMAX; whether it reads logits; its name.
struct AttentionKindOf {
  explicit AttentionKindOf(const AttentionSpec& a)
      : kind(a.kind() == AttentionSpec::KIND_UNSPECIFIED ? AttentionSpec::SOFTMAX : a.kind()),
        logits(kind == AttentionSpec::SOFTMAX || kind == AttentionSpec::SHAPED ||
               kind == AttentionSpec::SIGMOID || kind == AttentionSpec::RELU),
        name(AttentionSpec::Kind_Name(kind)) {}
  AttentionSpec::Kind kind;
  bool logits;
  std::string name;
};

// The later literature's attention fields (issue 15): each is read by some kinds only, and a
// field the model would ignore is refused rather than silently dropped.
absl::Status ValidateAttentionKnobs(const ModelSpec& s, const std::string& path) {
  const AttentionSpec& a = s.attention();
  const AttentionKindOf k(a);
  const AttentionSpec::Kind kind = k.kind;
  const bool logits = k.logits;
  const std::string& kind_name = k.name;
  if (a.has_bias() && kind != AttentionSpec::SIGMOID) {
    return Bad(path, "attention.bias", "is read by kind SIGMOID only, got kind " + kind_name);
  }
  if (a.has_relu_power() && kind != AttentionSpec::RELU) {
    return Bad(path, "attention.relu_power", "is read by kind RELU only, got kind " + kind_name);
  }
  if (a.has_relu_power() && !(a.relu_power() >= 0.0)) {
    return Bad(path, "attention.relu_power", absl::StrCat("must be ≥ 0, got ", a.relu_power()));
  }
  if (!AttentionSpec::QkNorm::Kind_IsValid(a.qk_norm())) {
    return Bad(path, "attention.qk_norm", absl::StrCat("unknown value ", a.qk_norm()));
  }
  const bool qk_norm = a.qk_norm() == AttentionSpec::QkNorm::RMS ||
                       a.qk_norm() == AttentionSpec::QkNorm::LAYER;
  if (qk_norm && !logits) {
    return Bad(path, "attention.qk_norm",
               "normalises queries and keys, which kind " + kind_name + " does not have");
  }
  if (qk_norm && a.qk_norm() == AttentionSpec::QkNorm::LAYER) {
    const int heads = s.heads() > 0 ? s.heads() : 1;
    const int key_width = s.key_width() > 0 ? s.key_width() : s.width();
    if (key_width / heads < 2) {
      return Bad(path, "attention.qk_norm",
                 "LAYER centres each query over its head's key features and needs key_width/heads "
                 "≥ 2");
    }
  }
  if (a.window() < 0) {
    return Bad(path, "attention.window", absl::StrCat("must be ≥ 0 (0: no window), got ", a.window()));
  }
  if (a.alibi() && !logits) {
    return Bad(path, "attention.alibi", "biases the logits, which kind " + kind_name + " does not have");
  }
  if (a.identity_values() && s.output_projection()) {
    return Bad(path, "attention.identity_values",
               "W_V = I goes without W_O (the value path of a simplified block); unset "
               "output_projection");
  }
  if (s.parallel() && (kind == AttentionSpec::NONE || s.mlp().activation() == MlpSpec::NONE)) {
    return Bad(path, "parallel", "sums an attention and an MLP branch; the model lacks one");
  }
  return absl::OkStatus();
}

// Grouped-query heads and an explicit head width (SPEC §2b).
absl::Status ValidateHeadShape(const ModelSpec& s, const std::string& path, int heads) {
  if (s.kv_heads() < 0) {
    return Bad(path, "kv_heads", absl::StrCat("must be ≥ 0 (0 means heads), got ", s.kv_heads()));
  }
  if (s.kv_heads() > 0 && heads % s.kv_heads() != 0) {
    return Bad(path, "kv_heads",
               absl::StrCat("must divide heads ", heads, " (each key/value head serves a group "
                            "of query heads), got ", s.kv_heads()));
  }
  if (s.head_dim() < 0) {
    return Bad(path, "head_dim", absl::StrCat("must be ≥ 0 (0 means width/heads), got ",
                                              s.head_dim()));
  }
  const bool grouped = s.kv_heads() > 0 && s.kv_heads() != heads;
  if (s.head_dim() > 0) {
    const int64_t concat = static_cast<int64_t>(heads) * s.head_dim();
    if (s.key_width() != 0 && s.key_width() != concat) {
      return Bad(path, "key_width",
                 absl::StrCat("is heads × head_dim = ", concat, " when head_dim is set; leave it 0, "
                              "got ", s.key_width()));
    }
    if (concat != s.width() && !s.output_projection() && !s.has_init()) {
      return Bad(path, "head_dim",
                 absl::StrCat("heads × head_dim = ", concat, " differs from width ", s.width(),
                              ", so the heads need an output projection back to the width; set "
                              "output_projection (or init)"));
    }
  }
  if (s.attention().identity_values() && (grouped || s.head_dim() > 0)) {
    return Bad(path, "attention.identity_values",
               "mixes the branch input's own features per head; it needs kv_heads and head_dim "
               "unset");
  }
  return absl::OkStatus();
}

// RoPE, logit soft-capping and QK-norm's scope (SPEC §2b).
absl::Status ValidateLanguageModelAttention(const ModelSpec& s, const std::string& path) {
  const AttentionSpec& a = s.attention();
  const AttentionKindOf k(a);
  const bool logits = k.logits;
  const std::string& kind_name = k.name;
  if (a.has_rope()) {
    if (!logits) {
      return Bad(path, "attention.rope",
                 "rotates queries and keys, which kind " + kind_name + " does not have");
    }
    if (a.rope().has_theta() && !(a.rope().theta() > 0.0)) {
      return Bad(path, "attention.rope.theta", absl::StrCat("must be > 0, got ", a.rope().theta()));
    }
    if (a.rope().has_fraction() && !(a.rope().fraction() >= 0.0 && a.rope().fraction() <= 1.0)) {
      return Bad(path, "attention.rope.fraction",
                 absl::StrCat("must lie in [0, 1], got ", a.rope().fraction()));
    }
  }
  if (a.has_logit_softcap()) {
    if (!logits) {
      return Bad(path, "attention.logit_softcap",
                 "caps the logits, which kind " + kind_name + " does not have");
    }
    if (!(a.logit_softcap() > 0.0)) {
      return Bad(path, "attention.logit_softcap",
                 absl::StrCat("must be > 0 (unset: no cap), got ", a.logit_softcap()));
    }
  }
  if (!AttentionSpec::QkNormScope_IsValid(a.qk_norm_scope())) {
    return Bad(path, "attention.qk_norm_scope", absl::StrCat("unknown value ", a.qk_norm_scope()));
  }
  const bool qk_norm = a.qk_norm() == AttentionSpec::QkNorm::RMS ||
                       a.qk_norm() == AttentionSpec::QkNorm::LAYER;
  if (a.qk_norm_scope() == AttentionSpec::PROJECTION && !qk_norm) {
    return Bad(path, "attention.qk_norm_scope", "says what QK-norm normalises; set qk_norm");
  }
  return absl::OkStatus();
}

// Norm placements, ε and LayerNorm scaling (SPEC §2b).
absl::Status ValidateNormKnobs(const ModelSpec& s, const std::string& path) {
  if (!(s.norm_eps() >= 0.0)) {
    return Bad(path, "norm_eps", absl::StrCat("must be ≥ 0, got ", s.norm_eps()));
  }
  const bool has_norm = s.norm() != ModelSpec::NORM_UNSPECIFIED && s.norm() != ModelSpec::NONE;
  const NormPlacement placement = PlacementOf(s.norm());
  const bool branch_norm =
      placement == NormPlacement::kPeri || placement == NormPlacement::kOutput;
  if (branch_norm && s.parallel()) {
    return Bad(path, "norm",
               absl::StrCat(ModelSpec::Norm_Name(s.norm()),
                            " normalises each branch's output; the parallel block sums two "
                            "branches and no family combines the two (unset parallel)"));
  }
  const bool input_norm =
      has_norm && (placement == NormPlacement::kPre || placement == NormPlacement::kPeri);
  if (s.layer_norm_scaling() && !input_norm) {
    return Bad(path, "layer_norm_scaling",
               absl::StrCat("scales the pre-norm output and needs a PRE_ or PERI_ norm, got ",
                            ModelSpec::Norm_Name(s.norm())));
  }
  return absl::OkStatus();
}

// Absolute initialisation (SPEC §2b).
absl::Status ValidateInit(const ModelSpec& s, const std::string& path) {
  if (!s.has_init()) return absl::OkStatus();
  const ModelSpec::Init& init = s.init();
  if (!(init.weight_std() > 0.0)) {
    return Bad(path, "init.weight_std",
               absl::StrCat("must be > 0 (the config's initializer_range), got ",
                            init.weight_std()));
  }
  if (init.has_residual_projection_std() && !(init.residual_projection_std() > 0.0)) {
    return Bad(path, "init.residual_projection_std",
               absl::StrCat("must be > 0, got ", init.residual_projection_std()));
  }
  if (init.has_embedding_std() && !(init.embedding_std() >= 0.0)) {
    return Bad(path, "init.embedding_std", absl::StrCat("must be ≥ 0, got ", init.embedding_std()));
  }
  if (!(init.position_embedding_std() >= 0.0)) {
    return Bad(path, "init.position_embedding_std",
               absl::StrCat("must be ≥ 0, got ", init.position_embedding_std()));
  }
  if (init.has_embedding_multiplier() && !(init.embedding_multiplier() > 0.0)) {
    return Bad(path, "init.embedding_multiplier",
               absl::StrCat("must be > 0, got ", init.embedding_multiplier()));
  }
  const double e = init.has_embedding_std() ? init.embedding_std() : init.weight_std();
  if (!s.has_initial() && !init.normalised_embeddings() &&
      e == 0.0 && init.position_embedding_std() == 0.0) {
    return Bad(path, "init.embedding_std",
               "and position_embedding_std are both 0, so every token starts at 0; set one, or "
               "give initial");
  }
  const ModelSpec::Residual residual = s.residual();
  if (residual == ModelSpec::UNIT_SUM || residual == ModelSpec::DEPTH_SCALED) {
    return Bad(path, "residual",
               absl::StrCat(ModelSpec::Residual_Name(residual),
                            " rescales the branches of a normalised model; with init the code's own "
                            "scales are the weights' stds (use EXPLICIT)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateModel(const ModelSpec& spec, const RunSpec::Method method,
                           const std::string& path, const Limits& limits) {
  const ModelSpec s = ApplyPreset(spec);
  if (s.tokens() < 2) return Bad(path, "tokens", absl::StrCat("must be ≥ 2, got ", s.tokens()));
  if (s.tokens() > limits.max_tokens) {
    return absl::ResourceExhaustedError(absl::StrCat(path, ".tokens: ", s.tokens(),
                                                     " exceeds the limit ", limits.max_tokens));
  }
  if (s.width() < 1) return Bad(path, "width", absl::StrCat("must be ≥ 1, got ", s.width()));
  if (NeedsFiniteWidth(method) && s.width() < s.tokens()) {
    return Bad(path, "width",
               absl::StrCat("must be ≥ tokens (", s.tokens(),
                            ") for finite-width sampling (X_0 has orthonormal rows), got ",
                            s.width()));
  }
  if (s.key_width() < 0) {
    return Bad(path, "key_width", absl::StrCat("must be ≥ 0 (0 means width), got ", s.key_width()));
  }
  if (s.heads() < 0) return Bad(path, "heads", absl::StrCat("must be ≥ 0, got ", s.heads()));
  const int heads = s.heads() > 0 ? s.heads() : 1;
  const int key_width = s.key_width() > 0 ? s.key_width() : s.width();
  if (s.head_dim() == 0 && s.width() % heads != 0) {
    return Bad(path, "heads",
               absl::StrCat("must divide width ", s.width(), ", got ", heads));
  }
  if (s.head_dim() == 0 && key_width % heads != 0) {
    return Bad(path, "heads",
               absl::StrCat("must divide key_width ", key_width, ", got ", heads));
  }
  if (auto st = ValidateHeadShape(s, path, heads); !st.ok()) return st;
  if (s.depth() < 1) return Bad(path, "depth", absl::StrCat("must be ≥ 1, got ", s.depth()));

  const AttentionSpec& a = s.attention();
  if (!AttentionSpec::Kind_IsValid(a.kind())) {
    return Bad(path, "attention.kind", absl::StrCat("unknown value ", a.kind()));
  }
  if (a.has_tau0() && !(a.tau0() > 0.0)) {
    return Bad(path, "attention.tau0", absl::StrCat("must be > 0, got ", a.tau0()));
  }
  if (a.has_tau() && !(a.tau() > 0.0)) {
    return Bad(path, "attention.tau", absl::StrCat("must be > 0, got ", a.tau()));
  }
  if (auto st = ValidateScales(s, path, "attention", a.has_branch_scale(), a.branch_scale());
      !st.ok()) {
    return st;
  }
  if (auto st = ValidateAttentionKnobs(s, path); !st.ok()) return st;
  if (auto st = ValidateLanguageModelAttention(s, path); !st.ok()) return st;
  const MlpSpec& mlp = s.mlp();
  if (!MlpSpec::Activation_IsValid(mlp.activation())) {
    return Bad(path, "mlp.activation", absl::StrCat("unknown value ", mlp.activation()));
  }
  if (!MlpSpec::Sampling_IsValid(mlp.mlp_sampling())) {
    return Bad(path, "mlp.mlp_sampling", absl::StrCat("unknown value ", mlp.mlp_sampling()));
  }
  if (mlp.hidden_width() < 0) {
    return Bad(path, "mlp.hidden_width",
               absl::StrCat("must be ≥ 0 (0 means width), got ", mlp.hidden_width()));
  }
  if (mlp.activation() == MlpSpec::SHAPED_RELU) {
    const double root_n = std::sqrt(static_cast<double>(s.width()));
    const double sp = 1.0 + mlp.c_plus() / root_n, sm = 1.0 + mlp.c_minus() / root_n;
    if (sp * sp + sm * sm == 0.0) {
      return Bad(path, "mlp.c_plus", "makes both slopes of the shaped ReLU zero");
    }
  }
  if (auto st = ValidateScales(s, path, "mlp", mlp.has_branch_scale(), mlp.branch_scale());
      !st.ok()) {
    return st;
  }
  if (!ModelSpec::Norm_IsValid(s.norm())) {
    return Bad(path, "norm", absl::StrCat("unknown value ", s.norm()));
  }
  if (!ModelSpec::Residual_IsValid(s.residual())) {
    return Bad(path, "residual", absl::StrCat("unknown value ", s.residual()));
  }
  if (!ModelSpec::Preset_IsValid(s.preset())) {
    return Bad(path, "preset", absl::StrCat("unknown value ", s.preset()));
  }
  if (auto st = ValidateNormKnobs(s, path); !st.ok()) return st;
  if (auto st = ValidateInit(s, path); !st.ok()) return st;
  if (s.has_init() && !s.has_initial()) return absl::OkStatus();  // V_0 from the embeddings.
  return ValidateInitial(s, path);
}

}  // namespace

std::vector<std::string> RunStatisticNames(const RunSpec& run) {
  std::vector<std::string> statistics =
      CovarianceStatNames(std::max(run.model().tokens(), 2), {run.eigenvalues()});
  if (run.gradients()) {
    for (const char* g : kGradientStatNames) statistics.push_back(g);
  }
  const RunSpec::Method method = ChooseMethod(run);
  if (method == RunSpec::COLUMNS || method == RunSpec::GRAM) {
    statistics.push_back(kRootRepairsStatName);
  }
  if (HasAttentionStats(method, ResolveModel(run.model()))) {
    for (const char* name : kAttentionStatNames) statistics.push_back(name);
  }
  return statistics;
}

namespace {

// The SDE's own options, and whether every block of the model has a covariance SDE (the process
// knows which do; its errors name the field relative to the model).
absl::Status ValidateSde(const RunSpec& run, const std::string& path,
                         const std::string& model_path) {
  const v1::SdeOptions& sde = run.sde();
  if (sde.steps_per_layer() < 0 || sde.steps_per_layer() > 100000) {
    return Bad(path, "sde.steps_per_layer",
               absl::StrCat("must be in [0, 100000] (0 means 1), got ", sde.steps_per_layer()));
  }
  if (!v1::SdeOptions::Positivity_IsValid(sde.positivity())) {
    return Bad(path, "sde.positivity", absl::StrCat("unknown value ", sde.positivity()));
  }
  auto process = CovarianceSde::FromPlan(ResolveModel(run.model()));
  if (!process.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(model_path, ".", process.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFinite(const Message& message, const std::string& path) {
  const auto* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string name = path.empty() ? field->name() : absl::StrCat(path, ".", field->name());
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      const std::string where = field->is_repeated() ? absl::StrCat(name, "[", i, "]") : name;
      double x = 0.0;
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_DOUBLE:
          x = field->is_repeated() ? reflection->GetRepeatedDouble(message, field, i)
                                   : reflection->GetDouble(message, field);
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          x = field->is_repeated() ? reflection->GetRepeatedFloat(message, field, i)
                                   : reflection->GetFloat(message, field);
          break;
        case FieldDescriptor::CPPTYPE_MESSAGE: {
          const Message& child = field->is_repeated()
                                     ? reflection->GetRepeatedMessage(message, field, i)
                                     : reflection->GetMessage(message, field);
          if (auto status = CheckFinite(child, where); !status.ok()) return status;
          continue;
        }
        default:
          continue;
      }
      if (!std::isfinite(x)) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": must be finite, got ", x));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRun(const RunSpec& run, const std::string& path, const Limits& limits) {
  if (auto st = CheckFinite(run, path); !st.ok()) return st;
  if (!RunSpec::Method_IsValid(run.method())) {
    return Bad(path, "method", absl::StrCat("unknown value ", run.method()));
  }
  const std::string model_path = path + ".model";
  if (auto st = ValidateModel(run.model(), run.method(), model_path, limits); !st.ok()) return st;
  if (run.samples() < 1) return Bad(path, "samples", absl::StrCat("must be ≥ 1, got ", run.samples()));
  if (run.samples() > limits.max_samples) {
    return absl::ResourceExhaustedError(absl::StrCat(path, ".samples: ", run.samples(),
                                                     " exceeds the limit ", limits.max_samples));
  }
  if (run.provisional_every() < 0) {
    return Bad(path, "provisional_every",
               absl::StrCat("must be ≥ 0 (0 means the default), got ", run.provisional_every()));
  }
  if (run.record_every() < 0) {
    return Bad(path, "record_every",
               absl::StrCat("must be ≥ 0 (0 means every layer), got ", run.record_every()));
  }
  if (const double threshold = run.divergence_threshold(); threshold != 0.0) {
    const double initial = ResolveModel(run.model()).v0.diagonal().maxCoeff();
    if (!(threshold > initial && threshold <= SampleObserver::kDefaultDivergenceThreshold)) {
      return Bad(path, "divergence_threshold",
                 absl::StrCat("must lie in (", initial, ", 1e12] — above max V_αα at layer 0 and "
                              "at most the default — or be 0 (1e12), got ", threshold));
    }
  }
  for (int i = 0; i < run.quantiles_size(); ++i) {
    const double q = run.quantiles(i);
    if (!(q > 0.0 && q < 1.0)) {
      return Bad(path, absl::StrCat("quantiles[", i, "]"),
                 absl::StrCat("must lie in (0, 1), got ", q));
    }
  }
  const std::vector<std::string> statistics = RunStatisticNames(run);
  const RunSpec::Method method = ChooseMethod(run);
  for (int i = 0; i < run.histogram_size(); ++i) {
    const auto& h = run.histogram(i);
    const std::string field = absl::StrCat("histogram[", i, "]");
    if (std::find(statistics.begin(), statistics.end(), h.statistic()) == statistics.end()) {
      return Bad(path, field + ".statistic",
                 absl::StrCat("unknown statistic '", h.statistic(), "'; one of ",
                              absl::StrJoin(statistics, ", ")));
    }
    if (h.bins() < 1 || h.bins() > 100000) {
      return Bad(path, field + ".bins", absl::StrCat("must be in [1, 100000], got ", h.bins()));
    }
    if (!(h.lo() < h.hi())) {
      return Bad(path, field + ".lo", absl::StrCat("must be < hi (", h.hi(), "), got ", h.lo()));
    }
  }
  const ModelSpec s = ApplyPreset(run.model());
  if (run.gradients() && method != RunSpec::DENSE && method != RunSpec::COLUMNS) {
    return Bad(path, "gradients",
               absl::StrCat(
                   "needs method COLUMNS (implicit weights, any width) or DENSE (explicit "
                   "weights), got ",
                   RunSpec::Method_Name(method),
                   method == RunSpec::GRAM
                       ? ": the gradient norms need only m×m quantities, but the backward pass "
                         "must reuse the forward pass's weights, which a chain on V has "
                         "integrated out (docs/GRADIENTS.md)"
                       : ": it has no weights to differentiate"));
  }
  if (method == RunSpec::GRAM) {
    if (auto st = GramSupports(ResolveModel(run.model())); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".", st.message()));
    }
  }
  if (s.mlp().mlp_sampling() == MlpSpec::KERNEL && s.mlp().activation() != MlpSpec::NONE &&
      method != RunSpec::GRAM) {
    return Bad(model_path, "mlp.mlp_sampling",
               absl::StrCat("KERNEL is an option of method GRAM; method ",
                            RunSpec::Method_Name(method), " samples the MLP exactly"));
  }
  if (run.method() == RunSpec::LIMIT && s.attention().kind() != AttentionSpec::NONE &&
      (s.attention().kind() == AttentionSpec::SOFTMAX ||
       s.attention().kind() == AttentionSpec::SIGMOID ||
       s.attention().kind() == AttentionSpec::RELU ||
       s.attention().kind() == AttentionSpec::KIND_UNSPECIFIED)) {
    return Bad(model_path, "attention.kind",
               "method LIMIT has no deterministic limit for SOFTMAX, SIGMOID or RELU attention: at "
               "τ = sqrt(n_k) the logits stay O(1) and random as n → ∞, so the limit is itself "
               "random; use DENSE, COLUMNS or GRAM at a large width");
  }
  if (run.method() == RunSpec::LIMIT) {
    if (auto trajectory = LimitSupports(ResolveModel(run.model())); !trajectory.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".", trajectory.message()));
    }
  }
  if (run.method() == RunSpec::SDE) {
    if (auto st = ValidateSde(run, path, model_path); !st.ok()) return st;
  }
  const double cost = EstimateCost(run);
  if (cost > limits.max_cost) {
    return absl::ResourceExhaustedError(absl::StrCat(
        path, ".samples: ", CostFormula(run), " (the cost of method ",
        RunSpec::Method_Name(method), ") = ", cost, " exceeds the budget ", limits.max_cost));
  }
  // Only the backward pass's memory grows with depth; the forward samplers hold one layer. The
  // arena runs at most samples_in_flight samples of all points together, so a point whose every
  // slot could hold one of its samples stays within the bound whatever else runs.
  if (run.gradients()) {
    const double in_flight = std::max(limits.samples_in_flight, 1);
    const double sample_bytes = EstimateSampleBytes(run);
    if (in_flight * sample_bytes > limits.max_inflight_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          path, ".gradients: one sample of method ", RunSpec::Method_Name(method),
          " with gradients holds about ", sample_bytes / 1048576.0,
          " MiB (the backward pass keeps (depth + 1) × tokens × width doubles); ", in_flight,
          " in flight at once need ", in_flight * sample_bytes / 1048576.0,
          " MiB, over the bound of ", limits.max_inflight_bytes / 1048576.0,
          " MiB; lower model.depth or model.width, or run with fewer threads"));
    }
  }
  const double stored = StoredValues(run);
  if (stored > limits.max_stored_values) {
    return absl::ResourceExhaustedError(absl::StrCat(
        path, ".samples: samples × recorded layers × statistics = ", stored,
        " values exceeds the limit ", limits.max_stored_values, "; raise record_every"));
  }
  return absl::OkStatus();
}

}  // namespace sigprop
