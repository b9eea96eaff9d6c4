// The CLI's exit statuses and the one mapping from a Status to them.
#ifndef SIGPROP_CLIENT_EXIT_CODES_H_
#define SIGPROP_CLIENT_EXIT_CODES_H_

#include "absl/status/status.h"

namespace sigprop::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;      // The run failed (server error, I/O, a failed point).
inline constexpr int kExitBadInput = 2;     // Bad spec, bad flags, unknown id: fix the input.
inline constexpr int kExitInterrupted = 130;

int ExitCodeFor(const absl::Status& status);
// Prints "sigprop: <message>" on stderr (nothing when OK) and returns ExitCodeFor(status).
int Fail(const absl::Status& status);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_EXIT_CODES_H_
