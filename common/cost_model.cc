#include "common/cost_model.h"

#include <algorithm>

#include "common/engine.h"
#include "common/model_plan.h"

namespace sigprop {
namespace {

using v1::MlpSpec;
using v1::ModelSpec;
using v1::RunSpec;

struct Sizes {
  double samples, depth, n, m, n_k, hidden;
  bool mlp, kernel_mlp;
};

Sizes SizesOf(const RunSpec& run) {
  const ModelSpec s = ApplyPreset(run.model());
  Sizes z;
  z.samples = std::max(run.samples(), 1);
  z.depth = s.depth();
  z.n = s.width();
  z.m = s.tokens();
  const double heads = s.heads() > 0 ? s.heads() : 1;
  z.n_k = s.head_dim() > 0 ? heads * s.head_dim() : s.key_width() > 0 ? s.key_width() : z.n;
  z.hidden = s.mlp().hidden_width() > 0 ? s.mlp().hidden_width() : z.n;
  // A gated MLP has three n × n_h matrices where the plain one has two (docs/COST.md).
  if (IsGatedMlp(s.mlp().activation())) z.hidden *= 1.5;
  z.mlp = s.mlp().activation() != MlpSpec::NONE;
  z.kernel_mlp = s.mlp().mlp_sampling() == MlpSpec::KERNEL;
  return z;
}

}  // namespace

double EstimateCost(const RunSpec& run) {
  const Sizes z = SizesOf(run);
  switch (ChooseMethod(run)) {
    case RunSpec::GRAM:
      // One m×m root and its products per layer; an exact MLP adds its hidden columns.
      return z.samples * z.depth * (z.m * z.m * z.m + (z.mlp && !z.kernel_mlp ? z.hidden * z.m * z.m : 0.0));
    case RunSpec::COLUMNS:
      return z.samples * z.depth * z.m * z.m * (z.n + (z.mlp ? z.hidden : 0.0));
    case RunSpec::SDE:
      // Euler–Maruyama steps of O(m³) each (a root of the m×m diffusion), width-free.
      return z.samples * z.depth * std::max(run.sde().steps_per_layer(), 1) * z.m * z.m * z.m;
    case RunSpec::LIMIT:
      return z.samples * z.depth * (z.m * z.m * z.m + z.hidden * z.m * z.m);
    default:
      return z.samples * z.depth * z.n * z.n;
  }
}

std::string CostFormula(const RunSpec& run) {
  switch (ChooseMethod(run)) {
    case RunSpec::GRAM:
      if (SizesOf(run).kernel_mlp) return "samples × depth × tokens³";
      return "samples × depth × (tokens³ + hidden width × tokens²)";
    case RunSpec::COLUMNS:
      return "samples × depth × tokens² × (width + hidden width)";
    case RunSpec::SDE:
      return "samples × depth × steps_per_layer × tokens³";
    case RunSpec::LIMIT:
      return "samples × depth × (tokens³ + hidden width × tokens²)";
    default:
      return "samples × depth × width²";
  }
}

double EstimateSampleBytes(const RunSpec& run) {
  const Sizes z = SizesOf(run);
  const bool gradients = run.gradients();
  double doubles = 0.0;
  switch (ChooseMethod(run)) {
    case RunSpec::DENSE:
      // W_Q, W_K, W_V, W_O, W_1, W_2 of one layer, and (gradients) as many again for dL/dW.
      doubles = (2 * z.n * z.n_k + 2 * z.n * z.n + 2 * z.n * z.hidden) * (gradients ? 2 : 1) +
                12 * z.m * z.n;
      break;
    case RunSpec::COLUMNS:
      // Four implicit inputs with their QR factors, Q̂ and backward draws, G_Q, G_K, G_V, G_O,
      // G_1, G_2, the residual caches, the hidden activations (about 20 m×n and 6 m×n_h).
      doubles = z.m * (20 * z.n + 2 * z.n_k + 6 * z.hidden);
      break;
    default:
      doubles = z.m * (z.n + z.hidden);
      break;
  }
  if (gradients) doubles += (z.depth + 1) * z.m * z.n;
  return 8.0 * doubles;
}

double StoredValues(const RunSpec& run) {
  const ModelSpec s = ApplyPreset(run.model());
  const int every = run.record_every() > 0 ? run.record_every() : 1;
  const double recorded = s.depth() / every + 2.0;  // Every k-th layer, plus layers 0 and depth.
  const double m = s.tokens();
  const double statistics = kScalarStatisticsBound + m + (run.mean_covariance() ? m * m : 0.0);
  return recorded * statistics * std::max(run.samples(), 1);
}

int ProvisionalEvery(const RunSpec& run) {
  if (run.provisional_every() > 0) return run.provisional_every() < run.samples() ? run.provisional_every() : 0;
  if (run.samples() < 4 || EstimateCost(run) < kProvisionalCostThreshold) return 0;
  return (run.samples() + 3) / 4;
}

}  // namespace sigprop
