#include "common/stats/distance.h"

#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "common/rng.h"

namespace sigprop {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> Normals(uint32_t sample, int n, double shift) {
  RandomStream stream(2024, 0, sample, 0);
  std::vector<double> x(n);
  for (double& v : x) v = stream.Gaussian() + shift;
  return x;
}

// Exact p-values by counting interleavings: under H0 each of the C(n₁ + n₂, n₁) rank orders is
// equally likely, and p is the fraction whose D is at least the observed one. Every count below
// was checked by enumerating all orders (Python, itertools.combinations); the first three also
// follow from the reflection principle. scipy.stats.ks_2samp(..., method="exact") gives the same
// numbers (it computes this law).
//   {1,2} vs {3,4}:             D = 1,    only aabb and bbaa reach it: p = 2/6.
//   {1,2,3} vs {4,5,6}:         D = 1,    p = 2/20.
//   {1,2,3,5} vs {4,6,7,8}:     D = 3/4, paths to (4,4) touching i − j = ±3, C(8,1) each, none
//                               touching both: p = 16/70.
//   {.1,.2,.3,.4,.5} vs {.35,.6}: D = 3/5, p = 12/21 (unequal sizes).
//   {1,3,6,7,9,10} vs {2,4,5,8,11,12,13}: D = 3/7, p = 744/1716.
TEST(KolmogorovSmirnovTest, ExactSmallSamples) {
  KsResult r = KolmogorovSmirnov({1, 2}, {3, 4});
  EXPECT_DOUBLE_EQ(r.statistic, 1.0);
  EXPECT_NEAR(r.p_value, 2.0 / 6.0, 1e-15);
  r = KolmogorovSmirnov({4, 5, 6}, {3, 1, 2});
  EXPECT_DOUBLE_EQ(r.statistic, 1.0);
  EXPECT_NEAR(r.p_value, 2.0 / 20.0, 1e-15);
  r = KolmogorovSmirnov({1, 2, 3, 5}, {4, 6, 7, 8});
  EXPECT_DOUBLE_EQ(r.statistic, 0.75);
  EXPECT_NEAR(r.p_value, 16.0 / 70.0, 1e-15);
  r = KolmogorovSmirnov({.1, .2, .3, .4, .5}, {.35, .6});
  EXPECT_NEAR(r.statistic, 0.6, 1e-15);
  EXPECT_NEAR(r.p_value, 12.0 / 21.0, 1e-15);
  r = KolmogorovSmirnov({1, 3, 6, 7, 9, 10}, {2, 4, 5, 8, 11, 12, 13});
  EXPECT_NEAR(r.statistic, 3.0 / 7.0, 1e-15);
  EXPECT_NEAR(r.p_value, 744.0 / 1716.0, 1e-14);
}

// Equal sizes n₁ = n₂ = n have the closed form of Gnedenko and Korolyuk (1951), by reflection:
//   P(D ≥ k/n) = 2 Σ_{j≥1} (−1)^{j−1} C(2n, n − jk)/C(2n, n),
// evaluated in exact rational arithmetic (Python fractions) for the constants below. The samples
// a = {0, …, n−1}, b = {k − ½, …, k + n − 3/2} have D = k/n exactly.
TEST(KolmogorovSmirnovTest, ExactMatchesGnedenkoKorolyuk) {
  struct Case { int n, k; double p; };
  for (const Case& c : {Case{50, 8, 0.5486851446031328}, Case{50, 15, 0.021707840690140517},
                        Case{200, 30, 0.0220923622208589},
                        Case{1000, 100, 8.974277567313007e-05}}) {
    std::vector<double> a(c.n), b(c.n);
    for (int i = 0; i < c.n; ++i) {
      a[i] = i;
      b[i] = c.k - 0.5 + i;
    }
    const KsResult r = KolmogorovSmirnov(a, b);
    EXPECT_DOUBLE_EQ(r.statistic, static_cast<double>(c.k) / c.n) << c.n << " " << c.k;
    EXPECT_NEAR(r.p_value / c.p, 1.0, 1e-10) << c.n << " " << c.k;
  }
}

// F_a steps to .25, .75, 1 at 1, 2, 3; F_b to .25, .75, 1 at 2, 3, 4: D = .5. Taking the tied 2s
// of a before the 2 of b would report .75.
TEST(KolmogorovSmirnovTest, TiesAreSteppedTogether) {
  EXPECT_DOUBLE_EQ(KolmogorovSmirnov({1, 2, 2, 3}, {2, 3, 3, 4}).statistic, 0.5);
  const KsResult same = KolmogorovSmirnov({1, 2, 2, 3}, {3, 2, 1, 2});
  EXPECT_DOUBLE_EQ(same.statistic, 0.0);
  EXPECT_DOUBLE_EQ(same.p_value, 1.0);
}

TEST(KolmogorovSmirnovTest, NonFiniteValuesAreDropped) {
  const KsResult clean = KolmogorovSmirnov({1, 2, 3, 5}, {4, 6, 7, 8});
  const KsResult dirty = KolmogorovSmirnov({1, kNaN, 2, 3, 5, kInf}, {-kInf, 4, 6, 7, 8});
  EXPECT_EQ(dirty.statistic, clean.statistic);
  EXPECT_EQ(dirty.p_value, clean.p_value);
  const KsResult empty = KolmogorovSmirnov({kNaN}, {1.0});
  EXPECT_TRUE(std::isnan(empty.statistic));
  EXPECT_TRUE(std::isnan(empty.p_value));
}

// Reference values from the two series of Q_KS summed to 200 terms in Python, each checked
// against the other (they are the two sides of Jacobi's theta identity); 1.3581 and 1.6276 are
// the tabulated 5% and 1% critical values of the Kolmogorov distribution.
TEST(KolmogorovSurvivalTest, PublishedValues) {
  EXPECT_NEAR(KolmogorovSurvival(0.3), 0.9999906941986655, 1e-12);
  EXPECT_NEAR(KolmogorovSurvival(0.5), 0.9639452436648751, 1e-12);
  EXPECT_NEAR(KolmogorovSurvival(0.8), 0.5441424115741981, 1e-12);
  EXPECT_NEAR(KolmogorovSurvival(1.0), 0.2699996716773546, 1e-12);
  EXPECT_NEAR(KolmogorovSurvival(1.18), 0.1234538094297657, 1e-12);
  EXPECT_NEAR(KolmogorovSurvival(1.3581), 0.05, 1e-6);
  EXPECT_NEAR(KolmogorovSurvival(1.6276), 0.01, 1e-5);
  EXPECT_NEAR(KolmogorovSurvival(2.0), 0.0006709252557797, 1e-14);
  EXPECT_DOUBLE_EQ(KolmogorovSurvival(0.0), 1.0);
}

// At moderate sizes the exact law and Stephens' approximation must agree. Two seeded cases in
// the range where p-values are read: 400 vs 300 normals shifted by 0.15 (p ≈ 0.30) and 1000 vs
// 1000 shifted by 0.05 (p ≈ 0.038). The discrete exact law differs from the continuous
// approximation by lattice effects of a few per cent (0.6% and 4.5% here); the tolerance is 10%.
TEST(KolmogorovSmirnovTest, ExactAgreesWithAsymptoticAtModerateSizes) {
  struct Case { int n1, n2; double shift; uint32_t seed_a, seed_b; };
  for (const Case& c : {Case{400, 300, 0.15, 1, 2}, Case{1000, 1000, 0.05, 30, 31}}) {
    const KsResult r = KolmogorovSmirnov(Normals(c.seed_a, c.n1, 0.0),
                                         Normals(c.seed_b, c.n2, c.shift));
    const double root_ne = std::sqrt(static_cast<double>(c.n1) * c.n2 / (c.n1 + c.n2));
    const double asymptotic =
        KolmogorovSurvival((root_ne + 0.12 + 0.11 / root_ne) * r.statistic);
    EXPECT_GT(r.p_value, 1e-3) << c.n1;
    EXPECT_LT(r.p_value, 0.5) << c.n1;
    EXPECT_NEAR(r.p_value / asymptotic, 1.0, 0.10) << c.n1;
  }
}

// Same law: under H0 p is uniform, so P(p < 1e-3) = 1e-3 is the false-alarm rate of each of the
// two "same" checks (fixed seeds, so a pass is reproducible). Shifted by 0.3 standard deviations,
// √nₑ·D is about 0.12·√nₑ ≥ 4 standard deviations of K for nₑ ≥ 1000: p must be tiny. The first
// pair takes the exact branch (1500² ≤ 1e7), the second the asymptotic one (5000² > 1e7).
TEST(KolmogorovSmirnovTest, SameLawVersusShiftedLaw) {
  ASSERT_LE(1500.0 * 1500.0, kKsExactMaxProduct);
  ASSERT_GT(5000.0 * 5000.0, kKsExactMaxProduct);
  for (int n : {1500, 5000}) {
    const std::vector<double> a = Normals(10, n, 0.0);
    EXPECT_GT(KolmogorovSmirnov(a, Normals(11, n, 0.0)).p_value, 1e-3) << n;
    const KsResult shifted = KolmogorovSmirnov(a, Normals(12, n, 0.3));
    EXPECT_LT(shifted.p_value, 1e-10) << n;
    EXPECT_GT(shifted.p_value, 0.0) << n;  // Small p keeps its digits (no 1 − P cancellation).
  }
}

// ∫|F_a − F_b|: {0} vs {1, 2}: 1 on [0,1), 1/2 on [1,2) → 1.5. {0, 1} vs {0.5}: 1/2 on [0, .5)
// and on [.5, 1) → 0.5.
// Hand case: a = {1, 2} and two atoms (n = 4), b = {1.5, 3} (n = 2). F_a − F_b on the intervals
// [1, 1.5), [1.5, 2), [2, 3), [3, ∞): 1/4 − 0, 1/4 − 1/2, 1/2 − 1/2, 1/2 − 1, so D = 1/2, the
// difference of the atoms' masses.
TEST(KsWithAtomsTest, HandCaseAndItsLimits) {
  EXPECT_DOUBLE_EQ(KsDistanceWithAtomAtInfinity({1, 2}, 2, {1.5, 3}, 0), 0.5);
  // Non-finite values are dropped, as KolmogorovSmirnov drops them.
  EXPECT_DOUBLE_EQ(KsDistanceWithAtomAtInfinity({1, kNaN, 2, -kInf}, 2, {kInf, 1.5, 3}, 0), 0.5);
  // Equal atoms over equal finite values: 0. No atoms: the ordinary KS statistic.
  EXPECT_DOUBLE_EQ(KsDistanceWithAtomAtInfinity({1, 2}, 3, {1, 2}, 3), 0.0);
  const std::vector<double> a = {0.3, 1.2, 2.5, 4.0}, b = {0.1, 0.2, 1.7};
  EXPECT_DOUBLE_EQ(KsDistanceWithAtomAtInfinity(a, 0, b, 0), KolmogorovSmirnov(a, b).statistic);
  // Only atoms on one side: 1; nothing at all: NaN.
  EXPECT_DOUBLE_EQ(KsDistanceWithAtomAtInfinity({}, 5, {1}, 0), 1.0);
  EXPECT_TRUE(std::isnan(KsDistanceWithAtomAtInfinity({}, 0, {1}, 0)));
}

TEST(Wasserstein1Test, HandCases) {
  EXPECT_DOUBLE_EQ(Wasserstein1({0}, {1, 2}), 1.5);
  EXPECT_DOUBLE_EQ(Wasserstein1({1, 0}, {0.5}), 0.5);
  EXPECT_DOUBLE_EQ(Wasserstein1({0.5}, {1, 0}), 0.5);
  EXPECT_DOUBLE_EQ(Wasserstein1({3, 1, 2}, {2, 3, 1}), 0.0);
}

// A translated copy: every quantile moves by s, so W₁ = s exactly (up to rounding).
TEST(Wasserstein1Test, ShiftGivesTheShift) {
  const std::vector<double> a = Normals(20, 1000, 0.0);
  std::vector<double> b = a;
  for (double& x : b) x += 0.7;
  EXPECT_NEAR(Wasserstein1(a, b), 0.7, 1e-12);
  EXPECT_NEAR(Wasserstein1(b, a), 0.7, 1e-12);
}

TEST(Wasserstein1Test, NonFiniteValuesAreDropped) {
  EXPECT_DOUBLE_EQ(Wasserstein1({0, kNaN}, {kInf, 1, 2}), 1.5);
  EXPECT_TRUE(std::isnan(Wasserstein1({}, {1.0})));
}

}  // namespace
}  // namespace sigprop
