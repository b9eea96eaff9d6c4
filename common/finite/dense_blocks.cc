#include "common/finite/dense_blocks.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/finite/attention_matrix.h"
#include "common/finite/residual_block.h"

namespace sigprop {
namespace {

// The one-word ziggurat (rng.h): 5n² draws a layer are most of DENSE's cost, and this is the
// project's fast normal generator (a resolution of 2⁻²⁴ of a layer width is ample for weights).
void DrawGaussian(RandomStream& stream, int rows, int cols, Matrix* w) {
  w->resize(rows, cols);
  stream.FillGaussianZigguratOneWord(w->data(), static_cast<std::size_t>(w->size()));
}

}  // namespace

void DrawLayerWeights(const ModelPlan& plan, RandomStream& stream, LayerWeights* w) {
  const int n = plan.width;
  if (plan.attention.enabled() && plan.attention.uses_logits()) {
    DrawGaussian(stream, n, plan.key_width, &w->wq);
    DrawGaussian(stream, n, plan.key_width, &w->wk);
  } else {
    w->wq.resize(0, 0);
    w->wk.resize(0, 0);
  }
  if (plan.attention.enabled() && !plan.attention.identity_values) {
    DrawGaussian(stream, n, n, &w->wv);
  } else {
    w->wv.resize(0, 0);
  }
  if (plan.attention.enabled() && plan.attention.output_projection) {
    DrawGaussian(stream, n, n, &w->wo);
  } else {
    w->wo.resize(0, 0);
  }
  if (plan.mlp.enabled()) {
    DrawGaussian(stream, n, plan.mlp.hidden, &w->w1);
    DrawGaussian(stream, plan.mlp.hidden, n, &w->w2);
  } else {
    w->w1.resize(0, 0);
    w->w2.resize(0, 0);
  }
}

void NormForward(NormKind kind, const Matrix& x, NormCache* cache) {
  const double n = static_cast<double>(x.cols());
  cache->y = x;
  if (kind == NormKind::kLayer) cache->y.colwise() -= cache->y.rowwise().mean();
  cache->r = (cache->y.rowwise().squaredNorm() / n).cwiseSqrt();
  cache->y.array().colwise() /= cache->r.array();
}

void NormBackward(NormKind kind, const NormCache& cache, const Matrix& dy, Matrix* dx) {
  const double n = static_cast<double>(dy.cols());
  const Vector projection = cache.y.cwiseProduct(dy).rowwise().sum() / n;
  *dx = dy - projection.asDiagonal() * cache.y;
  dx->array().colwise() /= cache.r.array();
  if (kind == NormKind::kLayer) dx->colwise() -= dx->rowwise().mean();
}

void AttentionHeads(const ModelPlan& plan, AttentionCache* cache, Matrix* concat) {
  const AttentionPlan& a = plan.attention;
  const int m = plan.tokens;
  const int heads = plan.heads;
  const int key_cols = plan.key_width / heads;
  const int value_cols = plan.width / heads;
  const bool logits = a.uses_logits();
  const bool qk_norm = logits && a.qk_norm != QkNormKind::kNone;
  const NormKind qk_kind = a.qk_norm == QkNormKind::kLayer ? NormKind::kLayer : NormKind::kRms;
  cache->p.resize(logits ? heads : 0);
  cache->a.resize(heads);
  cache->q_norm.resize(qk_norm ? heads : 0);
  cache->k_norm.resize(qk_norm ? heads : 0);
  cache->max_logit = 0.0;
  concat->resize(m, plan.width);
  for (int h = 0; h < heads; ++h) {
    if (logits) {
      Matrix& p = cache->p[h];
      if (qk_norm) {
        NormForward(qk_kind, cache->q.middleCols(h * key_cols, key_cols), &cache->q_norm[h]);
        NormForward(qk_kind, cache->k.middleCols(h * key_cols, key_cols), &cache->k_norm[h]);
        p.noalias() = cache->q_norm[h].y * cache->k_norm[h].y.transpose();
      } else {
        p.noalias() = cache->q.middleCols(h * key_cols, key_cols) *
                      cache->k.middleCols(h * key_cols, key_cols).transpose();
      }
      p /= a.tau;
      cache->max_logit = std::max(cache->max_logit, ApplyAttentionFunction(a, h, heads, &p));
    }
    AttentionFromFunction(a, m, logits ? &cache->p[h] : nullptr, &cache->a[h]);
    concat->middleCols(h * value_cols, value_cols).noalias() =
        cache->a[h] * cache->v.middleCols(h * value_cols, value_cols);
  }
}

void AttentionForward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y,
                      AttentionCache* cache, Matrix* f) {
  const double inv_root_n = 1.0 / std::sqrt(static_cast<double>(plan.width));
  if (plan.attention.identity_values) {
    cache->v = y;
  } else {
    cache->v.noalias() = y * w.wv;
    cache->v *= inv_root_n;
  }
  if (plan.attention.uses_logits()) {
    cache->q.noalias() = y * w.wq;
    cache->q *= inv_root_n;
    cache->k.noalias() = y * w.wk;
    cache->k *= inv_root_n;
  }
  Matrix& concat = plan.attention.output_projection ? cache->heads : *f;
  AttentionHeads(plan, cache, &concat);
  if (plan.attention.output_projection) {
    f->noalias() = cache->heads * w.wo;
    *f *= inv_root_n;
  }
}

