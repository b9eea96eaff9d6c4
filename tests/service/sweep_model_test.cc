// One sweep model (issue 20), end to end on a real SigpropServer (loopback port, real SQLite file):
// a comparison is a stored sweep like any other (watch, results, cancel, restart, users, limits);
// the Plan RPC is the local plan under the server's limits; provisional rows are the rows of the
// first K samples, kept when a point is cancelled.
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include "client/result_writer.h"
#include "client/simulation_client.h"
#include "client/spec_io.h"
#include "common/compare.h"
#include "common/engine.h"
#include "common/sweep_plan.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/sigprop_server.h"
#include "tests/service/service_fixture.h"

namespace sigprop {
namespace {

using ::testing::HasSubstr;
using server::ServerOptions;
using server::SigpropServer;

using test_support::kAliceToken;
using test_support::kBobToken;

v1::RunSpec SmallRun(v1::RunSpec::Method method, int samples, int width, int depth, uint64_t seed) {
  v1::RunSpec run;
  run.set_method(method);
  run.set_samples(samples);
  run.set_seed(seed);
  auto* model = run.mutable_model();
  model->set_tokens(3);
  model->set_width(width);
  model->set_depth(depth);
  model->mutable_initial()->set_rho0(0.2);
  return run;
}

// DENSE against COLUMNS, two points (b's tau0); `samples`, `width` and `depth` set the work.
v1::CompareSweep Comparison(int samples = 40, int width = 16, int depth = 8) {
  v1::CompareSweep sweep;
  sweep.set_name("sweep model test");
  *sweep.mutable_base()->mutable_a() = SmallRun(v1::RunSpec::DENSE, samples, width, depth, 5);
  *sweep.mutable_base()->mutable_b() = SmallRun(v1::RunSpec::COLUMNS, samples, width, depth, 5);
  sweep.mutable_base()->add_statistics("rho12");
  sweep.mutable_base()->add_statistics("v11");
  sweep.mutable_base()->add_times(0.25);
  sweep.mutable_base()->add_times(0.5);
  auto* axis = sweep.add_axes();
  axis->set_field("b.model.attention.tau0");
  axis->add_values()->set_number_value(1.0);
  axis->add_values()->set_number_value(2.0);
  return sweep;
}

// Seconds of work a point.
v1::CompareSweep SlowComparison() { return Comparison(/*samples=*/400, /*width=*/96, /*depth=*/48); }

// The rows computed without the service: RunComparison on each point, in point order.
std::string DirectRows(const v1::CompareSweep& sweep) {
  std::string out;
  const auto points = ExpandCompareSweep(sweep);
  for (const ComparePoint& point : *points) {
    const auto rows = RunComparison(point, RunContext{});
    for (const auto& row : *rows) out += cli::ToJsonLine(row) + "\n";
  }
  return out;
}

std::string Jsonl(const google::protobuf::RepeatedPtrField<v1::CompareRow>& rows) {
  std::string out;
  for (const auto& row : rows) out += cli::ToJsonLine(row) + "\n";
  return out;
}

class SweepModelTest : public test_support::ServiceFixture {
 protected:
  // Watches the sweep until it has stored an event satisfying `what`.
  void AwaitEvent(const std::string& id, const std::function<bool(const v1::Event&)>& what) {
    std::atomic<bool> stop{false};
    (void)Client().Watch(id, 0, [&](const v1::Event& e) { stop = stop || what(e); }, stop);
  }
};

TEST_F(SweepModelTest, AComparisonIsAStoredSweepWithTheEnginesRows) {
  StartServer();
  const v1::CompareSweep sweep = Comparison();
  auto submitted = Client().Submit(sweep);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_EQ(submitted->points(), 2);
  const auto events = WatchAll(submitted->sweep_id());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().sweep_finished().state(), v1::SweepFinished::SUCCEEDED);
  // Each point: PointStarted with its CompareSpec, its rows (2 times × 2 statistics), then
  // PointFinished counting them; sequences 1, 2, 3, … without a gap.
  std::map<int, int> rows_of;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), static_cast<int64_t>(i + 1));
    const v1::Event& e = events[i];
    if (e.has_point_started()) EXPECT_TRUE(e.point_started().has_compare());
    if (e.has_compare_row()) ++rows_of[e.point()];
    if (e.has_point_finished()) EXPECT_EQ(e.point_finished().layers(), rows_of[e.point()]);
    EXPECT_FALSE(e.has_layer());
  }
  EXPECT_EQ(rows_of, (std::map<int, int>{{0, 4}, {1, 4}}));
  auto results = Client().AllResults(submitted->sweep_id());
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(results->layers_size(), 0);
  EXPECT_EQ(Jsonl(results->compare_rows()), DirectRows(sweep));

  auto status = Client().Get(submitted->sweep_id());
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->has_compare());
  EXPECT_FALSE(status->has_spec());
  EXPECT_EQ(status->name(), "sweep model test");
  EXPECT_EQ(status->points_done(), 2);
  auto listed = Client().List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].sweep_id(), submitted->sweep_id());
}

