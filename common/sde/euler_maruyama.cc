#include "common/sde/euler_maruyama.h"

#include <algorithm>

#include "common/finite/sample_observer.h"

namespace sigprop {
namespace {

// L = chol(V) into `l`; false when V is not (numerically) positive definite.
bool Factor(const Matrix& v, Eigen::LLT<Matrix>* llt, Matrix* l) {
  llt->compute(v);
  if (llt->info() != Eigen::Success) return false;
  *l = llt->matrixL();
  return l->diagonal().minCoeff() > 0.0;
}

}  // namespace

void FloorEigenvalues(Matrix* v) {
  Eigen::SelfAdjointEigenSolver<Matrix> eigen(*v);
  const Vector& values = eigen.eigenvalues();
  const double floor = 1e-12 * std::max(values.cwiseAbs().maxCoeff(), 1e-300);
  const Vector raised = values.cwiseMax(floor);
  *v = eigen.eigenvectors() * raised.asDiagonal() * eigen.eigenvectors().transpose();
  *v = 0.5 * (*v + v->transpose()).eval();
}

SdePathState::SdePathState(const Matrix& v0)
    : v(v0),
      l(v0.rows(), v0.cols()),
      drift(v0.rows(), v0.cols()),
      noise(v0.rows(), v0.cols()),
      work(static_cast<int>(v0.rows())),
      llt(static_cast<int>(v0.rows())) {
  Factor(v, &llt, &l);
}

StepOutcome EulerMaruyamaStep(const CovarianceSde& sde, double dt, const BrownianIncrement& db,
                              Positivity positivity, SdePathState* state) {
  sde.Drift(state->v, &state->work, &state->drift);
  sde.Diffusion(state->v, state->l, db, &state->noise);
  Matrix& v = state->v;
  v += dt * state->drift + state->noise;
  // The increments are symmetric by construction; this removes rounding asymmetry.
  const int m = static_cast<int>(v.rows());
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < i; ++j) {
      const double x = 0.5 * (v(i, j) + v(j, i));
      v(i, j) = x;
      v(j, i) = x;
    }
  }
  if (IsDiverged(state->v)) return StepOutcome::kDiverged;
  if (Factor(state->v, &state->llt, &state->l)) return StepOutcome::kOk;
  if (positivity == Positivity::kStop) return StepOutcome::kDiverged;
  FloorEigenvalues(&state->v);
  if (!Factor(state->v, &state->llt, &state->l)) return StepOutcome::kDiverged;
  return StepOutcome::kFloored;
}

}  // namespace sigprop
