#include "common/stats/distance.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace sigprop {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int64_t AbsoluteValue(int64_t x) { return x < 0 ? -x : x; }

void DropNonFiniteAndSort(std::vector<double>* x) {
  x->erase(std::remove_if(x->begin(), x->end(), [](double v) { return !std::isfinite(v); }),
           x->end());
  std::sort(x->begin(), x->end());
}

// max over the merged sweep of |i·n₂ − j·n₁|, i, j the counts of a and b at most x, evaluated
// after each distinct value; D = result/(n₁n₂).
int64_t ScaledKsDistance(const std::vector<double>& a, const std::vector<double>& b) {
  const int64_t n1 = a.size(), n2 = b.size();
  int64_t i = 0, j = 0, largest = 0;
  while (i < n1 && j < n2) {
    const double x = std::min(a[i], b[j]);
    while (i < n1 && a[i] == x) ++i;
    while (j < n2 && b[j] == x) ++j;
    largest = std::max(largest, AbsoluteValue(i * n2 - j * n1));
  }
  // After one sample is exhausted the gap only shrinks towards 0 at (n₁, n₂).
  return largest;
}

// P(max over the random lattice path of |i·n₂ − j·n₁| ≥ threshold), see distance.h.
double ExactKsPValue(int64_t n1, int64_t n2, int64_t threshold) {
  const auto outside = [&](int64_t i, int64_t j) {
    return AbsoluteValue(i * n2 - j * n1) >= threshold;
  };
  const double total = static_cast<double>(n1 + n2);
  // Row i of r and q over j = 0..n₂, updated in place from row i − 1.
  std::vector<double> r(n2 + 1), q(n2 + 1);
  for (int64_t i = 0; i <= n1; ++i) {
    for (int64_t j = 0; j <= n2; ++j) {
      double reach, reach_outside;
      if (i == 0 && j == 0) {
        reach = 1.0;
        reach_outside = 0.0;
      } else {
        const double remaining = total - static_cast<double>(i + j - 1);
        const double from_a = i > 0 ? (n1 - i + 1) / remaining : 0.0;  // Step (i−1,j) → (i,j).
        const double from_b = j > 0 ? (n2 - j + 1) / remaining : 0.0;  // Step (i,j−1) → (i,j).
        reach = (i > 0 ? r[j] * from_a : 0.0) + (j > 0 ? r[j - 1] * from_b : 0.0);
        reach_outside = (i > 0 ? q[j] * from_a : 0.0) + (j > 0 ? q[j - 1] * from_b : 0.0);
      }
      r[j] = reach;
      q[j] = outside(i, j) ? reach : reach_outside;
    }
  }
  return std::min(1.0, q[n2]);
}

}  // namespace

double KolmogorovSurvival(double lambda) {
  if (!(lambda > 0.0)) return 1.0;
  if (lambda < 1.18) {
    const double factor = -M_PI * M_PI / (8.0 * lambda * lambda);
    double sum = 0.0;
    for (int k = 1; k <= 12; ++k) {
      const double odd = 2.0 * k - 1.0;
      sum += std::exp(factor * odd * odd);
    }
    return std::clamp(1.0 - std::sqrt(2.0 * M_PI) / lambda * sum, 0.0, 1.0);
  }
  double sum = 0.0;
  for (int k = 1; k <= 12; ++k) {
    const double term = std::exp(-2.0 * k * k * lambda * lambda);
    sum += (k % 2 == 1) ? term : -term;
  }
  return std::clamp(2.0 * sum, 0.0, 1.0);
}

KsResult KolmogorovSmirnov(std::vector<double> a, std::vector<double> b) {
  DropNonFiniteAndSort(&a);
  DropNonFiniteAndSort(&b);
  if (a.empty() || b.empty()) return {kNaN, kNaN};
  const int64_t n1 = a.size(), n2 = b.size();
  const int64_t scaled = ScaledKsDistance(a, b);
  KsResult result;
  result.statistic = static_cast<double>(scaled) / (static_cast<double>(n1) * n2);
  if (scaled == 0) {
    result.p_value = 1.0;
  } else if (static_cast<double>(n1) * n2 <= kKsExactMaxProduct) {
    result.p_value = ExactKsPValue(n1, n2, scaled);
  } else {
    const double root_ne = std::sqrt(static_cast<double>(n1) * n2 / (n1 + n2));
    result.p_value = KolmogorovSurvival((root_ne + 0.12 + 0.11 / root_ne) * result.statistic);
  }
  return result;
}

double KsDistanceWithAtomAtInfinity(std::vector<double> a, int a_atoms, std::vector<double> b,
                                    int b_atoms) {
  // Each atom is the largest double: KS depends on the order alone, and ScaledKsDistance steps
  // tied values together, so the atoms act as one point above every finite value.
  auto with_atoms = [](std::vector<double>* x, int atoms) {
    DropNonFiniteAndSort(x);
    x->insert(x->end(), atoms, std::numeric_limits<double>::max());
  };
  with_atoms(&a, a_atoms);
  with_atoms(&b, b_atoms);
  if (a.empty() || b.empty()) return kNaN;
  return static_cast<double>(ScaledKsDistance(a, b)) /
         (static_cast<double>(a.size()) * static_cast<double>(b.size()));
}

double Wasserstein1(std::vector<double> a, std::vector<double> b) {
  DropNonFiniteAndSort(&a);
  DropNonFiniteAndSort(&b);
  if (a.empty() || b.empty()) return kNaN;
  const size_t n1 = a.size(), n2 = b.size();
  size_t i = 0, j = 0;
  double distance = 0.0;
  double x = std::min(a[0], b[0]);
  // Between consecutive merged values x < x' the CDFs are constant at i/n₁ and j/n₂.
  while (i < n1 || j < n2) {
    while (i < n1 && a[i] == x) ++i;
    while (j < n2 && b[j] == x) ++j;
    if (i == n1 && j == n2) break;
    const double next = i == n1 ? b[j] : j == n2 ? a[i] : std::min(a[i], b[j]);
    distance += std::abs(static_cast<double>(i) / n1 - static_cast<double>(j) / n2) * (next - x);
    x = next;
  }
  return distance;
}

}  // namespace sigprop
