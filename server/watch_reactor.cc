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
    if (std::shared_ptr<Link> link = weak.lock()) Pump(*link);
  });
  Pump(*link_);
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

void WatchReactor::Pump(Link& link) {
  grpc::Status finish_status;
  Action action = Action::kNone;
  WatchReactor* reactor = nullptr;
  {
    // The reactor is looked up and its next step decided under one lock: OnDone clears
    // link.reactor under this lock before deleting, so a hub notification racing the end of the
    // call either sees nullptr or a reactor that is still alive.
    absl::MutexLock lock(&link.mutex);
    reactor = link.reactor;
    if (reactor == nullptr) return;
    action = reactor->NextAction(&finish_status);
    if (action == Action::kFinish) reactor->finished_ = true;
  }
  // A write or finish taken here keeps the reactor alive until its own callback (OnWriteDone,
  // OnDone) runs, which only this call can have started.
  if (action == Action::kWrite) reactor->StartWrite(&reactor->in_flight_);
  if (action == Action::kFinish) reactor->Finish(finish_status);
}

void WatchReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&link_->mutex);
    writing_ = false;
    if (!ok) cancelled_ = true;  // The stream broke; the client reattaches from its last sequence.
  }
  Pump(*link_);
}

void WatchReactor::OnCancel() {
  {
    absl::MutexLock lock(&link_->mutex);
    cancelled_ = true;
  }
  Pump(*link_);
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
