#include "common/stats/summary.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace sigprop {
namespace {

// Type-7 quantiles of non-empty x at `levels`, by selection rather than a full sort (issue 18:
// the sort was most of the aggregation's cost when every layer is recorded). Levels are visited in
// increasing order; after nth_element puts the j-th smallest at x[j], everything above index j is
// ≥ x[j], so the (j+1)-th smallest is the minimum of that part, and the next level's order
// statistic is selected within it. The values are the sorted vector's, exactly.
std::vector<double> SelectedQuantiles(std::vector<double>& x, const std::vector<double>& levels) {
  const size_t n = x.size();
  std::vector<size_t> order(levels.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto level = [&](size_t i) { return std::clamp(levels[i], 0.0, 1.0); };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return level(a) < level(b); });
  std::vector<double> out(levels.size());
  size_t fixed = 0;  // x[0, fixed) holds the smallest `fixed` values, in no order.
  size_t selected = n;  // The index last placed by nth_element (n: none yet).
  for (size_t i : order) {
    const double h = (n - 1) * level(i);
    const size_t j = static_cast<size_t>(std::floor(h));
    if (j != selected) {
      std::nth_element(x.begin() + static_cast<ptrdiff_t>(fixed),
                       x.begin() + static_cast<ptrdiff_t>(j), x.end());
      selected = j;
      fixed = j + 1;
    }
    if (j + 1 >= n) {
      out[i] = x[j];
      continue;
    }
    const double above = *std::min_element(x.begin() + static_cast<ptrdiff_t>(j + 1), x.end());
    out[i] = x[j] + (h - j) * (above - x[j]);
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
  std::vector<double> finite;
  finite.reserve(values.size());
  for (double x : values) {
    if (std::isfinite(x)) finite.push_back(x);
  }
  const size_t n = finite.size();

  v1::Summary summary;
  summary.set_count(static_cast<int64_t>(n));
  double mean = std::numeric_limits<double>::quiet_NaN();
  if (n > 0) {
    double sum = 0.0;
    for (double x : finite) sum += x;
    mean = sum / n;
  }
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
      n > 0 ? SelectedQuantiles(finite, quantile_levels) : std::vector<double>();
  for (size_t i = 0; i < quantile_levels.size(); ++i) {
    quantiles[QuantileKey(quantile_levels[i])] =
        n > 0 ? values_at[i] : std::numeric_limits<double>::quiet_NaN();
  }
  return summary;
}

}  // namespace sigprop
