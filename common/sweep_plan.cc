#include "common/sweep_plan.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/compare.h"
#include "common/cost_model.h"
#include "common/engine.h"
#include "common/model_plan.h"
#include "common/sweep_expansion.h"
#include "common/validate.h"

namespace sigprop {
namespace {

using v1::ModelSpec;
using v1::RunSpec;

absl::Status CheckShape(const google::protobuf::Message& sweep, v1::SweepSpec::Combine combine,
                        int64_t count, const Limits& limits) {
  if (!v1::SweepSpec::Combine_IsValid(combine)) {
    return absl::InvalidArgumentError(absl::StrCat("combine: unknown value ", combine));
  }
  if (count > limits.max_points) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "axes: the sweep has ", count, " points, over the limit ", limits.max_points));
  }
  return CheckFinite(sweep, "");
}

// A point's error, with the point's label when the sweep has axes (its path then says points[i]).
absl::Status AtPoint(const absl::Status& status, bool has_axes, const std::string& label) {
  if (status.ok() || !has_axes) return status;
  return absl::Status(status.code(),
                      absl::StrCat(status.message(), " (the point where ", label, ")"));
}

v1::PlannedRun PlanRun(const RunSpec& run, int random_stream_point, bool with_specs) {
  v1::PlannedRun planned;
  planned.set_method(ChooseMethod(run));
  planned.set_cost(EstimateCost(run));
  planned.set_sample_bytes(EstimateSampleBytes(run));
  planned.set_random_stream_point(random_stream_point);
  if (with_specs) *planned.mutable_resolved_model() = ApplyPreset(run.model());
  return planned;
}

void AddSettings(const google::protobuf::RepeatedPtrField<v1::Axis>& axes,
                 const std::vector<int>& digits, v1::PlannedPoint* planned) {
  for (int a = 0; a < axes.size(); ++a) {
    v1::Axis* setting = planned->add_settings();
    setting->set_field(axes.Get(a).field());
    *setting->add_values() = axes.Get(a).values(digits[a]);
  }
}

absl::Status CheckComparedStatisticsAndTimes(const v1::CompareSpec& spec, const std::string& path) {
  const std::vector<std::string> a_names = RunStatisticNames(spec.a());
  const std::vector<std::string> b_names = RunStatisticNames(spec.b());
  for (int i = 0; i < spec.statistics_size(); ++i) {
    const std::string& name = spec.statistics(i);
    for (const auto* names : {&a_names, &b_names}) {
      if (std::find(names->begin(), names->end(), name) == names->end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ".statistics[", i, "]: unknown statistic '", name, "' of run ",
            names == &a_names ? "a" : "b", "; one of ", absl::StrJoin(*names, ", ")));
      }
    }
  }
  const ModelSpec a_model = ApplyPreset(spec.a().model());
  const ModelSpec b_model = ApplyPreset(spec.b().model());
  const double horizon = std::min(static_cast<double>(a_model.depth()) / a_model.width(),
                                  static_cast<double>(b_model.depth()) / b_model.width());
  for (int i = 0; i < spec.times_size(); ++i) {
    const double t = spec.times(i);
    if (!(t >= 0.0 && t <= horizon * (1 + 1e-12))) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".times[", i, "]: must lie in [0, min(T_a, T_b)] = [0, ", horizon,
          "] (T = depth/width), got ", t));
    }
  }
  return absl::OkStatus();
}

}  // namespace

v1::PlanLimits LimitsToProto(const Limits& limits) {
  v1::PlanLimits out;
  out.set_max_cost(limits.max_cost);
  out.set_max_points(limits.max_points);
  out.set_max_samples(limits.max_samples);
  out.set_max_tokens(limits.max_tokens);
  out.set_max_stored_values(limits.max_stored_values);
  out.set_max_inflight_bytes(limits.max_inflight_bytes);
  out.set_samples_in_flight(limits.samples_in_flight);
  return out;
}

