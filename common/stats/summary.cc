#include "common/stats/summary.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <vector>

namespace sigprop {
namespace {

// The order statistics x_(k) (0-based, ascending) for the ascending `ranks`, by a chain of
// selections: after nth_element puts x_(k) at x[k], everything above index k is ≥ it, so the next
// rank is selected within that part. `ranks` are distinct; x is reordered.
void SelectInPlace(double* x, size_t n, const std::vector<size_t>& ranks, double* out) {
  size_t fixed = 0;  // x[0, fixed) holds the smallest `fixed` values, in no order.
  for (size_t i = 0; i < ranks.size(); ++i) {
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

// The same for the finite x[0, n) (n ≥ 1, minimum lo, maximum hi) by buckets (issue 18: the
// aggregation of a run recording every layer selects ten order statistics from each of thousands
// of columns). Bucket b holds the values with ⌊(x − lo)·B/(hi − lo)⌋ = b (clamped to B − 1), a
// non-decreasing function of x under rounding too, so bucket order is value order and x_(k) is an
// order statistic of the one bucket whose cumulative counts span k. One pass counts, one gathers
// the few buckets the ranks fall in, and the selection runs within them, by buckets again where
// one is still large (a skewed column puts most values in a few): exactly the values a sort gives.
void OrderStatistics(double* x, size_t n, double lo, double hi, const std::vector<size_t>& ranks,
                     double* out, int depth = 0) {
  constexpr size_t kSmall = 64;
  const size_t buckets = std::clamp<size_t>(n / 4, 1, 4096);
  const double scale = static_cast<double>(buckets) / (hi - lo);
  if (n < kSmall || depth > 3 || !(hi > lo) || !std::isfinite(scale) || !(scale > 0.0)) {
    SelectInPlace(x, n, ranks, out);  // Small, constant, or a range that overflows.
    return;
  }
  const int64_t last = static_cast<int64_t>(buckets) - 1;
  auto bucket_of = [&](double v) {
    return static_cast<size_t>(std::min(last, static_cast<int64_t>((v - lo) * scale)));
  };
  std::vector<uint32_t> counts(buckets, 0);
  for (size_t i = 0; i < n; ++i) ++counts[bucket_of(x[i])];
  // The bucket of each rank, and the first rank of each such bucket.
  std::vector<size_t> bucket_of_rank(ranks.size()), first_rank(ranks.size());
  size_t b = 0, before = 0;  // Values in buckets < b.
  for (size_t i = 0; i < ranks.size(); ++i) {
    while (before + counts[b] <= ranks[i]) before += counts[b++];
    bucket_of_rank[i] = b;
    first_rank[i] = before;
  }
  // Gather the wanted buckets' values, each bucket contiguous.
  std::vector<int64_t> offset(buckets, -1);
  size_t gathered = 0;
  for (size_t i = 0; i < ranks.size(); ++i) {
    const size_t wanted = bucket_of_rank[i];
    if (offset[wanted] >= 0) continue;
    offset[wanted] = static_cast<int64_t>(gathered);
    gathered += counts[wanted];
  }
  std::vector<double> values(gathered);
  std::vector<uint32_t> cursor(buckets, 0);
  for (size_t i = 0; i < n; ++i) {
    const size_t at = bucket_of(x[i]);
    if (offset[at] >= 0) values[static_cast<size_t>(offset[at]) + cursor[at]++] = x[i];
  }
  // Select within each bucket, its ranks relative to the bucket's first.
  std::vector<size_t> local;
  for (size_t i = 0; i < ranks.size();) {
    const size_t wanted = bucket_of_rank[i];
    size_t end = i;
    local.clear();
    while (end < ranks.size() && bucket_of_rank[end] == wanted) {
      local.push_back(ranks[end] - first_rank[end]);
      ++end;
    }
    double* part = values.data() + offset[wanted];
    const size_t size = counts[wanted];
    if (size < kSmall) {
      SelectInPlace(part, size, local, out + i);
    } else {
      const auto [low, high] = std::minmax_element(part, part + size);
      OrderStatistics(part, size, *low, *high, local, out + i, depth + 1);
    }
    i = end;
  }
}

// Type-7 quantiles of the finite, non-empty x at `levels`: x_(j) + (h − j)(x_(j+1) − x_(j)),
// h = (n − 1)·level, j = ⌊h⌋, from the order statistics rather than a sort (x is reordered).
std::vector<double> SelectedQuantiles(std::vector<double>& x, double lo, double hi,
                                      const std::vector<double>& levels) {
  const size_t n = x.size();
  auto level = [&](size_t i) { return std::clamp(levels[i], 0.0, 1.0); };
  std::vector<size_t> ranks;
  for (size_t i = 0; i < levels.size(); ++i) {
    const size_t j = static_cast<size_t>(std::floor((n - 1) * level(i)));
    ranks.push_back(j);
    if (j + 1 < n) ranks.push_back(j + 1);
  }
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  std::vector<double> statistic(ranks.size());
  OrderStatistics(x.data(), n, lo, hi, ranks, statistic.data());
  auto at = [&](size_t k) {
    return statistic[static_cast<size_t>(std::lower_bound(ranks.begin(), ranks.end(), k) -
                                         ranks.begin())];
  };
  std::vector<double> out(levels.size());
  for (size_t i = 0; i < levels.size(); ++i) {
    const double h = (n - 1) * level(i);
    const size_t j = static_cast<size_t>(std::floor(h));
    out[i] = j + 1 >= n ? at(j) : at(j) + (h - j) * (at(j + 1) - at(j));
  }
  return out;
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

v1::Summary Summarize(const std::vector<double>& values, const std::vector<double>& quantile_levels,
                      const v1::HistogramSpec* histogram) {
  return Summarize(values.data(), values.size(), quantile_levels, histogram);
}

v1::Summary Summarize(const double* values, size_t count,
                      const std::vector<double>& quantile_levels,
                      const v1::HistogramSpec* histogram) {
  // Reused across calls: Aggregate summarises thousands of columns of the same length.
  // One pass: the finite values, their sum (in order) and their range.
  thread_local std::vector<double> finite;
  finite.resize(count);
  size_t n = 0;
  double sum = 0.0;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (size_t i = 0; i < count; ++i) {
    const double x = values[i];
    if (!std::isfinite(x)) continue;
    finite[n++] = x;
    sum += x;
    lo = x < lo ? x : lo;
    hi = x > hi ? x : hi;
  }
  finite.resize(n);

  v1::Summary summary;
  summary.set_count(static_cast<int64_t>(n));
  const double mean = n > 0 ? sum / n : std::numeric_limits<double>::quiet_NaN();
  summary.set_mean(mean);
  double standard_error = 0.0;
  if (n >= 2) {
    double squares = 0.0;
    for (double x : finite) squares += (x - mean) * (x - mean);
    standard_error = std::sqrt(squares / (n - 1) / n);
  }
  summary.set_stderr(standard_error);

  if (histogram != nullptr) *summary.mutable_histogram() = Bin(finite, *histogram);

  auto& quantiles = *summary.mutable_quantiles();
  const std::vector<double> values_at =
      n > 0 ? SelectedQuantiles(finite, lo, hi, quantile_levels) : std::vector<double>();
  for (size_t i = 0; i < quantile_levels.size(); ++i) {
    quantiles[QuantileKey(quantile_levels[i])] =
        n > 0 ? values_at[i] : std::numeric_limits<double>::quiet_NaN();
  }
  return summary;
}

}  // namespace sigprop
