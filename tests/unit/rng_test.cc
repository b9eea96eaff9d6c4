#include "common/rng.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <Random123/philox.h>
#include <iostream>
#include <string>

#include <gtest/gtest.h>

#include "common/cpu_features.h"
#include "common/philox_blocks.h"

namespace sigprop {
namespace {

// Every batched Philox implementation against Random123's, block by block, for every batch
// length, with counters whose first word wraps inside the batch. AVX2 and AVX-512 only where the
// CPU has them (they would fault elsewhere); PhiloxBlocks dispatches to the widest there.
TEST(PhiloxBlocksTest, EveryImplementationEqualsRandom123) {
  // Which vector paths this CPU ran, in the log and in the XML report (issue 22: no silent skips).
  const std::string isas = std::string("portable") + (CpuHasAvx2() ? ", avx2" : "") +
                           (CpuHasAvx512() ? ", avx512" : "");
  std::cout << "[ isa      ] PhiloxBlocks exercised: " << isas << std::endl;
  ::testing::Test::RecordProperty("isas", isas);
  r123::Philox4x32 philox;
  const uint32_t key[2] = {0x01234567u, 0x89ABCDEFu};
  for (uint32_t c0 : {0u, 12345u, 0xFFFFFFF8u}) {
    const uint32_t counter[4] = {c0, 7u, 0xDEADBEEFu, 3u};
    for (int count = 1; count <= kPhiloxBatch; ++count) {
      uint32_t portable[4 * kPhiloxBatch], avx2[4 * kPhiloxBatch], avx512[4 * kPhiloxBatch],
          dispatched[4 * kPhiloxBatch];
      PhiloxBlocksPortable(counter, key, count, portable);
      if (CpuHasAvx2()) PhiloxBlocksAvx2(counter, key, count, avx2);
      if (CpuHasAvx512()) PhiloxBlocksAvx512(counter, key, count, avx512);
      PhiloxBlocks(counter, key, count, dispatched);
      for (int b = 0; b < count; ++b) {
        const r123::Philox4x32::ctr_type ctr = {{c0 + static_cast<uint32_t>(b), 7u, 0xDEADBEEFu, 3u}};
        const auto want = philox(ctr, {{key[0], key[1]}});
        for (int w = 0; w < 4; ++w) {
          ASSERT_EQ(portable[4 * b + w], want.v[w]) << c0 << " " << count << " " << b;
          if (CpuHasAvx2()) ASSERT_EQ(avx2[4 * b + w], want.v[w]) << c0 << " " << count << " " << b;
          if (CpuHasAvx512()) {
            ASSERT_EQ(avx512[4 * b + w], want.v[w]) << c0 << " " << count << " " << b;
          }
          ASSERT_EQ(dispatched[4 * b + w], want.v[w]) << c0 << " " << count << " " << b;
        }
      }
    }
  }
}

TEST(RandomStreamTest, SameCoordinatesSameDraws) {
  RandomStream a(42, 3, 7, 11), b(42, 3, 7, 11);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.Gaussian(), b.Gaussian());
}

TEST(RandomStreamTest, EveryCoordinateChangesTheStream) {
  const double base = RandomStream(42, 3, 7, 11).Uniform();
  EXPECT_NE(base, RandomStream(43, 3, 7, 11).Uniform());
  EXPECT_NE(base, RandomStream(42, 4, 7, 11).Uniform());
  EXPECT_NE(base, RandomStream(42, 3, 8, 11).Uniform());
  EXPECT_NE(base, RandomStream(42, 3, 7, 12).Uniform());
  EXPECT_NE(base, RandomStream((uint64_t{1} << 32) | 42, 3, 7, 11).Uniform());
}

TEST(RandomStreamTest, FillGaussianMatchesSingleDraws) {
  RandomStream a(1, 0, 0, 0), b(1, 0, 0, 0);
  std::vector<double> bulk(33);
  a.FillGaussian(bulk.data(), bulk.size());
  for (double x : bulk) EXPECT_EQ(x, b.Gaussian());
}

// The batched path (its own Philox rounds, leftover words of a block, a pending spare) against
// the one-at-a-time path, after uniforms that leave the stream mid-block.
TEST(RandomStreamTest, FillGaussianMatchesSingleDrawsAtEveryAlignment) {
  for (int uniforms = 0; uniforms < 3; ++uniforms) {
    for (int singles = 0; singles < 2; ++singles) {
      RandomStream a(0xABCDEF0123ull, 5, 6, 7), b(0xABCDEF0123ull, 5, 6, 7);
      for (int k = 0; k < uniforms; ++k) ASSERT_EQ(a.Uniform(), b.Uniform());
      for (int k = 0; k < singles; ++k) ASSERT_EQ(a.Gaussian(), b.Gaussian());
      for (std::size_t size : {1, 2, 31, 32, 33, 1000}) {
        std::vector<double> bulk(size);
        a.FillGaussian(bulk.data(), bulk.size());
        for (double x : bulk) ASSERT_EQ(x, b.Gaussian()) << uniforms << " " << singles << " " << size;
        ASSERT_EQ(a.Uniform(), b.Uniform());
      }
    }
  }
}

// The batched one-word ziggurat against one-at-a-time draws, after uniforms and single draws that
// leave the stream mid-block; 100,000 draws take the wedge (~1%) and the tail (~58) branches too.
TEST(RandomStreamTest, FillGaussianZigguratOneWordMatchesSingleDrawsAtEveryAlignment) {
  for (int uniforms = 0; uniforms < 3; ++uniforms) {
    for (int singles = 0; singles < 2; ++singles) {
      RandomStream a(0x5EED5EEDull, 2, 9, 4), b(0x5EED5EEDull, 2, 9, 4);
      for (int k = 0; k < uniforms; ++k) ASSERT_EQ(a.Uniform(), b.Uniform());
      for (int k = 0; k < singles; ++k) {
        ASSERT_EQ(a.GaussianZigguratOneWord(), b.GaussianZigguratOneWord());
      }
      for (std::size_t size : {1, 2, 3, 5, 63, 64, 65, 100000}) {
        std::vector<double> bulk(size);
        a.FillGaussianZigguratOneWord(bulk.data(), bulk.size());
        for (double x : bulk) {
          ASSERT_EQ(x, b.GaussianZigguratOneWord()) << uniforms << " " << singles << " " << size;
        }
        ASSERT_EQ(a.Uniform(), b.Uniform());
      }
    }
  }
}

// The strided fill and the fill of several streams at once against one-at-a-time draws: the same
// values in the same slots, the streams left where single draws leave them (the next Uniform()
// agrees), for fresh streams (every other round) and streams left mid-block (those fall back to
// the plain fill), for sizes that end inside blocks and batches, and over 300 rounds of 100 draws
// from 11 streams, so that wedges at a batch's end and tails (5.8e-4 a draw) occur.
TEST(RandomStreamTest, FillGaussianZigguratOneWordEachMatchesSingleDraws) {
  constexpr int kStreams = 11;  // More than one group of eight.
  constexpr std::size_t kStride = 13;
  for (std::size_t size : {1, 3, 36, 64, 100, 131}) {
    std::vector<RandomStream> each, single;
    for (int s = 0; s < kStreams; ++s) {
      each.emplace_back(0xABCDEF01ull, 5, 100 + s, 7);
      single.emplace_back(0xABCDEF01ull, 5, 100 + s, 7);
      for (int k = 0; k < s % 3; ++k) ASSERT_EQ(each[s].Uniform(), single[s].Uniform());
    }
    std::vector<double> out(size * kStride, -1.0);
    RandomStream* streams[kStreams];
    double* outs[kStreams];
    for (int s = 0; s < kStreams; ++s) {
      streams[s] = &each[s];
      outs[s] = out.data() + s;
    }
    const int rounds = size == 100 ? 300 : 20;
    for (int round = 0; round < rounds; ++round) {
      if (round % 2 == 1) {  // Fresh streams, as the SDE sampler's every layer: all batched.
        for (int s = 0; s < kStreams; ++s) {
          const uint32_t layer = 1000 + static_cast<uint32_t>(round);
          each[s] = RandomStream(0xABCDEF01ull, 5, 100 + s, layer);
          single[s] = RandomStream(0xABCDEF01ull, 5, 100 + s, layer);
        }
      }
      RandomStream::FillGaussianZigguratOneWordEach(streams, outs, kStreams, size, kStride);
      for (int s = 0; s < kStreams; ++s) {
        for (std::size_t i = 0; i < size; ++i) {
          ASSERT_EQ(out[i * kStride + s], single[s].GaussianZigguratOneWord())
              << "size " << size << " round " << round << " stream " << s << " draw " << i;
        }
      }
    }
    for (int s = 0; s < kStreams; ++s) ASSERT_EQ(each[s].Uniform(), single[s].Uniform());
    // The slots between the strided values are untouched.
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (i % kStride >= static_cast<std::size_t>(kStreams)) ASSERT_EQ(out[i], -1.0) << i;
    }
  }
}