namespace {

// What both plans share: the sweep's shape checked before anything is expanded (so a sweep of
// 10⁹ points is refused without allocating them), then each point validated and listed.
// `validate(point, path)` checks one point; `describe(point, planned)` adds its runs and spec.
template <typename Sweep, typename Point>
absl::StatusOr<v1::SweepPlan> PlanPoints(
    const Sweep& sweep, const absl::StatusOr<int64_t>& count,
    const std::function<absl::StatusOr<std::vector<Point>>()>& expand, const Limits& limits,
    const PlanOptions& options,
    const std::function<absl::Status(const Point&, const std::string&)>& validate,
    const std::function<double(Point&, v1::PlannedPoint*)>& describe) {
  if (!count.ok()) return count.status();
  if (options.validate) {
    if (auto st = CheckShape(sweep, sweep.combine(), *count, limits); !st.ok()) return st;
  }
  auto points = expand();
  if (!points.ok()) return points.status();
  v1::SweepPlan plan;
  plan.set_name(sweep.name());
  plan.set_points_total(static_cast<int>(points->size()));
  *plan.mutable_limits() = LimitsToProto(limits);
  const bool has_axes = sweep.axes_size() > 0;
  double total = 0.0;
  for (Point& point : *points) {
    if (options.validate) {
      const std::string path = has_axes ? absl::StrCat("points[", point.index, "]") : "base";
      auto st = AtPoint(validate(point, path), has_axes, point.label);
      if (!st.ok()) return st;
    }
    if (!options.list_points) continue;
    v1::PlannedPoint* planned = plan.add_points();
    planned->set_index(point.index);
    planned->set_label(point.label);
    AddSettings(sweep.axes(), point.digits, planned);
    total += describe(point, planned);
  }
  plan.set_total_cost(total);
  return plan;
}

}  // namespace

absl::StatusOr<v1::SweepPlan> PlanSweep(const v1::SweepSpec& sweep, const Limits& limits,
                                        const PlanOptions& options) {
  return PlanPoints<v1::SweepSpec, SweepPoint>(
      sweep, CountPoints(sweep), [&] { return ExpandSweep(sweep); }, limits, options,
      [&](const SweepPoint& point, const std::string& path) {
        return ValidateRun(point.spec, path, limits);
      },
      [&](SweepPoint& point, v1::PlannedPoint* planned) {
        *planned->add_runs() = PlanRun(point.spec, point.index, options.with_specs);
        if (options.with_specs) *planned->mutable_run() = std::move(point.spec);
        return planned->runs(0).cost();
      });
}

absl::StatusOr<v1::SweepPlan> PlanCompareSweep(const v1::CompareSweep& sweep, const Limits& limits,
                                               const PlanOptions& options) {
  auto plan = PlanPoints<v1::CompareSweep, ComparePoint>(
      sweep, CountComparePoints(sweep), [&] { return ExpandCompareSweep(sweep); }, limits, options,
      [&](const ComparePoint& point, const std::string& path) {
        for (absl::Status st : {ValidateRun(point.spec.a(), path + ".a", limits),
                                ValidateRun(point.spec.b(), path + ".b", limits)}) {
          if (!st.ok()) return st;
        }
        return CheckComparedStatisticsAndTimes(point.spec, path);
      },
      [&](ComparePoint& point, v1::PlannedPoint* planned) {
        *planned->add_runs() = PlanRun(point.spec.a(), 2 * point.index, options.with_specs);
        *planned->add_runs() = PlanRun(point.spec.b(), 2 * point.index + 1, options.with_specs);
        if (options.with_specs) *planned->mutable_compare() = std::move(point.spec);
        return planned->runs(0).cost() + planned->runs(1).cost();
      });
  if (plan.ok()) plan->set_comparison(true);
  return plan;
}

absl::Status ValidateSweep(const v1::SweepSpec& sweep, const Limits& limits) {
  return PlanSweep(sweep, limits, PlanOptions{true, false, false}).status();
}

absl::Status ValidateCompareSweep(const v1::CompareSweep& sweep, const Limits& limits) {
  return PlanCompareSweep(sweep, limits, PlanOptions{true, false, false}).status();
}

}  // namespace sigprop
