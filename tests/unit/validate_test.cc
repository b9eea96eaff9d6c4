// Every validation error names the field path and the bad value (issue "Bad input").
#include "common/validate.h"

#include <cmath>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/spec_io.h"

namespace sigprop {
namespace {

using ::testing::HasSubstr;

v1::RunSpec GoodRun() {
  v1::RunSpec run;
  run.set_samples(10);
  run.set_seed(1);
  auto* model = run.mutable_model();
  model->set_tokens(4);
  model->set_width(16);
  model->set_depth(3);
  return run;
}

absl::Status Check(const v1::RunSpec& run) { return ValidateRun(run, "base", Limits{}); }

void ExpectInvalid(const v1::RunSpec& run, const std::string& field, const std::string& detail) {
  const absl::Status status = Check(run);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(field)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(detail)) << status;
}

TEST(ValidateTest, AcceptsAGoodRunAndEveryPreset) {
  EXPECT_TRUE(Check(GoodRun()).ok());
  for (int preset = 1; preset <= 5; ++preset) {
    v1::RunSpec run = GoodRun();
    run.mutable_model()->set_preset(static_cast<v1::ModelSpec::Preset>(preset));
    EXPECT_TRUE(Check(run).ok()) << preset << ": " << Check(run);
  }
}

TEST(ValidateTest, TooFewTokens) {
  v1::RunSpec run = GoodRun();
  run.mutable_model()->set_tokens(1);
  ExpectInvalid(run, "base.model.tokens", "got 1");
}

TEST(ValidateTest, WidthBelowTokens) {
  v1::RunSpec run = GoodRun();
  run.mutable_model()->set_width(3);
  ExpectInvalid(run, "base.model.width", "got 3");
}

TEST(ValidateTest, NonPositiveTau0AndTau) {
  v1::RunSpec run = GoodRun();
  run.mutable_model()->mutable_attention()->set_tau0(-1);
  ExpectInvalid(run, "base.model.attention.tau0", "got -1");
  run = GoodRun();
  run.mutable_model()->mutable_attention()->set_tau(0);
  ExpectInvalid(run, "base.model.attention.tau", "got 0");
}

TEST(ValidateTest, HeadsMustDivideWidths) {
  v1::RunSpec run = GoodRun();
  run.mutable_model()->set_heads(3);
  ExpectInvalid(run, "base.model.heads", "got 3");
  run = GoodRun();
  run.mutable_model()->set_heads(2);
  run.mutable_model()->set_key_width(5);
  ExpectInvalid(run, "base.model.heads", "key_width 5");
}

TEST(ValidateTest, DepthAndSamples) {
  v1::RunSpec run = GoodRun();
  run.mutable_model()->set_depth(0);
  ExpectInvalid(run, "base.model.depth", "got 0");
  run = GoodRun();
  run.set_samples(0);
  ExpectInvalid(run, "base.samples", "got 0");
}

TEST(ValidateTest, Rho0OutsideThePositiveDefiniteRange) {
  v1::RunSpec run = GoodRun();
  run.mutable_model()->mutable_initial()->set_rho0(1.0);
  ExpectInvalid(run, "base.model.initial.rho0", "got 1");
  run.mutable_model()->mutable_initial()->set_rho0(-0.5);  // below −1/(m−1) = −1/3
  ExpectInvalid(run, "base.model.initial.rho0", "got -0.5");
}

TEST(ValidateTest, V0NotPositiveDefiniteOrWrongSizeOrAsymmetric) {
  v1::RunSpec run = GoodRun();
  run.mutable_model()->set_tokens(2);
  auto* v0 = run.mutable_model()->mutable_initial()->mutable_v0();
  for (double x : {1.0, 2.0, 2.0, 1.0}) v0->add_values(x);  // eigenvalues 3 and −1
  ExpectInvalid(run, "base.model.initial.v0.values", "positive definite");
  v0->clear_values();
  for (double x : {1.0, 0.5, 0.4, 1.0}) v0->add_values(x);
  ExpectInvalid(run, "base.model.initial.v0.values", "symmetric");
  v0->clear_values();
  for (double x : {1.0, 0.5, 0.5}) v0->add_values(x);
  ExpectInvalid(run, "base.model.initial.v0.values", "got 3");
}

TEST(ValidateTest, NanAndInfAnywhere) {
  v1::RunSpec run = GoodRun();
  run.mutable_model()->mutable_attention()->set_tau0(std::nan(""));
  ExpectInvalid(run, "base.model.attention.tau0", "finite");
  run = GoodRun();
  run.mutable_model()->mutable_mlp()->set_c_minus(std::numeric_limits<double>::infinity());
  ExpectInvalid(run, "base.model.mlp.c_minus", "inf");
  run = GoodRun();
  run.add_quantiles(0.5);
  run.add_quantiles(std::nan(""));
  ExpectInvalid(run, "base.quantiles[1]", "finite");
}

TEST(ValidateTest, QuantilesAndHistograms) {
  v1::RunSpec run = GoodRun();
  run.add_quantiles(1.5);
  ExpectInvalid(run, "base.quantiles[0]", "got 1.5");
  run = GoodRun();
  auto* h = run.add_histogram();
  h->set_statistic("rho_mean");
  h->set_bins(10);
  h->set_lo(1);
  h->set_hi(0);
  ExpectInvalid(run, "base.histogram[0].lo", "got 1");
  h->set_lo(-1);
  h->set_bins(0);
  ExpectInvalid(run, "base.histogram[0].bins", "got 0");
  h->set_bins(10);
  h->set_statistic("rho_meen");
  ExpectInvalid(run, "base.histogram[0].statistic", "rho_meen");
}

// The threshold must lie above the input's largest V_αα (else every sample diverges at layer 0)
// and at most SPEC §3's 1e12, which the SDE kernel applies at every step anyway.
TEST(ValidateTest, DivergenceThresholdBetweenTheInputAndTheDefault) {
  v1::RunSpec run = GoodRun();
  run.set_divergence_threshold(10);
  EXPECT_TRUE(Check(run).ok()) << Check(run);
  run.set_divergence_threshold(1.0);  // The default input has V_αα = 1.
  ExpectInvalid(run, "base.divergence_threshold", "got 1");
  run.set_divergence_threshold(-3);
  ExpectInvalid(run, "base.divergence_threshold", "got -3");
  run.set_divergence_threshold(2e12);
  ExpectInvalid(run, "base.divergence_threshold", "got 2e+12");
}

TEST(ValidateTest, GradientsNeedColumnsOrDense) {
  v1::RunSpec run = GoodRun();
  run.set_gradients(true);
  EXPECT_TRUE(Check(run).ok()) << Check(run);  // Unset method: COLUMNS.
  run.set_method(v1::RunSpec::DENSE);
  EXPECT_TRUE(Check(run).ok()) << Check(run);
  run.set_method(v1::RunSpec::LIMIT);
  run.mutable_model()->mutable_attention()->set_kind(v1::AttentionSpec::UNIFORM);
  ExpectInvalid(run, "base.gradients", "no weights");
  run.set_method(v1::RunSpec::GRAM);
  ExpectInvalid(run, "base.gradients", "needs method COLUMNS");
  ExpectInvalid(run, "base.gradients", "docs/GRADIENTS.md");
}

// samples in flight × EstimateSampleBytes against the bound, naming the field; the COLUMNS
// estimate is (d + 1)·m·n doubles plus one layer's working set.
TEST(ValidateTest, InFlightMemoryOfGradientsIsBounded) {
  v1::RunSpec run = GoodRun();
  run.set_gradients(true);
  run.set_samples(4);
  auto* model = run.mutable_model();
  model->set_tokens(8);
  model->set_width(4096);
  model->set_depth(64);
  const double bytes = EstimateSampleBytes(run);
  EXPECT_GT(bytes, 8.0 * 65 * 8 * 4096);
  EXPECT_LT(bytes, 8.0 * 65 * 8 * 4096 * 2);
  Limits limits;
  limits.samples_in_flight = 2;
  limits.max_inflight_bytes = 2 * bytes;
  EXPECT_TRUE(ValidateRun(run, "base", limits).ok());
  limits.samples_in_flight = 3;
  const absl::Status status = ValidateRun(run, "base", limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_NE(status.message().find("base.gradients"), std::string::npos) << status;
  EXPECT_NE(status.message().find("MiB"), std::string::npos) << status;
  // Without gradients the forward samplers hold one layer: no memory bound applies.
  run.set_gradients(false);
  EXPECT_TRUE(ValidateRun(run, "base", limits).ok());
  run.set_gradients(true);
  // DENSE keeps its n×n weights: far more per sample.
  run.set_method(v1::RunSpec::DENSE);
  EXPECT_GT(EstimateSampleBytes(run), 20 * bytes);
}

TEST(ValidateTest, LimitOfSoftmaxIsRandom) {
  v1::RunSpec run = GoodRun();
  run.set_method(v1::RunSpec::LIMIT);
  ExpectInvalid(run, "base.model.attention.kind", "random");
}

TEST(ValidateTest, UnitSumNeedsGammaAtMostOne) {
  v1::RunSpec run = GoodRun();
  run.mutable_model()->set_residual(v1::ModelSpec::UNIT_SUM);
  run.mutable_model()->mutable_mlp()->set_branch_scale(1.5);
  ExpectInvalid(run, "base.model.mlp.branch_scale", "got 1.5");
}

TEST(ValidateTest, UnknownEnumValues) {
  v1::RunSpec run = GoodRun();
  run.mutable_model()->mutable_attention()->set_kind(static_cast<v1::AttentionSpec::Kind>(77));
  ExpectInvalid(run, "base.model.attention.kind", "77");
  run = GoodRun();
  run.set_method(static_cast<v1::RunSpec::Method>(42));
  ExpectInvalid(run, "base.method", "42");
}

TEST(ValidateTest, CostOverBudgetIsResourceExhausted) {
  v1::RunSpec run = GoodRun();
  run.set_method(v1::RunSpec::DENSE);
  run.set_samples(1000000);
  run.mutable_model()->set_width(4096);
  run.mutable_model()->set_depth(1000);
  const absl::Status status = Check(run);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("base.samples"));
  Limits tight;
  tight.max_cost = 100;
  EXPECT_EQ(ValidateRun(GoodRun(), "base", tight).code(), absl::StatusCode::kResourceExhausted);
}

// One cost model: the SDE's cost, its formula in the refusal, and the number checked are one
// (issue 20 found three disagreeing versions).
TEST(ValidateTest, TheSdeCostIsItsStepsTimesTokensCubed) {
  v1::RunSpec run = GoodRun();
  run.set_method(v1::RunSpec::SDE);
  run.mutable_model()->set_preset(v1::ModelSpec::SHAPED_MLP_ONLY);
  run.mutable_sde()->set_steps_per_layer(5);
  EXPECT_DOUBLE_EQ(EstimateCost(run), 10.0 * 3 * 5 * 4 * 4 * 4);
  EXPECT_EQ(CostFormula(run), "samples × depth × steps_per_layer × tokens³");
  Limits tight;
  tight.max_cost = EstimateCost(run) - 1;
  const absl::Status status = ValidateRun(run, "base", tight);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("steps_per_layer × tokens³"));
  tight.max_cost = EstimateCost(run);
  EXPECT_TRUE(ValidateRun(run, "base", tight).ok());
}

