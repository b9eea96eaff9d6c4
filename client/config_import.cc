#include "client/config_import.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sigprop::cli {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using v1::AttentionSpec;
using v1::MlpSpec;
using v1::ModelSpec;

// A JSON value as an error message shows it.
std::string Shown(const Value& value) {
  switch (value.kind_case()) {
    case Value::kNullValue: return "null";
    case Value::kNumberValue: return absl::StrCat(value.number_value());
    case Value::kStringValue: return absl::StrCat("'", value.string_value(), "'");
    case Value::kBoolValue: return value.bool_value() ? "true" : "false";
    case Value::kListValue: return "a list";
    case Value::kStructValue: return "an object";
    default: return "nothing";
  }
}

// Whether a value turns its feature on: anything but null, false, 0, "", an empty list or object.
bool Truthy(const Value& value) {
  switch (value.kind_case()) {
    case Value::kNumberValue: return value.number_value() != 0.0;
    case Value::kStringValue: return !value.string_value().empty();
    case Value::kBoolValue: return value.bool_value();
    case Value::kListValue: return value.list_value().values_size() > 0;
    case Value::kStructValue: return value.struct_value().fields_size() > 0;
    default: return false;
  }
}

// The keys of one JSON object (the config, or an object inside it such as rope_scaling), read by
// name. Every read marks the key, so that what nobody read can be refused at the end. The first
// error (a value of the wrong type, a refusal) goes to `error`, shared with nested objects, and
// the mapping goes on with the fallback, so it reads straight through and reports that one error.
// Absent and null both mean "the default" unless the caller asks IsNull: for some keys
// (sliding_window) null switches the feature off.
class Keys {
 public:
  Keys(const Struct& object, std::string prefix, absl::Status* error)
      : object_(object), prefix_(std::move(prefix)), error_(error) {}

  const Value* Find(const std::string& key) {
    read_.insert(key);
    auto it = object_.fields().find(key);
    return it == object_.fields().end() ? nullptr : &it->second;
  }
  bool Present(const std::string& key) { return Find(key) != nullptr; }
  bool IsNull(const std::string& key) {
    const Value* v = Find(key);
    return v != nullptr && v->kind_case() == Value::kNullValue;
  }
  // Set: present and not null.
  bool Set(const std::string& key) { return Present(key) && !IsNull(key); }

  std::optional<double> MaybeNumber(const std::string& key) {
    const Value* v = Find(key);
    if (v == nullptr || v->kind_case() == Value::kNullValue) return std::nullopt;
    if (v->kind_case() != Value::kNumberValue) {
      Refuse(key, absl::StrCat("must be a number, got ", Shown(*v)));
      return std::nullopt;
    }
    return v->number_value();
  }
  double Number(const std::string& key, double fallback) {
    return MaybeNumber(key).value_or(fallback);
  }
  std::optional<int> MaybeInt(const std::string& key) {
    const std::optional<double> x = MaybeNumber(key);
    if (!x) return std::nullopt;
    if (std::floor(*x) != *x || std::fabs(*x) > std::numeric_limits<int32_t>::max()) {
      Refuse(key, absl::StrCat("must be a whole number, got ", *x));
      return std::nullopt;
    }
    return static_cast<int>(*x);
  }
  int Int(const std::string& key, int fallback) { return MaybeInt(key).value_or(fallback); }
  bool Bool(const std::string& key, bool fallback) {
    const Value* v = Find(key);
    if (v == nullptr || v->kind_case() == Value::kNullValue) return fallback;
    if (v->kind_case() != Value::kBoolValue) {
      Refuse(key, absl::StrCat("must be true or false, got ", Shown(*v)));
      return fallback;
    }
    return v->bool_value();
  }
  std::string Text(const std::string& key, const std::string& fallback) {
    const Value* v = Find(key);
    if (v == nullptr || v->kind_case() == Value::kNullValue) return fallback;
    if (v->kind_case() != Value::kStringValue) {
      Refuse(key, absl::StrCat("must be a string, got ", Shown(*v)));
      return fallback;
    }
    return v->string_value();
  }
  // The object under `key`; nullptr when absent or null.
  const Struct* Object(const std::string& key) {
    const Value* v = Find(key);
    if (v == nullptr || v->kind_case() == Value::kNullValue) return nullptr;
    if (v->kind_case() != Value::kStructValue) {
      Refuse(key, absl::StrCat("must be an object, got ", Shown(*v)));
      return nullptr;
    }
    return &v->struct_value();
  }
  // The strings of a list under `key`; nullopt when absent or null.
  std::optional<std::vector<std::string>> Strings(const std::string& key) {
    const Value* v = Find(key);
    if (v == nullptr || v->kind_case() == Value::kNullValue) return std::nullopt;
    std::vector<std::string> out;
    if (v->kind_case() == Value::kListValue) {
      for (const Value& item : v->list_value().values()) {
        if (item.kind_case() != Value::kStringValue) break;
        out.push_back(item.string_value());
      }
      if (static_cast<int>(out.size()) == v->list_value().values_size()) return out;
    }
    Refuse(key, absl::StrCat("must be a list of strings, got ", Shown(*v)));
    return std::nullopt;
  }
  // The first of several spellings of one setting that the config has (GPT-2's n_embd is also
  // hidden_size); every spelling counts as read.
  std::string Spelling(std::initializer_list<const char*> names) {
    std::string chosen;
    for (const char* name : names) {
      if (Present(name) && chosen.empty()) chosen = name;
    }
    return chosen.empty() ? *names.begin() : chosen;
  }
  // Keys that are known and have no effect on the network at initialisation.
  void Ignore(const std::vector<std::string>& keys) {
    for (const std::string& key : keys) read_.insert(key);
  }

  void Refuse(const std::string& key, const std::string& why) {
    if (error_->ok()) *error_ = absl::InvalidArgumentError(absl::StrCat(prefix_, key, ": ", why));
  }
  absl::Status* error() const { return error_; }
  const std::string& prefix() const { return prefix_; }
  const Struct& object() const { return object_; }

