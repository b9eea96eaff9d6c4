// MLP activations φ and their normalising constants c, E φ(u)² = 1/c for u ~ N(0,1) (SPEC §2).
#ifndef SIGPROP_COMMON_ACTIVATION_H_
#define SIGPROP_COMMON_ACTIVATION_H_

namespace sigprop {

// kGeluTanh is GeLU's tanh approximation (GPT-2's gelu_new); kSilu is x·sigmoid(x), the gate of
// SwiGLU (it is never a plain MLP activation: no spec field selects it alone).
enum class ActivationKind { kNone, kRelu, kShapedRelu, kLinear, kGelu, kTanh, kGeluTanh, kSilu };

struct Activation {
  ActivationKind kind = ActivationKind::kNone;
  // Slopes of SHAPED_RELU: s± = 1 + c±/sqrt(n). RELU is (1, 0), LINEAR is (1, 1).
  double slope_plus = 1.0;
  double slope_minus = 0.0;
  // The normalising constant c.
  double c = 1.0;

  double Apply(double x) const;
  double Derivative(double x) const;
};

// Builds φ and its c. `width` enters only SHAPED_RELU's slopes.
Activation MakeActivation(ActivationKind kind, double c_plus, double c_minus, int width);

// E f(u) for u ~ N(0, 1) by Gauss–Hermite quadrature (exact for polynomials of degree < 2·64).
template <typename F>
double GaussianExpectation(F f);

// Nodes and weights of the 64-point probabilists' Gauss–Hermite rule (weights sum to 1).
const double* GaussHermiteNodes();
const double* GaussHermiteWeights();
inline constexpr int kGaussHermitePoints = 64;

template <typename F>
double GaussianExpectation(F f) {
  const double* x = GaussHermiteNodes();
  const double* w = GaussHermiteWeights();
  double sum = 0.0;
  for (int i = 0; i < kGaussHermitePoints; ++i) sum += w[i] * f(x[i]);
  return sum;
}

}  // namespace sigprop

#endif  // SIGPROP_COMMON_ACTIVATION_H_
