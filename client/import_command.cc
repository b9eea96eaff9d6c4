// sigprop import CONFIG: write the SweepSpec of a Hugging Face config.json, in the protobuf JSON
// mapping with the proto's field names, which `sigprop run` and `sigprop validate` read as is.
#include "client/import_command.h"

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/config_import.h"
#include "client/exit_codes.h"
#include "client/json_syntax.h"
#include "client/output_file.h"
#include "client/spec_io.h"
#include "google/protobuf/util/json_util.h"

namespace sigprop::cli {

absl::StatusOr<v1::SweepSpec> ImportConfigFile(const std::string& path, const Args& args) {
  ImportOptions options;
  for (auto [flag, value] : {std::pair{"tokens", &options.tokens},
                             std::pair{"depth", &options.depth},
                             std::pair{"samples", &options.samples}}) {
    auto given = args.GetInt(flag, *value);
    if (!given.ok()) return given.status();
    *value = *given;
  }
  if (args.values.count("depth") > 0 && options.depth < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--depth: must be ≥ 1, got ", options.depth));
  }
  if (auto status = CheckImportOptions(options); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", status.message()));
  }
  auto text = ReadSpecText(path);
  if (!text.ok()) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open the config file"));
  }
  for (const JsonSyntaxError& error : {CheckUtf8(*text), CheckJsonSyntax(*text)}) {
    if (!error.ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", error.line, ":", error.column, ": ", error.message));
    }
  }
  auto spec = ImportHfConfig(*text, options);
  if (!spec.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", spec.status().message()));
  }
  return spec;
}

int ImportCommand(const Args& args) {
  if (args.positional.size() != 1) {
    return Fail(absl::InvalidArgumentError("import needs one CONFIG (a config.json; '-' reads "
                                           "stdin)"));
  }
  auto spec = ImportConfigFile(args.positional[0], args);
  if (!spec.ok()) return Fail(spec.status());
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  // Printing a well-formed generated message cannot fail.
  (void)google::protobuf::util::MessageToJsonString(*spec, &json, options);
  OutputFile out(args.Get("out"));
  if (auto status = out.Open(); !status.ok()) return Fail(status);
  out.stream() << json;
  return Fail(out.Commit());
}

}  // namespace sigprop::cli
