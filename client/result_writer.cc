#include "client/result_writer.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver.h"
#include "google/protobuf/util/type_resolver_util.h"

#include "client/layer_stats_json.h"

namespace sigprop::cli {
namespace {

class JsonlWriter final : public ResultWriter {
 public:
  explicit JsonlWriter(std::ostream& out) : out_(out) {}
  void Write(const v1::LayerStats& stats) override { out_ << ToJsonLine(stats) << '\n'; }
  void Flush() override { out_.flush(); }
  void Finish() override { Flush(); }

 private:
  std::ostream& out_;
};

// Columns: point, label, layer, t, samples, diverged_fraction, method, approximate, then for each
// statistic (sorted by name) <stat>.mean, .stderr, .count and one per quantile key.
class CsvWriter final : public ResultWriter {
 public:
  CsvWriter(std::ostream& out, std::vector<std::string> labels)
      : out_(out), labels_(std::move(labels)) {}
  void Write(const v1::LayerStats& stats) override { rows_.push_back(stats); }
  void Finish() override {
    std::map<std::string, std::set<std::string>> columns;  // statistic → quantile keys
    for (const auto& row : rows_) {
      for (const auto& [name, summary] : row.stats()) {
        auto& keys = columns[name];
        for (const auto& [key, value] : summary.quantiles()) keys.insert(key);
      }
    }
    std::vector<std::string> header = {"point", "label", "layer", "t", "samples",
                                       "diverged_fraction", "method", "approximate"};
    for (const auto& [name, keys] : columns) {
      header.push_back(name + ".mean");
      header.push_back(name + ".stderr");
      header.push_back(name + ".count");
      for (const auto& key : keys) header.push_back(name + "." + key);
    }
    out_ << absl::StrJoin(header, ",") << '\n';
    for (const auto& row : rows_) {
      std::vector<std::string> cells = {
          absl::StrCat(row.point()),
          CsvQuote(row.point() < static_cast<int>(labels_.size()) ? labels_[row.point()] : ""),
          absl::StrCat(row.layer()),
          CsvNumber(row.t()),
          absl::StrCat(row.samples()),
          CsvNumber(row.diverged_fraction()),
          v1::RunSpec::Method_Name(row.method()),
          row.approximate() ? "true" : "false"};
      for (const auto& [name, keys] : columns) {
        auto it = row.stats().find(name);
        if (it == row.stats().end()) {
          cells.insert(cells.end(), 3 + keys.size(), "");
          continue;
        }
        const v1::Summary& s = it->second;
        cells.push_back(CsvNumber(s.mean()));
        cells.push_back(CsvNumber(s.stderr()));
        cells.push_back(absl::StrCat(s.count()));
        for (const auto& key : keys) {
          auto q = s.quantiles().find(key);
          cells.push_back(q == s.quantiles().end() ? "" : CsvNumber(q->second));
        }
      }
      out_ << absl::StrJoin(cells, ",") << '\n';
    }
    out_.flush();
  }

 private:
  std::ostream& out_;
  std::vector<std::string> labels_;
  std::vector<v1::LayerStats> rows_;
};

// Per point, about a dozen layers evenly spread, with rho_mean and collapse: enough to see whether
// the tokens' correlation runs to 1 (rank collapse) or stays put.
class TableWriter final : public ResultWriter {
 public:
  TableWriter(std::ostream& out, std::vector<std::string> labels, std::vector<std::string> columns)
      : out_(out), labels_(std::move(labels)), columns_(std::move(columns)) {}
  void Write(const v1::LayerStats& stats) override {
    if (!rows_.empty() && rows_.back().point() != stats.point()) WritePoint();
    rows_.push_back(stats);
  }
  // The rows so far are a whole point (a point's rows come together): its table now.
  void Flush() override {
    WritePoint();
    out_.flush();
  }
  void Finish() override { Flush(); }

 private:
  static std::string Cell(const v1::LayerStats& row, const std::string& name) {
    auto it = row.stats().find(name);
    if (it == row.stats().end() || it->second.count() == 0) return absl::StrFormat("%19s", "—");
    return absl::StrFormat("%9.4f ± %-7.4f", it->second.mean(), it->second.stderr());
  }

