// A thin client of the Simulation service. Watch hides reconnects: when a stream breaks
// (UNAVAILABLE, a dropped connection, a server restart, the server dropping a watcher that read
// too slowly) it reattaches from the last sequence it
// delivered, so the caller sees every event once, in order (STYLE.md, google-cloud-cpp).
#ifndef SIGPROP_CLIENT_SIMULATION_CLIENT_H_
#define SIGPROP_CLIENT_SIMULATION_CLIENT_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "proto/client_policy.h"
#include "sigprop/v1/service.grpc.pb.h"

namespace sigprop::cli {

// The table's patience (proto/sigprop/v1/client_policy.json).
inline std::chrono::seconds DefaultPatience() {
  return std::chrono::seconds(static_cast<int64_t>(GetClientPolicy().patience_seconds));
}

class SimulationClient {
 public:
  // `token` empty: no authorization metadata.
  SimulationClient(std::shared_ptr<grpc::Channel> channel, std::string token);

  // `points` empty: every point of the sweep; else only these (SubmitRequest.points). `peer`, when
  // given, receives the address of the server that took the sweep ("ipv4:10.0.0.7:50051"): on a
  // round_robin channel over several servers, the one to watch it on.
  absl::StatusOr<v1::SubmitResponse> Submit(const v1::SweepSpec& sweep,
                                            const std::vector<int>& points,
                                            std::string* peer = nullptr);
  // A comparison sweep, stored and run like any other (its rows come as CompareRow events).
  absl::StatusOr<v1::SubmitResponse> Submit(const v1::CompareSweep& sweep);
  // The server's plan of a sweep (validated against its limits); `with_specs` false leaves out
  // each point's spec.
  absl::StatusOr<v1::SweepPlan> Plan(const v1::SweepSpec& sweep, bool with_specs);
  absl::StatusOr<v1::SweepPlan> Plan(const v1::CompareSweep& sweep, bool with_specs);
  // The plan of a stored sweep (its SweepStatus from Get), for labels; points keep their order.
  absl::StatusOr<v1::SweepPlan> PlanOf(const v1::SweepStatus& sweep);
  // Delivers events after `from_sequence` until the SweepFinished event (returned), the caller's
  // `interrupted` turns true (CANCELLED), or the server gives up for good (its status).
  // `patience` bounds how long it keeps retrying an unreachable server.
  absl::StatusOr<v1::SweepFinished> Watch(const std::string& sweep_id, int64_t from_sequence,
                                          const std::function<void(const v1::Event&)>& on_event,
                                          const std::atomic<bool>& interrupted,
                                          std::chrono::seconds patience = DefaultPatience());
  absl::StatusOr<v1::SweepStatus> Get(const std::string& sweep_id);
  absl::StatusOr<std::vector<v1::SweepStatus>> List();
  absl::Status Cancel(const std::string& sweep_id);
  // Every page of Results in one response: layers in (point, layer) order, or a comparison's
  // rows in (point, time, statistic) order.
  absl::StatusOr<v1::ResultsResponse> AllResults(const std::string& sweep_id);
  // AllResults' layers.
  absl::StatusOr<std::vector<v1::LayerStats>> Results(const std::string& sweep_id);
  // grpc.health.v1 status of the whole server ("" service); `peer` as for Submit.
  absl::StatusOr<std::string> Health(std::string* peer = nullptr);

 private:
  void Prepare(grpc::ClientContext* context) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Simulation::Stub> stub_;
  std::string token_;
};

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_SIMULATION_CLIENT_H_
