// Commands about sweeps that already exist on a server: watch, list, get, cancel, results, health.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/exit_codes.h"
#include "client/output_file.h"
#include "client/point_order.h"
#include "client/result_writer.h"
#include "client/spec_io.h"
#include "client/compare_command.h"
#include "common/sweep_plan.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace sigprop::cli {
namespace {

absl::StatusOr<std::string> OneId(const Args& args) {
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(args.command, " needs one sweep ID"));
  }
  return args.positional[0];
}

// The sweep ID argument and a connection to the --target server: the start of every command
// about an existing sweep.
struct SweepCall {
  std::string id;
  Connection connection;
};

absl::StatusOr<SweepCall> ConnectForSweep(const Args& args) {
  auto id = OneId(args);
  if (!id.ok()) return id.status();
  auto connection = Connect(args, /*allow_embedded=*/false);
  if (!connection.ok()) return connection.status();
  return SweepCall{*std::move(id), *std::move(connection)};
}

// Labels of a stored sweep's points, for CSV and tables, from the server's plan of it (none if
// the server no longer accepts the spec, e.g. after its limits were lowered).
std::vector<std::string> LabelsOf(SimulationClient& client, const v1::SweepStatus& sweep) {
  std::vector<std::string> labels;
  auto plan = client.PlanOf(sweep);
  if (plan.ok()) {
    for (const auto& p : plan->points()) labels.push_back(p.label());
  }
  return labels;
}

}  // namespace

// Whether a spec is a CompareSweep (for `compare`) rather than a SweepSpec (for `run`): in JSON,
// its "base" has "a" or "b"; in text format, it parses as a CompareSweep. So a typo inside a
// comparison is reported against the comparison's schema, naming the field.
bool IsComparison(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    google::protobuf::Struct document;
    if (!google::protobuf::util::JsonStringToMessage(text, &document).ok()) return false;
    const auto base = document.fields().find("base");
    if (base == document.fields().end() || !base->second.has_struct_value()) return false;
    const auto& fields = base->second.struct_value().fields();
    return fields.count("a") > 0 || fields.count("b") > 0;
  }
  v1::CompareSweep sweep;
  return google::protobuf::TextFormat::ParseFromString(text, &sweep);
}

// The plan of a spec file: the server's (--target: its limits, its resolved methods) or this
// build's with the default limits.
absl::StatusOr<v1::SweepPlan> PlanOfFile(const Args& args, const std::string& path) {
  auto text = ReadSpecText(path);
  if (!text.ok()) return text.status();
  const bool comparison = IsComparison(*text);
  v1::CompareSweep compare;
  v1::SweepSpec sweep;
  if (comparison) {
    if (auto status = ParseSpecMessage(*text, path, &compare); !status.ok()) return status;
  } else {
    auto spec = ParseSweepSpec(*text, path);
    if (!spec.ok()) return spec.status();
    sweep = *std::move(spec);
  }
  if (args.Get("target").empty()) {
    return comparison ? PlanCompareSweep(compare, Limits{}) : PlanSweep(sweep, Limits{});
  }
  auto connection = Connect(args, /*allow_embedded=*/false);
  if (!connection.ok()) return connection.status();
  return comparison ? connection->client->Plan(compare, /*with_specs=*/true)
                    : connection->client->Plan(sweep, /*with_specs=*/true);
}

int ValidateCommand(const Args& args) {
  if (args.positional.size() != 1) return Fail(absl::InvalidArgumentError("validate needs one SPEC"));
  const std::string& path = args.positional[0];
  auto plan = PlanOfFile(args, path);
  if (!plan.ok()) return Fail(plan.status());
  const int64_t count = plan->points_total();
  const std::string what = plan->comparison() ? "comparison point" : "point";
  std::cout << path << ": OK, " << count << " " << what << (count == 1 ? "" : "s");
  if (!args.Get("target").empty()) std::cout << " (checked by " << args.Get("target") << ")";
  std::cout << "\n";
  if (args.Has("plan")) {
    // One line per run: what will run, its cost and memory.
    for (const auto& point : plan->points()) {
      for (int r = 0; r < point.runs_size(); ++r) {
        const auto& run = point.runs(r);
        std::cout << absl::StrFormat(
            "  point %d%s%s: %s, cost %.3g, %.3g MiB per sample\n", point.index(),
            plan->comparison() ? (r == 0 ? " a" : " b") : "",
            point.label().empty() ? "" : absl::StrCat(" (", point.label(), ")"),
            v1::RunSpec::Method_Name(run.method()), run.cost(), run.sample_bytes() / 1048576.0);
      }
    }
    std::cout << absl::StrFormat("  total cost %.3g (limit %.3g per run)\n", plan->total_cost(),
                                 plan->limits().max_cost());
  }
  return kExitOk;
}

