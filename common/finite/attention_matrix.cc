#include "common/finite/attention_matrix.h"

namespace sigprop {

void MaskedSoftmax(bool causal, Matrix* s) {
  const int m = static_cast<int>(s->rows());
  for (int i = 0; i < m; ++i) {
    const int len = VisibleTokens(i, m, causal);
    auto row = s->row(i);
    const double top = row.head(len).maxCoeff();
    row.head(len) = (row.head(len).array() - top).exp();
    row.head(len) /= row.head(len).sum();
    row.tail(m - len).setZero();
  }
}

Matrix UniformAttention(int m, bool causal) {
  Matrix u = Matrix::Zero(m, m);
  for (int i = 0; i < m; ++i) {
    const int len = VisibleTokens(i, m, causal);
    u.row(i).head(len).setConstant(1.0 / len);
  }
  return u;
}

}  // namespace sigprop
