// Distances between two empirical laws (SPEC §3 "Distances between two sets of samples"): the
// two-sample Kolmogorov–Smirnov test and the Wasserstein-1 distance. Non-finite values are dropped
// before comparing; if either sample is then empty, every result is NaN.
#ifndef SIGPROP_COMMON_STATS_DISTANCE_H_
#define SIGPROP_COMMON_STATS_DISTANCE_H_

#include <vector>

namespace sigprop {

struct KsResult {
  double statistic = 0;
  double p_value = 1;
};

// D = sup_x |F_a(x) − F_b(x)| for the empirical CDFs of a (size n₁) and b (size n₂); ties within
// and between the samples are handled by stepping both CDFs past each distinct value.
//
// p-value P(D' ≥ D) under H0 (both from one continuous law), two-sided:
// - exact when n₁·n₂ ≤ kKsExactMaxProduct: under H0 the merged order is a uniformly random
//   interleaving, i.e. a lattice path (0,0) → (n₁,n₂) drawn as an urn without replacement (from
//   (i,j) the next value is from a with probability (n₁ − i)/(n₁ + n₂ − i − j)). D' ≥ D iff the
//   path visits a point with |i·n₂ − j·n₁| ≥ D·n₁n₂ (compared in integers). A dynamic programme over
//   the lattice carries r(i,j) = P(path visits (i,j)) and q(i,j) = P(path visits (i,j) after
//   having been outside); p = q(n₁,n₂). Only sums of non-negative terms, so a small p keeps its
//   relative accuracy (no 1 − P cancellation). O(n₁n₂) time, O(n₂) memory. This is the law scipy's
//   ks_2samp(method="exact") computes; with ties it is the usual conservative approximation.
// - otherwise the asymptotic Kolmogorov law with Stephens' small-sample correction:
//   p = Q_KS((√nₑ + 0.12 + 0.11/√nₑ)·D), nₑ = n₁n₂/(n₁ + n₂) (Stephens 1970; Numerical Recipes
//   §14.3). scipy ≥ 1.5 uses a different finite-n approximation here, so only the exact branch is
//   comparable with it digit for digit.
KsResult KolmogorovSmirnov(std::vector<double> a, std::vector<double> b);

// The KS distance between two sub-stochastic laws: a's finite values plus `a_atoms` samples at
// +∞ (diverged paths, SPEC §3), likewise b; F counts all n + atoms samples, so
//   D = sup_x |F_a(x) − F_b(x)|, F_a(x) = #{a ≤ x}/(|a| + a_atoms),
// and the limit x → ∞ gives D ≥ |a_atoms/(|a| + a_atoms) − b_atoms/(|b| + b_atoms)|. This is the
// distance between the laws of a stopped process's terminal value, with stopping as one more
// outcome. Non-finite values of a, b are dropped, as in KolmogorovSmirnov; NaN when either side
// is then empty, atoms included.
double KsDistanceWithAtomAtInfinity(std::vector<double> a, int a_atoms, std::vector<double> b,
                                    int b_atoms);

// Largest n₁·n₂ for which KolmogorovSmirnov computes the exact p-value (≈ 3000 × 3000, some tens
// of milliseconds).
inline constexpr double kKsExactMaxProduct = 1e7;

// Survival function of the Kolmogorov distribution, Q_KS(λ) = P(K > λ) with
// K = sup_t |B(t)| for a Brownian bridge B:
//   Q_KS(λ) = 2 Σ_{k≥1} (−1)^{k−1} exp(−2k²λ²)                       (λ ≥ 1.18, fast there),
//   Q_KS(λ) = 1 − (√(2π)/λ) Σ_{k≥1} exp(−(2k − 1)²π²/(8λ²))          (λ < 1.18, fast there).
// Q_KS(λ) = 1 for λ ≤ 0.
double KolmogorovSurvival(double lambda);

// W₁ between the empirical laws of a and b: ∫ |F_a(x) − F_b(x)| dx, summed exactly over the
// intervals between consecutive merged order statistics (unequal sizes allowed).
double Wasserstein1(std::vector<double> a, std::vector<double> b);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_STATS_DISTANCE_H_