int WatchCommand(const Args& args, const std::atomic<bool>& interrupted) {
  auto id = OneId(args);
  if (!id.ok()) return Fail(id.status());
  auto from = args.GetInt("from", 0);
  if (!from.ok()) return Fail(from.status());
  auto format = ParseFormat(args.Get("format", "jsonl"));
  if (!format.ok()) return Fail(format.status());
  auto connection = Connect(args, /*allow_embedded=*/false);
  if (!connection.ok()) return Fail(connection.status());
  auto sweep = connection->client->Get(*id);
  if (!sweep.ok()) return Fail(sweep.status());
  OutputFile out(args.Get("out"));
  if (auto st = out.Open(); !st.ok()) return Fail(st);
  const bool events = args.Has("events");
  const bool provisional = args.Has("provisional");
  if (auto st = CheckProvisionalFormat(provisional, *format); !st.ok()) return Fail(st);
  const bool comparison = sweep->has_compare();
  const std::vector<std::string> labels = LabelsOf(*connection->client, *sweep);
  auto columns = TableColumns(args.Get("columns"), *format);
  if (!columns.ok()) return Fail(columns.status());
  auto writer = MakeResultWriter(*format, out.stream(), labels, *columns);
  // Points finish in any order; write them in point order, as `run` and `compare` do.
  std::vector<int> all_points(labels.size());
  for (size_t p = 0; p < all_points.size(); ++p) all_points[p] = static_cast<int>(p);
  PointOrder order(all_points, [&](const v1::LayerStats& layer) { writer->Write(layer); });
  std::vector<v1::CompareRow> rows;
  CompareRowOrder row_order(all_points, [&](const v1::CompareRow& row) { rows.push_back(row); });
  int64_t last = *from;
  auto finished = connection->client->Watch(*id, *from, [&](const v1::Event& event) {
    last = event.sequence();
    if (events) {
      out.stream() << ToJsonLine(event) << '\n' << std::flush;
    } else if (event.has_layer() && event.layer().provisional()) {
      if (provisional) writer->Write(event.layer());
    } else if (event.has_layer()) {
      order.Add(event.layer());
    } else if (event.has_compare_row()) {
      row_order.Add(event.compare_row());
    } else if (event.has_point_finished()) {
      order.Finish(event.point());
      row_order.Finish(event.point());
    }
    // A point's final rows come together, then its PointFinished: out after the burst.
    if (!event.has_layer() || event.layer().provisional()) writer->Flush();
  }, interrupted);
  order.Flush();
  row_order.Flush();
  if (comparison && !events) {
    WriteCompareRows(*format, sweep->name(), rows, out.stream());
  } else {
    writer->Finish();
  }
  std::cerr << "sigprop: last sequence " << last << "\n";
  if (!finished.ok()) return Fail(finished.status());
  if (finished->state() != v1::SweepFinished::SUCCEEDED) return kExitFailure;
  return Fail(out.Commit());
}

int ListCommand(const Args& args) {
  auto connection = Connect(args, /*allow_embedded=*/false);
  if (!connection.ok()) return Fail(connection.status());
  auto sweeps = connection->client->List();
  if (!sweeps.ok()) return Fail(sweeps.status());
  std::cout << absl::StrFormat("%-35s %-10s %11s  %-10s %s\n", "ID", "STATE", "POINTS", "OWNER", "NAME");
  for (const auto& s : *sweeps) {
    std::cout << absl::StrFormat("%-35s %-10s %5d/%-5d  %-10s %s\n", s.sweep_id(),
                                 v1::SweepStatus::State_Name(s.state()), s.points_done(),
                                 s.points_total(), s.owner(), s.name());
  }
  return kExitOk;
}

int GetCommand(const Args& args) {
  auto call = ConnectForSweep(args);
  if (!call.ok()) return Fail(call.status());
  auto sweep = call->connection.client->Get(call->id);
  if (!sweep.ok()) return Fail(sweep.status());
  std::cout << ToJsonLine(*sweep) << "\n";
  return kExitOk;
}

int CancelCommand(const Args& args) {
  auto id = OneId(args);
  if (!id.ok()) return Fail(id.status());
  auto connection = Connect(args, /*allow_embedded=*/false);
  if (!connection.ok()) return Fail(connection.status());
  if (auto status = connection->client->Cancel(*id); !status.ok()) return Fail(status);
  std::cout << "cancelled " << *id << "\n";
  return kExitOk;
}

int ResultsCommand(const Args& args) {
  auto id = OneId(args);
  if (!id.ok()) return Fail(id.status());
  auto format = ParseFormat(args.Get("format", "jsonl"));
  if (!format.ok()) return Fail(format.status());
  auto connection = Connect(args, /*allow_embedded=*/false);
  if (!connection.ok()) return Fail(connection.status());
  auto sweep = connection->client->Get(*id);
  if (!sweep.ok()) return Fail(sweep.status());
  auto results = connection->client->AllResults(*id);
  if (!results.ok()) return Fail(results.status());
  OutputFile out(args.Get("out"));
  if (auto st = out.Open(); !st.ok()) return Fail(st);
  if (sweep->has_compare()) {
    const std::vector<v1::CompareRow> rows(results->compare_rows().begin(),
                                           results->compare_rows().end());
    WriteCompareRows(*format, sweep->name(), rows, out.stream());
  } else {
    auto columns = TableColumns(args.Get("columns"), *format);
    if (!columns.ok()) return Fail(columns.status());
    auto writer =
        MakeResultWriter(*format, out.stream(), LabelsOf(*connection->client, *sweep), *columns);
    for (const auto& layer : results->layers()) writer->Write(layer);
    writer->Finish();
  }
  return Fail(out.Commit());
}

int HealthCommand(const Args& args) {
  auto connection = Connect(args, /*allow_embedded=*/false);
  if (!connection.ok()) return Fail(connection.status());
  auto health = connection->client->Health();
  if (!health.ok()) return Fail(health.status());
  std::cout << *health << "\n";
  return *health == "SERVING" ? kExitOk : kExitFailure;
}

}  // namespace sigprop::cli
