#include "common/rng.h"

#include <cmath>

namespace sigprop {
namespace {

// Marsaglia & Tsang (2000) "The ziggurat method for generating random variables", 128 layers of
// equal area v under the right half of exp(−x²/2), the last one ending at r: layer i accepts
// |x| < x_{i+1}, i.e. a 31-bit magnitude below kn[i], without evaluating the density.
constexpr double kZigR = 3.442619855899;
constexpr double kZigArea = 9.91256303526217e-3;

struct ZigguratTables {
  uint32_t kn[128];
  double wn[128];
  double fn[128];
};

ZigguratTables MakeZigguratTables() {
  ZigguratTables z;
  const double m1 = 2147483648.0;  // 2³¹
  double dn = kZigR, tn = dn;
  const double q = kZigArea / std::exp(-0.5 * dn * dn);
  z.kn[0] = static_cast<uint32_t>((dn / q) * m1);
  z.kn[1] = 0;
  z.wn[0] = q / m1;
  z.wn[127] = dn / m1;
  z.fn[0] = 1.0;
  z.fn[127] = std::exp(-0.5 * dn * dn);
  for (int i = 126; i >= 1; --i) {
    dn = std::sqrt(-2.0 * std::log(kZigArea / dn + std::exp(-0.5 * dn * dn)));
    z.kn[i + 1] = static_cast<uint32_t>((dn / tn) * m1);
    tn = dn;
    z.fn[i] = std::exp(-0.5 * dn * dn);
    z.wn[i] = dn / m1;
  }
  return z;
}

const ZigguratTables& Ziggurat() {
  static const ZigguratTables tables = MakeZigguratTables();
  return tables;
}

}  // namespace

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

double RandomStream::GaussianZiggurat() {
  const ZigguratTables& z = Ziggurat();
  for (;;) {
    const int32_t hz = static_cast<int32_t>(NextWord());
    const uint32_t iz = NextWord() & 127u;
    const uint32_t magnitude = hz < 0 ? 0u - static_cast<uint32_t>(hz) : static_cast<uint32_t>(hz);
    const double x = hz * z.wn[iz];
    if (magnitude < z.kn[iz]) return x;
    if (iz == 0) {
      // The tail beyond r (Marsaglia 1964): x = −log(U₁)/r until −2 log(U₂) > x².
      double tail, y;
      do {
        tail = -std::log(Uniform()) / kZigR;
        y = -std::log(Uniform());
      } while (y + y < tail * tail);
      return hz > 0 ? kZigR + tail : -kZigR - tail;
    }
    // The wedge of layer iz: accept under the density.
    if (z.fn[iz] + Uniform() * (z.fn[iz - 1] - z.fn[iz]) < std::exp(-0.5 * x * x)) return x;
  }
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
