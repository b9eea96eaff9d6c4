// Turning Philox words into a uniform double: shared by the stream's Uniform (rng.cc) and its
// normal draws (rng_normals.cc), which must agree bit for bit.
#ifndef SIGPROP_COMMON_RNG_WORDS_H_
#define SIGPROP_COMMON_RNG_WORDS_H_

#include <cstdint>

namespace sigprop::rng_internal {

// (0, 1) from two words, 53 bits: 32 from the first, 21 from the second; +0.5 keeps it off 0 and 1.
inline double UnitFromWords(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 21) | (lo >> 11);
  return (static_cast<double>(bits) + 0.5) * 0x1.0p-53;
}

}  // namespace sigprop::rng_internal

#endif  // SIGPROP_COMMON_RNG_WORDS_H_
