// The one cost model (docs/COST.md has the formulae and why): the work of a run, the memory of
// one of its samples, and the per-sample values its aggregation holds. Validation checks them
// against Limits (--max-cost, --max-sample-memory), the plan reports them (sweep_plan.h, the Plan
// RPC), and nothing else computes them.
#ifndef SIGPROP_COMMON_COST_MODEL_H_
#define SIGPROP_COMMON_COST_MODEL_H_

#include <string>

#include "sigprop/v1/run.pb.h"

namespace sigprop {

// Statistics every recorded layer stores per sample besides the per-token eigenvalues and the
// optional mean covariance: the covariance statistics (rho_mean … v23), the gradient, repair and
// attention statistics — an upper bound (the exact list depends on the run), so that the check
// cannot under-count.
inline constexpr double kScalarStatisticsBound = 16.0;

// The work of one run in multiply-adds, up to a constant, for the method that will run
// (ChooseMethod): see CostFormula for each method's.
double EstimateCost(const v1::RunSpec& run);

// EstimateCost's formula for the method that will run, in words ("samples × depth × width²").
std::string CostFormula(const v1::RunSpec& run);

// Peak bytes one sample of the run holds, up to small m×m terms: with gradients the layer inputs
// X_0..X_d that the backward pass keeps, (d + 1)·m·n doubles, plus one layer's working set
// (DENSE: its n×n weights; COLUMNS: its implicit products, O(m (n + n_k + n_h))); without, one
// layer's working set.
double EstimateSampleBytes(const v1::RunSpec& run);

// Per-sample values a run holds until aggregation: recorded layers × statistics × samples, with
// statistics bounded by kScalarStatisticsBound + tokens (+ tokens² with mean_covariance).
double StoredValues(const v1::RunSpec& run);

// A point whose cost is at least this reports provisional rows by default: about ten seconds of
// one core (a multiply-add ≈ 1 ns with the memory traffic around it).
inline constexpr double kProvisionalCostThreshold = 1e10;

// K of RunSpec.provisional_every: provisional rows after every K samples, 0 for none. Unset, it
// is ceil(samples / 4) for a point of at least 4 samples costing kProvisionalCostThreshold or
// more, else none — a function of the spec alone, so provisional rows are reproducible too.
int ProvisionalEvery(const v1::RunSpec& run);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_COST_MODEL_H_
