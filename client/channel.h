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
  // The name the server's certificate and :authority must carry, when `target` is one resolved
  // address of a named service ("ipv4:10.0.0.7:50051" of "dns:///sigprop:50051"). Empty: the
  // target's own.
  std::string authority;
};

// Channels use gRPC's round_robin load balancing and keepalive pings, so a dead server is noticed.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ChannelOptions& options);

// "host:port" of a "dns:[//authority]/host:port" target; empty for every other scheme.
std::string DnsAuthority(const std::string& target);

// "Bearer <token>" from a file holding the token (surrounding white space ignored).
absl::StatusOr<std::string> ReadToken(const std::string& path);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_CHANNEL_H_
