// sigprop-server: the Simulation service over gRPC, persisting to SQLite.
//
//   sigprop-server --listen 127.0.0.1:50051 --db /var/lib/sigprop/sigprop.db --threads 8
//
// SIGTERM or SIGINT: health turns NOT_SERVING, new calls get UNAVAILABLE, running points stop at
// their next layer (they re-run when a server starts on the same --db), open calls get --grace
// seconds to finish, and the process exits 0.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "common/cpu_features.h"
#include "common/version.h"
#include "server/allocator_tuning.h"
#include "server/sigprop_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to serve on; a non-loopback address needs --tokens or --insecure");
ABSL_FLAG(std::string, db, "sigprop.db", "SQLite job store (created if missing)");
ABSL_FLAG(int, threads, 0, "worker threads for simulations (0: all cores)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain; with --tls-key turns on TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key");
ABSL_FLAG(std::string, tokens, "", "file of 'TOKEN USER' lines; every call then needs a token");
ABSL_FLAG(bool, insecure, false, "allow a non-loopback --listen without --tokens");
ABSL_FLAG(int64_t, max_points, 100000, "most points one sweep may have");
ABSL_FLAG(double, max_cost, 1e14, "most work one point may cost (samples × depth × width² for DENSE)");
ABSL_FLAG(double, max_sample_memory, 8.0 * 1024 * 1024 * 1024,
          "most bytes the samples of runs with gradients may hold at once (--threads × bytes "
          "per sample; the backward pass keeps (depth + 1) × tokens × width doubles a sample)");
ABSL_FLAG(int, max_active_sweeps_per_user, 0, "most queued or running sweeps per user (0: no limit)");
ABSL_FLAG(int64_t, max_queued_points, 100000, "most points waiting in the scheduler");
ABSL_FLAG(double, grace, 10.0, "seconds open calls get to finish at shutdown");
ABSL_FLAG(double, watch_stall_limit, 30.0,
          "seconds a Watch write may stay unread before the watcher is dropped with "
          "RESOURCE_EXHAUSTED and told to reattach (0: never)");

namespace {

// Flags are documented with dashes (--tls-cert, --max-points); Abseil names them with
// underscores. Accept both by rewriting the name part of each "--flag[=value]" argument.
std::vector<char*> DashesToUnderscores(int argc, char** argv, std::vector<std::string>* storage) {
  storage->reserve(argc);
  std::vector<char*> out;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
      const size_t end = std::min(arg.find('='), arg.size());
      for (size_t k = 2; k < end; ++k) {
        if (arg[k] == '-') arg[k] = '_';
      }
    }
    storage->push_back(arg);
    out.push_back(storage->back().data());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  sigprop::server::TuneAllocator();  // Before any thread: docs/adr/0014-allocator-top-pad.md.
  absl::SetProgramUsageMessage("sigprop simulation server. Flags: --listen --db --threads ...");
  absl::FlagsUsageConfig usage;
  usage.version_string = [] {
    return absl::StrCat("sigprop-server ", sigprop::kVersion, " (contract ", sigprop::kContract,
                        ")\n");
  };
  absl::SetFlagsUsageConfig(usage);
  std::vector<std::string> storage;
  std::vector<char*> args = DashesToUnderscores(argc, argv, &storage);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (auto status = sigprop::CheckMaxIsaEnvironment(); !status.ok()) {
    std::cerr << "sigprop-server: " << status.message() << "\n";
    return 2;
  }

  // Block the stop signals in every thread; one thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  sigprop::server::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.db_path = absl::GetFlag(FLAGS_db);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.tokens_file = absl::GetFlag(FLAGS_tokens);
  options.insecure = absl::GetFlag(FLAGS_insecure);
  options.service.limits.max_points = absl::GetFlag(FLAGS_max_points);
  options.service.limits.max_cost = absl::GetFlag(FLAGS_max_cost);
  options.service.limits.max_inflight_bytes = absl::GetFlag(FLAGS_max_sample_memory);
  options.service.max_active_sweeps_per_user = absl::GetFlag(FLAGS_max_active_sweeps_per_user);
  options.max_queued_points = static_cast<size_t>(absl::GetFlag(FLAGS_max_queued_points));
  options.service.watch_stall_limit = absl::Seconds(absl::GetFlag(FLAGS_watch_stall_limit));
  if (options.listen.empty()) {
    std::cerr << "sigprop-server: --listen must not be empty\n";
    return 2;
  }

  auto server = sigprop::server::SigpropServer::Start(options);
  if (!server.ok()) {
    std::cerr << "sigprop-server: " << server.status().message() << "\n";
    return 2;
  }
  // Scripts and tests read the bound port from this line (with --listen HOST:0): the address is
  // the one actually bound.
  std::printf("sigprop-server listening on %s (port %d), db %s\n",
              sigprop::server::BoundAddress(options.listen, (*server)->port()).c_str(),
              (*server)->port(), options.db_path.c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "sigprop-server: signal %d, shutting down\n", signal_number);
  const auto grace = std::chrono::milliseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_grace) * 1000));
  (*server)->Shutdown(grace);
  (*server)->Wait();
  server->reset();
  std::fprintf(stderr, "sigprop-server: stopped\n");
  return 0;
}
