#include "common/philox_blocks.h"

#include "common/cpu_features.h"

#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace sigprop {
namespace {

// Philox4x32 constants (Random123's philox.h).
constexpr uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
constexpr uint32_t kKeyBump0 = 0x9E3779B9u, kKeyBump1 = 0xBB67AE85u;

}  // namespace

// One round maps (x0, x1, x2, x3) to (hi(M1·x2) ^ x1 ^ k0, lo(M1·x2), hi(M0·x0) ^ x3 ^ k1,
// lo(M0·x0)); the key is bumped between rounds.
void PhiloxBlocksPortable(const uint32_t counter[4], const uint32_t key[2], int count,
                          uint32_t* words) {
  uint32_t x0[kPhiloxBatch], x1[kPhiloxBatch], x2[kPhiloxBatch], x3[kPhiloxBatch];
  for (int b = 0; b < count; ++b) {
    x0[b] = counter[0] + static_cast<uint32_t>(b);
    x1[b] = counter[1];
    x2[b] = counter[2];
    x3[b] = counter[3];
  }
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    for (int b = 0; b < count; ++b) {
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
  for (int b = 0; b < count; ++b) {
    words[4 * b] = x0[b];
    words[4 * b + 1] = x1[b];
    words[4 * b + 2] = x2[b];
    words[4 * b + 3] = x3[b];
  }
}

#if defined(__x86_64__)

namespace {

// High and low 32-bit halves of the eight products m · x (lanes of 32 bits): vpmuludq multiplies
// the even lanes, so the odd ones are shifted down for a second multiply, and the halves are
// blended back into place.
__attribute__((target("avx2"))) inline void MulHiLo(__m256i x, __m256i m, __m256i* hi,
                                                    __m256i* lo) {
  const __m256i even = _mm256_mul_epu32(x, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), m);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

}  // namespace

// 4×8 words (x0, x1, x2, x3)[b] → words 4b..4b+3, b = 0..here−1.
__attribute__((target("avx2"))) inline void StoreBlocks(__m256i x0, __m256i x1, __m256i x2,
                                                        __m256i x3, int here, uint32_t* words) {
  const __m256i t0 = _mm256_unpacklo_epi32(x0, x1), t1 = _mm256_unpackhi_epi32(x0, x1);
  const __m256i t2 = _mm256_unpacklo_epi32(x2, x3), t3 = _mm256_unpackhi_epi32(x2, x3);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  alignas(32) uint32_t blocks[32];
  uint32_t* out = here == 8 ? words : blocks;  // A whole group goes straight to the caller.
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permute2x128_si256(u0, u1, 0x20));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8),
                      _mm256_permute2x128_si256(u2, u3, 0x20));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16),
                      _mm256_permute2x128_si256(u0, u1, 0x31));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 24),
                      _mm256_permute2x128_si256(u2, u3, 0x31));
  if (here < 8) std::memcpy(words, blocks, sizeof(uint32_t) * 4 * here);
}

// Eight blocks per vector, one block per 32-bit lane, and two vectors advanced together: a round
// is a chain of dependent multiplies, shifts and blends, so one vector alone would wait on its
// latency; two independent ones fill the pipeline.
__attribute__((target("avx2"))) static void PhiloxBlocks16Avx2(const uint32_t counter[4],
                                                        const uint32_t key[2], int count,
                                                        uint32_t* words) {
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(kMultiplier0));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(kMultiplier1));
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i a0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(counter[0])), lanes);
  __m256i b0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(counter[0] + 8u)), lanes);
  __m256i a1 = _mm256_set1_epi32(static_cast<int>(counter[1])), b1 = a1;
  __m256i a2 = _mm256_set1_epi32(static_cast<int>(counter[2])), b2 = a2;
  __m256i a3 = _mm256_set1_epi32(static_cast<int>(counter[3])), b3 = a3;
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    const __m256i key0 = _mm256_set1_epi32(static_cast<int>(k0));
    const __m256i key1 = _mm256_set1_epi32(static_cast<int>(k1));
    __m256i hi0, lo0, hi1, lo1, hi2, lo2, hi3, lo3;
    MulHiLo(a0, m0, &hi0, &lo0);
    MulHiLo(a2, m1, &hi1, &lo1);
    MulHiLo(b0, m0, &hi2, &lo2);
    MulHiLo(b2, m1, &hi3, &lo3);
    a0 = _mm256_xor_si256(_mm256_xor_si256(hi1, a1), key0);
    a2 = _mm256_xor_si256(_mm256_xor_si256(hi0, a3), key1);
    a1 = lo1;
    a3 = lo0;
    b0 = _mm256_xor_si256(_mm256_xor_si256(hi3, b1), key0);
    b2 = _mm256_xor_si256(_mm256_xor_si256(hi2, b3), key1);
    b1 = lo3;
    b3 = lo2;
    k0 += kKeyBump0;
    k1 += kKeyBump1;
  }
  StoreBlocks(a0, a1, a2, a3, count < 8 ? count : 8, words);
  if (count > 8) StoreBlocks(b0, b1, b2, b3, count - 8, words + 32);
}

