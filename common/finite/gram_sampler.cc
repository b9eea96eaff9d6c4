#include "common/finite/gram_sampler.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/finite/block_laws.h"
#include "common/finite/wishart.h"
#include "common/rng.h"

namespace sigprop {
namespace {

struct GramWorkspace {
  BlockWorkspace block;
  Matrix l, l_in, f, z, t, cross, root;
  Vector scale;
};

// V ← D^{-1/2} V D^{-1/2}, D = diag V: RMSNorm of every token row.
void NormaliseRows(Matrix* v) {
  const Vector s = v->diagonal().cwiseSqrt().cwiseInverse();
  *v = s.asDiagonal() * (*v) * s.asDiagonal();
}

// One residual block on V (header comment). `branch(l_in, &f)` writes the root F of the branch
// kernel given the root of the branch input's covariance.
template <typename Branch>
void GramBlock(const ModelPlan& plan, double lambda, double gamma, RandomStream& stream,
               GramWorkspace* ws, Matrix* v, Branch&& branch) {
  const int m = plan.tokens;
  const int n = plan.width;
  ws->block.repairs += ws->block.roots.Compute(*v, &ws->l);
  if (plan.norm == NormKind::kRms && !plan.post_norm) {
    ws->scale = v->diagonal().cwiseSqrt().cwiseInverse();
    ws->l_in.noalias() = ws->scale.asDiagonal() * ws->l;
    branch(ws->l_in, &ws->f);
  } else {
    branch(ws->l, &ws->f);
  }
  ws->z.resize(m, m);
  stream.FillGaussian(ws->z.data(), static_cast<std::size_t>(ws->z.size()));
  DrawWishartRoot(m, n - m, stream, &ws->root);
  // T = F Z, C = L Tᵀ: the cross term is C + Cᵀ and F Z Zᵀ Fᵀ = T Tᵀ; F W Fᵀ = (F R)(F R)ᵀ.
  ws->t.noalias() = ws->f * ws->z;
  ws->cross.noalias() = ws->l * ws->t.transpose();
  const double root_n = std::sqrt(static_cast<double>(n));
  *v *= lambda * lambda;
  *v += (lambda * gamma / root_n) * (ws->cross + ws->cross.transpose());
  ws->cross.noalias() = ws->t * ws->t.transpose();
  ws->t.noalias() = ws->f * ws->root;
  ws->cross.noalias() += ws->t * ws->t.transpose();
  *v += (gamma * gamma / n) * ws->cross;
  *v = (0.5 * (*v + v->transpose())).eval();
  if (plan.norm == NormKind::kRms && plan.post_norm) NormaliseRows(v);
}

}  // namespace

absl::Status GramSupports(const ModelPlan& plan) {
  if (plan.norm == NormKind::kLayer) {
    return absl::InvalidArgumentError(
        "model.norm: LayerNorm needs feature rows, which GRAM does not keep; use method COLUMNS");
  }
  if (plan.attention.enabled() && plan.heads > 1 && !plan.attention.output_projection) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.heads: GRAM needs output_projection for heads > 1 (got ", plan.heads,
        "): without W_O each head writes its own feature block, which the m×m chain does not "
        "keep; use method COLUMNS"));
  }
  if (plan.width < plan.tokens) {
    return absl::InvalidArgumentError(absl::StrCat("model.width: GRAM needs width ≥ tokens (",
                                                   plan.tokens, "), got ", plan.width));
  }
  return absl::OkStatus();
}

absl::Status SampleGram(const ModelPlan& plan, const SampleCoordinates& at,
                        SampleObserver& observer) {
  if (auto status = GramSupports(plan); !status.ok()) return status;
  Matrix v = plan.v0;
  observer.OnCovariance(0, v);
  observer.OnRootRepairs(0, 0);
  GramWorkspace ws;
  for (int layer = 1; layer <= plan.depth; ++layer) {
    if (observer.Cancelled()) {
      return absl::CancelledError(absl::StrCat("gram sample ", at.sample, " of point ", at.point,
                                               " cancelled at layer ", layer));
    }
    RandomStream stream(at.seed, at.point, at.sample, static_cast<uint32_t>(layer));
    if (plan.attention.enabled()) {
      GramBlock(plan, plan.attention.skip, plan.attention.branch, stream, &ws, &v,
                [&](const Matrix& l, Matrix* f) {
                  DrawAttentionMixing(plan, l, stream, &ws.block);
                  AttentionBranchRoot(plan, l, stream, &ws.block, f);
                });
    }
    if (plan.mlp.enabled()) {
      GramBlock(plan, plan.mlp.skip, plan.mlp.branch, stream, &ws, &v,
                [&](const Matrix& l, Matrix* f) {
                  MlpBranchRoot(plan, l, /*allow_kernel=*/true, stream, &ws.block, f);
                });
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
