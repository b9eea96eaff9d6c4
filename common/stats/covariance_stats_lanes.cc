#include "common/stats/covariance_stats_lanes.h"

#include "common/cpu_features.h"
#include "common/linalg.h"
#include "common/stats/covariance_stats.h"
#include "common/stats/covariance_stats_lanes_isa.h"

namespace sigprop {
namespace {

thread_local uint32_t last_scalar_lanes = 0;

LaneStatsFunction StatsFor(int m, VectorIsa isa) {
  switch (isa) {
    case VectorIsa::kAvx512: return LaneStatsAvx512(m);
    case VectorIsa::kAvx2: return LaneStatsAvx2(m);
    case VectorIsa::kBaseline: break;
  }
  return LaneStatsBaseline(m);
}

// ComputeCovarianceStats itself for the lanes in `lanes`.
void ScalarLanes(int m, const double* v, uint32_t lanes, double (*out)[kMaxDefaultCovarianceStats]) {
  if (lanes == 0) return;
  thread_local Matrix matrix;
  matrix.resize(m, m);
  const CovarianceStatOptions defaults;
  for (int p = 0; p < kLanes; ++p) {
    if (!((lanes >> p) & 1u)) continue;
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < m; ++j) matrix(i, j) = v[(i * kMaxLaneTokens + j) * kLanes + p];
    }
    ComputeCovarianceStats(matrix, defaults, out[p]);
  }
}

}  // namespace

void ComputeCovarianceStatsLanes(VectorIsa isa, int m, const double* v, uint32_t lanes,
                                 double (*out)[kMaxDefaultCovarianceStats]) {
  lanes &= (1u << kLanes) - 1;
  uint32_t scalar = 0;
  if (LaneStatsFunction body = StatsFor(m, isa); body != nullptr) {
    body(v, lanes, out, &scalar);
  } else {
    scalar = lanes;
  }
  scalar &= lanes;
  last_scalar_lanes = scalar;
  ScalarLanes(m, v, scalar, out);
}

void ComputeCovarianceStatsLanes(int m, const double* v, uint32_t lanes,
                                 double (*out)[kMaxDefaultCovarianceStats]) {
  // The best build this CPU runs. Each runs at its target's register width (two, four or eight
  // lanes at a time), all faster than the scalar code per matrix at m = 8 (bench/stats_bench,
  // BM_CovarianceStatsLanes and BM_CovarianceStats; bench/RESULTS.md), the same bits either way.
  ComputeCovarianceStatsLanes(BestVectorIsa(), m, v, lanes, out);
}

uint32_t LastScalarLanesForTesting() { return last_scalar_lanes; }

}  // namespace sigprop
