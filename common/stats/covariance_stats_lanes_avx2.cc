// The lane statistics for -mavx2 (flags in common/CMakeLists.txt).
#define SIGPROP_LANE_STATS_ENTRY LaneStatsAvx2
#define SIGPROP_LANE_STATS_WIDTH 4
#include "common/stats/covariance_stats_lanes_body.inc"
