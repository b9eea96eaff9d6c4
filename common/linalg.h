// Eigen type aliases used across the numerical core (one place, as in Ceres).
#ifndef SIGPROP_COMMON_LINALG_H_
#define SIGPROP_COMMON_LINALG_H_

#include <Eigen/Core>
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

namespace sigprop {

// Row-major so that a token is a contiguous row, as in SPEC §1 (X ∈ R^{m×n}, one row per token).
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;
using RowVector = Eigen::RowVectorXd;

}  // namespace sigprop

#endif  // SIGPROP_COMMON_LINALG_H_
