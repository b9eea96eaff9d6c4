// sigprop run SPEC (or --config CONFIG, a Hugging Face config.json imported as `sigprop import`
// would): submit a sweep (to --target, or to the embedded server), watch its events,
// write each point's layer statistics in point order (--provisional: provisional rows too, as
// they come). Ctrl-C cancels the sweep on the server (asking first at a terminal); --detach
// submits, prints the reattach command and exits.
// A target that names several servers (scale_out.h) gets the sweep point by point, spread by
// round_robin; the output is the same bytes.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/exit_codes.h"
#include "client/import_command.h"
#include "client/output_file.h"
#include "client/point_order.h"
#include "client/progress_bar.h"
#include "client/result_writer.h"
#include "client/scale_out.h"
#include "client/spec_io.h"

namespace sigprop::cli {
namespace {

absl::Status ParseShard(const std::string& text, int* index, int* count) {
  *index = 0;
  *count = 1;
  if (text.empty()) return absl::OkStatus();
  char slash = 0;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", index, &slash, count, &extra) != 3 || slash != '/' ||
      *count < 1 || *index < 0 || *index >= *count) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shard: needs I/N with 0 ≤ I < N, got '", text, "'"));
  }
  return absl::OkStatus();
}

// The spec to run: the SPEC file, or the import of --config (whose flags need it).
absl::StatusOr<v1::SweepSpec> SpecToRun(const Args& args) {
  if (args.values.count("config") > 0) {
    if (!args.positional.empty()) {
      return absl::InvalidArgumentError("run takes a SPEC or --config CONFIG, not both");
    }
    return ImportConfigFile(args.Get("config"), args);
  }
  for (const char* flag : kImportFlags) {
    if (args.values.count(flag) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, ": sets the model imported by --config; a SPEC says it itself"));
    }
  }
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError("run needs one SPEC (or --config CONFIG)");
  }
  return ReadSweepSpec(args.positional[0]);
}

}  // namespace

