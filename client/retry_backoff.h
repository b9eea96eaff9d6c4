// The clients' backoff between reattachments (proto/sigprop/v1/client_policy.json, "reattach"):
// from the initial wait, times the multiplier after each try, up to the maximum.
#ifndef SIGPROP_CLIENT_RETRY_BACKOFF_H_
#define SIGPROP_CLIENT_RETRY_BACKOFF_H_

#include <algorithm>
#include <chrono>
#include <thread>

#include "proto/client_policy.h"

namespace sigprop::cli {

class RetryBackoff {
 public:
  RetryBackoff() { Reset(); }
  // Back to the initial wait (progress was made).
  void Reset() { seconds_ = GetClientPolicy().initial_backoff_seconds; }
  // Waits, then lengthens the next wait.
  void Sleep() {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds_));
    const ClientPolicy& policy = GetClientPolicy();
    seconds_ = std::min(seconds_ * policy.backoff_multiplier, policy.max_backoff_seconds);
  }

 private:
  double seconds_ = 0.0;
};

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_RETRY_BACKOFF_H_
