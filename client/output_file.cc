#include "client/output_file.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace sigprop::cli {

OutputFile::OutputFile(std::string path) : path_(std::move(path)) {}

OutputFile::~OutputFile() {
  if (path_.empty() || committed_) return;
  if (file_.is_open()) file_.close();
  std::remove((path_ + ".partial").c_str());
}

absl::Status OutputFile::Open() {
  if (path_.empty()) return absl::OkStatus();
  file_.open(path_ + ".partial", std::ios::binary | std::ios::trunc);
  if (!file_) return absl::NotFoundError(absl::StrCat("--out: cannot write ", path_, ".partial"));
  return absl::OkStatus();
}

absl::Status OutputFile::Commit() {
  if (path_.empty()) {
    std::cout.flush();
    return std::cout ? absl::OkStatus() : absl::InternalError("cannot write standard output");
  }
  file_.close();
  if (!file_ || std::rename((path_ + ".partial").c_str(), path_.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("--out: cannot write ", path_));
  }
  committed_ = true;
  return absl::OkStatus();
}

}  // namespace sigprop::cli
