#include "common/finite/dense_blocks.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/finite/attention_matrix.h"
#include "common/finite/residual_block.h"
#include "common/finite/rotary.h"

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
  const int concat = plan.heads * plan.value_cols;
  if (plan.attention.enabled() && plan.attention.uses_logits()) {
    DrawGaussian(stream, n, plan.heads * plan.query_cols, &w->wq);
    DrawGaussian(stream, n, plan.kv_heads * plan.query_cols, &w->wk);
  } else {
    w->wq.resize(0, 0);
    w->wk.resize(0, 0);
  }
  if (plan.attention.enabled() && !plan.attention.identity_values) {
    DrawGaussian(stream, n, plan.kv_heads * plan.value_cols, &w->wv);
  } else {
    w->wv.resize(0, 0);
  }
  if (plan.attention.enabled() && plan.attention.output_projection) {
    DrawGaussian(stream, concat, n, &w->wo);
  } else {
    w->wo.resize(0, 0);
  }
  w->wg.resize(0, 0);
  if (plan.mlp.enabled()) {
    DrawGaussian(stream, n, plan.mlp.hidden, &w->w1);
    if (plan.mlp.gated) DrawGaussian(stream, n, plan.mlp.hidden, &w->wg);
    DrawGaussian(stream, plan.mlp.hidden, n, &w->w2);
  } else {
    w->w1.resize(0, 0);
    w->w2.resize(0, 0);
  }
}

void NormForward(NormKind kind, const Matrix& x, NormCache* cache, double eps) {
  const double n = static_cast<double>(x.cols());
  cache->y = x;
  if (kind == NormKind::kLayer) cache->y.colwise() -= cache->y.rowwise().mean();
  cache->r = (cache->y.rowwise().squaredNorm() / n).array() + eps;
  cache->r = cache->r.cwiseSqrt();
  cache->y.array().colwise() /= cache->r.array();
}

void NormBackward(NormKind kind, const NormCache& cache, const Matrix& dy, Matrix* dx) {
  const double n = static_cast<double>(dy.cols());
  const Vector projection = cache.y.cwiseProduct(dy).rowwise().sum() / n;
  *dx = dy - projection.asDiagonal() * cache.y;
  dx->array().colwise() /= cache.r.array();
  if (kind == NormKind::kLayer) dx->colwise() -= dx->rowwise().mean();
}

NormKind QkNormKindOf(const AttentionPlan& a) {
  return a.qk_norm == QkNormKind::kLayer ? NormKind::kLayer : NormKind::kRms;
}

namespace {

// cache->q_heads, k_heads from cache->q, k: QK-norm (per head, or over the whole projection),
// then RoPE per head.
void PrepareQueriesAndKeys(const ModelPlan& plan, AttentionCache* cache) {
  const AttentionPlan& a = plan.attention;
  const int cols = plan.query_cols;
  const bool norm = a.qk_norm != QkNormKind::kNone;
  const NormKind kind = QkNormKindOf(a);
  const Matrix* q = &cache->q;
  const Matrix* k = &cache->k;
  if (norm && a.qk_norm_projection) {
    cache->q_norm.resize(1);
    cache->k_norm.resize(1);
    NormForward(kind, cache->q, &cache->q_norm[0], plan.norm_eps);
    NormForward(kind, cache->k, &cache->k_norm[0], plan.norm_eps);
    q = &cache->q_norm[0].y;
    k = &cache->k_norm[0].y;
  } else {
    cache->q_norm.resize(norm ? plan.heads : 0);
    cache->k_norm.resize(norm ? plan.kv_heads : 0);
  }
  const bool per_head_norm = norm && !a.qk_norm_projection;
  auto prepare = [&](const Matrix& all, int h, std::vector<NormCache>& norms, Matrix* out) {
    if (per_head_norm) {
      NormForward(kind, all.middleCols(h * cols, cols), &norms[h], plan.norm_eps);
      *out = norms[h].y;
    } else {
      *out = all.middleCols(h * cols, cols);
    }
    ApplyRotary(a.rope, /*inverse=*/false, *out);
  };
  cache->q_heads.resize(plan.heads);
  cache->k_heads.resize(plan.kv_heads);
  for (int h = 0; h < plan.heads; ++h) prepare(*q, h, cache->q_norm, &cache->q_heads[h]);
  for (int g = 0; g < plan.kv_heads; ++g) prepare(*k, g, cache->k_norm, &cache->k_heads[g]);
}

// The gradient of the queries (keys) of one head, from that of the ones the logits read: RoPE
// turned back, then the per-head norm's backward.
void HeadCotangent(const ModelPlan& plan, const std::vector<NormCache>& norms, int h, Matrix* d) {
  ApplyRotary(plan.attention.rope, /*inverse=*/true, *d);
  if (plan.attention.qk_norm != QkNormKind::kNone && !plan.attention.qk_norm_projection) {
    NormBackward(QkNormKindOf(plan.attention), norms[h], Matrix(*d), d);
  }
}

}  // namespace

