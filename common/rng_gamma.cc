// Chi-square draws of RandomStream (2·Gamma(k/2) by Marsaglia–Tsang), for the Wishart and
// Bartlett factors of the column and Gram samplers.
#include <cmath>

#include "common/rng.h"

namespace sigprop {

double RandomStream::ChiSquare(double k) {
  // χ²(k) = 2·Gamma(k/2, 1). Marsaglia–Tsang needs shape ≥ 1; for shape a < 1 use
  // Gamma(a) = Gamma(a + 1)·U^{1/a}.
  double shape = 0.5 * k;
  double boost = 1.0;
  if (shape < 1.0) {
    boost = std::pow(Uniform(), 1.0 / shape);
    shape += 1.0;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = Gaussian();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = Uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return 2.0 * d * v * boost;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return 2.0 * d * v * boost;
  }
}

}  // namespace sigprop