  // The keys nobody read, with this object's prefix, sorted.
  std::vector<std::string> Unread() const {
    std::vector<std::string> keys;
    for (const auto& [key, value] : object_.fields()) {
      if (read_.count(key) == 0) keys.push_back(prefix_ + key);
    }
    std::sort(keys.begin(), keys.end());
    return keys;
  }

 private:
  const Struct& object_;
  std::string prefix_;
  absl::Status* error_;
  std::set<std::string> read_;
};

// Keys that describe how a checkpoint is stored, served, tokenised or fine-tuned, never the
// network at initialisation (PretrainedConfig's own fields and the Hub's metadata).
const std::vector<std::string>& CommonIgnoredKeys() {
  static const std::vector<std::string> keys = {
      "_name_or_path", "architectures", "transformers_version", "torch_dtype", "dtype",
      "use_cache", "vocab_size", "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id",
      "decoder_start_token_id", "tie_word_embeddings", "id2label", "label2id", "num_labels",
      "problem_type", "finetuning_task", "task_specific_params", "tokenizer_class", "prefix",
      "auto_map", "return_dict", "output_hidden_states", "output_attentions", "torchscript",
      "use_bfloat16", "pruned_heads", "chunk_size_feed_forward", "gradient_checkpointing",
      "initializer_factor", "max_length", "min_length", "do_sample", "early_stopping",
      "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p",
      "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
      "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
      "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id",
      "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
      "begin_suppress_tokens", "tf_legacy_loss", "_attn_implementation", "attn_implementation",
      "_commit_hash", "is_decoder", "add_cross_attention", "is_encoder_decoder"};
  return keys;
}

// Mixture-of-experts and state-space keys: either changes what a layer is.
absl::Status RefuseOtherLayerKinds(Keys& keys) {
  static const char* const kExpertCounts[] = {"num_experts", "num_local_experts",
                                              "n_routed_experts"};
  for (const char* key : kExpertCounts) {
    const Value* v = keys.Find(key);
    if (v != nullptr && v->kind_case() == Value::kNumberValue && v->number_value() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          key, ": ", v->number_value(), " experts make a mixture of experts (each token routed "
          "through some of them), which sigprop cannot express: it simulates one dense MLP per "
          "layer"));
    }
  }
  static const char* const kExpertKeys[] = {
      "num_experts_per_tok", "n_shared_experts", "router_aux_loss_coef", "output_router_logits",
      "decoder_sparse_step", "shared_expert_intermediate_size", "first_k_dense_replace",
      "router_jitter_noise", "expert_interval"};
  for (const auto& [key, value] : keys.object().fields()) {
    const bool expert = absl::StartsWith(key, "moe") ||
                        std::find(std::begin(kExpertKeys), std::end(kExpertKeys), key) !=
                            std::end(kExpertKeys);
    if (!expert) continue;
    if (Truthy(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          key, ": ", Shown(value), " configures a mixture of experts, which sigprop cannot "
          "express: it simulates one dense MLP per layer"));
    }
    keys.Find(key);  // Off (null, false, 0): a dense model.
  }
  static const char* const kStateSpaceKeys[] = {
      "ssm_cfg", "state_size", "ssm_state_size", "d_state", "mamba_d_state", "mamba_expand",
      "mamba_d_conv", "conv_kernel", "time_step_rank", "attn_layer_indices",
      "attn_layer_period", "hybrid_override_pattern", "layers_block_type", "mamba_n_heads"};
  for (const char* key : kStateSpaceKeys) {
    const Value* v = keys.Find(key);
    if (v != nullptr && Truthy(*v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          key, ": ", Shown(*v), " configures state-space (Mamba-style) layers, which sigprop "
          "cannot express: every layer it simulates is attention and an MLP"));
    }
  }
  return absl::OkStatus();
}

// One import in progress.
struct Import {
  Keys& keys;
  const ImportOptions& options;
  std::string model_type;
  ModelSpec& model;

  int tokens() const { return options.tokens; }
  AttentionSpec& attention() { return *model.mutable_attention(); }
};

// A positive size from the config (hidden_size, num_attention_heads, …); 1 once refused, so that
// what is derived from it (width/heads) stays defined until the refusal is returned.
int Size(Import& in, const std::string& key, int fallback) {
  const int value = in.keys.Int(key, fallback);
  if (value >= 1) return value;
  in.keys.Refuse(key, absl::StrCat("must be ≥ 1, got ", value));
  return 1;
}

// The number of layers: the config's, unless --depth says otherwise.
int Layers(Import& in, const std::string& key, int fallback) {
  const int config = Size(in, key, fallback);
  return in.options.depth > 0 ? in.options.depth : config;
}

// Width, heads, key/value heads and the head width. `head_dim` is the config's own when it has
// one (set explicitly even where it equals width/heads, so the spec says what the config says).
void SetShape(Import& in, int width, const std::string& heads_key, int heads,
              const std::string& kv_key, int kv_heads, std::optional<int> head_dim) {
  ModelSpec& m = in.model;
  m.set_width(width);
  m.set_heads(heads);
  if (!head_dim && width % heads != 0) {
    in.keys.Refuse(heads_key, absl::StrCat(heads, " heads do not divide the width ", width));
  }
  if (kv_heads < 1 || heads % kv_heads != 0) {
    in.keys.Refuse(kv_key, absl::StrCat(kv_heads, " key/value heads do not divide the ", heads,
                                        " query heads"));
  }
  if (kv_heads != heads) m.set_kv_heads(kv_heads);
  if (head_dim) {
    if (*head_dim < 1) in.keys.Refuse("head_dim", absl::StrCat("must be ≥ 1, got ", *head_dim));
    m.set_head_dim(*head_dim);
  }
}

int HeadDim(const ModelSpec& m) { return m.head_dim() > 0 ? m.head_dim() : m.width() / m.heads(); }

