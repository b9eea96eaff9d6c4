// The budgets a deployment may tighten (sigprop-server --max-cost, --max-points, …). Validation
// (validate.h) and planning (sweep_plan.h) check every spec against one of these.
#ifndef SIGPROP_COMMON_LIMITS_H_
#define SIGPROP_COMMON_LIMITS_H_

#include <cstdint>

namespace sigprop {

struct Limits {
  // Work budget of one run, in the units of EstimateCost (cost_model.h, docs/COST.md).
  double max_cost = 1e14;
  int64_t max_points = 100000;
  int64_t max_samples = 10000000;
  int max_tokens = 256;
  // Per-sample values a point may hold for aggregation (StoredValues, cost_model.h); 2^28 doubles
  // is 2 GiB.
  double max_stored_values = 268435456.0;
  // Memory the samples of a run with gradients may hold at once: samples_in_flight ×
  // EstimateSampleBytes (sigprop-server --max-sample-memory). The server sets samples_in_flight
  // to its worker threads (the arena that every point's samples share); validation without a
  // server assumes one.
  double max_inflight_bytes = 8.0 * 1024 * 1024 * 1024;
  int samples_in_flight = 1;
};

}  // namespace sigprop

#endif  // SIGPROP_COMMON_LIMITS_H_
