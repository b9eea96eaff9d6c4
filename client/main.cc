// sigprop: the command-line client. `sigprop run SPEC` runs a sweep in this process (the embedded
// default) and writes per-layer statistics; `sigprop validate SPEC` explains every problem of a
// spec. Exit status: 0 success, 1 runtime failure, 2 bad input or usage, 130 interrupted.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "client/args.h"
#include "client/compare_command.h"
#include "client/embedded_runner.h"
#include "client/progress_bar.h"
#include "client/result_writer.h"
#include "client/spec_io.h"
#include "common/sweep_expansion.h"
#include "common/validate.h"

namespace sigprop::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitInterrupted = 130;

std::atomic<bool> g_interrupted{false};

extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

const char kUsage[] =
    "usage: sigprop COMMAND [flags] [args]\n"
    "\n"
    "commands:\n"
    "  run SPEC        run a sweep (JSON or textproto SweepSpec; '-' reads stdin) in this process\n"
    "  validate SPEC   check a spec and explain every problem\n"
    "  compare SPEC    compare two runs as distributions (CompareSweep: KS, W1, exploded\n"
    "                  fractions per time and statistic); flags --format, --out, --threads\n"
    "\n"
    "flags of run:\n"
    "  --format jsonl|csv|table   output format (default jsonl)\n"
    "  --out FILE                 write results to FILE instead of stdout\n"
    "  --threads N                worker threads (default: all cores); results do not depend on it\n"
    "  --shard I/N                run only points p with p % N == I (merge shards with 'merge')\n"
    "  --progress                 show a progress bar on stderr even when it is not a terminal\n"
    "  --quiet                    no progress bar\n";

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
      return kExitBadInput;
    case absl::StatusCode::kCancelled:
      return kExitInterrupted;
    default:
      return kExitFailure;
  }
}

int Fail(const absl::Status& status) {
  std::cerr << "sigprop: " << status.message() << "\n";
  return ExitCodeFor(status);
}

absl::Status ParseShard(const std::string& text, EmbeddedOptions* options) {
  if (text.empty()) return absl::OkStatus();
  int index = 0, count = 0;
  char slash = 0;
  if (std::sscanf(text.c_str(), "%d%c%d", &index, &slash, &count) != 3 || slash != '/' ||
      count < 1 || index < 0 || index >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shard: needs I/N with 0 ≤ I < N, got '", text, "'"));
  }
  options->shard_index = index;
  options->shard_count = count;
  return absl::OkStatus();
}

int Validate(const Args& args) {
  if (args.positional.size() != 1) return Fail(absl::InvalidArgumentError("validate needs one SPEC"));
  auto spec = ReadSweepSpec(args.positional[0]);
  if (!spec.ok()) return Fail(spec.status());
  if (auto status = ValidateSweep(*spec, Limits{}); !status.ok()) return Fail(status);
  auto count = CountPoints(*spec);
  std::cout << args.positional[0] << ": OK, " << *count << " point" << (*count == 1 ? "" : "s")
            << "\n";
  return kExitOk;
}

int Run(const Args& args) {
  if (args.positional.size() != 1) return Fail(absl::InvalidArgumentError("run needs one SPEC"));
  auto format = ParseFormat(args.Get("format", "jsonl"));
  if (!format.ok()) return Fail(format.status());
  auto threads = args.GetInt("threads", 0);
  if (!threads.ok()) return Fail(threads.status());
  if (*threads < 0) return Fail(absl::InvalidArgumentError("--threads: must be ≥ 0"));
  EmbeddedOptions options;
  options.threads = *threads;
  if (auto status = ParseShard(args.Get("shard"), &options); !status.ok()) return Fail(status);

  auto spec = ReadSweepSpec(args.positional[0]);
  if (!spec.ok()) return Fail(spec.status());
  if (auto status = ValidateSweep(*spec, Limits{}); !status.ok()) return Fail(status);
  auto points = ExpandSweep(*spec);
  if (!points.ok()) return Fail(points.status());
  std::vector<std::string> labels;
  for (const auto& p : *points) labels.push_back(p.label);

  // Results go to a temporary file renamed into place on success, so an interrupted or failed run
  // never leaves a partial file that looks complete.
  std::ofstream file;
  const std::string out_path = args.Get("out");
  const std::string partial_path = out_path + ".partial";
  if (!out_path.empty()) {
    file.open(partial_path, std::ios::binary | std::ios::trunc);
    if (!file) return Fail(absl::NotFoundError(absl::StrCat("--out: cannot write ", out_path)));
  }
  std::ostream& out = out_path.empty() ? std::cout : file;
  auto writer = MakeResultWriter(*format, out, labels);
  const bool show_progress =
      !args.Has("quiet") && (args.Has("progress") || isatty(STDERR_FILENO) == 1);
  ProgressBar bar(show_progress, static_cast<int>(points->size()));

  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  absl::Status status = RunEmbedded(*spec, options, g_interrupted, [&](const v1::Event& event) {
    if (event.has_progress()) {
      bar.Update(event.point(), event.progress().samples_done(), event.progress().samples_total());
    } else if (event.has_layer()) {
      bar.Clear();
      writer->Write(event.layer());
    }
  });
  bar.Clear();
  if (!status.ok()) {
    if (!out_path.empty()) {
      file.close();
      std::remove(partial_path.c_str());
    }
    return Fail(status);
  }
  writer->Finish();
  if (!out_path.empty()) {
    file.close();
    if (!file || std::rename(partial_path.c_str(), out_path.c_str()) != 0) {
      return Fail(absl::InternalError(absl::StrCat("--out: cannot write ", out_path)));
    }
  }
  return kExitOk;
}

int Main(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, {"format", "out", "threads", "shard"},
                        {"progress", "quiet", "help"});
  if (!args.ok()) {
    std::cerr << "sigprop: " << args.status().message() << "\n\n" << kUsage;
    return kExitBadInput;
  }
  if (args->Has("help") || args->command == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  if (args->command == "run") return Run(*args);
  if (args->command == "validate") return Validate(*args);
  if (args->command == "compare") {
    std::signal(SIGINT, OnInterrupt);
    std::signal(SIGTERM, OnInterrupt);
    const absl::Status status = CompareCommand(*args, g_interrupted);
    return status.ok() ? kExitOk : Fail(status);
  }
  std::cerr << (args->command.empty() ? std::string("sigprop: no command")
                                      : absl::StrCat("sigprop: unknown command '", args->command, "'"))
            << "\n\n" << kUsage;
  return kExitBadInput;
}

}  // namespace
}  // namespace sigprop::cli

int main(int argc, char** argv) { return sigprop::cli::Main(argc, argv); }
