// Importing a Hugging Face config.json: the SweepSpec (one point, no axes) whose model is the
// family's network at initialisation as its transformers code builds it (SPEC §2b). Which key sets
// which field, the keys that change nothing at initialisation and the refusals are in
// docs/IMPORT.md, with the transformers files each family's mapping was read from.
//
// Nothing is dropped silently: a key is mapped, ignored for a reason docs/IMPORT.md gives, or the
// import is refused (INVALID_ARGUMENT "KEY: why"), e.g. a mixture of experts, a RoPE scaling the
// model cannot express, or a key this importer does not know.
#ifndef SIGPROP_CLIENT_CONFIG_IMPORT_H_
#define SIGPROP_CLIENT_CONFIG_IMPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sigprop/v1/run.pb.h"

namespace sigprop::cli {

struct ImportOptions {
  int tokens = 8;     // m, the simulated sequence length (≥ 2).
  int depth = 0;      // Layers; 0 takes the config's. Imported as if the config said so.
  int samples = 100;  // Monte Carlo samples (≥ 1).
};

// Checks the options alone: INVALID_ARGUMENT naming "tokens", "depth" or "samples".
absl::Status CheckImportOptions(const ImportOptions& options);

// `json` is the text of a config.json. Errors are INVALID_ARGUMENT naming the key (or the option:
// "tokens", "depth", "samples") and the reason.
absl::StatusOr<v1::SweepSpec> ImportHfConfig(const std::string& json, const ImportOptions& options);

// The model_type values ImportHfConfig maps, sorted.
std::vector<std::string> ImportableModelTypes();

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_CONFIG_IMPORT_H_
