// The largest and smallest eigenvalues of a symmetric matrix without computing the others: what
// the default per-sample statistics need (stable_rank reads λ_max, log_det reads every eigenvalue
// only through det V and its positive-definiteness test λ_min > m·ε·λ_max). Issue 18 measured the
// full eigenvalue solve (Eigen's implicit-shift QR on the tridiagonal form) at about half of an SDE
// run that records every layer; this path keeps the Householder tridiagonalisation and replaces
// the QR iteration with O(m) work per step.
#ifndef SIGPROP_COMMON_STATS_EXTREME_EIGENVALUES_H_
#define SIGPROP_COMMON_STATS_EXTREME_EIGENVALUES_H_

#include <limits>

#include "common/linalg.h"
#include "common/stats/unscaled_range.h"

namespace sigprop {

struct ExtremeEigenvalues {
  double largest = 0.0;  // λ_max(V).
  // log det V = Σ_k log λ_k when V is numerically positive definite, λ_min > m·ε·λ_max (below
  // that an eigenvalue is rounding noise), else −inf: the statistic `log_det` (covariance_stats.h).
  double log_det = 0.0;
};

// What λ_min must exceed for V (m×m) to count as positive definite, m·ε·λ_max: below it an
// eigenvalue is rounding noise of any backward-stable solver. log_det is −inf otherwise, by
// whichever path computed it.
inline double DefinitenessFloor(int m, double largest) {
  return m * std::numeric_limits<double>::epsilon() * largest;
}

// Eigenvalues of the symmetric tridiagonal T with diagonal `diagonal` (n entries) and squared
// off-diagonal `off_squared` (n − 1 entries, b_i²): λ_max(T) by Laguerre's method on
// p(x) = det(xI − T) started above Gershgorin's bound. For a polynomial whose roots are all real,
// Laguerre's iteration from above the largest root decreases monotonically to it (cubically for a
// simple root, linearly with a factor < 1/2 at a cluster), and xI − T is positive definite exactly
// when x > λ_max, so every iterate is checked by its pivots; a step that lands at or below λ_max
// (rounding, at convergence) is finished by bisection on that test. Accurate to a few ulps of
// ‖T‖ (pivots of a shifted tridiagonal are backward stable, as in Sturm-sequence bisection).
double LargestTridiagonalEigenvalue(const double* diagonal, const double* off_squared, int n);

// λ_max and log det of the symmetric V (m×m, m ≥ 1; finite entries) through its tridiagonal form
// T (Householder reduction, workspace kept per thread): log det from T's LDLᵀ pivots where
// λ_min > DefinitenessFloor, which a Sturm count at the floor decides (the signs of the leading
// minors of T − floor·I), without computing λ_min. A V whose largest diagonal entry lies outside
// [kUnscaledFrom, kUnscaledTo] (unscaled_range.h: a signal that vanished or exploded over many
// layers) is reduced as 2^−e·V, e = ScaleExponent(v), exactly, and the results scaled back: the
// recurrence's minors and the Frobenius bound are products of entries, which under- or overflow
// from about 10^±150.
ExtremeEigenvalues ComputeExtremeEigenvalues(const Matrix& v);

// 0 where V's largest |diagonal entry| is in [kUnscaledFrom, kUnscaledTo] (or 0, or not finite),
// else that entry's binary exponent (std::ilogb).
int ScaleExponent(const Matrix& v);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_STATS_EXTREME_EIGENVALUES_H_
