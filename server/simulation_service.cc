#include "server/simulation_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sweep_plan.h"
#include "server/status_mapping.h"
#include "server/compare_reactor.h"
#include "server/watch_reactor.h"

namespace sigprop::server {
namespace {

constexpr int kMaxResultsPage = 10000;

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// 128 random bits from the kernel: sweep ids must not be guessable across users.
std::string NewSweepId() {
  unsigned char bytes[16] = {};
  const int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  bool filled = false;
  if (fd >= 0) {
    filled = read(fd, bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes);
    close(fd);
  }
  if (!filled) {
    std::random_device device;
    for (auto& b : bytes) b = static_cast<unsigned char>(device());
  }
  std::string id = "sw-";
  for (unsigned char b : bytes) id += absl::StrFormat("%02x", b);
  return id;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SimulationService::SimulationService(ServiceOptions options, JobStore* store, Scheduler* scheduler,
                                     PointRunner* runner, EventHub* hub, Authenticator auth)
    : options_(std::move(options)),
      store_(store),
      scheduler_(scheduler),
      runner_(runner),
      hub_(hub),
      auth_(std::move(auth)) {
  if (options_.watch_stall_limit > absl::ZeroDuration()) {
    stall_monitor_ = std::make_unique<WatchStallMonitor>(options_.watch_stall_limit);
  }
}

void SimulationService::BeginShutdown() {
  shutting_down_.store(true);
  hub_->NotifyAll();
}

absl::StatusOr<std::string> SimulationService::Caller(const grpc::CallbackServerContext& context) const {
  if (shutting_down_.load()) return absl::UnavailableError("server shutting down");
  return auth_.Authenticate(context);
}

absl::StatusOr<SweepRecord> SimulationService::OwnedSweep(const std::string& user,
                                                          const std::string& sweep_id) const {
  if (sweep_id.empty()) return absl::InvalidArgumentError("sweep_id: must not be empty");
  auto sweep = store_->GetSweep(sweep_id);
  if (!sweep.ok()) return sweep.status();
  if (!auth_.MayAccess(user, sweep->owner)) {
    return absl::PermissionDeniedError(
        absl::StrCat("sweep_id: ", sweep_id, " belongs to another user"));
  }
  return sweep;
}

absl::StatusOr<v1::SweepPlan> SimulationService::DoPlan(const v1::SweepSpec* sweep,
                                                       const v1::CompareSweep* compare,
                                                       bool with_specs) const {
  if ((sweep != nullptr) == (compare != nullptr)) {
    return absl::InvalidArgumentError("sweep, compare: give exactly one of them");
  }
  PlanOptions options;
  options.with_specs = with_specs;
  return sweep != nullptr ? PlanSweep(*sweep, options_.limits, options)
                          : PlanCompareSweep(*compare, options_.limits, options);
}

absl::StatusOr<v1::SubmitResponse> SimulationService::DoSubmit(const std::string& user,
                                                               const v1::SubmitRequest& request) {
  if (store_->read_only()) {
    return absl::FailedPreconditionError("the job store is read-only; this server only serves reads");
  }
  auto plan = DoPlan(request.has_sweep() ? &request.sweep() : nullptr,
                     request.has_compare() ? &request.compare() : nullptr, /*with_specs=*/true);
  if (!plan.ok()) return plan.status();
  std::vector<v1::PlannedPoint> chosen;
  if (request.points_size() == 0) {
    chosen.assign(std::make_move_iterator(plan->mutable_points()->begin()),
                  std::make_move_iterator(plan->mutable_points()->end()));
  } else {
    for (int i = 0; i < request.points_size(); ++i) {
      const int p = request.points(i);
      if (p < 0 || p >= plan->points_size() || (i > 0 && p <= request.points(i - 1))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "points[", i, "]: must be ascending indices in [0, ", plan->points_size(), "), got ", p));
      }
      chosen.push_back(std::move(*plan->mutable_points(p)));
    }
  }

