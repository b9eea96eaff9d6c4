// Run-time CPU feature checks for the few kernels with AVX2 or AVX-512 implementations beside the
// portable one. Each such pair computes bit-identical results (integer arithmetic, or floating-point
// operations in the same order with no fused multiply-add), so the choice changes speed only.
#ifndef SIGPROP_COMMON_CPU_FEATURES_H_
#define SIGPROP_COMMON_CPU_FEATURES_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sigprop {

// The variants of the lane kernels (simd_lanes.h): all give the same results. kAvx512 is
// AVX512F with AVX512DQ, whose vpmovm2q turns a comparison's mask register into a lane mask
// (without it GCC compares lane by lane).
enum class VectorIsa { kBaseline, kAvx2, kAvx512 };

// The variants this CPU runs, best last (tests run each, whatever SIGPROP_MAX_ISA says).
std::vector<VectorIsa> SupportedVectorIsas();

// The variant the kernels use: the best this CPU runs, but none above SIGPROP_MAX_ISA.
VectorIsa BestVectorIsa();

// SIGPROP_MAX_ISA (environment): the best instruction set the kernels may use — baseline, avx2 or
// avx512 — to see what a run costs on a CPU without the others, or to rule a variant out. Unset or
// empty: the CPU's best. Every variant gives the same bits, so it changes speed only. Read once, at
// the first query; a value that is not one of those caps nothing, and the binaries refuse to start
// with it (CheckMaxIsaEnvironment).
absl::StatusOr<std::optional<VectorIsa>> ParseMaxIsa(const char* text);
absl::Status CheckMaxIsaEnvironment();

// The CPU's features as the kernels' dispatch sees them: each false where SIGPROP_MAX_ISA rules
// it out.
bool CpuHasAvx2();
// AVX-512 foundation instructions (AVX512F), all that PhiloxBlocksAvx512 uses.
bool CpuHasAvx512();
// AVX512DQ as well (VectorIsa::kAvx512).
bool CpuHasAvx512Dq();

}  // namespace sigprop

#endif  // SIGPROP_COMMON_CPU_FEATURES_H_
