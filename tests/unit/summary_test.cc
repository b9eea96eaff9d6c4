#include "common/stats/summary.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sigprop {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The type-7 quantile of the ascending, non-empty `sorted` at `level`, computed the plain way:
// h = (n − 1)·level, j = ⌊h⌋, x_(j) + (h − j)(x_(j+1) − x_(j)), the last value at the top.
double Type7(const std::vector<double>& sorted, double level) {
  const size_t n = sorted.size();
  const double h = (n - 1) * level;
  const size_t j = static_cast<size_t>(std::floor(h));
  return j + 1 >= n ? sorted.back() : sorted[j] + (h - j) * (sorted[j + 1] - sorted[j]);
}

TEST(QuantileKeyTest, Cases) {
  EXPECT_EQ(QuantileKey(0.05), "q05");
  EXPECT_EQ(QuantileKey(0.25), "q25");
  EXPECT_EQ(QuantileKey(0.5), "q50");
  EXPECT_EQ(QuantileKey(0.95), "q95");
  EXPECT_EQ(QuantileKey(0.975), "q975");
  EXPECT_EQ(QuantileKey(0.999), "q999");
  EXPECT_EQ(QuantileKey(0.1), "q10");
  EXPECT_EQ(QuantileKey(0.001), "q001");
  EXPECT_EQ(QuantileKey(0.0), "q00");
  EXPECT_EQ(QuantileKey(1.0), "q100");
}

// 1..10, shuffled, plus non-finite values that must be skipped. mean 5.5;
// Σ(x − 5.5)² = 82.5, s² = 82.5/9, stderr = sqrt(82.5/90). Type 7, h = 9p:
// p = .05 → h = .45 → 1.45; .25 → 2.25 → 3.25; .5 → 4.5 → 5.5; .75 → 6.75 → 7.75;
// .95 → 8.55 → 9.55 (numpy.percentile(range(1, 11), [5, 25, 50, 75, 95]) gives the same).
TEST(SummarizeTest, MomentsAndQuantiles) {
  const std::vector<double> values = {7, 3, kNaN, 10, 1, 5, kInf, 9, 2, 8, -kInf, 4, 6};
  const v1::Summary s = Summarize(values, {0.05, 0.25, 0.5, 0.75, 0.95}, nullptr);
  EXPECT_EQ(s.count(), 10);
  EXPECT_DOUBLE_EQ(s.mean(), 5.5);
  EXPECT_NEAR(s.stderr(), std::sqrt(82.5 / 90.0), 1e-15);
  ASSERT_EQ(s.quantiles().size(), 5u);
  EXPECT_NEAR(s.quantiles().at("q05"), 1.45, 1e-14);
  EXPECT_NEAR(s.quantiles().at("q25"), 3.25, 1e-14);
  EXPECT_NEAR(s.quantiles().at("q50"), 5.5, 1e-14);
  EXPECT_NEAR(s.quantiles().at("q75"), 7.75, 1e-14);
  EXPECT_NEAR(s.quantiles().at("q95"), 9.55, 1e-14);
  EXPECT_FALSE(s.has_histogram());
}

// Unequal gaps: x = {0, 1, 4, 9}, h = 3p. p = .3 → h = .9 → 0 + .9·1 = 0.9;
// p = .9 → h = 2.7 → 4 + .7·5 = 7.5; p = 0 and 1 give the extremes.
TEST(SummarizeTest, Type7Interpolation) {
  const v1::Summary s = Summarize({9, 0, 4, 1}, {0.0, 0.3, 0.9, 1.0}, nullptr);
  EXPECT_NEAR(s.quantiles().at("q30"), 0.9, 1e-15);
  EXPECT_NEAR(s.quantiles().at("q90"), 7.5, 1e-14);
  EXPECT_DOUBLE_EQ(s.quantiles().at("q00"), 0.0);
  EXPECT_DOUBLE_EQ(s.quantiles().at("q100"), 9.0);
}

TEST(SummarizeTest, SingleValueHasZeroStderr) {
  const v1::Summary s = Summarize({kNaN, 3.5}, {0.05, 0.95}, nullptr);
  EXPECT_EQ(s.count(), 1);
  EXPECT_DOUBLE_EQ(s.mean(), 3.5);
  EXPECT_DOUBLE_EQ(s.stderr(), 0.0);
  EXPECT_DOUBLE_EQ(s.quantiles().at("q05"), 3.5);
  EXPECT_DOUBLE_EQ(s.quantiles().at("q95"), 3.5);
}

TEST(SummarizeTest, NoFiniteValues) {
  const v1::Summary s = Summarize({kNaN, kInf}, {0.5}, nullptr);
  EXPECT_EQ(s.count(), 0);
  EXPECT_TRUE(std::isnan(s.mean()));
  EXPECT_DOUBLE_EQ(s.stderr(), 0.0);
  EXPECT_TRUE(std::isnan(s.quantiles().at("q50")));
}

