// Parsing specs: JSON and textproto, errors with line and column, unknown fields rejected,
// and the two formats round-trip to the same message.
#include "client/spec_io.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace sigprop::cli {
namespace {

using ::testing::HasSubstr;

const char kJson[] = R"({
  "name": "demo",
  "base": {
    "model": {"tokens": 4, "width": 32, "depth": 3,
              "attention": {"kind": "SHAPED", "tau0": 0.5},
              "mlp": {"activation": "SHAPED_RELU", "c_minus": -1},
              "initial": {"rho0": 0.2}},
    "samples": 10, "seed": "7"
  },
  "axes": [{"field": "model.width", "values": [32, 64]}]
})";

TEST(SpecIoTest, ParsesJson) {
  auto spec = ParseSweepSpec(kJson, "spec.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "demo");
  EXPECT_EQ(spec->base().model().attention().kind(), v1::AttentionSpec::SHAPED);
  EXPECT_EQ(spec->base().seed(), 7u);
  EXPECT_EQ(spec->axes(0).values(1).number_value(), 64);
}

// Strings must be UTF-8 (proto3); the error says where, in either format. Found by
// tests/fuzz/spec_mutation_test.cc: protobuf's message named no position.
TEST(SpecIoTest, InvalidUtf8IsRefusedWithLineAndColumn) {
  auto json = ParseSweepSpec("{\n  \"name\": \"d\xe9mo\"}", "spec.json");
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(json.status().message(), "spec.json:2:13: invalid UTF-8");
  auto text = ParseSweepSpec("name: \"\xed\xa0\x80\"", "spec.txtpb");  // A surrogate.
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(), "spec.txtpb:1:8: invalid UTF-8");
  EXPECT_TRUE(ParseSweepSpec("{\"name\": \"\xc3\xa9t\xc3\xa9 \xf0\x9f\x93\x88\"}", "ok.json").ok());
}

TEST(SpecIoTest, JsonAndTextprotoRoundTrip) {
  auto from_json = ParseSweepSpec(kJson, "spec.json");
  ASSERT_TRUE(from_json.ok());
  std::string text;
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(*from_json, &text));
  auto from_text = ParseSweepSpec(text, "spec.textproto");
  ASSERT_TRUE(from_text.ok()) << from_text.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*from_json, *from_text));
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*from_text, &json).ok());
  auto again = ParseSweepSpec(json, "again.json");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*from_json, *again));
}

TEST(SpecIoTest, JsonSyntaxErrorHasLineAndColumn) {
  auto spec = ParseSweepSpec("{\n  \"name\": \"x\",\n  \"base\": {,}\n}", "bad.json");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("bad.json:3:12:"));
}

TEST(SpecIoTest, UnknownJsonFieldIsNamedWithItsLine) {
  auto spec = ParseSweepSpec("{\"base\": {\n \"modle\": {}}}", "bad.json");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("bad.json:2:2: base.modle: unknown field"));
}

TEST(SpecIoTest, BadEnumValueIsNamed) {
  auto spec = ParseSweepSpec("{\"base\": {\"method\": \"FAST\"}}", "bad.json");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("base.method"));
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("FAST"));
}

TEST(SpecIoTest, TextprotoErrorHasLineAndColumn) {
  auto spec = ParseSweepSpec("name: \"x\"\nbase {\n  sampels: 3\n}\n", "bad.textproto");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("bad.textproto:3:"));
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("sampels"));
}

TEST(SpecIoTest, DeepNestingIsRejectedNotRecursedForever) {
  std::string deep = "{\"name\": ";
  for (int i = 0; i < 100000; ++i) deep += "[";
  auto spec = ParseSweepSpec(deep, "deep.json");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("nesting"));
}

TEST(SpecIoTest, MissingFileIsNotFound) {
  auto spec = ReadSweepSpec("/nonexistent/spec.json");
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sigprop::cli
