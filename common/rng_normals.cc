// Normal draws of RandomStream: Box–Muller on pairs of uniforms (Gaussian, FillGaussian) and the
// one-word ziggurat (GaussianZigguratOneWord and its batched fills), both with IEEE arithmetic
// only, so that the values are identical on every machine.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/philox_blocks.h"
#include "common/rng.h"
#include "common/rng_words.h"

namespace sigprop {
namespace {

using rng_internal::UnitFromWords;

constexpr int kBatchBlocks = kPhiloxBatch;

// 1/((2j)(2j+1)) and 1/((2j−1)(2j)) for j = 1..8: the nested Taylor factors of sin and cos.
constexpr double kSineFactors[8] = {1.0 / 6, 1.0 / 20, 1.0 / 42, 1.0 / 72,
                                    1.0 / 110, 1.0 / 156, 1.0 / 210, 1.0 / 272};
constexpr double kCosineFactors[8] = {1.0 / 2, 1.0 / 12, 1.0 / 30, 1.0 / 56,
                                      1.0 / 90, 1.0 / 132, 1.0 / 182, 1.0 / 240};

// 1/(2k+1) for k = 0..11: the series of atanh.
constexpr double kAtanhFactors[12] = {1.0,      1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11,
                                      1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23};

// ln u for u in (0, 1) with IEEE +, −, ×, ÷ only (no libm, whose results differ between its
// FMA and SSE code paths): u = 2^e·m with m in [sqrt(½), sqrt(2)), ln m = 2 atanh f,
// f = (m − 1)/(m + 1), |f| ≤ 0.172, by its series to f^23 (truncation below 1e-17).
inline double LogUnit(double u) {
  uint64_t bits;
  std::memcpy(&bits, &u, sizeof bits);
  int e = static_cast<int>((bits >> 52) & 0x7FF) - 1023;
  bits = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
  double m;
  std::memcpy(&m, &bits, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++e;
  }
  const double f = (m - 1.0) / (m + 1.0);
  const double s = f * f;
  double series = kAtanhFactors[11];
  for (int k = 10; k >= 0; --k) series = series * s + kAtanhFactors[k];
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // ln 2 to 32 bits: e·kLn2Hi is exact.
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  return e * kLn2Hi + (e * kLn2Lo + 2.0 * f * series);
}

// sin and cos of 2πt for t in (0, 1): t ≡ k/4 + r with |r| ≤ 1/8 (exact in binary), Taylor
// polynomials of θ = 2πr (|θ| ≤ π/4) to θ^17 and θ^16, then the quarter turns k.
inline void SinCosTurn(double t, double* sine, double* cosine) {
  const double x = t >= 0.5 ? t - 1.0 : t;                  // [−½, ½), exact.
  const int k = static_cast<int>(4.0 * x + 2.5) - 2;         // round(4x) in −2..2, exact.
  const double theta = (x - 0.25 * k) * 6.283185307179586477;
  const double q = theta * theta;
  // Horner from the top: sin θ = θ(1 − q/(2·3)(1 − q/(4·5)(1 − …))), cos θ = 1 − q/(1·2)(1 − …).
  double sp = 1.0, cp = 1.0;
  for (int j = 7; j >= 0; --j) {
    sp = 1.0 - q * kSineFactors[j] * sp;
    cp = 1.0 - q * kCosineFactors[j] * cp;
  }
  const double sin_theta = theta * sp, cos_theta = cp;
  // Quarter turns k: (sin, cos) → k=0 (S, C), 1 (C, −S), 2 (−S, −C), 3 (−C, S).
  const double a = (k & 1) ? cos_theta : sin_theta;
  const double b = (k & 1) ? sin_theta : cos_theta;
  *sine = (k & 2) ? -a : a;
  *cosine = ((k + 1) & 2) ? -b : b;
}

// Box–Muller: r = sqrt(−2 ln u1), (r cos 2πu2, r sin 2πu2).
inline void BoxMuller(double u1, double u2, double* first, double* second) {
  const double r = std::sqrt(-2.0 * LogUnit(u1));
  double s, c;
  SinCosTurn(u2, &s, &c);
  *first = r * c;
  *second = r * s;
}

// BoxMuller on `pairs` ≤ kBatchBlocks word quadruples, written as loops over arrays with the
// quarter-turn selection branch-free, so that the compiler can vectorise them; the arithmetic is
// BoxMuller's, operation for operation, so the values are identical.
void BoxMullerBatch(const uint32_t* words, int pairs, double* out) {
  double r[kBatchBlocks], t[kBatchBlocks], sine[kBatchBlocks], cosine[kBatchBlocks];
  for (int p = 0; p < pairs; ++p) {
    r[p] = std::sqrt(-2.0 * LogUnit(UnitFromWords(words[4 * p], words[4 * p + 1])));
    t[p] = UnitFromWords(words[4 * p + 2], words[4 * p + 3]);
  }
  for (int p = 0; p < pairs; ++p) SinCosTurn(t[p], &sine[p], &cosine[p]);
  for (int p = 0; p < pairs; ++p) {
    out[2 * p] = r[p] * cosine[p];
    out[2 * p + 1] = r[p] * sine[p];
  }
}

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

// The ziggurat's fast path: the signed word hz scaled to layer iz, accepted when its magnitude
// falls inside the layer's rectangle (99% of draws).
inline bool ZigguratFast(const ZigguratTables& z, int32_t hz, uint32_t iz, double* x) {
  const uint32_t magnitude = hz < 0 ? 0u - static_cast<uint32_t>(hz) : static_cast<uint32_t>(hz);
  *x = hz * z.wn[iz];
  return magnitude < z.kn[iz];
}

// The wedge of layer iz ≥ 1: x, drawn uniformly over the layer's width, is kept when the uniform
// u puts a point under the density between the layer's edges.
inline bool WedgeAccepts(const ZigguratTables& z, uint32_t iz, double x, double u) {
  return z.fn[iz] + u * (z.fn[iz - 1] - z.fn[iz]) < std::exp(-0.5 * x * x);
}

// GaussianZigguratOneWord's split of a word: layer from the low 7 bits, the signed value from the
// upper 25, moved to the middle of its 2⁷-wide cell (…, −64, 64, 192, …) so that ±x are equally
// likely.
inline void SplitOneWord(uint32_t word, int32_t* hz, uint32_t* iz) {
  *iz = word & 127u;
  *hz = static_cast<int32_t>((word & ~127u) | 64u);
}

}  // namespace

double RandomStream::Gaussian() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = Uniform();
  const double u2 = Uniform();
  double first;
  BoxMuller(u1, u2, &first, &spare_);
  has_spare_ = true;
  return first;
}