// transformers' ACT2FN names, as the activation of a plain MLP (fc → φ → fc) or the gate of a
// gated one (down(φ(gate(x)) ⊙ up(x))). gelu_new, gelu_fast, gelu_accurate and
// gelu_pytorch_tanh are one function, GeLU's tanh approximation.
void SetActivation(Import& in, const std::string& key, const std::string& name, bool gated) {
  static const std::map<std::string, MlpSpec::Activation> kPlain = {
      {"relu", MlpSpec::RELU}, {"gelu", MlpSpec::GELU}, {"gelu_python", MlpSpec::GELU},
      {"gelu_new", MlpSpec::GELU_TANH}, {"gelu_fast", MlpSpec::GELU_TANH},
      {"gelu_accurate", MlpSpec::GELU_TANH}, {"gelu_pytorch_tanh", MlpSpec::GELU_TANH},
      {"tanh", MlpSpec::TANH}, {"linear", MlpSpec::LINEAR}};
  static const std::map<std::string, MlpSpec::Activation> kGated = {
      {"silu", MlpSpec::SWIGLU}, {"swish", MlpSpec::SWIGLU}, {"gelu", MlpSpec::GEGLU},
      {"gelu_python", MlpSpec::GEGLU}, {"gelu_new", MlpSpec::GEGLU_TANH},
      {"gelu_fast", MlpSpec::GEGLU_TANH}, {"gelu_accurate", MlpSpec::GEGLU_TANH},
      {"gelu_pytorch_tanh", MlpSpec::GEGLU_TANH}};
  const auto& table = gated ? kGated : kPlain;
  auto it = table.find(name);
  if (it == table.end()) {
    std::vector<std::string> known;
    for (const auto& [n, a] : table) known.push_back(n);
    in.keys.Refuse(key, absl::StrCat("'", name, "' ", gated ? "as the gate of a gated MLP" :
                                     "as the activation of a plain MLP",
                                     " has no mlp.activation; sigprop imports ",
                                     absl::StrJoin(known, ", ")));
    return;
  }
  in.model.mutable_mlp()->set_activation(it->second);
}

void SetMlp(Import& in, const std::string& act_key, const std::string& act, bool gated,
            const std::string& hidden_key, int hidden) {
  SetActivation(in, act_key, act, gated);
  if (hidden < 1) in.keys.Refuse(hidden_key, absl::StrCat("must be ≥ 1, got ", hidden));
  in.model.mutable_mlp()->set_hidden_width(hidden);
}

// A table of `positions` rows, one per position (learned embeddings in GPT-2, OPT and BERT; GPT-J's
// precomputed rotary angles), has nothing for the tokens past it.
void CheckPositions(Import& in, const std::string& key, int positions, const std::string& what) {
  if (in.tokens() > positions) {
    in.keys.Refuse(key, absl::StrCat("--tokens ", in.tokens(), " exceeds the ", positions, " ",
                                     what, " (", in.model_type, " has none past position ",
                                     positions - 1, ")"));
  }
}

void CheckLearnedPositions(Import& in, const std::string& key, int positions) {
  CheckPositions(in, key, positions, "learned position embeddings");
}

struct RopeSettings {
  double theta = 10000;
  double fraction = 1;
};

// One RoPE parameter object (rope_scaling, rope_parameters, or one layer type's entry in it):
// its θ and rotated share override the top-level keys; a rope_type other than 'default' changes
// the frequencies or the positions, which rope {theta, fraction} cannot express, except 'dynamic'
// below its original context, where transformers leaves θ as it is.
void ReadRopeObject(Import& in, Keys& rope, RopeSettings* settings) {
  const std::string type_key = rope.Spelling({"rope_type", "type"});
  const std::string type = rope.Text(type_key, "default");
  settings->theta = rope.Number("rope_theta", settings->theta);
  settings->fraction = rope.Number("partial_rotary_factor", settings->fraction);
  if (type == "dynamic") {
    rope.Number("factor", 1);
    const int original = rope.Int("original_max_position_embeddings",
                                  in.keys.Int("max_position_embeddings", 2048));
    if (in.tokens() > original) {
      rope.Refuse(type_key, absl::StrCat(
          "'dynamic' raises θ once the sequence is longer than the original context ", original,
          ", and --tokens ", in.tokens(), " is; import with --tokens ≤ ", original));
    }
  } else if (type != "default") {
    rope.Refuse(type_key, absl::StrCat(
        "'", type, "' rescales RoPE's frequencies or positions, which attention.rope {theta, "
        "fraction} cannot express; only 'default' imports (and 'dynamic' with --tokens within "
        "the original context)"));
  }
  for (const std::string& key : rope.Unread()) {
    rope.Refuse(key.substr(rope.prefix().size()), "not a RoPE parameter sigprop knows");
  }
}

// RoPE from the top-level θ (`theta_key`), the rotated share (`fraction_key`, may be empty) and
// the rope_scaling / rope_parameters objects (transformers reads rope_scaling first).
void SetRope(Import& in, const std::string& theta_key, double default_theta,
             const std::string& fraction_key, double default_fraction) {
  RopeSettings settings;
  settings.theta = in.keys.Number(theta_key, default_theta);
  settings.fraction =
      fraction_key.empty() ? default_fraction : in.keys.Number(fraction_key, default_fraction);
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const Struct* object = in.keys.Object(key);
    if (object == nullptr) continue;
    // Newer configs give one parameter object per layer type; they must agree.
    const bool per_layer_type = object->fields().count("full_attention") > 0 ||
                                object->fields().count("sliding_attention") > 0;
    if (!per_layer_type) {
      Keys rope(*object, absl::StrCat(key, "."), in.keys.error());
      ReadRopeObject(in, rope, &settings);
      continue;
    }
    std::optional<RopeSettings> agreed;
    Keys types(*object, absl::StrCat(key, "."), in.keys.error());
    for (const auto& [layer_type, value] : object->fields()) {
      const Struct* inner = types.Object(layer_type);
      if (inner == nullptr) continue;
      RopeSettings mine = settings;
      Keys rope(*inner, absl::StrCat(key, ".", layer_type, "."), in.keys.error());
      ReadRopeObject(in, rope, &mine);
      if (agreed && (agreed->theta != mine.theta || agreed->fraction != mine.fraction)) {
        types.Refuse(layer_type, "differs from the other layer types' RoPE; one model has one");
      }
      agreed = mine;
    }
    if (agreed) settings = *agreed;
  }
  if (!(settings.theta > 0)) {
    in.keys.Refuse(theta_key, absl::StrCat("must be > 0, got ", settings.theta));
  }
  if (!(settings.fraction > 0 && settings.fraction <= 1)) {
    in.keys.Refuse(fraction_key.empty() ? "partial_rotary_factor" : fraction_key,
                   absl::StrCat("must lie in (0, 1], got ", settings.fraction));
  }
  auto* rope = in.attention().mutable_rope();
  rope->set_theta(settings.theta);
  if (settings.fraction != 1) rope->set_fraction(settings.fraction);
}