TEST_F(SweepModelTest, CompareRpcIsAConvenienceOverAStoredSweep) {
  StartServer();
  const v1::CompareSweep sweep = Comparison();
  grpc::ClientContext context;
  v1::CompareRequest request;
  *request.mutable_sweep() = sweep;
  v1::CompareResult result;
  ASSERT_TRUE(stub_->Compare(&context, request, &result).ok());
  EXPECT_EQ(Jsonl(result.rows()), DirectRows(sweep));
  const auto id = context.GetServerTrailingMetadata().find("sigprop-sweep-id");
  ASSERT_NE(id, context.GetServerTrailingMetadata().end());
  auto status = Client().Get(std::string(id->second.data(), id->second.size()));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state(), v1::SweepStatus::SUCCEEDED);
}

TEST_F(SweepModelTest, TheCompareCallsDeadlineCancelsItsSweep) {
  StartServer();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  v1::CompareRequest request;
  *request.mutable_sweep() = SlowComparison();
  v1::CompareResult result;
  EXPECT_EQ(stub_->Compare(&context, request, &result).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  auto listed = Client().List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  const std::string id = (*listed)[0].sweep_id();
  const auto events = WatchAll(id);  // Ends: the sweep was cancelled, not left running.
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().sweep_finished().state(), v1::SweepFinished::CANCELLED);
}

TEST_F(SweepModelTest, AnotherClientCancelsARunningComparison) {
  StartServer();
  auto submitted = Client().Submit(SlowComparison());
  ASSERT_TRUE(submitted.ok());
  AwaitEvent(submitted->sweep_id(), [](const v1::Event& e) { return e.has_progress(); });
  ASSERT_TRUE(Client().Cancel(submitted->sweep_id()).ok());
  const auto events = WatchAll(submitted->sweep_id());
  EXPECT_EQ(events.back().sweep_finished().state(), v1::SweepFinished::CANCELLED);
  EXPECT_EQ(Client().Get(submitted->sweep_id())->state(), v1::SweepStatus::CANCELLED);
}

TEST_F(SweepModelTest, RestartMidComparisonGivesTheSameRows) {
  StartServer();
  const v1::CompareSweep sweep = Comparison(/*samples=*/200, /*width=*/48, /*depth=*/24);
  auto submitted = Client().Submit(sweep);
  ASSERT_TRUE(submitted.ok());
  const std::string id = submitted->sweep_id();
  AwaitEvent(id, [](const v1::Event& e) { return e.has_progress(); });
  server_->Shutdown(std::chrono::milliseconds(100));
  server_->Wait();
  server_.reset();
  StartServer();  // The same db: the comparison is re-planned from its stored spec and resumed.
  const auto rest = WatchAll(id);
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back().sweep_finished().state(), v1::SweepFinished::SUCCEEDED);
  auto results = Client().AllResults(id);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(Jsonl(results->compare_rows()), DirectRows(sweep));
}

TEST_F(SweepModelTest, AnotherUserCanNeitherSeeNorCancelAComparison) {
  ServerOptions options = Options();
  options.tokens_file = WriteTokens();
  StartServer(options);
  auto submitted = Client(kAliceToken).Submit(Comparison());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->sweep_id();
  EXPECT_EQ(Client(kBobToken).Get(id).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Client(kBobToken).Cancel(id).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Client(kBobToken).AllResults(id).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Client(kBobToken).List()->empty());
  EXPECT_EQ(WatchAll(id, 0, kAliceToken).back().sweep_finished().state(),
            v1::SweepFinished::SUCCEEDED);
}

