// gRPC channels to sigprop servers. A target is anything gRPC resolves: "host:port",
// "dns:///host:port", "ipv4:10.0.0.1:5000,10.0.0.2:5000" (several servers: round_robin spreads
// calls over them), "unix:/path".
#ifndef SIGPROP_CLIENT_CHANNEL_H_
#define SIGPROP_CLIENT_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace sigprop::cli {

struct ChannelOptions {
  std::string target;
  std::string tls_ca_file;  // Empty: plaintext.
};

// Channels use gRPC's round_robin load balancing and keepalive pings, so a dead server is noticed.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ChannelOptions& options);

// "Bearer <token>" from a file holding the token (surrounding white space ignored).
absl::StatusOr<std::string> ReadToken(const std::string& path);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_CHANNEL_H_
