#include "common/finite/columns_sampler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/finite/attention_matrix.h"
#include "common/finite/block_laws.h"
#include "common/finite/dense_sampler.h"
#include "common/finite/implicit_sampler.h"
#include "common/rng.h"

namespace sigprop {
namespace {

struct ColumnsWorkspace {
  BlockWorkspace block;
  Matrix v_in, l_in, f, mlp_f, g, heads_f, y;
  Vector mean, scale;
};

// The covariance of the branch input N(X) from V and X's row means (header comment).
void BranchInputCovariance(const ModelPlan& plan, const Matrix& x, const Matrix& v,
                           ColumnsWorkspace* ws) {
  ws->v_in = v;
  if (!plan.NormsBranchInput()) return;
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

// The branch input N(X) itself (identity_values reads its features): X under post-norm or no norm.
void BranchInput(const ModelPlan& plan, const Matrix& x, Matrix* y) {
  *y = x;
  if (plan.NormsBranchInput()) NormaliseRows(plan.norm, y);
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
  if (plan.NormsSum()) NormaliseRows(plan.norm, x);
}

// The attention branch of one layer: the mixing matrices (and the branch root where one root
// serves every feature), and what it adds to X.
class AttentionBranch {
 public:
  AttentionBranch(const ModelPlan& plan, RandomStream& stream, ColumnsWorkspace* ws)
      : plan_(plan), stream_(stream), ws_(ws) {}

  // Given the root of the branch input's covariance; `x` is X before the block (identity_values
  // reads the branch input's own features).
  void Prepare(const Matrix& l, const Matrix& x) {
    DrawAttentionMixing(plan_, l, stream_, &ws_->block);
    if (plan_.attention.identity_values) {
      BranchInput(plan_, x, &ws_->y);
    } else if (OneRoot()) {
      AttentionBranchRoot(plan_, l, stream_, &ws_->block, &ws_->f);
    }
  }

  // X += γ f.
  void Add(double gamma, Matrix* out) {
    const int heads = plan_.heads;
    const int head_cols = plan_.width / heads;
    if (plan_.attention.identity_values) {
      for (int h = 0; h < heads; ++h) {
        out->middleCols(h * head_cols, head_cols).noalias() +=
            (gamma * ws_->block.mixing[h]) * ws_->y.middleCols(h * head_cols, head_cols);
      }
      return;
    }
    if (OneRoot()) {
      AddBranch(ws_->f, gamma, 0, plan_.width, stream_, ws_, out);
      return;
    }
    for (int h = 0; h < heads; ++h) {
      ws_->heads_f.noalias() = ws_->block.mixing[h] * ws_->l_in;
      AddBranch(ws_->heads_f, gamma, h * head_cols, head_cols, stream_, ws_, out);
    }
  }

 private:
  bool OneRoot() const { return plan_.heads == 1 || plan_.attention.output_projection; }

  const ModelPlan& plan_;
  RandomStream& stream_;
  ColumnsWorkspace* ws_;
};

}  // namespace

void SymmetricCovariance(const Matrix& x, Matrix* v) {
  v->setZero(x.rows(), x.rows());
  v->selfadjointView<Eigen::Lower>().rankUpdate(x, 1.0 / static_cast<double>(x.cols()));
  v->triangularView<Eigen::StrictlyUpper>() = v->transpose();
}

absl::Status SampleColumns(const ModelPlan& plan, const SampleCoordinates& at,
                           SampleObserver& observer) {
  // The language-model knobs run through the implicit-weight forward pass (implicit_sampler.h).
  if (!LanguageModelField(plan).empty()) return SampleColumnsImplicitForward(plan, at, observer);
  RandomStream input_stream(at.seed, at.point, at.sample, kInputLayer);
  absl::StatusOr<Matrix> x0 = DenseInput(plan, input_stream);
  if (!x0.ok()) return x0.status();
  Matrix x = *std::move(x0);
  Matrix v;
  SymmetricCovariance(x, &v);
  observer.OnCovariance(0, v);
  observer.OnRootRepairs(0, 0);
  ColumnsWorkspace ws;
  for (int layer = 1; layer <= plan.depth; ++layer) {
    if (observer.Cancelled()) {
      return absl::CancelledError(absl::StrCat("columns sample ", at.sample, " of point ",
                                               at.point, " cancelled at layer ", layer));
    }
    RandomStream stream(at.seed, at.point, at.sample, static_cast<uint32_t>(layer));
    AttentionBranch attention(plan, stream, &ws);
    auto mlp_root = [&](const Matrix& l, Matrix* f) {
      MlpBranchRoot(plan, l, /*allow_kernel=*/false, stream, &ws.block, f);
    };
    if (plan.parallel) {
      // Both branches read one input; their weights are independent, so each adds its own F G.
      ColumnsBlock(
          plan, plan.attention.skip, v, &ws, &x,
          [&](const Matrix& l) {
            attention.Prepare(l, x);
            mlp_root(l, &ws.mlp_f);
          },
          [&](Matrix* out) {
            attention.Add(plan.attention.branch, out);
            AddBranch(ws.mlp_f, plan.mlp.branch, 0, plan.width, stream, &ws, out);
          });
      SymmetricCovariance(x, &v);
    } else {
      if (plan.attention.enabled()) {
        ColumnsBlock(
            plan, plan.attention.skip, v, &ws, &x,
            [&](const Matrix& l) { attention.Prepare(l, x); },
            [&](Matrix* out) { attention.Add(plan.attention.branch, out); });
        SymmetricCovariance(x, &v);
      }
      if (plan.mlp.enabled()) {
        ColumnsBlock(
            plan, plan.mlp.skip, v, &ws, &x, [&](const Matrix& l) { mlp_root(l, &ws.mlp_f); },
            [&](Matrix* out) {
              AddBranch(ws.mlp_f, plan.mlp.branch, 0, plan.width, stream, &ws, out);
            });
        SymmetricCovariance(x, &v);
      }
    }
    if (!ReportLayer(observer, layer, v)) return absl::OkStatus();
    if (observer.WantsLayer(layer)) {
      observer.OnRootRepairs(layer, ws.block.repairs);
      if (plan.attention.enabled()) {
        observer.OnAttention(layer, SummariseAttention(plan.attention, ws.block.function,
                                                       ws.block.mixing, ws.block.max_logit));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace sigprop
