// ImportHfConfig (client/config_import.h): every family's public config mapped field by field, the
// traps where a config's names or absences mislead, and every refusal's message (docs/IMPORT.md).
#include "client/config_import.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace sigprop::cli {
namespace {

using ::testing::HasSubstr;
using v1::ModelSpec;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(SIGPROP_HF_CONFIGS) + "/" + name + ".json");
  EXPECT_TRUE(in.good()) << "no fixture " << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fixture `name` with the top-level keys of `changes` (a JSON object) replaced or added and
// the keys in `removed` taken out.
std::string Edited(const std::string& name, const std::string& changes,
                   const std::vector<std::string>& removed = {}) {
  google::protobuf::Struct config, edits;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(Fixture(name), &config).ok());
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(changes, &edits).ok()) << changes;
  for (const auto& [key, value] : edits.fields()) (*config.mutable_fields())[key] = value;
  for (const std::string& key : removed) {
    EXPECT_EQ(config.mutable_fields()->erase(key), 1u) << name << " has no " << key;
  }
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(config, &json).ok());
  return json;
}

ImportOptions Tokens(int tokens, int depth = 0) {
  ImportOptions options;
  options.tokens = tokens;
  options.depth = depth;
  return options;
}

ModelSpec Model(const std::string& json, const ImportOptions& options = {}) {
  auto spec = ImportHfConfig(json, options);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? spec->base().model() : ModelSpec();
}

// The refusal of `json`: INVALID_ARGUMENT, its message.
std::string Refusal(const std::string& json, const ImportOptions& options = {}) {
  auto spec = ImportHfConfig(json, options);
  EXPECT_FALSE(spec.ok()) << "imported: " << spec->ShortDebugString();
  if (spec.ok()) return "";
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << spec.status();
  return std::string(spec.status().message());
}

// `actual` equals the text-format model `expected`, doubles to 1e-12 relative.
void ExpectModel(const ModelSpec& actual, const std::string& expected) {
  ModelSpec want;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(expected, &want)) << expected;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_float_comparison(google::protobuf::util::MessageDifferencer::APPROXIMATE);
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differencer.Compare(want, actual))
      << differences << "\nactual: " << actual.ShortDebugString();
}

// --- Each family's public config, field by field ---------------------------------------------

TEST(ConfigImportTest, Gpt2) {
  auto spec = ImportHfConfig(Fixture("gpt2"), {});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "gpt2 width 768 depth 12");
  EXPECT_EQ(spec->base().samples(), 100);
  EXPECT_FALSE(spec->base().gradients());
  EXPECT_EQ(spec->base().method(), v1::RunSpec::METHOD_UNSPECIFIED);
  EXPECT_EQ(spec->axes_size(), 0);
  ExpectModel(spec->base().model(), R"pb(
    tokens: 8 width: 768 heads: 12 depth: 12
    attention { kind: SOFTMAX causal: true }
    mlp { activation: GELU_TANH hidden_width: 3072 }
    norm: PRE_LAYER norm_eps: 1e-5 residual: EXPLICIT output_projection: true
    init {
      weight_std: 0.02 embedding_std: 0.02 position_embedding_std: 0.02
      residual_projection_std: 0.0040824829046386302  # 0.02/sqrt(2·12)
    }
  )pb");
}

TEST(ConfigImportTest, Bert) {
  ExpectModel(Model(Fixture("bert")), R"pb(
    tokens: 8 width: 768 heads: 12 depth: 12
    attention { kind: SOFTMAX }
    mlp { activation: GELU hidden_width: 3072 }
    norm: POST_LAYER norm_eps: 1e-12 residual: EXPLICIT output_projection: true
    init {
      weight_std: 0.02 embedding_std: 0.02 position_embedding_std: 0.02
      normalised_embeddings: true
    }
    initial { rho0: 0.33333333333333331 }  # the shared token-type embedding
  )pb");
}

TEST(ConfigImportTest, Llama2) {
  ExpectModel(Model(Fixture("llama")), R"pb(
    tokens: 8 width: 4096 heads: 32 depth: 32
    attention { kind: SOFTMAX causal: true rope { theta: 10000 } }
    mlp { activation: SWIGLU hidden_width: 11008 }
    norm: PRE_RMS norm_eps: 1e-5 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 }
  )pb");
}

