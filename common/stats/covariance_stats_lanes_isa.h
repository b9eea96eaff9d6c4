// The per-instruction-set builds of the lane statistics (covariance_stats_lanes_body.inc), for
// covariance_stats_lanes.cc's dispatch only.
#ifndef SIGPROP_COMMON_STATS_COVARIANCE_STATS_LANES_ISA_H_
#define SIGPROP_COMMON_STATS_COVARIANCE_STATS_LANES_ISA_H_

#include <cstdint>

#include "common/stats/covariance_stats_lanes.h"

namespace sigprop {

// Computes the lanes in `wanted` into `out` and sets in `scalar` those the scalar code must redo.
using LaneStatsFunction = void (*)(const double* v, uint32_t wanted,
                                   double (*out)[kMaxDefaultCovarianceStats], uint32_t* scalar);

// The kernel for m tokens (2 ≤ m ≤ 8), else nullptr. Call the AVX2 and AVX-512 ones only where
// the CPU has them (SupportedVectorIsas).
LaneStatsFunction LaneStatsBaseline(int m);
LaneStatsFunction LaneStatsAvx2(int m);
LaneStatsFunction LaneStatsAvx512(int m);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_STATS_COVARIANCE_STATS_LANES_ISA_H_
