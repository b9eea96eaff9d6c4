// Run-time CPU feature checks for the few kernels with an AVX2 implementation beside the portable
// one. Each such pair computes bit-identical results (integer arithmetic, or floating-point
// operations in the same order with no fused multiply-add), so the choice changes speed only.
#ifndef SIGPROP_COMMON_CPU_FEATURES_H_
#define SIGPROP_COMMON_CPU_FEATURES_H_

namespace sigprop {

bool CpuHasAvx2();

}  // namespace sigprop

#endif  // SIGPROP_COMMON_CPU_FEATURES_H_
