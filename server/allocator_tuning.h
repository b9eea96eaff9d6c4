// glibc's allocator, tuned for a process whose worker threads build results a few kilobytes at a
// time (rows, their protobufs, SQLite's page cache): see docs/adr/0014-allocator-top-pad.md.
#ifndef SIGPROP_SERVER_ALLOCATOR_TUNING_H_
#define SIGPROP_SERVER_ALLOCATOR_TUNING_H_

#include <cstddef>

namespace sigprop::server {

// Each arena's heap is made and grown this much beyond what a request needs.
inline constexpr size_t kAllocatorTopPadBytes = size_t{16} << 20;

// Sets M_TOP_PAD to kAllocatorTopPadBytes; returns false where the allocator refuses (not glibc).
// Call it first thing in main(), before any thread starts: an arena takes the pad when it is made.
bool TuneAllocator();

}  // namespace sigprop::server

#endif  // SIGPROP_SERVER_ALLOCATOR_TUNING_H_
