#include "common/sweep_expansion.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sigprop {
namespace {

using ::testing::HasSubstr;

v1::SweepSpec TwoAxes(v1::SweepSpec::Combine combine) {
  v1::SweepSpec sweep;
  sweep.mutable_base()->set_samples(5);
  sweep.set_combine(combine);
  auto* width = sweep.add_axes();
  width->set_field("model.width");
  width->add_values()->set_number_value(64);
  width->add_values()->set_number_value(128);
  auto* kind = sweep.add_axes();
  kind->set_field("model.attention.kind");
  kind->add_values()->set_string_value("SOFTMAX");
  kind->add_values()->set_string_value("SHAPED");
  return sweep;
}

TEST(SweepExpansionTest, ProductRunsTheLastAxisFastest) {
  auto points = ExpandSweep(TwoAxes(v1::SweepSpec::PRODUCT));
  ASSERT_TRUE(points.ok()) << points.status();
  ASSERT_EQ(points->size(), 4u);
  EXPECT_EQ((*points)[0].spec.model().width(), 64);
  EXPECT_EQ((*points)[0].spec.model().attention().kind(), v1::AttentionSpec::SOFTMAX);
  EXPECT_EQ((*points)[1].spec.model().width(), 64);
  EXPECT_EQ((*points)[1].spec.model().attention().kind(), v1::AttentionSpec::SHAPED);
  EXPECT_EQ((*points)[3].spec.model().width(), 128);
  EXPECT_EQ((*points)[3].label, "model.width=128, model.attention.kind=SHAPED");
  for (const auto& p : *points) EXPECT_EQ(p.spec.samples(), 5);
}

TEST(SweepExpansionTest, ZipPairsValues) {
  auto points = ExpandSweep(TwoAxes(v1::SweepSpec::ZIP));
  ASSERT_TRUE(points.ok());
  ASSERT_EQ(points->size(), 2u);
  EXPECT_EQ((*points)[1].spec.model().width(), 128);
  EXPECT_EQ((*points)[1].spec.model().attention().kind(), v1::AttentionSpec::SHAPED);
}

TEST(SweepExpansionTest, ZipNeedsEqualLengths) {
  v1::SweepSpec sweep = TwoAxes(v1::SweepSpec::ZIP);
  sweep.mutable_axes(1)->add_values()->set_string_value("UNIFORM");
  auto points = ExpandSweep(sweep);
  EXPECT_EQ(points.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(points.status().message()), HasSubstr("axes[1].values"));
}

TEST(SweepExpansionTest, OptionalFieldsGetPresence) {
  v1::SweepSpec sweep;
  auto* axis = sweep.add_axes();
  axis->set_field("model.attention.tau0");
  axis->add_values()->set_number_value(0.5);
  auto points = ExpandSweep(sweep);
  ASSERT_TRUE(points.ok());
  EXPECT_TRUE((*points)[0].spec.model().attention().has_tau0());
  EXPECT_EQ((*points)[0].spec.model().attention().tau0(), 0.5);
}

TEST(SweepExpansionTest, ErrorsNameTheAxis) {
  struct Case {
    std::string field;
    google::protobuf::Value value;
    std::string expected;
  };
  std::vector<Case> cases(5);
  cases[0].field = "model.widht";
  cases[0].value.set_number_value(1);
  cases[0].expected = "axes[0].field: no field 'widht'";
  cases[1].field = "model.width";
  cases[1].value.set_number_value(2.5);
  cases[1].expected = "axes[0].values[0]: width needs an integer";
  cases[2].field = "model.attention.kind";
  cases[2].value.set_string_value("SHAPPED");
  cases[2].expected = "axes[0].values[0]: 'SHAPPED' is not one of";
  cases[3].field = "quantiles";
  cases[3].value.set_number_value(0.5);
  cases[3].expected = "repeated";
  cases[4].field = "gradients";
  cases[4].value.set_number_value(1);
  cases[4].expected = "needs true or false";
  for (const auto& c : cases) {
    v1::SweepSpec sweep;
    auto* axis = sweep.add_axes();
    axis->set_field(c.field);
    *axis->add_values() = c.value;
    auto points = ExpandSweep(sweep);
    EXPECT_EQ(points.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(points.status().message()), HasSubstr(c.expected));
  }
}

TEST(SweepExpansionTest, NoAxesIsOnePoint) {
  v1::SweepSpec sweep;
  sweep.mutable_base()->set_samples(3);
  auto points = ExpandSweep(sweep);
  ASSERT_TRUE(points.ok());
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ((*points)[0].label, "");
}

}  // namespace
}  // namespace sigprop
