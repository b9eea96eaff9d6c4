// The Simulation service (proto/sigprop/v1/service.proto) on gRPC's callback API. It does no
// mathematics: it checks callers, validates and stores sweeps, hands points to the scheduler, and
// streams stored events. Point execution (engine calls) lives in point_runner.h.
#ifndef SIGPROP_SERVER_SIMULATION_SERVICE_H_
#define SIGPROP_SERVER_SIMULATION_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/validate.h"
#include "server/auth.h"
#include "server/event_hub.h"
#include "server/job_store.h"
#include "server/point_runner.h"
#include "server/scheduler.h"
#include "server/watch_reactor.h"
#include "sigprop/v1/service.grpc.pb.h"

namespace sigprop::server {

struct ServiceOptions {
  Limits limits;
  int max_active_sweeps_per_user = 0;  // 0: unlimited.
  int results_page_size = 1000;
  // A Watch whose write has been pending this long is dropped with RESOURCE_EXHAUSTED, the
  // watcher to reattach from its last sequence (ADR 0005). Zero or less: never.
  absl::Duration watch_stall_limit = absl::Seconds(30);
};

class SimulationService final : public v1::Simulation::CallbackService {
 public:
  SimulationService(ServiceOptions options, JobStore* store, Scheduler* scheduler,
                    PointRunner* runner, EventHub* hub, Authenticator auth);

  // New calls get UNAVAILABLE; open watches end with UNAVAILABLE at their next wake-up.
  void BeginShutdown();
  bool shutting_down() const { return shutting_down_.load(); }

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const v1::SubmitRequest* request,
                                   v1::SubmitResponse* response) override;
  grpc::ServerWriteReactor<v1::Event>* Watch(grpc::CallbackServerContext* context,
                                             const v1::WatchRequest* request) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context, const v1::GetRequest* request,
                                v1::SweepStatus* response) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListRequest* request,
                                 v1::ListResponse* response) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const v1::CancelRequest* request,
                                   v1::CancelResponse* response) override;
  grpc::ServerUnaryReactor* Results(grpc::CallbackServerContext* context,
                                    const v1::ResultsRequest* request,
                                    v1::ResultsResponse* response) override;
  grpc::ServerUnaryReactor* Compare(grpc::CallbackServerContext* context,
                                    const v1::CompareRequest* request,
                                    v1::CompareResult* response) override;
  grpc::ServerUnaryReactor* Plan(grpc::CallbackServerContext* context,
                                 const v1::PlanRequest* request,
                                 v1::SweepPlan* response) override;

 private:
  absl::StatusOr<std::string> Caller(const grpc::CallbackServerContext& context) const;
  // The sweep, if it exists and the caller may access it.
  absl::StatusOr<SweepRecord> OwnedSweep(const std::string& user, const std::string& sweep_id) const;
  // The plan of exactly one of `sweep` and `compare` under this server's limits.
  absl::StatusOr<v1::SweepPlan> DoPlan(const v1::SweepSpec* sweep, const v1::CompareSweep* compare,
                                       bool with_specs) const;
  absl::StatusOr<v1::SubmitResponse> DoSubmit(const std::string& user,
                                              const v1::SubmitRequest& request);
  absl::Status DoCancel(const std::string& user, const std::string& sweep_id);
  absl::StatusOr<v1::ResultsResponse> DoResults(const std::string& user,
                                                const v1::ResultsRequest& request);

  const ServiceOptions options_;
  JobStore* const store_;
  Scheduler* const scheduler_;
  PointRunner* const runner_;
  EventHub* const hub_;
  const Authenticator auth_;
  std::atomic<bool> shutting_down_{false};
  std::unique_ptr<WatchStallMonitor> stall_monitor_;  // Null without a stall limit.
  absl::Mutex submit_mutex_;  // Serialises the per-user active-sweep check with the insert.
};

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_SIMULATION_SERVICE_H_
