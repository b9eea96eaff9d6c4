#include "client/embedded_server.h"

#include <chrono>

#include "server/sigprop_server.h"

namespace sigprop::cli {

absl::StatusOr<std::unique_ptr<EmbeddedServer>> EmbeddedServer::Start(int threads) {
  std::unique_ptr<EmbeddedServer> embedded(new EmbeddedServer());
  server::ServerOptions options;
  // Its rows go to the client as they are stored and die with the process: no file, no WAL, no
  // syncs (JobStore::OpenScratch).
  options.scratch_store = true;
  options.threads = threads;
  auto started = server::SigpropServer::Start(options);
  if (!started.ok()) return started.status();
  embedded->server_ = std::move(*started);
  embedded->channel_ = embedded->server_->InProcessChannel();
  return embedded;
}

EmbeddedServer::~EmbeddedServer() {
  channel_.reset();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::milliseconds(0));
    server_->Wait();
    server_.reset();
  }
}

}  // namespace sigprop::cli
