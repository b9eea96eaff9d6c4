// sigprop: the command-line client. With --target it talks to a sigprop-server; without, `run`
// and `compare` start the same service in this process (the embedded default). Exit status:
// 0 success, 1 runtime failure, 2 bad input or usage, 130 interrupted.
//
// Each command declares its flags (kCommands): a flag another command takes is refused by name
// (exit 2) rather than silently ignored, and `sigprop COMMAND --help` lists that command's flags.
#include <csignal>
#include <functional>
#include <iostream>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/args.h"
#include "client/commands.h"
#include "client/compare_command.h"
#include "client/exit_codes.h"
#include "common/cpu_features.h"
#include "common/version.h"
#include "server/allocator_tuning.h"

namespace sigprop::cli {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

struct Flag {
  const char* name;
  bool takes_value;
  const char* help;
};

// Every flag once, with its help line.
const Flag kFlags[] = {
    {"target", true, "ADDR  server address (host:port, dns:///host:port, ipv4:a:p,b:p, unix:PATH);\n"
                     "        dns:/// and ipv4:/ipv6: lists spread run's points over every server"},
    {"token-file", true, "FILE  bearer token for a server started with --tokens"},
    {"tls-ca", true, "FILE  PEM root certificate: use TLS"},
    {"format", true, "jsonl|csv|table  output format (default jsonl)"},
    {"columns", true, "STAT,STAT  the statistics --format table shows (default rho_mean,collapse;\n"
                      "        e.g. grad_wq,grad_wk,grad_x)"},
    {"out", true, "FILE  write results to FILE (only on success) instead of stdout"},
    {"threads", true, "N  worker threads of the embedded server (default: all cores)"},
    {"shard", true, "I/N  run only points p with p % N == I"},
    {"patience", true, "S  seconds an unreachable server is waited for (default 60; 10 with\n"
                       "        several servers, whose points then move to the others)"},
    {"from", true, "N  events after sequence N (default 0: from the start)"},
    {"progress", false, "force the progress bar on stderr"},
    {"quiet", false, "silence the progress bar and notes on stderr"},
    {"events", false, "print every event as JSON instead of the results"},
    {"provisional", false, "also write provisional rows (RunSpec.provisional_every), flagged"},
    {"detach", false, "with --target: submit, print the sweep id and the reattach command, exit 0"},
    {"plan", false, "print the plan: each run's method, cost and memory per sample"},
    {"config", true, "CONFIG  a Hugging Face config.json to import and run instead of a SPEC\n"
                     "        (as sigprop import writes it; docs/IMPORT.md)"},
    {"tokens", true, "M  tokens of the imported model (default 8)"},
    {"depth", true, "D  layers of the imported model (default: the config's)"},
    {"samples", true, "S  Monte Carlo samples of the imported run (default 100)"},
    {"spec", true, "SPEC  the sharded sweep: merge refuses until every one of its points is there"},
    {"shards", true, "N  the N of the runs' --shard I/N: a missing point names its shard"},
    {"help", false, "this command's flags"},
};

using Handler = std::function<int(const Args&)>;

struct Command {
  const char* name;
  const char* usage;  // Arguments after the name.
  const char* summary;
  std::vector<const char*> flags;  // Besides --help.
  Handler run;
};

const std::vector<const char*> kConnectFlags = {"target", "token-file", "tls-ca"};

std::vector<const char*> With(std::vector<const char*> flags, std::vector<const char*> more) {
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"run", "SPEC | --config CONFIG",
       "run a sweep (JSON or textproto SweepSpec; '-' reads stdin), or an imported config.json,\n"
       "and write per-layer statistics; on --target, or in this process without it",
       With(kConnectFlags, {"format", "columns", "out", "threads", "shard", "patience", "progress",
                            "quiet", "provisional", "detach", "config", "tokens", "depth",
                            "samples"}),
       [](const Args& a) { return RunCommand(a, g_interrupted); }},
      {"compare", "SPEC",
       "compare two runs as distributions (CompareSweep: KS, W1 and exploded fractions per time\n"
       "and statistic); a stored sweep on --target, or in this process without it",
       With(kConnectFlags, {"format", "out", "threads", "patience", "quiet", "detach"}),
       [](const Args& a) { return CompareCommand(a, g_interrupted); }},
      {"validate", "SPEC",
       "check a spec and explain every problem (--target: against that server's limits)",
       With(kConnectFlags, {"plan"}), [](const Args& a) { return ValidateCommand(a); }},
      {"watch", "ID", "stream a sweep's or a comparison's results",
       With(kConnectFlags, {"from", "events", "format", "columns", "out", "provisional"}),
       [](const Args& a) { return WatchCommand(a, g_interrupted); }},
      {"list", "", "the sweeps on the server", kConnectFlags,
       [](const Args& a) { return ListCommand(a); }},
      {"get", "ID", "one sweep's status and spec, as JSON", kConnectFlags,
       [](const Args& a) { return GetCommand(a); }},
      {"cancel", "ID", "cancel a sweep", kConnectFlags,
       [](const Args& a) { return CancelCommand(a); }},
      {"results", "ID", "a finished sweep's results",
       With(kConnectFlags, {"format", "columns", "out"}),
       [](const Args& a) { return ResultsCommand(a); }},
      {"health", "", "the server's grpc.health.v1 status (exit 0 when SERVING)", kConnectFlags,
       [](const Args& a) { return HealthCommand(a); }},
      {"merge", "FILE...",
       "join JSONL outputs of --shard runs into the unsharded run's output; --spec SPEC checks\n"
       "that every point is there (--shards N names the missing shard)",
       {"out", "spec", "shards"}, [](const Args& a) { return MergeCommand(a); }},
      {"import", "CONFIG",
       "write the SweepSpec (JSON) of a Hugging Face config.json ('-' reads stdin): the model\n"
       "at initialisation as its transformers code builds it; what maps, what is ignored and\n"
       "what is refused: docs/IMPORT.md",
       {"tokens", "depth", "samples", "out"}, [](const Args& a) { return ImportCommand(a); }},
  };
  return commands;
}

