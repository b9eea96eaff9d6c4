// Random matrices for the numerical tests, from a seeded engine.
#ifndef SIGPROP_TESTS_UNIT_RANDOM_MATRICES_H_
#define SIGPROP_TESTS_UNIT_RANDOM_MATRICES_H_

#include <random>

#include "common/linalg.h"

namespace sigprop::testing {

// rows × cols independent standard normals.
inline Matrix GaussianMatrix(int rows, int cols, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  Matrix g(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) g(i, j) = normal(rng);
  return g;
}

}  // namespace sigprop::testing

#endif  // SIGPROP_TESTS_UNIT_RANDOM_MATRICES_H_
