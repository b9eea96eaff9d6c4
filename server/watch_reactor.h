// The Watch stream: events of one sweep after `from_sequence`, first the stored ones, then live
// ones as they are stored, ending after the SweepFinished event. Every event is read back from the
// store, so a reattaching watcher and a live one take the same path: no gap, no duplicate, and no
// per-watcher buffer that a slow reader could grow.
//
// States: idle (nothing to send, waiting for the hub), writing (one write in flight), ending (the
// SweepFinished event is in flight), finished (Finish called, waiting for OnDone).
#ifndef SIGPROP_SERVER_WATCH_REACTOR_H_
#define SIGPROP_SERVER_WATCH_REACTOR_H_

#include <atomic>
#include <deque>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "server/event_hub.h"
#include "server/job_store.h"
#include "sigprop/v1/results.pb.h"

namespace sigprop::server {

class WatchReactor final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  // Starts streaming; the reactor deletes itself in OnDone.
  WatchReactor(JobStore* store, EventHub* hub, const std::atomic<bool>* shutting_down,
               std::string sweep_id, int64_t from_sequence);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Shared with the hub's listener, which may fire after this reactor is gone: the listener
  // checks `reactor` under `mutex`.
  struct Link {
    absl::Mutex mutex;
    WatchReactor* reactor = nullptr;
  };
  enum class Action { kNone, kWrite, kFinish };

  // Decides the next step of link's reactor (if it still exists) under the lock and takes it
  // outside (gRPC may run reactions inline).
  static void Pump(Link& link);
  Action NextAction(grpc::Status* finish_status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(link_->mutex);

  JobStore* const store_;
  EventHub* const hub_;
  const std::atomic<bool>* const shutting_down_;
  const std::string sweep_id_;
  std::shared_ptr<Link> link_;
  int64_t subscription_ = 0;

  int64_t last_sent_ ABSL_GUARDED_BY(link_->mutex);
  std::deque<v1::Event> pending_ ABSL_GUARDED_BY(link_->mutex);
  v1::Event in_flight_;  // Owned by the write in flight (gRPC keeps a pointer).
  bool writing_ ABSL_GUARDED_BY(link_->mutex) = false;
  bool ending_ ABSL_GUARDED_BY(link_->mutex) = false;
  bool cancelled_ ABSL_GUARDED_BY(link_->mutex) = false;
  bool finished_ ABSL_GUARDED_BY(link_->mutex) = false;
};

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_WATCH_REACTOR_H_
