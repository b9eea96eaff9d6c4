// What the batched SDE kernel is built from: its Gaussians equal RandomStream's ziggurat draw for
// draw (ZigguratStream), and its ν(ρ) polynomials stay within their documented bound of the
// definition. Deterministic; no statistical thresholds.
#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "common/rng.h"
#include "common/sde/covariance_sde.h"
#include "common/ziggurat_stream.h"

namespace sigprop {
namespace {

// Chunk sizes that end inside Philox blocks, inside the buffer and exactly on it; 10⁶ draws reach
// the tail (probability 2.7e-4 per draw) and the wedges (about 1%) many times.
TEST(ZigguratStreamTest, FillEqualsRepeatedGaussianZiggurat) {
  for (uint32_t sample : {0u, 7u, 123456u}) {
    RandomStream reference(0xC0FFEE12345ull, 3, sample, 9);
    ZigguratStream batched(0xC0FFEE12345ull, 3, sample, 9);
    std::vector<double> chunk(1000);
    int draws = 0, tails = 0;
    for (int size : {1, 7, 36, 64, 100, 333, 1000}) {
      for (int rep = 0; rep < 150; ++rep) {
        batched.Fill(chunk.data(), size);
        for (int i = 0; i < size; ++i, ++draws) {
          const double expected = reference.GaussianZiggurat();
          ASSERT_EQ(chunk[i], expected) << "sample " << sample << " draw " << draws;
          tails += std::abs(expected) > 3.442619855899;
        }
      }
    }
    EXPECT_GT(tails, 10) << "the tail branch was not exercised";
  }
}

// |ν_poly(ρ) − ν(ρ)| < 1e-15 against a long-double arccos, on a fine grid, both polynomial pieces,
// their junction at |ρ| = ½ and the clamped ends.
TEST(ShapedReluNuTest, PolynomialsStayWithinTheirBound) {
  double worst = 0.0;
  for (int k = -200000; k <= 200000; ++k) {
    const long double rho = k / 200000.0L;
    const long double exact = std::sqrt(1.0L - rho * rho) - rho * std::acos(rho);
    const double error = std::abs(ShapedReluNu(static_cast<double>(rho)) - static_cast<double>(exact));
    worst = std::max(worst, error);
  }
  for (double rho : {0.5, std::nextafter(0.5, 1.0), -0.5, std::nextafter(-0.5, -1.0)}) {
    const long double exact =
        std::sqrt(1.0L - static_cast<long double>(rho) * rho) - rho * std::acos(static_cast<long double>(rho));
    worst = std::max(worst, std::abs(ShapedReluNu(rho) - static_cast<double>(exact)));
  }
  EXPECT_LT(worst, 1e-15);
  EXPECT_EQ(ShapedReluNu(1.0), 0.0);
  EXPECT_NEAR(ShapedReluNu(-1.0), M_PI, 1e-15);
  EXPECT_EQ(ShapedReluNu(2.0), ShapedReluNu(1.0));
  EXPECT_EQ(ShapedReluNu(-2.0), ShapedReluNu(-1.0));
}

}  // namespace
}  // namespace sigprop