void RandomStream::FillGaussian(double* out, std::size_t n) {
  std::size_t i = 0;
  if (i < n && has_spare_) {
    out[i++] = spare_;
    has_spare_ = false;
  }
  // Pairs in batches: the words left in the current block, then fresh blocks from PhiloxBlocks;
  // the same words, uniforms and transform as repeated Gaussian().
  uint32_t words[4 * kBatchBlocks + 4];
  while (n - i >= 2) {
    const int pairs = static_cast<int>(std::min<std::size_t>((n - i) / 2, kBatchBlocks));
    int have = 0;
    for (int w = used_; w < 4; ++w) words[have++] = block_.v[w];
    const int fresh = (4 * pairs - have + 3) / 4;
    if (fresh > 0) {
      PhiloxBlocks(counter_.v, key_.v, fresh, words + have);
      counter_.v[0] += static_cast<uint32_t>(fresh);
      const int last = have + 4 * (fresh - 1);
      for (int w = 0; w < 4; ++w) block_.v[w] = words[last + w];
      used_ = 4 - (have + 4 * fresh - 4 * pairs);
    } else {
      used_ += 4 * pairs;
    }
    BoxMullerBatch(words, pairs, out + i);
    i += 2 * static_cast<std::size_t>(pairs);
  }
  if (i < n) out[i] = Gaussian();
}

double RandomStream::GaussianZigguratOneWord() {
  int32_t hz;
  uint32_t iz;
  SplitOneWord(NextWord(), &hz, &iz);
  double x;
  if (ZigguratFast(Ziggurat(), hz, iz, &x)) return x;
  return ZigguratSlow(hz, iz);
}

double RandomStream::ZigguratSlow(int32_t hz, uint32_t iz) {
  const ZigguratTables& z = Ziggurat();
  if (iz == 0) {
    // The tail beyond r (Marsaglia 1964): x = −log(U₁)/r until −2 log(U₂) > x².
    double tail, y;
    do {
      tail = -std::log(Uniform()) / kZigR;
      y = -std::log(Uniform());
    } while (y + y < tail * tail);
    return hz > 0 ? kZigR + tail : -kZigR - tail;
  }
  // The wedge of layer iz: accept under the density; otherwise start over with fresh words.
  const double x = hz * z.wn[iz];
  if (WedgeAccepts(z, iz, x, Uniform())) return x;
  return GaussianZigguratOneWord();
}

void RandomStream::FillGaussianZigguratOneWord(double* out, std::size_t n) {
  FillGaussianZigguratOneWord(out, n, 1);
}