TEST(ConfigImportTest, Mistral) {
  ExpectModel(Model(Fixture("mistral")), R"pb(
    tokens: 8 width: 4096 heads: 32 kv_heads: 8 depth: 32
    attention { kind: SOFTMAX causal: true rope { theta: 10000 } }
    mlp { activation: SWIGLU hidden_width: 14336 }
    norm: PRE_RMS norm_eps: 1e-5 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 }
  )pb");
}

TEST(ConfigImportTest, Qwen25) {
  ExpectModel(Model(Fixture("qwen2")), R"pb(
    tokens: 8 width: 3584 heads: 28 kv_heads: 4 depth: 28
    attention { kind: SOFTMAX causal: true rope { theta: 1000000 } }
    mlp { activation: SWIGLU hidden_width: 18944 }
    norm: PRE_RMS norm_eps: 1e-6 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 }
  )pb");
}

TEST(ConfigImportTest, Qwen3) {
  ExpectModel(Model(Fixture("qwen3")), R"pb(
    tokens: 8 width: 4096 heads: 32 kv_heads: 8 head_dim: 128 depth: 36
    attention {
      kind: SOFTMAX causal: true rope { theta: 1000000 } qk_norm: RMS qk_norm_scope: HEAD
    }
    mlp { activation: SWIGLU hidden_width: 12288 }
    norm: PRE_RMS norm_eps: 1e-6 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 }
  )pb");
}

TEST(ConfigImportTest, Gemma) {
  ExpectModel(Model(Fixture("gemma")), R"pb(
    tokens: 8 width: 2048 heads: 8 kv_heads: 1 head_dim: 256 depth: 18
    attention { kind: SOFTMAX causal: true rope { theta: 10000 } }
    mlp { activation: GEGLU_TANH hidden_width: 16384 }
    norm: PRE_RMS norm_eps: 1e-6 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 embedding_multiplier: 45.254833995939045 }
  )pb");
}

TEST(ConfigImportTest, Gemma2) {
  ExpectModel(Model(Fixture("gemma2")), R"pb(
    tokens: 8 width: 3584 heads: 16 kv_heads: 8 head_dim: 256 depth: 42
    attention { kind: SOFTMAX causal: true rope { theta: 10000 } logit_softcap: 50 }
    mlp { activation: GEGLU_TANH hidden_width: 14336 }
    norm: PERI_RMS norm_eps: 1e-6 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 embedding_multiplier: 59.866518188383061 }
  )pb");
}

TEST(ConfigImportTest, Pythia) {
  ExpectModel(Model(Fixture("gpt_neox")), R"pb(
    tokens: 8 width: 2048 heads: 8 depth: 16 parallel: true
    attention { kind: SOFTMAX causal: true rope { theta: 10000 fraction: 0.25 } }
    mlp { activation: GELU hidden_width: 8192 }
    norm: PRE_LAYER norm_eps: 1e-5 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 }
  )pb");
}

TEST(ConfigImportTest, GptJ) {
  ExpectModel(Model(Fixture("gptj")), R"pb(
    tokens: 8 width: 4096 heads: 16 depth: 28 parallel: true
    attention {
      kind: SOFTMAX causal: true rope { theta: 10000 fraction: 0.25 interleaved: true }
    }
    mlp { activation: GELU_TANH hidden_width: 16384 }
    norm: PRE_LAYER norm_eps: 1e-5 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 }
  )pb");
}

// Falcon-7B in its original RefinedWebModel schema: n_head/n_layer, multi-query attention.
TEST(ConfigImportTest, Falcon7bRefinedWebModel) {
  auto spec = ImportHfConfig(Fixture("RefinedWebModel"), {});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "falcon width 4544 depth 32");
  ExpectModel(spec->base().model(), R"pb(
    tokens: 8 width: 4544 heads: 71 kv_heads: 1 depth: 32 parallel: true
    attention { kind: SOFTMAX causal: true rope { theta: 10000 } }
    mlp { activation: GELU hidden_width: 18176 }
    norm: PRE_LAYER norm_eps: 1e-5 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 }
  )pb");
}

