// A one-line progress display on stderr, redrawn in place: the point, its samples, and a bar.
#ifndef SIGPROP_CLIENT_PROGRESS_BAR_H_
#define SIGPROP_CLIENT_PROGRESS_BAR_H_

#include <cstdio>

namespace sigprop::cli {

class ProgressBar {
 public:
  ProgressBar(bool enabled, int points) : enabled_(enabled), points_(points) {}
  ~ProgressBar() { Clear(); }
  void Update(int point, int done, int total);
  void Clear();

 private:
  bool enabled_;
  int points_;
  bool drawn_ = false;
};

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_PROGRESS_BAR_H_
