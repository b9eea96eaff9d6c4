// The lane statistics for -mavx512f -mavx512dq (flags in common/CMakeLists.txt).
#define SIGPROP_LANE_STATS_ENTRY LaneStatsAvx512
#define SIGPROP_LANE_STATS_WIDTH 8
#include "common/stats/covariance_stats_lanes_body.inc"
