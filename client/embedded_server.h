// The embedded default: when no --target is given, the CLI starts the real server's service in
// this process (a SigpropServer with no listening port and a scratch store that dies with it) and talks to
// it over an in-process channel through the same stub as to a remote server. One code path; no
// copy of the service logic in the client.
#ifndef SIGPROP_CLIENT_EMBEDDED_SERVER_H_
#define SIGPROP_CLIENT_EMBEDDED_SERVER_H_

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace sigprop::server {
class SigpropServer;
}

namespace sigprop::cli {

class EmbeddedServer {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedServer>> Start(int threads);
  ~EmbeddedServer();  // Stops the server; its store goes with it.

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

 private:
  EmbeddedServer() = default;
  std::unique_ptr<server::SigpropServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_EMBEDDED_SERVER_H_
