// Euler–Maruyama for the covariance SDE (SPEC §6 "Integrators"), separate from the process
// (covariance_sde.h): one step takes its Brownian increment as an argument, so a path can be
// re-run from stored increments and a test can feed chosen ones.
//
//   V ← sym(V + b(V) Δt + σ(V) ΔB),  sym(M) = (M + Mᵀ)/2,
//
// then the positivity safeguard: Cholesky of the new V (needed by the next step's noise anyway);
// if it fails, either the eigenvalues are raised to a floor (a projection onto the positive-definite
// cone, which EM can leave since its Gaussian increment is unbounded) or the path stops.
// Explosion (SPEC §3 `diverged`: non-finite entries or max V_αα > 1e12) is detected first: the
// attention drift is cubic in V, so paths can blow up in finite time.
#ifndef SIGPROP_COMMON_SDE_EULER_MARUYAMA_H_
#define SIGPROP_COMMON_SDE_EULER_MARUYAMA_H_

#include "common/linalg.h"
#include "common/sde/covariance_sde.h"

namespace sigprop {

enum class Positivity { kEigenFloor, kStop };

// What one step left behind.
enum class StepOutcome {
  kOk,
  kFloored,      // V was not positive definite and was projected (Positivity::kEigenFloor).
  kDiverged,     // Exploded, or not positive definite under Positivity::kStop.
};

// The state of one path: V and its Cholesky factor L (lower, zeros above), plus scratch space so
// that a step allocates nothing.
struct SdePathState {
  Matrix v;
  Matrix l;
  Matrix drift;
  Matrix noise;
  SdeWorkspace work;
  Eigen::LLT<Matrix> llt;

  // Starts at V0, which must be positive definite (validated specs guarantee it).
  explicit SdePathState(const Matrix& v0);
};

// Eigenvalues raised to 1e-12 × the largest: the nearest positive-definite matrix in Frobenius
// norm up to that floor (Positivity::kEigenFloor).
void FloorEigenvalues(Matrix* v);

StepOutcome EulerMaruyamaStep(const CovarianceSde& sde, double dt, const BrownianIncrement& db,
                              Positivity positivity, SdePathState* state);

}  // namespace sigprop

#endif  // SIGPROP_COMMON_SDE_EULER_MARUYAMA_H_