// The polynomial transform against libm: Box–Muller pairs to a few ulps.
TEST(RandomStreamTest, TransformAgreesWithLibm) {
  RandomStream a(3, 0, 0, 0), b(3, 0, 0, 0);
  for (int i = 0; i < 100000; ++i) {
    const double u1 = b.Uniform(), u2 = b.Uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double x = a.Gaussian(), y = a.Gaussian();
    ASSERT_NEAR(x, r * std::cos(2.0 * M_PI * u2), 1e-14 * (1.0 + r)) << i;
    ASSERT_NEAR(y, r * std::sin(2.0 * M_PI * u2), 1e-14 * (1.0 + r)) << i;
  }
}

// Moments of N(0,1) from 200,000 draws: the standard error of the mean is 1/sqrt(N) = 0.0022,
// of the second moment sqrt(2/N) = 0.0032, of the fourth sqrt(96/N) = 0.022. Tolerances are
// 5 sigma: false-alarm rate about 6e-7 per check.
TEST(RandomStreamTest, GaussianMoments) {
  RandomStream s(2026, 0, 0, 0);
  const int n = 200000;
  double m1 = 0, m2 = 0, m4 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = s.Gaussian();
    m1 += x;
    m2 += x * x;
    m4 += x * x * x * x;
  }
  m1 /= n; m2 /= n; m4 /= n;
  EXPECT_NEAR(m1, 0.0, 5 * 0.0022);
  EXPECT_NEAR(m2, 1.0, 5 * 0.0032);
  EXPECT_NEAR(m4, 3.0, 5 * 0.022);
}

