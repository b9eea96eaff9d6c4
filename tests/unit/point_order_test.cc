// PointOrderOf (client/point_order.h): rows come out in the order of `order` whatever order the
// points finish in; the next point's rows go out as they arrive, the others' are held until every
// point before them has finished; Flush releases what is held.
#include "client/point_order.h"

#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace sigprop::cli {
namespace {

v1::LayerStats Row(int point, int layer) {
  v1::LayerStats row;
  row.set_point(point);
  row.set_layer(layer);
  return row;
}

using Released = std::vector<std::pair<int, int>>;  // (point, layer)

TEST(PointOrderTest, RowsComeOutInPointOrderWhateverTheFinishingOrder) {
  Released out;
  PointOrder order({0, 1, 2}, [&](const v1::LayerStats& r) { out.emplace_back(r.point(), r.layer()); });
  order.Add(Row(2, 0));
  order.Add(Row(2, 1));
  order.Finish(2);
  EXPECT_TRUE(out.empty()) << "point 2 released before points 0 and 1";
  order.Add(Row(1, 0));
  order.Add(Row(0, 0));  // The next point: out at once.
  EXPECT_EQ(out, (Released{{0, 0}}));
  order.Add(Row(0, 1));
  EXPECT_EQ(out, (Released{{0, 0}, {0, 1}}));
  EXPECT_FALSE(order.complete());
  order.Finish(0);  // Point 1 is next now: the row it held goes out; 2 waits for 1.
  EXPECT_EQ(out, (Released{{0, 0}, {0, 1}, {1, 0}}));
  order.Add(Row(1, 1));  // After point 1's held row, not before it.
  EXPECT_EQ(out, (Released{{0, 0}, {0, 1}, {1, 0}, {1, 1}}));
  order.Finish(1);
  EXPECT_TRUE(order.complete());
  EXPECT_EQ(out, (Released{{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 1}}));
}

// Rows of the next point already released directly are not released again by Flush; held rows
// of later points are, and rows of a point outside `order` are held until Flush.
TEST(PointOrderTest, FlushAfterDirectReleasesReleasesOnlyWhatIsHeld) {
  Released out;
  PointOrder order({3, 5}, [&](const v1::LayerStats& r) { out.emplace_back(r.point(), r.layer()); });
  order.Add(Row(3, 0));
  order.Add(Row(5, 0));
  order.Add(Row(9, 0));  // Not this client's point.
  EXPECT_EQ(out, (Released{{3, 0}}));
  order.Flush();
  EXPECT_EQ(out, (Released{{3, 0}, {5, 0}, {9, 0}}));
}

TEST(PointOrderTest, FlushReleasesWhatIsHeld) {
  Released out;
  PointOrder order({0, 1}, [&](const v1::LayerStats& r) { out.emplace_back(r.point(), r.layer()); });
  order.Add(Row(1, 4));
  order.Flush();
  EXPECT_EQ(out, (Released{{1, 4}}));
  EXPECT_TRUE(order.complete());
}

}  // namespace
}  // namespace sigprop::cli
