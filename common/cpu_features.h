// Run-time CPU feature checks for the few kernels with AVX2 or AVX-512 implementations beside the
// portable one. Each such pair computes bit-identical results (integer arithmetic, or floating-point
// operations in the same order with no fused multiply-add), so the choice changes speed only.
#ifndef SIGPROP_COMMON_CPU_FEATURES_H_
#define SIGPROP_COMMON_CPU_FEATURES_H_

#include <vector>

namespace sigprop {

// The variants of the lane kernels (simd_lanes.h): all give the same results. kAvx512 is
// AVX512F with AVX512DQ, whose vpmovm2q turns a comparison's mask register into a lane mask
// (without it GCC compares lane by lane).
enum class VectorIsa { kBaseline, kAvx2, kAvx512 };

// The variants this CPU runs, best last (tests run each).
std::vector<VectorIsa> SupportedVectorIsas();

bool CpuHasAvx2();
// AVX-512 foundation instructions (AVX512F), all that PhiloxBlocksAvx512 uses.
bool CpuHasAvx512();
// AVX512DQ as well (VectorIsa::kAvx512).
bool CpuHasAvx512Dq();

}  // namespace sigprop

#endif  // SIGPROP_COMMON_CPU_FEATURES_H_
