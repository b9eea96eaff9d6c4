// Run-time CPU feature checks for the few kernels with AVX2 or AVX-512 implementations beside the
// portable one. Each such pair computes bit-identical results (integer arithmetic, or floating-point
// operations in the same order with no fused multiply-add), so the choice changes speed only.
#ifndef SIGPROP_COMMON_CPU_FEATURES_H_
#define SIGPROP_COMMON_CPU_FEATURES_H_

namespace sigprop {

bool CpuHasAvx2();
// AVX-512 foundation instructions (AVX512F), all that PhiloxBlocksAvx512 uses.
bool CpuHasAvx512();

}  // namespace sigprop

#endif  // SIGPROP_COMMON_CPU_FEATURES_H_