void AttentionHeads(const ModelPlan& plan, AttentionCache* cache, Matrix* concat) {
  const AttentionPlan& a = plan.attention;
  const int m = plan.tokens;
  const int heads = plan.heads;
  const int value_cols = plan.value_cols;
  const bool logits = a.uses_logits();
  cache->p.resize(logits ? heads : 0);
  cache->a.resize(heads);
  cache->cap_slope.resize(logits && a.softcap > 0.0 ? heads : 0);
  cache->max_logit = 0.0;
  if (logits) PrepareQueriesAndKeys(plan, cache);
  concat->resize(m, heads * value_cols);
  for (int h = 0; h < heads; ++h) {
    const int g = plan.kv_head_of(h);
    if (logits) {
      Matrix& p = cache->p[h];
      p.noalias() = cache->q_heads[h] * cache->k_heads[g].transpose();
      p /= a.tau;
      if (a.softcap > 0.0) {
        p = a.softcap * (p / a.softcap).array().tanh();
        cache->cap_slope[h] = 1.0 - (p / a.softcap).array().square();
      }
      cache->max_logit = std::max(cache->max_logit, ApplyAttentionFunction(a, h, heads, &p));
    }
    AttentionFromFunction(a, m, logits ? &cache->p[h] : nullptr, &cache->a[h]);
    concat->middleCols(h * value_cols, value_cols).noalias() =
        cache->a[h] * cache->v.middleCols(g * value_cols, value_cols);
  }
}

void AttentionForward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y,
                      AttentionCache* cache, Matrix* f) {
  const AttentionPlan& a = plan.attention;
  const double inv_root_n = 1.0 / std::sqrt(static_cast<double>(plan.width));
  if (a.identity_values) {
    cache->v = y;
  } else {
    cache->v.noalias() = y * w.wv;
    cache->v *= a.v_gain * inv_root_n;
  }
  if (a.uses_logits()) {
    cache->q.noalias() = y * w.wq;
    cache->q *= a.qk_gain * inv_root_n;
    cache->k.noalias() = y * w.wk;
    cache->k *= a.qk_gain * inv_root_n;
  }
  Matrix& concat = a.output_projection ? cache->heads : *f;
  AttentionHeads(plan, cache, &concat);
  if (a.output_projection) {
    f->noalias() = cache->heads * w.wo;
    *f *= a.o_gain / std::sqrt(static_cast<double>(cache->heads.cols()));
  }
}

