#include "common/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/model_plan.h"
#include "common/stats/distance.h"
#include "common/sweep_expansion.h"

namespace sigprop {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum class Side { kA, kB, kBoth };

// Which run an axis targets, and its path inside that RunSpec.
std::pair<Side, std::string> SplitField(const std::string& field) {
  if (absl::StartsWith(field, "a.")) return {Side::kA, field.substr(2)};
  if (absl::StartsWith(field, "b.")) return {Side::kB, field.substr(2)};
  return {Side::kBoth, field};
}

bool Targets(Side axis, Side side) { return axis == Side::kBoth || axis == side; }

// A SweepSpec with the compare sweep's axes and combine, for counting and digit layout.
v1::SweepSpec ShapeOnly(const v1::CompareSweep& sweep) {
  v1::SweepSpec shape;
  *shape.mutable_axes() = sweep.axes();
  shape.set_combine(sweep.combine());
  return shape;
}

// `run` with one value of each given axis written in, by SweepSpec expansion of one point (whose
// label prints the values as SweepSpec labels do).
absl::StatusOr<SweepPoint> Apply(const v1::RunSpec& run, const std::vector<v1::Axis>& axes) {
  v1::SweepSpec single;
  *single.mutable_base() = run;
  for (const auto& axis : axes) *single.add_axes() = axis;
  auto points = ExpandSweep(single);
  if (!points.ok()) return points.status();
  return (*points)[0];
}

double Median(std::vector<double> x) {
  x.erase(std::remove_if(x.begin(), x.end(), [](double v) { return !std::isfinite(v); }), x.end());
  if (x.empty()) return kNaN;
  const size_t mid = x.size() / 2;
  std::nth_element(x.begin(), x.begin() + mid, x.end());
  if (x.size() % 2 == 1) return x[mid];
  const double upper = x[mid];
  return 0.5 * (upper + *std::max_element(x.begin(), x.begin() + mid));
}

// The recorded slot whose time ℓ/n is nearest to t (the earlier one on a tie).
int NearestSlot(const SampleTable& table, int width, double t) {
  int best = 0;
  for (size_t s = 1; s < table.layers.size(); ++s) {
    if (std::abs(table.layers[s] / static_cast<double>(width) - t) <
        std::abs(table.layers[best] / static_cast<double>(width) - t)) {
      best = static_cast<int>(s);
    }
  }
  return best;
}

double TerminalTime(const v1::RunSpec& run) {
  const v1::ModelSpec model = ApplyPreset(run.model());
  return model.width() > 0 ? static_cast<double>(model.depth()) / model.width() : 0.0;
}

}  // namespace

absl::StatusOr<int64_t> CountComparePoints(const v1::CompareSweep& sweep) {
  return CountPoints(ShapeOnly(sweep));
}

absl::StatusOr<std::vector<ComparePoint>> ExpandCompareSweep(const v1::CompareSweep& sweep) {
  auto count = CountComparePoints(sweep);
  if (!count.ok()) return count.status();
  const int axes = sweep.axes_size();
  // Check every axis path and value once, on the side(s) it targets, so errors name the axis.
  for (int a = 0; a < axes; ++a) {
    const auto [side, path] = SplitField(sweep.axes(a).field());
    for (int j = 0; j < sweep.axes(a).values_size(); ++j) {
      v1::Axis one;
      one.set_field(path);
      *one.add_values() = sweep.axes(a).values(j);
      for (Side s : {Side::kA, Side::kB}) {
        if (!Targets(side, s)) continue;
        auto applied = Apply(s == Side::kA ? sweep.base().a() : sweep.base().b(), {one});
        if (!applied.ok()) {
          // The scratch sweep has one axis with one value: point its error at this axis.
          std::string message(applied.status().message());
          message = absl::StrReplaceAll(
              message, {{"axes[0].values[0]", absl::StrCat("axes[", a, "].values[", j, "]")},
                        {"axes[0].field", absl::StrCat("axes[", a, "].field")}});
          return absl::Status(applied.status().code(), message);
        }
      }
    }
  }
  std::vector<ComparePoint> points;
  points.reserve(static_cast<size_t>(*count));
  const v1::SweepSpec shape = ShapeOnly(sweep);
  for (int64_t p = 0; p < *count; ++p) {
    const std::vector<int> digit = AxisDigits(shape, p);
    ComparePoint point;
    point.index = static_cast<int>(p);
    point.digits = digit;
    point.spec = sweep.base();
    std::vector<v1::Axis> for_a, for_b;
    std::vector<std::string> label;
    for (int a = 0; a < axes; ++a) {
      const auto [side, path] = SplitField(sweep.axes(a).field());
      v1::Axis one;
      one.set_field(path);
      *one.add_values() = sweep.axes(a).values(digit[a]);
      if (Targets(side, Side::kA)) for_a.push_back(one);
      if (Targets(side, Side::kB)) for_b.push_back(one);
      // The value as SweepSpec labels print it ("model.width=64" → "64").
      auto shown = Apply(Targets(side, Side::kA) ? sweep.base().a() : sweep.base().b(), {one});
      const std::string text = shown.ok() ? shown->label.substr(shown->label.find('=') + 1) : "";
      label.push_back(absl::StrCat(sweep.axes(a).field(), "=", text));
    }
    // Every path and value was checked above; an error here is passed on, never dropped.
    auto a_point = Apply(sweep.base().a(), for_a);
    auto b_point = Apply(sweep.base().b(), for_b);
    if (!a_point.ok()) return a_point.status();
    if (!b_point.ok()) return b_point.status();
    *point.spec.mutable_a() = a_point->spec;
    *point.spec.mutable_b() = b_point->spec;
    point.label = absl::StrJoin(label, ", ");
    points.push_back(std::move(point));
  }
  return points;
}

