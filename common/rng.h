// Counter-based random streams (SPEC §7 "Randomness").
//
// Philox4x32-10 from Random123. The 64-bit Philox key holds the run's seed; the 128-bit counter is
// (draw, layer, sample, point), so every (seed, point, sample, layer) owns a disjoint stream of
// 2^32 blocks. A draw depends only on those coordinates, never on which thread ran it or in which
// order, which is what makes results byte-identical at any thread count.
//
// Gaussians use the Box–Muller transform on 32+21-bit uniforms: a fixed, documented transform,
// unlike std:: distributions whose output is implementation-defined. Its logarithm, sine and
// cosine are polynomials in IEEE +, −, ×, ÷ written here (rng.cc), not libm calls, whose last bits
// differ between libm's code paths; and FillGaussian generates Philox blocks and transforms them
// in batches, the values still equal to repeated Gaussian() calls.
#ifndef SIGPROP_COMMON_RNG_H_
#define SIGPROP_COMMON_RNG_H_

#include <cstddef>
#include <cstdint>

#include <Random123/philox.h>

namespace sigprop {

// Layer coordinates with a fixed meaning.
inline constexpr uint32_t kInputLayer = 0;            // Random rotation of X_0.
inline constexpr uint32_t kLossLayer = 0xFFFFFFFFu;   // Loss vectors u, y of the gradient (SPEC §3).
// The implicit-weight backward pass's fresh draws for layer ℓ ≥ 1 (SPEC §4a): a stream disjoint
// from the forward pass's layers 1..2^31−1 and from kLossLayer.
inline constexpr uint32_t BackwardLayer(int layer) {
  return 0x80000000u + static_cast<uint32_t>(layer);
}

class RandomStream {
 public:
  RandomStream(uint64_t seed, uint32_t point, uint32_t sample, uint32_t layer);

  // Uniform on the open interval (0, 1), 53 random bits.
  double Uniform();
  // Standard normal.
  double Gaussian();
  // n standard normals; the same values as n calls of Gaussian().
  void FillGaussian(double* out, std::size_t n);
  // Standard normal by the ziggurat method (Marsaglia & Tsang 2000, 128 layers), another fixed
  // transform of the Philox words: much faster than Gaussian() because 99% of draws cost one word
  // and a table lookup, no log or sin. Its values differ from Gaussian()'s. The layer index comes
  // from the word's low 7 bits and the signed value from its upper 25 — disjoint bits, so the
  // correlation of the original (which took both from the same bits; Doornik 2005) does not
  // arise — centred on odd multiples of 2⁶ so the grid is symmetric. Resolution 2⁻²⁴ of the layer
  // width: ample for the exact MLP's hidden pre-activations and the SDE's Brownian increments.
  double GaussianZigguratOneWord();
  // n of those; the same values as n calls of GaussianZigguratOneWord(), from Philox blocks
  // generated in batches.
  void FillGaussianZigguratOneWord(double* out, std::size_t n);
  // The same n values into out[0], out[stride], …, out[(n − 1)·stride].
  void FillGaussianZigguratOneWord(double* out, std::size_t n, std::size_t stride);
  // That strided fill for each of `count` streams, stream s writing from outs[s]: the same values
  // as count separate fills, with every stream's first Philox batch made before any draw, so that
  // their latencies overlap (the SDE sampler draws its eight paths' increments this way).
  static void FillGaussianZigguratOneWordEach(RandomStream* const* streams, double* const* outs,
                                              int count, std::size_t n, std::size_t stride);
  // Chi-square with k > 0 degrees of freedom (Marsaglia–Tsang gamma on this stream).
  double ChiSquare(double k);

 private:
  using Philox = r123::Philox4x32;
  void Refill();
  uint32_t NextWord();
  // The rare part of a ziggurat draw whose words (hz, iz) missed the fast rectangle: the tail or
  // the wedge, and on rejection a fresh draw.
  double ZigguratSlow(int32_t hz, uint32_t iz);
  // Leaves the stream just after the first `taken` words of a batch of Philox blocks that began
  // at block `first` (its unused blocks are discarded, to be made again on the next refill).
  void SyncToBatch(const uint32_t* words, uint32_t first, int taken);
  // Blocks in the batch that a fill of `draws` one-word Gaussians starts with.
  static int ZigguratBatchBlocks(std::size_t draws);
  // One-word ziggurat draws into out[i·stride], from i on while i < n, from the batch words[0..total)
  // of blocks that began at block `first`; leaves the stream after the words taken, returns the
  // new i.
  std::size_t ZigguratFromBatch(const uint32_t* words, uint32_t first, int total, double* out,
                                std::size_t n, std::size_t stride, std::size_t i);

  Philox philox_;
  Philox::key_type key_;
  Philox::ctr_type counter_;
  Philox::ctr_type block_;
  int used_ = 4;             // Words of block_ already consumed.
  bool has_spare_ = false;   // Box–Muller makes pairs; the second is kept.
  double spare_ = 0.0;
};

}  // namespace sigprop

#endif  // SIGPROP_COMMON_RNG_H_
