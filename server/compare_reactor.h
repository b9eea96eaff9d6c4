// The Compare RPC as a convenience over a stored comparison sweep (ADR 0008): the service submits
// the sweep, and this reactor waits for it to end — woken by the event hub, never on a thread of
// its own — and answers with its rows. Cancelling the call (or its deadline passing) cancels the
// sweep; a server shutting down answers UNAVAILABLE naming the sweep, which the next server on the
// same store resumes.
#ifndef SIGPROP_SERVER_COMPARE_REACTOR_H_
#define SIGPROP_SERVER_COMPARE_REACTOR_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "server/event_hub.h"
#include "server/job_store.h"
#include "sigprop/v1/compare.pb.h"

namespace sigprop::server {

class CompareReactor final : public grpc::ServerUnaryReactor {
 public:
  // Deletes itself in OnDone. `cancel_sweep` cancels the sweep on the user's behalf.
  CompareReactor(JobStore* store, EventHub* hub, const std::atomic<bool>* shutting_down,
                 std::string sweep_id, std::function<void()> cancel_sweep,
                 v1::CompareResult* response);

  void OnCancel() override;
  void OnDone() override;

 private:
  // Shared with the hub's listener, which may run after this reactor is gone.
  struct Link {
    absl::Mutex mutex;
    CompareReactor* reactor ABSL_GUARDED_BY(mutex) = nullptr;
    bool finishing ABSL_GUARDED_BY(mutex) = false;
  };

  // Finishes the call if the sweep has ended (or the server is shutting down).
  static void Check(Link& link);
  // The call's answer once the sweep has ended; nullopt-like `false` while it runs.
  bool Outcome(grpc::Status* status);

  JobStore* const store_;
  EventHub* const hub_;
  const std::atomic<bool>* const shutting_down_;
  const std::string sweep_id_;
  const std::function<void()> cancel_sweep_;
  v1::CompareResult* const response_;
  std::shared_ptr<Link> link_;
  int64_t subscription_ = 0;
};

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_COMPARE_REACTOR_H_
