#include "common/finite/dense_sampler.h"

#include <cmath>
#include <limits>
#include <utility>

#include <Eigen/QR>

#include "absl/strings/str_cat.h"

namespace sigprop {
namespace {

absl::Status CheckDenseShape(const ModelPlan& plan) {
  if (plan.tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("model.tokens: must be >= 1, got ", plan.tokens));
  }
  if (plan.depth < 0) {
    return absl::InvalidArgumentError(absl::StrCat("model.depth: must be >= 0, got ", plan.depth));
  }
  if (plan.width < plan.tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.width: the dense input X_0 X_0ᵀ/n = V_0 needs width >= tokens, got width ",
        plan.width, " < tokens ", plan.tokens));
  }
  if (plan.heads < 1 || plan.kv_heads < 1 || plan.heads % plan.kv_heads != 0 ||
      plan.query_cols < 1 || plan.value_cols < 1 || plan.query_cols * plan.heads != plan.key_width ||
      (!plan.attention.output_projection && plan.value_cols * plan.heads != plan.width)) {
    return absl::InvalidArgumentError(absl::StrCat("model.heads: must divide width ", plan.width,
                                                   " and key_width ", plan.key_width, ", got ",
                                                   plan.heads));
  }
  if (plan.mlp.enabled() && plan.mlp.hidden < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.mlp.hidden_width: must be >= 1, got ", plan.mlp.hidden));
  }
  return absl::OkStatus();
}

// V = X Xᵀ / n, symmetrised (the product is not bitwise symmetric).
void Covariance(const Matrix& x, Matrix* v) {
  v->noalias() = x * x.transpose();
  *v /= static_cast<double>(x.cols());
  for (Eigen::Index i = 0; i < v->rows(); ++i) {
    for (Eigen::Index j = i + 1; j < v->cols(); ++j) {
      (*v)(i, j) = (*v)(j, i) = 0.5 * ((*v)(i, j) + (*v)(j, i));
    }
  }
}

absl::Status Cancelled(const SampleCoordinates& at, const char* pass, int layer) {
  return absl::CancelledError(absl::StrCat("dense sample ", at.sample, " of point ", at.point,
                                           " cancelled in the ", pass, " pass at layer ", layer));
}

}  // namespace

GradientNorms ReportedNorms(const LayerWeights& grad, const GradientFloor& floor,
                            const Matrix& d_output) {
  GradientNorms g;
  g.wq = grad.wq.norm();
  g.wk = grad.wk.norm();
  g.wv = grad.wv.norm();
  // A gated MLP's two input projections are reported together: ‖(dW_u, dW_g)‖_F.
  g.w1 = std::hypot(grad.w1.norm(), grad.wg.norm());
  g.w2 = grad.w2.norm();
  g.x = d_output.norm() / std::sqrt(static_cast<double>(d_output.cols()));
  g.below_floor = grad.wq.size() > 0 && floor.Below(g.wq, g.wk);
  return g;
}

GradientNorms InputGradientNorms(const Matrix& d_input) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  GradientNorms g;
  g.wq = g.wk = g.wv = g.w1 = g.w2 = nan;
  g.x = d_input.norm() / std::sqrt(static_cast<double>(d_input.cols()));
  return g;
}

absl::StatusOr<Matrix> DenseInput(const ModelPlan& plan, RandomStream& stream) {
  const int m = plan.tokens;
  const int n = plan.width;
  Eigen::LLT<Matrix> chol(plan.v0);
  if (plan.v0.rows() != m || plan.v0.cols() != m || chol.info() != Eigen::Success) {
    return absl::InvalidArgumentError("model.initial: V_0 must be an m×m positive definite matrix");
  }
  Matrix g(n, m);
  stream.FillGaussian(g.data(), static_cast<std::size_t>(g.size()));
  Eigen::HouseholderQR<Matrix> qr(g);
  Matrix q = qr.householderQ() * Matrix::Identity(n, m);
  for (int j = 0; j < m; ++j) {
    if (qr.matrixQR()(j, j) < 0.0) q.col(j) *= -1.0;
  }
  Matrix x0 = chol.matrixL() * q.transpose();
  x0 *= std::sqrt(static_cast<double>(n));
  return x0;
}

LossTargets DrawLossTargets(const ModelPlan& plan, RandomStream& stream) {
  LossTargets t;
  t.u.resize(plan.width);
  t.y.resize(plan.tokens);
  stream.FillGaussian(t.u.data(), static_cast<std::size_t>(t.u.size()));
  stream.FillGaussian(t.y.data(), static_cast<std::size_t>(t.y.size()));
  return t;
}

