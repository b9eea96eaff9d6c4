#include "client/cancel_on_interrupt.h"

#include <utility>

namespace sigprop::cli {

CancelOnInterrupt::CancelOnInterrupt(std::function<void()> cancel,
                                     const std::atomic<bool>& interrupted,
                                     std::chrono::milliseconds poll)
    : thread_([this, cancel = std::move(cancel), &interrupted, poll] {
        Watch(cancel, interrupted, poll);
      }) {}

CancelOnInterrupt::~CancelOnInterrupt() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  done_changed_.notify_one();
  thread_.join();
}

void CancelOnInterrupt::Watch(const std::function<void()>& cancel,
                              const std::atomic<bool>& interrupted,
                              std::chrono::milliseconds poll) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!done_) {
    if (interrupted.load()) {
      lock.unlock();
      cancel();
      return;
    }
    done_changed_.wait_for(lock, poll, [this] { return done_; });
  }
}

}  // namespace sigprop::cli