// A causal sliding window of `window` keys (the token itself included, as transformers'
// masking_utils counts them) over the layers `sliding` marks. It changes nothing while the
// sequence fits in it; beyond, every layer must slide (AttentionSpec.window counts the previous
// tokens only, hence window − 1), since one model has one kind of layer.
void SetWindow(Import& in, const std::string& key, std::optional<int> window,
               const std::vector<bool>& sliding, const std::string& pattern_key) {
  const bool any = std::find(sliding.begin(), sliding.end(), true) != sliding.end();
  if (!window || !any || in.tokens() <= *window) return;
  const bool all = std::find(sliding.begin(), sliding.end(), false) == sliding.end();
  if (!all) {
    in.keys.Refuse(pattern_key, absl::StrCat(
        "slides a window of ", *window, " tokens over some layers and attends to every token in "
        "others; with --tokens ", in.tokens(), " > ", *window, " the two kinds differ, which "
        "one model cannot express; import with --tokens ≤ ", *window));
    return;
  }
  if (*window < 2) {
    in.keys.Refuse(key, absl::StrCat(*window, " lets each token see only itself, which "
                                     "attention.window cannot express (0 means no window)"));
    return;
  }
  in.attention().set_window(*window - 1);
}

// Which of `layers` layers slide, from a config's layer_types when it has one.
std::vector<bool> SlidingLayers(Import& in, int layers, const std::vector<bool>& fallback) {
  const auto types = in.keys.Strings("layer_types");
  if (!types) return fallback;
  std::vector<bool> sliding;
  for (const std::string& type : *types) {
    if (type != "sliding_attention" && type != "full_attention") {
      in.keys.Refuse("layer_types", absl::StrCat("'", type, "' is not a layer sigprop imports "
                                                 "(full_attention, sliding_attention)"));
    }
    sliding.push_back(type == "sliding_attention");
  }
  if (static_cast<int>(sliding.size()) != layers) {
    in.keys.Refuse("layer_types", absl::StrCat("has ", sliding.size(), " entries for ", layers,
                                               " layers"));
  }
  return sliding;
}

// Absolute initialisation: every weight N(0, std²) as `_init_weights` draws it.
ModelSpec::Init& SetInit(Import& in, const std::string& key, double fallback) {
  const double std = in.keys.Number(key, fallback);
  if (!(std > 0)) in.keys.Refuse(key, absl::StrCat("must be > 0, got ", std));
  ModelSpec::Init& init = *in.model.mutable_init();
  init.set_weight_std(std);
  init.set_embedding_std(std);
  return init;
}

double Eps(Import& in, const std::string& key, double fallback) {
  const double eps = in.keys.Number(key, fallback);
  if (!(eps >= 0)) in.keys.Refuse(key, absl::StrCat("must be ≥ 0, got ", eps));
  in.model.set_norm_eps(eps);
  return eps;
}

// Refuses `key` when it is true: what it switches on changes the network in a way the model cannot
// express.
void RefuseIfTrue(Import& in, const std::string& key, const std::string& why) {
  if (in.keys.Bool(key, false)) in.keys.Refuse(key, absl::StrCat("true ", why));
}

// --- The families ---------------------------------------------------------------------------

// GPT-2 (modeling_gpt2.py): pre-LayerNorm, learned positions, a plain MLP, c_proj initialised with
// σ/sqrt(2·n_layer).
void MapGpt2(Import& in) {
  Keys& k = in.keys;
  const std::string width_key = k.Spelling({"n_embd", "hidden_size"});
  const std::string layers_key = k.Spelling({"n_layer", "num_hidden_layers"});
  const std::string heads_key = k.Spelling({"n_head", "num_attention_heads"});
  const std::string positions_key = k.Spelling({"n_positions", "max_position_embeddings"});
  const int width = Size(in, width_key, 768);
  const int layers = Layers(in, layers_key, 12);
  const int heads = Size(in, heads_key, 12);
  in.model.set_depth(layers);
  SetShape(in, width, heads_key, heads, heads_key, heads, std::nullopt);
  CheckLearnedPositions(in, positions_key, Size(in, positions_key, 1024));
  SetMlp(in, "activation_function", k.Text("activation_function", "gelu_new"), false, "n_inner",
         k.Int("n_inner", 4 * width));
  in.model.set_norm(ModelSpec::PRE_LAYER);
  Eps(in, "layer_norm_epsilon", 1e-5);
  in.attention().set_causal(true);
  if (!k.Bool("scale_attn_weights", true)) in.attention().set_tau(1);
  RefuseIfTrue(in, "scale_attn_by_inverse_layer_idx",
               "divides layer ℓ's logits by ℓ + 1 as well, a temperature per layer that "
               "attention.tau (one for every layer) cannot express");
  RefuseIfTrue(in, "add_cross_attention",
               "adds cross-attention to an encoder's states, which sigprop does not simulate");
  k.Bool("reorder_and_upcast_attn", false);  // Where the scaling happens in float32: numerics.
  ModelSpec::Init& init = SetInit(in, "initializer_range", 0.02);
  init.set_position_embedding_std(init.weight_std());
  init.set_residual_projection_std(init.weight_std() / std::sqrt(2.0 * layers));
}

