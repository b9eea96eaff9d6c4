// A LayerStats row as one line of JSON, written directly: the bytes ToJsonLine (result_writer.h)
// gets from protobuf's JSON printer (field names as in the .proto, every primitive field, map
// keys sorted, int64 as strings, doubles as protobuf renders them), at a fraction of its cost
// (issue 18: protobuf's printer, which goes through the binary encoding and a type resolver, was
// ~6% of an SDE run recording every layer, ~150 µs a row).
#ifndef SIGPROP_CLIENT_LAYER_STATS_JSON_H_
#define SIGPROP_CLIENT_LAYER_STATS_JSON_H_

#include <string>

#include "sigprop/v1/results.pb.h"

namespace sigprop::cli {

// Appends the row's JSON to *out and returns true; returns false, appending nothing, for a row
// this writer does not cover (a map key other than letters, digits, '_', '.' and '-', which
// protobuf's printer would escape), which the caller then prints through protobuf.
bool AppendLayerStatsJson(const v1::LayerStats& row, std::string* out);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_LAYER_STATS_JSON_H_
