// CancelOnInterrupt (client/cancel_on_interrupt.h): an interrupt cancels the call once; a call that
// ends uninterrupted is never cancelled, and its watchdog is joined at once rather than after its
// poll. The waits below are liveness bounds (a broken watchdog hangs for an hour), not timings.
#include "client/cancel_on_interrupt.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

namespace sigprop::cli {
namespace {

using std::chrono::milliseconds;

constexpr auto kHour = std::chrono::hours(1);
constexpr auto kLiveness = std::chrono::seconds(20);

TEST(CancelOnInterruptTest, EndingTheCallJoinsTheWatchdogWithoutWaitingOutItsPoll) {
  // The watchdog polls once an hour; destroying it must still return promptly. It is destroyed on
  // a detached thread so that a watchdog that does sleep out its poll fails this test instead of
  // hanging it (the process exits with the thread still asleep).
  auto interrupted = std::make_shared<std::atomic<bool>>(false);
  auto cancels = std::make_shared<std::atomic<int>>(0);
  auto destroyed = std::make_shared<std::promise<void>>();
  std::future<void> done = destroyed->get_future();
  std::thread([interrupted, cancels, destroyed] {
    {
      CancelOnInterrupt watchdog([cancels] { ++*cancels; }, *interrupted, kHour);
      std::this_thread::sleep_for(milliseconds(20));  // Let the watchdog reach its wait.
    }
    destroyed->set_value();
  }).detach();
  ASSERT_EQ(done.wait_for(kLiveness), std::future_status::ready)
      << "the watchdog was not joined until its hour-long poll ended";
  EXPECT_EQ(cancels->load(), 0) << "an uninterrupted call was cancelled";
}

TEST(CancelOnInterruptTest, AnInterruptCancelsTheCallOnce) {
  std::atomic<bool> interrupted{false};
  std::promise<void> cancelled;
  std::future<void> first = cancelled.get_future();
  std::atomic<int> cancels{0};
  {
    CancelOnInterrupt watchdog(
        [&] {
          if (cancels.fetch_add(1) == 0) cancelled.set_value();
        },
        interrupted, milliseconds(1));
    interrupted.store(true);
    ASSERT_EQ(first.wait_for(kLiveness), std::future_status::ready) << "the interrupt was not seen";
    std::this_thread::sleep_for(milliseconds(20));  // Room for a second, wrong, cancel.
  }
  EXPECT_EQ(cancels.load(), 1);
}

TEST(CancelOnInterruptTest, AnInterruptBeforeTheWatchdogStartsStillCancels) {
  std::atomic<bool> interrupted{true};
  std::atomic<int> cancels{0};
  std::promise<void> cancelled;
  std::future<void> first = cancelled.get_future();
  {
    CancelOnInterrupt watchdog(
        [&] {
          if (cancels.fetch_add(1) == 0) cancelled.set_value();
        },
        interrupted, kHour);
    ASSERT_EQ(first.wait_for(kLiveness), std::future_status::ready);
  }
  EXPECT_EQ(cancels.load(), 1);
}

}  // namespace
}  // namespace sigprop::cli