// χ²(k) has mean k and variance 2k; 100,000 draws give a standard error sqrt(2k/N) for the mean.
// 5 sigma as above. k = 0.7 exercises the shape < 1 branch.
TEST(RandomStreamTest, ChiSquareMeanAndVariance) {
  for (double k : {0.7, 1.0, 3.0, 47.0}) {
    RandomStream s(9, 1, 2, 3);
    const int n = 100000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; ++i) {
      const double x = s.ChiSquare(k);
      ASSERT_GT(x, 0.0);
      sum += x;
      sum2 += x * x;
    }
    const double mean = sum / n;
    const double var = sum2 / n - mean * mean;
    EXPECT_NEAR(mean, k, 5 * std::sqrt(2 * k / n)) << "k=" << k;
    // Var of the sample variance ≈ (μ4 − σ⁴)/N with μ4 = 12k(k+4)+... ; a loose 10% band suffices.
    EXPECT_NEAR(var / (2 * k), 1.0, 0.1) << "k=" << k;
  }
}

// The ziggurat draws against the N(0,1) CDF: one-sample KS on 200,000 draws, rejected above
// 1.95/sqrt(N) (the Kolmogorov law's 0.001 quantile: false-alarm rate 1e-3); the tail beyond the
// ziggurat's base r = 3.4426 (its separate branch) holds 2(1 − Φ(r)) = 5.76e-4 of the mass,
// checked to 5 binomial standard errors; and moments as in GaussianMoments.
TEST(RandomStreamTest, GaussianZigguratOneWordIsStandardNormal) {
  RandomStream s(2027, 0, 0, 0);
  const int n = 200000;
  std::vector<double> x(n);
  double m1 = 0, m2 = 0, m4 = 0;
  int tail = 0;
  for (int i = 0; i < n; ++i) {
    x[i] = s.GaussianZigguratOneWord();
    m1 += x[i];
    m2 += x[i] * x[i];
    m4 += x[i] * x[i] * x[i] * x[i];
    tail += std::abs(x[i]) > 3.442619855899;
  }
  std::sort(x.begin(), x.end());
  double d = 0;
  for (int i = 0; i < n; ++i) {
    const double cdf = 0.5 * std::erfc(-x[i] / std::sqrt(2.0));
    d = std::max({d, cdf - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - cdf});
  }
  EXPECT_LT(d, 1.95 / std::sqrt(static_cast<double>(n)));
  const double p_tail = 5.76e-4;
  EXPECT_NEAR(tail, n * p_tail, 5 * std::sqrt(n * p_tail * (1 - p_tail)));
  EXPECT_NEAR(m1 / n, 0.0, 5 * 0.0022);
  EXPECT_NEAR(m2 / n, 1.0, 5 * 0.0032);
  EXPECT_NEAR(m4 / n, 3.0, 5 * 0.022);
}

}  // namespace
}  // namespace sigprop
