#include "server/watch_reactor.h"

#include "absl/strings/str_cat.h"
#include "server/status_mapping.h"

namespace sigprop::server {
namespace {
constexpr int kReadBatch = 256;
}  // namespace

WatchReactor::WatchReactor(JobStore* store, EventHub* hub, const std::atomic<bool>* shutting_down,
                           std::string sweep_id, int64_t from_sequence)
    : store_(store),
      hub_(hub),
      shutting_down_(shutting_down),
      sweep_id_(std::move(sweep_id)),
      link_(std::make_shared<Link>()),
      last_sent_(from_sequence) {
  {
    absl::MutexLock lock(&link_->mutex);
    link_->reactor = this;
  }
  // Subscribe before the first read: an event stored after the read is then always announced.
  std::weak_ptr<Link> weak = link_;
  subscription_ = hub_->Subscribe(sweep_id_, [weak] {
    std::shared_ptr<Link> link = weak.lock();
    if (!link) return;
    WatchReactor* reactor = nullptr;
    {
      absl::MutexLock lock(&link->mutex);
      reactor = link->reactor;
    }
    if (reactor != nullptr) reactor->Pump();
  });
  Pump();
}

WatchReactor::Action WatchReactor::NextAction(grpc::Status* finish_status) {
  if (finished_ || writing_) return Action::kNone;
  if (cancelled_) {
    *finish_status = grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled by the client");
    return Action::kFinish;
  }
  if (ending_) {
    *finish_status = grpc::Status::OK;
    return Action::kFinish;
  }
  if (shutting_down_->load()) {
    *finish_status = grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        absl::StrCat("server shutting down; reattach with from_sequence=", last_sent_));
    return Action::kFinish;
  }
  if (pending_.empty()) {
    auto events = store_->ReadEvents(sweep_id_, last_sent_, kReadBatch);
    if (!events.ok()) {
      *finish_status = ToGrpcStatus(events.status());
      return Action::kFinish;
    }
    for (auto& event : *events) pending_.push_back(std::move(event));
  }
  if (pending_.empty()) return Action::kNone;
  in_flight_ = std::move(pending_.front());
  pending_.pop_front();
  last_sent_ = in_flight_.sequence();
  ending_ = in_flight_.has_sweep_finished();
  writing_ = true;
  return Action::kWrite;
}

void WatchReactor::Pump() {
  grpc::Status finish_status;
  Action action;
  {
    absl::MutexLock lock(&link_->mutex);
    action = NextAction(&finish_status);
    if (action == Action::kFinish) finished_ = true;
  }
  if (action == Action::kWrite) StartWrite(&in_flight_);
  if (action == Action::kFinish) Finish(finish_status);
}

void WatchReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&link_->mutex);
    writing_ = false;
    if (!ok) cancelled_ = true;  // The stream broke; the client reattaches from its last sequence.
  }
  Pump();
}

void WatchReactor::OnCancel() {
  {
    absl::MutexLock lock(&link_->mutex);
    cancelled_ = true;
  }
  Pump();
}

void WatchReactor::OnDone() {
  {
    absl::MutexLock lock(&link_->mutex);
    link_->reactor = nullptr;
  }
  hub_->Unsubscribe(sweep_id_, subscription_);
  delete this;
}

}  // namespace sigprop::server
