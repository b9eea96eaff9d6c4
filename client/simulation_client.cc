#include "client/simulation_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cancel_on_interrupt.h"
#include "client/retry_backoff.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/client_policy.h"

namespace sigprop::cli {
namespace {

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// Worth a reconnect: the server went away or is restarting, not a verdict on the request
// (proto/sigprop/v1/client_policy.json says which codes, and why CANCELLED is one of them).
bool Transient(const grpc::Status& status) {
  return GetClientPolicy().WorthReattaching(status.error_code(), status.error_message());
}

}  // namespace

SimulationClient::SimulationClient(std::shared_ptr<grpc::Channel> channel, std::string token)
    : channel_(std::move(channel)),
      stub_(v1::Simulation::NewStub(channel_)),
      token_(std::move(token)) {}

void SimulationClient::Prepare(grpc::ClientContext* context) const {
  if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
}

absl::StatusOr<v1::SubmitResponse> SimulationClient::Submit(const v1::SweepSpec& sweep,
                                                            const std::vector<int>& points,
                                                            std::string* peer) {
  grpc::ClientContext context;
  Prepare(&context);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::SubmitRequest request;
  *request.mutable_sweep() = sweep;
  for (int p : points) request.add_points(p);
  v1::SubmitResponse response;
  auto status = stub_->Submit(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  if (peer != nullptr) *peer = context.peer();
  return response;
}

absl::StatusOr<v1::SubmitResponse> SimulationClient::Submit(const v1::CompareSweep& sweep) {
  grpc::ClientContext context;
  Prepare(&context);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::SubmitRequest request;
  *request.mutable_compare() = sweep;
  v1::SubmitResponse response;
  auto status = stub_->Submit(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response;
}

namespace {

absl::StatusOr<v1::SweepPlan> CallPlan(v1::Simulation::Stub& stub, grpc::ClientContext& context,
                                       const v1::PlanRequest& request) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::SweepPlan plan;
  auto status = stub.Plan(&context, request, &plan);
  if (!status.ok()) return FromGrpc(status);
  return plan;
}

}  // namespace

absl::StatusOr<v1::SweepPlan> SimulationClient::Plan(const v1::SweepSpec& sweep, bool with_specs) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::PlanRequest request;
  *request.mutable_sweep() = sweep;
  request.set_omit_specs(!with_specs);
  return CallPlan(*stub_, context, request);
}

absl::StatusOr<v1::SweepPlan> SimulationClient::Plan(const v1::CompareSweep& sweep,
                                                     bool with_specs) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::PlanRequest request;
  *request.mutable_compare() = sweep;
  request.set_omit_specs(!with_specs);
  return CallPlan(*stub_, context, request);
}

absl::StatusOr<v1::SweepPlan> SimulationClient::PlanOf(const v1::SweepStatus& sweep) {
  return sweep.has_compare() ? Plan(sweep.compare(), false) : Plan(sweep.spec(), false);
}

absl::StatusOr<v1::SweepFinished> SimulationClient::Watch(
    const std::string& sweep_id, int64_t from_sequence,
    const std::function<void(const v1::Event&)>& on_event, const std::atomic<bool>& interrupted,
    std::chrono::seconds patience) {
  int64_t last = from_sequence;
  RetryBackoff backoff;
  auto give_up = std::chrono::steady_clock::now() + patience;
  for (;;) {
    grpc::ClientContext context;
    Prepare(&context);
    v1::WatchRequest request;
    request.set_sweep_id(sweep_id);
    request.set_from_sequence(last);
    bool finished = false;
    v1::SweepFinished finish;
    grpc::Status status;
    {
      CancelOnInterrupt watchdog([&context] { context.TryCancel(); }, interrupted);
      auto reader = stub_->Watch(&context, request);
      v1::Event event;
      while (reader->Read(&event)) {
        if (event.sequence() <= last) continue;  // Defensive: never deliver twice.
        last = event.sequence();
        // Progress was made: a later outage gets the full patience again.
        backoff.Reset();
        give_up = std::chrono::steady_clock::now() + patience;
        on_event(event);
        if (event.has_sweep_finished()) {
          finished = true;
          finish = event.sweep_finished();
        }
      }
      status = reader->Finish();
    }
    if (finished) return finish;
    if (interrupted.load()) return absl::CancelledError("interrupted");
    if (status.ok()) {
      // A stream that ends cleanly without SweepFinished: the sweep ended before `last`.
      auto sweep = Get(sweep_id);
      if (!sweep.ok()) return sweep.status();
      v1::SweepFinished done;
      done.set_state(sweep->state() == v1::SweepStatus::SUCCEEDED   ? v1::SweepFinished::SUCCEEDED
                     : sweep->state() == v1::SweepStatus::CANCELLED ? v1::SweepFinished::CANCELLED
                                                                    : v1::SweepFinished::FAILED);
      return done;
    }
    if (!Transient(status) || std::chrono::steady_clock::now() > give_up) return FromGrpc(status);
    backoff.Sleep();
  }
}

absl::StatusOr<v1::SweepStatus> SimulationClient::Get(const std::string& sweep_id) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::GetRequest request;
  request.set_sweep_id(sweep_id);
  v1::SweepStatus response;
  auto status = stub_->Get(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response;
}

absl::StatusOr<std::vector<v1::SweepStatus>> SimulationClient::List() {
  grpc::ClientContext context;
  Prepare(&context);
  v1::ListResponse response;
  auto status = stub_->List(&context, v1::ListRequest(), &response);
  if (!status.ok()) return FromGrpc(status);
  return std::vector<v1::SweepStatus>(response.sweeps().begin(), response.sweeps().end());
}

absl::Status SimulationClient::Cancel(const std::string& sweep_id) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::CancelRequest request;
  request.set_sweep_id(sweep_id);
  v1::CancelResponse response;
  return FromGrpc(stub_->Cancel(&context, request, &response));
}

absl::StatusOr<std::vector<v1::LayerStats>> SimulationClient::Results(const std::string& sweep_id) {
  auto all = AllResults(sweep_id);
  if (!all.ok()) return all.status();
  return std::vector<v1::LayerStats>(std::make_move_iterator(all->mutable_layers()->begin()),
                                     std::make_move_iterator(all->mutable_layers()->end()));
}

absl::StatusOr<v1::ResultsResponse> SimulationClient::AllResults(const std::string& sweep_id) {
  v1::ResultsResponse all;
  std::string token;
  do {
    grpc::ClientContext context;
    Prepare(&context);
    v1::ResultsRequest request;
    request.set_sweep_id(sweep_id);
    request.set_page_token(token);
    v1::ResultsResponse response;
    auto status = stub_->Results(&context, request, &response);
    if (!status.ok()) return FromGrpc(status);
    for (auto& layer : *response.mutable_layers()) *all.add_layers() = std::move(layer);
    for (auto& row : *response.mutable_compare_rows()) *all.add_compare_rows() = std::move(row);
    token = response.next_page_token();
  } while (!token.empty());
  return all;
}

absl::StatusOr<std::string> SimulationClient::Health(std::string* peer) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckResponse response;
  auto status = stub->Check(&context, grpc::health::v1::HealthCheckRequest(), &response);
  if (!status.ok()) return FromGrpc(status);
  if (peer != nullptr) *peer = context.peer();
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

}  // namespace sigprop::cli
