#include "common/stats/covariance_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/stats/extreme_eigenvalues.h"

namespace sigprop {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// 1/√V_αα for every token, so that each ρ_αβ = V_αβ·(1/√V_αα)·(1/√V_ββ) costs two products
// rather than a square root and a division (issue 18; the lane kernel computes it the same way).
void InverseRoots(const Matrix& v, std::vector<double>* out) {
  out->resize(v.rows());
  for (int a = 0; a < v.rows(); ++a) (*out)[a] = 1.0 / std::sqrt(v(a, a));
}

}  // namespace

std::vector<std::string> CovarianceStatNames(int tokens, const CovarianceStatOptions& options) {
  std::vector<std::string> names = {"rho_mean",    "rho_min", "v_diag_mean", "log_det",
                                    "collapse",    "stable_rank", "v11",  "rho12"};
  if (tokens >= 3) names.push_back("v23");
  if (options.eigenvalues) {
    for (int k = 0; k < tokens; ++k) names.push_back(absl::StrCat("eig_", k));
  }
  return names;
}

void ComputeCovarianceStats(const Matrix& v, const CovarianceStatOptions& options, double* out) {
  const int m = static_cast<int>(v.rows());
  const int count = m >= 3 ? 9 : 8;
  const int total = count + (options.eigenvalues ? m : 0);
  if (m == 0 || !v.allFinite()) {
    std::fill(out, out + total, kNaN);
    return;
  }

  thread_local std::vector<double> inverse_root;
  InverseRoots(v, &inverse_root);
  auto correlation = [&](int a, int b) { return v(a, b) * inverse_root[a] * inverse_root[b]; };
  double rho_sum = 0.0;
  double rho_min = std::numeric_limits<double>::infinity();
  bool rho_undefined = m < 2;
  for (int a = 0; a < m; ++a) {
    for (int b = a + 1; b < m; ++b) {
      const double rho = correlation(a, b);
      if (std::isnan(rho)) rho_undefined = true;
      rho_sum += rho;
      rho_min = std::min(rho_min, rho);
    }
  }
  const double pairs = 0.5 * m * (m - 1);

  // Sums in a fixed order (row by row), the order the lane kernel repeats bit for bit
  // (covariance_stats_lanes.h); Eigen's vectorised sum() chooses its own.
  double trace = 0.0;
  for (int i = 0; i < m; ++i) trace += v(i, i);
  double total_sum = 0.0;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < m; ++j) total_sum += v(i, j);
  }
  const double centred_trace = std::max(0.0, trace - total_sum / m);

  // log_det and stable_rank need λ_max, λ_min and det V only: without eig_k they come from the
  // tridiagonal form (extreme_eigenvalues.h), a fraction of the full solve's cost (issue 18).
  double lambda_max = 0.0;
  double log_det = -std::numeric_limits<double>::infinity();
  // Eigen's solver resizes its buffers only when m changes; samplers call this once per layer per
  // sample with the same m, so one solver per thread keeps its buffers across calls.
  thread_local Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver;
  if (options.eigenvalues) {
    solver.compute(v, Eigen::EigenvaluesOnly);
    const Eigen::VectorXd& eig = solver.eigenvalues();  // Ascending.
    lambda_max = eig(m - 1);
    if (eig(0) > DefinitenessFloor(m, lambda_max)) {
      log_det = 0.0;
      for (int k = 0; k < m; ++k) log_det += std::log(eig(k));
    }
  } else {
    const ExtremeEigenvalues extremes = ComputeExtremeEigenvalues(v);
    lambda_max = extremes.largest;
    log_det = extremes.log_det;
  }

  out[0] = rho_undefined ? kNaN : rho_sum / pairs;
  out[1] = rho_undefined ? kNaN : rho_min;
  out[2] = trace / m;
  out[3] = log_det;
  out[4] = std::sqrt(centred_trace / trace);
  out[5] = trace / lambda_max;
  out[6] = v(0, 0);
  out[7] = m >= 2 ? correlation(0, 1) : kNaN;
  if (m >= 3) out[8] = v(1, 2);
  if (options.eigenvalues) {
    const Eigen::VectorXd& eig = solver.eigenvalues();
    for (int k = 0; k < m; ++k) out[count + k] = eig(m - 1 - k);
  }
}

}  // namespace sigprop
