#include "server/allocator_tuning.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sigprop::server {

bool TuneAllocator() {
#if defined(__GLIBC__)
  return mallopt(M_TOP_PAD, static_cast<int>(kAllocatorTopPadBytes)) == 1;
#else
  return false;
#endif
}

}  // namespace sigprop::server
