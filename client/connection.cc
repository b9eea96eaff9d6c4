#include "client/connection.h"

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

}  // namespace sigprop::cli
