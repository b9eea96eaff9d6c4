// Live fan-out of "sweep S has new events". Events themselves are never held here: they are in the
// store (written before any notification), and each watcher reads them from there after its last
// sequence number. So a slow watcher's backlog stays in the store, not in server memory (what it
// holds is one stream's flow-control window until the stall limit drops it: ADR 0005), and
// reattaching is the same code path as watching live.
#ifndef SIGPROP_SERVER_EVENT_HUB_H_
#define SIGPROP_SERVER_EVENT_HUB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"

namespace sigprop::server {

class EventHub {
 public:
  using Listener = std::function<void()>;

  // Returns an id for Unsubscribe. The listener runs on the notifying thread and must be quick.
  int64_t Subscribe(const std::string& sweep_id, Listener listener);
  void Unsubscribe(const std::string& sweep_id, int64_t id);
  void Notify(const std::string& sweep_id);
  // Wakes every listener (shutdown).
  void NotifyAll();

 private:
  absl::Mutex mutex_;
  int64_t next_id_ ABSL_GUARDED_BY(mutex_) = 1;
  std::map<std::string, std::map<int64_t, std::shared_ptr<Listener>>> listeners_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_EVENT_HUB_H_
