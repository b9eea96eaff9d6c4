// Where results go: stdout, or --out FILE written as FILE.partial and renamed into place only when
// the command succeeds, so a failed or interrupted run never leaves a file that looks complete.
#ifndef SIGPROP_CLIENT_OUTPUT_FILE_H_
#define SIGPROP_CLIENT_OUTPUT_FILE_H_

#include <fstream>
#include <iostream>
#include <string>

#include "absl/status/status.h"

namespace sigprop::cli {

class OutputFile {
 public:
  // `path` empty: standard output.
  explicit OutputFile(std::string path);
  ~OutputFile();  // Removes the partial file unless Commit succeeded.

  absl::Status Open();
  std::ostream& stream() { return path_.empty() ? std::cout : file_; }
  absl::Status Commit();

 private:
  std::string path_;
  std::ofstream file_;
  bool committed_ = false;
};

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_OUTPUT_FILE_H_
