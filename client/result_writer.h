// Writers of per-layer results: JSONL (one LayerStats per line, protobuf JSON mapping with the proto
// field names), CSV (one row per point × layer, a column per statistic field) and a short
// human-readable table. Input arrives in (point, layer) order.
#ifndef SIGPROP_CLIENT_RESULT_WRITER_H_
#define SIGPROP_CLIENT_RESULT_WRITER_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sigprop/v1/results.pb.h"

namespace sigprop::cli {

enum class Format { kJsonl, kCsv, kTable };

absl::StatusOr<Format> ParseFormat(const std::string& name);

// --provisional with `format`: only JSON lines carry LayerStats.provisional, so CSV and table
// output would mix provisional and final rows unmarked; INVALID_ARGUMENT names the flags.
absl::Status CheckProvisionalFormat(bool provisional, Format format);

class ResultWriter {
 public:
  virtual ~ResultWriter() = default;
  virtual void Write(const v1::LayerStats& stats) = 0;
  // Hands the rows written so far to the stream's destination (a reader of FILE.partial or of a
  // pipe sees them): JSONL's lines, the table of each point written whole; CSV lays out its rows
  // at Finish. Callers flush after a burst of rows (a point's rows come together), not after each
  // row: one system call a row was 1 % of a run recording 257 layers (issue 18).
  virtual void Flush() {}
  // Flushes what was buffered (CSV and table need every row to lay out columns).
  virtual void Finish() = 0;
};

// `point_labels[p]` describes point p ("model.width=64"); CSV makes them a column.
// `table_columns`: the statistics --format table shows (mean ± stderr each); empty means
// rho_mean and collapse.
std::unique_ptr<ResultWriter> MakeResultWriter(Format format, std::ostream& out,
                                               std::vector<std::string> point_labels,
                                               std::vector<std::string> table_columns = {});

// --columns "grad_wq,grad_wk": the table's statistics; INVALID_ARGUMENT with another format.
absl::StatusOr<std::vector<std::string>> TableColumns(const std::string& flag, Format format);

// CSV cells: a double with every digit it needs to round-trip, and a field quoted if it must be.
std::string CsvNumber(double x);
std::string CsvQuote(const std::string& s);

// The protobuf JSON of one message on one line, with proto field names and every field printed;
// map keys sorted, so equal messages give equal bytes. LayerStats rows are written directly
// (layer_stats_json.h), the others by ProtobufJsonLine; both give the same bytes for a row.
std::string ToJsonLine(const google::protobuf::Message& message);
// The same through protobuf's own JSON printer, for any message.
std::string ProtobufJsonLine(const google::protobuf::Message& message);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_RESULT_WRITER_H_
