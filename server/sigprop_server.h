// One sigprop server: job store, scheduler, point runner, the Simulation service, health and
// reflection, behind a gRPC server. sigprop-server's main, the CLI's embedded default and the
// tests all start it through here, so there is one way to assemble it.
#ifndef SIGPROP_SERVER_SIGPROP_SERVER_H_
#define SIGPROP_SERVER_SIGPROP_SERVER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "server/auth.h"
#include "server/event_hub.h"
#include "server/job_store.h"
#include "server/point_runner.h"
#include "server/scheduler.h"
#include "server/simulation_service.h"

namespace sigprop::server {

struct ServerOptions {
  // host:port to listen on ("127.0.0.1:0" picks a free port); empty: in-process channel only.
  std::string listen;
  std::string db_path;  // SQLite file; created if missing.
  // A store that dies with the process (JobStore::OpenScratch) instead of db_path, which must then
  // be empty: the CLI's embedded server only.
  bool scratch_store = false;
  int threads = 0;      // 0: all hardware threads.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tokens_file;  // Empty: no authentication (loopback only unless insecure).
  bool insecure = false;
  ServiceOptions service;
  size_t max_queued_points = 100000;
};

// Whether a listen address is on this machine only (127.0.0.0/8, ::1, localhost, unix sockets).
// `listen` with a port of 0 replaced by the port actually bound ("127.0.0.1:0" → "127.0.0.1:33667").
std::string BoundAddress(const std::string& listen, int port);

bool IsLoopbackAddress(const std::string& address);

class SigpropServer {
 public:
  // Opens the store, re-queues unfinished points of earlier runs, and starts serving.
  static absl::StatusOr<std::unique_ptr<SigpropServer>> Start(const ServerOptions& options);
  ~SigpropServer();

  int port() const { return port_; }
  std::shared_ptr<grpc::Channel> InProcessChannel();
  // Health NOT_SERVING, new calls UNAVAILABLE, running points cancelled at their next layer (they
  // stay unfinished in the store and re-run on restart), then the gRPC server stops, waiting at
  // most `grace` for open calls. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);
  // Blocks until Shutdown has completed.
  void Wait();

 private:
  SigpropServer() = default;
  absl::Status Recover();

  std::unique_ptr<JobStore> store_;
  EventHub hub_;
  std::atomic<bool> shutting_down_{false};
  std::unique_ptr<PointRunner> runner_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<SimulationService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex shutdown_mutex_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mutex_) = false;
};

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_SIGPROP_SERVER_H_
