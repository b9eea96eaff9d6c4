// ResultWriter (client/result_writer.h): JSONL rows reach the stream's destination when the caller
// flushes (after a burst of rows) and at Finish, not one system call a row. Counted by the
// stream buffer's own sync(), which std::flush calls.
#include "client/result_writer.h"

#include <algorithm>
#include <ostream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace sigprop::cli {
namespace {

class CountingBuffer final : public std::stringbuf {
 public:
  int syncs = 0;

 protected:
  int sync() override {
    ++syncs;
    return std::stringbuf::sync();
  }
};

v1::LayerStats Row(int layer) {
  v1::LayerStats row;
  row.set_layer(layer);
  (*row.mutable_stats())["rho_mean"].set_mean(0.5);
  return row;
}

TEST(ResultWriterTest, JsonlRowsAreFlushedWhenTheCallerSaysAndAtFinish) {
  CountingBuffer buffer;
  std::ostream out(&buffer);
  auto writer = MakeResultWriter(Format::kJsonl, out, {});
  for (int layer = 0; layer < 3; ++layer) writer->Write(Row(layer));
  EXPECT_EQ(buffer.syncs, 0) << "a flush per row";
  writer->Flush();
  EXPECT_EQ(buffer.syncs, 1);
  writer->Write(Row(3));
  writer->Finish();
  EXPECT_EQ(buffer.syncs, 2);
  const std::string text = buffer.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4) << text;
  EXPECT_NE(text.find("\"layer\":3"), std::string::npos) << text;
}

TEST(ResultWriterTest, CsvLaysOutItsRowsAtFinishAndTheTableEachPointAtAFlush) {
  std::ostringstream csv;
  auto csv_writer = MakeResultWriter(Format::kCsv, csv, {"p0"});
  csv_writer->Write(Row(0));
  csv_writer->Flush();
  EXPECT_TRUE(csv.str().empty()) << csv.str();
  csv_writer->Finish();
  EXPECT_NE(csv.str().find("rho_mean.mean"), std::string::npos) << csv.str();

  std::ostringstream table;
  auto table_writer = MakeResultWriter(Format::kTable, table, {"p0"});
  table_writer->Write(Row(0));
  EXPECT_TRUE(table.str().empty()) << table.str();
  table_writer->Flush();
  EXPECT_NE(table.str().find("point 0"), std::string::npos) << table.str();
  const size_t written = table.str().size();
  table_writer->Finish();  // Nothing held: nothing more.
  EXPECT_EQ(table.str().size(), written) << table.str();
}

}  // namespace
}  // namespace sigprop::cli
