// Reassembles per-point results in point order. Points may finish in any order (several run at
// once, possibly on several servers); a point's layers are released once every point before it in
// `order` has finished (the next point's as they come, the others' when it is their turn), so
// output is the same whatever the scheduling. A point's final rows come in one transaction with
// its PointFinished, so releasing the next point's rows before that event loses nothing and saves
// holding a copy of each (issue 18).
#ifndef SIGPROP_CLIENT_POINT_ORDER_H_
#define SIGPROP_CLIENT_POINT_ORDER_H_

#include <functional>
#include <map>
#include <vector>

#include "sigprop/v1/compare.pb.h"
#include "sigprop/v1/results.pb.h"

namespace sigprop::cli {

// `Row` is a point's result row: v1::LayerStats (a sweep) or v1::CompareRow (a comparison).
template <typename Row>
class PointOrderOf {
 public:
  PointOrderOf(std::vector<int> order, std::function<void(const Row&)> release)
      : order_(std::move(order)), release_(std::move(release)) {}

  void Add(const Row& row) {
    if (next_ < order_.size() && row.point() == order_[next_]) {
      release_(row);
    } else {
      pending_[row.point()].push_back(row);
    }
  }
  void Finish(int point) {
    finished_[point] = true;
    // Each point that becomes the next releases what it holds (later rows then go out directly);
    // the finished ones make way for the one after.
    while (next_ < order_.size()) {
      const int next = order_[next_];
      if (auto held = pending_.find(next); held != pending_.end()) {
        for (const auto& layer : held->second) release_(layer);
        pending_.erase(held);
      }
      if (!finished_[next]) break;
      ++next_;
    }
  }
  // Releases whatever is still held, in point order (points that will never finish here: ones
  // before a watch's --from, or outside a shard).
  void Flush() {
    for (auto& [point, layers] : pending_) {
      for (const auto& layer : layers) release_(layer);
    }
    pending_.clear();
    next_ = order_.size();
  }
  bool complete() const { return next_ == order_.size(); }

 private:
  std::vector<int> order_;
  std::function<void(const Row&)> release_;
  std::map<int, std::vector<Row>> pending_;
  std::map<int, bool> finished_;
  size_t next_ = 0;
};

using PointOrder = PointOrderOf<v1::LayerStats>;
using CompareRowOrder = PointOrderOf<v1::CompareRow>;

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_POINT_ORDER_H_