constexpr char kFalcon40b[] = R"pb(
  tokens: 8 width: 8192 heads: 128 kv_heads: 8 depth: 60 parallel: true
  attention { kind: SOFTMAX causal: true rope { theta: 10000 } }
  mlp { activation: GELU hidden_width: 32768 }
  norm: PRE_LAYER norm_eps: 1e-5 residual: EXPLICIT output_projection: true
  init { weight_std: 0.02 embedding_std: 0.02 }
)pb";

// Falcon-40B in both schemas: the new one names the architecture, the old one implies it by
// n_head_kv (as transformers' conversion script reads it).
TEST(ConfigImportTest, Falcon40bBothSchemas) {
  ExpectModel(Model(Fixture("falcon")), kFalcon40b);
  ExpectModel(Model(Fixture("RefinedWeb")), kFalcon40b);
}

TEST(ConfigImportTest, Phi2) {
  ExpectModel(Model(Fixture("phi")), R"pb(
    tokens: 8 width: 2560 heads: 32 depth: 32 parallel: true
    attention { kind: SOFTMAX causal: true rope { theta: 10000 fraction: 0.4 } }
    mlp { activation: GELU_TANH hidden_width: 10240 }
    norm: PRE_LAYER norm_eps: 1e-5 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 }
  )pb");
}

TEST(ConfigImportTest, Opt) {
  ExpectModel(Model(Fixture("opt")), R"pb(
    tokens: 8 width: 2048 heads: 32 depth: 24
    attention { kind: SOFTMAX causal: true }
    mlp { activation: RELU hidden_width: 8192 }
    norm: PRE_LAYER norm_eps: 1e-5 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 position_embedding_std: 0.02 }
  )pb");
}

TEST(ConfigImportTest, Olmo2) {
  ExpectModel(Model(Fixture("olmo2")), R"pb(
    tokens: 8 width: 4096 heads: 32 depth: 32
    attention {
      kind: SOFTMAX causal: true rope { theta: 500000 } qk_norm: RMS qk_norm_scope: PROJECTION
    }
    mlp { activation: SWIGLU hidden_width: 11008 }
    norm: OUTPUT_RMS norm_eps: 1e-6 residual: EXPLICIT output_projection: true
    init { weight_std: 0.02 embedding_std: 0.02 }
  )pb");
}

TEST(ConfigImportTest, EveryFamilyHasAFixture) {
  for (const std::string& type : ImportableModelTypes()) {
    EXPECT_TRUE(ImportHfConfig(Fixture(type), {}).ok()) << type;
  }
}

TEST(ConfigImportTest, OptionsSetTokensDepthAndSamples) {
  ImportOptions options;
  options.tokens = 16;
  options.depth = 2;
  options.samples = 4;
  auto spec = ImportHfConfig(Fixture("llama"), options);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->base().model().tokens(), 16);
  EXPECT_EQ(spec->base().model().depth(), 2);
  EXPECT_EQ(spec->base().samples(), 4);
  EXPECT_EQ(spec->name(), "llama width 4096 depth 2");
}

// --depth imports the config as if it had that many layers: GPT-2's c_proj std follows it.
TEST(ConfigImportTest, DepthOverrideRescalesGpt2ResidualProjections) {
  const ModelSpec m = Model(Fixture("gpt2"), Tokens(8, 2));
  EXPECT_EQ(m.depth(), 2);
  EXPECT_DOUBLE_EQ(m.init().residual_projection_std(), 0.02 / 2);
}

// --- Traps --------------------------------------------------------------------------------------

// Qwen3-0.6B: 16 heads of 128 on a width of 1024; Gemma-7B's default head_dim 256 on 3072/16.
TEST(ConfigImportTest, HeadDimIsNotAlwaysWidthOverHeads) {
  const ModelSpec qwen = Model(Edited(
      "qwen3", R"({"hidden_size": 1024, "num_attention_heads": 16, "num_key_value_heads": 8})"));
  EXPECT_EQ(qwen.head_dim(), 128);
  const ModelSpec gemma = Model(Edited(
      "gemma", R"({"hidden_size": 3072, "num_attention_heads": 16, "num_key_value_heads": 16})",
      {"head_dim"}));
  EXPECT_EQ(gemma.head_dim(), 256);
  EXPECT_EQ(gemma.kv_heads(), 0);
  // LLaMA has no head_dim of its own: width/heads.
  EXPECT_EQ(Model(Fixture("llama")).head_dim(), 0);
}

