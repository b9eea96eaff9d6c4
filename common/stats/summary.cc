#include "common/stats/summary.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <vector>

namespace sigprop {
namespace {

// The order statistics x_(k) (0-based, ascending) for the ascending `ranks`: a few values (a
// bucket's) by sorting them; more by a chain of selections, where after nth_element puts x_(k) at
// x[k] everything above index k is ≥ it, so the next rank is selected within that part. `ranks`
// are distinct; x is reordered. Equal values are interchangeable, except that of a tie between
// −0 and +0 either may come out (as with nth_element alone).
void SelectInPlace(double* x, size_t n, const size_t* ranks, size_t rank_count, double* out) {
  if (n <= 24) {  // A bucket's few values: sorted outright, faster than a chain of selections.
    for (size_t i = 1; i < n; ++i) {
      const double v = x[i];
      size_t j = i;
      for (; j > 0 && v < x[j - 1]; --j) x[j] = x[j - 1];
      x[j] = v;
    }
    for (size_t i = 0; i < rank_count; ++i) out[i] = x[ranks[i]];
    return;
  }
  size_t fixed = 0;  // x[0, fixed) holds the smallest `fixed` values, in no order.
  for (size_t i = 0; i < rank_count; ++i) {
    const size_t k = ranks[i];
    if (k == fixed) {  // The minimum of the rest.
      double* smallest = std::min_element(x + fixed, x + n);
      std::swap(*smallest, x[fixed]);
    } else {
      std::nth_element(x + fixed, x + k, x + n);
    }
    out[i] = x[k];
    fixed = k + 1;
  }
}

// Levels of buckets within buckets before OrderStatistics falls back to plain selection.
constexpr int kDeepestBucketLevel = 3;

// The same for the finite x[0, n) (n ≥ 1, minimum lo, maximum hi) by buckets (issue 18: the
// aggregation of a run recording every layer selects ten order statistics from each of thousands
// of columns). Bucket b holds the values with ⌊(x − lo)·B/(hi − lo)⌋ = b (clamped to B − 1), a
// non-decreasing function of x under rounding too, so bucket order is value order and x_(k) is an
// order statistic of the one bucket whose cumulative counts span k. One pass finds and counts the
// buckets, one gathers the few buckets the ranks fall in, and the selection runs within them, by
// buckets again where one is still large (a skewed column puts most values in a few): exactly the
// values a sort gives. scratch[depth] is this level's memory; deeper levels use the next ones.
void OrderStatistics(double* x, size_t n, double lo, double hi, const size_t* ranks,
                     size_t rank_count, double* out, ColumnSummarizer::Scratch* scratch,
                     int depth = 0) {
  constexpr size_t kSmall = 64;
  const size_t buckets = std::clamp<size_t>(n / 4, 1, 4096);
  const double scale = static_cast<double>(buckets) / (hi - lo);
  if (n < kSmall || depth > kDeepestBucketLevel || !(hi > lo) || !std::isfinite(scale) ||
      !(scale > 0.0)) {
    SelectInPlace(x, n, ranks, rank_count, out);  // Small, constant, or a range that overflows.
    return;
  }
  ColumnSummarizer::Scratch& s = scratch[depth];
  // (x − lo)·scale is in [0, buckets] ⊂ int32, where truncation is the floor.
  const int32_t last = static_cast<int32_t>(buckets) - 1;
  s.bucket_of_value.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int32_t b = static_cast<int32_t>((x[i] - lo) * scale);
    s.bucket_of_value[i] = static_cast<uint32_t>(b < last ? b : last);
  }
  // Counted and gathered in two interleaved streams, the even-indexed values and the odd: values in
  // one bucket one after another (a skewed column) make each increment, and each gather's cursor,
  // wait for the store of the one before; two streams make two such chains that run side by side.
  s.counts.assign(2 * buckets, 0);
  uint32_t* even = s.counts.data();
  uint32_t* odd = even + buckets;
  const uint32_t* bucket_of = s.bucket_of_value.data();
  size_t i = 0;
  for (; i + 1 < n; i += 2) {
    ++even[bucket_of[i]];
    ++odd[bucket_of[i + 1]];
  }
  if (i < n) ++even[bucket_of[i]];
  // The bucket of each rank, and the first rank of each such bucket.
  s.bucket_of_rank.resize(rank_count);
  s.first_rank.resize(rank_count);
  size_t b = 0, before = 0;  // Values in buckets < b.
  for (size_t i = 0; i < rank_count; ++i) {
    while (before + even[b] + odd[b] <= ranks[i]) before += even[b] + odd[b], ++b;
    s.bucket_of_rank[i] = b;
    s.first_rank[i] = before;
  }
  // Gather the wanted buckets' values, each bucket contiguous, its even stream's values first:
  // next_even[b] and next_odd[b] are where each stream's next value of bucket b goes, `gathered`
  // (a slot past the wanted values) for the other buckets. Branch-free: where the wanted buckets
  // hold much of the column, whether a value is wanted is a coin toss.
  size_t gathered = 0;
  for (size_t i = 0; i < rank_count; ++i) {
    if (i > 0 && s.bucket_of_rank[i] == s.bucket_of_rank[i - 1]) continue;
    gathered += even[s.bucket_of_rank[i]] + odd[s.bucket_of_rank[i]];
  }
  s.next.assign(2 * buckets, static_cast<uint32_t>(gathered));
  uint32_t* next_even = s.next.data();
  uint32_t* next_odd = next_even + buckets;
  // first_of_bucket[b] for the wanted b: where its values start (the counts are spent after this).
  uint32_t* first_of_bucket = s.counts.data();
  uint32_t* size_of_bucket = first_of_bucket + buckets;
  uint32_t offset = 0;
  for (size_t i = 0; i < rank_count; ++i) {
    const size_t wanted = s.bucket_of_rank[i];
    if (i > 0 && wanted == s.bucket_of_rank[i - 1]) continue;
    const uint32_t evens = even[wanted], size = evens + odd[wanted];
    next_even[wanted] = offset;
    next_odd[wanted] = offset + evens;
    first_of_bucket[wanted] = offset;
    size_of_bucket[wanted] = size;
    offset += size;
  }
  s.values.resize(gathered + 1);
  double* values = s.values.data();
  for (i = 0; i + 1 < n; i += 2) {
    const uint32_t at_even = bucket_of[i], at_odd = bucket_of[i + 1];
    const uint32_t to_even = next_even[at_even], to_odd = next_odd[at_odd];
    values[to_even] = x[i];
    values[to_odd] = x[i + 1];
    next_even[at_even] = to_even + (to_even < gathered ? 1 : 0);
    next_odd[at_odd] = to_odd + (to_odd < gathered ? 1 : 0);
  }
  if (i < n) values[next_even[bucket_of[i]]] = x[i];
  // Select within each bucket, its ranks relative to the bucket's first.
  for (size_t i = 0; i < rank_count;) {
    const size_t wanted = s.bucket_of_rank[i];
    size_t end = i;
    s.local.clear();
    while (end < rank_count && s.bucket_of_rank[end] == wanted) {
      s.local.push_back(ranks[end] - s.first_rank[end]);
      ++end;
    }
    double* part = values + first_of_bucket[wanted];
    const size_t size = size_of_bucket[wanted];
    if (size < kSmall) {
      SelectInPlace(part, size, s.local.data(), s.local.size(), out + i);
    } else {
      // The bucket's range, without branches (std::minmax_element's mispredict on a part in no
      // order); the values are finite.
      double low = part[0], high = part[0];
      for (size_t k = 1; k < size; ++k) {
        low = part[k] < low ? part[k] : low;
        high = part[k] > high ? part[k] : high;
      }
      // The next level overwrites its own scratch only, so s.local and s.values stay valid.
      OrderStatistics(part, size, low, high, s.local.data(), s.local.size(), out + i, scratch,
                      depth + 1);
    }
    i = end;
  }
}

v1::Histogram Bin(const std::vector<double>& finite, const v1::HistogramSpec& spec) {
  v1::Histogram h;
  h.set_lo(spec.lo());
  h.set_hi(spec.hi());
  if (spec.bins() < 1 || !(spec.lo() < spec.hi())) return h;
  const int bins = spec.bins();
  std::vector<int64_t> counts(bins, 0);
  int64_t underflow = 0, overflow = 0;
  const double scale = bins / (spec.hi() - spec.lo());
  for (double x : finite) {
    if (x < spec.lo()) {
      ++underflow;
    } else if (x >= spec.hi()) {
      ++overflow;
    } else {
      // (x − lo)·scale can round up to `bins` just below hi.
      const int k = std::min(bins - 1, static_cast<int>((x - spec.lo()) * scale));
      ++counts[k];
    }
  }
  h.mutable_counts()->Add(counts.begin(), counts.end());
  h.set_underflow(underflow);
  h.set_overflow(overflow);
  return h;
}

// The moments of a few columns side by side: per column the count of finite values, their sum in
// sample order, their range, and (given the mean) the sum of squared deviations in sample order.
// One column's sum is a chain of dependent additions; kWidth columns' chains are independent and
// keep the adder busy (issue 18). A non-finite value adds +0 in the masked form, which leaves the
// sums unchanged bit for bit (a sum that starts at +0 can never be −0, and s + 0 = s for every
// other s), so each column's figures are those of a loop over its finite values alone; the plain
// form, for columns without a non-finite value (nearly all), skips the masks.
using Moments = ColumnSummarizer::Moments;

template <int kWidth, bool kMasked>
void ColumnMoments(const double* const* x, size_t count, Moments* out) {
  double sum[kWidth], lo[kWidth], hi[kWidth];
  size_t finite[kWidth];
#pragma GCC unroll 8
  for (int p = 0; p < kWidth; ++p) {
    sum[p] = 0.0;
    lo[p] = std::numeric_limits<double>::infinity();
    hi[p] = -lo[p];
    finite[p] = 0;
  }
  for (size_t i = 0; i < count; ++i) {
#pragma GCC unroll 8
    for (int p = 0; p < kWidth; ++p) {
      const double v = x[p][i];
      if constexpr (kMasked) {
        const bool ok = std::isfinite(v);
        sum[p] += ok ? v : 0.0;
        finite[p] += ok;
        lo[p] = ok && v < lo[p] ? v : lo[p];
        hi[p] = ok && v > hi[p] ? v : hi[p];
      } else {
        sum[p] += v;
        finite[p] += std::isfinite(v);
        lo[p] = v < lo[p] ? v : lo[p];
        hi[p] = v > hi[p] ? v : hi[p];
      }
    }
  }
  double mean[kWidth], squares[kWidth];
#pragma GCC unroll 8
  for (int p = 0; p < kWidth; ++p) {
    mean[p] = finite[p] > 0 ? sum[p] / finite[p] : 0.0;
    squares[p] = 0.0;
  }
  for (size_t i = 0; i < count; ++i) {
#pragma GCC unroll 8
    for (int p = 0; p < kWidth; ++p) {
      const double v = x[p][i];
      const double d = v - mean[p];
      if constexpr (kMasked) {
        squares[p] += std::isfinite(v) ? d * d : 0.0;
      } else {
        squares[p] += d * d;
      }
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < kWidth; ++p) {
    out[p].finite = finite[p];
    out[p].sum = sum[p];
    out[p].lo = lo[p];
    out[p].hi = hi[p];
    out[p].squares = squares[p];
  }
}

// Moments of every column: four at a time, then pairs and singles; a column the plain pass finds
// a non-finite value in is done again masked.
void AllColumnMoments(const std::vector<const double*>& columns, size_t count,
                      std::vector<Moments>* out) {
  out->assign(columns.size(), Moments{});
  size_t c = 0;
  for (; c + 4 <= columns.size(); c += 4) ColumnMoments<4, false>(&columns[c], count, &(*out)[c]);
  for (; c + 2 <= columns.size(); c += 2) ColumnMoments<2, false>(&columns[c], count, &(*out)[c]);
  for (; c < columns.size(); ++c) ColumnMoments<1, false>(&columns[c], count, &(*out)[c]);
  for (c = 0; c < columns.size(); ++c) {
    if ((*out)[c].finite != count) ColumnMoments<1, true>(&columns[c], count, &(*out)[c]);
  }
}

}  // namespace

std::string QuantileKey(double level) {
  // The longest shortest-round-trip fixed form of a double in [0, 1] (the smallest subnormal) is
  // under 350 characters.
  char buffer[400];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), level,
                                    std::chars_format::fixed);
  const std::string text(buffer, result.ptr);
  const size_t dot = text.find('.');
  std::string integer = text.substr(0, dot);
  std::string fraction = dot == std::string::npos ? "" : text.substr(dot + 1);
  // ×100: the first two fractional digits move to the integer part.
  fraction.resize(std::max<size_t>(fraction.size(), 2), '0');
  integer += fraction.substr(0, 2);
  fraction.erase(0, 2);
  integer.erase(0, std::min(integer.find_first_not_of('0'), integer.size()));
  if (integer.size() < 2) integer.insert(0, 2 - integer.size(), '0');
  return "q" + integer + fraction;
}

