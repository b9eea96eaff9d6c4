// sigprop merge FILE...: joins the JSONL outputs of `sigprop run --shard I/N` runs into what the
// unsharded run writes. Lines are ordered by (point, layer), a stable sort over the files in the
// order given, and copied unchanged, so the bytes equal the unsharded output. Every line must be a
// LayerStats; a (point, layer) found twice (overlapping shards) and a point missing below the
// largest one (a missing shard file) are errors. A missing *last* shard leaves no gap: with
// --spec SPEC the merge knows the sweep's points and refuses until every one is there (with
// --shards N it names the shard, `run --shard I/N` holding the points p with p mod N = I);
// without it, a notice on stderr says that it could not check.
//
// JSONL only: a CSV's columns are laid out from all of its rows (result_writer.h), so CSV shards
// cannot be joined into the unsharded CSV; run the shards with --format jsonl.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/output_file.h"
#include "client/spec_io.h"
#include "common/sweep_plan.h"
#include "google/protobuf/util/json_util.h"
#include "sigprop/v1/results.pb.h"

namespace sigprop::cli {
namespace {

constexpr char kJsonlOnly[] =
    "merge joins JSONL (a CSV's columns depend on all its rows, so CSV shards cannot be joined "
    "into the unsharded CSV; run the shards with --format jsonl)";

struct Line {
  int point;
  int layer;
  std::string text;
  std::string where;  // "FILE:LINE", for messages.
};

absl::Status ReadShard(const std::string& path, std::vector<Line>* lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read"));
  std::string text;
  for (int number = 1; std::getline(in, text); ++number) {
    if (absl::StripAsciiWhitespace(text).empty()) continue;
    const std::string where = absl::StrCat(path, ":", number);
    if (text[0] != '{') return absl::InvalidArgumentError(absl::StrCat(where, ": ", kJsonlOnly));
    v1::LayerStats stats;
    const auto parsed = google::protobuf::util::JsonStringToMessage(text, &stats);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": not a LayerStats line: ", parsed.message().as_string()));
    }
    lines->push_back({stats.point(), stats.layer(), std::move(text), where});
  }
  return absl::OkStatus();
}

}  // namespace

int MergeCommand(const Args& args) {
  if (args.positional.empty()) return Fail(absl::InvalidArgumentError("merge needs FILE..."));
  if (args.Get("format", "jsonl") != "jsonl") {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--format ", args.Get("format"), ": ",
                                                        kJsonlOnly)));
  }
  std::vector<Line> lines;
  for (const auto& path : args.positional) {
    if (auto status = ReadShard(path, &lines); !status.ok()) return Fail(status);
  }
  std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
    return std::make_pair(a.point, a.layer) < std::make_pair(b.point, b.layer);
  });
  int total_points = -1, shards = 0;  // From --spec and --shards, when given.
  if (args.values.count("spec") > 0) {
    auto spec = ReadSweepSpec(args.Get("spec"));
    if (!spec.ok()) return Fail(spec.status());
    PlanOptions options;
    options.validate = false;
    options.with_specs = false;
    auto plan = PlanSweep(*spec, Limits{}, options);
    if (!plan.ok()) return Fail(plan.status());
    total_points = plan->points_size();
  }
  if (args.values.count("shards") > 0) {
    if (!absl::SimpleAtoi(args.Get("shards"), &shards) || shards < 1) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--shards: needs the N of --shard I/N, got '", args.Get("shards"), "'")));
    }
    if (total_points < 0) {
      return Fail(absl::InvalidArgumentError("--shards: needs --spec (the sweep's points)"));
    }
  }
  // The point that no file holds: names the shard that should have when --shards says.
  auto missing = [&](int point, const std::string& next) {
    return absl::InvalidArgumentError(absl::StrCat(
        "point ", point, " is in no file", next,
        shards > 0 ? absl::StrCat(": the shard that holds it (--shard ", point % shards, "/",
                                  shards, ") is missing")
                   : ": is a shard missing?"));
  };
  int expected_point = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0 && lines[i].point == lines[i - 1].point && lines[i].layer == lines[i - 1].layer) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "point ", lines[i].point, " layer ", lines[i].layer, " is in both ", lines[i - 1].where,
          " and ", lines[i].where, ": the shards overlap")));
    }
    if (lines[i].point > expected_point) {
      return Fail(missing(expected_point, absl::StrCat(" (next is point ", lines[i].point, " at ",
                                                       lines[i].where, ")")));
    }
    if (total_points >= 0 && lines[i].point >= total_points) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat(lines[i].where, ": point ", lines[i].point, " is not a point of --spec (",
                       total_points, " points): a shard of another sweep?")));
    }
    expected_point = lines[i].point + 1;
  }
  if (total_points >= 0 && expected_point < total_points) {
    return Fail(missing(expected_point, absl::StrCat(" (the sweep has ", total_points, ")")));
  }
  if (total_points < 0) {
    std::cerr << "sigprop merge: without --spec SPEC a missing last shard cannot be noticed; the "
                 "merged file ends at point "
              << expected_point - 1 << "\n";
  }

  OutputFile out(args.Get("out"));
  if (auto status = out.Open(); !status.ok()) return Fail(status);
  for (const auto& line : lines) out.stream() << line.text << '\n';
  return Fail(out.Commit());
}

}  // namespace sigprop::cli
