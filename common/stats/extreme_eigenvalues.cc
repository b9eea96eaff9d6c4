#include "common/stats/extreme_eigenvalues.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace sigprop {
namespace {

constexpr double kEpsilon = std::numeric_limits<double>::epsilon();

// One Laguerre step for p(x) = det(xI − T) at an x above λ_max(T). The leading principal minors
// p_i of xI − T follow the three-term recurrence p_i = (x − a_i)p_{i−1} − b²_{i−1}p_{i−2}
// (p_0 = 1, p_{−1} = 0), and their first and second derivatives in x follow by differentiating it:
// multiply-adds only, one division a step (the ratio form d_i = p_i/p_{i−1} needs one a row, a
// chain of dependent divisions). x is above λ_max exactly when every p_i > 0. The three are
// rescaled together when p_i leaves [10⁻¹⁰⁰, 10¹⁰⁰]: G and H read only ratios. With
// G = p'/p = Σ_k 1/(x − λ_k) and H = G² − p''/p = Σ_k 1/(x − λ_k)², returns the step
// n/(G + √((n−1)(nH − G²))) > 0, or 0 when some p_i is not positive (x is not above λ_max).
double LaguerreStep(const double* a, const double* c, int n, double x) {
  double p0 = 1.0, d0 = 0.0, e0 = 0.0;              // p_{i−1} and its derivatives.
  double p1 = x - a[0], d1 = 1.0, e1 = 0.0;         // p_i, p_i', p_i''.
  if (!(p1 > 0.0)) return 0.0;
  for (int i = 1; i < n; ++i) {
    const double shift = x - a[i];
    const double p2 = shift * p1 - c[i - 1] * p0;
    const double d2 = p1 + shift * d1 - c[i - 1] * d0;
    const double e2 = 2.0 * d1 + shift * e1 - c[i - 1] * e0;
    if (!(p2 > 0.0)) return 0.0;
    p0 = p1, d0 = d1, e0 = e1;
    p1 = p2, d1 = d2, e1 = e2;
    if (p1 > 1e100 || p1 < 1e-100) {
      const double scale = 1.0 / p1;
      p0 *= scale, d0 *= scale, e0 *= scale;
      p1 = 1.0, d1 *= scale, e1 *= scale;
    }
  }
  const double inverse = 1.0 / p1;  // One division, not two.
  const double g = d1 * inverse;
  const double h = g * g - e1 * inverse;
  const double spread = std::max(0.0, (n - 1) * (n * h - g * g));
  return n / (g + std::sqrt(spread));
}

// Is xI − T positive definite, i.e. x > λ_max(T)? The same leading minors LaguerreStep tests, so
// the iteration and its bisection fallback never disagree on a point.
bool AboveLargest(const double* a, const double* c, int n, double x) {
  return LaguerreStep(a, c, n, x) > 0.0;
}

// Householder reduction of the symmetric m×m matrix `w` (row-major, full storage; overwritten) to
// the tridiagonal T = QᵀWQ: its diagonal into `diagonal`, its squared off-diagonal into
// `off_squared` (Q is not formed). Column k's reflector H = I − βvvᵀ maps the part below the
// diagonal to αe_1, |α| = its norm; the trailing block W₂₂ becomes HW₂₂H = W₂₂ − vqᵀ − qvᵀ with
// p = βW₂₂v and q = p − (β/2)(pᵀv)v. The same arithmetic as Eigen's Tridiagonalization, written
// for the small m of the statistics: at m = 8 Eigen's general blocked version spent 0.5 µs a
// matrix, most of it outside the arithmetic.
void Tridiagonalise(double* w, int m, double* v, double* p, double* diagonal,
                    double* off_squared) {
  for (int k = 0; k + 2 < m; ++k) {
    const int r = m - k - 1;  // Rows below the diagonal in column k.
    double tail = 0.0;
    for (int i = 1; i < r; ++i) {
      v[i] = w[(k + 1 + i) * m + k];
      tail += v[i] * v[i];
    }
    const double head = w[(k + 1) * m + k];
    diagonal[k] = w[k * m + k];
    if (tail == 0.0) {  // Already tridiagonal in this column.
      off_squared[k] = head * head;
      continue;
    }
    const double alpha = -std::copysign(std::sqrt(head * head + tail), head);
    v[0] = head - alpha;
    const double beta = 2.0 / (v[0] * v[0] + tail);
    double* w22 = w + (k + 1) * m + (k + 1);
    double pv = 0.0;
    for (int i = 0; i < r; ++i) {
      double sum = 0.0;
      for (int j = 0; j < r; ++j) sum += w22[i * m + j] * v[j];
      p[i] = beta * sum;
      pv += p[i] * v[i];
    }
    const double half = 0.5 * beta * pv;
    for (int i = 0; i < r; ++i) p[i] -= half * v[i];  // q
    for (int i = 0; i < r; ++i) {
      for (int j = 0; j < r; ++j) w22[i * m + j] -= v[i] * p[j] + p[i] * v[j];
    }
    off_squared[k] = alpha * alpha;
  }
  if (m >= 2) {
    diagonal[m - 2] = w[(m - 2) * m + (m - 2)];
    const double last = w[(m - 1) * m + (m - 2)];
    off_squared[m - 2] = last * last;
  }
  diagonal[m - 1] = w[(m - 1) * m + (m - 1)];
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
  // Invariant: `above` > λ_max (its leading minors were positive). The step from each point also
  // tests that point, so a landing point is checked by the next step's own recurrence.
  double above = upper + tolerance;  // Strictly above λ_max, so that the first pivots are positive.
  double step = LaguerreStep(a, c, n, above);
  if (step > 0.0) {
    for (int iteration = 0; iteration < 100; ++iteration) {
      const double next = std::max(lower, above - step);
      if (above - next <= tolerance) return next;
      const double next_step = LaguerreStep(a, c, n, next);
      if (next_step == 0.0) {
        // `next` is at or below λ_max. In exact arithmetic a step from above never passes the
        // root, so this is rounding where the step lands on it: from within 10⁻³‖T‖, cubic
        // convergence leaves `next` within rounding of λ_max. A longer step that passed it is
        // finished by bisection.
        if (above - next <= 1e-3 * norm) return next;
        lower = next;
        break;
      }
      above = next;
      step = next_step;
    }
  }
  // Also where the bound itself was not above λ_max (rounding): bisection on the minors' sign.
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

namespace {

// ComputeExtremeEigenvalues of scale·V (scale a power of two, so that the product is exact).
ExtremeEigenvalues ExtremeEigenvaluesOfScaled(const Matrix& v, double scale) {
  const int m = static_cast<int>(v.rows());
  thread_local std::vector<double> work, reflector, image, diagonal, off_squared;
  work.resize(static_cast<std::size_t>(m) * m);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < m; ++j) work[static_cast<std::size_t>(i) * m + j] = v(i, j) * scale;
  }
  reflector.resize(m);
  image.resize(m);
  diagonal.resize(m);
  off_squared.resize(std::max(0, m - 1));
  Tridiagonalise(work.data(), m, reflector.data(), image.data(), diagonal.data(),
                 off_squared.data());

  ExtremeEigenvalues out;
  out.largest = LargestTridiagonalEigenvalue(diagonal.data(), off_squared.data(), m);
  out.log_det = -std::numeric_limits<double>::infinity();
  const double threshold = DefinitenessFloor(m, out.largest);  // λ_min must exceed it.
  if (!(out.largest > 0.0)) return out;

  // log det T from its pivots (all positive iff T is positive definite); the product is taken in
  // pieces so that it cannot overflow.
  double log_det = 0.0;
  double product = 1.0;
  double d = 0.0;
  for (int i = 0; i < m; ++i) {
    d = diagonal[i] - (i > 0 ? off_squared[i - 1] / d : 0.0);
    if (!(d > 0.0)) return out;
    product *= d;
    if (product > 1e150 || product < 1e-150) {
      log_det += std::log(product);
      product = 1.0;
    }
  }
  log_det += std::log(product);

  // Is λ_min > threshold θ? Exactly when every leading minor of T − θI is positive (a Sturm
  // count, as LAPACK's bisection counts eigenvalues), i.e. when −θ is above λ_max(−T): one pass of
  // LaguerreStep's recurrence, which rescales its minors where they would leave double's range.
  // λ_min itself is not needed (computing it was a second Laguerre iteration for most collapsing
  // covariances, issue 18).
  for (int i = 0; i < m; ++i) diagonal[i] = -diagonal[i];
  const bool definite = AboveLargest(diagonal.data(), off_squared.data(), m, -threshold);
  if (definite) out.log_det = log_det;
  return out;
}

}  // namespace

int ScaleExponent(const Matrix& v) {
  double largest_diagonal = 0.0;
  for (int i = 0; i < v.rows(); ++i) {
    largest_diagonal = std::max(largest_diagonal, std::abs(v(i, i)));
  }
  if (!(largest_diagonal > 0.0) || !std::isfinite(largest_diagonal)) return 0;
  if (largest_diagonal >= kUnscaledFrom && largest_diagonal <= kUnscaledTo) return 0;
  return std::ilogb(largest_diagonal);
}

ExtremeEigenvalues ComputeExtremeEigenvalues(const Matrix& v) {
  const int exponent = ScaleExponent(v);
  if (exponent == 0) return ExtremeEigenvaluesOfScaled(v, 1.0);
  ExtremeEigenvalues out = ExtremeEigenvaluesOfScaled(v, std::ldexp(1.0, -exponent));
  out.largest = std::ldexp(out.largest, exponent);
  // log det V = log det(2^−e·V) + m·e·log 2 (−∞ stays −∞).
  out.log_det += static_cast<double>(v.rows()) * exponent * std::log(2.0);
  return out;
}

}  // namespace sigprop
