// The CLI's commands. Each returns the process exit status (exit_codes.h).
#ifndef SIGPROP_CLIENT_COMMANDS_H_
#define SIGPROP_CLIENT_COMMANDS_H_

#include <atomic>

#include "client/args.h"

namespace sigprop::cli {

int RunCommand(const Args& args, const std::atomic<bool>& interrupted);
int ValidateCommand(const Args& args);
int WatchCommand(const Args& args, const std::atomic<bool>& interrupted);
int ListCommand(const Args& args);
int GetCommand(const Args& args);
int CancelCommand(const Args& args);
int ResultsCommand(const Args& args);
int HealthCommand(const Args& args);
int MergeCommand(const Args& args);
int ImportCommand(const Args& args);

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_COMMANDS_H_