int RunCommand(const Args& args, const std::atomic<bool>& interrupted) {
  auto format = ParseFormat(args.Get("format", "jsonl"));
  if (!format.ok()) return Fail(format.status());
  auto threads = args.GetInt("threads", 0);
  if (!threads.ok()) return Fail(threads.status());
  if (*threads < 0) return Fail(absl::InvalidArgumentError("--threads: must be ≥ 0"));
  int shard = 0, shards = 1;
  if (auto st = ParseShard(args.Get("shard"), &shard, &shards); !st.ok()) return Fail(st);
  auto patience = args.GetInt("patience", 0);
  if (!patience.ok()) return Fail(patience.status());
  if (args.values.count("patience") > 0 && *patience <= 0) {
    return Fail(absl::InvalidArgumentError("--patience: must be > 0 seconds"));
  }

  auto spec = SpecToRun(args);
  if (!spec.ok()) return Fail(spec.status());

  auto connection = Connect(args, /*allow_embedded=*/true);
  if (!connection.ok()) return Fail(connection.status());
  SimulationClient& client = *connection->client;
  // The server's plan (its limits, its labels); the embedded server's is the same code's.
  auto plan = client.Plan(*spec, /*with_specs=*/false);
  if (!plan.ok()) return Fail(plan.status());
  std::vector<std::string> labels;
  std::vector<int> mine;
  for (const auto& p : plan->points()) {
    labels.push_back(p.label());
    if (p.index() % shards == shard) mine.push_back(p.index());
  }
  const bool provisional = args.Has("provisional");
  if (auto st = CheckProvisionalFormat(provisional, *format); !st.ok()) return Fail(st);

  OutputFile out(args.Get("out"));
  if (auto st = out.Open(); !st.ok()) return Fail(st);
  auto columns = TableColumns(args.Get("columns"), *format);
  if (!columns.ok()) return Fail(columns.status());
  auto writer = MakeResultWriter(*format, out.stream(), labels, *columns);
  if (mine.empty()) {  // A shard with no points: an empty, valid result.
    writer->Finish();
    return Fail(out.Commit());
  }
  const bool quiet = args.Has("quiet");
  ProgressBar bar(!quiet && (args.Has("progress") || isatty(STDERR_FILENO) == 1),
                  plan->points_total());

  if (IsMultiServerTarget(connection->target)) {
    SpreadCallbacks callbacks;
    callbacks.write = [&](const v1::LayerStats& layer) { writer->Write(layer); };
    callbacks.point_written = [&] { writer->Flush(); };
    callbacks.progress = [&](int point, int done, int total) { bar.Update(point, done, total); };
    callbacks.notice = [&](const std::string& text) {
      if (quiet) return;
      bar.Clear();
      std::cerr << "sigprop: " << text << "\n";
    };
    const auto status = RunSpread(*connection, *spec, mine,
                                  std::chrono::seconds(*patience > 0 ? *patience : 10), callbacks,
                                  interrupted);
    bar.Clear();
    if (status.code() == absl::StatusCode::kCancelled && interrupted.load()) {
      std::cerr << "sigprop: interrupted; submitted points cancelled\n";
      return kExitInterrupted;
    }
    if (!status.ok()) return Fail(status);
    writer->Finish();
    return Fail(out.Commit());
  }

  // Sharded runs submit only their points, which keep their indices (and so their bytes).
  auto submitted = client.Submit(*spec, shards > 1 ? mine : std::vector<int>());
  if (!submitted.ok()) return Fail(submitted.status());
  const std::string sweep_id = submitted->sweep_id();
  // Always said for a remote run (even with --quiet): it is how a killed client gets back.
  if (!connection->target.empty()) {
    std::cerr << "sigprop: sweep " << sweep_id << " (" << submitted->points()
              << " points) on " << connection->target << "; reattach with: sigprop watch "
              << sweep_id << " --target " << connection->target << "\n";
    if (args.Has("detach")) return kExitOk;
  }

  PointOrder order(mine, [&](const v1::LayerStats& layer) { writer->Write(layer); });
  absl::Status failure;
  auto finished = client.Watch(sweep_id, 0, [&](const v1::Event& event) {
    if (event.has_progress()) {
      bar.Update(event.point(), event.progress().samples_done(), event.progress().samples_total());
    } else if (event.has_layer() && event.layer().provisional()) {
      // Provisional rows go out as they come (flagged), before their point's final rows.
      if (provisional) writer->Write(event.layer());
    } else if (event.has_layer()) {
      order.Add(event.layer());
    } else if (event.has_point_finished()) {
      bar.Clear();
      order.Finish(event.point());
    } else if (event.has_error() && failure.ok()) {
      failure = absl::Status(static_cast<absl::StatusCode>(event.error().code()),
                             event.error().message());
    }
    // A point's final rows come together, then its PointFinished: out after the burst.
    if (!event.has_layer() || event.layer().provisional()) writer->Flush();
  }, interrupted, std::chrono::seconds(*patience > 0 ? *patience : 60));
  bar.Clear();
  if (!finished.ok()) {
    if (finished.status().code() == absl::StatusCode::kCancelled) {
      // Ctrl-C: stop the work on the server too (asked first at a terminal), then report it.
      if (ConfirmRemoteCancel(*connection, sweep_id)) {
        (void)client.Cancel(sweep_id);
        std::cerr << "sigprop: interrupted; sweep " << sweep_id << " cancelled\n";
      }
      return kExitInterrupted;
    }
    return Fail(finished.status());
  }
  if (finished->state() == v1::SweepFinished::CANCELLED) {
    return Fail(absl::CancelledError(absl::StrCat("sweep ", sweep_id, " was cancelled")));
  }
  if (finished->state() != v1::SweepFinished::SUCCEEDED || !order.complete()) {
    if (failure.ok()) failure = absl::InternalError(absl::StrCat("sweep ", sweep_id, " failed"));
    return Fail(failure);
  }
  writer->Finish();
  return Fail(out.Commit());
}

}  // namespace sigprop::cli
