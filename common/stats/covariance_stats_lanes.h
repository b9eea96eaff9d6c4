// The default per-sample statistics of V (covariance_stats.h, without eig_k) for up to eight
// matrices at once, one per SIMD lane (simd_lanes.h): what the SDE sampler needs for its batch of
// paths (sde_sampler.h), whose Euler–Maruyama step costs less than the scalar statistics of one
// matrix (issue 18). Every lane's values are ComputeCovarianceStats's, bit for bit: the same
// operations in the same order (the correlations, the Householder reduction, Laguerre's iteration
// and the LDLᵀ pivots of extreme_eigenvalues.cc, logarithms by the same libm call), compiled
// without contraction. A lane whose matrix leaves the common path (a non-finite entry, a column
// already tridiagonal, Laguerre's bisection fallback, m = 1) is handed to ComputeCovarianceStats itself.
#ifndef SIGPROP_COMMON_STATS_COVARIANCE_STATS_LANES_H_
#define SIGPROP_COMMON_STATS_COVARIANCE_STATS_LANES_H_

#include <cstdint>

#include "common/simd_lanes.h"

namespace sigprop {

enum class VectorIsa;  // cpu_features.h

// Largest m of the lane layout, and the most default statistics of one matrix (m ≥ 3).
inline constexpr int kMaxLaneTokens = 8;
inline constexpr int kMaxDefaultCovarianceStats = 9;

// For each lane p in `lanes` (bit p), the default statistics of V_p, an m×m matrix (1 ≤ m ≤ 8)
// stored as lanes: V_p(i, j) at v[(i * kMaxLaneTokens + j) * kLanes + p] (v 64-byte aligned), into
// out[p][0 … CovarianceStatNames(m, {}).size()). Other lanes' entries are neither read for their
// statistics nor written.
void ComputeCovarianceStatsLanes(int m, const double* v, uint32_t lanes,
                                 double (*out)[kMaxDefaultCovarianceStats]);

// The same with the given variant (cpu_features.h), for tests; the default picks the best.
void ComputeCovarianceStatsLanes(VectorIsa isa, int m, const double* v, uint32_t lanes,
                                 double (*out)[kMaxDefaultCovarianceStats]);

// The lanes of the last call on this thread that took the scalar path, for tests.
uint32_t LastScalarLanesForTesting();

}  // namespace sigprop

#endif  // SIGPROP_COMMON_STATS_COVARIANCE_STATS_LANES_H_