TEST(ConfigImportTest, FalconKeyValueHeadsComeFromItsArchitectureFlags) {
  EXPECT_EQ(Model(Fixture("RefinedWebModel")).kv_heads(), 1);  // multi_query
  EXPECT_EQ(Model(Fixture("falcon")).kv_heads(), 8);           // new_decoder_architecture
  EXPECT_EQ(Model(Fixture("RefinedWeb")).kv_heads(), 8);       // n_head_kv implies it
  // Neither: every head has its own keys and values (kv_heads unset).
  const ModelSpec plain = Model(Edited("falcon", R"({"new_decoder_architecture": false,
      "multi_query": false, "parallel_attn": false})", {"num_kv_heads"}));
  EXPECT_EQ(plain.kv_heads(), 0);
  EXPECT_FALSE(plain.parallel());
  // multi_query wins over num_kv_heads outside the new architecture, as FalconAttention reads it.
  EXPECT_EQ(Model(Edited("RefinedWebModel", R"({"num_kv_heads": 71})")).kv_heads(), 1);
  // The new architecture is parallel whatever parallel_attn says.
  EXPECT_TRUE(Model(Edited("falcon", R"({"parallel_attn": false})")).parallel());
}

// Gemma's MLP reads hidden_activation and falls back to the tanh form: "hidden_act": "gelu" in
// gemma-2b's config does not make it the erf GeLU; hidden_activation "gelu" does.
TEST(ConfigImportTest, GemmaActivationNamesMislead) {
  EXPECT_EQ(Model(Fixture("gemma")).mlp().activation(), v1::MlpSpec::GEGLU_TANH);
  EXPECT_EQ(Model(Edited("gemma", R"({"hidden_activation": "gelu"})")).mlp().activation(),
            v1::MlpSpec::GEGLU);
  EXPECT_EQ(Model(Edited("gemma2", R"({"hidden_act": "gelu"})")).mlp().activation(),
            v1::MlpSpec::GEGLU_TANH);
  // GPT-2's gelu_new and BERT's gelu are the tanh and erf forms of a plain MLP.
  EXPECT_EQ(Model(Fixture("gpt2")).mlp().activation(), v1::MlpSpec::GELU_TANH);
  EXPECT_EQ(Model(Edited("gpt2", R"({"activation_function": "gelu"})")).mlp().activation(),
            v1::MlpSpec::GELU);
}

TEST(ConfigImportTest, AbsentKeysTakeTheirFamilysDefaults) {
  // LLaMA's rms_norm_eps defaults to 1e-6 (Llama-2's config says 1e-5), OLMo 2's to 1e-5.
  EXPECT_DOUBLE_EQ(Model(Edited("llama", "{}", {"rms_norm_eps"})).norm_eps(), 1e-6);
  EXPECT_DOUBLE_EQ(Model(Edited("olmo2", "{}", {"rms_norm_eps"})).norm_eps(), 1e-5);
  // Phi rotates half of each head by default, GPT-NeoX a quarter.
  EXPECT_DOUBLE_EQ(
      Model(Edited("phi", "{}", {"partial_rotary_factor"})).attention().rope().fraction(), 0.5);
  EXPECT_DOUBLE_EQ(Model(Edited("gpt_neox", "{}", {"rotary_pct"})).attention().rope().fraction(),
                   0.25);
  // Mistral's kv heads default to 8, LLaMA's to every head.
  EXPECT_EQ(Model(Edited("mistral", "{}", {"num_key_value_heads"})).kv_heads(), 8);
  EXPECT_EQ(Model(Edited("llama", "{}", {"num_key_value_heads"})).kv_heads(), 0);
  // n_inner null: four times the width; GPT-J rotary_dim null: the whole head.
  EXPECT_EQ(Model(Edited("gpt2", R"({"n_inner": null})")).mlp().hidden_width(), 3072);
  EXPECT_FALSE(Model(Edited("gptj", R"({"rotary_dim": null})")).attention().rope().has_fraction());
  // OPT: no word_embed_proj_dim means the width.
  EXPECT_DOUBLE_EQ(Model(Edited("opt", "{}", {"word_embed_proj_dim"})).init().embedding_std(),
                   0.02);
}

