#include "common/stats/extreme_eigenvalues.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace sigprop {
namespace {

constexpr double kEpsilon = std::numeric_limits<double>::epsilon();

// Is xI − T positive definite, i.e. x > λ_max(T)? Its LDLᵀ pivots
// d_1 = x − a_1, d_i = x − a_i − b²_{i−1}/d_{i−1} are all positive exactly then.
bool AboveLargest(const double* a, const double* c, int n, double x) {
  // Rounded as LaguerreStep rounds them (c·(1/d)), so that both agree on every x.
  double d = x - a[0];
  if (!(d > 0.0)) return false;
  for (int i = 1; i < n; ++i) {
    d = x - a[i] - c[i - 1] * (1.0 / d);
    if (!(d > 0.0)) return false;
  }
  return true;
}

// One Laguerre step for p(x) = det(xI − T) at an x above λ_max(T): with r_i = d_i'/d_i and
// s_i = d_i''/d_i from the pivots' recurrence (d_i' = 1 + b²u·r_{i−1}, d_i'' = b²u(s_{i−1} −
// 2r²_{i−1}), u = 1/d_{i−1}), G = p'/p = Σ r_i = Σ_k 1/(x − λ_k) and
// H = −G' = Σ (r_i² − s_i) = Σ_k 1/(x − λ_k)². Returns the step n/(G + √((n−1)(nH − G²))) > 0,
// or 0 when some pivot is not positive (x is not above λ_max after all).
double LaguerreStep(const double* a, const double* c, int n, double x) {
  double d = x - a[0];
  if (!(d > 0.0)) return 0.0;
  double u = 1.0 / d;  // 1/d_{i−1}: one division per pivot, the recurrence's critical path.
  double r = u;
  double s = 0.0;
  double g = r;
  double h = r * r;
  for (int i = 1; i < n; ++i) {
    const double cu = c[i - 1] * u;
    d = x - a[i] - cu;
    if (!(d > 0.0)) return 0.0;
    const double first = 1.0 + cu * r;             // d_i'
    const double second = cu * (s - 2.0 * r * r);  // d_i''
    u = 1.0 / d;
    r = first * u;
    s = second * u;
    g += r;
    h += r * r - s;
  }
  const double spread = std::max(0.0, (n - 1) * (n * h - g * g));
  return n / (g + std::sqrt(spread));
}

}  // namespace

double LargestTridiagonalEigenvalue(const double* a, const double* c, int n) {
  if (n == 1) return a[0];
  // Gershgorin: λ_max ≤ max_i (a_i + |b_{i−1}| + |b_i|); and λ_max ≥ max_i a_i.
  // λ_max ≤ ‖T‖_F as well, the tighter of the two near rank one (the collapsed V).
  double upper = -std::numeric_limits<double>::infinity();
  double lower = upper;
  double norm = 0.0;
  double frobenius_squared = 0.0;
  for (int i = 0; i < n; ++i) {
    const double radius =
        (i > 0 ? std::sqrt(c[i - 1]) : 0.0) + (i + 1 < n ? std::sqrt(c[i]) : 0.0);
    upper = std::max(upper, a[i] + radius);
    lower = std::max(lower, a[i]);
    norm = std::max(norm, std::abs(a[i]) + radius);
    frobenius_squared += a[i] * a[i] + (i + 1 < n ? 2.0 * c[i] : 0.0);
  }
  if (norm == 0.0) return 0.0;
  upper = std::min(upper, std::sqrt(frobenius_squared));
  const double tolerance = 4.0 * kEpsilon * norm;
  // Strictly above λ_max, so that the first pivots are positive.
  double above = upper + tolerance;
  for (int iteration = 0; iteration < 100; ++iteration) {
    const double step = LaguerreStep(a, c, n, above);
    if (step == 0.0) {
      // A pivot at `above` that AboveLargest found positive is not, as rounded here (fused
      // multiply-adds may differ): `above` is within rounding of λ_max. At the start, the bound
      // itself was not above it: bisect.
      if (iteration > 0) return above;
      break;
    }
    const double next = std::max(lower, above - step);
    if (above - next <= tolerance) return next;
    if (!AboveLargest(a, c, n, next)) {
      // At or below λ_max. In exact arithmetic a step from above never passes the root, so this
      // is rounding where the step lands on it: from within 10⁻³‖T‖, cubic convergence leaves
      // `next` within rounding of λ_max. A longer step that passed it is finished by bisection.
      if (above - next <= 1e-3 * norm) return next;
      lower = next;
      break;
    }
    above = next;
  }
  while (above - lower > tolerance) {
    const double middle = 0.5 * (above + lower);
    if (AboveLargest(a, c, n, middle)) {
      above = middle;
    } else {
      lower = middle;
    }
  }
  return 0.5 * (above + lower);
}

ExtremeEigenvalues ComputeExtremeEigenvalues(const Matrix& v) {
  const int m = static_cast<int>(v.rows());
  thread_local Eigen::Tridiagonalization<Eigen::MatrixXd> reduction;
  thread_local std::vector<double> diagonal, off_squared;
  diagonal.resize(m);
  off_squared.resize(std::max(0, m - 1));
  if (m > 1) {
    reduction.compute(v);
    const auto& packed = reduction.packedMatrix();  // Diagonal and sub-diagonal of T.
    for (int i = 0; i < m; ++i) diagonal[i] = packed(i, i);
    for (int i = 0; i + 1 < m; ++i) off_squared[i] = packed(i + 1, i) * packed(i + 1, i);
  } else {
    diagonal[0] = v(0, 0);
  }

  ExtremeEigenvalues out;
  out.largest = LargestTridiagonalEigenvalue(diagonal.data(), off_squared.data(), m);
  out.log_det = -std::numeric_limits<double>::infinity();
  const double threshold = m * kEpsilon * out.largest;  // λ_min must exceed it.
  if (!(out.largest > 0.0)) return out;

  // log det T from its pivots (all positive iff T is positive definite); the product is taken in
  // pieces so that it cannot overflow.
  double log_det = 0.0;
  double product = 1.0;
  double d = 0.0;
  double trace = 0.0;
  for (int i = 0; i < m; ++i) {
    d = diagonal[i] - (i > 0 ? off_squared[i - 1] / d : 0.0);
    if (!(d > 0.0)) return out;
    trace += diagonal[i];
    product *= d;
    if (product > 1e150 || product < 1e-150) {
      log_det += std::log(product);
      product = 1.0;
    }
  }
  log_det += std::log(product);

  // Is λ_min > threshold? By AM–GM the other m − 1 eigenvalues multiply to at most
  // (tr/(m − 1))^{m−1}, so λ_min ≥ det·((m − 1)/tr)^{m−1}: when that bound clears the threshold
  // (a V far from singular, the usual case) λ_min is not needed; otherwise compute it.
  const double log_lower_bound =
      m > 1 ? log_det + (m - 1) * std::log((m - 1) / trace) : log_det;
  bool definite = log_lower_bound > std::log(threshold);
  if (!definite) {
    for (int i = 0; i < m; ++i) diagonal[i] = -diagonal[i];
    const double smallest =
        -LargestTridiagonalEigenvalue(diagonal.data(), off_squared.data(), m);
    definite = smallest > threshold;
  }
  if (definite) out.log_det = log_det;
  return out;
}

}  // namespace sigprop
