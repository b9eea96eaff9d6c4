#include "common/ziggurat_stream.h"

#include <algorithm>
#include <cmath>

namespace sigprop {
namespace {

// Philox4x32 constants (Random123's philox.h).
constexpr uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
constexpr uint32_t kKeyBump0 = 0x9E3779B9u, kKeyBump1 = 0xBB67AE85u;
constexpr int kBlocks = 32;

// kBlocks consecutive Philox4x32-10 blocks, counters (c0 + b, c1, c2, c3), written word by word.
// Integer arithmetic only, so every dispatched variant returns the same words.
__attribute__((target_clones("avx512f", "avx2", "default"))) void PhiloxBlocks(
    const uint32_t* counter, const uint32_t* key, uint32_t* words) {
  uint32_t x0[kBlocks], x1[kBlocks], x2[kBlocks], x3[kBlocks];
  for (int b = 0; b < kBlocks; ++b) {
    x0[b] = counter[0] + static_cast<uint32_t>(b);
    x1[b] = counter[1];
    x2[b] = counter[2];
    x3[b] = counter[3];
  }
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    for (int b = 0; b < kBlocks; ++b) {
      const uint64_t p0 = static_cast<uint64_t>(kMultiplier0) * x0[b];
      const uint64_t p1 = static_cast<uint64_t>(kMultiplier1) * x2[b];
      const uint32_t y0 = static_cast<uint32_t>(p1 >> 32) ^ x1[b] ^ k0;
      const uint32_t y2 = static_cast<uint32_t>(p0 >> 32) ^ x3[b] ^ k1;
      x1[b] = static_cast<uint32_t>(p1);
      x3[b] = static_cast<uint32_t>(p0);
      x0[b] = y0;
      x2[b] = y2;
    }
    k0 += kKeyBump0;
    k1 += kKeyBump1;
  }
  for (int b = 0; b < kBlocks; ++b) {
    words[4 * b] = x0[b];
    words[4 * b + 1] = x1[b];
    words[4 * b + 2] = x2[b];
    words[4 * b + 3] = x3[b];
  }
}

// rng.cc's ziggurat (Marsaglia & Tsang 2000, 128 layers), the same construction.
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

// The ziggurat's fast path for `pairs` word pairs (hz, iz): hz·wn[iz] into out; returns how many
// leading pairs it accepts (|hz| < kn[iz]). Values past the first rejection are overwritten later.
int FastPath(const ZigguratTables& z, const uint32_t* words, int pairs, double* out) {
  bool rejected[2 * kBlocks];
  for (int q = 0; q < pairs; ++q) {
    const int32_t hz = static_cast<int32_t>(words[2 * q]);
    const uint32_t iz = words[2 * q + 1] & 127u;
    const uint32_t magnitude = hz < 0 ? 0u - static_cast<uint32_t>(hz) : static_cast<uint32_t>(hz);
    out[q] = hz * z.wn[iz];
    rejected[q] = magnitude >= z.kn[iz];
  }
  for (int q = 0; q < pairs; ++q) {
    if (rejected[q]) return q;
  }
  return pairs;
}

}  // namespace

ZigguratStream::ZigguratStream(uint64_t seed, uint32_t point, uint32_t sample, uint32_t layer)
    : key_{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)},
      counter_{0u, layer, sample, point} {}

void ZigguratStream::Refill() {
  int kept = 0;
  for (int w = pos_; w < end_; ++w) words_[kept++] = words_[w];
  PhiloxBlocks(counter_, key_, words_ + kept);
  counter_[0] += kBlocks;
  pos_ = 0;
  end_ = kept + 4 * kBlocks;
}

uint32_t ZigguratStream::NextWord() {
  if (pos_ == end_) Refill();
  return words_[pos_++];
}

double ZigguratStream::Uniform() {
  const uint32_t hi = NextWord();
  const uint32_t lo = NextWord();
  const uint64_t bits = (static_cast<uint64_t>(hi) << 21) | (lo >> 11);
  return (static_cast<double>(bits) + 0.5) * 0x1.0p-53;
}

double ZigguratStream::SlowGaussian() {
  const ZigguratTables& z = Ziggurat();
  for (;;) {
    const int32_t hz = static_cast<int32_t>(NextWord());
    const uint32_t iz = NextWord() & 127u;
    const uint32_t magnitude = hz < 0 ? 0u - static_cast<uint32_t>(hz) : static_cast<uint32_t>(hz);
    const double x = hz * z.wn[iz];
    if (magnitude < z.kn[iz]) return x;
    if (iz == 0) {
      double tail, y;
      do {
        tail = -std::log(Uniform()) / kZigR;
        y = -std::log(Uniform());
      } while (y + y < tail * tail);
      return hz > 0 ? kZigR + tail : -kZigR - tail;
    }
    if (z.fn[iz] + Uniform() * (z.fn[iz - 1] - z.fn[iz]) < std::exp(-0.5 * x * x)) return x;
  }
}

void ZigguratStream::Fill(double* out, int n) {
  const ZigguratTables& z = Ziggurat();
  int i = 0;
  while (i < n) {
    if (end_ - pos_ < 2) Refill();
    const int pairs = std::min(n - i, (end_ - pos_) / 2);
    const int accepted = FastPath(z, words_ + pos_, pairs, out + i);
    i += accepted;
    pos_ += 2 * accepted;
    if (accepted < pairs) out[i++] = SlowGaussian();
  }
}

}  // namespace sigprop
