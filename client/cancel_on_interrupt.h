// Cancels a blocking gRPC call when the user interrupts (Ctrl-C): gRPC's blocking calls cannot see
// the flag the signal handler sets, so a watchdog thread polls it while the call is open.
//
// The poll is a timed wait, not a sleep: the call's end wakes the watchdog at once. A plain sleep
// held every call's end (and so every `sigprop run`) until the next poll, 25 ms on average at the
// 50 ms period (issue 18: a whole-process timing rounded up to the next tick).
#ifndef SIGPROP_CLIENT_CANCEL_ON_INTERRUPT_H_
#define SIGPROP_CLIENT_CANCEL_ON_INTERRUPT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace sigprop::cli {

class CancelOnInterrupt {
 public:
  // Calls `cancel` once, from the watchdog thread, if `interrupted` turns true before this is
  // destroyed; checks every `poll` (a signal handler cannot notify a condition variable).
  CancelOnInterrupt(std::function<void()> cancel, const std::atomic<bool>& interrupted,
                    std::chrono::milliseconds poll = std::chrono::milliseconds(50));
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;
  // Wakes the watchdog and joins it without waiting out its poll.
  ~CancelOnInterrupt();

 private:
  void Watch(const std::function<void()>& cancel, const std::atomic<bool>& interrupted,
             std::chrono::milliseconds poll);

  std::mutex mutex_;
  std::condition_variable done_changed_;
  bool done_ = false;  // Guarded by mutex_.
  std::thread thread_;
};

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_CANCEL_ON_INTERRUPT_H_
