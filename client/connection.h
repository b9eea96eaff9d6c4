// What a command talks to: the server named by --target (with --token-file, --tls-ca), or, with
// no --target, an embedded in-process server.
#ifndef SIGPROP_CLIENT_CONNECTION_H_
#define SIGPROP_CLIENT_CONNECTION_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/args.h"
#include "client/channel.h"
#include "client/embedded_server.h"
#include "client/simulation_client.h"

namespace sigprop::cli {

struct Connection {
  std::unique_ptr<EmbeddedServer> embedded;  // Null for a remote target.
  std::unique_ptr<SimulationClient> client;
  std::string target;  // "" when embedded.
  // How `client` reached the target, for commands that open more channels to the same servers.
  ChannelOptions channel;
  std::string token;
};

// `allow_embedded`: commands about existing sweeps (watch, get, …) need a --target.
absl::StatusOr<Connection> Connect(const Args& args, bool allow_embedded);

// After Ctrl-C while following `sweep_id`: whether to cancel it. An embedded server's sweeps end
// with this process, so yes; a remote sweep may be worth keeping, so with a terminal on stdin and
// stderr the user is asked (default: keep it, and the reattach command is printed); without a
// terminal (a script), yes.
bool ConfirmRemoteCancel(const Connection& connection, const std::string& sweep_id);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_CONNECTION_H_
