// The embedded default: a sweep run inside the CLI's own process, with no server. It produces the
// same Event stream a server's Watch delivers, so the CLI has one output path for both.
#ifndef SIGPROP_CLIENT_EMBEDDED_RUNNER_H_
#define SIGPROP_CLIENT_EMBEDDED_RUNNER_H_

#include <atomic>
#include <functional>

#include "absl/status/status.h"
#include "sigprop/v1/results.pb.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop::cli {

struct EmbeddedOptions {
  int threads = 0;  // 0: all hardware threads.
  // Run only points p with p % shard_count == shard_index (sigprop run --shard I/N).
  int shard_index = 0;
  int shard_count = 1;
};

// Validates and runs the sweep; `on_event` sees every event in sequence order. Returns the first
// error (the spec's, or CANCELLED when `cancel` turned true).
absl::Status RunEmbedded(const v1::SweepSpec& sweep, const EmbeddedOptions& options,
                         const std::atomic<bool>& cancel,
                         const std::function<void(const v1::Event&)>& on_event);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_EMBEDDED_RUNNER_H_
