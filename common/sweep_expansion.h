// A SweepSpec expanded into its points: RunSpecs with each axis's value written into the field its
// dotted path names ("model.attention.tau0"), by protobuf reflection. Points are numbered in a
// fixed order (PRODUCT: last axis fastest; ZIP: i-th values together), and the number is part of
// each point's random-stream key (rng.h), so the same sweep always gives the same points.
#ifndef SIGPROP_COMMON_SWEEP_EXPANSION_H_
#define SIGPROP_COMMON_SWEEP_EXPANSION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {

struct SweepPoint {
  int index = 0;
  v1::RunSpec spec;
  // "model.width=256, model.attention.kind=SHAPED": what this point sets, for errors and tables.
  std::string label;
  std::vector<int> digits;  // Which value of each axis the point takes (AxisDigits).
};

// The value index of each axis at point `point` (PRODUCT: last axis fastest; ZIP: the point's
// index on every axis). Reads only the axes' sizes and `combine`.
std::vector<int> AxisDigits(const v1::SweepSpec& sweep, int64_t point);

// Number of points without expanding (for limits checked before any allocation).
absl::StatusOr<int64_t> CountPoints(const v1::SweepSpec& sweep);

// Expands the sweep; errors name "axes[i].field" or "axes[i].values[j]".
absl::StatusOr<std::vector<SweepPoint>> ExpandSweep(const v1::SweepSpec& sweep);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_SWEEP_EXPANSION_H_
