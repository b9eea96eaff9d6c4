// sigprop: the command-line client. With --target it talks to a sigprop-server; without, `run`
// starts the same service in this process (the embedded default). Exit status: 0 success,
// 1 runtime failure, 2 bad input or usage, 130 interrupted.
#include <csignal>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "client/args.h"
#include "client/commands.h"
#include "client/compare_command.h"
#include "client/exit_codes.h"

namespace sigprop::cli {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

const char kUsage[] =
    "usage: sigprop COMMAND [flags] [args]\n"
    "\n"
    "commands:\n"
    "  run SPEC          run a sweep (JSON or textproto SweepSpec; '-' reads stdin) and write\n"
    "                    per-layer statistics; on --target, or in this process without it\n"
    "  validate SPEC     check a spec and explain every problem\n"
    "  watch ID          stream a sweep's results (--from N: events after sequence N; --events:\n"
    "                    every event as JSON)\n"
    "  list              the sweeps on the server\n"
    "  get ID            one sweep's status and spec, as JSON\n"
    "  cancel ID         cancel a sweep\n"
    "  results ID        a finished sweep's results\n"
    "  health            the server's grpc.health.v1 status (exit 0 when SERVING)\n"
    "  merge FILE...     join JSONL outputs of --shard runs into the unsharded run's output\n"
    "  compare SPEC      compare two runs as distributions (CompareSweep: KS, W1 and exploded\n"
    "                    fractions per time and statistic), in this process\n"
    "\n"
    "flags:\n"
    "  --target ADDR          server address (host:port, dns:///host:port, ipv4:a:p,b:p, unix:PATH);\n"
    "                         dns:/// and ipv4:/ipv6: lists spread run's points over every server\n"
    "  --token-file FILE      bearer token for a server started with --tokens\n"
    "  --tls-ca FILE          PEM root certificate: use TLS\n"
    "  --format jsonl|csv|table   output format (default jsonl)\n"
    "  --out FILE             write results to FILE (only on success) instead of stdout\n"
    "  --threads N            worker threads of the embedded server (default: all cores)\n"
    "  --shard I/N            run only points p with p % N == I\n"
    "  --patience S           seconds an unreachable server is waited for (default 60; 10 with\n"
    "                         several servers, whose points then move to the others)\n"
    "  --progress / --quiet   force / silence the progress bar on stderr\n";

int Main(int argc, char** argv) {
  auto args = ParseArgs(argc, argv,
                        {"format", "out", "threads", "shard", "target", "token-file", "tls-ca", "from", "patience"},
                        {"progress", "quiet", "help", "events"});
  if (!args.ok()) {
    std::cerr << "sigprop: " << args.status().message() << "\n\n" << kUsage;
    return kExitBadInput;
  }
  if (args->Has("help") || args->command == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  const std::string& command = args->command;
  if (command == "run") return RunCommand(*args, g_interrupted);
  if (command == "validate") return ValidateCommand(*args);
  if (command == "watch") return WatchCommand(*args, g_interrupted);
  if (command == "list") return ListCommand(*args);
  if (command == "get") return GetCommand(*args);
  if (command == "cancel") return CancelCommand(*args);
  if (command == "results") return ResultsCommand(*args);
  if (command == "health") return HealthCommand(*args);
  if (command == "merge") return MergeCommand(*args);
  if (command == "compare") return CompareCommand(*args, g_interrupted);
  std::cerr << (command.empty() ? std::string("sigprop: no command")
                                : absl::StrCat("sigprop: unknown command '", command, "'"))
            << "\n\n" << kUsage;
  return kExitBadInput;
}

}  // namespace
}  // namespace sigprop::cli

int main(int argc, char** argv) { return sigprop::cli::Main(argc, argv); }