TEST_F(SweepModelTest, TheCompareRpcNeedsAToken) {
  ServerOptions options = Options();
  options.tokens_file = WriteTokens();
  StartServer(options);
  v1::CompareRequest request;
  *request.mutable_sweep() = Comparison();
  {
    grpc::ClientContext context;
    v1::CompareResult result;
    EXPECT_EQ(stub_->Compare(&context, request, &result).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  grpc::ClientContext context;
  context.AddMetadata("authorization", std::string("Bearer ") + kBobToken);
  v1::CompareResult result;
  ASSERT_TRUE(stub_->Compare(&context, request, &result).ok());
  EXPECT_EQ(result.rows_size(), 8);
  EXPECT_EQ(Client(kBobToken).List()->size(), 1u);  // Bob's sweep, not Alice's.
  EXPECT_TRUE(Client(kAliceToken).List()->empty());
}

TEST_F(SweepModelTest, ComparisonsCountAgainstTheActiveSweepLimit) {
  ServerOptions options = Options();
  options.service.max_active_sweeps_per_user = 1;
  StartServer(options);
  auto first = Client().Submit(SlowComparison());
  ASSERT_TRUE(first.ok());
  auto second = Client().Submit(Comparison());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("--max-active-sweeps-per-user=1"));
  v1::SweepSpec sweep;
  *sweep.mutable_base() = SmallRun(v1::RunSpec::DENSE, 2, 8, 2, 1);
  EXPECT_EQ(Client().Submit(sweep, {}).status().code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(Client().Cancel(first->sweep_id()).ok());
  EXPECT_TRUE(Client().Submit(Comparison()).ok());
}

TEST_F(SweepModelTest, SubmitNeedsExactlyOneOfSweepAndCompare) {
  StartServer();
  for (int which = 0; which < 2; ++which) {
    grpc::ClientContext context;
    v1::SubmitRequest request;
    if (which == 1) {
      *request.mutable_compare() = Comparison();
      *request.mutable_sweep()->mutable_base() = SmallRun(v1::RunSpec::DENSE, 2, 8, 2, 1);
    }
    v1::SubmitResponse response;
    const grpc::Status status = stub_->Submit(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("sweep, compare: give exactly one"));
  }
}

// The Plan RPC is common/sweep_plan.h's plan under the server's limits, for every example spec,
// so the CLI (which calls the same module when it runs embedded) and the server agree.
TEST_F(SweepModelTest, ThePlanOfEveryExampleIsTheLocalPlan) {
  StartServer();
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SIGPROP_EXAMPLES)) {
    if (entry.path().extension() != ".json") continue;
    auto text = cli::ReadSpecText(entry.path().string());
    ASSERT_TRUE(text.ok());
    absl::StatusOr<v1::SweepPlan> local, remote;
    if (text->find("\"a\"") != std::string::npos) {
      v1::CompareSweep sweep;
      ASSERT_TRUE(cli::ParseSpecMessage(*text, entry.path().string(), &sweep).ok());
      local = PlanCompareSweep(sweep, Limits{});
      remote = Client().Plan(sweep, /*with_specs=*/true);
    } else {
      auto sweep = cli::ParseSweepSpec(*text, entry.path().string());
      ASSERT_TRUE(sweep.ok());
      local = PlanSweep(*sweep, Limits{});
      remote = Client().Plan(*sweep, /*with_specs=*/true);
    }
    ASSERT_TRUE(local.ok()) << entry.path() << ": " << local.status();
    ASSERT_TRUE(remote.ok()) << entry.path() << ": " << remote.status();
    // The server's plan states the server's limits (its threads share the arena).
    local->mutable_limits()->set_samples_in_flight(2);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*local, *remote))
        << entry.path();
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST_F(SweepModelTest, ThePlanIsCheckedAgainstTheServersLimits) {
  ServerOptions options = Options();
  options.service.limits.max_cost = 1e6;
  StartServer(options);
  v1::SweepSpec sweep;
  *sweep.mutable_base() = SmallRun(v1::RunSpec::DENSE, 100, 64, 8, 1);  // 100 × 8 × 64² ≈ 3.3e6.
  auto plan = Client().Plan(sweep, false);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("base.samples: samples × depth × width²"));
  sweep.mutable_base()->set_samples(10);
  plan = Client().Plan(sweep, false);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->points_size(), 1);
  EXPECT_EQ(plan->points(0).runs(0).method(), v1::RunSpec::DENSE);
  EXPECT_DOUBLE_EQ(plan->points(0).runs(0).cost(), 10.0 * 8 * 64 * 64);
  EXPECT_EQ(plan->limits().max_cost(), 1e6);
  EXPECT_FALSE(plan->points(0).has_run());  // omit_specs
  EXPECT_TRUE(Client().List()->empty());    // Planning stores nothing.
}

