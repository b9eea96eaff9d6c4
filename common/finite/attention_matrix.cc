#include "common/finite/attention_matrix.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/SVD>

namespace sigprop {
namespace {

// Slopes of a power-of-two head count n: 2^(−8(h+1)/n).
double PowerOfTwoSlope(int head, int n) { return std::exp2(-8.0 * (head + 1) / n); }

// Entropy of a non-negative row normalised to sum 1; 0 for a zero row.
double RowEntropy(const Eigen::Ref<const RowVector>& row) {
  const double total = row.sum();
  if (!(total > 0.0)) return 0.0;
  double h = 0.0;
  for (Eigen::Index j = 0; j < row.size(); ++j) {
    const double q = row(j) / total;
    if (q > 0.0) h -= q * std::log(q);
  }
  return h;
}

}  // namespace

bool Visible(const AttentionPlan& a, int i, int j) {
  if (a.causal && j > i) return false;
  if (a.window > 0 && std::abs(i - j) > a.window) return false;
  return true;
}

int VisibleCount(const AttentionPlan& a, int i, int m) {
  int count = 0;
  for (int j = 0; j < m; ++j) count += Visible(a, i, j) ? 1 : 0;
  return count;
}

double AlibiSlope(int head, int heads) {
  int power = 1;
  while (power * 2 <= heads) power *= 2;
  if (head < power) return PowerOfTwoSlope(head, power);
  return PowerOfTwoSlope(2 * (head - power), 2 * power);
}

double ApplyAttentionFunction(const AttentionPlan& a, int head, int heads, Matrix* s) {
  const int m = static_cast<int>(s->rows());
  double max_logit = 0.0;
  const double slope = a.alibi ? AlibiSlope(head, heads) : 0.0;
  for (int i = 0; i < m; ++i) {
    auto row = s->row(i);
    double top = -std::numeric_limits<double>::infinity();
    for (int j = 0; j < m; ++j) {
      if (!Visible(a, i, j)) continue;
      max_logit = std::max(max_logit, std::abs(row(j)));
      row(j) -= slope * std::abs(i - j);
      top = std::max(top, row(j));
    }
    const double count = VisibleCount(a, i, m);
    double total = 0.0;
    for (int j = 0; j < m; ++j) {
      if (!Visible(a, i, j)) {
        row(j) = 0.0;
        continue;
      }
      switch (a.kind) {
        case AttentionKind::kSigmoid:
          row(j) = 1.0 / (1.0 + std::exp(-(row(j) + a.sigmoid_bias)));
          break;
        case AttentionKind::kRelu:
          row(j) = std::max(row(j), 0.0) / std::pow(count, a.relu_power);
          break;
        default:
          row(j) = std::exp(row(j) - top);
          total += row(j);
          break;
      }
    }
    if (a.kind != AttentionKind::kSigmoid && a.kind != AttentionKind::kRelu) row /= total;
  }
  return max_logit;
}

void AttentionFunctionBackward(const AttentionPlan& a, const Matrix& p, const Matrix& dp,
                               Matrix* ds) {
  switch (a.kind) {
    case AttentionKind::kSigmoid:
      *ds = p.cwiseProduct((1.0 - p.array()).matrix()).cwiseProduct(dp);
      return;
    case AttentionKind::kRelu: {
      const int m = static_cast<int>(p.rows());
      ds->resize(m, m);
      for (int i = 0; i < m; ++i) {
        const double scale = 1.0 / std::pow(static_cast<double>(VisibleCount(a, i, m)), a.relu_power);
        for (int j = 0; j < m; ++j) (*ds)(i, j) = p(i, j) > 0.0 ? dp(i, j) * scale : 0.0;
      }
      return;
    }
    default: {
      const Vector row_dot = p.cwiseProduct(dp).rowwise().sum();
      *ds = p.cwiseProduct(dp.colwise() - row_dot);
      return;
    }
  }
}

Matrix UniformAttention(const AttentionPlan& a, int m) {
  Matrix u = Matrix::Zero(m, m);
  for (int i = 0; i < m; ++i) {
    const double share = 1.0 / VisibleCount(a, i, m);
    for (int j = 0; j < m; ++j) {
      if (Visible(a, i, j)) u(i, j) = share;
    }
  }
  return u;
}

void AttentionFromFunction(const AttentionPlan& a, int m, const Matrix* p, Matrix* out) {
  switch (a.kind) {
    case AttentionKind::kUniform:
      *out = UniformAttention(a, m);
      break;
    case AttentionKind::kIdentity:
    case AttentionKind::kNone:
      out->setIdentity(m, m);
      break;
    default:
      *out = *p;
      break;
  }
  if (a.AttentionGain() != 1.0) *out *= a.AttentionGain();
  if (a.CentreGain() != 0.0) *out -= a.CentreGain() * UniformAttention(a, m);
  if (a.IdentityGain() != 0.0) out->diagonal().array() += a.IdentityGain();
}

AttentionStats SummariseAttention(const AttentionPlan& plan, const std::vector<Matrix>& p,
                                  const std::vector<Matrix>& a, double max_logit) {
  AttentionStats stats;
  stats.max_logit = max_logit;
  const int heads = static_cast<int>(a.size());
  if (heads == 0) return stats;
  const int m = static_cast<int>(a[0].rows());
  Matrix function;
  // σ_1 − σ_2 of each head's A from the eigenvalues of AᵀA: a symmetric solve, 3.5× faster than a
  // Jacobi SVD of A at m = 8 (issue 18: this runs per head, layer and sample). σ_k = √λ_k is
  // accurate to about ε‖A‖²/σ_k, so to √ε‖A‖ ≈ 1.5·10⁻⁸‖A‖ where σ_2 is near 0 (attention close
  // to rank one), far below the statistic's sampling error.
  thread_local Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver;
  Eigen::MatrixXd gram;
  for (int h = 0; h < heads; ++h) {
    const Matrix* rows = nullptr;
    if (!p.empty()) {
      rows = &p[h];
    } else {
      function = plan.kind == AttentionKind::kUniform ? UniformAttention(plan, m)
                                                      : Matrix::Identity(m, m);
      rows = &function;
    }
    double entropy = 0.0;
    for (int i = 0; i < m; ++i) entropy += RowEntropy(rows->row(i));
    stats.entropy += entropy / m;
    gram.noalias() = a[h].transpose() * a[h];
    solver.compute(gram, Eigen::EigenvaluesOnly);
    const Eigen::VectorXd& lambda = solver.eigenvalues();  // Ascending.
    const double sigma_1 = std::sqrt(std::max(0.0, lambda(m - 1)));
    stats.gap += m > 1 ? sigma_1 - std::sqrt(std::max(0.0, lambda(m - 2))) : sigma_1;
  }
  stats.entropy /= heads;
  stats.gap /= heads;
  return stats;
}

}  // namespace sigprop
