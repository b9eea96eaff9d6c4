#include "server/compare_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/status_mapping.h"

namespace sigprop::server {
namespace {

// Enough for any comparison's events; the first ErrorEvent gives a failed sweep's code.
constexpr int kEventsRead = 1 << 20;

}  // namespace

CompareReactor::CompareReactor(JobStore* store, EventHub* hub,
                               const std::atomic<bool>* shutting_down, std::string sweep_id,
                               std::function<void()> cancel_sweep, v1::CompareResult* response)
    : store_(store),
      hub_(hub),
      shutting_down_(shutting_down),
      sweep_id_(std::move(sweep_id)),
      cancel_sweep_(std::move(cancel_sweep)),
      response_(response),
      link_(std::make_shared<Link>()) {
  {
    absl::MutexLock lock(&link_->mutex);
    link_->reactor = this;
  }
  // Subscribe before the first look: an ending stored after it is then always announced.
  std::weak_ptr<Link> weak = link_;
  subscription_ = hub_->Subscribe(sweep_id_, [weak] {
    if (std::shared_ptr<Link> link = weak.lock()) Check(*link);
  });
  Check(*link_);
}

bool CompareReactor::Outcome(grpc::Status* status) {
  if (shutting_down_->load()) {
    *status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           absl::StrCat("server shutting down; comparison sweep ", sweep_id_,
                                        " resumes when it restarts"));
    return true;
  }
  auto sweep = store_->GetSweep(sweep_id_);
  if (!sweep.ok()) {
    *status = ToGrpcStatus(sweep.status());
    return true;
  }
  switch (sweep->state) {
    case v1::SweepStatus::SUCCEEDED: {
      constexpr int kPage = 10000;
      for (int64_t offset = 0;; offset += kPage) {
        auto rows = store_->ReadCompareRows(sweep_id_, offset, kPage);
        if (!rows.ok()) {
          response_->clear_rows();
          *status = ToGrpcStatus(rows.status());
          return true;
        }
        for (auto& row : *rows) *response_->add_rows() = std::move(row);
        if (static_cast<int>(rows->size()) < kPage) break;
      }
      *status = grpc::Status::OK;
      return true;
    }
    case v1::SweepStatus::CANCELLED:
      *status = grpc::Status(grpc::StatusCode::CANCELLED,
                             absl::StrCat("comparison sweep ", sweep_id_, " was cancelled"));
      return true;
    case v1::SweepStatus::FAILED: {
      absl::Status failure = absl::InternalError(sweep->error);
      auto events = store_->ReadEvents(sweep_id_, 0, kEventsRead);
      if (events.ok()) {
        for (const v1::Event& event : *events) {
          if (!event.has_error()) continue;
          failure = absl::Status(static_cast<absl::StatusCode>(event.error().code()),
                                 event.error().message());
          break;
        }
      }
      *status = ToGrpcStatus(failure);
      return true;
    }
    default:
      return false;
  }
}

void CompareReactor::Check(Link& link) {
  CompareReactor* reactor = nullptr;
  grpc::Status status;
  {
    absl::MutexLock lock(&link.mutex);
    if (link.reactor == nullptr || link.finishing) return;
    if (!link.reactor->Outcome(&status)) return;
    link.finishing = true;
    reactor = link.reactor;
  }
  // Outside the lock, as gRPC may run OnDone inline; OnDone cannot run before this Finish.
  reactor->Finish(status);
}

void CompareReactor::OnCancel() {
  {
    absl::MutexLock lock(&link_->mutex);
    if (link_->finishing) return;
    link_->finishing = true;
  }
  cancel_sweep_();
  Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                      absl::StrCat("the call was cancelled; so was comparison sweep ", sweep_id_)));
}

void CompareReactor::OnDone() {
  {
    absl::MutexLock lock(&link_->mutex);
    link_->reactor = nullptr;
  }
  hub_->Unsubscribe(sweep_id_, subscription_);
  delete this;
}

}  // namespace sigprop::server
