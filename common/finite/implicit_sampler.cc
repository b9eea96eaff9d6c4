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

// Q = g L G_Q, K = g L G_K, V = g_v L G_V for the branch input Y (g the products' gains, 1 unless
// absolute initialisation), the heads as the dense sampler, then f = g_o L_O G_O for the
// concatenated heads with output_projection.
void AttentionForwardImplicit(const ModelPlan& plan, const Matrix& y, RandomStream& stream,
                              ImplicitLayerCache* c, Matrix* f) {
  const AttentionPlan& ap = plan.attention;
  AttentionCache& a = c->attention;
  c->attention_input.Factor(y);
  if (ap.uses_logits()) {
    c->attention_input.Project(plan.heads * plan.query_cols, stream, &c->g_q, &a.q);
    c->attention_input.Project(plan.kv_heads * plan.query_cols, stream, &c->g_k, &a.k);
    if (ap.qk_gain != 1.0) {
      a.q *= ap.qk_gain;
      a.k *= ap.qk_gain;
    }
  }
  if (ap.identity_values) {
    a.v = y;
  } else {
    c->attention_input.Project(plan.kv_heads * plan.value_cols, stream, &c->g_v, &a.v);
    if (ap.v_gain != 1.0) a.v *= ap.v_gain;
  }
  if (!ap.output_projection) {
    AttentionHeads(plan, &a, f);
    return;
  }
  AttentionHeads(plan, &a, &a.heads);
  c->heads_input.Factor(a.heads);
  c->heads_input.Project(plan.width, stream, &c->g_o, f);
  if (ap.o_gain != 1.0) *f *= ap.o_gain;
}

void AttentionBackwardImplicit(const ModelPlan& plan, ImplicitLayerCache& c, const Matrix& y,
                               const Matrix& df, BackwardLaw law, RandomStream& stream, Matrix* dy,
                               GradientNorms* norms) {
  const AttentionPlan& ap = plan.attention;
  Matrix d_heads;
  if (ap.output_projection) {
    c.heads_input.BeginBackward();
    c.heads_input.AddCotangent(c.g_o, ap.o_gain * df);
    c.heads_input.Backward(law, stream, &d_heads);
  }
  AttentionCotangents d;
  AttentionHeadsBackward(plan, c.attention, ap.output_projection ? d_heads : df, &d);
  c.attention_input.BeginBackward();
  if (ap.uses_logits()) {
    norms->wq = c.attention_input.AddCotangent(c.g_q, ap.qk_gain * d.dq);
    norms->wk = c.attention_input.AddCotangent(c.g_k, ap.qk_gain * d.dk);
    norms->below_floor = GradientFloor::Of(y, d, ap.qk_gain).Below(norms->wq, norms->wk);
  }
  if (!ap.identity_values) norms->wv = c.attention_input.AddCotangent(c.g_v, ap.v_gain * d.dv);
  c.attention_input.Backward(law, stream, dy);
  if (ap.identity_values) *dy += d.dv;
}

// H = g L G_1 and f = L_φ G_2 for the hidden input out_gain·φ(H): the dense MLP
// out_gain·φ(in_gain·Y W_1/sqrt(n)) W_2/sqrt(n_h) with W_2's fan-in n_h; gated, φ(H) becomes
// φ(H_g) ⊙ H with H_g = g L G_g from the same input (the gate is drawn after the up projection).
void MlpForwardImplicit(const ModelPlan& plan, const Matrix& y, RandomStream& stream,
                        ImplicitLayerCache* c, Matrix* f) {
  const MlpPlan& mp = plan.mlp;
  const Activation& act = mp.activation;
  c->mlp_input.Factor(y);
  c->mlp_input.Project(mp.hidden, stream, &c->g_1, &c->hidden);
  if (mp.in_gain != 1.0) c->hidden *= mp.in_gain;
  const double out_gain = mp.out_gain;
  if (mp.gated) {
    c->mlp_input.Project(mp.hidden, stream, &c->g_g, &c->gate);
    if (mp.in_gain != 1.0) c->gate *= mp.in_gain;
    c->activated = c->gate.unaryExpr([&](double u) { return out_gain * act.Apply(u); });
    c->activated.array() *= c->hidden.array();
  } else {
    c->activated = c->hidden.unaryExpr([&](double u) { return out_gain * act.Apply(u); });
  }
  c->hidden_input.Factor(c->activated);
  c->hidden_input.Project(plan.width, stream, &c->g_2, f);
}

void MlpBackwardImplicit(const ModelPlan& plan, ImplicitLayerCache& c, const Matrix& df,
                         BackwardLaw law, RandomStream& stream, Matrix* dy, GradientNorms* norms) {
  const MlpPlan& mp = plan.mlp;
  const Activation& act = mp.activation;
  const double out_gain = mp.out_gain;
  Matrix d_activated;
  c.hidden_input.BeginBackward();
  norms->w2 = c.hidden_input.AddCotangent(c.g_2, df);
  c.hidden_input.Backward(law, stream, &d_activated);
  c.mlp_input.BeginBackward();
  if (mp.gated) {
    const Matrix d_gate = d_activated.cwiseProduct(c.hidden).cwiseProduct(
        c.gate.unaryExpr([&](double u) { return out_gain * act.Derivative(u); }));
    const Matrix dh =
        d_activated.cwiseProduct(c.gate.unaryExpr([&](double u) { return out_gain * act.Apply(u); }));
    const double up = c.mlp_input.AddCotangent(c.g_1, mp.in_gain * dh);
    const double gate = c.mlp_input.AddCotangent(c.g_g, mp.in_gain * d_gate);
    norms->w1 = std::hypot(up, gate);  // Reported together, as the dense sampler does.
  } else {
    const Matrix dh = d_activated.cwiseProduct(
        c.hidden.unaryExpr([&](double u) { return out_gain * act.Derivative(u); }));
    norms->w1 = c.mlp_input.AddCotangent(c.g_1, mp.in_gain * dh);
  }
  c.mlp_input.Backward(law, stream, dy);
}

