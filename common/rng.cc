// The stream itself: a Philox counter keyed by (seed, point, sample, layer), its words and uniform
// draws. Normal draws are in rng_normals.cc, chi-square (gamma) draws in rng_gamma.cc.
#include "common/rng.h"

#include "common/rng_words.h"

namespace sigprop {

using rng_internal::UnitFromWords;

RandomStream::RandomStream(uint64_t seed, uint32_t point, uint32_t sample, uint32_t layer) {
  key_ = {{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}};
  counter_ = {{0u, layer, sample, point}};
}

void RandomStream::Refill() {
  block_ = philox_(counter_, key_);
  ++counter_.v[0];
  used_ = 0;
}

uint32_t RandomStream::NextWord() {
  if (used_ == 4) Refill();
  return block_.v[used_++];
}

double RandomStream::Uniform() {
  const uint32_t hi = NextWord();
  const uint32_t lo = NextWord();
  return UnitFromWords(hi, lo);
}

}  // namespace sigprop
