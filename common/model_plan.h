// A ModelSpec resolved once into plain numbers (SPEC §1–2): presets applied, defaults filled,
// residual modes turned into λ and γ, temperatures formed. Inner loops read only this struct.
#ifndef SIGPROP_COMMON_MODEL_PLAN_H_
#define SIGPROP_COMMON_MODEL_PLAN_H_

#include <optional>
#include <string>

#include "common/activation.h"
#include "common/linalg.h"
#include "sigprop/v1/model.pb.h"

namespace sigprop {

enum class AttentionKind { kNone, kSoftmax, kUniform, kShaped, kIdentity, kSigmoid, kRelu };
enum class QkNormKind { kNone, kRms, kLayer };
enum class NormKind { kNone, kRms, kLayer };
// Where the residual stream's norm N sits (SPEC §2, §2b): pre X ← λX + γ f(N(X)); post
// X ← N(λX + γ f(X)); peri X ← λX + γ N(f(N(X))); output X ← λX + γ N(f(X)).
enum class NormPlacement { kPre, kPost, kPeri, kOutput };

// Rotary position embeddings (SPEC §2b): per head, `rotated` (even) of the query/key dimensions
// turn in rotated/2 pairs, pair j at angle i·θ^(−2j/rotated) for token i.
struct RopePlan {
  bool on = false;
  double theta = 10000.0;
  int rotated = 0;
  bool interleaved = false;  // GPT-J pairs (2j, 2j+1); else half-split (j, j + rotated/2).
};

struct AttentionPlan {
  AttentionKind kind = AttentionKind::kNone;
  double tau = 1.0;   // Logit temperature τ (SOFTMAX, SHAPED).
  double tau0 = 1.0;  // τ0 as given (the SDE needs it).
  bool causal = false;
  double skip = 1.0;    // λ
  double branch = 1.0;  // γ
  bool output_projection = false;
  double sigmoid_bias = 0.0;  // SIGMOID's b.
  double relu_power = 1.0;    // RELU's p.
  QkNormKind qk_norm = QkNormKind::kNone;
  int window = 0;             // 0: no sliding window.
  bool alibi = false;
  // A = α I + β P − γ C with P the attention function's output (softmax, sigmoid, normalised
  // ReLU; C for UNIFORM, I for IDENTITY) and C the uniform matrix under the same mask. Unset gains
  // take the kind's own: SHAPED α = β = γ = 1, every other kind α = 0, β = 1, γ = 0.
  std::optional<double> identity_gain, attention_gain, centre_gain;
  double IdentityGain() const { return identity_gain.value_or(shaped() ? 1.0 : 0.0); }
  double AttentionGain() const { return attention_gain.value_or(1.0); }
  double CentreGain() const { return centre_gain.value_or(shaped() ? 1.0 : 0.0); }
  bool identity_values = false;  // W_V = I, no W_O.
  // Language-model knobs (SPEC §2b, issue 21); methods DENSE and COLUMNS only.
  RopePlan rope;
  double softcap = 0.0;              // Logit soft-cap c (0: none).
  bool qk_norm_projection = false;   // QK-norm over the whole projection instead of per head.
  // Multipliers of the normalised products Y W/sqrt(n_in): 1 by default, σ·sqrt(n_in) under
  // absolute initialisation (ModelSpec.init).
  double qk_gain = 1.0, v_gain = 1.0, o_gain = 1.0;
  bool enabled() const { return kind != AttentionKind::kNone; }
  // Whether the kind reads the logits Q Kᵀ (SOFTMAX, SHAPED, SIGMOID, RELU).
  bool uses_logits() const {
    return kind == AttentionKind::kSoftmax || kind == AttentionKind::kShaped ||
           kind == AttentionKind::kSigmoid || kind == AttentionKind::kRelu;
  }
  bool shaped() const { return kind == AttentionKind::kShaped; }
};

struct MlpPlan {
  Activation activation;  // kind kNone: no MLP block.
  double c_plus = 0.0;
  double c_minus = 0.0;
  int hidden = 0;  // n_h
  double skip = 1.0;
  double branch = 1.0;
  bool kernel_sampling = false;  // GRAM's approximate KERNEL option.
  // Gated MLP (SWIGLU, GEGLU): f = out_gain·((φ(Y W_g) ⊙ Y W_u)/… ) with `activation` the gate φ.
  bool gated = false;
  // f = out_gain·φ(in_gain·Y W_1/sqrt(n)) W_2/sqrt(n_h): in_gain 1 and out_gain sqrt(c) by
  // default (SPEC §2), σ·sqrt(n) and σ_res·sqrt(n_h) under absolute initialisation.
  double in_gain = 1.0;
  double out_gain = 1.0;
  bool enabled() const { return activation.kind != ActivationKind::kNone; }
};

struct ModelPlan {
  int tokens = 0;     // m
  int width = 0;      // n
  int key_width = 0;  // n_k: the queries' width, heads × query_cols
  int heads = 1;      // H
  int kv_heads = 1;   // Key/value heads; query head h reads kv head h·kv_heads/heads.
  int query_cols = 0;  // Per-head width of queries and keys (n_k/H, or head_dim).
  int value_cols = 0;  // Per-head width of values (n/H, or head_dim).
  int depth = 0;      // d
  AttentionPlan attention;
  MlpPlan mlp;
  NormKind norm = NormKind::kNone;
  NormPlacement placement = NormPlacement::kPre;  // Where N sits (kPost: X ← N(λX + γ f(X))).
  double norm_eps = 0.0;                          // ε inside every norm.
  bool layer_norm_scaling = false;                // Pre-norm output of layer ℓ times 1/sqrt(ℓ).
  bool absolute_init = false;                     // ModelSpec.init is set.
  bool parallel = false;   // One residual block a layer: X ← λX + γ_a f_a(N(X)) + γ_f f_f(N(X)).
  Matrix v0;               // Initial covariance, m×m.

  // Whether the norm acts on the branch input, on the branch output, on the residual sum.
  bool NormsBranchInput() const {
    return norm != NormKind::kNone &&
           (placement == NormPlacement::kPre || placement == NormPlacement::kPeri);
  }
  bool NormsBranchOutput() const {
    return norm != NormKind::kNone &&
           (placement == NormPlacement::kPeri || placement == NormPlacement::kOutput);
  }
  bool NormsSum() const { return norm != NormKind::kNone && placement == NormPlacement::kPost; }
  int kv_head_of(int head) const { return head * kv_heads / heads; }
};

// Where a spec's norm sits; kPre for the PRE_ norms and for none (then nothing is normalised).
NormPlacement PlacementOf(v1::ModelSpec::Norm norm);

// Whether the activation makes the MLP a gated one, f = (φ(X W_g) ⊙ X W_u) W_d (SPEC §2b).
bool IsGatedMlp(v1::MlpSpec::Activation activation);

// The spec field of the first language-model knob (SPEC §2b) the plan uses, e.g.
// "attention.rope", or "" when it uses none. Only DENSE and COLUMNS run these (COLUMNS through
// the implicit-weight forward pass); GRAM, LIMIT and SDE refuse them naming this field.
std::string LanguageModelField(const ModelPlan& plan);

// Fills every field the preset defines and the spec leaves unset; set fields win.
v1::ModelSpec ApplyPreset(const v1::ModelSpec& spec);

// Resolves a validated spec (see validate.h); the preset is applied here.
ModelPlan ResolveModel(const v1::ModelSpec& spec);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_MODEL_PLAN_H_
