#include "common/finite/gram_sampler.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/finite/attention_matrix.h"
#include "common/finite/block_laws.h"
#include "common/finite/wishart.h"
#include "common/rng.h"

namespace sigprop {
namespace {

struct GramWorkspace {
  BlockWorkspace block;
  std::vector<Matrix> f;  // Branch roots: one shared by every feature block, or one per head.
  Matrix l, l_in, l_block, z, t, cross, root, chol_s;
  Vector scale;
};

// Feature blocks the chain keeps: the heads' blocks when heads write their own features (H > 1
// without W_O), else the whole width.
int FeatureBlocks(const ModelPlan& plan) {
  return plan.attention.enabled() && plan.heads > 1 && !plan.attention.output_projection
             ? plan.heads
             : 1;
}

// V_b ← D^{-1/2} V_b D^{-1/2} for D = diag V (V = Σ_b V_b): RMSNorm of every token row.
void NormaliseRows(std::vector<Matrix>* blocks, Matrix* v) {
  const Vector s = v->diagonal().cwiseSqrt().cwiseInverse();
  for (Matrix& vb : *blocks) vb = (s.asDiagonal() * vb * s.asDiagonal()).eval();
  *v = (s.asDiagonal() * (*v) * s.asDiagonal()).eval();
}

// One residual block on the feature blocks' Gram matrices V_b (header comment): `branch(l_in)`
// fills ws->f given the root of the branch input's (whole) covariance.
template <typename Branch>
void GramBlock(const ModelPlan& plan, double lambda, double gamma, RandomStream& stream,
               GramWorkspace* ws, std::vector<Matrix>* blocks, Matrix* v, Branch&& branch) {
  const int m = plan.tokens;
  const int n = plan.width;
  const int count = static_cast<int>(blocks->size());
  ws->block.repairs += ws->block.roots.Compute(*v, &ws->l);
  if (plan.norm == NormKind::kRms && !plan.post_norm) {
    ws->scale = v->diagonal().cwiseSqrt().cwiseInverse();
    ws->l_in.noalias() = ws->scale.asDiagonal() * ws->l;
    branch(ws->l_in);
  } else {
    branch(ws->l);
  }
  const double root_n = std::sqrt(static_cast<double>(n));
  v->setZero();
  for (int b = 0; b < count; ++b) {
    Matrix& vb = (*blocks)[b];
    const Matrix& f = ws->f[ws->f.size() == 1 ? 0 : b];
    const Matrix* l = &ws->l;
    if (count > 1) {
      ws->block.repairs += ws->block.roots.Compute(vb, &ws->l_block);
      l = &ws->l_block;
    }
    ws->z.resize(m, m);
    stream.FillGaussian(ws->z.data(), static_cast<std::size_t>(ws->z.size()));
    DrawWishartRoot(m, n / count - m, stream, &ws->root);
    // T = F Z, C = L Tᵀ: the cross term is C + Cᵀ and F Z Zᵀ Fᵀ = T Tᵀ; F W Fᵀ = (F R)(F R)ᵀ.
    ws->t.noalias() = f * ws->z;
    ws->cross.noalias() = (*l) * ws->t.transpose();
    vb *= lambda * lambda;
    vb += (lambda * gamma / root_n) * (ws->cross + ws->cross.transpose());
    ws->cross.noalias() = ws->t * ws->t.transpose();
    ws->t.noalias() = f * ws->root;
    ws->cross.noalias() += ws->t * ws->t.transpose();
    vb += (gamma * gamma / n) * ws->cross;
    vb = (0.5 * (vb + vb.transpose())).eval();
    *v += vb;
  }
  if (plan.norm == NormKind::kRms && plan.post_norm) NormaliseRows(blocks, v);
}

// The feature blocks of X_0 = sqrt(n) L_0 O, O Haar with orthonormal rows (SPEC §1): with
// O = C⁻¹ G for G ∈ R^{m×n} iid and C = chol(G Gᵀ) (right-rotation invariant, so Haar),
// V_b(0) = L_0 C⁻¹ W_b C⁻ᵀ L_0ᵀ with W_b = G_b G_bᵀ ~ Wishart_m(n/B, I) independent.
void InputBlocks(const ModelPlan& plan, const SampleCoordinates& at, GramWorkspace* ws,
                 std::vector<Matrix>* blocks) {
  const int m = plan.tokens;
  const int count = static_cast<int>(blocks->size());
  if (count == 1) {
    (*blocks)[0] = plan.v0;
    return;
  }
  RandomStream stream(at.seed, at.point, at.sample, kInputLayer);
  Matrix sum = Matrix::Zero(m, m);
  for (Matrix& vb : *blocks) {
    DrawWishartRoot(m, plan.width / count, stream, &ws->root);
    vb.noalias() = ws->root * ws->root.transpose();
    sum += vb;
  }
  const Eigen::LLT<Matrix> s(sum);
  const Eigen::LLT<Matrix> v0(plan.v0);
  ws->chol_s = s.matrixL();
  const Matrix map = Matrix(v0.matrixL()) * ws->chol_s.triangularView<Eigen::Lower>().solve(
                                                 Matrix::Identity(m, m));
  for (Matrix& vb : *blocks) {
    vb = map * vb * map.transpose();
    vb = (0.5 * (vb + vb.transpose())).eval();
  }
}

}  // namespace

absl::Status GramSupports(const ModelPlan& plan) {
  if (plan.attention.identity_values) {
    return absl::InvalidArgumentError(
        "model.attention.identity_values: the branch A·N(X) is not a fresh Gaussian product, and "
        "GRAM's update assumes one; use method COLUMNS");
  }
  if (plan.parallel) {
    return absl::InvalidArgumentError(
        "model.parallel: GRAM updates V one residual block at a time; use method COLUMNS");
  }
  if (plan.norm == NormKind::kLayer) {
    return absl::InvalidArgumentError(
        "model.norm: LayerNorm needs feature rows, which GRAM does not keep; use method COLUMNS");
  }
  const int count = FeatureBlocks(plan);
  if (plan.width / count < plan.tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        count > 1 ? "model.heads: GRAM without output_projection keeps one Gram matrix per head "
                    "and needs width/heads ≥ tokens ("
                  : "model.width: GRAM needs width ≥ tokens (",
        plan.tokens, "), got ", plan.width / count, "; use method COLUMNS"));
  }
  return absl::OkStatus();
}