void AttentionHeadsBackward(const ModelPlan& plan, const AttentionCache& cache, const Matrix& dc,
                            AttentionCotangents* out) {
  const AttentionPlan& a = plan.attention;
  const int m = plan.tokens;
  const int heads = plan.heads;
  const int key_cols = plan.key_width / heads;
  const int value_cols = plan.width / heads;
  const bool logits = a.uses_logits();
  const bool qk_norm = logits && a.qk_norm != QkNormKind::kNone;
  const NormKind qk_kind = a.qk_norm == QkNormKind::kLayer ? NormKind::kLayer : NormKind::kRms;
  // The rounding floor concerns the softmax's cancellation (header comment).
  const bool softmax = a.kind == AttentionKind::kSoftmax || a.kind == AttentionKind::kShaped;
  out->dv.resize(m, plan.width);
  double q_rounding = 0.0, k_rounding = 0.0;
  if (logits) {
    out->dq.resize(m, plan.key_width);
    out->dk.resize(m, plan.key_width);
  }
  Matrix dp, ds, scale, dq_h, dk_h;
  for (int h = 0; h < heads; ++h) {
    const auto dc_h = dc.middleCols(h * value_cols, value_cols);
    out->dv.middleCols(h * value_cols, value_cols).noalias() = cache.a[h].transpose() * dc_h;
    if (!logits) continue;
    const Matrix& p = cache.p[h];
    const Matrix q_h = qk_norm ? cache.q_norm[h].y : cache.q.middleCols(h * key_cols, key_cols);
    const Matrix k_h = qk_norm ? cache.k_norm[h].y : cache.k.middleCols(h * key_cols, key_cols);
    // dA = dC Vᵀ and A = αI + βP − γC, so dP = β dA.
    dp.noalias() = a.AttentionGain() * dc_h * cache.v.middleCols(h * value_cols, value_cols).transpose();
    AttentionFunctionBackward(a, p, dp, &ds);
    ds /= a.tau;
    dq_h.noalias() = ds * k_h;
    dk_h.noalias() = ds.transpose() * q_h;
    if (qk_norm) {
      NormBackward(qk_kind, cache.q_norm[h], Matrix(dq_h), &dq_h);
      NormBackward(qk_kind, cache.k_norm[h], Matrix(dk_h), &dk_h);
    }
    {
      out->dq.middleCols(h * key_cols, key_cols) = dq_h;
      out->dk.middleCols(h * key_cols, key_cols) = dk_h;
    }
    if (!softmax) continue;
    // Ŝ = P ⊙ (|dP| + rowsum(P ⊙ |dP|) 1ᵀ)/τ bounds the terms whose difference dS is.
    const Matrix abs_dp = dp.cwiseAbs();
    const Vector abs_dot = p.cwiseProduct(abs_dp).rowwise().sum();
    scale = p.cwiseProduct(abs_dp.colwise() + abs_dot) / a.tau;
    const double s2 = scale.squaredNorm();
    q_rounding += s2 * k_h.squaredNorm();
    k_rounding += s2 * q_h.squaredNorm();
  }
  const double slack = kSoftmaxRoundingSlack * m * std::numeric_limits<double>::epsilon();
  out->dq_rounding = slack * std::sqrt(q_rounding);
  out->dk_rounding = slack * std::sqrt(k_rounding);
}

