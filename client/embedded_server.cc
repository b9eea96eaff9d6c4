#include "client/embedded_server.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/sigprop_server.h"

namespace sigprop::cli {

absl::StatusOr<std::unique_ptr<EmbeddedServer>> EmbeddedServer::Start(int threads) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/sigprop-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create a temporary directory like ", pattern));
  }
  std::unique_ptr<EmbeddedServer> embedded(new EmbeddedServer());
  embedded->directory_ = pattern;
  server::ServerOptions options;
  options.db_path = pattern + "/embedded.db";
  // Removed when the run ends: syncing every stored row to disk would buy nothing (it was a few
  // per cent of a run recording every layer, one commit a row).
  options.durable_store = false;
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
  if (!directory_.empty()) {
    for (const char* suffix : {"/embedded.db", "/embedded.db-wal", "/embedded.db-shm"}) {
      std::remove((directory_ + suffix).c_str());
    }
    rmdir(directory_.c_str());
  }
}

}  // namespace sigprop::cli
