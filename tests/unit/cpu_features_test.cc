// SIGPROP_MAX_ISA (cpu_features.h): its values, and that the kernels' dispatch obeys it while the
// tests' list of variants does not. The cap is read once a process, so each case runs in a fresh
// one (a death test in gtest's "threadsafe" style re-executes this binary for it).
#include "common/cpu_features.h"

#include <stdlib.h>

#include <cstdlib>

#include <gtest/gtest.h>

namespace sigprop {
namespace {

TEST(MaxIsaTest, ParsesTheThreeNamesAndTakesUnsetOrEmptyAsNoCap) {
  EXPECT_EQ(ParseMaxIsa("baseline").value(), VectorIsa::kBaseline);
  EXPECT_EQ(ParseMaxIsa("avx2").value(), VectorIsa::kAvx2);
  EXPECT_EQ(ParseMaxIsa("avx512").value(), VectorIsa::kAvx512);
  EXPECT_FALSE(ParseMaxIsa(nullptr).value().has_value());
  EXPECT_FALSE(ParseMaxIsa("").value().has_value());
}

TEST(MaxIsaTest, AnyOtherValueIsAnErrorNamingTheVariableAndTheChoices) {
  for (const char* bad : {"sse2", "AVX2", "avx-512", "avx512 ", "native"}) {
    const auto parsed = ParseMaxIsa(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(parsed.status().message(),
              std::string("SIGPROP_MAX_ISA: '") + bad +
                  "' is not one of baseline, avx2, avx512 (or unset)");
  }
}

// The variant the kernels get under SIGPROP_MAX_ISA=cap, in a fresh process: exit code 10 + isa.
void ExitWithBestUnder(const char* cap) {
  setenv("SIGPROP_MAX_ISA", cap, 1);
  const int best = static_cast<int>(BestVectorIsa());
  // The dispatch's feature queries agree with it; the tests' list of variants is the CPU's.
  const bool agrees = CpuHasAvx512Dq() == (best == static_cast<int>(VectorIsa::kAvx512)) &&
                      CpuHasAvx2() == (best >= static_cast<int>(VectorIsa::kAvx2)) &&
                      (best < static_cast<int>(VectorIsa::kAvx512) ? !CpuHasAvx512() : true);
  const bool uncapped_list = SupportedVectorIsas().size() == static_cast<size_t>(
                                 static_cast<int>(SupportedVectorIsas().back()) + 1);
  std::exit(agrees && uncapped_list ? 10 + best : 1);
}

TEST(MaxIsaTest, TheKernelsGetTheCpusBestUpToTheCap) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const int cpu_best = static_cast<int>(SupportedVectorIsas().back());
  const struct {
    const char* cap;
    int isa;
  } cases[] = {{"baseline", 0}, {"avx2", 1}, {"avx512", 2}, {"", 2}};
  for (const auto& c : cases) {
    const int expected = 10 + std::min(c.isa, cpu_best);
    EXPECT_EXIT(ExitWithBestUnder(c.cap), ::testing::ExitedWithCode(expected), "")
        << "SIGPROP_MAX_ISA='" << c.cap << "'";
  }
}

}  // namespace
}  // namespace sigprop