// Sixteen blocks at a time (kPhiloxBatch is 32).
__attribute__((target("avx2"))) void PhiloxBlocksAvx2(const uint32_t counter[4],
                                                      const uint32_t key[2], int count,
                                                      uint32_t* words) {
  static_assert(kPhiloxBatch == 32, "two calls of sixteen blocks");
  PhiloxBlocks16Avx2(counter, key, count < 16 ? count : 16, words);
  if (count > 16) {
    const uint32_t next[4] = {counter[0] + 16u, counter[1], counter[2], counter[3]};
    PhiloxBlocks16Avx2(next, key, count - 16, words + 64);
  }
}


namespace {

// Swaps the 32-bit halves of every 64-bit lane: a shuffle, which runs beside the multiplies
// (vector shifts would compete with them for the same port).
__attribute__((target("avx512f"))) inline __m512i SwapHalves(__m512i x) {
  return _mm512_shuffle_epi32(x, _MM_PERM_CDAB);
}

}  // namespace

// One Philox round on sixteen blocks, one block per 32-bit lane of x0..x3: vpmuludq multiplies the
// even lanes into 64-bit products and, after a shift, the odd ones; a masked swap of each pair of
// products assembles the high resp. low halves (one shuffle each, which runs beside the multiplies
// where a shift would compete with them); the three-way xor is one ternary-logic instruction.
__attribute__((target("avx512f"))) inline void RoundAvx512(__m512i& x0, __m512i& x1, __m512i& x2,
                                                           __m512i& x3, __m512i key0,
                                                           __m512i key1) {
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(kMultiplier0));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(kMultiplier1));
  const __m512i p0_even = _mm512_mul_epu32(x0, m0);
  const __m512i p0_odd = _mm512_mul_epu32(_mm512_srli_epi64(x0, 32), m0);
  const __m512i p1_even = _mm512_mul_epu32(x2, m1);
  const __m512i p1_odd = _mm512_mul_epu32(SwapHalves(x2), m1);
  const __m512i hi0 = _mm512_mask_shuffle_epi32(p0_odd, 0x5555, p0_even, _MM_PERM_CDAB);
  const __m512i lo0 = _mm512_mask_shuffle_epi32(p0_even, 0xAAAA, p0_odd, _MM_PERM_CDAB);
  const __m512i hi1 = _mm512_mask_shuffle_epi32(p1_odd, 0x5555, p1_even, _MM_PERM_CDAB);
  const __m512i lo1 = _mm512_mask_shuffle_epi32(p1_even, 0xAAAA, p1_odd, _MM_PERM_CDAB);
  x0 = _mm512_ternarylogic_epi32(hi1, x1, key0, 0x96);  // hi1 ^ x1 ^ key0
  x2 = _mm512_ternarylogic_epi32(hi0, x3, key1, 0x96);
  x1 = lo1;
  x3 = lo0;
}

