#include "common/finite/implicit_sampler.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/finite/attention_matrix.h"
#include "common/finite/columns_sampler.h"
#include "common/finite/dense_sampler.h"
#include "common/finite/residual_block.h"

namespace sigprop {
namespace {

// Q = L G_Q, K = L G_K, V = L G_V for the branch input Y, the heads as the dense sampler, then
// f = L_O G_O for the concatenated heads with output_projection.
void AttentionForwardImplicit(const ModelPlan& plan, const Matrix& y, RandomStream& stream,
                              ImplicitLayerCache* c, Matrix* f) {
  AttentionCache& a = c->attention;
  c->attention_input.Factor(y);
  if (plan.attention.uses_logits()) {
    c->attention_input.Project(plan.key_width, stream, &c->g_q, &a.q);
    c->attention_input.Project(plan.key_width, stream, &c->g_k, &a.k);
  }
  if (plan.attention.identity_values) {
    a.v = y;
  } else {
    c->attention_input.Project(plan.width, stream, &c->g_v, &a.v);
  }
  if (!plan.attention.output_projection) {
    AttentionHeads(plan, &a, f);
    return;
  }
  AttentionHeads(plan, &a, &a.heads);
  c->heads_input.Factor(a.heads);
  c->heads_input.Project(plan.width, stream, &c->g_o, f);
}

void AttentionBackwardImplicit(const ModelPlan& plan, ImplicitLayerCache& c, const Matrix& y,
                               const Matrix& df, BackwardLaw law, RandomStream& stream, Matrix* dy,
                               GradientNorms* norms) {
  Matrix d_heads;
  if (plan.attention.output_projection) {
    c.heads_input.BeginBackward();
    c.heads_input.AddCotangent(c.g_o, df);
    c.heads_input.Backward(law, stream, &d_heads);
  }
  AttentionCotangents d;
  AttentionHeadsBackward(plan, c.attention, plan.attention.output_projection ? d_heads : df, &d);
  c.attention_input.BeginBackward();
  if (plan.attention.uses_logits()) {
    norms->wq = c.attention_input.AddCotangent(c.g_q, d.dq);
    norms->wk = c.attention_input.AddCotangent(c.g_k, d.dk);
    norms->below_floor = GradientFloor::Of(y, d).Below(norms->wq, norms->wk);
  }
  if (!plan.attention.identity_values) norms->wv = c.attention_input.AddCotangent(c.g_v, d.dv);
  c.attention_input.Backward(law, stream, dy);
  if (plan.attention.identity_values) *dy += d.dv;
}

// H = L G_1 and f = L_φ G_2 for the hidden input sqrt(c) φ(H): the dense MLP
// sqrt(c/n_h) φ(Y W_1/sqrt(n)) W_2 with W_2's fan-in n_h.
void MlpForwardImplicit(const ModelPlan& plan, const Matrix& y, RandomStream& stream,
                        ImplicitLayerCache* c, Matrix* f) {
  const Activation& act = plan.mlp.activation;
  c->mlp_input.Factor(y);
  c->mlp_input.Project(plan.mlp.hidden, stream, &c->g_1, &c->hidden);
  const double root_c = std::sqrt(act.c);
  c->activated = c->hidden.unaryExpr([&](double u) { return root_c * act.Apply(u); });
  c->hidden_input.Factor(c->activated);
  c->hidden_input.Project(plan.width, stream, &c->g_2, f);
}

void MlpBackwardImplicit(const ModelPlan& plan, ImplicitLayerCache& c, const Matrix& df,
                         BackwardLaw law, RandomStream& stream, Matrix* dy, GradientNorms* norms) {
  const Activation& act = plan.mlp.activation;
  const double root_c = std::sqrt(act.c);
  Matrix d_activated;
  c.hidden_input.BeginBackward();
  norms->w2 = c.hidden_input.AddCotangent(c.g_2, df);
  c.hidden_input.Backward(law, stream, &d_activated);
  const Matrix dh = d_activated.cwiseProduct(
      c.hidden.unaryExpr([&](double u) { return root_c * act.Derivative(u); }));
  c.mlp_input.BeginBackward();
  norms->w1 = c.mlp_input.AddCotangent(c.g_1, dh);
  c.mlp_input.Backward(law, stream, dy);
}

absl::Status Cancelled(const SampleCoordinates& at, const char* pass, int layer) {
  return absl::CancelledError(absl::StrCat("columns sample ", at.sample, " of point ", at.point,
                                           " cancelled in the ", pass, " pass at layer ", layer));
}

}  // namespace

void ImplicitLayerForward(const ModelPlan& plan, const Matrix& x, RandomStream& stream,
                          ImplicitLayerCache* cache, Matrix* out) {
  auto attention = [&](const Matrix& in, Matrix* f) {
    AttentionForwardImplicit(plan, in, stream, cache, f);
  };
  auto mlp = [&](const Matrix& in, Matrix* f) { MlpForwardImplicit(plan, in, stream, cache, f); };
  LayerOfBlocks(plan, x, &cache->attention_block, &cache->mlp_block, attention, mlp, out);
}

void ImplicitLayerBackward(const ModelPlan& plan, ImplicitLayerCache& cache, const Matrix& dout,
                           BackwardLaw law, RandomStream& stream, Matrix* dx,
                           GradientNorms* norms) {
  *norms = GradientNorms();
  auto attention = [&](const Matrix& in, const Matrix& df, Matrix* d_in) {
    AttentionBackwardImplicit(plan, cache, in, df, law, stream, d_in, norms);
  };
  auto mlp = [&](const Matrix&, const Matrix& df, Matrix* d_in) {
    MlpBackwardImplicit(plan, cache, df, law, stream, d_in, norms);
  };
  LayerOfBlocksBackward(plan, cache.attention_block, cache.mlp_block, dout, attention, mlp, dx);
}

absl::Status SampleColumnsWithGradients(const ModelPlan& plan, const SampleCoordinates& at,
                                        SampleObserver& observer, BackwardLaw law) {
  RandomStream input_stream(at.seed, at.point, at.sample, kInputLayer);
  absl::StatusOr<Matrix> x0 = DenseInput(plan, input_stream);
  if (!x0.ok()) return x0.status();
  std::vector<Matrix> inputs;
  inputs.reserve(static_cast<std::size_t>(plan.depth) + 1);
  inputs.push_back(*std::move(x0));
  Matrix v, next;
  SymmetricCovariance(inputs.back(), &v);
  observer.OnCovariance(0, v);
  observer.OnRootRepairs(0, 0);
  ImplicitLayerCache cache;
  for (int layer = 1; layer <= plan.depth; ++layer) {
    if (observer.Cancelled()) return Cancelled(at, "forward", layer);
    RandomStream stream(at.seed, at.point, at.sample, static_cast<uint32_t>(layer));
    ImplicitLayerForward(plan, inputs.back(), stream, &cache, &next);
    SymmetricCovariance(next, &v);
    if (!ReportLayer(observer, layer, v)) return absl::OkStatus();
    if (observer.WantsLayer(layer)) {
      // The forward pass takes no matrix roots here (L comes from a QR), so nothing is clamped.
      observer.OnRootRepairs(layer, 0);
      if (plan.attention.enabled()) {
        const AttentionCache& a = cache.attention;
        observer.OnAttention(layer, SummariseAttention(plan.attention, a.p, a.a, a.max_logit));
      }
    }
    inputs.push_back(next);
  }

  RandomStream loss_stream(at.seed, at.point, at.sample, kLossLayer);
  Matrix d_out = DenseLossGradient(inputs.back(), DrawLossTargets(plan, loss_stream));
  Matrix d_in;
  GradientNorms norms;
  for (int layer = plan.depth; layer >= 1; --layer) {
    if (observer.Cancelled()) return Cancelled(at, "backward", layer);
    RandomStream forward(at.seed, at.point, at.sample, static_cast<uint32_t>(layer));
    ImplicitLayerForward(plan, inputs[layer - 1], forward, &cache, &next);
    RandomStream backward(at.seed, at.point, at.sample, BackwardLayer(layer));
    ImplicitLayerBackward(plan, cache, d_out, law, backward, &d_in, &norms);
    norms.x = d_out.norm() / std::sqrt(static_cast<double>(plan.width));
    observer.OnGradients(layer, norms);
    std::swap(d_out, d_in);
  }
  observer.OnGradients(0, InputGradientNorms(d_out));
  return absl::OkStatus();
}

}  // namespace sigprop
