// Comparisons of two runs (compare.proto, common/compare.h): sweep expansion onto the two sides,
// the rows computed from two sample tables, validation, and a small end-to-end run.
#include "common/compare.h"

#include <cmath>

#include <gtest/gtest.h>

#include "common/stats/distance.h"
#include "common/validate.h"
#include "google/protobuf/text_format.h"

namespace sigprop {
namespace {

v1::CompareSweep ParseSweep(const std::string& text) {
  v1::CompareSweep sweep;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &sweep)) << text;
  return sweep;
}

const char kWidthSweep[] = R"pb(
  name: "sde vs dense"
  base {
    a { model { preset: SHAPED_MLP_ONLY tokens: 3 width: 64 depth: 32 } method: SDE samples: 200 seed: 1 }
    b { model { preset: SHAPED_MLP_ONLY tokens: 3 width: 8 depth: 4 } method: DENSE samples: 100 seed: 2 }
    statistics: "rho12"
    statistics: "v11"
  }
  axes { field: "b.model.width" values { number_value: 8 } values { number_value: 16 } }
  axes { field: "b.model.depth" values { number_value: 4 } values { number_value: 8 } }
  axes { field: "model.initial.rho0" values { number_value: 0.3 } values { number_value: 0.5 } }
  combine: ZIP
)pb";

TEST(CompareSweepTest, AxesTargetOneSideOrBoth) {
  auto points = ExpandCompareSweep(ParseSweep(kWidthSweep));
  ASSERT_TRUE(points.ok()) << points.status();
  ASSERT_EQ(points->size(), 2u);
  const auto& second = (*points)[1];
  EXPECT_EQ(second.index, 1);
  EXPECT_EQ(second.spec.a().model().width(), 64);  // "b." axes leave a alone.
  EXPECT_EQ(second.spec.a().model().depth(), 32);
  EXPECT_EQ(second.spec.b().model().width(), 16);
  EXPECT_EQ(second.spec.b().model().depth(), 8);
  EXPECT_DOUBLE_EQ(second.spec.a().model().initial().rho0(), 0.5);  // Plain paths set both.
  EXPECT_DOUBLE_EQ(second.spec.b().model().initial().rho0(), 0.5);
  EXPECT_EQ(second.label, "b.model.width=16, b.model.depth=8, model.initial.rho0=0.5");
  EXPECT_TRUE(ValidateCompareSweep(ParseSweep(kWidthSweep), Limits{}).ok());
}

TEST(CompareSweepTest, ErrorsNameTheAxisTheStatisticAndTheTime) {
  v1::CompareSweep sweep = ParseSweep(kWidthSweep);
  sweep.mutable_axes(0)->set_field("b.model.widht");
  auto status = ValidateCompareSweep(sweep, Limits{});
  EXPECT_NE(status.message().find("axes[0].field"), std::string::npos) << status;

  sweep = ParseSweep(kWidthSweep);
  sweep.mutable_base()->add_statistics("grad_wq");  // No gradients in either run.
  status = ValidateCompareSweep(sweep, Limits{});
  EXPECT_NE(status.message().find("points[0].statistics[2]: unknown statistic 'grad_wq' of run a"),
            std::string::npos)
      << status;

  sweep = ParseSweep(kWidthSweep);
  sweep.mutable_base()->add_times(0.6);  // T_b = 4/8 = 0.5 at point 0.
  status = ValidateCompareSweep(sweep, Limits{});
  EXPECT_NE(status.message().find("points[0].times[0]: must lie in [0, min(T_a, T_b)] = [0, 0.5]"),
            std::string::npos)
      << status;

  sweep = ParseSweep(kWidthSweep);
  sweep.mutable_base()->mutable_b()->set_method(v1::RunSpec::SDE);
  sweep.mutable_base()->mutable_b()->mutable_model()->mutable_mlp()->set_activation(
      v1::MlpSpec::RELU);
  status = ValidateCompareSweep(sweep, Limits{});
  EXPECT_NE(status.message().find("points[0].b.model.mlp.activation: method SDE"),
            std::string::npos)
      << status;
}