GradientFloor GradientFloor::Of(const Matrix& y, const AttentionCotangents& d) {
  const double y_scale = y.norm() / std::sqrt(static_cast<double>(y.cols()));
  return GradientFloor{y_scale * d.dq_rounding, y_scale * d.dk_rounding};
}

void AttentionBackward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y,
                       const AttentionCache& cache, const Matrix& df, Matrix* dy,
                       LayerWeights* grad, GradientFloor* floor) {
  const double inv_root_n = 1.0 / std::sqrt(static_cast<double>(plan.width));
  const bool logits = plan.attention.uses_logits();
  Matrix d_heads;
  if (plan.attention.output_projection) d_heads.noalias() = inv_root_n * df * w.wo.transpose();
  const Matrix& dc = plan.attention.output_projection ? d_heads : df;
  AttentionCotangents d;
  AttentionHeadsBackward(plan, cache, dc, &d);
  if (plan.attention.identity_values) {
    *dy = d.dv;
  } else {
    grad->wv.noalias() = inv_root_n * y.transpose() * d.dv;
    dy->noalias() = inv_root_n * d.dv * w.wv.transpose();
  }
  if (logits) {
    grad->wq.noalias() = inv_root_n * y.transpose() * d.dq;
    grad->wk.noalias() = inv_root_n * y.transpose() * d.dk;
    dy->noalias() += inv_root_n * d.dq * w.wq.transpose();
    dy->noalias() += inv_root_n * d.dk * w.wk.transpose();
    *floor = GradientFloor::Of(y, d);
  }
}

void MlpForward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y, MlpCache* cache,
                Matrix* f) {
  const Activation& act = plan.mlp.activation;
  const double inv_root_n = 1.0 / std::sqrt(static_cast<double>(plan.width));
  const double out_scale = std::sqrt(act.c / plan.mlp.hidden);
  cache->h.noalias() = y * w.w1;
  cache->h *= inv_root_n;
  cache->phi = cache->h.unaryExpr([&act](double u) { return act.Apply(u); });
  f->noalias() = cache->phi * w.w2;
  *f *= out_scale;
}

void MlpBackward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y,
                 const MlpCache& cache, const Matrix& df, Matrix* dy, LayerWeights* grad) {
  const Activation& act = plan.mlp.activation;
  const double inv_root_n = 1.0 / std::sqrt(static_cast<double>(plan.width));
  const double out_scale = std::sqrt(act.c / plan.mlp.hidden);
  grad->w2.noalias() = out_scale * cache.phi.transpose() * df;
  Matrix dh(cache.h.rows(), cache.h.cols());
  dh.noalias() = out_scale * df * w.w2.transpose();
  dh.array() *= cache.h.unaryExpr([&act](double u) { return act.Derivative(u); }).array();
  grad->w1.noalias() = inv_root_n * y.transpose() * dh;
  dy->noalias() = inv_root_n * dh * w.w1.transpose();
}

void LayerForward(const ModelPlan& plan, const LayerWeights& w, const Matrix& x, LayerCache* cache,
                  Matrix* out) {
  auto attention = [&](const Matrix& in, Matrix* f) {
    AttentionForward(plan, w, in, &cache->attention, f);
  };
  auto mlp = [&](const Matrix& in, Matrix* f) { MlpForward(plan, w, in, &cache->mlp, f); };
  LayerOfBlocks(plan, x, &cache->attention_block, &cache->mlp_block, attention, mlp, out);
}

void LayerBackward(const ModelPlan& plan, const LayerWeights& w, const LayerCache& cache,
                   const Matrix& dout, Matrix* dx, LayerWeights* grad, GradientFloor* floor) {
  *grad = LayerWeights();
  *floor = GradientFloor();
  auto attention = [&](const Matrix& in, const Matrix& df, Matrix* d_in) {
    AttentionBackward(plan, w, in, cache.attention, df, d_in, grad, floor);
  };
  auto mlp = [&](const Matrix& in, const Matrix& df, Matrix* d_in) {
    MlpBackward(plan, w, in, cache.mlp, df, d_in, grad);
  };
  LayerOfBlocksBackward(plan, cache.attention_block, cache.mlp_block, dout, attention, mlp, dx);
}

}  // namespace sigprop