// BERT (modeling_bert.py): post-LayerNorm encoder; word, position and token-type embeddings summed
// and normalised by the embedding LayerNorm.
void MapBert(Import& in) {
  Keys& k = in.keys;
  const int width = Size(in, "hidden_size", 768);
  in.model.set_depth(Layers(in, "num_hidden_layers", 12));
  const int heads = Size(in, "num_attention_heads", 12);
  SetShape(in, width, "num_attention_heads", heads, "num_attention_heads", heads, std::nullopt);
  CheckLearnedPositions(in, "max_position_embeddings", Size(in, "max_position_embeddings", 512));
  const std::string positions = k.Text("position_embedding_type", "absolute");
  if (positions != "absolute") {
    k.Refuse("position_embedding_type", absl::StrCat(
        "'", positions, "' adds learned relative-position terms to the logits, which sigprop "
        "cannot express; only 'absolute' imports"));
  }
  SetMlp(in, "hidden_act", k.Text("hidden_act", "gelu"), false, "intermediate_size",
         k.Int("intermediate_size", 3072));
  in.model.set_norm(ModelSpec::POST_LAYER);
  Eps(in, "layer_norm_eps", 1e-12);
  in.attention().set_causal(k.Bool("is_decoder", false));
  RefuseIfTrue(in, "add_cross_attention",
               "adds cross-attention to an encoder's states, which sigprop does not simulate");
  ModelSpec::Init& init = SetInit(in, "initializer_range", 0.02);
  init.set_position_embedding_std(init.weight_std());
  init.set_normalised_embeddings(true);
  // Every token gets the same token-type embedding (type 0), drawn with the same σ as the word and
  // position embeddings: after the embedding LayerNorm two tokens correlate by 1/3, not 0.
  if (Size(in, "type_vocab_size", 2) >= 1) in.model.mutable_initial()->set_rho0(1.0 / 3.0);
}

// What the decoders that follow LLaMA's layout (q/k/v/o projections, a gated MLP, RMSNorm, RoPE)
// differ in: their configuration class's defaults, the key of the activation and the norm's
// placement.
struct LlamaLayout {
  int hidden, layers, heads, intermediate;
  std::optional<int> kv_heads;  // Unset: num_attention_heads.
  std::optional<int> head_dim;  // Unset: hidden_size/num_attention_heads.
  double eps;
  std::string activation_key, activation;
  ModelSpec::Norm norm;
};

void MapLlamaLayout(Import& in, const LlamaLayout& layout) {
  Keys& k = in.keys;
  const int width = Size(in, "hidden_size", layout.hidden);
  in.model.set_depth(Layers(in, "num_hidden_layers", layout.layers));
  const int heads = Size(in, "num_attention_heads", layout.heads);
  const int kv_heads = k.MaybeInt("num_key_value_heads").value_or(layout.kv_heads.value_or(heads));
  std::optional<int> head_dim = layout.head_dim;
  if (k.Set("head_dim")) head_dim = k.Int("head_dim", 0);
  if (k.IsNull("head_dim")) head_dim.reset();
  SetShape(in, width, "num_attention_heads", heads, "num_key_value_heads", kv_heads, head_dim);
  SetMlp(in, layout.activation_key, k.Text(layout.activation_key, layout.activation), true,
         "intermediate_size", Size(in, "intermediate_size", layout.intermediate));
  in.model.set_norm(layout.norm);
  Eps(in, "rms_norm_eps", layout.eps);
  in.attention().set_causal(true);
  SetRope(in, "rope_theta", 10000, "", 1);
  SetInit(in, "initializer_range", 0.02);
}

// LLaMA (modeling_llama.py).
void MapLlama(Import& in) {
  MapLlamaLayout(in, {4096, 32, 32, 11008, std::nullopt, std::nullopt, 1e-6, "hidden_act",
                      "silu", ModelSpec::PRE_RMS});
  in.keys.Int("pretraining_tp", 1);  // Splits the projections into slices: the same product.
}

// Mistral (modeling_mistral.py): LLaMA's layout with a sliding window in every layer.
void MapMistral(Import& in) {
  MapLlamaLayout(in, {4096, 32, 32, 14336, 8, std::nullopt, 1e-6, "hidden_act", "silu",
                      ModelSpec::PRE_RMS});
  std::optional<int> window = 4096;
  if (in.keys.Present("sliding_window")) window = in.keys.MaybeInt("sliding_window");
  SetWindow(in, "sliding_window", window, std::vector<bool>(in.model.depth(), true),
            "sliding_window");
}

// Qwen2 and Qwen3: a window only with use_sliding_window, and then in the layers from
// max_window_layers on (or as layer_types says).
void SetQwenWindow(Import& in) {
  Keys& k = in.keys;
  const bool use = k.Bool("use_sliding_window", false);
  std::optional<int> window = 4096;
  if (k.Present("sliding_window")) window = k.MaybeInt("sliding_window");
  const int from = k.Int("max_window_layers", 28);
  if (!use) window.reset();
  const int layers = in.model.depth();
  std::vector<bool> sliding(layers);
  for (int i = 0; i < layers; ++i) sliding[i] = i >= from;
  const bool typed = k.Set("layer_types");
  sliding = SlidingLayers(in, layers, sliding);
  SetWindow(in, "sliding_window", window, sliding, typed ? "layer_types" : "max_window_layers");
}

// Qwen2 (modeling_qwen2.py): LLaMA's layout; q/k/v biases (zero at init).
void MapQwen2(Import& in) {
  MapLlamaLayout(in, {4096, 32, 32, 22016, 32, std::nullopt, 1e-6, "hidden_act", "silu",
                      ModelSpec::PRE_RMS});
  SetQwenWindow(in);
  RefuseIfTrue(in, "use_mrope",
               "rotates by multimodal (3-D) positions, which sigprop does not simulate");
}