// Two hand-made tables: the rows pick the recorded layer nearest each time, leave diverged samples
// out of the distances and count them in the exploded fractions.
TEST(CompareTablesTest, RowsFromTwoTables) {
  auto make = [](int samples, std::vector<int> layers, double shift, int diverged_from) {
    SampleTable t;
    t.method = v1::RunSpec::SDE;
    t.samples = samples;
    t.layers = std::move(layers);
    t.names = {"rho12"};
    t.values.resize(t.layers.size() * samples);
    t.diverged.assign(t.layers.size() * samples, 0);
    for (size_t slot = 0; slot < t.layers.size(); ++slot) {
      for (int s = 0; s < samples; ++s) {
        t.values[slot * samples + s] = shift + s;
        if (s >= diverged_from && t.layers[slot] > 0) {
          t.diverged[slot * samples + s] = 1;
          t.values[slot * samples + s] = std::nan("");
        }
      }
    }
    return t;
  };
  const SampleTable a = make(10, {0, 8, 16}, 0.0, 8);   // width 32: t = 0, 0.25, 0.5
  const SampleTable b = make(10, {0, 2, 4}, 0.5, 10);   // width 8:  t = 0, 0.25, 0.5
  auto rows = CompareTables(a, 32, b, 8, {"rho12"}, {0.24, 0.5});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  const v1::CompareRow& r = (*rows)[0];
  EXPECT_DOUBLE_EQ(r.a_time(), 0.25);
  EXPECT_DOUBLE_EQ(r.b_time(), 0.25);
  EXPECT_DOUBLE_EQ(r.a_exploded_fraction(), 0.2);
  EXPECT_DOUBLE_EQ(r.b_exploded_fraction(), 0.0);
  EXPECT_EQ(r.a_samples(), 8);
  EXPECT_EQ(r.b_samples(), 10);
  const std::vector<double> x = {0, 1, 2, 3, 4, 5, 6, 7};
  const std::vector<double> y = {0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5};
  const KsResult ks = KolmogorovSmirnov(x, y);
  EXPECT_DOUBLE_EQ(r.ks_statistic(), ks.statistic);
  EXPECT_DOUBLE_EQ(r.p_value(), ks.p_value);
  EXPECT_DOUBLE_EQ(r.wasserstein1(), Wasserstein1(x, y));
  EXPECT_DOUBLE_EQ(r.a_median(), 3.5);
  EXPECT_DOUBLE_EQ(r.b_median(), 5.0);
  // With a's two diverged samples at +∞ (n = 10 each): F_a − F_b is 0.1 on [k, k + ½) for
  // k ≤ 7, 0 or −0.1 past 7.5, and −0.2 on [9.5, ∞), the exploded fractions' difference.
  EXPECT_DOUBLE_EQ(r.ks_with_exploded(), 0.2);

  auto missing = CompareTables(a, 32, b, 8, {"v11"}, {0.5});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
}

// End to end: both sides run (independent streams even with the same seed and method), one row
// per time and statistic, in order.
TEST(CompareTablesTest, RunComparisonOfTwoSdeRuns) {
  v1::CompareSweep sweep = ParseSweep(kWidthSweep);
  sweep.clear_axes();
  sweep.mutable_base()->mutable_b()->set_method(v1::RunSpec::SDE);
  sweep.mutable_base()->mutable_b()->set_seed(1);
  sweep.mutable_base()->mutable_b()->mutable_model()->set_width(64);
  sweep.mutable_base()->mutable_b()->mutable_model()->set_depth(32);
  // b is a's spec exactly (samples included): only the random-stream point (2p against 2p + 1)
  // tells them apart, so a KS distance of 0 would mean the two sides shared their draws.
  sweep.mutable_base()->mutable_b()->set_samples(200);
  sweep.mutable_base()->add_times(0.25);
  sweep.mutable_base()->add_times(0.5);
  ASSERT_TRUE(ValidateCompareSweep(sweep, Limits{}).ok());
  auto points = ExpandCompareSweep(sweep);
  ASSERT_TRUE(points.ok());
  auto rows = RunComparison((*points)[0], RunContext{});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[1].statistic(), "v11");
  EXPECT_DOUBLE_EQ((*rows)[2].time(), 0.5);
  for (const auto& row : *rows) {
    EXPECT_GT(row.ks_statistic(), 0.0);  // Same law, different draws: never identical samples.
    EXPECT_GT(row.p_value(), 1e-3);      // False alarm 1e-3 per row.
    EXPECT_EQ(row.a_samples(), 200);
    EXPECT_EQ(row.b_samples(), 200);
  }
}

}  // namespace
}  // namespace sigprop
