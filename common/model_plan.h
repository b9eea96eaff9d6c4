// A ModelSpec resolved once into plain numbers (SPEC §1–2): presets applied, defaults filled,
// residual modes turned into λ and γ, temperatures formed. Inner loops read only this struct.
#ifndef SIGPROP_COMMON_MODEL_PLAN_H_
#define SIGPROP_COMMON_MODEL_PLAN_H_

#include <optional>

#include "common/activation.h"
#include "common/linalg.h"
#include "sigprop/v1/model.pb.h"

namespace sigprop {

enum class AttentionKind { kNone, kSoftmax, kUniform, kShaped, kIdentity, kSigmoid, kRelu };
enum class QkNormKind { kNone, kRms, kLayer };
enum class NormKind { kNone, kRms, kLayer };

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
  bool enabled() const { return activation.kind != ActivationKind::kNone; }
};

struct ModelPlan {
  int tokens = 0;     // m
  int width = 0;      // n
  int key_width = 0;  // n_k
  int heads = 1;      // H
  int depth = 0;      // d
  AttentionPlan attention;
  MlpPlan mlp;
  NormKind norm = NormKind::kNone;
  bool post_norm = false;  // X ← N(λX + γ f(X)) instead of X ← λX + γ f(N(X)).
  bool parallel = false;   // One residual block a layer: X ← λX + γ_a f_a(N(X)) + γ_f f_f(N(X)).
  Matrix v0;               // Initial covariance, m×m.
};

// Fills every field the preset defines and the spec leaves unset; set fields win.
v1::ModelSpec ApplyPreset(const v1::ModelSpec& spec);

// Resolves a validated spec (see validate.h); the preset is applied here.
ModelPlan ResolveModel(const v1::ModelSpec& spec);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_MODEL_PLAN_H_