absl::Status Cancelled(const SampleCoordinates& at, const char* pass, int layer) {
  return absl::CancelledError(absl::StrCat("columns sample ", at.sample, " of point ", at.point,
                                           " cancelled in the ", pass, " pass at layer ", layer));
}

}  // namespace

void ImplicitLayerForward(const ModelPlan& plan, int layer, const Matrix& x, RandomStream& stream,
                          ImplicitLayerCache* cache, Matrix* out) {
  auto attention = [&](const Matrix& in, Matrix* f) {
    AttentionForwardImplicit(plan, in, stream, cache, f);
  };
  auto mlp = [&](const Matrix& in, Matrix* f) { MlpForwardImplicit(plan, in, stream, cache, f); };
  LayerOfBlocks(plan, layer, x, &cache->attention_block, &cache->mlp_block, attention, mlp, out);
}

void ImplicitLayerBackward(const ModelPlan& plan, int layer, ImplicitLayerCache& cache,
                           const Matrix& dout, BackwardLaw law, RandomStream& stream, Matrix* dx,
                           GradientNorms* norms) {
  *norms = GradientNorms();
  auto attention = [&](const Matrix& in, const Matrix& df, Matrix* d_in) {
    AttentionBackwardImplicit(plan, cache, in, df, law, stream, d_in, norms);
  };
  auto mlp = [&](const Matrix&, const Matrix& df, Matrix* d_in) {
    MlpBackwardImplicit(plan, cache, df, law, stream, d_in, norms);
  };
  LayerOfBlocksBackward(plan, layer, cache.attention_block, cache.mlp_block, dout, attention, mlp, dx);
}

namespace {

// The forward pass of one sample: reports V_0 … V_d as SampleColumns does and keeps X_0 … X_d in
// `inputs` when it is given. *complete is false when a diverged layer stopped it.
absl::Status ImplicitForwardPass(const ModelPlan& plan, const SampleCoordinates& at,
                                 SampleObserver& observer, std::vector<Matrix>* inputs,
                                 bool* complete) {
  *complete = false;
  RandomStream input_stream(at.seed, at.point, at.sample, kInputLayer);
  absl::StatusOr<Matrix> x0 = DenseInput(plan, input_stream);
  if (!x0.ok()) return x0.status();
  Matrix x = *std::move(x0);
  if (inputs != nullptr) {
    inputs->reserve(static_cast<std::size_t>(plan.depth) + 1);
    inputs->push_back(x);
  }
  Matrix v, next;
  SymmetricCovariance(x, &v);
  observer.OnCovariance(0, v);
  observer.OnRootRepairs(0, 0);
  ImplicitLayerCache cache;
  for (int layer = 1; layer <= plan.depth; ++layer) {
    if (observer.Cancelled()) return Cancelled(at, "forward", layer);
    RandomStream stream(at.seed, at.point, at.sample, static_cast<uint32_t>(layer));
    ImplicitLayerForward(plan, layer, x, stream, &cache, &next);
    std::swap(x, next);
    SymmetricCovariance(x, &v);
    if (!ReportLayer(observer, layer, v)) return absl::OkStatus();
    if (observer.WantsLayer(layer)) {
      // The forward pass takes no matrix roots here (L comes from a QR), so nothing is clamped.
      observer.OnRootRepairs(layer, 0);
      if (plan.attention.enabled()) {
        const AttentionCache& a = cache.attention;
        observer.OnAttention(layer, SummariseAttention(plan.attention, a.p, a.a, a.max_logit));
      }
    }
    if (inputs != nullptr) inputs->push_back(x);
  }
  *complete = true;
  return absl::OkStatus();
}

}  // namespace

absl::Status SampleColumnsImplicitForward(const ModelPlan& plan, const SampleCoordinates& at,
                                          SampleObserver& observer) {
  bool complete = false;
  return ImplicitForwardPass(plan, at, observer, nullptr, &complete);
}

absl::Status SampleColumnsWithGradients(const ModelPlan& plan, const SampleCoordinates& at,
                                        SampleObserver& observer, BackwardLaw law) {
  std::vector<Matrix> inputs;
  bool complete = false;
  if (absl::Status s = ImplicitForwardPass(plan, at, observer, &inputs, &complete);
      !s.ok() || !complete) {
    return s;
  }
  RandomStream loss_stream(at.seed, at.point, at.sample, kLossLayer);
  Matrix d_out = DenseLossGradient(inputs.back(), DrawLossTargets(plan, loss_stream));
  Matrix d_in, next;
  GradientNorms norms;
  ImplicitLayerCache cache;
  for (int layer = plan.depth; layer >= 1; --layer) {
    if (observer.Cancelled()) return Cancelled(at, "backward", layer);
    RandomStream forward(at.seed, at.point, at.sample, static_cast<uint32_t>(layer));
    ImplicitLayerForward(plan, layer, inputs[layer - 1], forward, &cache, &next);
    RandomStream backward(at.seed, at.point, at.sample, BackwardLayer(layer));
    ImplicitLayerBackward(plan, layer, cache, d_out, law, backward, &d_in, &norms);
    norms.x = d_out.norm() / std::sqrt(static_cast<double>(plan.width));
    observer.OnGradients(layer, norms);
    std::swap(d_out, d_in);
  }
  observer.OnGradients(0, InputGradientNorms(d_out));
  return absl::OkStatus();
}

}  // namespace sigprop
