// sigprop merge FILE...: joins the JSONL outputs of `sigprop run --shard I/N` runs into what the
// unsharded run writes. Lines are ordered by (point, layer), a stable sort over the files in the
// order given, and copied unchanged, so the bytes equal the unsharded output. Every line must be a
// LayerStats; a (point, layer) found twice (overlapping shards) and a point missing below the
// largest one (a missing shard file) are errors.
//
// JSONL only: a CSV's columns are laid out from all of its rows (result_writer.h), so CSV shards
// cannot be joined into the unsharded CSV; run the shards with --format jsonl.
#include <algorithm>
#include <fstream>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/output_file.h"
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
  int expected_point = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0 && lines[i].point == lines[i - 1].point && lines[i].layer == lines[i - 1].layer) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "point ", lines[i].point, " layer ", lines[i].layer, " is in both ", lines[i - 1].where,
          " and ", lines[i].where, ": the shards overlap")));
    }
    if (lines[i].point > expected_point) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "point ", expected_point, " is in no file (next is point ", lines[i].point, " at ",
          lines[i].where, "): is a shard missing?")));
    }
    expected_point = lines[i].point + 1;
  }

  OutputFile out(args.Get("out"));
  if (auto status = out.Open(); !status.ok()) return Fail(status);
  for (const auto& line : lines) out.stream() << line.text << '\n';
  return Fail(out.Commit());
}

}  // namespace sigprop::cli