TEST(ValidateTest, TooManyTokensNamesModelTokensOnce) {
  v1::RunSpec run = GoodRun();
  Limits tight;
  tight.max_tokens = 3;
  const absl::Status status = ValidateRun(run, "base", tight);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("base.model.tokens: 4 exceeds the limit 3"));
}

TEST(ValidateTest, ProvisionalEveryDefaultsFromTheSpecAlone) {
  v1::RunSpec run = GoodRun();  // Cheap: no provisional rows by default.
  EXPECT_EQ(ProvisionalEvery(run), 0);
  run.set_method(v1::RunSpec::DENSE);
  run.set_samples(10);
  run.mutable_model()->set_width(4096);
  run.mutable_model()->set_depth(100);  // 10 × 100 × 4096² ≈ 1.7e10 ≥ the threshold.
  EXPECT_GE(EstimateCost(run), kProvisionalCostThreshold);
  EXPECT_EQ(ProvisionalEvery(run), 3);  // ceil(10 / 4)
  run.set_provisional_every(4);
  EXPECT_EQ(ProvisionalEvery(run), 4);
  run.set_provisional_every(10);  // ≥ samples: none.
  EXPECT_EQ(ProvisionalEvery(run), 0);
  run.set_provisional_every(-1);
  ExpectInvalid(run, "base.provisional_every", "must be ≥ 0");
}

