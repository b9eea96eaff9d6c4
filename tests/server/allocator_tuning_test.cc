// TuneAllocator (server/allocator_tuning.h): a thread's arena, made after the call, starts with
// its heap writable kAllocatorTopPadBytes beyond the first request, so that the thread's small
// allocations do not grow it one mprotect (and one page fault) at a time. Read from the kernel's
// own account of the mapping, /proc/self/maps. glibc only: elsewhere the call reports false.
#include "server/allocator_tuning.h"

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace sigprop::server {
namespace {

// The size of the mapping of /proc/self/maps that holds `address` with the permissions `perms`;
// 0 if none does.
uint64_t MappingSize(const void* address, const std::string& perms) {
  const auto at = reinterpret_cast<uintptr_t>(address);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    uint64_t begin = 0, end = 0;
    char mode[5] = {};
    if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %4s", &begin, &end, mode) != 3) continue;
    if (begin <= at && at < end) return perms == mode ? end - begin : 0;
  }
  return 0;
}

TEST(AllocatorTuningTest, ANewThreadsArenaIsWritableThePadBeyondItsFirstRequest) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "M_TOP_PAD is glibc's";
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizer presets run this label too; their allocator replaces glibc's (ASan's mallopt
  // does nothing and returns 0), so there is no glibc arena to look at.
  GTEST_SKIP() << "a sanitizer's allocator replaces glibc's: no M_TOP_PAD to see";
#endif
  // This test is the process's first use of threads, so the thread below gets a new arena (an
  // exited thread's arena, made before the call, would be reused).
  ASSERT_TRUE(TuneAllocator());
  uint64_t writable = 0;
  std::thread([&] {
    void* block = std::malloc(64);
    ASSERT_NE(block, nullptr);
    writable = MappingSize(block, "rw-p");
    std::free(block);
  }).join();
  // Untuned, glibc makes the heap writable 128 KiB beyond the request (its default pad).
  EXPECT_GE(writable, kAllocatorTopPadBytes) << "the thread's heap is writable for " << writable
                                             << " bytes only";
}

}  // namespace
}  // namespace sigprop::server
