// ν(ρ) = sqrt(1 − ρ²) − ρ arccos ρ (the shaped ReLU's kernel correction, SPEC §6) without libm's
// arccos, as two polynomials that vectorise; covariance_sde.cc (ShapedReluNu, one path) and
// batched_euler_maruyama.cc (eight paths per vector) compose them the same way:
//
//   |ρ| ≤ ½:  ν(ρ) = f(ρ²) − (π/2) ρ,   f(z) = sqrt(1 − z) + sqrt(z) arcsin(sqrt(z)),
//             (ρ arcsin ρ is even, so f is analytic in z on [0, ¼]);
//   |ρ| > ½:  ν(|ρ|) = w^{3/2} g(w),  w = (1 − |ρ|)/2 ∈ [0, ¼),  with ρ = cos θ, θ = 2 arcsin(sqrt w),
//             ν = sin θ − θ cos θ ∼ θ³/3, so g = ν / w^{3/2} is analytic; and ν(−x) = ν(x) + π x.
//
// f and g are Chebyshev fits (mpmath, 50 digits) of degree 11 and 12 in u = z − ⅛ resp. w − ⅛,
// truncation error 1.1e-17 resp. 4e-18 (times w^{3/2} ≤ ⅛); in double arithmetic the total error
// is below 1e-15 absolute on [−1, 1] (covariance_sde_test checks it against a long-double arccos).
#ifndef SIGPROP_COMMON_SDE_SHAPED_RELU_NU_H_
#define SIGPROP_COMMON_SDE_SHAPED_RELU_NU_H_

namespace sigprop {
namespace nu_internal {

inline constexpr double kHalfPi = 1.5707963267948966;
inline constexpr double kPi = 3.141592653589793;

// f(⅛ + u), |u| ≤ ⅛.
inline constexpr double kNearZeroCoefficients[12] = {
    0x1.102c5ccf3f5d2p+0, 0x1.05a8621feb16bp-1, 0x1.809186c2e6fe3p-5,
    0x1.03afe662da08fp-6, 0x1.06c23d0cf5a9ep-7, 0x1.45401cb04ce22p-8,
    0x1.c686ec1f71a05p-9, 0x1.586ebd1309a9dp-9, 0x1.147b45252da5ep-9,
    0x1.cfe7babaa3832p-10, 0x1.a2b112efff93ap-10, 0x1.7619406c3f388p-10};

template <typename T>
inline T NearZero(T u) {
  const auto& c = kNearZeroCoefficients;
  T p = u * c[11] + c[10];
  for (int k = 9; k >= 0; --k) p = p * u + c[k];
  return p;
}

// g(⅛ + u), |u| ≤ ⅛.
inline constexpr double kNearOneCoefficients[13] = {
    0x1.59c8379a8d4a3p+1, 0x1.291c36008f835p-2, 0x1.a5c8684643225p-4,
    0x1.b4b531e6199abp-5, 0x1.11c510d15c6e9p-5, 0x1.81a8a4b46d334p-6,
    0x1.25d4cb4432a50p-6, 0x1.d9ccc0ec4bceep-7, 0x1.8eaa5d365bd13p-7,
    0x1.5a93a6a44443ap-7, 0x1.35b30c0377cd0p-7, 0x1.282b5df200a04p-7,
    0x1.13f3f83c619ecp-7};

template <typename T>
inline T NearOne(T u) {
  const auto& c = kNearOneCoefficients;
  T p = u * c[12] + c[11];
  for (int k = 10; k >= 0; --k) p = p * u + c[k];
  return p;
}

}  // namespace nu_internal
}  // namespace sigprop

#endif  // SIGPROP_COMMON_SDE_SHAPED_RELU_NU_H_
