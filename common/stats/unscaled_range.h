// Where a covariance's statistics are computed as it is: its largest |diagonal entry| in
// [kUnscaledFrom, kUnscaledTo]. Beyond, ComputeExtremeEigenvalues reduces 2^−e·V (exactly) and
// scales back, and the lane statistics hand the lane to it. Constants only: the lane statistics'
// per-instruction-set units include this (covariance_stats_lanes_body.inc).
#ifndef SIGPROP_COMMON_STATS_UNSCALED_RANGE_H_
#define SIGPROP_COMMON_STATS_UNSCALED_RANGE_H_

namespace sigprop {

inline constexpr double kUnscaledFrom = 1e-100;
inline constexpr double kUnscaledTo = 1e100;

}  // namespace sigprop

#endif  // SIGPROP_COMMON_STATS_UNSCALED_RANGE_H_
