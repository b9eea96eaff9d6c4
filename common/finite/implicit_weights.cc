#include "common/finite/implicit_weights.h"

#include <algorithm>
#include <cmath>

namespace sigprop {

void ImplicitInput::Factor(const Matrix& b) {
  const Eigen::Index m = b.rows(), n = b.cols(), k = std::min(m, n);
  qr_.compute(b.transpose());
  r_ = qr_.matrixQR().topRows(k).triangularView<Eigen::Upper>();
  q_.setIdentity(n, k);
  q_.applyOnTheLeft(qr_.householderQ());
  // Householder reflections fix the signs of R̂'s diagonal by the data; flipping a column of Q̂ with
  // the matching row of R̂ leaves Q̂R̂ unchanged and makes L the Cholesky factor.
  for (Eigen::Index j = 0; j < k; ++j) {
    if (r_(j, j) < 0.0) {
      r_.row(j) *= -1.0;
      q_.col(j) *= -1.0;
    }
  }
  root_ = r_.transpose() / std::sqrt(static_cast<double>(n));
}

void ImplicitInput::Project(int cols, RandomStream& stream, Matrix* g, Matrix* p) const {
  g->resize(r_.rows(), cols);
  stream.FillGaussianZigguratOneWord(g->data(), static_cast<std::size_t>(g->size()));
  p->noalias() = root_ * *g;
}

void ImplicitInput::BeginBackward() {
  in_span_.setZero(r_.cols(), r_.rows());
  kernel_.setZero(r_.cols(), r_.cols());
}

double ImplicitInput::AddCotangent(const Matrix& g, const Matrix& c) {
  in_span_.noalias() += c * g.transpose();
  kernel_.selfadjointView<Eigen::Lower>().rankUpdate(c);
  return (r_ * c).norm() / std::sqrt(static_cast<double>(fan_in()));
}

void ImplicitInput::Backward(BackwardLaw law, RandomStream& stream, Matrix* db) {
  const int n = fan_in();
  kernel_.triangularView<Eigen::StrictlyUpper>() = kernel_.transpose();
  roots_.Compute(kernel_, &kernel_root_);
  fresh_.resize(kernel_.rows(), n);
  stream.FillGaussianZigguratOneWord(fresh_.data(), static_cast<std::size_t>(fresh_.size()));
  db->noalias() = kernel_root_ * fresh_;
  if (law == BackwardLaw::kConditioned) {
    // C Gᵀ Q̂ᵀ + F G' (I − Q̂Q̂ᵀ) = F G' + (M − F G' Q̂) Q̂ᵀ.
    projected_.noalias() = fresh_ * q_;
    in_span_.noalias() -= kernel_root_ * projected_;
    db->noalias() += in_span_ * q_.transpose();
  }
  *db /= std::sqrt(static_cast<double>(n));
}

}  // namespace sigprop
