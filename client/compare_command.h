// `sigprop compare SPEC`: runs a CompareSweep (compare.proto) in this process and writes one
// CompareRow per (point, time, statistic): JSONL (the default, one row per line), CSV, or a table
// with the points as rows and the KS distance beside the exploded fractions.
#ifndef SIGPROP_CLIENT_COMPARE_COMMAND_H_
#define SIGPROP_CLIENT_COMPARE_COMMAND_H_

#include <atomic>
#include <ostream>
#include <vector>

#include "client/args.h"
#include "client/result_writer.h"
#include "sigprop/v1/compare.pb.h"

namespace sigprop::cli {

// Runs in this process (comparisons are not a service call). Flags: --format jsonl|csv|table,
// --out FILE, --threads N. Returns the exit status (exit_codes.h); 130 when `interrupted` turns
// true.
int CompareCommand(const Args& args, const std::atomic<bool>& interrupted);

// Writes rows in `format`; `title` heads the table.
void WriteCompareRows(Format format, const std::string& title,
                      const std::vector<v1::CompareRow>& rows, std::ostream& out);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_COMPARE_COMMAND_H_
