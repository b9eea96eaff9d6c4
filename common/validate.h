// Every check of a user's spec, in one place (ARCHITECTURE.md "validate"). Each error names the
// field path and the offending value, e.g.
//   "points[3].model.attention.tau0: must be > 0, got -1".
// Bad values are INVALID_ARGUMENT; specs over a configured budget are RESOURCE_EXHAUSTED.
// Nothing is allocated in proportion to a requested size before these checks pass.
#ifndef SIGPROP_COMMON_VALIDATE_H_
#define SIGPROP_COMMON_VALIDATE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "sigprop/v1/compare.pb.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {

// Budgets a deployment may tighten (sigprop-server --max-cost, --max-points).
struct Limits {
  // Work budget of one point, in the units of EstimateCost.
  double max_cost = 1e14;
  int64_t max_points = 100000;
  int64_t max_samples = 10000000;
  int max_tokens = 256;
  // Per-sample values a point may hold for aggregation (samples × recorded layers × statistics);
  // 2^28 doubles is 2 GiB.
  double max_stored_values = 268435456.0;
  // Memory the samples of a run with gradients may hold at once: samples_in_flight ×
  // EstimateSampleBytes (sigprop-server --max-sample-memory). The server sets samples_in_flight
  // to its worker threads (the arena that every point's samples share); validation without a
  // server assumes one.
  double max_inflight_bytes = 8.0 * 1024 * 1024 * 1024;
  int samples_in_flight = 1;
};

// Peak bytes one sample of the run holds, up to small m×m terms: with gradients the layer inputs
// X_0..X_d that the backward pass keeps, (d + 1)·m·n doubles, plus one layer's working set
// (DENSE: its n×n weights; COLUMNS: its implicit products, O(m (n + n_k + n_h))); without, one
// layer's working set.
double EstimateSampleBytes(const v1::RunSpec& run);

// The work of one point in multiply-adds, up to a constant, for the method that will run
// (ChooseMethod): DENSE costs samples × depth × width², COLUMNS samples × depth × m²(n + n_h),
// GRAM samples × depth × (m³ + n_h m²) (m³ alone with KERNEL MLP sampling), SDE and LIMIT
// samples × depth × (m³ + n_h m²).
double EstimateCost(const v1::RunSpec& run);

// Checks one run. `path` prefixes every field name ("base", "points[3]").
absl::Status ValidateRun(const v1::RunSpec& run, const std::string& path, const Limits& limits);

// Checks the sweep's own fields, expands it and checks every point (sweep_expansion.h).
absl::Status ValidateSweep(const v1::SweepSpec& sweep, const Limits& limits);

// Checks a comparison sweep: its axes ("a.…", "b.…" or both, compare.proto), both runs of every
// point (paths "points[3].a.model.width"), the statistics (known to both runs) and the times
// (in [0, min(T_a, T_b)]).
absl::Status ValidateCompareSweep(const v1::CompareSweep& sweep, const Limits& limits);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_VALIDATE_H_
