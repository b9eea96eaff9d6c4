#include "common/sde/euler_maruyama.h"

#include <algorithm>

#include "common/finite/sample_observer.h"

namespace sigprop {
namespace {

// L = chol(V) into `l`; false when V is not (numerically) positive definite.
bool Factor(const Matrix& v, Matrix* l) {
  Eigen::LLT<Matrix> llt(v);
  if (llt.info() != Eigen::Success) return false;
  *l = llt.matrixL();
  return l->diagonal().minCoeff() > 0.0;
}

// Eigenvalues raised to 1e-12 × the largest: the nearest positive-definite matrix in Frobenius
// norm up to that floor.
void FloorEigenvalues(Matrix* v) {
  Eigen::SelfAdjointEigenSolver<Matrix> eigen(*v);
  const Vector& values = eigen.eigenvalues();
  const double floor = 1e-12 * std::max(values.cwiseAbs().maxCoeff(), 1e-300);
  const Vector raised = values.cwiseMax(floor);
  *v = eigen.eigenvectors() * raised.asDiagonal() * eigen.eigenvectors().transpose();
  *v = 0.5 * (*v + v->transpose()).eval();
}

}  // namespace

SdePathState::SdePathState(const Matrix& v0)
    : v(v0), l(v0.rows(), v0.cols()), drift(v0.rows(), v0.cols()), noise(v0.rows(), v0.cols()) {
  Factor(v, &l);
}

StepOutcome EulerMaruyamaStep(const CovarianceSde& sde, double dt, const BrownianIncrement& db,
                              Positivity positivity, SdePathState* state) {
  sde.Drift(state->v, &state->drift);
  sde.Diffusion(state->v, state->l, db, &state->noise);
  state->v.noalias() += dt * state->drift;
  state->v.noalias() += state->noise;
  // The increments are symmetric by construction; this removes rounding asymmetry.
  state->v = 0.5 * (state->v + state->v.transpose()).eval();
  if (IsDiverged(state->v)) return StepOutcome::kDiverged;
  if (Factor(state->v, &state->l)) return StepOutcome::kOk;
  if (positivity == Positivity::kStop) return StepOutcome::kDiverged;
  FloorEigenvalues(&state->v);
  if (!Factor(state->v, &state->l)) return StepOutcome::kDiverged;
  return StepOutcome::kFloored;
}

}  // namespace sigprop