ColumnSummarizer::ColumnSummarizer(std::vector<double> quantile_levels)
    : levels_(std::move(quantile_levels)) {
  for (double level : levels_) keys_.push_back(QuantileKey(level));
}

v1::Summary ColumnSummarizer::Summarize(const double* values, size_t count,
                                        const v1::HistogramSpec* histogram) {
  std::vector<v1::Summary> out;
  Summarize({values}, count, {histogram}, &out);
  return std::move(out[0]);
}

void ColumnSummarizer::Summarize(const std::vector<const double*>& columns, size_t count,
                                 const std::vector<const v1::HistogramSpec*>& histograms,
                                 std::vector<v1::Summary>* out) {
  out->clear();
  out->resize(columns.size());
  AllColumnMoments(columns, count, &moments_);
  if (scratch_.empty()) scratch_.resize(kDeepestBucketLevel + 1);
  for (size_t c = 0; c < columns.size(); ++c) {
    const Moments& m = moments_[c];
    const size_t n = m.finite;
    v1::Summary& summary = (*out)[c];
    summary.set_count(static_cast<int64_t>(n));
    const double mean = n > 0 ? m.sum / n : std::numeric_limits<double>::quiet_NaN();
    summary.set_mean(mean);
    summary.set_stderr(n >= 2 ? std::sqrt(m.squares / (n - 1) / n) : 0.0);

    finite_.resize(n);
    if (n == count) {
      std::copy(columns[c], columns[c] + count, finite_.begin());
    } else {
      size_t k = 0;
      for (size_t i = 0; i < count; ++i) {
        if (std::isfinite(columns[c][i])) finite_[k++] = columns[c][i];
      }
    }
    const v1::HistogramSpec* histogram = histograms.empty() ? nullptr : histograms[c];
    if (histogram != nullptr) *summary.mutable_histogram() = Bin(finite_, *histogram);

    // Type-7 quantiles, x_(j) + (h − j)(x_(j+1) − x_(j)) with h = (n − 1)·level and j = ⌊h⌋,
    // from the order statistics x_(j), x_(j+1) rather than a sort (finite_ is reordered).
    auto& quantiles = *summary.mutable_quantiles();
    if (n == 0) {
      for (const std::string& key : keys_) quantiles[key] = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    auto level = [&](size_t i) { return std::clamp(levels_[i], 0.0, 1.0); };
    ranks_.clear();
    for (size_t i = 0; i < levels_.size(); ++i) {
      const size_t j = static_cast<size_t>(std::floor((n - 1) * level(i)));
      ranks_.push_back(j);
      if (j + 1 < n) ranks_.push_back(j + 1);
    }
    std::sort(ranks_.begin(), ranks_.end());
    ranks_.erase(std::unique(ranks_.begin(), ranks_.end()), ranks_.end());
    order_statistics_.resize(ranks_.size());
    OrderStatistics(finite_.data(), n, m.lo, m.hi, ranks_.data(), ranks_.size(),
                    order_statistics_.data(), scratch_.data());
    auto at = [&](size_t k) {
      return order_statistics_[static_cast<size_t>(
          std::lower_bound(ranks_.begin(), ranks_.end(), k) - ranks_.begin())];
    };
    for (size_t i = 0; i < levels_.size(); ++i) {
      const double h = (n - 1) * level(i);
      const size_t j = static_cast<size_t>(std::floor(h));
      quantiles[keys_[i]] = j + 1 >= n ? at(j) : at(j) + (h - j) * (at(j + 1) - at(j));
    }
  }
}

v1::Summary Summarize(const std::vector<double>& values, const std::vector<double>& quantile_levels,
                      const v1::HistogramSpec* histogram) {
  return Summarize(values.data(), values.size(), quantile_levels, histogram);
}

v1::Summary Summarize(const double* values, size_t count,
                      const std::vector<double>& quantile_levels,
                      const v1::HistogramSpec* histogram) {
  return ColumnSummarizer(quantile_levels).Summarize(values, count, histogram);
}

}  // namespace sigprop
