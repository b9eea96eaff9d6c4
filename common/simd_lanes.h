// Eight doubles as one value per lane, for the kernels that run the same scalar algorithm on eight
// independent problems at once (the SDE's paths, batched_euler_maruyama.h; their statistics,
// covariance_stats_lanes.h). GCC lowers the operators to whatever the including function's target
// has (four SSE2, two AVX2 or one AVX-512 instruction), always elementwise; with
// -ffp-contract=off on the including file every variant returns the bits of the scalar code
// written with the same operations in the same order.
//
// The helpers are always inlined, so that each variant gets its own instructions.
#ifndef SIGPROP_COMMON_SIMD_LANES_H_
#define SIGPROP_COMMON_SIMD_LANES_H_

#include <cstdint>
#include <cstring>

namespace sigprop {

inline constexpr int kLanes = 8;

namespace lanes {

// The helpers below pass lanes by value; they are always inlined, so no call crosses an ABI
// boundary and GCC's note that AVX-512 vectors change it does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

// may_alias: callers read and write their double arrays both as lanes and as doubles.
typedef double Lane __attribute__((vector_size(8 * kLanes), __may_alias__));
typedef int64_t LaneMask __attribute__((vector_size(8 * kLanes)));
static_assert(sizeof(Lane) == kLanes * sizeof(double));

// static: each including unit has its own copies, compiled for its own target, so the linker
// never merges an AVX-512 copy into a caller built for another.
#define SIGPROP_LANES_INLINE [[gnu::always_inline]] static inline

// For 64-byte aligned arrays only.
SIGPROP_LANES_INLINE Lane Load(const double* p) { return *reinterpret_cast<const Lane*>(p); }
SIGPROP_LANES_INLINE void Store(double* p, Lane x) { *reinterpret_cast<Lane*>(p) = x; }
SIGPROP_LANES_INLINE Lane LoadUnaligned(const double* p) {
  Lane x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
SIGPROP_LANES_INLINE Lane Broadcast(double x) { return Lane{} + x; }

SIGPROP_LANES_INLINE Lane Sqrt(Lane x) {
  Lane r;
  for (int p = 0; p < kLanes; ++p) r[p] = __builtin_sqrt(x[p]);
  return r;
}

SIGPROP_LANES_INLINE Lane Abs(Lane x) {
  Lane r;
  for (int p = 0; p < kLanes; ++p) r[p] = __builtin_fabs(x[p]);
  return r;
}

// copysign(magnitude, sign) lane by lane.
SIGPROP_LANES_INLINE Lane CopySign(Lane magnitude, Lane sign) {
  Lane r;
  for (int p = 0; p < kLanes; ++p) r[p] = __builtin_copysign(magnitude[p], sign[p]);
  return r;
}

// mask ? a : b lane by lane, by bit operations: GCC 12 compiles `?:` on a mask that is also
// used otherwise (Bits, further &) lane by lane.
SIGPROP_LANES_INLINE Lane Select(LaneMask mask, Lane a, Lane b) {
  return reinterpret_cast<Lane>((reinterpret_cast<LaneMask>(a) & mask) |
                                (reinterpret_cast<LaneMask>(b) & ~mask));
}

// Bit p of lane p, for moving between masks and bit sets without a lane-by-lane loop (which GCC
// compiles to eight extractions or insertions).
SIGPROP_LANES_INLINE LaneMask LaneBits() { return LaneMask{1, 2, 4, 8, 16, 32, 64, 128}; }

// Bit p set where lane p of the mask is: the lanes' bits ORed by three halving shuffles.
SIGPROP_LANES_INLINE uint32_t Bits(LaneMask mask) {
  LaneMask a = mask & LaneBits();
  a |= __builtin_shufflevector(a, a, 4, 5, 6, 7, 0, 1, 2, 3);
  a |= __builtin_shufflevector(a, a, 2, 3, 0, 1, 6, 7, 4, 5);
  a |= __builtin_shufflevector(a, a, 1, 0, 3, 2, 5, 4, 7, 6);
  return static_cast<uint32_t>(a[0]);
}

// (`== LaneBits()`, not `!= 0`: GCC 12 compiles the latter lane by lane under AVX-512.)
SIGPROP_LANES_INLINE LaneMask MaskOf(uint32_t bits) {
  return ((LaneMask{} + static_cast<int64_t>(bits)) & LaneBits()) == LaneBits();
}

#pragma GCC diagnostic pop

}  // namespace lanes
}  // namespace sigprop

#endif  // SIGPROP_COMMON_SIMD_LANES_H_
