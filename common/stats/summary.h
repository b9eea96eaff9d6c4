// Aggregation of one statistic over the samples of one layer (SPEC §3): mean, standard error,
// quantiles and an optional fixed-bin histogram, filled into v1::Summary.
#ifndef SIGPROP_COMMON_STATS_SUMMARY_H_
#define SIGPROP_COMMON_STATS_SUMMARY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sigprop/v1/results.pb.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {

// The key of a quantile level in v1::Summary.quantiles: "q" followed by level×100 written with at
// least two integer digits and then the fractional digits that are needed, without a decimal
// point: 0.05 → "q05", 0.5 → "q50", 0.975 → "q975", 0.999 → "q999", 0.001 → "q001", 1 → "q100".
// The digits are those of the shortest decimal that round-trips to `level`, shifted by two places
// in the string, so no binary rounding of level×100 can leak into the key. Needs 0 ≤ level ≤ 1.
std::string QuantileKey(double level);

// Aggregate of `values`, listed in sample order. Non-finite values are skipped; count is the
// number of finite ones, x_1 … x_N.
//   mean   = (Σ x_i)/N, summed in the given order so that results are byte-reproducible;
//   stderr = s/sqrt(N), s² = Σ (x_i − mean)²/(N − 1) (two passes, no cancellation); 0 if N < 2;
//   quantile at level p (Hyndman–Fan type 7, numpy's default): with x_(1) ≤ … ≤ x_(N),
//            h = (N − 1)p, j = ⌊h⌋, Q(p) = x_(j+1) + (h − j)(x_(j+2) − x_(j+1)); p is clamped to
//            [0, 1];
//   histogram (when `histogram` is not null): histogram->bins equal bins on [lo, hi); a value
//            x < lo counts in underflow, x ≥ hi in overflow, else in bin ⌊(x − lo)/(hi − lo)·bins⌋.
//            The spec must have bins ≥ 1 and lo < hi (validation checks the RunSpec); otherwise
//            the histogram carries lo and hi and no counts.
// With N = 0 the mean and every quantile are NaN and stderr is 0.
v1::Summary Summarize(const std::vector<double>& values, const std::vector<double>& quantile_levels,
                      const v1::HistogramSpec* histogram);
// The same for values[0, count), e.g. a column of the sample table read in place.
v1::Summary Summarize(const double* values, size_t count,
                      const std::vector<double>& quantile_levels,
                      const v1::HistogramSpec* histogram);

// Summarize for many columns of one length at the same quantile levels, e.g. every statistic of
// one layer (issue 18: a run recording every layer summarises thousands of columns). Each result
// is Summarize's for its column, bit for bit: every column's sums still run in sample order, but
// the columns' chains of additions run side by side rather than one after another, and the keys
// of the quantiles and the scratch memory are made once, not per column. Not thread-safe: one per
// thread.
class ColumnSummarizer {
 public:
  explicit ColumnSummarizer(std::vector<double> quantile_levels);

  // Summaries of columns[c][0, count), into (*out)[c]. `histograms` is empty (none) or holds one
  // entry a column, null where that column has no histogram.
  void Summarize(const std::vector<const double*>& columns, size_t count,
                 const std::vector<const v1::HistogramSpec*>& histograms,
                 std::vector<v1::Summary>* out);

  // One column.
  v1::Summary Summarize(const double* values, size_t count, const v1::HistogramSpec* histogram);

  // Buffers reused from column to column (the selection's, one set a level of its recursion).
  struct Scratch {
    std::vector<uint32_t> bucket_of_value, counts, next;
    std::vector<size_t> bucket_of_rank, first_rank, local;
    std::vector<double> values;
  };
  // One column's count of finite values, their sum, range and sum of squared deviations.
  struct Moments {
    size_t finite = 0;
    double sum = 0.0, lo = 0.0, hi = 0.0, squares = 0.0;
  };

 private:
  std::vector<double> levels_;
  std::vector<std::string> keys_;
  std::vector<Moments> moments_;
  std::vector<double> finite_;
  std::vector<size_t> ranks_;
  std::vector<double> order_statistics_;
  std::vector<Scratch> scratch_;
};

}  // namespace sigprop

#endif  // SIGPROP_COMMON_STATS_SUMMARY_H_