// The sum runs in the given order. Left to right, 1e16 + 1 rounds to 1e16, so the total is
// 0 + 1 = 1 and the mean 0.25; a sorted or pairwise sum would give 0 or 0.5 instead.
TEST(SummarizeTest, MeanIsSummedInTheGivenOrder) {
  const v1::Summary s = Summarize({1e16, 1.0, -1e16, 1.0}, {}, nullptr);
  EXPECT_EQ(s.mean(), 0.25);
}

// Bins of width 0.5 on [0, 2): −1 under; 0, 0.49 → bin 0; 0.5 → bin 1; 1.99 → bin 3;
// 2 (hi is excluded) and 3 over; NaN skipped.
// Quantiles by selection (issue 18) equal type-7 quantiles of the sorted values, exactly: random
// values, distinct and with ties, unsorted and repeated levels, the extremes 0 and 1, and
// n = 1, 2, 3, 20, 63, 64, 1000, 5000 (from 64 on they come from buckets); also a heavy tail (a few
// values 1e300 away, so that nearly all share one bucket), a range that overflows (−1e308 … 1e308),
// all values equal, a tiny range around a large value, and a log-uniform spread.
TEST(SummarizeTest, SelectedQuantilesEqualThoseOfTheSortedValues) {
  const std::vector<double> levels = {0.95, 0.05, 0.5, 0.25, 0.5, 1.0, 0.0, 0.75, 0.999, 0.001};
  uint64_t state = 12345;
  enum Kind { kDistinct, kTies, kHeavyTail, kOverflow, kEqual, kTinyRange, kSkewed };
  auto next = [&state](Kind kind, size_t i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double uniform = static_cast<double>(state >> 11) * 0x1.0p-53;
    switch (kind) {
      case kDistinct: return uniform;
      // 200 values repeated (ties hide an off-by-one of the selection).
      case kTies: return static_cast<double>((state >> 33) % 200) / 7.0;
      case kHeavyTail: return i % 97 == 3 ? (i % 2 ? 1e300 : -1e300) * uniform : uniform - 0.5;
      case kOverflow: return i % 2 ? 1e308 * uniform : -1e308 * uniform;
      case kEqual: return 2.5;
      case kTinyRange: return 1e6 + uniform * 1e-9;
      // Log-uniform over 13 decades: buckets within buckets.
      case kSkewed: return std::exp(30.0 * uniform);
    }
    return 0.0;
  };
  for (const Kind kind : {kDistinct, kTies, kHeavyTail, kOverflow, kEqual, kTinyRange, kSkewed})
  for (size_t n : {1, 2, 3, 20, 63, 64, 1000, 5000}) {
    std::vector<double> values(n);
    for (size_t i = 0; i < n; ++i) values[i] = next(kind, i);
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const v1::Summary summary = Summarize(values, levels, nullptr);
    for (double level : levels) {
      EXPECT_EQ(summary.quantiles().at(QuantileKey(level)), Type7(sorted, level))
          << "kind " << kind << ", n " << n << ", level " << level;
    }
  }
}

// ColumnSummarizer over 1 … 11 columns at once (its groups of four, two and one, and a reused
// instance) gives each column exactly what a plain computation gives: the count of finite values,
// their sum in sample order over the count, s/√N from squared deviations summed in order, the
// type-7 quantiles of the sorted values, and a histogram. Columns differ in spread and some hold
// NaN and ±∞ at different places, so a value read from the wrong column, a non-finite value let
// into a sum, or a sum taken in another order changes a result.
TEST(SummarizeTest, ColumnSummarizerEqualsAPlainComputationForEachColumn) {
  const std::vector<double> levels = {0.05, 0.25, 0.5, 0.75, 0.95};
  v1::HistogramSpec spec;
  spec.set_bins(5);
  spec.set_lo(-1.0);
  spec.set_hi(1.0);
  ColumnSummarizer summarizer(levels);
  uint64_t state = 99;
  auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) * 0x1.0p-53;
  };
  constexpr size_t kCount = 300;
  for (size_t width = 1; width <= 11; ++width) {
    std::vector<std::vector<double>> table(width, std::vector<double>(kCount));
    for (size_t c = 0; c < width; ++c) {
      for (size_t i = 0; i < kCount; ++i) {
        table[c][i] = (uniform() - 0.3) * std::pow(10.0, static_cast<double>(c % 4)) + 1e8 * (c == 3);
      }
      if (c % 3 == 1) table[c][(7 * c) % kCount] = kNaN;
      if (c % 5 == 2) table[c][kCount - 1] = c % 2 ? kInf : -kInf;
    }
    std::vector<const double*> columns;
    std::vector<const v1::HistogramSpec*> histograms;
    for (size_t c = 0; c < width; ++c) {
      columns.push_back(table[c].data());
      histograms.push_back(c % 2 == 0 ? &spec : nullptr);
    }
    std::vector<v1::Summary> out;
    summarizer.Summarize(columns, kCount, histograms, &out);
    ASSERT_EQ(out.size(), width);
    for (size_t c = 0; c < width; ++c) {
      std::vector<double> finite;
      double sum = 0.0;
      for (double x : table[c]) {
        if (std::isfinite(x)) {
          finite.push_back(x);
          sum += x;
        }
      }
      const size_t n = finite.size();
      const double mean = sum / n;
      double squares = 0.0;
      for (double x : finite) squares += (x - mean) * (x - mean);
      const std::string where = "width " + std::to_string(width) + " column " + std::to_string(c);
      EXPECT_EQ(out[c].count(), static_cast<int64_t>(n)) << where;
      EXPECT_EQ(out[c].mean(), mean) << where;
      EXPECT_EQ(out[c].stderr(), std::sqrt(squares / (n - 1) / n)) << where;
      std::sort(finite.begin(), finite.end());
      for (double level : levels) {
        EXPECT_EQ(out[c].quantiles().at(QuantileKey(level)), Type7(finite, level))
            << where << " level " << level;
      }
      ASSERT_EQ(out[c].has_histogram(), c % 2 == 0) << where;
      if (c % 2 == 0) {
        int64_t binned = out[c].histogram().underflow() + out[c].histogram().overflow();
        for (int64_t k : out[c].histogram().counts()) binned += k;
        EXPECT_EQ(binned, static_cast<int64_t>(n)) << where;
        int64_t below = 0;
        for (double x : finite) below += x < -1.0;
        EXPECT_EQ(out[c].histogram().underflow(), below) << where;
      }
    }
  }
}

