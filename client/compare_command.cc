#include "client/compare_command.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/exit_codes.h"
#include "client/output_file.h"
#include "client/spec_io.h"
#include "common/compare.h"
#include "common/validate.h"
#include "oneapi/tbb/task_arena.h"

namespace sigprop::cli {
namespace {

std::string Number(double x) { return absl::StrFormat("%.17g", x); }

std::string CsvQuote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void WriteCsv(const std::vector<v1::CompareRow>& rows, std::ostream& out) {
  out << "point,label,time,statistic,ks_statistic,p_value,wasserstein1,a_exploded_fraction,"
         "b_exploded_fraction,a_samples,b_samples,a_time,b_time,a_method,b_method,a_median,"
         "b_median\n";
  for (const auto& r : rows) {
    out << absl::StrJoin(
               {absl::StrCat(r.point()), CsvQuote(r.label()), Number(r.time()), CsvQuote(r.statistic()),
                Number(r.ks_statistic()), Number(r.p_value()), Number(r.wasserstein1()),
                Number(r.a_exploded_fraction()), Number(r.b_exploded_fraction()),
                absl::StrCat(r.a_samples()), absl::StrCat(r.b_samples()), Number(r.a_time()),
                Number(r.b_time()), v1::RunSpec::Method_Name(r.a_method()),
                v1::RunSpec::Method_Name(r.b_method()), Number(r.a_median()), Number(r.b_median())},
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
      "%-*s  %7s  %-10s  %8s  %9s  %8s  %9s  %9s  %6s  %6s  %9s  %9s\n", static_cast<int>(label_width),
      "point", "t", "statistic", "KS D", "p", "W1", "a explod", "b explod", "a n", "b n",
      "a median", "b median");
  out << header << std::string(header.size() - 1, '-') << '\n';
  for (const auto& r : rows) {
    out << absl::StrFormat(
        "%-*s  %7.4f  %-10s  %8.4f  %9.3g  %8.4f  %9.4f  %9.4f  %6d  %6d  %9.4f  %9.4f\n",
        static_cast<int>(label_width), r.label().empty() ? absl::StrCat(r.point()) : r.label(),
        r.time(), r.statistic(), r.ks_statistic(), r.p_value(), r.wasserstein1(),
        r.a_exploded_fraction(), r.b_exploded_fraction(), r.a_samples(), r.b_samples(),
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

absl::Status Compare(const Args& args, const std::atomic<bool>& interrupted) {
  if (args.positional.size() != 1) return absl::InvalidArgumentError("compare needs one SPEC");
  auto format = ParseFormat(args.Get("format", "jsonl"));
  if (!format.ok()) return format.status();
  auto threads = args.GetInt("threads", 0);
  if (!threads.ok()) return threads.status();
  if (*threads < 0) return absl::InvalidArgumentError("--threads: must be ≥ 0");

  const std::string& path = args.positional[0];
  auto text = ReadSpecText(path);
  if (!text.ok()) return text.status();
  v1::CompareSweep sweep;
  if (auto status = ParseSpecMessage(*text, path, &sweep); !status.ok()) return status;
  if (auto status = ValidateCompareSweep(sweep, Limits{}); !status.ok()) return status;
  auto points = ExpandCompareSweep(sweep);
  if (!points.ok()) return points.status();

  OutputFile out(args.Get("out"));
  if (auto status = out.Open(); !status.ok()) return status;
  oneapi::tbb::task_arena arena(
      std::max(1, *threads > 0 ? *threads : static_cast<int>(std::thread::hardware_concurrency())));
  RunContext context;
  context.arena = &arena;
  context.cancelled = [&interrupted] { return interrupted.load(std::memory_order_relaxed); };
  std::vector<v1::CompareRow> rows;
  for (const ComparePoint& point : *points) {
    auto point_rows = RunComparison(point, context);
    if (!point_rows.ok()) return point_rows.status();
    rows.insert(rows.end(), point_rows->begin(), point_rows->end());
  }
  WriteCompareRows(*format, sweep.name(), rows, out.stream());
  return out.Commit();
}

}  // namespace

int CompareCommand(const Args& args, const std::atomic<bool>& interrupted) {
  return Fail(Compare(args, interrupted));
}

}  // namespace sigprop::cli
