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
  // Branch roots: one shared by every feature block, or one per head; none when the branch has no
  // fresh Gaussian product (identity values without a parallel MLP).
  std::vector<Matrix> f;
  // Skip matrices M_b of X_b ← M_b X_b + γ F G: empty for the scalar λ; with identity values
  // M_b = λI + γ_a A_b S (S the pre-norm's row scaling), one shared or one per head.
  std::vector<Matrix> skip;
  Matrix l, l_in, l_block, z, t, cross, root, chol_s, attention_f, mlp_f, kernel;
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
  if (plan.norm == NormKind::kRms && plan.NormsBranchInput()) {
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
    const Matrix* skip = ws->skip.empty() ? nullptr : &ws->skip[ws->skip.size() == 1 ? 0 : b];
    if (ws->f.empty()) {
      // X_b ← M_b X_b exactly.
      vb = (*skip * vb * skip->transpose()).eval();
      vb = (0.5 * (vb + vb.transpose())).eval();
      *v += vb;
      continue;
    }
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
    // With a skip matrix M the stream part is M X_b: M V_b Mᵀ and C = M L Tᵀ.
    ws->t.noalias() = f * ws->z;
    if (skip != nullptr) {
      ws->cross.noalias() = *skip * (*l) * ws->t.transpose();
      vb = (*skip * vb * skip->transpose()).eval();
      vb += (gamma / root_n) * (ws->cross + ws->cross.transpose());
    } else {
      ws->cross.noalias() = (*l) * ws->t.transpose();
      vb *= lambda * lambda;
      vb += (lambda * gamma / root_n) * (ws->cross + ws->cross.transpose());
    }
    ws->cross.noalias() = ws->t * ws->t.transpose();
    ws->t.noalias() = f * ws->root;
    ws->cross.noalias() += ws->t * ws->t.transpose();
    vb += (gamma * gamma / n) * ws->cross;
    vb = (0.5 * (vb + vb.transpose())).eval();
    *v += vb;
  }
  if (plan.norm == NormKind::kRms && plan.NormsSum()) NormaliseRows(blocks, v);
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

// Identity values: the attention branch of block b is A_b Y_b with Y = S X (S = D^{-1/2} under
// pre-RMSNorm, else I), no Gaussian product, so X_b ← (λI + γ A_b S) X_b: M_b per block (per
// head when heads keep their own features, else A_0 shared).
void IdentityValuesSkip(const ModelPlan& plan, double lambda, double gamma, int count,
                        GramWorkspace* ws) {
  const bool pre_rms = plan.norm == NormKind::kRms && plan.NormsBranchInput();
  ws->skip.resize(count);
  for (int b = 0; b < count; ++b) {
    Matrix& skip = ws->skip[b];
    skip = gamma * ws->block.mixing[count > 1 ? b : 0];
    if (pre_rms) skip = (skip * ws->scale.asDiagonal()).eval();
    skip.diagonal().array() += lambda;
  }
}

void ReportExtras(const ModelPlan& plan, int layer, const GramWorkspace& ws,
                  SampleObserver& observer) {
  if (!observer.WantsLayer(layer)) return;
  observer.OnRootRepairs(layer, ws.block.repairs);
  if (plan.attention.enabled()) {
    observer.OnAttention(layer, SummariseAttention(plan.attention, ws.block.function,
                                                   ws.block.mixing, ws.block.max_logit));
  }
}

}  // namespace

absl::Status GramSupports(const ModelPlan& plan) {
  if (const std::string field = LanguageModelField(plan); !field.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.", field, ": GRAM's chain on V has no law for this language-model knob (SPEC §2b: "
        "RoPE, grouped heads, gates, soft-caps, branch norms, ε and absolute scales act on "
        "feature rows or per-token positions); use method COLUMNS, exact at any width"));
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
    ws.skip.clear();
    if (plan.parallel) {
      // One block: X_b ← λX_b + γ_a f_a + γ_f f_f with independent weights, so the Gaussian parts
      // add as one F_b G_b with F_b F_bᵀ = γ_a² F_a F_aᵀ + γ_f² F_f F_fᵀ (identity values: the
      // attention branch joins the skip matrix instead).
      GramBlock(plan, plan.attention.skip, 1.0, stream, &ws, &blocks, &v, [&](const Matrix& l) {
        const int count = static_cast<int>(blocks.size());
        DrawAttentionMixing(plan, l, stream, &ws.block);
        if (plan.attention.identity_values) {
          IdentityValuesSkip(plan, plan.attention.skip, plan.attention.branch, count, &ws);
        } else if (!per_head) {
          AttentionBranchRoot(plan, l, stream, &ws.block, &ws.attention_f);
        }
        MlpBranchRoot(plan, l, /*allow_kernel=*/true, stream, &ws.block, &ws.mlp_f);
        // Per-head blocks differ only through their attention roots; with identity values (or
        // one block) every block's Gaussian part is the same, and GramBlock shares one root.
        const int roots = per_head && !plan.attention.identity_values ? count : 1;
        ws.f.resize(roots);
        for (int b = 0; b < roots; ++b) {
          const double ga = plan.attention.branch, gf = plan.mlp.branch;
          ws.kernel.noalias() = gf * gf * ws.mlp_f * ws.mlp_f.transpose();
          if (!plan.attention.identity_values) {
            if (per_head) ws.attention_f.noalias() = ws.block.mixing[b] * l;
            ws.kernel.noalias() += ga * ga * ws.attention_f * ws.attention_f.transpose();
          }
          ws.block.repairs += ws.block.roots.Compute(ws.kernel, &ws.f[b]);
        }
      });
      if (!ReportLayer(observer, layer, v)) return absl::OkStatus();
      ReportExtras(plan, layer, ws, observer);
      continue;
    }
    if (plan.attention.enabled() && plan.attention.identity_values) {
      GramBlock(plan, plan.attention.skip, plan.attention.branch, stream, &ws, &blocks, &v,
                [&](const Matrix& l) {
                  DrawAttentionMixing(plan, l, stream, &ws.block);
                  IdentityValuesSkip(plan, plan.attention.skip, plan.attention.branch,
                                     static_cast<int>(blocks.size()), &ws);
                  ws.f.clear();
                });
    } else if (plan.attention.enabled()) {
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
      ws.skip.clear();
      GramBlock(plan, plan.mlp.skip, plan.mlp.branch, stream, &ws, &blocks, &v,
                [&](const Matrix& l) {
                  ws.f.resize(1);
                  MlpBranchRoot(plan, l, /*allow_kernel=*/true, stream, &ws.block, &ws.f[0]);
                });
    }
    if (!ReportLayer(observer, layer, v)) return absl::OkStatus();
    ReportExtras(plan, layer, ws, observer);
  }
  return absl::OkStatus();
}

}  // namespace sigprop