// Qwen3 (modeling_qwen3.py): Qwen2 with an RMSNorm on each head's queries and keys and a head_dim
// of its own (128 by default, whatever the width).
void MapQwen3(Import& in) {
  MapLlamaLayout(in, {4096, 32, 32, 22016, 32, 128, 1e-6, "hidden_act", "silu",
                      ModelSpec::PRE_RMS});
  SetQwenWindow(in);
  in.attention().set_qk_norm(AttentionSpec::QkNorm::RMS);
  in.attention().set_qk_norm_scope(AttentionSpec::HEAD);
}

// OLMo 2 (modeling_olmo2.py): RMSNorm on each branch's output (not its input), and on the whole
// query and key projections before they are split into heads.
void MapOlmo2(Import& in) {
  MapLlamaLayout(in, {4096, 32, 32, 11008, std::nullopt, std::nullopt, 1e-5, "hidden_act",
                      "silu", ModelSpec::OUTPUT_RMS});
  in.attention().set_qk_norm(AttentionSpec::QkNorm::RMS);
  in.attention().set_qk_norm_scope(AttentionSpec::PROJECTION);
}

// Gemma's activation is hidden_activation; hidden_act is not read (GemmaMLP falls back to the tanh
// form when hidden_activation is unset, whatever hidden_act says).
void MapGemmaCommon(Import& in, const LlamaLayout& layout) {
  in.keys.Text("hidden_act", "");
  MapLlamaLayout(in, layout);
  in.model.mutable_init()->set_embedding_multiplier(std::sqrt(in.model.width()));
}

// Gemma (modeling_gemma.py): LLaMA's layout, GeGLU, embeddings times sqrt(hidden_size).
void MapGemma(Import& in) {
  MapGemmaCommon(in, {3072, 28, 16, 24576, 16, 256, 1e-6, "hidden_activation",
                      "gelu_pytorch_tanh", ModelSpec::PRE_RMS});
}

// Gemma 2 (modeling_gemma2.py): Gemma with a norm before and after each branch, soft-capped
// logits scaled by query_pre_attn_scalar^(-1/2), and local (sliding) layers alternating with
// global ones.
void MapGemma2(Import& in) {
  Keys& k = in.keys;
  MapGemmaCommon(in, {2304, 26, 8, 9216, 4, 256, 1e-6, "hidden_activation", "gelu_pytorch_tanh",
                      ModelSpec::PERI_RMS});
  const double scalar = k.Number("query_pre_attn_scalar", 256);
  if (!(scalar > 0)) k.Refuse("query_pre_attn_scalar", absl::StrCat("must be > 0, got ", scalar));
  if (scalar != HeadDim(in.model)) in.attention().set_tau(std::sqrt(scalar));
  const std::optional<double> cap = k.Present("attn_logit_softcapping")
                                        ? k.MaybeNumber("attn_logit_softcapping")
                                        : std::optional<double>(50.0);
  if (cap) {
    if (!(*cap > 0)) k.Refuse("attn_logit_softcapping", absl::StrCat("must be > 0, got ", *cap));
    in.attention().set_logit_softcap(*cap);
  }
  std::optional<int> window = 4096;
  if (k.Present("sliding_window")) window = k.MaybeInt("sliding_window");
  const int layers = in.model.depth();
  std::vector<bool> sliding(layers);
  for (int i = 0; i < layers; ++i) sliding[i] = i % 2 == 0;
  const bool typed = k.Set("layer_types");
  sliding = SlidingLayers(in, layers, sliding);
  SetWindow(in, "sliding_window", window, sliding, typed ? "layer_types" : "sliding_window");
}

// GPT-NeoX / Pythia (modeling_gpt_neox.py): pre-LayerNorm, attention and MLP in parallel by
// default (two LayerNorms of one input, equal at init), a quarter of each head rotated.
void MapGptNeox(Import& in) {
  Keys& k = in.keys;
  const int width = Size(in, "hidden_size", 6144);
  in.model.set_depth(Layers(in, "num_hidden_layers", 44));
  const int heads = Size(in, "num_attention_heads", 64);
  SetShape(in, width, "num_attention_heads", heads, "num_attention_heads", heads, std::nullopt);
  SetMlp(in, "hidden_act", k.Text("hidden_act", "gelu"), false, "intermediate_size",
         Size(in, "intermediate_size", 24576));
  in.model.set_norm(ModelSpec::PRE_LAYER);
  Eps(in, "layer_norm_eps", 1e-5);
  in.model.set_parallel(k.Bool("use_parallel_residual", true));
  in.attention().set_causal(true);
  SetRope(in, k.Spelling({"rotary_emb_base", "rope_theta"}), 10000,
          k.Spelling({"rotary_pct", "partial_rotary_factor"}), 0.25);
  SetInit(in, "initializer_range", 0.02);
}

// GPT-J (modeling_gptj.py): one LayerNorm feeding attention and MLP in parallel, GPT-J's
// interleaved RoPE on rotary_dim of each head's dimensions, θ = 10000 fixed in the code.
void MapGptj(Import& in) {
  Keys& k = in.keys;
  const std::string width_key = k.Spelling({"n_embd", "hidden_size"});
  const std::string layers_key = k.Spelling({"n_layer", "num_hidden_layers"});
  const std::string heads_key = k.Spelling({"n_head", "num_attention_heads"});
  const std::string positions_key = k.Spelling({"n_positions", "max_position_embeddings"});
  const int width = Size(in, width_key, 4096);
  in.model.set_depth(Layers(in, layers_key, 28));
  const int heads = Size(in, heads_key, 16);
  SetShape(in, width, heads_key, heads, heads_key, heads, std::nullopt);
  CheckPositions(in, positions_key, Size(in, positions_key, 2048),
                 "positions whose rotary angles GPT-J precomputes");
  SetMlp(in, "activation_function", k.Text("activation_function", "gelu_new"), false, "n_inner",
         k.Int("n_inner", 4 * width));
  in.model.set_norm(ModelSpec::PRE_LAYER);
  Eps(in, "layer_norm_epsilon", 1e-5);
  in.model.set_parallel(true);
  in.attention().set_causal(true);
  auto* rope = in.attention().mutable_rope();
  rope->set_theta(10000);
  rope->set_interleaved(true);
  const int head_dim = width / heads;
  const std::optional<int> rotary =
      k.Present("rotary_dim") ? k.MaybeInt("rotary_dim") : std::optional<int>(64);
  if (rotary) {
    if (*rotary < 1 || *rotary > head_dim) {
      k.Refuse("rotary_dim", absl::StrCat("must lie in [1, head_dim = ", head_dim, "], got ",
                                          *rotary));
    } else if (*rotary != head_dim) {
      rope->set_fraction(static_cast<double>(*rotary) / head_dim);
    }
  }
  SetInit(in, "initializer_range", 0.02);
}