// The selection's buckets within buckets (a column of 3000 log-uniform values over 35 decades
// puts most values in the lowest bucket, level after level) through one ColumnSummarizer reused
// for several calls: its scratch, kept from call to call and level to level, gives the sorted
// values' quantiles exactly each time.
TEST(SummarizeTest, ColumnSummarizerReusedAcrossSkewedColumns) {
  const std::vector<double> levels = {0.05, 0.25, 0.5, 0.75, 0.95, 0.999};
  ColumnSummarizer summarizer(levels);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> uniform(0.0, 80.0);
  for (size_t n : {3000, 200, 5000}) {
    std::vector<std::vector<double>> table(3, std::vector<double>(n));
    for (auto& column : table) {
      for (double& x : column) x = std::exp(uniform(rng));
    }
    std::vector<const double*> columns;
    for (const auto& column : table) columns.push_back(column.data());
    std::vector<v1::Summary> out;
    summarizer.Summarize(columns, n, {}, &out);
    for (size_t c = 0; c < table.size(); ++c) {
      std::vector<double> sorted = table[c];
      std::sort(sorted.begin(), sorted.end());
      for (double level : levels) {
        EXPECT_EQ(out[c].quantiles().at(QuantileKey(level)), Type7(sorted, level))
            << "n " << n << ", column " << c << ", level " << level;
      }
    }
  }
}

TEST(SummarizeTest, HistogramCounts) {
  v1::HistogramSpec spec;
  spec.set_bins(4);
  spec.set_lo(0.0);
  spec.set_hi(2.0);
  const v1::Summary s = Summarize({-1, 0, 0.49, 0.5, 1.99, 2, 3, kNaN}, {}, &spec);
  ASSERT_TRUE(s.has_histogram());
  const v1::Histogram& h = s.histogram();
  EXPECT_DOUBLE_EQ(h.lo(), 0.0);
  EXPECT_DOUBLE_EQ(h.hi(), 2.0);
  ASSERT_EQ(h.counts_size(), 4);
  EXPECT_EQ(h.counts(0), 2);
  EXPECT_EQ(h.counts(1), 1);
  EXPECT_EQ(h.counts(2), 0);
  EXPECT_EQ(h.counts(3), 1);
  EXPECT_EQ(h.underflow(), 1);
  EXPECT_EQ(h.overflow(), 2);
}

// For x the largest double below hi = 1 on [−1, 1) with 3 bins, (x − lo)·bins/(hi − lo) rounds
// to exactly 3 = bins; the value is inside [lo, hi) and must land in the last bin.
TEST(SummarizeTest, HistogramValueJustBelowHiIsInLastBin) {
  v1::HistogramSpec spec;
  spec.set_bins(3);
  spec.set_lo(-1.0);
  spec.set_hi(1.0);
  const v1::Summary s = Summarize({std::nextafter(1.0, 0.0)}, {}, &spec);
  ASSERT_EQ(s.histogram().counts_size(), 3);
  EXPECT_EQ(s.histogram().counts(2), 1);
  EXPECT_EQ(s.histogram().overflow(), 0);
}

TEST(SummarizeTest, InvalidHistogramSpecGivesNoCounts) {
  v1::HistogramSpec spec;
  spec.set_bins(0);
  spec.set_lo(0.0);
  spec.set_hi(1.0);
  const v1::Summary s = Summarize({0.5}, {}, &spec);
  EXPECT_EQ(s.histogram().counts_size(), 0);
  EXPECT_EQ(s.histogram().underflow() + s.histogram().overflow(), 0);
}

}  // namespace
}  // namespace sigprop
