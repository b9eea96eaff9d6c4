#include "common/finite/block_laws.h"

#include <algorithm>
#include <cmath>

#include "common/finite/attention_matrix.h"
#include "common/finite/dense_blocks.h"
#include "common/finite/mix_rows.h"

namespace sigprop {
namespace {

// E|u||v| for (u, v) centred Gaussian with variances a, b and covariance ab:
// (2/π) σ_u σ_v (sqrt(1 − ρ²) + ρ asin ρ).
double AbsoluteMoment(double a, double b, double ab) {
  const double s = std::sqrt(a * b);
  if (!(s > 0.0)) return 0.0;
  const double rho = std::clamp(ab / s, -1.0, 1.0);
  return (2.0 / M_PI) * s * (std::sqrt(1.0 - rho * rho) + rho * std::asin(rho));
}

// E φ(u)φ(v) by the 64×64-point Gauss–Hermite rule on u = σ_u x, v = σ_v(ρx + sqrt(1−ρ²)y).
double QuadratureMoment(const Activation& phi, double a, double b, double ab) {
  const double* x = GaussHermiteNodes();
  const double* w = GaussHermiteWeights();
  const double su = std::sqrt(std::max(a, 0.0)), sv = std::sqrt(std::max(b, 0.0));
  const double rho = su * sv > 0.0 ? std::clamp(ab / (su * sv), -1.0, 1.0) : 0.0;
  const double rest = std::sqrt(1.0 - rho * rho);
  double sum = 0.0;
  for (int i = 0; i < kGaussHermitePoints; ++i) {
    double inner = 0.0;
    for (int j = 0; j < kGaussHermitePoints; ++j) {
      inner += w[j] * phi.Apply(sv * (rho * x[i] + rest * x[j]));
    }
    sum += w[i] * phi.Apply(su * x[i]) * inner;
  }
  return sum;
}

// φ applied in place to a block of pre-activations.
template <typename Block>
void ApplyActivation(const Activation& phi, Block&& h) {
  switch (phi.kind) {
    case ActivationKind::kRelu:
    case ActivationKind::kShapedRelu:
      h = phi.slope_plus * h.cwiseMax(0.0) + phi.slope_minus * h.cwiseMin(0.0);
      return;
    case ActivationKind::kNone:
    case ActivationKind::kLinear:
      return;
    default:
      h = h.unaryExpr([&phi](double x) { return phi.Apply(x); });
      return;
  }
}

}  // namespace

void DrawAttentionMixing(const ModelPlan& plan, const Matrix& l, RandomStream& stream,
                         BlockWorkspace* ws) {
  const AttentionPlan& a = plan.attention;
  const int m = plan.tokens;
  const int heads = plan.heads;
  const int head_keys = plan.key_width / heads;
  const NormKind qk_kind = QkNormKindOf(a);
  ws->mixing.resize(heads);
  ws->function.resize(a.uses_logits() ? heads : 0);
  ws->max_logit = 0.0;
  for (int h = 0; h < heads; ++h) {
    if (!a.uses_logits()) {
      AttentionFromFunction(a, m, nullptr, &ws->mixing[h]);
      continue;
    }
    Matrix& p = ws->function[h];
    if (a.qk_norm != QkNormKind::kNone) {
      // The per-token norms need Q_h and K_h themselves: Q_h = L G_Q, K_h = L G_K, O(m² n_k/H).
      ws->z.resize(m, head_keys);
      stream.FillGaussian(ws->z.data(), static_cast<std::size_t>(ws->z.size()));
      NormForward(qk_kind, l * ws->z, &ws->q_norm);
      stream.FillGaussian(ws->z.data(), static_cast<std::size_t>(ws->z.size()));
      NormForward(qk_kind, l * ws->z, &ws->k_norm);
      p.noalias() = ws->q_norm.y * ws->k_norm.y.transpose();
    } else {
      DrawWishartRoot(m, head_keys, stream, &ws->key_root);
      ws->z.resize(m, ws->key_root.cols());
      stream.FillGaussian(ws->z.data(), static_cast<std::size_t>(ws->z.size()));
      // Q Kᵀ = (L Z')(L R)ᵀ.
      ws->product.noalias() = l * ws->z;
      ws->wishart.noalias() = l * ws->key_root;
      p.noalias() = ws->product * ws->wishart.transpose();
    }
    p /= a.tau;
    ws->max_logit = std::max(ws->max_logit, ApplyAttentionFunction(a, h, heads, &p));
    AttentionFromFunction(a, m, &p, &ws->mixing[h]);
  }
}

void AttentionBranchRoot(const ModelPlan& plan, const Matrix& l, RandomStream& stream,
                         BlockWorkspace* ws, Matrix* f) {
  const int m = plan.tokens;
  if (!plan.attention.output_projection) {
    f->noalias() = ws->mixing[0] * l;
    return;
  }
  // K = Σ_h (A_h L R_h)(A_h L R_h)ᵀ / n.
  ws->kernel.setZero(m, m);
  for (int h = 0; h < plan.heads; ++h) {
    DrawWishartRoot(m, plan.width / plan.heads, stream, &ws->wishart);
    ws->logits.noalias() = ws->mixing[h] * l;
    ws->product.noalias() = ws->logits * ws->wishart;
    ws->kernel.noalias() += ws->product * ws->product.transpose();
  }
  ws->kernel /= static_cast<double>(plan.width);
  ws->repairs += ws->roots.Compute(ws->kernel, f);
}

void MlpBranchRoot(const ModelPlan& plan, const Matrix& l, bool allow_kernel, RandomStream& stream,
                   BlockWorkspace* ws, Matrix* f) {
  const int m = plan.tokens;
  const int hidden = plan.mlp.hidden;
  const Activation& phi = plan.mlp.activation;
  if (allow_kernel && plan.mlp.kernel_sampling) {
    ws->logits.noalias() = l * l.transpose();
    ExpectedMlpKernel(phi, ws->logits, &ws->kernel);
    ws->repairs += ws->roots.Compute(ws->kernel, &ws->product);
    DrawWishartRoot(m, hidden, stream, &ws->wishart);
    f->noalias() = ws->product * ws->wishart;
    *f /= std::sqrt(static_cast<double>(hidden));
    return;
  }
  ws->z.resize(m, kHiddenChunk);
  ws->hidden.resize(m, kHiddenChunk);
  ws->kernel.setZero(m, m);
  for (int start = 0; start < hidden; start += kHiddenChunk) {
    const int cols = std::min(kHiddenChunk, hidden - start);
    // The one-word ziggurat: these m·n_h draws are most of a full block's cost (bench/RESULTS.md).
    // A whole chunk's rows are contiguous (row-major z), so they are one batch.
    if (cols == kHiddenChunk) {
      stream.FillGaussianZigguratOneWord(ws->z.data(), static_cast<std::size_t>(m) * cols);
    } else {
      for (int i = 0; i < m; ++i) {
        stream.FillGaussianZigguratOneWord(&ws->z(i, 0), static_cast<std::size_t>(cols));
      }
    }
    // h = l·z and K += φ(h)φ(h)ᵀ as row operations of length `cols`: at m ≤ 16 the blocked GEMM
    // spends more on packing and zeroing than on arithmetic (perf, bench/RESULTS.md).
    auto h = ws->hidden.leftCols(cols);
    MixRows(l, ws->z, cols, &ws->hidden);
    for (int i = 0; i < m; ++i) ApplyActivation(phi, h.row(i));  // Contiguous rows: vectorised.
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j <= i; ++j) ws->kernel(i, j) += h.row(i).dot(h.row(j));
    }
  }
  ws->kernel.triangularView<Eigen::StrictlyUpper>() = ws->kernel.transpose();
  ws->kernel *= phi.c / hidden;
  ws->repairs += ws->roots.Compute(ws->kernel, f);
}

void ExpectedMlpKernel(const Activation& phi, const Matrix& v, Matrix* kernel) {
  const int m = static_cast<int>(v.rows());
  kernel->resize(m, m);
  const bool piecewise_linear = phi.kind == ActivationKind::kRelu ||
                                phi.kind == ActivationKind::kShapedRelu ||
                                phi.kind == ActivationKind::kLinear ||
                                phi.kind == ActivationKind::kNone;
  // φ(x) = a x + b |x| with a = (s₊ + s₋)/2, b = (s₊ − s₋)/2.
  const bool linear = phi.kind == ActivationKind::kLinear || phi.kind == ActivationKind::kNone;
  const double sp = linear ? 1.0 : phi.slope_plus, sm = linear ? 1.0 : phi.slope_minus;
  const double a = 0.5 * (sp + sm), b = 0.5 * (sp - sm);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j <= i; ++j) {
      const double moment =
          piecewise_linear
              ? a * a * v(i, j) + b * b * AbsoluteMoment(v(i, i), v(j, j), v(i, j))
              : QuadratureMoment(phi, v(i, i), v(j, j), v(i, j));
      (*kernel)(i, j) = (*kernel)(j, i) = phi.c * moment;
    }
  }
}

}  // namespace sigprop
