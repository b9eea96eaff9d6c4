#include "common/ziggurat_stream.h"

#include <algorithm>
#include <cmath>

#include <immintrin.h>

namespace sigprop {
namespace {

// Philox4x32 constants (Random123's philox.h).
constexpr uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
constexpr uint32_t kKeyBump0 = 0x9E3779B9u, kKeyBump1 = 0xBB67AE85u;
constexpr int kBlocks = 32;

// kBlocks consecutive Philox4x32-10 blocks, counters (c0 + b, c1, c2, c3), written word by word.
// Integer arithmetic only, so every variant returns the same words.
__attribute__((target_clones("avx2", "default"))) void PhiloxBlocksPortable(
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

// Swaps the 32-bit halves of every 64-bit lane: a shuffle, which runs beside the multiplies
// (vector shifts would compete with them for the same port).
__attribute__((target("avx512f"))) inline __m512i Swap(__m512i x) {
  return _mm512_shuffle_epi32(x, _MM_PERM_CDAB);
}

// The same blocks with AVX-512, 16 per vector, both vectors of 16 advanced in the same round loop
// so that their multiply chains overlap: _mm512_mul_epu32 multiplies the even 32-bit lanes into
// 64-bit products, so the odd lanes go through a swap, and blends reassemble the high and low
// halves; the four state vectors are transposed into word order at the end.
__attribute__((target("avx512f"))) void PhiloxBlocksAvx512(const uint32_t* counter,
                                                           const uint32_t* key, uint32_t* words) {
  constexpr int kGroups = kBlocks / 16;
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(kMultiplier0));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(kMultiplier1));
  const __m512i offsets = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512i x0[kGroups], x1[kGroups], x2[kGroups], x3[kGroups];
  for (int g = 0; g < kGroups; ++g) {
    x0[g] = _mm512_add_epi32(
        _mm512_set1_epi32(static_cast<int>(counter[0] + 16u * static_cast<uint32_t>(g))), offsets);
    x1[g] = _mm512_set1_epi32(static_cast<int>(counter[1]));
    x2[g] = _mm512_set1_epi32(static_cast<int>(counter[2]));
    x3[g] = _mm512_set1_epi32(static_cast<int>(counter[3]));
  }
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    const __m512i key0 = _mm512_set1_epi32(static_cast<int>(k0));
    const __m512i key1 = _mm512_set1_epi32(static_cast<int>(k1));
    for (int g = 0; g < kGroups; ++g) {
      const __m512i p0_even = _mm512_mul_epu32(x0[g], m0);
      const __m512i p0_odd = _mm512_mul_epu32(Swap(x0[g]), m0);
      const __m512i p1_even = _mm512_mul_epu32(x2[g], m1);
      const __m512i p1_odd = _mm512_mul_epu32(Swap(x2[g]), m1);
      const __m512i hi0 = _mm512_mask_blend_epi32(0xAAAA, Swap(p0_even), p0_odd);
      const __m512i lo0 = _mm512_mask_blend_epi32(0xAAAA, p0_even, Swap(p0_odd));
      const __m512i hi1 = _mm512_mask_blend_epi32(0xAAAA, Swap(p1_even), p1_odd);
      const __m512i lo1 = _mm512_mask_blend_epi32(0xAAAA, p1_even, Swap(p1_odd));
      x0[g] = _mm512_ternarylogic_epi32(hi1, x1[g], key0, 0x96);  // three-way xor
      x2[g] = _mm512_ternarylogic_epi32(hi0, x3[g], key1, 0x96);
      x1[g] = lo1;
      x3[g] = lo0;
    }
    k0 += kKeyBump0;
    k1 += kKeyBump1;
  }
  for (int g = 0; g < kGroups; ++g) {
    // Per 128-bit lane (blocks 4L..4L+3): u_k holds block 4L + k's four words.
    const __m512i t0 = _mm512_unpacklo_epi32(x0[g], x1[g]), t1 = _mm512_unpackhi_epi32(x0[g], x1[g]);
    const __m512i t2 = _mm512_unpacklo_epi32(x2[g], x3[g]), t3 = _mm512_unpackhi_epi32(x2[g], x3[g]);
    const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
    const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
    const __m512i a = _mm512_shuffle_i64x2(u0, u1, _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i b = _mm512_shuffle_i64x2(u2, u3, _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i c = _mm512_shuffle_i64x2(u0, u1, _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i d = _mm512_shuffle_i64x2(u2, u3, _MM_SHUFFLE(3, 2, 3, 2));
    uint32_t* out = words + 64 * g;
    _mm512_storeu_si512(out, _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm512_storeu_si512(out + 16, _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
    _mm512_storeu_si512(out + 32, _mm512_shuffle_i64x2(c, d, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm512_storeu_si512(out + 48, _mm512_shuffle_i64x2(c, d, _MM_SHUFFLE(3, 1, 3, 1)));
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
int FastPathPortable(const uint32_t* words, int pairs, double* out) {
  const ZigguratTables& z = Ziggurat();
  for (int q = 0; q < pairs; ++q) {
    const int32_t hz = static_cast<int32_t>(words[2 * q]);
    const uint32_t iz = words[2 * q + 1] & 127u;
    const uint32_t magnitude = hz < 0 ? 0u - static_cast<uint32_t>(hz) : static_cast<uint32_t>(hz);
    out[q] = hz * z.wn[iz];
    if (magnitude >= z.kn[iz]) return q;
  }
  return pairs;
}

// The same, eight pairs per step (the last step masked): a pair is one 64-bit lane (hz low, iz
// high), the tables are gathered, and the product is one IEEE multiply as above.
__attribute__((target("avx512f,avx512vl"))) int FastPathAvx512(const uint32_t* words, int pairs,
                                                               double* out) {
  const ZigguratTables& z = Ziggurat();
  const __m512i index_mask = _mm512_set1_epi64(127);
  for (int q = 0; q < pairs; q += 8) {
    const __mmask8 valid = pairs - q >= 8 ? 0xFF : static_cast<__mmask8>((1u << (pairs - q)) - 1);
    const __m512i pair = _mm512_maskz_loadu_epi64(valid, words + 2 * q);
    const __m256i hz = _mm512_cvtepi64_epi32(pair);
    const __m256i iz =
        _mm512_cvtepi64_epi32(_mm512_and_si512(_mm512_srli_epi64(pair, 32), index_mask));
    const __m512d width = _mm512_i32gather_pd(iz, z.wn, 8);
    const __m256i bound = _mm256_i32gather_epi32(reinterpret_cast<const int*>(z.kn), iz, 4);
    _mm512_mask_storeu_pd(out + q, valid, _mm512_mul_pd(_mm512_cvtepi32_pd(hz), width));
    const __mmask8 rejected =
        _mm256_mask_cmpge_epu32_mask(valid, _mm256_abs_epi32(hz), bound);
    if (rejected != 0) return q + __builtin_ctz(rejected);
  }
  return pairs;
}

}  // namespace

const ZigguratStream::Kernels& ZigguratStream::Portable() {
  static const Kernels kernels = {&PhiloxBlocksPortable, &FastPathPortable};
  return kernels;
}

const ZigguratStream::Kernels& ZigguratStream::Best() {
  static const Kernels kernels = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) {
      return Kernels{&PhiloxBlocksAvx512, &FastPathAvx512};
    }
    return Portable();
  }();
  return kernels;
}

ZigguratStream::ZigguratStream(uint64_t seed, uint32_t point, uint32_t sample, uint32_t layer,
                               bool portable)
    : kernels_(portable ? &Portable() : &Best()),
      key_{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)},
      counter_{0u, layer, sample, point} {}

void ZigguratStream::Refill() {
  int kept = 0;
  for (int w = pos_; w < end_; ++w) words_[kept++] = words_[w];
  kernels_->philox(counter_, key_, words_ + kept);
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
  int i = 0;
  while (i < n) {
    if (end_ - pos_ < 2) Refill();
    const int pairs = std::min(n - i, (end_ - pos_) / 2);
    const int accepted = kernels_->fast_path(words_ + pos_, pairs, out + i);
    i += accepted;
    pos_ += 2 * accepted;
    if (accepted < pairs) out[i++] = SlowGaussian();
  }
}

}  // namespace sigprop