absl::Status SampleGram(const ModelPlan& plan, const SampleCoordinates& at,
                        SampleObserver& observer) {
  if (auto status = GramSupports(plan); !status.ok()) return status;
  GramWorkspace ws;
  std::vector<Matrix> blocks(FeatureBlocks(plan));
  InputBlocks(plan, at, &ws, &blocks);
  Matrix v = plan.v0;
  observer.OnCovariance(0, v);
  observer.OnRootRepairs(0, 0);
  const bool per_head = blocks.size() > 1;
  for (int layer = 1; layer <= plan.depth; ++layer) {
    if (observer.Cancelled()) {
      return absl::CancelledError(absl::StrCat("gram sample ", at.sample, " of point ", at.point,
                                               " cancelled at layer ", layer));
    }
    RandomStream stream(at.seed, at.point, at.sample, static_cast<uint32_t>(layer));
    if (plan.attention.enabled()) {
      GramBlock(plan, plan.attention.skip, plan.attention.branch, stream, &ws, &blocks, &v,
                [&](const Matrix& l) {
                  DrawAttentionMixing(plan, l, stream, &ws.block);
                  if (per_head) {
                    ws.f.resize(plan.heads);
                    for (int h = 0; h < plan.heads; ++h) ws.f[h].noalias() = ws.block.mixing[h] * l;
                  } else {
                    ws.f.resize(1);
                    AttentionBranchRoot(plan, l, stream, &ws.block, &ws.f[0]);
                  }
                });
    }
    if (plan.mlp.enabled()) {
      GramBlock(plan, plan.mlp.skip, plan.mlp.branch, stream, &ws, &blocks, &v,
                [&](const Matrix& l) {
                  ws.f.resize(1);
                  MlpBranchRoot(plan, l, /*allow_kernel=*/true, stream, &ws.block, &ws.f[0]);
                });
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
