// Rotary position embeddings (SPEC §2b, Su et al., arXiv 2104.09864) on one head's queries or
// keys: token i (row i, positions 0…m−1) turns pair j of the first `rotated` dimensions by the
// angle i·ω_j, ω_j = θ^(−2j/rotated). Pairs are (j, j + rotated/2) (LLaMA, GPT-NeoX: the
// half-split) or (2j, 2j+1) (GPT-J: interleaved); the remaining dimensions pass unchanged.
// Rotations are orthogonal, so the backward pass is the same map at the opposite angles.
#ifndef SIGPROP_COMMON_FINITE_ROTARY_H_
#define SIGPROP_COMMON_FINITE_ROTARY_H_

#include <cmath>

#include "common/linalg.h"
#include "common/model_plan.h"

namespace sigprop {

// In place on an m × d block (d ≥ rope.rotated); `inverse` turns by −i·ω_j (the transpose).
template <typename Block>
void ApplyRotary(const RopePlan& rope, bool inverse, Block&& x);

// Implementation.
template <typename Block>
void ApplyRotary(const RopePlan& rope, bool inverse, Block&& x) {
  const int half = rope.rotated / 2;
  if (!rope.on || half == 0) return;
  const double sign = inverse ? -1.0 : 1.0;
  for (int j = 0; j < half; ++j) {
    const double omega = std::pow(rope.theta, -2.0 * j / rope.rotated);
    const int a = rope.interleaved ? 2 * j : j;
    const int b = rope.interleaved ? 2 * j + 1 : j + half;
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const double angle = sign * static_cast<double>(i) * omega;
      const double c = std::cos(angle), s = std::sin(angle);
      const double u = x(i, a), v = x(i, b);
      x(i, a) = c * u - s * v;
      x(i, b) = s * u + c * v;
    }
  }
}

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_ROTARY_H_
