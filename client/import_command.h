// A Hugging Face config.json as a SweepSpec, for `sigprop import CONFIG` and
// `sigprop run --config CONFIG` (the mapping itself is config_import.h).
#ifndef SIGPROP_CLIENT_IMPORT_COMMAND_H_
#define SIGPROP_CLIENT_IMPORT_COMMAND_H_

#include <string>

#include "absl/status/statusor.h"
#include "client/args.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop::cli {

// The flags that set what the import cannot read from a config; run refuses them without --config.
inline constexpr const char* kImportFlags[] = {"tokens", "depth", "samples"};

// Reads the config at `path` ("-": standard input) and imports it with the --tokens, --depth and
// --samples of `args`. Errors start with the path ("config.json:3:7: …" for JSON syntax,
// "config.json: KEY: why" for the mapping).
absl::StatusOr<v1::SweepSpec> ImportConfigFile(const std::string& path, const Args& args);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_IMPORT_COMMAND_H_