TEST(ValidateTest, GramRejectsLayerNormAndNarrowHeadsWithoutProjection) {
  v1::RunSpec run = GoodRun();
  run.set_method(v1::RunSpec::GRAM);
  run.mutable_model()->set_norm(v1::ModelSpec::PRE_LAYER);
  ExpectInvalid(run, "base.model.norm", "use method COLUMNS");
  run = GoodRun();
  run.set_method(v1::RunSpec::GRAM);
  run.mutable_model()->set_heads(2);  // One Gram matrix per head: width/heads = 8 ≥ tokens.
  EXPECT_TRUE(Check(run).ok()) << Check(run);
  run.mutable_model()->set_heads(8);  // width/heads = 2 < tokens.
  ExpectInvalid(run, "base.model.heads", "use method COLUMNS");
  run.mutable_model()->set_output_projection(true);
  EXPECT_TRUE(Check(run).ok()) << Check(run);
}

TEST(ValidateTest, KernelMlpSamplingNeedsGram) {
  v1::RunSpec run = GoodRun();
  run.mutable_model()->mutable_mlp()->set_mlp_sampling(v1::MlpSpec::KERNEL);
  EXPECT_TRUE(Check(run).ok()) << Check(run);  // The default method is GRAM here.
  run.set_method(v1::RunSpec::COLUMNS);
  ExpectInvalid(run, "base.model.mlp.mlp_sampling", "GRAM");
}