  void WritePoint() {
    if (rows_.empty()) return;
    const v1::LayerStats& first = rows_.front();
    const int p = first.point();
    out_ << absl::StrFormat("point %d  %s  (method %s, %d samples)\n", p,
                            p < static_cast<int>(labels_.size()) ? labels_[p] : "",
                            v1::RunSpec::Method_Name(first.method()), first.samples());
    out_ << absl::StrFormat("%7s", "layer");
    for (const std::string& column : columns_) out_ << absl::StrFormat("  %19s", column);
    out_ << absl::StrFormat("  %9s\n", "diverged");
    const size_t shown = 12;
    const size_t step = std::max<size_t>(1, (rows_.size() + shown - 1) / shown);
    for (size_t i = 0; i < rows_.size(); ++i) {
      if (i % step != 0 && i + 1 != rows_.size()) continue;
      const auto& row = rows_[i];
      out_ << absl::StrFormat("%7d", row.layer());
      for (const std::string& column : columns_) out_ << "  " << Cell(row, column);
      out_ << absl::StrFormat("  %9.3f\n", row.diverged_fraction());
    }
    out_ << '\n';
    rows_.clear();
  }

  std::ostream& out_;
  std::vector<std::string> labels_;
  std::vector<std::string> columns_;
  std::vector<v1::LayerStats> rows_;
};

}  // namespace

std::string CsvNumber(double x) { return absl::StrFormat("%.17g", x); }

std::string CsvQuote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

absl::StatusOr<Format> ParseFormat(const std::string& name) {
  if (name == "jsonl") return Format::kJsonl;
  if (name == "csv") return Format::kCsv;
  if (name == "table") return Format::kTable;
  return absl::InvalidArgumentError(
      absl::StrCat("--format: must be jsonl, csv or table, got '", name, "'"));
}

absl::Status CheckProvisionalFormat(bool provisional, Format format) {
  if (!provisional || format == Format::kJsonl) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "--provisional: needs --format jsonl, whose rows carry \"provisional\": true; CSV and "
      "table rows would not say which rows are provisional");
}

absl::StatusOr<std::vector<std::string>> TableColumns(const std::string& flag, Format format) {
  if (flag.empty()) return std::vector<std::string>();
  if (format != Format::kTable) {
    return absl::InvalidArgumentError("--columns: chooses the columns of --format table");
  }
  std::vector<std::string> columns = absl::StrSplit(flag, ',', absl::SkipEmpty());
  if (columns.empty()) return absl::InvalidArgumentError("--columns: names no statistic");
  return columns;
}

std::string ToJsonLine(const google::protobuf::Message& message) {
  // Rows, the bulk of every output, are written directly (layer_stats_json.h): the same bytes.
  if (message.GetDescriptor() == v1::LayerStats::descriptor()) {
    std::string line;
    if (AppendLayerStatsJson(static_cast<const v1::LayerStats&>(message), &line)) return line;
  }
  return ProtobufJsonLine(message);
}

std::string ProtobufJsonLine(const google::protobuf::Message& message) {
  // MessageToJsonString walks maps in hash order, which protobuf randomises per process. Going
  // through a deterministic (key-sorted) binary encoding makes the line byte-reproducible.
  static google::protobuf::util::TypeResolver* const resolver =
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          "type.googleapis.com", google::protobuf::DescriptorPool::generated_pool());
  std::string binary;
  {
    google::protobuf::io::StringOutputStream stream(&binary);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = false;
  std::string line;
  // Printing a well-formed generated message cannot fail.
  (void)google::protobuf::util::BinaryToJsonString(
      resolver, "type.googleapis.com/" + message.GetDescriptor()->full_name(), binary, &line,
      options);
  return line;
}

std::unique_ptr<ResultWriter> MakeResultWriter(Format format, std::ostream& out,
                                               std::vector<std::string> point_labels,
                                               std::vector<std::string> table_columns) {
  if (table_columns.empty()) table_columns = {"rho_mean", "collapse"};
  switch (format) {
    case Format::kCsv: return std::make_unique<CsvWriter>(out, std::move(point_labels));
    case Format::kTable:
      return std::make_unique<TableWriter>(out, std::move(point_labels), std::move(table_columns));
    default: return std::make_unique<JsonlWriter>(out);
  }
}

}  // namespace sigprop::cli
