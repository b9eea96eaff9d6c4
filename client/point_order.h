// Reassembles per-point results in point order. Points may finish in any order (several run at
// once, possibly on several servers); a point's layers are released when it and every point before
// it in `order` have finished, so output is the same whatever the scheduling.
#ifndef SIGPROP_CLIENT_POINT_ORDER_H_
#define SIGPROP_CLIENT_POINT_ORDER_H_

#include <functional>
#include <map>
#include <vector>

#include "sigprop/v1/results.pb.h"

namespace sigprop::cli {

class PointOrder {
 public:
  PointOrder(std::vector<int> order, std::function<void(const v1::LayerStats&)> release)
      : order_(std::move(order)), release_(std::move(release)) {}

  void Add(const v1::LayerStats& layer) { pending_[layer.point()].push_back(layer); }
  void Finish(int point) {
    finished_[point] = true;
    while (next_ < order_.size() && finished_[order_[next_]]) {
      for (const auto& layer : pending_[order_[next_]]) release_(layer);
      pending_.erase(order_[next_]);
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
  std::function<void(const v1::LayerStats&)> release_;
  std::map<int, std::vector<v1::LayerStats>> pending_;
  std::map<int, bool> finished_;
  size_t next_ = 0;
};

}  // namespace sigprop::cli

#endif  // SIGPROP_CLIENT_POINT_ORDER_H_
