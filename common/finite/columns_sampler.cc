#include "common/finite/columns_sampler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/finite/block_laws.h"
#include "common/finite/dense_sampler.h"
#include "common/rng.h"

namespace sigprop {
namespace {

struct ColumnsWorkspace {
  BlockWorkspace block;
  Matrix v_in, l_in, f, g, heads_f;
  Vector mean, scale;
};

// V = X Xᵀ / n, exactly symmetric.
void Covariance(const Matrix& x, Matrix* v) {
  v->setZero(x.rows(), x.rows());
  v->selfadjointView<Eigen::Lower>().rankUpdate(x, 1.0 / static_cast<double>(x.cols()));
  v->triangularView<Eigen::StrictlyUpper>() = v->transpose();
}

// The covariance of the branch input N(X) from V and X's row means (header comment).
void BranchInputCovariance(const ModelPlan& plan, const Matrix& x, const Matrix& v,
                           ColumnsWorkspace* ws) {
  ws->v_in = v;
  if (plan.norm == NormKind::kNone || plan.post_norm) return;
  if (plan.norm == NormKind::kLayer) {
    ws->mean = x.rowwise().mean();
    ws->v_in.noalias() -= ws->mean * ws->mean.transpose();
  }
  ws->scale = ws->v_in.diagonal().cwiseSqrt().cwiseInverse();
  ws->v_in = ws->scale.asDiagonal() * ws->v_in * ws->scale.asDiagonal();
}

// X ← N(X) row by row (post-norm).
void NormaliseRows(NormKind kind, Matrix* x) {
  if (kind == NormKind::kLayer) x->colwise() -= x->rowwise().mean();
  const Vector r = (x->rowwise().squaredNorm() / static_cast<double>(x->cols())).cwiseSqrt();
  x->array().colwise() /= r.array();
}

// X[:, begin : begin + cols] += γ F G with G drawn chunk by chunk.
void AddBranch(const Matrix& f, double gamma, int begin, int cols, RandomStream& stream,
               ColumnsWorkspace* ws, Matrix* x) {
  const int m = static_cast<int>(x->rows());
  ws->g.resize(m, kColumnChunk);
  for (int start = 0; start < cols; start += kColumnChunk) {
    const int width = std::min(kColumnChunk, cols - start);
    for (int i = 0; i < m; ++i) stream.FillGaussian(&ws->g(i, 0), static_cast<std::size_t>(width));
    x->middleCols(begin + start, width).noalias() += (gamma * f) * ws->g.leftCols(width);
  }
}

// One residual block on X; `branch(l_in)` prepares the branch roots and `apply(x)` adds γ f.
template <typename Branch, typename Apply>
void ColumnsBlock(const ModelPlan& plan, double lambda, const Matrix& v, ColumnsWorkspace* ws,
                  Matrix* x, Branch&& branch, Apply&& apply) {
  BranchInputCovariance(plan, *x, v, ws);
  ws->block.repairs += ws->block.roots.Compute(ws->v_in, &ws->l_in);
  branch(ws->l_in);
  *x *= lambda;
  apply(x);
  if (plan.norm != NormKind::kNone && plan.post_norm) NormaliseRows(plan.norm, x);
}

}  // namespace

absl::Status SampleColumns(const ModelPlan& plan, const SampleCoordinates& at,
                           SampleObserver& observer) {
  RandomStream input_stream(at.seed, at.point, at.sample, kInputLayer);
  absl::StatusOr<Matrix> x0 = DenseInput(plan, input_stream);
  if (!x0.ok()) return x0.status();
  Matrix x = *std::move(x0);
  Matrix v;
  Covariance(x, &v);
  observer.OnCovariance(0, v);
  observer.OnRootRepairs(0, 0);
  ColumnsWorkspace ws;
  const int heads = plan.heads;
  const int head_cols = plan.width / heads;
  const bool one_root = heads == 1 || plan.attention.output_projection;
  for (int layer = 1; layer <= plan.depth; ++layer) {
    if (observer.Cancelled()) {
      return absl::CancelledError(absl::StrCat("columns sample ", at.sample, " of point ",
                                               at.point, " cancelled at layer ", layer));
    }
    RandomStream stream(at.seed, at.point, at.sample, static_cast<uint32_t>(layer));
    const double gamma_a = plan.attention.branch;
    if (plan.attention.enabled()) {
      ColumnsBlock(
          plan, plan.attention.skip, v, &ws, &x,
          [&](const Matrix& l) {
            DrawAttentionMixing(plan, l, stream, &ws.block);
            if (one_root) AttentionBranchRoot(plan, l, stream, &ws.block, &ws.f);
          },
          [&](Matrix* out) {
            if (one_root) {
              AddBranch(ws.f, gamma_a, 0, plan.width, stream, &ws, out);
              return;
            }
            for (int h = 0; h < heads; ++h) {
              ws.heads_f.noalias() = ws.block.mixing[h] * ws.l_in;
              AddBranch(ws.heads_f, gamma_a, h * head_cols, head_cols, stream, &ws, out);
            }
          });
      Covariance(x, &v);
    }
    if (plan.mlp.enabled()) {
      ColumnsBlock(
          plan, plan.mlp.skip, v, &ws, &x,
          [&](const Matrix& l) {
            MlpBranchRoot(plan, l, /*allow_kernel=*/false, stream, &ws.block, &ws.f);
          },
          [&](Matrix* out) { AddBranch(ws.f, plan.mlp.branch, 0, plan.width, stream, &ws, out); });
      Covariance(x, &v);
    }
    if (IsDiverged(v)) {
      observer.OnDiverged(layer);
      return absl::OkStatus();
    }
    if (observer.WantsLayer(layer)) {
      observer.OnCovariance(layer, v);
      observer.OnRootRepairs(layer, ws.block.repairs);
    }
  }
  return absl::OkStatus();
}

}  // namespace sigprop