  SweepRecord record;
  record.id = NewSweepId();
  record.owner = user;
  record.comparison = request.has_compare();
  if (record.comparison) {
    record.compare = request.compare();
  } else {
    record.spec = request.sweep();
  }
  record.points_total = static_cast<int>(chosen.size());
  if (request.points_size() > 0) record.points.assign(request.points().begin(), request.points().end());
  record.created_unix_ms = NowUnixMs();
  {
    absl::MutexLock lock(&submit_mutex_);
    if (options_.max_active_sweeps_per_user > 0) {
      auto active = store_->CountActiveSweeps(user);
      if (!active.ok()) return active.status();
      if (*active >= options_.max_active_sweeps_per_user) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "user '", user, "' has ", *active, " active sweeps, the limit of "
            "--max-active-sweeps-per-user=", options_.max_active_sweeps_per_user));
      }
    }
    if (auto status = store_->CreateSweep(record); !status.ok()) return status;
  }
  std::vector<PointTask> tasks;
  tasks.reserve(chosen.size());
  for (auto& point : chosen) {
    const int index = point.index();
    tasks.push_back(PointTask{record.id, user, index, std::move(point)});
  }
  if (auto status = scheduler_->Enqueue(std::move(tasks)); !status.ok()) {
    // Nothing was queued: record the refusal so the stored sweep does not look pending forever.
    (void)store_->SetSweepState(record.id, v1::SweepStatus::FAILED, std::string(status.message()));
    return status;
  }
  v1::SubmitResponse response;
  response.set_sweep_id(record.id);
  response.set_points(record.points_total);
  return response;
}

grpc::ServerUnaryReactor* SimulationService::Plan(grpc::CallbackServerContext* context,
                                                  const v1::PlanRequest* request,
                                                  v1::SweepPlan* response) {
  auto user = Caller(*context);
  if (!user.ok()) return Done(context, user.status());
  auto plan = DoPlan(request->has_sweep() ? &request->sweep() : nullptr,
                     request->has_compare() ? &request->compare() : nullptr,
                     !request->omit_specs());
  if (plan.ok()) *response = *std::move(plan);
  return Done(context, plan.status());
}

grpc::ServerUnaryReactor* SimulationService::Submit(grpc::CallbackServerContext* context,
                                                    const v1::SubmitRequest* request,
                                                    v1::SubmitResponse* response) {
  auto user = Caller(*context);
  if (!user.ok()) return Done(context, user.status());
  auto submitted = DoSubmit(*user, *request);
  if (submitted.ok()) *response = *submitted;
  return Done(context, submitted.status());
}