TEST(ConfigImportTest, SlidingWindowMayBePresentButOff) {
  // Qwen2.5's sliding_window is set and use_sliding_window false: no window at any length.
  const std::string qwen = Edited("qwen2", R"({"sliding_window": 4})");
  EXPECT_EQ(Model(qwen, Tokens(8)).attention().window(), 0);
  // On, from layer 0: every layer slides; transformers counts the token itself in the window.
  const std::string on = Edited(
      "qwen2", R"({"sliding_window": 4, "use_sliding_window": true, "max_window_layers": 0})");
  EXPECT_EQ(Model(on, Tokens(8)).attention().window(), 3);
  EXPECT_EQ(Model(on, Tokens(4)).attention().window(), 0);  // the sequence fits in it
  // Mistral: every layer; null switches it off.
  const std::string mistral = Edited("mistral", R"({"sliding_window": 4})");
  EXPECT_EQ(Model(mistral, Tokens(8)).attention().window(), 3);
  const std::string off = Edited("mistral", R"({"sliding_window": null})");
  EXPECT_EQ(Model(off, Tokens(8)).attention().window(), 0);
  // layer_types, where a config has them, say which layers slide.
  EXPECT_EQ(Model(Edited("qwen2", R"({"sliding_window": 4, "use_sliding_window": true,
      "num_hidden_layers": 2, "layer_types": ["sliding_attention", "sliding_attention"]})"),
                  Tokens(8)).attention().window(), 3);
}

TEST(ConfigImportTest, RopeThetaMayBeAnIntegerOrNested) {
  EXPECT_EQ(Model(Fixture("olmo2")).attention().rope().theta(), 500000);
  const ModelSpec nested = Model(Edited(
      "llama", R"({"rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}})"));
  EXPECT_EQ(nested.attention().rope().theta(), 500000);
  // transformers v5 writes each layer type's parameters; equal ones import.
  const ModelSpec typed = Model(Edited("gemma2", R"({"rope_parameters": {
      "full_attention": {"rope_theta": 20000, "rope_type": "default"},
      "sliding_attention": {"rope_theta": 20000, "rope_type": "default"}}})"));
  EXPECT_EQ(typed.attention().rope().theta(), 20000);
  // A rope_scaling with rope_type default changes nothing; GPT-NeoX's partial factor may move
  // into rope_parameters.
  EXPECT_EQ(Model(Edited("llama", R"({"rope_scaling": {"rope_type": "default"}})"))
                .attention().rope().theta(), 10000);
  EXPECT_DOUBLE_EQ(Model(Edited("gpt_neox", R"({"rope_parameters": {"rope_type": "default",
      "rope_theta": 10000, "partial_rotary_factor": 0.5}})", {"rotary_pct", "rotary_emb_base"}))
                       .attention().rope().fraction(), 0.5);
}

// Dynamic NTK scaling leaves θ alone until the sequence outgrows the original context.
TEST(ConfigImportTest, DynamicRopeScalingWithinTheOriginalContextIsDefault) {
  const std::string dynamic =
      Edited("llama", R"({"rope_scaling": {"type": "dynamic", "factor": 2.0}})");
  EXPECT_EQ(Model(dynamic, Tokens(4096)).attention().rope().theta(), 10000);
  EXPECT_THAT(Refusal(dynamic, Tokens(4097)),
              HasSubstr("rope_scaling.type: 'dynamic' raises θ once the sequence is longer than "
                        "the original context 4096"));
}

TEST(ConfigImportTest, QkNormPerHeadInQwen3OverTheProjectionInOlmo2) {
  EXPECT_EQ(Model(Fixture("qwen3")).attention().qk_norm_scope(), v1::AttentionSpec::HEAD);
  EXPECT_EQ(Model(Fixture("olmo2")).attention().qk_norm_scope(), v1::AttentionSpec::PROJECTION);
  // Phi's optional qk_layernorm is a LayerNorm per head.
  const ModelSpec phi = Model(Edited("phi", R"({"qk_layernorm": true})"));
  EXPECT_EQ(phi.attention().qk_norm(), v1::AttentionSpec::QkNorm::LAYER);
  EXPECT_EQ(phi.attention().qk_norm_scope(), v1::AttentionSpec::HEAD);
  EXPECT_EQ(Model(Fixture("llama")).attention().qk_norm(),
            v1::AttentionSpec::QkNorm::KIND_UNSPECIFIED);
}