// Provisional rows over the first K, 2K, … samples are exactly the final rows of the same spec
// with `samples` = K, 2K, … (each sample's streams depend on its index only), flagged; the final
// rows do not depend on provisional_every.
TEST_F(SweepModelTest, ProvisionalRowsAreTheRowsOfTheFirstKSamples) {
  StartServer();
  v1::SweepSpec sweep;
  sweep.set_name("provisional");
  *sweep.mutable_base() = SmallRun(v1::RunSpec::COLUMNS, 10, 16, 4, 7);
  sweep.mutable_base()->set_provisional_every(4);
  auto submitted = Client().Submit(sweep, {});
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  std::vector<v1::LayerStats> provisional;
  for (const v1::Event& e : WatchAll(submitted->sweep_id())) {
    if (e.has_layer() && e.layer().provisional()) provisional.push_back(e.layer());
  }
  ASSERT_EQ(provisional.size(), 2u * 5);  // After 4 and 8 samples, layers 0 … 4.
  for (int k = 1; k <= 2; ++k) {
    v1::RunSpec first = sweep.base();
    first.set_samples(4 * k);
    auto table = SimulateSamples(first, 0, RunContext{});
    ASSERT_TRUE(table.ok());
    const auto expected = Aggregate(*table, first, 0);
    for (int layer = 0; layer <= 4; ++layer) {
      v1::LayerStats got = provisional[(k - 1) * 5 + layer];
      EXPECT_EQ(got.samples(), 4 * k);
      got.clear_provisional();
      EXPECT_EQ(cli::ToJsonLine(got), cli::ToJsonLine(expected[layer])) << k << " " << layer;
    }
  }
  v1::RunSpec plain = sweep.base();
  plain.clear_provisional_every();
  auto table = SimulateSamples(plain, 0, RunContext{});
  std::string expected, got;
  for (const auto& layer : Aggregate(*table, plain, 0)) expected += cli::ToJsonLine(layer) + "\n";
  const auto results = Client().Results(submitted->sweep_id());
  for (const auto& layer : *results) got += cli::ToJsonLine(layer) + "\n";
  EXPECT_EQ(got, expected);
}

TEST_F(SweepModelTest, ACancelledPointKeepsItsProvisionalRows) {
  StartServer();
  v1::SweepSpec sweep;
  *sweep.mutable_base() = SmallRun(v1::RunSpec::DENSE, 400, 96, 16, 7);
  sweep.mutable_base()->set_provisional_every(20);
  auto submitted = Client().Submit(sweep, {});
  ASSERT_TRUE(submitted.ok());
  const std::string id = submitted->sweep_id();
  AwaitEvent(id, [](const v1::Event& e) { return e.has_layer() && e.layer().provisional(); });
  ASSERT_TRUE(Client().Cancel(id).ok());
  int provisional = 0;
  for (const v1::Event& e : WatchAll(id)) {
    if (e.has_layer()) {
      EXPECT_TRUE(e.layer().provisional());
      EXPECT_EQ(e.layer().samples() % 20, 0);
      ++provisional;
    }
  }
  EXPECT_GE(provisional, 17);  // Whole sets of layers 0 … 16, at least one.
  EXPECT_EQ(provisional % 17, 0);
  EXPECT_TRUE(Client().Results(id)->empty());  // No final rows: the point never finished.
}

}  // namespace
}  // namespace sigprop
