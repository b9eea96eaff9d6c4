// An allocator for large, long-lived numeric arrays (the sample table): blocks of 2 MB or more are
// aligned to 2 MB and advised onto transparent huge pages, so that filling one costs a page fault
// every 2 MB instead of every 4 KB. A recording-every-layer SDE run's table is ~40 MB; on 4 KB
// pages its first touch took ~1000 faults, several percent of the run on a virtual machine
// (issue 18). std::allocator's unaligned block left up to 2 MB at each end on small pages. Only
// advice: where THP is off, the pages are ordinary ones and nothing else changes.
#ifndef SIGPROP_COMMON_HUGE_PAGE_ALLOCATOR_H_
#define SIGPROP_COMMON_HUGE_PAGE_ALLOCATOR_H_

#include <cstddef>
#include <cstdlib>
#include <new>

namespace sigprop {

namespace huge_pages {
constexpr size_t kHugePage = size_t{2} << 20;
// Memory for `bytes` (≥ kHugePage), kHugePage-aligned and advised onto huge pages; free() frees it.
void* Allocate(size_t bytes);
}  // namespace huge_pages

template <typename T>
struct HugePageAllocator {
  using value_type = T;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}  // NOLINT: rebinding.

  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    const size_t bytes = n * sizeof(T);
    if (bytes < huge_pages::kHugePage) return static_cast<T*>(::operator new(bytes));
    return static_cast<T*>(huge_pages::Allocate(bytes));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n * sizeof(T) < huge_pages::kHugePage) {
      ::operator delete(p);
    } else {
      std::free(p);
    }
  }

  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const HugePageAllocator<U>&) const noexcept { return false; }
};

}  // namespace sigprop

#endif  // SIGPROP_COMMON_HUGE_PAGE_ALLOCATOR_H_
