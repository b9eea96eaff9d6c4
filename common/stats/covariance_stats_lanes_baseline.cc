// The lane statistics for SSE2, the x86-64 baseline (flags in common/CMakeLists.txt).
#define SIGPROP_LANE_STATS_ENTRY LaneStatsBaseline
#define SIGPROP_LANE_STATS_WIDTH 2
#include "common/stats/covariance_stats_lanes_body.inc"
