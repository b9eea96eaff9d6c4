// What a submitted sweep is: the one place that turns a SweepSpec or a CompareSweep into its points
// (index, label, spec, the methods that will run, cost and bytes per sample — plan.proto). The
// server plans each submission once and schedules exactly that plan; the Plan RPC returns it; the
// CLI plans locally only where it runs embedded, with this same code. Expansion itself (axes
// written into specs by reflection) is sweep_expansion.h's and compare.h's.
#ifndef SIGPROP_COMMON_SWEEP_PLAN_H_
#define SIGPROP_COMMON_SWEEP_PLAN_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/limits.h"
#include "sigprop/v1/compare.pb.h"
#include "sigprop/v1/plan.pb.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {

struct PlanOptions {
  // Check every point against the limits (a submission); false only expands (a stored sweep that
  // the server resumes after a restart, which ran under the limits of its day).
  bool validate = true;
  // Fill PlannedPoint.run / .compare and PlannedRun.resolved_model.
  bool with_specs = true;
  // List the points at all (false: validate only, as ValidateSweep does; a 100,000-point sweep
  // then costs its checks and nothing more).
  bool list_points = true;
};

// Validates and expands a sweep. Errors name the field ("points[3].model.width: …", "axes[1]…"),
// INVALID_ARGUMENT for bad values and RESOURCE_EXHAUSTED for budgets.
absl::StatusOr<v1::SweepPlan> PlanSweep(const v1::SweepSpec& sweep, const Limits& limits,
                                        const PlanOptions& options = {});
// The same for a comparison sweep: both runs of every point ("points[3].a.model.width"), the
// statistics (known to both runs) and the times (in [0, min(T_a, T_b)]).
absl::StatusOr<v1::SweepPlan> PlanCompareSweep(const v1::CompareSweep& sweep, const Limits& limits,
                                               const PlanOptions& options = {});

// PlanSweep(…).status() and PlanCompareSweep(…).status(), without keeping the specs.
absl::Status ValidateSweep(const v1::SweepSpec& sweep, const Limits& limits);
absl::Status ValidateCompareSweep(const v1::CompareSweep& sweep, const Limits& limits);

v1::PlanLimits LimitsToProto(const Limits& limits);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_SWEEP_PLAN_H_
