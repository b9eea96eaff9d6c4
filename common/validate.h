// Every check of one run of a user's spec (ARCHITECTURE.md "validate"); the checks of a whole
// sweep are its plan's (sweep_plan.h: ValidateSweep, ValidateCompareSweep). Each error names the
// field path and the offending value, e.g.
//   "points[3].model.attention.tau0: must be > 0, got -1".
// Bad values are INVALID_ARGUMENT; specs over a configured budget are RESOURCE_EXHAUSTED.
// Nothing is allocated in proportion to a requested size before these checks pass.
#ifndef SIGPROP_COMMON_VALIDATE_H_
#define SIGPROP_COMMON_VALIDATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "common/cost_model.h"
#include "common/limits.h"
#include "common/sweep_plan.h"
#include "sigprop/v1/compare.pb.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop {

// The first NaN or Inf in any double or float field, anywhere in the message tree, named by its
// path under `path`.
absl::Status CheckFinite(const google::protobuf::Message& message, const std::string& path);

// The per-sample statistics a run records (engine.h SampleTable::names).
std::vector<std::string> RunStatisticNames(const v1::RunSpec& run);

// Checks one run. `path` prefixes every field name ("base", "points[3]").
absl::Status ValidateRun(const v1::RunSpec& run, const std::string& path, const Limits& limits);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_VALIDATE_H_
