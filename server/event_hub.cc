#include "server/event_hub.h"

#include <vector>

namespace sigprop::server {

int64_t EventHub::Subscribe(const std::string& sweep_id, Listener listener) {
  absl::MutexLock lock(&mutex_);
  const int64_t id = next_id_++;
  listeners_[sweep_id][id] = std::make_shared<Listener>(std::move(listener));
  return id;
}

void EventHub::Unsubscribe(const std::string& sweep_id, int64_t id) {
  absl::MutexLock lock(&mutex_);
  auto it = listeners_.find(sweep_id);
  if (it == listeners_.end()) return;
  it->second.erase(id);
  if (it->second.empty()) listeners_.erase(it);
}

void EventHub::Notify(const std::string& sweep_id) {
  // Call outside the lock: a listener may unsubscribe (or subscribe) from within.
  std::vector<std::shared_ptr<Listener>> to_call;
  {
    absl::MutexLock lock(&mutex_);
    auto it = listeners_.find(sweep_id);
    if (it == listeners_.end()) return;
    for (const auto& [id, listener] : it->second) to_call.push_back(listener);
  }
  for (const auto& listener : to_call) (*listener)();
}

void EventHub::NotifyAll() {
  std::vector<std::shared_ptr<Listener>> to_call;
  {
    absl::MutexLock lock(&mutex_);
    for (const auto& [sweep, by_id] : listeners_) {
      for (const auto& [id, listener] : by_id) to_call.push_back(listener);
    }
  }
  for (const auto& listener : to_call) (*listener)();
}

}  // namespace sigprop::server
