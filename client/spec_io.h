// Reading a SweepSpec from a file: protobuf JSON mapping (a file whose first non-blank character is
// '{') or text format. Every error says where (file:line:column) and what.
#ifndef SIGPROP_CLIENT_SPEC_IO_H_
#define SIGPROP_CLIENT_SPEC_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop::cli {

// Parses `text` (named `source` in errors) into `spec`: JSON when the first non-blank character is
// '{', else text format. Any spec message (SweepSpec, CompareSweep).
absl::Status ParseSpecMessage(const std::string& text, const std::string& source,
                              google::protobuf::Message* spec);

// The contents of a spec file; "-" is standard input.
absl::StatusOr<std::string> ReadSpecText(const std::string& path);

// Parses `text` (named `source` in errors).
absl::StatusOr<v1::SweepSpec> ParseSweepSpec(const std::string& text, const std::string& source);

// Reads and parses a file; "-" is standard input.
absl::StatusOr<v1::SweepSpec> ReadSweepSpec(const std::string& path);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_SPEC_IO_H_
