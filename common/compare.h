// Comparisons of two runs as distributions (compare.proto; SPEC §3 "Distances", §7.3): run a and
// run b, then per time point and statistic the two-sample KS test and Wasserstein-1 between their
// non-diverged per-sample values, with each side's exploded fraction. The driver is engine.h's;
// the distances are stats/distance.h's.
#ifndef SIGPROP_COMMON_COMPARE_H_
#define SIGPROP_COMMON_COMPARE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/engine.h"
#include "sigprop/v1/compare.pb.h"

namespace sigprop {

struct ComparePoint {
  int index = 0;
  v1::CompareSpec spec;
  std::string label;  // "b.model.width=256, b.model.depth=128"
  std::vector<int> digits;  // Which value of each axis the point takes (AxisDigits).
};

// Number of points without expanding.
absl::StatusOr<int64_t> CountComparePoints(const v1::CompareSweep& sweep);

// Expands the sweep's axes ("a.…" into a, "b.…" into b, plain paths into both); errors name
// "axes[i].field" or "axes[i].values[j]".
absl::StatusOr<std::vector<ComparePoint>> ExpandCompareSweep(const v1::CompareSweep& sweep);

// The statistics and times a spec asks for, defaults filled (["rho12"]; the common terminal time).
std::vector<std::string> ComparedStatistics(const v1::CompareSpec& spec);
std::vector<double> ComparedTimes(const v1::CompareSpec& spec);

// The rows for two finished runs: for every time (outer) and statistic (inner). `a_width`,
// `b_width` turn recorded layers into times t = ℓ/n. InvalidArgument if a statistic is absent from
// a table.
absl::StatusOr<std::vector<v1::CompareRow>> CompareTables(const SampleTable& a, int a_width,
                                                          const SampleTable& b, int b_width,
                                                          const std::vector<std::string>& statistics,
                                                          const std::vector<double>& times);

// Runs both sides of a validated point (a with random-stream point 2·index, b with 2·index + 1)
// and compares them.
absl::StatusOr<std::vector<v1::CompareRow>> RunComparison(const ComparePoint& point,
                                                          const RunContext& context);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_COMPARE_H_