// OPT-350m: post-LayerNorm, and 512-wide word embeddings projected up by project_in.
TEST(ConfigImportTest, OptLayerNormAfterAndProjectedEmbeddings) {
  const ModelSpec m = Model(Edited("opt", R"({"do_layer_norm_before": false,
      "hidden_size": 1024, "num_attention_heads": 16, "ffn_dim": 4096,
      "word_embed_proj_dim": 512})"));
  EXPECT_EQ(m.norm(), ModelSpec::POST_LAYER);
  EXPECT_DOUBLE_EQ(m.init().embedding_std(), 0.02 * 0.02 * std::sqrt(512.0));
  EXPECT_DOUBLE_EQ(m.init().position_embedding_std(), 0.02);
}

TEST(ConfigImportTest, Gpt2AttentionScalingKeys) {
  // reorder_and_upcast_attn changes where the scaling is done in float32: the same law.
  EXPECT_EQ(Model(Edited("gpt2", R"({"reorder_and_upcast_attn": true})")).ShortDebugString(),
            Model(Fixture("gpt2")).ShortDebugString());
  // scale_attn_weights false: logits q·k, τ = 1.
  EXPECT_EQ(Model(Edited("gpt2", R"({"scale_attn_weights": false})")).attention().tau(), 1);
  EXPECT_FALSE(Model(Fixture("gpt2")).attention().has_tau());
  EXPECT_THAT(Refusal(Edited("gpt2", R"({"scale_attn_by_inverse_layer_idx": true})")),
              HasSubstr("scale_attn_by_inverse_layer_idx: true divides layer ℓ's logits by "
                        "ℓ + 1"));
}

// Gemma 2's logits are scaled by query_pre_attn_scalar^(-1/2): Gemma-2-27B's 144 is not its
// head_dim 128.
TEST(ConfigImportTest, Gemma2TemperatureFromQueryPreAttnScalar) {
  EXPECT_FALSE(Model(Fixture("gemma2")).attention().has_tau());  // 256 = head_dim
  const ModelSpec big = Model(Edited("gemma2", R"({"hidden_size": 4608,
      "num_attention_heads": 32, "num_key_value_heads": 16, "head_dim": 128,
      "query_pre_attn_scalar": 144, "intermediate_size": 36864})"));
  EXPECT_DOUBLE_EQ(big.attention().tau(), 12);
  EXPECT_FALSE(Model(Edited("gemma2", R"({"attn_logit_softcapping": null})"))
                   .attention().has_logit_softcap());
}

TEST(ConfigImportTest, LearnedPositionsBoundTheTokens) {
  EXPECT_EQ(Model(Fixture("gpt2"), Tokens(1024)).tokens(), 1024);
  EXPECT_THAT(Refusal(Fixture("gpt2"), Tokens(1025)),
              HasSubstr("n_positions: --tokens 1025 exceeds the 1024 learned position "
                        "embeddings"));
  EXPECT_THAT(Refusal(Fixture("opt"), Tokens(2049)), HasSubstr("max_position_embeddings: "));
  EXPECT_THAT(Refusal(Fixture("bert"), Tokens(513)), HasSubstr("max_position_embeddings: "));
  // GPT-J precomputes its rotary angles for n_positions positions.
  EXPECT_THAT(Refusal(Fixture("gptj"), Tokens(2049)),
              HasSubstr("n_positions: --tokens 2049 exceeds the 2048 positions whose rotary "
                        "angles GPT-J precomputes"));
  // LLaMA computes its angles for any position: it imports past max_position_embeddings.
  EXPECT_EQ(Model(Fixture("llama"), Tokens(5000)).tokens(), 5000);
}

// --- Refusals -----------------------------------------------------------------------------------