// The four state vectors of sixteen blocks, transposed into word order: words[4b .. 4b+3] is
// block b, b = 0..count−1.
__attribute__((target("avx512f"))) inline void StoreAvx512(__m512i x0, __m512i x1, __m512i x2,
                                                           __m512i x3, int count,
                                                           uint32_t* words) {
  // Per 128-bit lane L (blocks 4L..4L+3): u_k holds block 4L + k's four words.
  const __m512i t0 = _mm512_unpacklo_epi32(x0, x1), t1 = _mm512_unpackhi_epi32(x0, x1);
  const __m512i t2 = _mm512_unpacklo_epi32(x2, x3), t3 = _mm512_unpackhi_epi32(x2, x3);
  const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
  const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
  const __m512i a = _mm512_shuffle_i64x2(u0, u1, _MM_SHUFFLE(1, 0, 1, 0));
  const __m512i b = _mm512_shuffle_i64x2(u2, u3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m512i c = _mm512_shuffle_i64x2(u0, u1, _MM_SHUFFLE(3, 2, 3, 2));
  const __m512i d = _mm512_shuffle_i64x2(u2, u3, _MM_SHUFFLE(3, 2, 3, 2));
  alignas(64) uint32_t blocks[64];
  uint32_t* out = count == 16 ? words : blocks;  // A whole vector goes straight out.
  _mm512_storeu_si512(out, _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
  _mm512_storeu_si512(out + 16, _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
  _mm512_storeu_si512(out + 32, _mm512_shuffle_i64x2(c, d, _MM_SHUFFLE(2, 0, 2, 0)));
  _mm512_storeu_si512(out + 48, _mm512_shuffle_i64x2(c, d, _MM_SHUFFLE(3, 1, 3, 1)));
  if (count < 16) std::memcpy(words, blocks, sizeof(uint32_t) * 4 * count);
}

// Sixteen blocks per vector, one block per 32-bit lane; above sixteen, a second vector of the
// next sixteen advances in the same loop. A round is a chain of dependent multiplies and shuffles,
// and the draws that follow a batch wait for it, so two independent chains cost little more than
// one: a sampler that needs 25 blocks gets them in one call's latency instead of two.
__attribute__((target("avx512f"))) void PhiloxBlocksAvx512(const uint32_t counter[4],
                                                           const uint32_t key[2], int count,
                                                           uint32_t* words) {
  static_assert(kPhiloxBatch == 32, "two vectors of sixteen blocks");
  const __m512i lanes =
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512i a0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(counter[0])), lanes);
  __m512i a1 = _mm512_set1_epi32(static_cast<int>(counter[1]));
  __m512i a2 = _mm512_set1_epi32(static_cast<int>(counter[2]));
  __m512i a3 = _mm512_set1_epi32(static_cast<int>(counter[3]));
  uint32_t k0 = key[0], k1 = key[1];
  if (count <= 16) {
    for (int round = 0; round < 10; ++round) {
      RoundAvx512(a0, a1, a2, a3, _mm512_set1_epi32(static_cast<int>(k0)),
                  _mm512_set1_epi32(static_cast<int>(k1)));
      k0 += kKeyBump0;
      k1 += kKeyBump1;
    }
    StoreAvx512(a0, a1, a2, a3, count, words);
    return;
  }
  __m512i b0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(counter[0] + 16u)), lanes);
  __m512i b1 = a1, b2 = a2, b3 = a3;
  for (int round = 0; round < 10; ++round) {
    const __m512i key0 = _mm512_set1_epi32(static_cast<int>(k0));
    const __m512i key1 = _mm512_set1_epi32(static_cast<int>(k1));
    RoundAvx512(a0, a1, a2, a3, key0, key1);
    RoundAvx512(b0, b1, b2, b3, key0, key1);
    k0 += kKeyBump0;
    k1 += kKeyBump1;
  }
  StoreAvx512(a0, a1, a2, a3, 16, words);
  StoreAvx512(b0, b1, b2, b3, count - 16, words + 64);
}

#else

void PhiloxBlocksAvx2(const uint32_t counter[4], const uint32_t key[2], int count,
                      uint32_t* words) {
  PhiloxBlocksPortable(counter, key, count, words);
}

void PhiloxBlocksAvx512(const uint32_t counter[4], const uint32_t key[2], int count,
                        uint32_t* words) {
  PhiloxBlocksPortable(counter, key, count, words);
}

#endif

void PhiloxBlocks(const uint32_t counter[4], const uint32_t key[2], int count, uint32_t* words) {
  if (CpuHasAvx512()) {
    PhiloxBlocksAvx512(counter, key, count, words);
  } else if (CpuHasAvx2()) {
    PhiloxBlocksAvx2(counter, key, count, words);
  } else {
    PhiloxBlocksPortable(counter, key, count, words);
  }
}

}  // namespace sigprop
