// The event hub's fan-out under concurrency, with real threads: listeners of one sweep hear its
// notifications and no other's; subscribing, unsubscribing (also from inside a listener) and
// notifying from many threads at once neither loses a notification to a listener subscribed
// throughout nor races (this file runs under TSan: the `store` label of the tsan preset).
#include "server/event_hub.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace sigprop::server {
namespace {

TEST(EventHubTest, ListenersHearTheirSweepOnly) {
  EventHub hub;
  int a = 0, b = 0;
  const int64_t id_a = hub.Subscribe("a", [&] { ++a; });
  hub.Subscribe("b", [&] { ++b; });
  hub.Notify("a");
  hub.Notify("a");
  hub.Notify("c");
  EXPECT_EQ(a, 2);
  EXPECT_EQ(b, 0);
  hub.Unsubscribe("a", id_a);
  hub.Notify("a");
  EXPECT_EQ(a, 2);
  hub.NotifyAll();
  EXPECT_EQ(b, 1);
}

TEST(EventHubTest, AListenerMayUnsubscribeItselfWhileNotified) {
  EventHub hub;
  int calls = 0;
  int64_t id = 0;
  id = hub.Subscribe("s", [&] {
    ++calls;
    hub.Unsubscribe("s", id);
  });
  hub.Notify("s");
  hub.Notify("s");
  EXPECT_EQ(calls, 1);
}

// 4 notifier threads × 2000 notifications of one sweep while 4 threads subscribe and unsubscribe
// short-lived listeners to it and to others: the long-lived listener hears every notification.
TEST(EventHubTest, ConcurrentSubscribeNotifyAndUnsubscribe) {
  EventHub hub;
  std::atomic<int64_t> heard{0};
  const int64_t steady = hub.Subscribe("s", [&] { heard.fetch_add(1); });
  constexpr int kNotifiers = 4, kNotifications = 2000, kChurners = 4;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < kChurners; ++c) {
    threads.emplace_back([&, c] {
      std::atomic<int64_t> ignored{0};
      while (!stop.load()) {
        const std::string sweep = c % 2 == 0 ? "s" : "other";
        const int64_t id = hub.Subscribe(sweep, [&ignored] { ignored.fetch_add(1); });
        hub.Unsubscribe(sweep, id);
      }
    });
  }
  std::vector<std::thread> notifiers;
  for (int t = 0; t < kNotifiers; ++t) {
    notifiers.emplace_back([&] {
      for (int k = 0; k < kNotifications; ++k) hub.Notify("s");
    });
  }
  for (auto& t : notifiers) t.join();
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(heard.load(), kNotifiers * kNotifications);
  hub.Unsubscribe("s", steady);
}

}  // namespace
}  // namespace sigprop::server
