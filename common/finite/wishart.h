// Square roots of Gaussian Gram matrices without forming the Gaussian matrix (SPEC §4 "gram").
//
// For G ∈ R^{m×k} with iid N(0,1) entries, G Gᵀ ~ Wishart_m(k, I). When k ≥ m, Bartlett's
// decomposition gives G Gᵀ =ᵈ M Mᵀ with M lower triangular and independent entries
//
//     M_ii² ~ χ²(k − i + 1)   (1-based i),        M_ij ~ N(0, 1)  for i > j,
//
// so a Wishart draw costs m χ² draws and m(m−1)/2 normals instead of m·k normals. When k < m the
// Wishart is singular and G itself (m×k) is the cheapest root. Every consumer (attention logits,
// the gram update, multi-head kernels) only needs some R with R Rᵀ =ᵈ G Gᵀ, which both forms are.
#ifndef SIGPROP_COMMON_FINITE_WISHART_H_
#define SIGPROP_COMMON_FINITE_WISHART_H_

#include "common/linalg.h"
#include "common/rng.h"

namespace sigprop {

// R with R Rᵀ ~ Wishart_m(dof, I): the m×m Bartlett factor for dof ≥ m (χ² draws on `stream`,
// diagonal first, then the strict lower triangle row by row), else an m×dof N(0,1) matrix.
// `root` is resized only when its shape changes.
void DrawWishartRoot(int m, int dof, RandomStream& stream, Matrix* root);

// Roots F with F Fᵀ = S of symmetric matrices S that should be positive semi-definite: the
// Cholesky factor when S is positive definite, else U·diag(sqrt(max(λ, 0))) from the
// eigendecomposition S = U Λ Uᵀ. Any root serves the samplers (the Gaussians it multiplies are
// rotation invariant), so the fallback is exact for a singular PSD S; a negative eigenvalue (S
// indefinite by rounding, e.g. under rank collapse) is clamped to zero and counted. Keeps its
// factorisations between calls so that a per-layer loop does not allocate.
class SymmetricRoot {
 public:
  // Writes the root to `root` and returns how many eigenvalues were clamped (0 on the Cholesky
  // path).
  int Compute(const Matrix& s, Matrix* root);

 private:
  Eigen::LLT<Matrix> llt_;
  Eigen::SelfAdjointEigenSolver<Matrix> eigen_;
  Vector lambda_;
};

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_WISHART_H_