void AttentionHeadsBackward(const ModelPlan& plan, const AttentionCache& cache, const Matrix& dc,
                            AttentionCotangents* out) {
  const AttentionPlan& a = plan.attention;
  const int m = plan.tokens;
  const int heads = plan.heads;
  const int key_cols = plan.query_cols;
  const int value_cols = plan.value_cols;
  const bool logits = a.uses_logits();
  // The rounding floor concerns the softmax's cancellation (header comment).
  const bool softmax = a.kind == AttentionKind::kSoftmax || a.kind == AttentionKind::kShaped;
  out->dv.setZero(m, plan.kv_heads * value_cols);
  double q_rounding = 0.0, k_rounding = 0.0;
  std::vector<Matrix> dk_heads;
  if (logits) {
    out->dq.resize(m, heads * key_cols);
    out->dk.resize(m, plan.kv_heads * key_cols);
    dk_heads.assign(plan.kv_heads, Matrix::Zero(m, key_cols));
  }
  Matrix dp, ds, scale, dq_h;
  for (int h = 0; h < heads; ++h) {
    const int g = plan.kv_head_of(h);
    const auto dc_h = dc.middleCols(h * value_cols, value_cols);
    out->dv.middleCols(g * value_cols, value_cols).noalias() += cache.a[h].transpose() * dc_h;
    if (!logits) continue;
    const Matrix& p = cache.p[h];
    const Matrix& q_h = cache.q_heads[h];
    const Matrix& k_h = cache.k_heads[g];
    // dA = dC Vᵀ and A = αI + βP − γC, so dP = β dA.
    dp.noalias() =
        a.AttentionGain() * dc_h * cache.v.middleCols(g * value_cols, value_cols).transpose();
    AttentionFunctionBackward(a, p, dp, &ds);
    if (a.softcap > 0.0) ds.array() *= cache.cap_slope[h].array();
    ds /= a.tau;
    dq_h.noalias() = ds * k_h;
    dk_heads[g].noalias() += ds.transpose() * q_h;
    HeadCotangent(plan, cache.q_norm, h, &dq_h);
    out->dq.middleCols(h * key_cols, key_cols) = dq_h;
    if (!softmax) continue;
    // Ŝ = P ⊙ (|dP| + rowsum(P ⊙ |dP|) 1ᵀ)/τ bounds the terms whose difference dS is.
    const Matrix abs_dp = dp.cwiseAbs();
    const Vector abs_dot = p.cwiseProduct(abs_dp).rowwise().sum();
    scale = p.cwiseProduct(abs_dp.colwise() + abs_dot) / a.tau;
    const double s2 = scale.squaredNorm();
    q_rounding += s2 * k_h.squaredNorm();
    k_rounding += s2 * q_h.squaredNorm();
  }
  if (logits) {
    for (int g = 0; g < plan.kv_heads; ++g) {
      HeadCotangent(plan, cache.k_norm, g, &dk_heads[g]);
      out->dk.middleCols(g * key_cols, key_cols) = dk_heads[g];
    }
    if (a.qk_norm != QkNormKind::kNone && a.qk_norm_projection) {
      NormBackward(QkNormKindOf(a), cache.q_norm[0], Matrix(out->dq), &out->dq);
      NormBackward(QkNormKindOf(a), cache.k_norm[0], Matrix(out->dk), &out->dk);
    }
  }
  const double slack = kSoftmaxRoundingSlack * m * std::numeric_limits<double>::epsilon();
  out->dq_rounding = slack * std::sqrt(q_rounding);
  out->dk_rounding = slack * std::sqrt(k_rounding);
}

GradientFloor GradientFloor::Of(const Matrix& y, const AttentionCotangents& d, double gain) {
  const double y_scale = gain * y.norm() / std::sqrt(static_cast<double>(y.cols()));
  return GradientFloor{y_scale * d.dq_rounding, y_scale * d.dk_rounding};
}

void AttentionBackward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y,
                       const AttentionCache& cache, const Matrix& df, Matrix* dy,
                       LayerWeights* grad, GradientFloor* floor) {
  const AttentionPlan& a = plan.attention;
  const double inv_root_n = 1.0 / std::sqrt(static_cast<double>(plan.width));
  const bool logits = a.uses_logits();
  Matrix d_heads;
  if (a.output_projection) {
    d_heads.noalias() = df * w.wo.transpose();
    d_heads *= a.o_gain / std::sqrt(static_cast<double>(w.wo.rows()));
  }
  const Matrix& dc = a.output_projection ? d_heads : df;
  AttentionCotangents d;
  AttentionHeadsBackward(plan, cache, dc, &d);
  if (a.identity_values) {
    *dy = d.dv;
  } else {
    const double t = a.v_gain * inv_root_n;
    grad->wv.noalias() = t * y.transpose() * d.dv;
    dy->noalias() = t * d.dv * w.wv.transpose();
  }
  if (logits) {
    const double t = a.qk_gain * inv_root_n;
    grad->wq.noalias() = t * y.transpose() * d.dq;
    grad->wk.noalias() = t * y.transpose() * d.dk;
    dy->noalias() += t * d.dq * w.wq.transpose();
    dy->noalias() += t * d.dk * w.wk.transpose();
    *floor = GradientFloor::Of(y, d, a.qk_gain);
  }
}

