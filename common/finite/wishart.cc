#include "common/finite/wishart.h"

#include <cmath>

namespace sigprop {

void DrawWishartRoot(int m, int dof, RandomStream& stream, Matrix* root) {
  if (dof < m) {
    root->resize(m, dof);
    stream.FillGaussian(root->data(), static_cast<std::size_t>(root->size()));
    return;
  }
  root->resize(m, m);
  root->setZero();
  for (int i = 0; i < m; ++i) (*root)(i, i) = std::sqrt(stream.ChiSquare(dof - i));
  for (int i = 1; i < m; ++i) stream.FillGaussian(&(*root)(i, 0), static_cast<std::size_t>(i));
}

int SymmetricRoot::Compute(const Matrix& s, Matrix* root) {
  llt_.compute(s);
  if (llt_.info() == Eigen::Success && llt_.matrixLLT().diagonal().minCoeff() > 0.0) {
    *root = llt_.matrixL();
    return 0;
  }
  eigen_.compute(s);
  lambda_ = eigen_.eigenvalues();
  int clamped = 0;
  for (int i = 0; i < lambda_.size(); ++i) {
    if (!(lambda_(i) >= 0.0)) {
      ++clamped;
      lambda_(i) = 0.0;
    }
  }
  root->noalias() = eigen_.eigenvectors() * lambda_.cwiseSqrt().asDiagonal();
  return clamped;
}

}  // namespace sigprop