// Falcon (modeling_falcon.py), and the RefinedWeb / RefinedWebModel configs of its original remote
// code, read as transformers' convert_custom_code_checkpoint.py converts them (n_head_kv means the
// new decoder architecture). Key/value heads: num_kv_heads under the new architecture, one with
// multi_query, else num_kv_heads (default: every head).
void MapFalcon(Import& in) {
  Keys& k = in.keys;
  const std::string width_key = k.Spelling({"hidden_size", "n_embed"});
  const std::string layers_key = k.Spelling({"num_hidden_layers", "n_layer"});
  const std::string heads_key = k.Spelling({"num_attention_heads", "n_head"});
  const std::string kv_key = k.Spelling({"num_kv_heads", "n_head_kv"});
  const int width = Size(in, width_key, 4544);
  in.model.set_depth(Layers(in, layers_key, 32));
  const int heads = Size(in, heads_key, 71);
  const bool legacy = in.model_type != "falcon";
  const bool new_architecture =
      k.Bool("new_decoder_architecture", legacy && k.Present("n_head_kv"));
  const bool multi_query = k.Bool("multi_query", true);
  const int kv_heads = new_architecture || !multi_query ? k.Int(kv_key, heads) : 1;
  SetShape(in, width, heads_key, heads, kv_key, kv_heads, std::nullopt);
  SetMlp(in, "activation", k.Text("activation", "gelu"), false, "ffn_hidden_size",
         k.Int("ffn_hidden_size", 4 * width));
  in.model.set_norm(ModelSpec::PRE_LAYER);
  Eps(in, "layer_norm_epsilon", 1e-5);
  // The new architecture always runs attention and MLP in parallel (parallel_attn is not read);
  // one or two LayerNorms of the same input (num_ln_in_parallel_attn) are equal at init.
  const bool parallel_attn = k.Bool("parallel_attn", true);
  in.model.set_parallel(new_architecture || parallel_attn);
  k.Int("num_ln_in_parallel_attn", 2);
  in.attention().set_causal(true);
  RefuseIfTrue(in, "alibi",
               "adds ALiBi biases that Falcon scales by 1/sqrt(head_dim) with the logits, while "
               "attention.alibi adds the unscaled slopes");
  RefuseIfTrue(in, "apply_residual_connection_post_layernorm",
               "makes the skip carry the normalised input, X ← LN(X) + f(LN(X)), which no norm "
               "placement expresses");
  SetRope(in, "rope_theta", 10000, "", 1);
  SetInit(in, "initializer_range", 0.02);
}

// Phi (modeling_phi.py): one LayerNorm feeding attention and MLP in parallel, partial RoPE,
// optional per-head LayerNorm on queries and keys.
void MapPhi(Import& in) {
  Keys& k = in.keys;
  const int width = Size(in, "hidden_size", 2048);
  in.model.set_depth(Layers(in, "num_hidden_layers", 24));
  const int heads = Size(in, "num_attention_heads", 32);
  SetShape(in, width, "num_attention_heads", heads, "num_key_value_heads",
           k.MaybeInt("num_key_value_heads").value_or(heads), std::nullopt);
  SetMlp(in, "hidden_act", k.Text("hidden_act", "gelu_new"), false, "intermediate_size",
         Size(in, "intermediate_size", 8192));
  in.model.set_norm(ModelSpec::PRE_LAYER);
  Eps(in, "layer_norm_eps", 1e-5);
  in.model.set_parallel(true);
  in.attention().set_causal(true);
  if (k.Bool("qk_layernorm", false)) {
    in.attention().set_qk_norm(AttentionSpec::QkNorm::LAYER);
    in.attention().set_qk_norm_scope(AttentionSpec::HEAD);
  }
  SetRope(in, "rope_theta", 10000, "partial_rotary_factor", 0.5);
  SetInit(in, "initializer_range", 0.02);
}

// OPT (modeling_opt.py): learned positions, a ReLU MLP, pre- or (do_layer_norm_before false)
// post-LayerNorm at nn.LayerNorm's ε; a word_embed_proj_dim narrower than the width goes through
// project_in, an N(0, σ²) matrix, so a token's embedding has std σ·σ·sqrt(word_embed_proj_dim).
void MapOpt(Import& in) {
  Keys& k = in.keys;
  const int width = Size(in, "hidden_size", 768);
  in.model.set_depth(Layers(in, "num_hidden_layers", 12));
  const int heads = Size(in, "num_attention_heads", 12);
  SetShape(in, width, "num_attention_heads", heads, "num_attention_heads", heads, std::nullopt);
  CheckLearnedPositions(in, "max_position_embeddings", Size(in, "max_position_embeddings", 2048));
  SetMlp(in, "activation_function", k.Text("activation_function", "relu"), false, "ffn_dim",
         Size(in, "ffn_dim", 3072));
  in.model.set_norm(k.Bool("do_layer_norm_before", true) ? ModelSpec::PRE_LAYER
                                                         : ModelSpec::POST_LAYER);
  in.model.set_norm_eps(1e-5);
  in.attention().set_causal(true);
  ModelSpec::Init& init = SetInit(in, "init_std", 0.02);
  init.set_position_embedding_std(init.weight_std());
  const int projected = k.Int("word_embed_proj_dim", width);
  if (projected < 1) k.Refuse("word_embed_proj_dim", absl::StrCat("must be ≥ 1, got ", projected));
  if (projected != width) {
    init.set_embedding_std(init.weight_std() * init.weight_std() * std::sqrt(projected));
  }
}

