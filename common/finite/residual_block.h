// The residual wrapper every block of SPEC §2 shares, for the samplers that keep the representation
// X and back-propagate through it (dense weights, implicit weights):
//
//     pre-norm or no norm:  X ← λX + γ f(N(X))        post-norm:  X ← N(λX + γ f(X)),
//
// (and the parallel block's two branches on one input, below), and the backward pass, for dX'
// the incoming gradient:
//   no norm:   dX = λ dX' + f_back(γ dX')
//   pre-norm:  dX = λ dX' + N_back(f_back(γ dX'))
//   post-norm: dZ = N_back(dX'),  dX = λ dZ + f_back(γ dZ).
#ifndef SIGPROP_COMMON_FINITE_RESIDUAL_BLOCK_H_
#define SIGPROP_COMMON_FINITE_RESIDUAL_BLOCK_H_

#include "common/finite/dense_blocks.h"
#include "common/linalg.h"
#include "common/model_plan.h"

namespace sigprop {

inline bool HasNorm(const ModelPlan& plan) { return plan.norm != NormKind::kNone; }
inline bool IsPreNorm(const ModelPlan& plan) { return HasNorm(plan) && !plan.post_norm; }
inline bool IsPostNorm(const ModelPlan& plan) { return HasNorm(plan) && plan.post_norm; }

// X' from X; `branch(in, &f)` computes f at the branch input `in`; `out` may alias `x`.
template <typename Branch>
void ResidualForward(const ModelPlan& plan, double lambda, double gamma, const Matrix& x,
                     ResidualCache* c, Branch&& branch, Matrix* out) {
  c->input = x;
  if (IsPreNorm(plan)) {
    NormForward(plan.norm, c->input, &c->norm);
    branch(c->norm.y, &c->branch);
  } else {
    branch(c->input, &c->branch);
  }
  *out = lambda * c->input + gamma * c->branch;
  if (IsPostNorm(plan)) {
    NormForward(plan.norm, *out, &c->norm);
    *out = c->norm.y;
  }
}

// dX from dX'; `back(in, df, &d_in)` is the branch's backward at branch input `in`.
template <typename BranchBackward>
void ResidualBackward(const ModelPlan& plan, double lambda, double gamma, const ResidualCache& c,
                      const Matrix& dout, BranchBackward&& back, Matrix* dx) {
  Matrix d_branch_in;
  if (IsPostNorm(plan)) {
    Matrix dz;
    NormBackward(plan.norm, c.norm, dout, &dz);
    back(c.input, gamma * dz, &d_branch_in);
    *dx = lambda * dz + d_branch_in;
  } else if (IsPreNorm(plan)) {
    back(c.norm.y, gamma * dout, &d_branch_in);
    NormBackward(plan.norm, c.norm, d_branch_in, dx);
    *dx += lambda * dout;
  } else {
    back(c.input, gamma * dout, &d_branch_in);
    *dx = lambda * dout + d_branch_in;
  }
}

// The parallel block (ModelPlan::parallel): X' = λX + γ_a f_a(N(X)) + γ_f f_f(N(X)), or post-norm
// X' = N(λX + γ_a f_a(X) + γ_f f_f(X)). The input, the norm and f_a live in `c`, f_f in
// `f_cache->branch`. λ is the attention block's skip.
template <typename BranchA, typename BranchF>
void ParallelForward(const ModelPlan& plan, const Matrix& x, ResidualCache* c,
                     ResidualCache* f_cache, BranchA&& branch_a, BranchF&& branch_f, Matrix* out) {
  c->input = x;
  const Matrix* in = &c->input;
  if (IsPreNorm(plan)) {
    NormForward(plan.norm, c->input, &c->norm);
    in = &c->norm.y;
  }
  branch_a(*in, &c->branch);
  branch_f(*in, &f_cache->branch);
  *out = plan.attention.skip * c->input + plan.attention.branch * c->branch +
         plan.mlp.branch * f_cache->branch;
  if (IsPostNorm(plan)) {
    NormForward(plan.norm, *out, &c->norm);
    *out = c->norm.y;
  }
}

// dX from dX' for ParallelForward: both branches' backward at the shared input, summed.
template <typename BackA, typename BackF>
void ParallelBackward(const ModelPlan& plan, const ResidualCache& c, const Matrix& dout,
                      BackA&& back_a, BackF&& back_f, Matrix* dx) {
  const Matrix* d_sum = &dout;
  Matrix dz, d_a, d_f;
  if (IsPostNorm(plan)) {
    NormBackward(plan.norm, c.norm, dout, &dz);
    d_sum = &dz;
  }
  const Matrix& in = IsPreNorm(plan) ? c.norm.y : c.input;
  back_a(in, plan.attention.branch * *d_sum, &d_a);
  back_f(in, plan.mlp.branch * *d_sum, &d_f);
  d_a += d_f;
  if (IsPreNorm(plan)) {
    NormBackward(plan.norm, c.norm, d_a, dx);
    *dx += plan.attention.skip * dout;
  } else {
    *dx = plan.attention.skip * *d_sum + d_a;
  }
}

// One layer from its branches: the parallel block, or the attention block then the MLP block (each
// when enabled). `attention(in, &f)` and `mlp(in, &f)` compute the branches.
template <typename Attention, typename Mlp>
void LayerOfBlocks(const ModelPlan& plan, const Matrix& x, ResidualCache* attention_block,
                   ResidualCache* mlp_block, Attention&& attention, Mlp&& mlp, Matrix* out) {
  if (plan.parallel) {
    ParallelForward(plan, x, attention_block, mlp_block, attention, mlp, out);
    return;
  }
  *out = x;
  if (plan.attention.enabled()) {
    ResidualForward(plan, plan.attention.skip, plan.attention.branch, *out, attention_block,
                    attention, out);
  }
  if (plan.mlp.enabled()) {
    ResidualForward(plan, plan.mlp.skip, plan.mlp.branch, *out, mlp_block, mlp, out);
  }
}

// Backward of LayerOfBlocks; `attention(in, df, &d_in)`, `mlp(in, df, &d_in)` the branches'.
template <typename AttentionBack, typename MlpBack>
void LayerOfBlocksBackward(const ModelPlan& plan, const ResidualCache& attention_block,
                           const ResidualCache& mlp_block, const Matrix& dout,
                           AttentionBack&& attention, MlpBack&& mlp, Matrix* dx) {
  if (plan.parallel) {
    ParallelBackward(plan, attention_block, dout, attention, mlp, dx);
    return;
  }
  *dx = dout;
  if (plan.mlp.enabled()) {
    const Matrix d_next = *dx;
    ResidualBackward(plan, plan.mlp.skip, plan.mlp.branch, mlp_block, d_next, mlp, dx);
  }
  if (plan.attention.enabled()) {
    const Matrix d_next = *dx;
    ResidualBackward(plan, plan.attention.skip, plan.attention.branch, attention_block, d_next,
                     attention, dx);
  }
}

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_RESIDUAL_BLOCK_H_
