#include "server/watch_reactor.h"

#include <algorithm>

#include <grpc/grpc.h>

#include "absl/strings/str_cat.h"
#include "proto/client_policy.h"
#include "server/status_mapping.h"

namespace sigprop::server {
namespace {
constexpr int kReadBatch = 256;
}  // namespace

WatchReactor::WatchReactor(grpc::CallbackServerContext* context, JobStore* store, EventHub* hub,
                           WatchStallMonitor* monitor, const std::atomic<bool>* shutting_down,
                           std::string sweep_id, int64_t from_sequence)
    : context_(context),
      store_(store),
      hub_(hub),
      shutting_down_(shutting_down),
      sweep_id_(std::move(sweep_id)),
      link_(std::make_shared<Link>()),
      last_sent_(from_sequence),
      last_written_(from_sequence) {
  {
    absl::MutexLock lock(&link_->mutex);
    link_->reactor = this;
  }
  // Subscribe before the first read: an event stored after the read is then always announced.
  std::weak_ptr<Link> weak = link_;
  subscription_ = hub_->Subscribe(sweep_id_, [weak] {
    if (std::shared_ptr<Link> link = weak.lock()) Pump(*link);
  });
  if (monitor != nullptr) monitor->Track(link_);
  Pump(*link_);
}

WatchReactor::Action WatchReactor::NextAction(grpc::Status* finish_status) {
  if (finished_ || writing_ || dropping_) return Action::kNone;
  if (!drop_status_.ok()) {
    *finish_status = drop_status_;
    return Action::kFinish;
  }
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
  write_started_ = absl::Now();
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
    if (ok) last_written_ = last_sent_;
    if (!ok) cancelled_ = true;  // The stream broke; the client reattaches from its last sequence.
  }
  Pump(*link_);
}

void WatchReactor::DropIfStalled(Link& link, absl::Time now, absl::Duration limit) {
  WatchReactor* reactor = nullptr;
  std::string message;
  {
    absl::MutexLock lock(&link.mutex);
    reactor = link.reactor;
    if (reactor == nullptr || reactor->finished_ || !reactor->writing_ ||
        !reactor->drop_status_.ok() || now - reactor->write_started_ < limit) {
      return;
    }
    message = absl::StrCat(GetClientPolicy().slow_watcher_prefix, " no progress for ", absl::FormatDuration(limit),
                           "; reattach with from_sequence=", reactor->last_written_);
    reactor->drop_status_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, message);
    reactor->dropping_ = true;
  }
  // Outside the lock, as gRPC may run OnWriteDone and OnCancel inline. The call is alive: Finish
  // has not been called and NextAction does not call it while `dropping_` is set. Cancelling with
  // a status (rather than Finish, whose status would queue behind the write the peer is not
  // reading) sends the status at once and releases the stream's buffers.
  grpc_call_cancel_with_status(reactor->context_->c_call(), GRPC_STATUS_RESOURCE_EXHAUSTED,
                               message.c_str(), nullptr);
  {
    absl::MutexLock lock(&link.mutex);
    reactor->dropping_ = false;
    reactor->pending_.clear();
  }
  Pump(link);
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

WatchStallMonitor::WatchStallMonitor(absl::Duration limit) : limit_(limit) {
  thread_ = std::thread([this] { Run(); });
}

WatchStallMonitor::~WatchStallMonitor() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  thread_.join();
}

void WatchStallMonitor::Track(std::weak_ptr<WatchReactor::Link> link) {
  absl::MutexLock lock(&mutex_);
  links_.push_back(std::move(link));
}

void WatchStallMonitor::Run() {
  // A stall is seen between `limit` and `limit` + `every` after its write began.
  const absl::Duration every = std::clamp(limit_ / 4, absl::Milliseconds(10), absl::Seconds(1));
  absl::MutexLock lock(&mutex_);
  while (!mutex_.AwaitWithTimeout(absl::Condition(&stopping_), every)) {
    std::vector<std::shared_ptr<WatchReactor::Link>> open;
    auto gone = std::remove_if(links_.begin(), links_.end(), [&open](const auto& weak) {
      std::shared_ptr<WatchReactor::Link> link = weak.lock();
      if (link == nullptr) return true;
      open.push_back(std::move(link));
      return false;
    });
    links_.erase(gone, links_.end());
    // Unlocked while dropping: a drop may run reactions that start new watches (Track).
    mutex_.Unlock();
    const absl::Time now = absl::Now();
    for (const auto& link : open) WatchReactor::DropIfStalled(*link, now, limit_);
    open.clear();
    mutex_.Lock();
  }
}

}  // namespace sigprop::server