struct Family {
  const char* model_type;
  const char* name;  // The family, for SweepSpec.name.
  void (*map)(Import&);
  // Family keys that change nothing at initialisation (docs/IMPORT.md gives each reason).
  std::vector<std::string> ignored;
};

const std::vector<std::string> kDropouts = {
    "attention_dropout", "hidden_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop",
    "hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout", "dropout",
    "activation_dropout", "layerdrop"};

std::vector<std::string> With(std::vector<std::string> keys, const std::vector<std::string>& more) {
  keys.insert(keys.end(), more.begin(), more.end());
  return keys;
}

const std::vector<Family>& Families() {
  static const std::vector<std::string> kRopeDecoder =
      With(kDropouts, {"max_position_embeddings", "attention_bias", "mlp_bias"});
  static const std::vector<std::string> kFalcon =
      With(kDropouts, {"max_position_embeddings", "bias"});
  static const std::vector<Family> families = {
      {"bert", "bert", MapBert, kDropouts},
      {"falcon", "falcon", MapFalcon, kFalcon},
      {"RefinedWeb", "falcon", MapFalcon, kFalcon},
      {"RefinedWebModel", "falcon", MapFalcon, kFalcon},
      {"gemma", "gemma", MapGemma, kRopeDecoder},
      {"gemma2", "gemma2", MapGemma2, With(kRopeDecoder, {"final_logit_softcapping",
                                                          "cache_implementation",
                                                          "sliding_window_size"})},
      {"gpt2", "gpt2", MapGpt2, With(kDropouts, {"n_ctx", "summary_type", "summary_use_proj",
                                                 "summary_activation", "summary_proj_to_labels",
                                                 "summary_first_dropout"})},
      {"gpt_neox", "gpt_neox", MapGptNeox, kRopeDecoder},
      {"gptj", "gptj", MapGptj, With(kDropouts, {"rotary", "scale_attn_weights", "summary_type",
                                                 "summary_use_proj", "summary_activation",
                                                 "summary_proj_to_labels",
                                                 "summary_first_dropout"})},
      {"llama", "llama", MapLlama, kRopeDecoder},
      {"mistral", "mistral", MapMistral, kRopeDecoder},
      {"olmo2", "olmo2", MapOlmo2, kRopeDecoder},
      {"opt", "opt", MapOpt, With(kDropouts, {"enable_bias", "layer_norm_elementwise_affine",
                                              "_remove_final_layer_norm"})},
      {"phi", "phi", MapPhi, kRopeDecoder},
      {"qwen2", "qwen2", MapQwen2, kRopeDecoder},
      {"qwen3", "qwen3", MapQwen3, kRopeDecoder},
  };
  return families;
}

}  // namespace

std::vector<std::string> ImportableModelTypes() {
  std::vector<std::string> types;
  for (const Family& family : Families()) types.push_back(family.model_type);
  std::sort(types.begin(), types.end());
  return types;
}

absl::Status CheckImportOptions(const ImportOptions& options) {
  if (options.tokens < 2) {
    return absl::InvalidArgumentError(absl::StrCat("tokens: must be ≥ 2, got ", options.tokens));
  }
  if (options.depth < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("depth: must be ≥ 1 (0: the config's), got ", options.depth));
  }
  if (options.samples < 1) {
    return absl::InvalidArgumentError(absl::StrCat("samples: must be ≥ 1, got ", options.samples));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::SweepSpec> ImportHfConfig(const std::string& json,
                                             const ImportOptions& options) {
  if (auto status = CheckImportOptions(options); !status.ok()) return status;
  Struct config;
  if (auto status = google::protobuf::util::JsonStringToMessage(json, &config); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a config.json (a JSON object): ", std::string(status.message())));
  }
  absl::Status error;
  Keys keys(config, "", &error);
  if (auto status = RefuseOtherLayerKinds(keys); !status.ok()) return status;
  const std::string model_type = keys.Text("model_type", "");
  if (!error.ok()) return error;
  const Family* family = nullptr;
  for (const Family& f : Families()) {
    if (model_type == f.model_type) family = &f;
  }
  if (family == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model_type: ",
        model_type.empty() ? "missing; it names the family"
                           : absl::StrCat("'", model_type, "' is not a family sigprop imports"),
        " (sigprop imports ", absl::StrJoin(ImportableModelTypes(), ", "), ")"));
  }

  v1::SweepSpec spec;
  ModelSpec& model = *spec.mutable_base()->mutable_model();
  model.set_tokens(options.tokens);
  model.mutable_attention()->set_kind(AttentionSpec::SOFTMAX);
  model.set_residual(ModelSpec::EXPLICIT);
  model.set_output_projection(true);
  Import in{keys, options, model_type, model};
  family->map(in);
  if (!error.ok()) return error;
  keys.Ignore(CommonIgnoredKeys());
  keys.Ignore(family->ignored);
  if (const std::vector<std::string> unread = keys.Unread(); !unread.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        absl::StrJoin(unread, ", "), ": not ", unread.size() == 1 ? "a key" : "keys", " of ",
        family->name, " configs that sigprop knows, so what ",
        unread.size() == 1 ? "it does" : "they do",
        " to the network is unknown; docs/IMPORT.md lists the keys each family maps and "
        "ignores"));
  }
  spec.set_name(absl::StrCat(family->name, " width ", model.width(), " depth ", model.depth()));
  spec.mutable_base()->set_samples(options.samples);
  return spec;
}

}  // namespace sigprop::cli
