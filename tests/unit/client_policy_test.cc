// The clients' one retry table (proto/sigprop/v1/client_policy.json) as the C++ client reads it:
// what is reattached for, how the backoff grows, and the service config handed to gRPC.
#include "proto/client_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/retry_backoff.h"

namespace sigprop {
namespace {

using ::testing::HasSubstr;

TEST(ClientPolicyTest, ReattachesForAnOutageOrASlowWatcherDropButNotForAVerdict) {
  const ClientPolicy& policy = GetClientPolicy();
  EXPECT_TRUE(policy.WorthReattaching(14, ""));  // UNAVAILABLE
  EXPECT_TRUE(policy.WorthReattaching(1, ""));   // CANCELLED by a server shutting down
  EXPECT_TRUE(policy.WorthReattaching(4, ""));   // DEADLINE_EXCEEDED
  EXPECT_TRUE(policy.WorthReattaching(8, policy.slow_watcher_prefix + " no progress for 30s"));
  EXPECT_FALSE(policy.WorthReattaching(8, "max_queued_points=10: 10 points are queued"));
  EXPECT_FALSE(policy.WorthReattaching(3, ""));  // INVALID_ARGUMENT
  EXPECT_FALSE(policy.WorthReattaching(7, ""));  // PERMISSION_DENIED
  EXPECT_FALSE(policy.WorthReattaching(5, ""));  // NOT_FOUND
  EXPECT_EQ(policy.slow_watcher_prefix, "watcher too slow:");
}

TEST(ClientPolicyTest, GrpcRetriesOnlyIdempotentUnaryCalls) {
  const std::string& config = GetClientPolicy().service_config_json;
  EXPECT_THAT(config, HasSubstr("\"retryPolicy\""));
  EXPECT_THAT(config, HasSubstr("\"Get\""));
  EXPECT_THAT(config, HasSubstr("\"Plan\""));
  EXPECT_THAT(config, ::testing::Not(HasSubstr("\"Submit\"")));  // Not idempotent.
  EXPECT_THAT(config, ::testing::Not(HasSubstr("\"Cancel\"")));
}

TEST(ClientPolicyTest, BackoffGrowsByTheMultiplierUpToTheMaximum) {
  const ClientPolicy& policy = GetClientPolicy();
  EXPECT_GT(policy.initial_backoff_seconds, 0.0);
  EXPECT_GE(policy.max_backoff_seconds, policy.initial_backoff_seconds);
  EXPECT_GT(policy.backoff_multiplier, 1.0);
  EXPECT_GT(policy.patience_seconds, policy.max_backoff_seconds);
}

}  // namespace
}  // namespace sigprop
