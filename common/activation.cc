#include "common/activation.h"

#include <array>
#include <cmath>

#include <Eigen/Eigenvalues>

namespace sigprop {
namespace {

double GeluValue(double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }

double GeluDerivative(double x) {
  const double cdf = 0.5 * std::erfc(-x / std::sqrt(2.0));
  const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
  return cdf + x * pdf;
}

// 0.5x(1 + tanh(k(x + 0.044715x³))), k = sqrt(2/π): the form GPT-2's gelu_new and Gemma run.
constexpr double kGeluTanhK = 0.79788456080286535588;  // sqrt(2/π)
constexpr double kGeluTanhA = 0.044715;

double GeluTanhValue(double x) {
  return 0.5 * x * (1.0 + std::tanh(kGeluTanhK * (x + kGeluTanhA * x * x * x)));
}

double GeluTanhDerivative(double x) {
  const double t = std::tanh(kGeluTanhK * (x + kGeluTanhA * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * kGeluTanhK * (1.0 + 3.0 * kGeluTanhA * x * x);
}

double SiluValue(double x) { return x / (1.0 + std::exp(-x)); }

double SiluDerivative(double x) {
  const double s = 1.0 / (1.0 + std::exp(-x));
  return s * (1.0 + x * (1.0 - s));
}

// Golub–Welsch: the nodes are the eigenvalues of the Jacobi matrix of the probabilists' Hermite
// polynomials (off-diagonal sqrt(k)); each weight is the squared first component of its
// eigenvector. Computed once.
struct GaussHermiteRule {
  std::array<double, kGaussHermitePoints> nodes{};
  std::array<double, kGaussHermitePoints> weights{};
  GaussHermiteRule() {
    Eigen::MatrixXd jacobi = Eigen::MatrixXd::Zero(kGaussHermitePoints, kGaussHermitePoints);
    for (int k = 1; k < kGaussHermitePoints; ++k) {
      jacobi(k, k - 1) = jacobi(k - 1, k) = std::sqrt(static_cast<double>(k));
    }
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(jacobi);
    for (int i = 0; i < kGaussHermitePoints; ++i) {
      nodes[i] = solver.eigenvalues()(i);
      const double v0 = solver.eigenvectors()(0, i);
      weights[i] = v0 * v0;
    }
  }
};

const GaussHermiteRule& Rule() {
  static const GaussHermiteRule rule;
  return rule;
}

}  // namespace

const double* GaussHermiteNodes() { return Rule().nodes.data(); }
const double* GaussHermiteWeights() { return Rule().weights.data(); }

double Activation::Apply(double x) const {
  switch (kind) {
    case ActivationKind::kNone:
    case ActivationKind::kLinear:
      return x;
    case ActivationKind::kRelu:
    case ActivationKind::kShapedRelu:
      return x > 0.0 ? slope_plus * x : slope_minus * x;
    case ActivationKind::kGelu:
      return GeluValue(x);
    case ActivationKind::kTanh:
      return std::tanh(x);
    case ActivationKind::kGeluTanh:
      return GeluTanhValue(x);
    case ActivationKind::kSilu:
      return SiluValue(x);
  }
  return x;
}

double Activation::Derivative(double x) const {
  switch (kind) {
    case ActivationKind::kNone:
    case ActivationKind::kLinear:
      return 1.0;
    case ActivationKind::kRelu:
    case ActivationKind::kShapedRelu:
      return x > 0.0 ? slope_plus : slope_minus;
    case ActivationKind::kGelu:
      return GeluDerivative(x);
    case ActivationKind::kTanh: {
      const double t = std::tanh(x);
      return 1.0 - t * t;
    }
    case ActivationKind::kGeluTanh:
      return GeluTanhDerivative(x);
    case ActivationKind::kSilu:
      return SiluDerivative(x);
  }
  return 1.0;
}

Activation MakeActivation(ActivationKind kind, double c_plus, double c_minus, int width) {
  Activation a;
  a.kind = kind;
  switch (kind) {
    case ActivationKind::kNone:
    case ActivationKind::kLinear:
      a.slope_plus = a.slope_minus = 1.0;
      a.c = 1.0;
      break;
    case ActivationKind::kRelu:
      a.slope_plus = 1.0;
      a.slope_minus = 0.0;
      a.c = 2.0;
      break;
    case ActivationKind::kShapedRelu: {
      const double root_n = std::sqrt(static_cast<double>(width));
      a.slope_plus = 1.0 + c_plus / root_n;
      a.slope_minus = 1.0 + c_minus / root_n;
      a.c = 2.0 / (a.slope_plus * a.slope_plus + a.slope_minus * a.slope_minus);
      break;
    }
    case ActivationKind::kGelu:
      a.c = 1.0 / GaussianExpectation([](double u) { return GeluValue(u) * GeluValue(u); });
      break;
    case ActivationKind::kTanh:
      a.c = 1.0 / GaussianExpectation([](double u) { return std::tanh(u) * std::tanh(u); });
      break;
    case ActivationKind::kGeluTanh:
      a.c = 1.0 / GaussianExpectation([](double u) { return GeluTanhValue(u) * GeluTanhValue(u); });
      break;
    case ActivationKind::kSilu:
      a.c = 1.0 / GaussianExpectation([](double u) { return SiluValue(u) * SiluValue(u); });
      break;
  }
  return a;
}

}  // namespace sigprop
