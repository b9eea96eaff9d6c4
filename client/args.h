// A small command-line parser: `sigprop COMMAND [--flag[=value] | --flag value]... [ARG]...`.
// Unknown flags are usage errors (exit status 2), named in the message.
#ifndef SIGPROP_CLIENT_ARGS_H_
#define SIGPROP_CLIENT_ARGS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sigprop::cli {

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // --name=value / --name value
  std::set<std::string> switches;             // --name (booleans)

  bool Has(const std::string& name) const { return switches.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
  absl::StatusOr<int> GetInt(const std::string& name, int fallback) const;
};

// `valued` lists the flags that take a value, `boolean` those that do not.
absl::StatusOr<Args> ParseArgs(int argc, char** argv, const std::set<std::string>& valued,
                               const std::set<std::string>& boolean);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_ARGS_H_
