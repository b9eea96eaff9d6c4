// The ziggurat Gaussians of one random stream (rng.h), generated in batches: Fill(out, n) writes
// exactly the values of n successive RandomStream::GaussianZiggurat() calls on the stream
// (seed, point, sample, layer), so a kernel that draws many Gaussians per step (the SDE's Brownian
// increments) gets the same numbers several times faster.
//
// How: Philox4x32-10 blocks are generated 32 at a time (AVX-512 when the CPU has it, else loops that
// the compiler vectorises; integer arithmetic, so the words are the same), and the ziggurat's fast
// path (|hz| < kn[iz]: accept hz·wn[iz]) is evaluated for the buffered word pairs eight at a time. A rejected pair runs the full scalar ziggurat (wedge or tail), which consumes
// further words two at a time, so every later draw still starts on an even word and the
// precomputed fast-path values stay valid. Tables and the wedge/tail arithmetic are rng.cc's,
// repeated here because rng.cc keeps them private; rng_test pins the equality.
#ifndef SIGPROP_COMMON_ZIGGURAT_STREAM_H_
#define SIGPROP_COMMON_ZIGGURAT_STREAM_H_

#include <cstdint>

namespace sigprop {

class ZigguratStream {
 public:
  // `portable`: the plain C++ kernels even where AVX-512 is available (tests compare the two).
  ZigguratStream(uint64_t seed, uint32_t point, uint32_t sample, uint32_t layer,
                 bool portable = false);

  // n standard normals: the next n values of RandomStream::GaussianZiggurat() on this stream.
  void Fill(double* out, int n);

 private:
  static constexpr int kRefillBlocks = 32;

  // Appends kRefillBlocks Philox blocks after the unread words.
  void Refill();
  uint32_t NextWord();
  double Uniform();
  // The scalar ziggurat from the current word, as RandomStream::GaussianZiggurat().
  double SlowGaussian();

  struct Kernels {
    void (*philox)(const uint32_t* counter, const uint32_t* key, uint32_t* words);
    int (*fast_path)(const uint32_t* words, int pairs, double* out);
  };
  static const Kernels& Portable();
  static const Kernels& Best();

  const Kernels* kernels_;
  uint32_t key_[2];
  uint32_t counter_[4];
  uint32_t words_[4 * kRefillBlocks + 4];
  int pos_ = 0;
  int end_ = 0;
};

}  // namespace sigprop

#endif  // SIGPROP_COMMON_ZIGGURAT_STREAM_H_
