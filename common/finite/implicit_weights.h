// Weight products that never form their weight matrix, forward and backward (SPEC §4a).
//
// Every weight W ∈ R^{n_in×n_out} (iid N(0,1)) of the transformer is used once, in P = B W/sqrt(n_in)
// with B ∈ R^{m×n_in} a function of the forward pass before it. With the thin QR Bᵀ = Q̂ R̂
// (Q̂ ∈ R^{n_in×m} orthonormal columns, a function of B alone), G = Q̂ᵀ W is iid N(0,1) and
//
//     P = R̂ᵀ G / sqrt(n_in) = L G,    L = R̂ᵀ/sqrt(n_in),  L Lᵀ = B Bᵀ/n_in,
//
// which is the columns sampler's forward pass with L lower triangular. Conditionally on the whole
// forward pass, W = Q̂ G + (I − Q̂Q̂ᵀ) W̃ with W̃ iid N(0,1) and independent of it, so for the
// cotangent C = dL/dP ∈ R^{m×n_out}
//
//     dL/dB = C Wᵀ/sqrt(n_in) = (C Gᵀ Q̂ᵀ + C W̃ᵀ (I − Q̂Q̂ᵀ)) / sqrt(n_in),
//     ‖dL/dW‖_F² = ‖Bᵀ C‖_F²/n_in = ‖R̂ C‖_F²/n_in.
//
// The columns of C W̃ᵀ are iid N(0, C Cᵀ) given C: it is F G' with F Fᵀ = C Cᵀ, G' ∈ R^{m×n_in}
// fresh. When several products read the same B (queries, keys and values read one branch input),
// their W̃'s are independent, so Σ_p C_p W̃_pᵀ is one F G' with F Fᵀ = Σ_p C_p C_pᵀ, and the in-span
// parts add up to M Q̂ᵀ with M = Σ_p C_p G_pᵀ (m×m). Cost per input O(m² n_in) and m·n_in Gaussians
// for the backward, O(m² n_out) per product; no n_in × n_out matrix is ever formed. When
// n_in < m, Q̂ is n_in × n_in, R̂ is n_in × m and G has n_in rows: the same identities hold with
// k = min(m, n_in) in place of m.
#ifndef SIGPROP_COMMON_FINITE_IMPLICIT_WEIGHTS_H_
#define SIGPROP_COMMON_FINITE_IMPLICIT_WEIGHTS_H_

#include <Eigen/QR>

#include "common/finite/wishart.h"
#include "common/linalg.h"
#include "common/rng.h"

namespace sigprop {

// How the backward pass treats the weights. kConditioned is SPEC §4a, exact in law. kIndependent
// is the "gradient independence" shortcut (a fresh W in the backward pass: dL/dB = F G'/sqrt(n_in),
// no in-span term, no projection); it is wrong at finite width and exists as the negative control
// that shows a distribution test can tell the two apart (tests only).
enum class BackwardLaw { kConditioned, kIndependent };

// One input B read by one or more weight products.
class ImplicitInput {
 public:
  // Factorises Bᵀ = Q̂R̂ with diag(R̂) ≥ 0 (so L is B Bᵀ/n_in's Cholesky factor when that is
  // positive definite; a rank-deficient B still gives an orthonormal Q̂).
  void Factor(const Matrix& b);

  // P = L G with G ∈ R^{k×cols} iid N(0,1) drawn row by row from `stream` (one-word ziggurat).
  void Project(int cols, RandomStream& stream, Matrix* g, Matrix* p) const;

  // Starts the backward pass of the products that read this input.
  void BeginBackward();
  // Adds product p's cotangent C (its forward draw G) and returns ‖dL/dW_p‖_F.
  double AddCotangent(const Matrix& g, const Matrix& c);
  // dL/dB for the products added since BeginBackward, with G' drawn from `stream`.
  void Backward(BackwardLaw law, RandomStream& stream, Matrix* db);

  const Matrix& root() const { return root_; }  // L, m × k lower triangular.
  int fan_in() const { return static_cast<int>(q_.rows()); }

 private:
  Eigen::HouseholderQR<Eigen::MatrixXd> qr_;
  Eigen::MatrixXd q_;  // Q̂, n_in × k.
  Matrix r_;           // R̂, k × m upper triangular.
  Matrix root_;
  Matrix in_span_;     // M = Σ_p C_p G_pᵀ.
  Matrix kernel_;      // Σ_p C_p C_pᵀ.
  Matrix kernel_root_, fresh_, projected_;
  SymmetricRoot roots_;
};

}  // namespace sigprop

#endif  // SIGPROP_COMMON_FINITE_IMPLICIT_WEIGHTS_H_
