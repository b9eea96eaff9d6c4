// `sigprop compare SPEC`: runs a CompareSweep (compare.proto) in this process and writes one
// CompareRow per (point, time, statistic): JSONL (the default, one row per line), CSV, or a table
// with the points as rows and the KS distance beside the exploded fractions.
#ifndef SIGPROP_CLIENT_COMPARE_COMMAND_H_
#define SIGPROP_CLIENT_COMPARE_COMMAND_H_

#include <atomic>
#include <ostream>
#include <vector>

#include "absl/status/status.h"
#include "client/args.h"
#include "client/result_writer.h"
#include "sigprop/v1/compare.pb.h"

namespace sigprop::cli {

// Flags: --format jsonl|csv|table, --out FILE, --threads N. Stops with CANCELLED when `cancel`
// turns true.
absl::Status CompareCommand(const Args& args, const std::atomic<bool>& cancel);

// Writes rows in `format`; `title` heads the table.
void WriteCompareRows(Format format, const std::string& title,
                      const std::vector<v1::CompareRow>& rows, std::ostream& out);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_COMPARE_COMMAND_H_