TEST(ValidateTest, WidthIndependentCostOfGramAtLargeWidth) {
  // n = d = 65536 costs 2.8e14 × samples densely, but m³ a layer in GRAM with KERNEL MLP.
  v1::RunSpec run = GoodRun();
  run.set_samples(100);
  run.set_record_every(256);
  run.mutable_model()->set_preset(v1::ModelSpec::SHAPED_TRANSFORMER);
  run.mutable_model()->set_width(65536);
  run.mutable_model()->set_depth(65536);
  run.mutable_model()->mutable_mlp()->set_mlp_sampling(v1::MlpSpec::KERNEL);
  EXPECT_TRUE(Check(run).ok()) << Check(run);
  run.set_method(v1::RunSpec::DENSE);
  run.mutable_model()->mutable_mlp()->set_mlp_sampling(v1::MlpSpec::EXACT);
  EXPECT_EQ(Check(run).code(), absl::StatusCode::kResourceExhausted);
}

TEST(ValidateTest, SweepPointErrorsNameThePointAndItsAxisValues) {
  v1::SweepSpec sweep;
  *sweep.mutable_base() = GoodRun();
  auto* axis = sweep.add_axes();
  axis->set_field("model.width");
  axis->add_values()->set_number_value(16);
  axis->add_values()->set_number_value(2);
  const absl::Status status = ValidateSweep(sweep, Limits{});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("points[1].model.width"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("model.width=2"));
}

TEST(ValidateTest, TooManyPointsIsResourceExhaustedBeforeExpansion) {
  v1::SweepSpec sweep;
  *sweep.mutable_base() = GoodRun();
  for (int a = 0; a < 8; ++a) {
    auto* axis = sweep.add_axes();
    axis->set_field("seed");
    for (int v = 0; v < 100; ++v) axis->add_values()->set_number_value(v);
  }
  const absl::Status status = ValidateSweep(sweep, Limits{});
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("axes"));
}

}  // namespace
}  // namespace sigprop
