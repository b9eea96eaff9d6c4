// HugePageAllocator (huge_page_allocator.h): blocks of 2 MB or more start on a 2 MB boundary and
// carry the kernel's huge-page advice (VmFlags "hg" in /proc/self/smaps, which MADV_HUGEPAGE sets
// whenever the kernel has transparent huge pages, whatever their current mode); smaller blocks
// come from operator new; a vector using it keeps its contents across growth.
#include "common/huge_page_allocator.h"

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <gtest/gtest.h>

namespace sigprop {
namespace {

// The VmFlags line of the mapping that holds `address`, or "" if none is found.
std::string VmFlagsOf(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const uintptr_t at = reinterpret_cast<uintptr_t>(address);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> begin >> dash >> end && dash == '-') {
      inside = begin <= at && at < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

bool KernelHasTransparentHugePages() {
  struct stat info;
  return stat("/sys/kernel/mm/transparent_hugepage", &info) == 0;
}

TEST(HugePageAllocatorTest, LargeBlocksAreAlignedAndAdvised) {
  // 3 MB and one double: not a multiple of 2 MB, so the rounding up is exercised.
  const size_t n = (size_t{3} << 20) / sizeof(double) + 1;
  HugePageAllocator<double> allocator;
  double* p = allocator.allocate(n);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % huge_pages::kHugePage, 0u);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<double>(i);
  EXPECT_EQ(p[n - 1], static_cast<double>(n - 1));
  if (KernelHasTransparentHugePages()) {
    EXPECT_NE(VmFlagsOf(p).find(" hg"), std::string::npos) << VmFlagsOf(p);
  }
  allocator.deallocate(p, n);
}

TEST(HugePageAllocatorTest, SmallBlocksComeFromOperatorNew) {
  HugePageAllocator<double> allocator;
  double* p = allocator.allocate(100);
  for (int i = 0; i < 100; ++i) p[i] = i;
  EXPECT_EQ(p[99], 99.0);
  allocator.deallocate(p, 100);
}

TEST(HugePageAllocatorTest, VectorKeepsItsContentsAcrossTheThreshold) {
  std::vector<double, HugePageAllocator<double>> values(1000, 0.5);
  values.resize(size_t{1} << 20, 1.5);  // 8 MB: moves onto huge pages.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(values.data()) % huge_pages::kHugePage, 0u);
  EXPECT_EQ(values[999], 0.5);
  EXPECT_EQ(values[1000], 1.5);
  EXPECT_EQ(values.back(), 1.5);
  values.resize(10);
  values.shrink_to_fit();  // Back below 2 MB: operator new again, freed by the matching call.
  EXPECT_EQ(values[9], 0.5);
}

}  // namespace
}  // namespace sigprop
