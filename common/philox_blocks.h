// Philox4x32-10 blocks in batches (SPEC §7 "Randomness"): the same function as Random123's
// r123::Philox4x32, computed for up to kPhiloxBatch consecutive counters at once. The Gaussian
// generators spend most of their time here, so there are three implementations of identical
// output: portable structure-of-arrays loops, AVX2 and AVX-512 intrinsics, the widest the CPU has
// chosen at run time (integer arithmetic only, so the words are the same bit for bit; rng_test
// checks each against Random123). AVX-512 makes a batch in about half AVX2's time.
#ifndef SIGPROP_COMMON_PHILOX_BLOCKS_H_
#define SIGPROP_COMMON_PHILOX_BLOCKS_H_

#include <cstdint>

namespace sigprop {

inline constexpr int kPhiloxBatch = 32;

// Blocks for counters (c0 + b, c1, c2, c3), b = 0..count−1 (count ≤ kPhiloxBatch), written word
// by word: words[4b .. 4b+3] is block b.
void PhiloxBlocks(const uint32_t counter[4], const uint32_t key[2], int count, uint32_t* words);

// The implementations behind PhiloxBlocks, for tests and benchmarks.
void PhiloxBlocksPortable(const uint32_t counter[4], const uint32_t key[2], int count,
                          uint32_t* words);
void PhiloxBlocksAvx2(const uint32_t counter[4], const uint32_t key[2], int count,
                      uint32_t* words);  // Only where CpuHasAvx2() (cpu_features.h).
void PhiloxBlocksAvx512(const uint32_t counter[4], const uint32_t key[2], int count,
                        uint32_t* words);  // Only where CpuHasAvx512().

}  // namespace sigprop

#endif  // SIGPROP_COMMON_PHILOX_BLOCKS_H_