TEST(ConfigImportTest, RefusesMixturesOfExperts) {
  EXPECT_THAT(Refusal(Edited("mistral", R"({"model_type": "mixtral", "num_local_experts": 8,
      "num_experts_per_tok": 2})")),
              HasSubstr("num_local_experts: 8 experts make a mixture of experts"));
  EXPECT_THAT(Refusal(Edited("qwen2", R"({"num_experts": 60})")),
              HasSubstr("num_experts: 60 experts make a mixture of experts"));
  EXPECT_THAT(Refusal(Edited("qwen3", R"({"moe_intermediate_size": 768})")),
              HasSubstr("moe_intermediate_size: 768 configures a mixture of experts"));
  // One expert, or routing switched off, is a dense model.
  EXPECT_TRUE(ImportHfConfig(Edited("llama", R"({"num_local_experts": 1,
      "output_router_logits": false})"), {}).ok());
}

TEST(ConfigImportTest, RefusesStateSpaceLayers) {
  EXPECT_THAT(Refusal(Edited("llama", R"({"ssm_cfg": {"d_state": 16}})")),
              HasSubstr("ssm_cfg: an object configures state-space (Mamba-style) layers"));
  EXPECT_THAT(Refusal(Edited("falcon", R"({"mamba_d_state": 16})")),
              HasSubstr("mamba_d_state: 16 configures state-space"));
}

TEST(ConfigImportTest, RefusesUnknownOrMissingModelType) {
  EXPECT_THAT(Refusal(Edited("llama", R"({"model_type": "t5"})")),
              HasSubstr("model_type: 't5' is not a family sigprop imports (sigprop imports "
                        "RefinedWeb, RefinedWebModel, bert, falcon, gemma, gemma2, gpt2, "
                        "gpt_neox, gptj, llama, mistral, olmo2, opt, phi, qwen2, qwen3)"));
  EXPECT_THAT(Refusal(Edited("llama", "{}", {"model_type"})),
              HasSubstr("model_type: missing; it names the family"));
  EXPECT_THAT(Refusal("[1, 2]"), HasSubstr("not a config.json (a JSON object)"));
}

TEST(ConfigImportTest, RefusesRopeScalingItCannotExpress) {
  EXPECT_THAT(Refusal(Edited("llama", R"({"rope_scaling": {"type": "linear", "factor": 2.0}})")),
              HasSubstr("rope_scaling.type: 'linear' rescales RoPE's frequencies or positions"));
  EXPECT_THAT(Refusal(Edited("llama", R"({"rope_scaling": {"rope_type": "llama3",
      "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 8192}})")),
              HasSubstr("rope_scaling.rope_type: 'llama3' rescales"));
  EXPECT_THAT(Refusal(Edited("qwen3", R"({"rope_parameters": {"rope_type": "yarn",
      "factor": 4.0}})")), HasSubstr("rope_parameters.rope_type: 'yarn' rescales"));
  EXPECT_THAT(Refusal(Edited("llama", R"({"rope_parameters": {"rope_type": "default",
      "mrope_section": [16, 24, 24]}})")),
              HasSubstr("rope_parameters.mrope_section: not a RoPE parameter sigprop knows"));
  EXPECT_THAT(Refusal(Edited("gemma2", R"({"rope_parameters": {
      "full_attention": {"rope_theta": 1000000, "rope_type": "default"},
      "sliding_attention": {"rope_theta": 10000, "rope_type": "default"}}})")),
              HasSubstr("differs from the other layer types' RoPE"));
}