std::vector<std::string> ComparedStatistics(const v1::CompareSpec& spec) {
  if (spec.statistics_size() == 0) return {"rho12"};
  return {spec.statistics().begin(), spec.statistics().end()};
}

std::vector<double> ComparedTimes(const v1::CompareSpec& spec) {
  if (spec.times_size() == 0) return {std::min(TerminalTime(spec.a()), TerminalTime(spec.b()))};
  return {spec.times().begin(), spec.times().end()};
}

absl::StatusOr<std::vector<v1::CompareRow>> CompareTables(const SampleTable& a, int a_width,
                                                          const SampleTable& b, int b_width,
                                                          const std::vector<std::string>& statistics,
                                                          const std::vector<double>& times) {
  std::vector<v1::CompareRow> rows;
  for (double t : times) {
    const int a_slot = NearestSlot(a, a_width, t);
    const int b_slot = NearestSlot(b, b_width, t);
    auto diverged = [](const SampleTable& table, int slot) {
      int count = 0;
      for (int s = 0; s < table.samples; ++s) {
        count += table.diverged[static_cast<size_t>(slot) * table.samples + s];
      }
      return count;
    };
    const int a_diverged = diverged(a, a_slot), b_diverged = diverged(b, b_slot);
    for (const std::string& name : statistics) {
      const int a_stat = a.StatIndex(name), b_stat = b.StatIndex(name);
      if (a_stat < 0 || b_stat < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "statistics: '", name, "' is not a statistic of run ", a_stat < 0 ? "a" : "b"));
      }
      std::vector<double> x = a.Column(a_slot, a_stat), y = b.Column(b_slot, b_stat);
      auto finite = [](std::vector<double>& v) {
        v.erase(std::remove_if(v.begin(), v.end(), [](double z) { return !std::isfinite(z); }),
                v.end());
      };
      finite(x);
      finite(y);
      v1::CompareRow row;
      row.set_time(t);
      row.set_statistic(name);
      row.set_a_time(a.layers[a_slot] / static_cast<double>(a_width));
      row.set_b_time(b.layers[b_slot] / static_cast<double>(b_width));
      row.set_a_method(a.method);
      row.set_b_method(b.method);
      row.set_a_exploded_fraction(static_cast<double>(a_diverged) / a.samples);
      row.set_b_exploded_fraction(static_cast<double>(b_diverged) / b.samples);
      row.set_ks_with_exploded(KsDistanceWithAtomAtInfinity(x, a_diverged, y, b_diverged));
      row.set_a_samples(static_cast<int>(x.size()));
      row.set_b_samples(static_cast<int>(y.size()));
      row.set_a_median(Median(x));
      row.set_b_median(Median(y));
      row.set_wasserstein1(Wasserstein1(x, y));
      const KsResult ks = KolmogorovSmirnov(std::move(x), std::move(y));
      row.set_ks_statistic(ks.statistic);
      row.set_p_value(ks.p_value);
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

absl::StatusOr<std::vector<v1::CompareRow>> RunComparison(const ComparePoint& point,
                                                          const RunContext& context) {
  const v1::CompareSpec& spec = point.spec;
  auto a = SimulateSamples(spec.a(), 2 * point.index, context);
  if (!a.ok()) return a.status();
  auto b = SimulateSamples(spec.b(), 2 * point.index + 1, context);
  if (!b.ok()) return b.status();
  auto rows = CompareTables(*a, ApplyPreset(spec.a().model()).width(), *b,
                            ApplyPreset(spec.b().model()).width(), ComparedStatistics(spec),
                            ComparedTimes(spec));
  if (!rows.ok()) return rows.status();
  for (auto& row : *rows) {
    row.set_point(point.index);
    row.set_label(point.label);
  }
  return rows;
}

}  // namespace sigprop
