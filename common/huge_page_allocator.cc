#include "common/huge_page_allocator.h"

#include <sys/mman.h>

namespace sigprop {
namespace huge_pages {

void* Allocate(size_t bytes) {
  if (bytes > static_cast<size_t>(-1) - kHugePage) throw std::bad_alloc();
  // Whole huge pages, so that the block's last page is not shared with another allocation.
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(kHugePage, rounded);
  if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}

}  // namespace huge_pages
}  // namespace sigprop
