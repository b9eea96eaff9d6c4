// Doubles as one value per lane, for the kernels that run the same scalar algorithm on eight
// independent problems at once (the SDE's paths, batched_euler_maruyama.h; their statistics,
// covariance_stats_lanes.h). Lane holds all eight; the kernels compute on Vectors<W>, W = 2, 4 or 8
// lanes of their target's register width (one SSE2, AVX2 or AVX-512 instruction), always
// elementwise; with -ffp-contract=off on the including file every variant returns the bits of the
// scalar code written with the same operations in the same order.
//
// The helpers are always inlined, so that each variant gets its own instructions.
#ifndef SIGPROP_COMMON_SIMD_LANES_H_
#define SIGPROP_COMMON_SIMD_LANES_H_

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace sigprop {

inline constexpr int kLanes = 8;

namespace lanes {

// The helpers below pass lanes by value; they are always inlined, so no call crosses an ABI
// boundary and GCC's note that AVX-512 vectors change it does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

// Vectors of W doubles and their masks (every element all ones or all zeros, as comparisons give).
// GCC lowers operators on a vector wider than the target's registers well for arithmetic but
// element by element for comparisons and for building a vector from pieces: a kernel meant for
// every target takes its target's width (covariance_stats_lanes_body.inc); Lane is eight.
// may_alias: callers read and write their double arrays both as lanes and as doubles.
template <int W>
struct Vectors {
  typedef double Lane __attribute__((vector_size(8 * W), __may_alias__));
  typedef int64_t Mask __attribute__((vector_size(8 * W)));
};
typedef Vectors<kLanes>::Lane Lane;
typedef Vectors<kLanes>::Mask LaneMask;
static_assert(sizeof(Lane) == kLanes * sizeof(double));

// static: each including unit has its own copies, compiled for its own target, so the linker
// never merges an AVX-512 copy into a caller built for another.
#define SIGPROP_LANES_INLINE [[gnu::always_inline]] static inline

template <typename V>
static constexpr int WidthOf() {
  return static_cast<int>(sizeof(V) / sizeof(double));
}

// For arrays aligned to the vector's size only.
template <typename V = Lane>
SIGPROP_LANES_INLINE V Load(const double* p) {
  return *reinterpret_cast<const V*>(p);
}
SIGPROP_LANES_INLINE void Store(double* p, Lane x) { *reinterpret_cast<Lane*>(p) = x; }
SIGPROP_LANES_INLINE Lane LoadUnaligned(const double* p) {
  Lane x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
template <typename V = Lane>
SIGPROP_LANES_INLINE V Broadcast(double x) {
  return V{} + x;
}

template <typename V>
SIGPROP_LANES_INLINE V Sqrt(V x) {
  V r;
  for (int p = 0; p < WidthOf<V>(); ++p) r[p] = __builtin_sqrt(x[p]);
  return r;
}

template <typename V>
SIGPROP_LANES_INLINE V Abs(V x) {
  V r;
  for (int p = 0; p < WidthOf<V>(); ++p) r[p] = __builtin_fabs(x[p]);
  return r;
}

// copysign(magnitude, sign) lane by lane.
template <typename V>
SIGPROP_LANES_INLINE V CopySign(V magnitude, V sign) {
  V r;
  for (int p = 0; p < WidthOf<V>(); ++p) r[p] = __builtin_copysign(magnitude[p], sign[p]);
  return r;
}

// mask ? a : b lane by lane, by bit operations: GCC 12 compiles `?:` on a mask that is also
// used otherwise (Bits, further &) lane by lane.
template <typename V, typename M>
SIGPROP_LANES_INLINE V Select(M mask, V a, V b) {
  return reinterpret_cast<V>((reinterpret_cast<M>(a) & mask) | (reinterpret_cast<M>(b) & ~mask));
}

// Bit p of lane p, for moving between masks and bit sets without a lane-by-lane loop (which GCC
// compiles to eight extractions or insertions).
template <typename M = LaneMask>
SIGPROP_LANES_INLINE M LaneBits() {
  M bits{};
  for (int p = 0; p < WidthOf<M>(); ++p) bits[p] = int64_t{1} << p;
  return bits;
}

// Bit p set where lane p of the mask is: one instruction where the translation unit's target has
// it for this width (AVX-512's vpmovq2m, AVX's and SSE2's movmskpd; a function given a wider target
// by GCC's attribute still takes the fallback), else the lanes' bits ORed by halving shuffles.
// In the statistics' Laguerre loop the shuffles were an eighth of the time.
template <typename M>
SIGPROP_LANES_INLINE uint32_t Bits(M mask) {
  constexpr int kWidth = WidthOf<M>();
#if defined(__AVX512DQ__)
  if constexpr (kWidth == 8) {
    return static_cast<uint32_t>(_mm512_movepi64_mask(reinterpret_cast<__m512i>(mask)));
  }
#endif
#if defined(__AVX__)
  if constexpr (kWidth == 4) {
    return static_cast<uint32_t>(_mm256_movemask_pd(reinterpret_cast<__m256d>(mask)));
  }
#endif
#if defined(__SSE2__)
  if constexpr (kWidth == 2) {
    return static_cast<uint32_t>(_mm_movemask_pd(reinterpret_cast<__m128d>(mask)));
  }
#endif
  M a = mask & LaneBits<M>();
  if constexpr (kWidth == 8) a |= __builtin_shufflevector(a, a, 4, 5, 6, 7, 0, 1, 2, 3);
  if constexpr (kWidth == 8) a |= __builtin_shufflevector(a, a, 2, 3, 0, 1, 6, 7, 4, 5);
  if constexpr (kWidth == 8) a |= __builtin_shufflevector(a, a, 1, 0, 3, 2, 5, 4, 7, 6);
  if constexpr (kWidth != 8) {
    for (int p = 1; p < kWidth; ++p) a[0] |= a[p];
  }
  return static_cast<uint32_t>(a[0]);
}

// (`== LaneBits()`, not `!= 0`: GCC 12 compiles the latter lane by lane under AVX-512.)
template <typename M = LaneMask>
SIGPROP_LANES_INLINE M MaskOf(uint32_t bits) {
  return ((M{} + static_cast<int64_t>(bits)) & LaneBits<M>()) == LaneBits<M>();
}

#pragma GCC diagnostic pop

}  // namespace lanes
}  // namespace sigprop

#endif  // SIGPROP_COMMON_SIMD_LANES_H_