double DenseLoss(const Matrix& x, const LossTargets& targets) {
  const Vector r = x * targets.u / std::sqrt(static_cast<double>(x.cols())) - targets.y;
  return r.squaredNorm() / (2.0 * static_cast<double>(x.rows()));
}

Matrix DenseLossGradient(const Matrix& x, const LossTargets& targets) {
  const double root_n = std::sqrt(static_cast<double>(x.cols()));
  const Vector r = x * targets.u / root_n - targets.y;
  return r * targets.u.transpose() / (static_cast<double>(x.rows()) * root_n);
}

absl::Status BackpropagateDense(const ModelPlan& plan, const std::vector<Matrix>& inputs,
                                const LossTargets& targets, LayerWeightSource weights,
                                LayerGradientSink sink, Matrix* d_input,
                                DenseWorkspace* workspace) {
  const int depth = static_cast<int>(inputs.size()) - 1;
  Matrix d_out = DenseLossGradient(inputs[depth], targets);
  Matrix d_in;
  DenseWorkspace own;
  DenseWorkspace& space = workspace != nullptr ? *workspace : own;
  LayerWeights& w = space.weights;
  LayerWeights& grad = space.gradients;
  LayerCache& cache = space.cache;
  Matrix& recomputed = space.recomputed;
  GradientFloor floor;
  for (int layer = depth; layer >= 1; --layer) {
    weights(layer, &w);
    LayerForward(plan, layer, w, inputs[layer - 1], &cache, &recomputed);
    LayerBackward(plan, layer, w, cache, d_out, &d_in, &grad, &floor);
    if (absl::Status s = sink(layer, LayerGradient{grad, floor, d_out}); !s.ok()) return s;
    std::swap(d_out, d_in);
  }
  if (d_input != nullptr) *d_input = std::move(d_out);
  return absl::OkStatus();
}

absl::Status SampleDense(const ModelPlan& plan, const SampleCoordinates& at, bool gradients,
                         SampleObserver& observer, DenseWorkspace* workspace) {
  DenseWorkspace own;
  DenseWorkspace& space = workspace != nullptr ? *workspace : own;
  if (absl::Status s = CheckDenseShape(plan); !s.ok()) return s;
  RandomStream input_stream(at.seed, at.point, at.sample, kInputLayer);
  absl::StatusOr<Matrix> x0 = DenseInput(plan, input_stream);
  if (!x0.ok()) return x0.status();

  Matrix x = *std::move(x0);
  Matrix next, v;
  Covariance(x, &v);
  observer.OnCovariance(0, v);

  std::vector<Matrix> inputs;
  if (gradients) {
    inputs.reserve(static_cast<std::size_t>(plan.depth) + 1);
    inputs.push_back(x);
  }
  LayerWeights& w = space.weights;
  LayerCache& cache = space.cache;
  for (int layer = 1; layer <= plan.depth; ++layer) {
    if (observer.Cancelled()) return Cancelled(at, "forward", layer);
    RandomStream stream(at.seed, at.point, at.sample, static_cast<uint32_t>(layer));
    DrawLayerWeights(plan, stream, &w);
    LayerForward(plan, layer, w, x, &cache, &next);
    std::swap(x, next);
    Covariance(x, &v);
    if (!ReportLayer(observer, layer, v)) return absl::OkStatus();
    if (plan.attention.enabled() && observer.WantsLayer(layer)) {
      observer.OnAttention(layer, SummariseAttention(plan.attention, cache.attention.p,
                                                     cache.attention.a, cache.attention.max_logit));
    }
    if (gradients) inputs.push_back(x);
  }
  if (!gradients) return absl::OkStatus();

  RandomStream loss_stream(at.seed, at.point, at.sample, kLossLayer);
  const LossTargets targets = DrawLossTargets(plan, loss_stream);
  Matrix d_input;
  absl::Status status = BackpropagateDense(
      plan, inputs, targets,
      [&](int layer, LayerWeights* weights) {
        RandomStream stream(at.seed, at.point, at.sample, static_cast<uint32_t>(layer));
        DrawLayerWeights(plan, stream, weights);
      },
      [&](int layer, const LayerGradient& grad) {
        if (observer.Cancelled()) return Cancelled(at, "backward", layer);
        observer.OnGradients(layer, ReportedNorms(grad.weights, grad.floor, grad.d_output));
        return absl::OkStatus();
      },
      &d_input, &space);
  if (!status.ok()) return status;
  observer.OnGradients(0, InputGradientNorms(d_input));
  return absl::OkStatus();
}

}  // namespace sigprop
