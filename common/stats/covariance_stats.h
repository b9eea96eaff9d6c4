// Per-sample statistics of a token covariance V = X Xᵀ/n ∈ R^{m×m} (SPEC §3). They read V alone,
// so every sampler (dense, columns, gram, the SDE) reports the same set.
#ifndef SIGPROP_COMMON_STATS_COVARIANCE_STATS_H_
#define SIGPROP_COMMON_STATS_COVARIANCE_STATS_H_

#include <string>
#include <vector>

#include "common/linalg.h"

namespace sigprop {

struct CovarianceStatOptions {
  bool eigenvalues = false;  // Append eig_0 … eig_{m-1} (descending).
};

// Names of the per-sample statistics of V, in the order ComputeCovarianceStats writes them:
// rho_mean, rho_min, v_diag_mean, log_det, collapse, stable_rank, v11, rho12, then v23 if m ≥ 3,
// then eig_0 … eig_{m-1} if options.eigenvalues. Token indices in names are 1-based.
std::vector<std::string> CovarianceStatNames(int tokens, const CovarianceStatOptions& options);

// Writes CovarianceStatNames(m, options).size() values for the symmetric V (m×m) into out:
//   ρ_αβ        = V_αβ / sqrt(V_αα V_ββ), computed as V_αβ·(1/√V_αα)·(1/√V_ββ);
//   rho_mean    = mean of ρ_αβ over the pairs α < β;  rho_min = their minimum;
//   v_diag_mean = tr V / m;
//   log_det     = Σ_k log λ_k(V) when V is numerically positive definite
//                 (λ_min > m·ε·λ_max, ε the double epsilon: below that an eigenvalue is rounding
//                 noise of the solver), else −inf;
//   collapse    = sqrt(tr(P V) / tr V), P = I − 11ᵀ/m, i.e. paper A's ‖X − 1x̄ᵀ‖_F / ‖X‖_F,
//                 using tr(P V) = tr V − 1ᵀV1/m (clamped at 0 against rounding);
//   stable_rank = tr V / λ_max(V);
//   v11 = V_00, rho12 = ρ_01, v23 = V_12;
//   eig_k       = k-th largest eigenvalue.
// Undefined values are NaN rather than an error: the ρ's when m = 1 or a diagonal entry is 0, and
// every statistic when V is empty or has a non-finite entry (such a sample is diverged, SPEC §3, and the
// aggregates skip non-finite values). stable_rank and log_det need only λ_max, det V and the
// definiteness test: without eig_k they come from V's tridiagonal form (extreme_eigenvalues.h);
// with eig_k one self-adjoint eigensolve (eigenvalues only) serves all three. Workspaces are kept
// per thread and reused while m stays the same, so the per-layer, per-sample calls do not
// reallocate them.
void ComputeCovarianceStats(const Matrix& v, const CovarianceStatOptions& options, double* out);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_STATS_COVARIANCE_STATS_H_