void RandomStream::FillGaussianZigguratOneWord(double* out, std::size_t n, std::size_t stride) {
  uint32_t words[4 * kBatchBlocks];
  std::size_t i = 0;
  while (i < n) {
    // Finish a partly used block one draw at a time, so that every batch starts on a block.
    if (used_ != 4) {
      out[i++ * stride] = GaussianZigguratOneWord();
      continue;
    }
    const int blocks = ZigguratBatchBlocks(n - i);
    const uint32_t first = counter_.v[0];
    PhiloxBlocks(counter_.v, key_.v, blocks, words);
    i = ZigguratFromBatch(words, first, 4 * blocks, out, n, stride, i);
  }
}

void RandomStream::FillGaussianZigguratOneWordEach(RandomStream* const* streams,
                                                   double* const* outs, int count, std::size_t n,
                                                   std::size_t stride) {
  constexpr int kGroup = 8;
  uint32_t words[kGroup][4 * kBatchBlocks];
  uint32_t first[kGroup];
  bool batched[kGroup];
  const int blocks = ZigguratBatchBlocks(n);
  for (int g = 0; g < count; g += kGroup) {
    const int here = std::min(kGroup, count - g);
    // Every stream's first batch before any draw: the batches are independent, so the CPU
    // overlaps their multiply chains instead of waiting out each before the draws that need it.
    for (int s = 0; s < here; ++s) {
      RandomStream& stream = *streams[g + s];
      batched[s] = n > 0 && stream.used_ == 4;
      if (!batched[s]) continue;
      first[s] = stream.counter_.v[0];
      PhiloxBlocks(stream.counter_.v, stream.key_.v, blocks, words[s]);
    }
    for (int s = 0; s < here; ++s) {
      RandomStream& stream = *streams[g + s];
      const std::size_t i =
          batched[s]
              ? stream.ZigguratFromBatch(words[s], first[s], 4 * blocks, outs[g + s], n, stride, 0)
              : 0;
      if (i < n) stream.FillGaussianZigguratOneWord(outs[g + s] + i * stride, n - i, stride);
    }
  }
}

int RandomStream::ZigguratBatchBlocks(std::size_t draws) {
  // A fast draw takes one word: blocks for the draws and two more for the words that wedges take
  // (~3 per 100 draws), so that one batch usually suffices; at most a batch. Blocks left unused
  // are not lost: the stream resumes after the last block taken.
  return static_cast<int>(std::min<std::size_t>((draws + 3) / 4 + 2, kBatchBlocks));
}

// Aligned to a cache line: where the link put it at 32 bytes past one, every SDE run took 5 % longer
// (its fast loop is most of a run's sampling), so a change anywhere in the binary could move an
// SDE run's time by that much (bench/RESULTS.md, issue 18, eighth step).
__attribute__((aligned(64))) std::size_t RandomStream::ZigguratFromBatch(
    const uint32_t* words, uint32_t first, int total, double* out, std::size_t n,
    std::size_t stride, std::size_t i) {
  const ZigguratTables& z = Ziggurat();
  int w = 0;
  while (i < n && w < total) {
    // The fast path (99% of draws) in a loop of its own, up to the first miss.
    {
      const int run = static_cast<int>(std::min<std::size_t>(n - i, total - w));
      const uint32_t* word = words + w;
      double* o = out + i * stride;
      int k = 0;
      for (; k < run; ++k, o += stride) {
        int32_t hz;
        uint32_t iz;
        SplitOneWord(word[k], &hz, &iz);
        if (!ZigguratFast(z, hz, iz, o)) break;
      }
      i += static_cast<std::size_t>(k);
      w += k;
      if (k == run) break;
    }
    // words[w] is the word that missed the fast rectangle above.
    int32_t hz;
    uint32_t iz;
    SplitOneWord(words[w++], &hz, &iz);
    const double x = hz * z.wn[iz];
    // A wedge (1% of draws) takes its uniform from the batch, as ZigguratSlow would from the
    // stream; on rejection the next word starts a fresh draw, as there.
    if (iz != 0 && w + 2 <= total) {
      const double u = UnitFromWords(words[w], words[w + 1]);
      w += 2;
      if (WedgeAccepts(z, iz, x, u)) out[i++ * stride] = x;
      continue;
    }
    // The tail, or a wedge at the end of the batch, reads through the stream: put the stream
    // where repeated single draws would be, then go on in this batch from wherever it left off.
    SyncToBatch(words, first, w);
    out[i++ * stride] = ZigguratSlow(hz, iz);
    w = 4 * static_cast<int>(counter_.v[0] - first - 1) + used_;
  }
  if (w <= total) SyncToBatch(words, first, w);
  return i;
}

void RandomStream::SyncToBatch(const uint32_t* words, uint32_t first, int taken) {
  const int last_block = (taken - 1) / 4;
  for (int k = 0; k < 4; ++k) block_.v[k] = words[4 * last_block + k];
  used_ = (taken - 1) % 4 + 1;
  counter_.v[0] = first + static_cast<uint32_t>(last_block + 1);
}

}  // namespace sigprop