grpc::ServerWriteReactor<v1::Event>* SimulationService::Watch(grpc::CallbackServerContext* context,
                                                             const v1::WatchRequest* request) {
  auto refuse = [](const absl::Status& status) {
    class Refusal final : public grpc::ServerWriteReactor<v1::Event> {
     public:
      explicit Refusal(const grpc::Status& status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    return new Refusal(ToGrpcStatus(status));
  };
  auto user = Caller(*context);
  if (!user.ok()) return refuse(user.status());
  auto sweep = OwnedSweep(*user, request->sweep_id());
  if (!sweep.ok()) return refuse(sweep.status());
  if (request->from_sequence() < 0 || request->from_sequence() > sweep->last_sequence) {
    return refuse(absl::OutOfRangeError(absl::StrCat(
        "from_sequence: must be in [0, ", sweep->last_sequence, "] (the sweep's last event), got ",
        request->from_sequence())));
  }
  if (IsTerminal(sweep->state) && request->from_sequence() == sweep->last_sequence) return refuse(absl::OkStatus());
  return new WatchReactor(context, store_, hub_, stall_monitor_.get(), &shutting_down_,
                          request->sweep_id(), request->from_sequence());
}

grpc::ServerUnaryReactor* SimulationService::Get(grpc::CallbackServerContext* context,
                                                 const v1::GetRequest* request,
                                                 v1::SweepStatus* response) {
  auto user = Caller(*context);
  if (!user.ok()) return Done(context, user.status());
  auto sweep = OwnedSweep(*user, request->sweep_id());
  if (sweep.ok()) *response = sweep->ToProto();
  return Done(context, sweep.status());
}

grpc::ServerUnaryReactor* SimulationService::List(grpc::CallbackServerContext* context,
                                                  const v1::ListRequest*,
                                                  v1::ListResponse* response) {
  auto user = Caller(*context);
  if (!user.ok()) return Done(context, user.status());
  auto sweeps = store_->ListSweeps(auth_.enabled() ? *user : "");
  if (!sweeps.ok()) return Done(context, sweeps.status());
  for (const auto& sweep : *sweeps) {
    v1::SweepStatus status = sweep.ToProto();
    status.clear_spec();  // List is an index; Get returns the spec.
    status.clear_compare();
    *response->add_sweeps() = std::move(status);
  }
  return Done(context, absl::OkStatus());
}

absl::Status SimulationService::DoCancel(const std::string& user, const std::string& sweep_id) {
  auto sweep = OwnedSweep(user, sweep_id);
  if (!sweep.ok()) return sweep.status();
  if (auto status = runner_->CancelSweep(sweep_id); !status.ok()) return status;
  scheduler_->CancelSweep(sweep_id);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* SimulationService::Cancel(grpc::CallbackServerContext* context,
                                                    const v1::CancelRequest* request,
                                                    v1::CancelResponse*) {
  auto user = Caller(*context);
  if (!user.ok()) return Done(context, user.status());
  return Done(context, DoCancel(*user, request->sweep_id()));
}

absl::StatusOr<v1::ResultsResponse> SimulationService::DoResults(const std::string& user,
                                                                 const v1::ResultsRequest& request) {
  auto sweep = OwnedSweep(user, request.sweep_id());
  if (!sweep.ok()) return sweep.status();
  int64_t offset = 0;
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &offset) || offset < 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token: not a token this server issued: '", request.page_token(), "'"));
  }
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: must be ≥ 0, got ", request.page_size()));
  }
  const int size = std::min(request.page_size() > 0 ? request.page_size() : options_.results_page_size,
                            kMaxResultsPage);
  // One row more than asked says whether a next page exists.
  v1::ResultsResponse response;
  size_t found = 0;
  if (sweep->comparison) {
    auto rows = store_->ReadCompareRows(request.sweep_id(), offset, size + 1);
    if (!rows.ok()) return rows.status();
    found = rows->size();
    for (int i = 0; i < static_cast<int>(rows->size()) && i < size; ++i) {
      *response.add_compare_rows() = std::move((*rows)[i]);
    }
  } else {
    auto layers = store_->ReadLayers(request.sweep_id(), offset, size + 1);
    if (!layers.ok()) return layers.status();
    found = layers->size();
    for (int i = 0; i < static_cast<int>(layers->size()) && i < size; ++i) {
      *response.add_layers() = std::move((*layers)[i]);
    }
  }
  if (static_cast<int>(found) > size) response.set_next_page_token(absl::StrCat(offset + size));
  return response;
}

grpc::ServerUnaryReactor* SimulationService::Results(grpc::CallbackServerContext* context,
                                                     const v1::ResultsRequest* request,
                                                     v1::ResultsResponse* response) {
  auto user = Caller(*context);
  if (!user.ok()) return Done(context, user.status());
  auto results = DoResults(*user, *request);
  if (results.ok()) *response = std::move(*results);
  return Done(context, results.status());
}

}  // namespace sigprop::server

namespace sigprop::server {

grpc::ServerUnaryReactor* SimulationService::Compare(grpc::CallbackServerContext* context,
                                                     const v1::CompareRequest* request,
                                                     v1::CompareResult* response) {
  auto user = Caller(*context);
  if (!user.ok()) return Done(context, user.status());
  v1::SubmitRequest submit;
  *submit.mutable_compare() = request->sweep();
  auto submitted = DoSubmit(*user, submit);
  if (!submitted.ok()) return Done(context, submitted.status());
  context->AddTrailingMetadata("sigprop-sweep-id", submitted->sweep_id());
  const std::string sweep_id = submitted->sweep_id();
  return new CompareReactor(
      store_, hub_, &shutting_down_, sweep_id,
      [this, user = *user, sweep_id] { (void)DoCancel(user, sweep_id); }, response);
}

}  // namespace sigprop::server
