// The Watch stream: events of one sweep after `from_sequence`, first the stored ones, then live
// ones as they are stored, ending after the SweepFinished event. Every event is read back from the
// store, so a reattaching watcher and a live one take the same path: no gap, no duplicate, and no
// per-watcher buffer that a slow reader could grow.
//
// A watcher that stops reading is dropped (ADR 0005): when one write has been pending longer than
// the stall limit, WatchStallMonitor ends the call with RESOURCE_EXHAUSTED and a message that
// starts with the table's slow-watcher prefix (proto/client_policy.h, matched by the clients to
// tell it from other RESOURCE_EXHAUSTED refusals) and names the sequence to reattach from. The status is sent by
// cancelling the call, which discards what gRPC still holds for the stream instead of queueing the
// status behind the write that the peer is not reading.
//
// States: idle (nothing to send, waiting for the hub), writing (one write in flight), dropping
// (writing, and the monitor is cancelling the call), ending (the SweepFinished event is in
// flight), finished (Finish called, waiting for OnDone).
#ifndef SIGPROP_SERVER_WATCH_REACTOR_H_
#define SIGPROP_SERVER_WATCH_REACTOR_H_

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/event_hub.h"
#include "server/job_store.h"
#include "sigprop/v1/results.pb.h"

namespace sigprop::server {

class WatchStallMonitor;

class WatchReactor final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  // Starts streaming; the reactor deletes itself in OnDone. `monitor` may be null (no stall limit).
  WatchReactor(grpc::CallbackServerContext* context, JobStore* store, EventHub* hub,
               WatchStallMonitor* monitor, const std::atomic<bool>* shutting_down,
               std::string sweep_id, int64_t from_sequence);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  friend class WatchStallMonitor;

  // Shared with the hub's listener and the stall monitor, which may act after this reactor is
  // gone: they check `reactor` under `mutex`.
  struct Link {
    absl::Mutex mutex;
    WatchReactor* reactor = nullptr;
  };
  enum class Action { kNone, kWrite, kFinish };

  // Decides the next step of link's reactor (if it still exists) under the lock and takes it
  // outside (gRPC may run reactions inline).
  static void Pump(Link& link);
  Action NextAction(grpc::Status* finish_status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(link_->mutex);
  // Ends link's call if its write has been pending for `limit` or longer at `now`.
  static void DropIfStalled(Link& link, absl::Time now, absl::Duration limit);

  grpc::CallbackServerContext* const context_;
  JobStore* const store_;
  EventHub* const hub_;
  const std::atomic<bool>* const shutting_down_;
  const std::string sweep_id_;
  std::shared_ptr<Link> link_;
  int64_t subscription_ = 0;

  int64_t last_sent_ ABSL_GUARDED_BY(link_->mutex);
  // The last sequence whose write completed: what the watcher is known to have been handed.
  int64_t last_written_ ABSL_GUARDED_BY(link_->mutex);
  absl::Time write_started_ ABSL_GUARDED_BY(link_->mutex);
  std::deque<v1::Event> pending_ ABSL_GUARDED_BY(link_->mutex);
  v1::Event in_flight_;  // Owned by the write in flight (gRPC keeps a pointer).
  bool writing_ ABSL_GUARDED_BY(link_->mutex) = false;
  bool ending_ ABSL_GUARDED_BY(link_->mutex) = false;
  bool cancelled_ ABSL_GUARDED_BY(link_->mutex) = false;
  // Set by the monitor: `dropping_` while it cancels the call (Finish must wait, as the call has
  // to stay alive until the cancel returns), `drop_status_` once it has decided to.
  bool dropping_ ABSL_GUARDED_BY(link_->mutex) = false;
  grpc::Status drop_status_ ABSL_GUARDED_BY(link_->mutex);
  bool finished_ ABSL_GUARDED_BY(link_->mutex) = false;
};

// One thread per server that looks at every open Watch a few times per stall limit and drops
// those whose write has been pending for the limit or longer. It must outlive every WatchReactor
// that was given it (SigpropServer destroys it after the gRPC server).
class WatchStallMonitor {
 public:
  explicit WatchStallMonitor(absl::Duration limit);
  ~WatchStallMonitor();
  WatchStallMonitor(const WatchStallMonitor&) = delete;
  WatchStallMonitor& operator=(const WatchStallMonitor&) = delete;

 private:
  friend class WatchReactor;
  void Track(std::weak_ptr<WatchReactor::Link> link);
  void Run();

  const absl::Duration limit_;
  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::weak_ptr<WatchReactor::Link>> links_ ABSL_GUARDED_BY(mutex_);
  std::thread thread_;
};

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_WATCH_REACTOR_H_
