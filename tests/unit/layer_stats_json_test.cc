// The direct JSON of a LayerStats row (layer_stats_json.h) is protobuf's, byte for byte: the
// rows a run writes and rows built to reach every branch of the number rendering (integers,
// %.15g that round-trips and that does not, exponents both ways, subnormals, ±0, NaN, ±∞), every
// field at its default and not, maps of several entries in scrambled insertion order, histograms
// with and without counts, an enum value this build does not name, and int64 extremes. A key
// protobuf would escape goes to protobuf's printer instead.
#include "client/layer_stats_json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "client/result_writer.h"
#include "common/engine.h"

namespace sigprop::cli {
namespace {

std::string Direct(const v1::LayerStats& row) {
  std::string line;
  EXPECT_TRUE(AppendLayerStatsJson(row, &line));
  return line;
}

std::vector<double> AwkwardDoubles() {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> x = {0.0, -0.0, 1.0, -2.0, 2000.0, 0.1, 0.2, 1.0 / 3.0, 2.0 / 3.0, 1e-5,
                           1.5e-7, 1e15, 1e16, 1e17, 123456789012345.0, 1234567890123456.0,
                           1e300, -1e-300, 5e-324, std::numeric_limits<double>::min(),
                           std::numeric_limits<double>::max(), std::nextafter(1.0, 2.0),
                           std::nextafter(0.1, 1.0), 0.8366600265340477, 0.83666002653407567,
                           std::numeric_limits<double>::quiet_NaN(), kInf, -kInf};
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
  std::uniform_int_distribution<int> exponent(-320, 300);
  for (int i = 0; i < 2000; ++i) x.push_back(mantissa(rng) * std::pow(10.0, exponent(rng)));
  return x;
}

TEST(LayerStatsJsonTest, NumbersAsProtobufRendersThem) {
  int compared = 0;
  for (double x : AwkwardDoubles()) {
    v1::LayerStats row;
    row.set_t(x);
    row.set_diverged_fraction(-x);
    v1::Summary& s = (*row.mutable_stats())["rho_mean"];
    s.set_mean(x);
    s.set_stderr(x * 3);
    (*s.mutable_quantiles())["q50"] = x / 7;
    row.add_mean_covariance(x);
    row.add_mean_covariance(x * x);
    ASSERT_EQ(Direct(row), ProtobufJsonLine(row)) << x;
    ++compared;
  }
  EXPECT_GT(compared, 2000);
}

TEST(LayerStatsJsonTest, EveryFieldAtItsDefaultAndNot) {
  v1::LayerStats empty;
  EXPECT_EQ(Direct(empty), ProtobufJsonLine(empty));

  v1::LayerStats row;
  row.set_point(-3);
  row.set_layer(std::numeric_limits<int32_t>::max());
  row.set_samples(2000);
  row.set_method(v1::RunSpec::GRAM);
  row.set_approximate(true);
  row.set_provisional(true);
  // Inserted out of order: the output sorts the keys, as the deterministic encoding does.
  for (const char* name : {"v23", "collapse", "rho_min", "eig_10", "eig_2", "log_det"}) {
    v1::Summary& s = (*row.mutable_stats())[name];
    s.set_mean(1.25);
    s.set_count(std::numeric_limits<int64_t>::max());
    for (const char* key : {"q95", "q05", "q100", "q50", "q975", "q00"}) {
      (*s.mutable_quantiles())[key] = 0.5;
    }
  }
  v1::Summary& with_histogram = (*row.mutable_stats())["collapse"];
  v1::Histogram* h = with_histogram.mutable_histogram();
  h->set_lo(-1.0);
  h->set_hi(1.0);
  for (int64_t k : {int64_t{0}, int64_t{7}, std::numeric_limits<int64_t>::min()}) h->add_counts(k);
  h->set_underflow(2);
  h->set_overflow(-1);
  (*row.mutable_stats())["rho_mean"].mutable_histogram();  // Present, every field default.
  (*row.mutable_stats())["stable_rank"];                   // A summary with nothing set.
  EXPECT_EQ(Direct(row), ProtobufJsonLine(row));

  row.set_method(static_cast<v1::RunSpec::Method>(99));  // Not a name this build knows.
  EXPECT_EQ(Direct(row), ProtobufJsonLine(row));
}

TEST(LayerStatsJsonTest, RowsOfARun) {
  v1::RunSpec run;
  run.mutable_model()->set_tokens(4);
  run.mutable_model()->set_width(64);
  run.mutable_model()->set_depth(16);
  run.mutable_model()->set_preset(v1::ModelSpec::SHAPED_TRANSFORMER);
  run.set_samples(40);
  run.set_seed(3);
  run.set_method(v1::RunSpec::SDE);
  run.set_mean_covariance(true);
  v1::HistogramSpec* histogram = run.add_histogram();
  histogram->set_statistic("rho_mean");
  histogram->set_bins(4);
  histogram->set_lo(0.0);
  histogram->set_hi(1.0);
  auto table = SimulateSamples(run, 0, RunContext{});
  ASSERT_TRUE(table.ok()) << table.status();
  const std::vector<v1::LayerStats> rows = Aggregate(*table, run, 0);
  ASSERT_EQ(rows.size(), 17u);
  for (const v1::LayerStats& row : rows) EXPECT_EQ(ToJsonLine(row), ProtobufJsonLine(row));
}

TEST(LayerStatsJsonTest, KeysProtobufWouldEscapeGoToProtobuf) {
  v1::LayerStats row;
  (*row.mutable_stats())["a\"b<c>\u00e9"].set_mean(1.0);
  std::string line;
  EXPECT_FALSE(AppendLayerStatsJson(row, &line));
  EXPECT_TRUE(line.empty());
  EXPECT_EQ(ToJsonLine(row), ProtobufJsonLine(row));
}

}  // namespace
}  // namespace sigprop::cli