const Command* Find(const std::string& name) {
  for (const Command& command : Commands()) {
    if (name == command.name) return &command;
  }
  return nullptr;
}

const Flag& FlagNamed(const std::string& name) {
  for (const Flag& flag : kFlags) {
    if (name == flag.name) return flag;
  }
  return kFlags[0];  // Unreachable: every declared flag is in kFlags.
}

std::string Indented(const std::string& text, const std::string& indent) {
  std::string out = indent;
  for (char c : text) {
    out += c;
    if (c == '\n') out += indent;
  }
  return out;
}

std::string Usage() {
  std::string text =
      "usage: sigprop COMMAND [flags] [args]   (sigprop COMMAND --help: its flags)\n"
      "       sigprop --version\n\ncommands:\n";
  for (const Command& command : Commands()) {
    absl::StrAppend(&text, "  ", command.name, *command.usage ? " " : "", command.usage, "\n",
                    Indented(command.summary, "      "), "\n");
  }
  return text;
}

std::string CommandUsage(const Command& command) {
  std::string text = absl::StrCat("usage: sigprop ", command.name, " [flags] ", command.usage,
                                   "\n", command.summary, "\n\nflags:\n");
  // "  --name ARG" in a column of its own, the description beside it; a valued flag's help
  // starts with its argument, then two spaces.
  for (const char* name : command.flags) {
    const Flag& flag = FlagNamed(name);
    std::string help = flag.help, argument;
    if (flag.takes_value) {
      const size_t gap = help.find("  ");
      argument = help.substr(0, gap);
      help = help.substr(gap + 2);
    }
    std::string head = absl::StrCat("  --", flag.name, argument.empty() ? "" : " ", argument);
    if (head.size() < 30) head.resize(30, ' ');
    // Continuation lines of the help were indented for another layout: align them under it.
    std::string body;
    for (absl::string_view line : absl::StrSplit(help, '\n')) {
      absl::StrAppend(&body, body.empty() ? "" : absl::StrCat("\n", std::string(31, ' ')),
                      absl::StripLeadingAsciiWhitespace(line));
    }
    absl::StrAppend(&text, head, " ", body, "\n");
  }
  return text;
}

// A flag given to a command that does not take it: refused by name, with the commands that do.
absl::Status CheckFlags(const Command& command, const Args& args) {
  std::vector<std::string> given;
  for (const auto& [name, value] : args.values) given.push_back(name);
  for (const auto& name : args.switches) given.push_back(name);
  for (const std::string& name : given) {
    if (name == "help") continue;
    bool allowed = false;
    for (const char* flag : command.flags) allowed = allowed || name == flag;
    if (allowed) continue;
    std::vector<std::string> takers;
    for (const Command& other : Commands()) {
      for (const char* flag : other.flags) {
        if (name == flag) takers.push_back(other.name);
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, ": not a flag of '", command.name, "'",
        takers.empty() ? "" : absl::StrCat(" (it is one of ", absl::StrJoin(takers, ", "), ")"),
        "; see sigprop ", command.name, " --help"));
  }
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  std::set<std::string> valued, boolean;
  for (const Flag& flag : kFlags) (flag.takes_value ? valued : boolean).insert(flag.name);
  boolean.insert("version");
  auto args = ParseArgs(argc, argv, valued, boolean);
  if (!args.ok()) {
    std::cerr << "sigprop: " << args.status().message() << "\n\n" << Usage();
    return kExitBadInput;
  }
  if (args->Has("version")) {
    std::cout << "sigprop " << kVersion << " (contract " << kContract << ")\n";
    return kExitOk;
  }
  if (args->command.empty() || args->command == "help") {
    if (args->command.empty() && !args->Has("help")) {
      std::cerr << "sigprop: no command\n\n" << Usage();
      return kExitBadInput;
    }
    std::cout << Usage();
    return kExitOk;
  }
  const Command* command = Find(args->command);
  if (command == nullptr) {
    std::cerr << "sigprop: unknown command '" << args->command << "'\n\n" << Usage();
    return kExitBadInput;
  }
  if (args->Has("help")) {
    std::cout << CommandUsage(*command);
    return kExitOk;
  }
  if (auto status = CheckFlags(*command, *args); !status.ok()) {
    std::cerr << "sigprop: " << status.message() << "\n";
    return kExitBadInput;
  }
  if (auto status = CheckMaxIsaEnvironment(); !status.ok()) {
    std::cerr << "sigprop: " << status.message() << "\n";
    return kExitBadInput;
  }
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  return command->run(*args);
}

}  // namespace
}  // namespace sigprop::cli

int main(int argc, char** argv) {
  // The embedded default runs the service in this process (docs/adr/0014-allocator-top-pad.md).
  sigprop::server::TuneAllocator();
  return sigprop::cli::Main(argc, argv);
}
