// The residual wrapper every block of SPEC §2 shares, for the samplers that keep the representation
// X and back-propagate through it (dense weights, implicit weights):
//
//     pre-norm or no norm:  X ← λX + γ f(N(X))        post-norm:  X ← N(λX + γ f(X)),
//
// (and the parallel block's two branches on one input, below), and the backward pass, for dX'
// the incoming gradient:
//   no norm:   dX = λ dX' + f_back(γ dX')
//   pre-norm:  dX = λ dX' + N_back(f_back(γ dX'))
//   post-norm: dZ = N_back(dX'),  dX = λ dZ + f_back(γ dZ);
// peri- and output-norm (SPEC §2b) add N to the branch output, X ← λX + γ N(f(N(X))) and
// X ← λX + γ N(f(X)), whose backward runs first on γ dX'.
#ifndef SIGPROP_COMMON_FINITE_RESIDUAL_BLOCK_H_
#define SIGPROP_COMMON_FINITE_RESIDUAL_BLOCK_H_

#include <cmath>

#include "common/finite/dense_blocks.h"
#include "common/linalg.h"
#include "common/model_plan.h"

namespace sigprop {

// The factor LayerNorm scaling puts on the pre-norm output of layer ℓ (1-based): 1/sqrt(ℓ).
inline double InputNormScale(const ModelPlan& plan, int layer) {
  return plan.layer_norm_scaling ? 1.0 / std::sqrt(static_cast<double>(layer)) : 1.0;
}

// The branch input: X, or N(X) (times the LayerNorm scaling) where the norm acts on it.
inline const Matrix& BranchInputForward(const ModelPlan& plan, int layer, ResidualCache* c) {
  if (!plan.NormsBranchInput()) return c->input;
  NormForward(plan.norm, c->input, &c->norm, plan.norm_eps);
  const double scale = InputNormScale(plan, layer);
  if (scale == 1.0) return c->norm.y;
  c->scaled_input = scale * c->norm.y;
  return c->scaled_input;
}

inline const Matrix& BranchInputOf(const ModelPlan& plan, int layer, const ResidualCache& c) {
  if (!plan.NormsBranchInput()) return c.input;
  return InputNormScale(plan, layer) == 1.0 ? c.norm.y : c.scaled_input;
}

// f, or N(f) under peri- and output-norm.
inline const Matrix& BranchOutputForward(const ModelPlan& plan, ResidualCache* c) {
  if (!plan.NormsBranchOutput()) return c->branch;
  NormForward(plan.norm, c->branch, &c->branch_norm, plan.norm_eps);
  return c->branch_norm.y;
}

// X' from X; `branch(in, &f)` computes f at the branch input `in`; `out` may alias `x`.
template <typename Branch>
void ResidualForward(const ModelPlan& plan, int layer, double lambda, double gamma, const Matrix& x,
                     ResidualCache* c, Branch&& branch, Matrix* out) {
  c->input = x;
  branch(BranchInputForward(plan, layer, c), &c->branch);
  *out = lambda * c->input + gamma * BranchOutputForward(plan, c);
  if (plan.NormsSum()) {
    NormForward(plan.norm, *out, &c->norm, plan.norm_eps);
    *out = c->norm.y;
  }
}

// dX from dX'; `back(in, df, &d_in)` is the branch's backward at branch input `in`.
template <typename BranchBackward>
void ResidualBackward(const ModelPlan& plan, int layer, double lambda, double gamma,
                      const ResidualCache& c, const Matrix& dout, BranchBackward&& back,
                      Matrix* dx) {
  const Matrix* d_sum = &dout;
  Matrix dz;
  if (plan.NormsSum()) {
    NormBackward(plan.norm, c.norm, dout, &dz);
    d_sum = &dz;
  }
  Matrix d_branch = gamma * *d_sum;
  if (plan.NormsBranchOutput()) NormBackward(plan.norm, c.branch_norm, Matrix(d_branch), &d_branch);
  Matrix d_branch_in;
  back(BranchInputOf(plan, layer, c), d_branch, &d_branch_in);
  if (plan.NormsBranchInput()) {
    d_branch_in *= InputNormScale(plan, layer);
    NormBackward(plan.norm, c.norm, d_branch_in, dx);
    *dx += lambda * *d_sum;
  } else {
    *dx = lambda * *d_sum + d_branch_in;
  }
}

// The parallel block (ModelPlan::parallel): X' = λX + γ_a f_a(N(X)) + γ_f f_f(N(X)), or post-norm
// X' = N(λX + γ_a f_a(X) + γ_f f_f(X)). The input, the norm and f_a live in `c`, f_f in
// `f_cache->branch`. λ is the attention block's skip. (Validation keeps branch-output norms away
// from it.)
template <typename BranchA, typename BranchF>
void ParallelForward(const ModelPlan& plan, int layer, const Matrix& x, ResidualCache* c,
                     ResidualCache* f_cache, BranchA&& branch_a, BranchF&& branch_f, Matrix* out) {
  c->input = x;
  const Matrix& in = BranchInputForward(plan, layer, c);
  branch_a(in, &c->branch);
  branch_f(in, &f_cache->branch);
  *out = plan.attention.skip * c->input + plan.attention.branch * c->branch +
         plan.mlp.branch * f_cache->branch;
  if (plan.NormsSum()) {
    NormForward(plan.norm, *out, &c->norm, plan.norm_eps);
    *out = c->norm.y;
  }
}

// dX from dX' for ParallelForward: both branches' backward at the shared input, summed.
template <typename BackA, typename BackF>
void ParallelBackward(const ModelPlan& plan, int layer, const ResidualCache& c, const Matrix& dout,
                      BackA&& back_a, BackF&& back_f, Matrix* dx) {
  const Matrix* d_sum = &dout;
  Matrix dz, d_a, d_f;
  if (plan.NormsSum()) {
    NormBackward(plan.norm, c.norm, dout, &dz);
    d_sum = &dz;
  }
  const Matrix& in = BranchInputOf(plan, layer, c);
  back_a(in, plan.attention.branch * *d_sum, &d_a);
  back_f(in, plan.mlp.branch * *d_sum, &d_f);
  d_a += d_f;
  if (plan.NormsBranchInput()) {
    d_a *= InputNormScale(plan, layer);
    NormBackward(plan.norm, c.norm, d_a, dx);
    *dx += plan.attention.skip * *d_sum;
  } else {
    *dx = plan.attention.skip * *d_sum + d_a;
  }
}

// One layer (1-based `layer`) from its branches: the parallel block, or the attention block then
// the MLP block (each when enabled). `attention(in, &f)` and `mlp(in, &f)` compute the branches.
template <typename Attention, typename Mlp>
void LayerOfBlocks(const ModelPlan& plan, int layer, const Matrix& x,
                   ResidualCache* attention_block, ResidualCache* mlp_block, Attention&& attention,
                   Mlp&& mlp, Matrix* out) {
  if (plan.parallel) {
    ParallelForward(plan, layer, x, attention_block, mlp_block, attention, mlp, out);
    return;
  }
  *out = x;
  if (plan.attention.enabled()) {
    ResidualForward(plan, layer, plan.attention.skip, plan.attention.branch, *out,
                    attention_block, attention, out);
  }
  if (plan.mlp.enabled()) {
    ResidualForward(plan, layer, plan.mlp.skip, plan.mlp.branch, *out, mlp_block, mlp, out);
  }
}

// Backward of LayerOfBlocks; `attention(in, df, &d_in)`, `mlp(in, df, &d_in)` the branches'.
template <typename AttentionBack, typename MlpBack>
void LayerOfBlocksBackward(const ModelPlan& plan, int layer, const ResidualCache& attention_block,
                           const ResidualCache& mlp_block, const Matrix& dout,
                           AttentionBack&& attention, MlpBack&& mlp, Matrix* dx) {
  if (plan.parallel) {
    ParallelBackward(plan, layer, attention_block, dout, attention, mlp, dx);
    return;
  }
  *dx = dout;
  if (plan.mlp.enabled()) {
    const Matrix d_next = *dx;
    ResidualBackward(plan, layer, plan.mlp.skip, plan.mlp.branch, mlp_block, d_next, mlp, dx);
  }
  if (plan.attention.enabled()) {
    const Matrix d_next = *dx;
    ResidualBackward(plan, layer, plan.attention.skip, plan.attention.branch, attention_block,
                     d_next, attention, dx);
  }
}

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_RESIDUAL_BLOCK_H_
