#include "client/connection.h"

#include <unistd.h>

#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"

namespace sigprop::cli {

absl::StatusOr<Connection> Connect(const Args& args, bool allow_embedded) {
  Connection connection;
  connection.target = args.Get("target");
  std::string token;
  if (!args.Get("token-file").empty()) {
    auto read = ReadToken(args.Get("token-file"));
    if (!read.ok()) return read.status();
    token = *read;
  }
  connection.token = token;
  if (connection.target.empty()) {
    if (!allow_embedded) {
      return absl::InvalidArgumentError(
          absl::StrCat("--target: '", args.command, "' talks to a server; give --target HOST:PORT"));
    }
    auto threads = args.GetInt("threads", 0);
    if (!threads.ok()) return threads.status();
    auto embedded = EmbeddedServer::Start(*threads);
    if (!embedded.ok()) return embedded.status();
    connection.embedded = std::move(*embedded);
    connection.client = std::make_unique<SimulationClient>(connection.embedded->channel(), token);
    return connection;
  }
  connection.channel.target = connection.target;
  connection.channel.tls_ca_file = args.Get("tls-ca");
  auto channel = MakeChannel(connection.channel);
  if (!channel.ok()) return channel.status();
  connection.client = std::make_unique<SimulationClient>(*channel, token);
  return connection;
}

bool ConfirmRemoteCancel(const Connection& connection, const std::string& sweep_id) {
  if (connection.target.empty()) return true;
  if (isatty(STDIN_FILENO) != 1 || isatty(STDERR_FILENO) != 1) return true;
  std::cerr << "\nsigprop: cancel sweep " << sweep_id << " on " << connection.target
            << "? [y/N] " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  if (answer == "y" || answer == "Y" || answer == "yes") return true;
  std::cerr << "sigprop: sweep " << sweep_id << " keeps running; reattach with: sigprop watch "
            << sweep_id << " --target " << connection.target << "\n";
  return false;
}

}  // namespace sigprop::cli