void MlpForward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y, MlpCache* cache,
                Matrix* f) {
  const Activation& act = plan.mlp.activation;
  const double in_scale = plan.mlp.in_gain / std::sqrt(static_cast<double>(plan.width));
  const double out_scale = plan.mlp.out_gain / std::sqrt(static_cast<double>(plan.mlp.hidden));
  cache->h.noalias() = y * w.w1;
  cache->h *= in_scale;
  if (plan.mlp.gated) {
    cache->gate.noalias() = y * w.wg;
    cache->gate *= in_scale;
    cache->phi = cache->gate.unaryExpr([&act](double u) { return act.Apply(u); });
    cache->phi.array() *= cache->h.array();
  } else {
    cache->phi = cache->h.unaryExpr([&act](double u) { return act.Apply(u); });
  }
  f->noalias() = cache->phi * w.w2;
  *f *= out_scale;
}

void MlpBackward(const ModelPlan& plan, const LayerWeights& w, const Matrix& y,
                 const MlpCache& cache, const Matrix& df, Matrix* dy, LayerWeights* grad) {
  const Activation& act = plan.mlp.activation;
  const double in_scale = plan.mlp.in_gain / std::sqrt(static_cast<double>(plan.width));
  const double out_scale = plan.mlp.out_gain / std::sqrt(static_cast<double>(plan.mlp.hidden));
  grad->w2.noalias() = out_scale * cache.phi.transpose() * df;
  Matrix d_phi(cache.h.rows(), cache.h.cols());
  d_phi.noalias() = out_scale * df * w.w2.transpose();
  if (plan.mlp.gated) {
    Matrix d_gate = d_phi.cwiseProduct(cache.h).cwiseProduct(
        cache.gate.unaryExpr([&act](double u) { return act.Derivative(u); }));
    const Matrix dh =
        d_phi.cwiseProduct(cache.gate.unaryExpr([&act](double u) { return act.Apply(u); }));
    grad->w1.noalias() = in_scale * y.transpose() * dh;
    grad->wg.noalias() = in_scale * y.transpose() * d_gate;
    dy->noalias() = in_scale * dh * w.w1.transpose();
    dy->noalias() += in_scale * d_gate * w.wg.transpose();
    return;
  }
  d_phi.array() *= cache.h.unaryExpr([&act](double u) { return act.Derivative(u); }).array();
  grad->w1.noalias() = in_scale * y.transpose() * d_phi;
  dy->noalias() = in_scale * d_phi * w.w1.transpose();
}

void LayerForward(const ModelPlan& plan, int layer, const LayerWeights& w, const Matrix& x,
                  LayerCache* cache, Matrix* out) {
  auto attention = [&](const Matrix& in, Matrix* f) {
    AttentionForward(plan, w, in, &cache->attention, f);
  };
  auto mlp = [&](const Matrix& in, Matrix* f) { MlpForward(plan, w, in, &cache->mlp, f); };
  LayerOfBlocks(plan, layer, x, &cache->attention_block, &cache->mlp_block, attention, mlp, out);
}

void LayerBackward(const ModelPlan& plan, int layer, const LayerWeights& w, const LayerCache& cache,
                   const Matrix& dout, Matrix* dx, LayerWeights* grad, GradientFloor* floor) {
  // Matrices this layer writes keep their storage from the layer before (each is n² doubles);
  // the others are emptied, as the weights they would differentiate are absent (W_O's gradient is
  // not computed: no statistic reads it).
  auto unless_drawn = [](const Matrix& weight, Matrix* gradient) {
    if (weight.size() == 0) gradient->resize(0, 0);
  };
  unless_drawn(w.wq, &grad->wq);
  unless_drawn(w.wk, &grad->wk);
  unless_drawn(w.wv, &grad->wv);
  unless_drawn(w.w1, &grad->w1);
  unless_drawn(w.wg, &grad->wg);
  unless_drawn(w.w2, &grad->w2);
  grad->wo.resize(0, 0);
  *floor = GradientFloor();
  auto attention = [&](const Matrix& in, const Matrix& df, Matrix* d_in) {
    AttentionBackward(plan, w, in, cache.attention, df, d_in, grad, floor);
  };
  auto mlp = [&](const Matrix& in, const Matrix& df, Matrix* d_in) {
    MlpBackward(plan, w, in, cache.mlp, df, d_in, grad);
  };
  LayerOfBlocksBackward(plan, layer, cache.attention_block, cache.mlp_block, dout, attention, mlp, dx);
}

}  // namespace sigprop
