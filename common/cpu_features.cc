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

#else

bool CpuHasAvx2() { return false; }

bool CpuHasAvx512() { return false; }

#endif

}  // namespace sigprop
