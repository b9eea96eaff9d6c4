#include "common/rng.h"

#include <cmath>

namespace sigprop {

RandomStream::RandomStream(uint64_t seed, uint32_t point, uint32_t sample, uint32_t layer) {
  key_ = {{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}};
  counter_ = {{0u, layer, sample, point}};
}

void RandomStream::Refill() {
  block_ = philox_(counter_, key_);
  ++counter_.v[0];
  used_ = 0;
}

uint32_t RandomStream::NextWord() {
  if (used_ == 4) Refill();
  return block_.v[used_++];
}

double RandomStream::Uniform() {
  // 53 bits: 32 from one word, 21 from the next; +0.5 keeps the result off 0 and 1.
  const uint64_t hi = NextWord();
  const uint64_t lo = NextWord() >> 11;
  const uint64_t bits = (hi << 21) | lo;
  return (static_cast<double>(bits) + 0.5) * 0x1.0p-53;
}

double RandomStream::Gaussian() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = Uniform();
  const double u2 = Uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * M_PI * u2;
  spare_ = r * std::sin(angle);
  has_spare_ = true;
  return r * std::cos(angle);
}

void RandomStream::FillGaussian(double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = Gaussian();
}

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
