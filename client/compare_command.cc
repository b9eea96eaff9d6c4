#include "client/compare_command.h"

#include <algorithm>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/exit_codes.h"
#include "client/output_file.h"
#include "client/spec_io.h"
#include "client/connection.h"
#include "client/point_order.h"
#include "common/engine.h"

namespace sigprop::cli {
namespace {

void WriteCsv(const std::vector<v1::CompareRow>& rows, std::ostream& out) {
  out << "point,label,time,statistic,ks_statistic,p_value,wasserstein1,a_exploded_fraction,"
         "b_exploded_fraction,a_samples,b_samples,a_time,b_time,a_method,b_method,a_median,"
         "b_median,ks_with_exploded\n";
  for (const auto& r : rows) {
    out << absl::StrJoin(
               {absl::StrCat(r.point()), CsvQuote(r.label()), CsvNumber(r.time()), CsvQuote(r.statistic()),
                CsvNumber(r.ks_statistic()), CsvNumber(r.p_value()), CsvNumber(r.wasserstein1()),
                CsvNumber(r.a_exploded_fraction()), CsvNumber(r.b_exploded_fraction()),
                absl::StrCat(r.a_samples()), absl::StrCat(r.b_samples()), CsvNumber(r.a_time()),
                CsvNumber(r.b_time()), v1::RunSpec::Method_Name(r.a_method()),
                v1::RunSpec::Method_Name(r.b_method()), CsvNumber(r.a_median()), CsvNumber(r.b_median()),
                CsvNumber(r.ks_with_exploded())},
               ",")
        << '\n';
  }
}

void WriteTable(const std::string& title, const std::vector<v1::CompareRow>& rows,
                std::ostream& out) {
  if (!title.empty()) out << title << "\n";
  if (!rows.empty()) {
    out << absl::StrFormat("a = %s, b = %s\n", v1::RunSpec::Method_Name(rows[0].a_method()),
                           v1::RunSpec::Method_Name(rows[0].b_method()));
  }
  size_t label_width = 5;
  for (const auto& r : rows) label_width = std::max(label_width, r.label().size());
  const std::string header = absl::StrFormat(
      "%-*s  %7s  %-10s  %8s  %9s  %8s  %9s  %9s  %9s  %6s  %6s  %9s  %9s\n",
      static_cast<int>(label_width), "point", "t", "statistic", "KS D", "p", "W1", "KS+expl",
      "a explod", "b explod", "a n", "b n", "a median", "b median");
  out << header << std::string(header.size() - 1, '-') << '\n';
  for (const auto& r : rows) {
    out << absl::StrFormat(
        "%-*s  %7.4f  %-10s  %8.4f  %9.3g  %8.4f  %9.4f  %9.4f  %9.4f  %6d  %6d  %9.4f  %9.4f\n",
        static_cast<int>(label_width), r.label().empty() ? absl::StrCat(r.point()) : r.label(),
        r.time(), r.statistic(), r.ks_statistic(), r.p_value(), r.wasserstein1(),
        r.ks_with_exploded(), r.a_exploded_fraction(), r.b_exploded_fraction(), r.a_samples(), r.b_samples(),
        r.a_median(), r.b_median());
  }
}

}  // namespace

void WriteCompareRows(Format format, const std::string& title,
                      const std::vector<v1::CompareRow>& rows, std::ostream& out) {
  switch (format) {
    case Format::kCsv: WriteCsv(rows, out); break;
    case Format::kTable: WriteTable(title, rows, out); break;
    default:
      for (const auto& row : rows) out << ToJsonLine(row) << '\n';
      break;
  }
  out.flush();
}

namespace {

// A comparison whose sides stop paths at different divergence thresholds compares two stopping
// rules as well as two models (docs/SDE.md (3)); legal, but worth a note on stderr.
void NoteDifferentThresholds(const v1::SweepPlan& plan, std::ostream& err) {
  int differing = 0;
  const v1::PlannedPoint* first = nullptr;
  for (const v1::PlannedPoint& point : plan.points()) {
    if (DivergenceThreshold(point.compare().a()) == DivergenceThreshold(point.compare().b())) continue;
    if (first == nullptr) first = &point;
    ++differing;
  }
  if (first == nullptr) return;
  err << "sigprop compare: note: " << differing << " of " << plan.points_size()
      << " points stop a and b at different divergence thresholds (point " << first->index()
      << (first->label().empty() ? "" : ", " + first->label()) << ": a at max V_αα > "
      << DivergenceThreshold(first->compare().a()) << ", b at > "
      << DivergenceThreshold(first->compare().b())
      << "); the exploded fractions and ks_with_exploded then compare two stopping rules\n";
}

absl::Status Compare(const Args& args, const std::atomic<bool>& interrupted) {
  if (args.positional.size() != 1) return absl::InvalidArgumentError("compare needs one SPEC");
  auto format = ParseFormat(args.Get("format", "jsonl"));
  if (!format.ok()) return format.status();
  auto threads = args.GetInt("threads", 0);
  if (!threads.ok()) return threads.status();
  if (*threads < 0) return absl::InvalidArgumentError("--threads: must be ≥ 0");
  auto patience = args.GetInt("patience", 60);
  if (!patience.ok()) return patience.status();

  const std::string& path = args.positional[0];
  auto text = ReadSpecText(path);
  if (!text.ok()) return text.status();
  v1::CompareSweep sweep;
  if (auto status = ParseSpecMessage(*text, path, &sweep); !status.ok()) return status;

  auto connection = Connect(args, /*allow_embedded=*/true);
  if (!connection.ok()) return connection.status();
  SimulationClient& client = *connection->client;
  // The server's plan: its limits, and the points as it will run them.
  auto plan = client.Plan(sweep, /*with_specs=*/true);
  if (!plan.ok()) return plan.status();
  if (!args.Has("quiet")) NoteDifferentThresholds(*plan, std::cerr);

  auto submitted = client.Submit(sweep);
  if (!submitted.ok()) return submitted.status();
  const std::string sweep_id = submitted->sweep_id();
  if (!connection->target.empty()) {
    std::cerr << "sigprop: comparison sweep " << sweep_id << " (" << submitted->points()
              << " points) on " << connection->target << "; reattach with: sigprop watch "
              << sweep_id << " --target " << connection->target << "\n";
    if (args.Has("detach")) return absl::OkStatus();
  }

  std::vector<int> points;
  for (const auto& point : plan->points()) points.push_back(point.index());
  std::vector<v1::CompareRow> rows;
  CompareRowOrder order(points, [&](const v1::CompareRow& row) { rows.push_back(row); });
  absl::Status failure;
  auto finished = client.Watch(sweep_id, 0, [&](const v1::Event& event) {
    if (event.has_compare_row()) {
      order.Add(event.compare_row());
    } else if (event.has_point_finished()) {
      order.Finish(event.point());
    } else if (event.has_error() && failure.ok()) {
      failure = absl::Status(static_cast<absl::StatusCode>(event.error().code()),
                             event.error().message());
    }
  }, interrupted, std::chrono::seconds(*patience));
  if (!finished.ok()) {
    if (finished.status().code() == absl::StatusCode::kCancelled && interrupted.load()) {
      if (!ConfirmRemoteCancel(*connection, sweep_id)) return absl::CancelledError("interrupted");
      (void)client.Cancel(sweep_id);
      return absl::CancelledError(absl::StrCat("interrupted; comparison sweep ", sweep_id, " cancelled"));
    }
    return finished.status();
  }
  if (finished->state() == v1::SweepFinished::CANCELLED) {
    return absl::CancelledError(absl::StrCat("comparison sweep ", sweep_id, " was cancelled"));
  }
  if (finished->state() != v1::SweepFinished::SUCCEEDED || !order.complete()) {
    if (failure.ok()) failure = absl::InternalError(absl::StrCat("sweep ", sweep_id, " failed"));
    return failure;
  }
  OutputFile out(args.Get("out"));
  if (auto status = out.Open(); !status.ok()) return status;
  WriteCompareRows(*format, sweep.name(), rows, out.stream());
  return out.Commit();
}

}  // namespace

int CompareCommand(const Args& args, const std::atomic<bool>& interrupted) {
  return Fail(Compare(args, interrupted));
}

}  // namespace sigprop::cli