TEST(ConfigImportTest, RefusesWindowsOverSomeLayersOnly) {
  // Gemma 2 alternates local and global layers: fine while the sequence fits the window.
  EXPECT_EQ(Model(Edited("gemma2", R"({"sliding_window": 8})"), Tokens(8)).attention().window(),
            0);
  EXPECT_THAT(Refusal(Edited("gemma2", R"({"sliding_window": 4})"), Tokens(8)),
              HasSubstr("sliding_window: slides a window of 4 tokens over some layers and attends "
                        "to every token in others; with --tokens 8 > 4"));
  EXPECT_THAT(Refusal(Edited("qwen2", R"({"sliding_window": 4, "use_sliding_window": true,
      "max_window_layers": 14})"), Tokens(8)), HasSubstr("max_window_layers: slides a window"));
  EXPECT_THAT(Refusal(Edited("mistral", R"({"sliding_window": 1})"), Tokens(8)),
              HasSubstr("sliding_window: 1 lets each token see only itself"));
}

TEST(ConfigImportTest, RefusesKeysThatChangeTheLawAndCannotBeExpressed) {
  EXPECT_THAT(Refusal(Edited("bert", R"({"position_embedding_type": "relative_key"})")),
              HasSubstr("position_embedding_type: 'relative_key' adds learned relative-position "
                        "terms"));
  EXPECT_THAT(Refusal(Edited("falcon", R"({"alibi": true})")),
              HasSubstr("alibi: true adds ALiBi biases that Falcon scales by 1/sqrt(head_dim)"));
  EXPECT_THAT(Refusal(Edited("RefinedWebModel",
                             R"({"apply_residual_connection_post_layernorm": true})")),
              HasSubstr("apply_residual_connection_post_layernorm: true makes the skip carry "
                        "the normalised input"));
  EXPECT_THAT(Refusal(Edited("qwen2", R"({"use_mrope": true})")),
              HasSubstr("use_mrope: true rotates by multimodal"));
  EXPECT_THAT(Refusal(Edited("gpt2", R"({"add_cross_attention": true})")),
              HasSubstr("add_cross_attention: true adds cross-attention"));
  EXPECT_THAT(Refusal(Edited("llama", R"({"hidden_act": "relu"})")),
              HasSubstr("hidden_act: 'relu' as the gate of a gated MLP has no mlp.activation"));
  EXPECT_THAT(Refusal(Edited("gpt2", R"({"activation_function": "quick_gelu"})")),
              HasSubstr("activation_function: 'quick_gelu' as the activation of a plain MLP"));
}

// A key nobody maps or ignores might change the network: refused, never dropped.
TEST(ConfigImportTest, RefusesKeysItDoesNotKnow) {
  EXPECT_THAT(Refusal(Edited("llama", R"({"logit_scale": 0.5})")),
              HasSubstr("logit_scale: not a key of llama configs that sigprop knows"));
  EXPECT_THAT(Refusal(Edited("gpt2", R"({"b": 1, "a": 2})")),
              HasSubstr("a, b: not keys of gpt2 configs that sigprop knows"));
}

TEST(ConfigImportTest, RefusesValuesOfTheWrongTypeOrSize) {
  EXPECT_THAT(Refusal(Edited("llama", R"({"hidden_size": "big"})")),
              HasSubstr("hidden_size: must be a number, got 'big'"));
  EXPECT_THAT(Refusal(Edited("llama", R"({"num_hidden_layers": 2.5})")),
              HasSubstr("num_hidden_layers: must be a whole number, got 2.5"));
  EXPECT_THAT(Refusal(Edited("llama", R"({"hidden_size": 0})")),
              HasSubstr("hidden_size: must be ≥ 1, got 0"));
  EXPECT_THAT(Refusal(Edited("gptj", R"({"n_head": 0})")), HasSubstr("n_head: must be ≥ 1, got 0"));
  EXPECT_THAT(Refusal(Edited("llama", R"({"num_key_value_heads": 5})")),
              HasSubstr("num_key_value_heads: 5 key/value heads do not divide the 32 query heads"));
  EXPECT_THAT(Refusal(Edited("gpt2", R"({"n_head": 7})")),
              HasSubstr("n_head: 7 heads do not divide the width 768"));
  EXPECT_THAT(Refusal(Edited("gpt2", R"({"scale_attn_weights": "yes"})")),
              HasSubstr("scale_attn_weights: must be true or false, got 'yes'"));
  EXPECT_THAT(Refusal(Edited("llama", R"({"initializer_range": 0})")),
              HasSubstr("initializer_range: must be > 0, got 0"));
}

TEST(ConfigImportTest, RefusesBadOptions) {
  EXPECT_THAT(Refusal(Fixture("llama"), Tokens(1)), HasSubstr("tokens: must be ≥ 2, got 1"));
  ImportOptions no_samples;
  no_samples.samples = 0;
  EXPECT_THAT(Refusal(Fixture("llama"), no_samples), HasSubstr("samples: must be ≥ 1, got 0"));
  EXPECT_THAT(Refusal(Fixture("llama"), Tokens(8, -1)), HasSubstr("depth: must be ≥ 1"));
}

}  // namespace
}  // namespace sigprop::cli
