#include "common/cpu_features.h"

namespace sigprop {

#if defined(__x86_64__)

bool CpuHasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}

bool CpuHasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

bool CpuHasAvx512Dq() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  return has;
}

#else

bool CpuHasAvx2() { return false; }

bool CpuHasAvx512() { return false; }

bool CpuHasAvx512Dq() { return false; }

#endif

std::vector<VectorIsa> SupportedVectorIsas() {
  std::vector<VectorIsa> isas = {VectorIsa::kBaseline};
  if (CpuHasAvx2()) isas.push_back(VectorIsa::kAvx2);
  if (CpuHasAvx512Dq()) isas.push_back(VectorIsa::kAvx512);
  return isas;
}

}  // namespace sigprop
