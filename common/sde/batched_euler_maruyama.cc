#include "common/sde/batched_euler_maruyama.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/sde/shaped_relu_nu.h"
#include "common/simd_lanes.h"

namespace sigprop {
namespace {

// One value per path (simd_lanes.h): State's double arrays are read and written both as lanes
// here and as doubles (Reset, Get, FloorLane).
//
// The step runs on vectors of its target's width W (2 SSE2, 4 AVX2, 8 AVX-512), the eight lanes in
// groups of W: GCC lowers comparisons of vectors wider than the target's registers element by
// element (simd_lanes.h), which made the eight-wide SSE2 and AVX2 steps ~6× slower than AVX-512's.
using lanes::Abs;
using lanes::Bits;
using lanes::Broadcast;
using lanes::Lane;
using lanes::LaneMask;
using lanes::Load;
using lanes::LoadUnaligned;
using lanes::Sqrt;
using lanes::WidthOf;
static_assert(kSdeLanes == kLanes);

constexpr int kStride = kMaxBatchedTokens;

#define SIGPROP_INLINE SIGPROP_LANES_INLINE

template <typename V>
using MaskFor = typename lanes::Vectors<WidthOf<V>()>::Mask;

// Entry (i, j) of the group of lanes g, g + 1, …, g + W − 1 in State's layout, as a W-vector.
template <typename V>
struct GroupView {
  double* base;  // The state array, offset by g, a multiple of W (so aligned to the vector).
  [[gnu::always_inline]] V& operator()(int i, int j) const {
    return *reinterpret_cast<V*>(base + (i * kStride + j) * kSdeLanes);
  }
};

// ν(ρ) lane by lane, composed as ShapedReluNu composes it (shaped_relu_nu.h). The batch's lanes
// mostly straddle |ρ| = ½, so both pieces are needed; their polynomials run as one Horner scheme
// whose argument and coefficients each lane takes from its own piece. NearZero has one
// coefficient fewer: a leading 0 makes the first step u·0 + c₁₁ = c₁₁ exactly (u is finite there,
// and a NaN lane takes NearOne's), and the next c₁₁·u + c₁₀ is NearZero's first step, so every
// lane's value is its piece's, bit for bit, in ~40% fewer polynomial operations.
template <typename V>
SIGPROP_INLINE V Nu(V rho) {
  const V r = rho < -1.0 ? Broadcast<V>(-1.0) : (rho > 1.0 ? Broadcast<V>(1.0) : rho);
  const V x = r < 0.0 ? -r : r;
  const MaskFor<V> small = x <= 0.5;
  const V w = 0.5 * (1.0 - x);
  const V u = small ? r * r - 0.125 : w - 0.125;
  const auto& zero_c = nu_internal::kNearZeroCoefficients;
  const auto& one_c = nu_internal::kNearOneCoefficients;
  V p = u * (small ? Broadcast<V>(0.0) : Broadcast<V>(one_c[12])) +
        (small ? Broadcast<V>(zero_c[11]) : Broadcast<V>(one_c[11]));
  for (int k = 10; k >= 0; --k) {
    p = p * u + (small ? Broadcast<V>(zero_c[k]) : Broadcast<V>(one_c[k]));
  }
  const V near_zero = p - nu_internal::kHalfPi * r;
  V near_one = w * Sqrt(w) * p;
  near_one = r < 0.0 ? near_one + nu_internal::kPi * x : near_one;
  return small ? near_zero : near_one;
}

// L = chol(V) for the group's lanes; returns those (bit q for lane g + q) whose pivots were all > 0.
template <int M, typename V>
SIGPROP_INLINE uint32_t Cholesky(BatchedEulerMaruyama::State* s, int g) {
  const GroupView<V> L{s->l + g}, C{s->v + g};
  MaskFor<V> ok = MaskFor<V>{} - 1;
  for (int j = 0; j < M; ++j) {
    V d = C(j, j);
    for (int k = 0; k < j; ++k) d = d - L(j, k) * L(j, k);
    ok &= d > 0.0;
    const V root = Sqrt(d);
    const V inverse = 1.0 / root;
    L(j, j) = root;
    for (int i = j + 1; i < M; ++i) {
      V x = C(i, j);
      for (int k = 0; k < j; ++k) x = x - L(i, k) * L(j, k);
      L(i, j) = x * inverse;
      L(j, i) = V{};
    }
  }
  return Bits(ok);
}

// Identity V and L in the group's lanes of `bits` (bit q for lane g + q), so idle lanes stay finite.
template <int M, typename V>
SIGPROP_INLINE void ResetLanes(uint32_t bits, BatchedEulerMaruyama::State* s, int g) {
  const MaskFor<V> reset = lanes::MaskOf<MaskFor<V>>(bits);
  const GroupView<V> C{s->v + g}, L{s->l + g};
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < M; ++j) {
      const V value = Broadcast<V>(i == j ? 1.0 : 0.0);
      C(i, j) = reset ? value : C(i, j);
      L(i, j) = reset ? value : L(i, j);
    }
  }
}

// Not inlined: a failed factorisation is rare, and this is scalar Eigen code.
[[gnu::noinline]] void FloorLane(int tokens, int lane, BatchedEulerMaruyama::State* s) {
  Matrix v(tokens, tokens);
  for (int i = 0; i < tokens; ++i)
    for (int j = 0; j < tokens; ++j) v(i, j) = s->v[(i * kStride + j) * kSdeLanes + lane];
  FloorEigenvalues(&v);
  for (int i = 0; i < tokens; ++i)
    for (int j = 0; j < tokens; ++j) s->v[(i * kStride + j) * kSdeLanes + lane] = v(i, j);
}

// One step of the group of lanes g, …, g + W − 1; `live` and the result have bit q for lane g + q.
// (Lane and LaneMask here are the group's W-wide types, hiding the eight-wide ones above.)
template <int M, typename Lane>
SIGPROP_INLINE uint32_t StepGroup(const BatchedEulerMaruyama::Params& c, uint32_t live,
                                  const double* gaussians, BatchedEulerMaruyama::State* s, int g) {
  constexpr int kWidth = WidthOf<Lane>();
  constexpr uint32_t kAll = (1u << kWidth) - 1;
  using LaneMask = MaskFor<Lane>;
  const GroupView<Lane> V{s->v + g}, L{s->l + g};
  auto gaussian = [gaussians, g](int k) {
    Lane x;
    std::memcpy(&x, gaussians + k * kSdeLanes + g, sizeof x);
    return x;
  };
  const double inv_m = 1.0 / M;

  // dG = U + Uᵀ.
  Lane U[M][M];
  int next = 0;
  for (int i = 0; i < M; ++i) {
    U[i][i] = c.half_root_2dt * gaussian(next++);
    for (int j = 0; j < i; ++j) U[i][j] = c.root_dt * gaussian(next++);
  }

  Lane mean[M];
  for (int j = 0; j < M; ++j) {
    Lane sum = V(0, j);
    for (int i = 1; i < M; ++i) sum = sum + V(i, j);
    mean[j] = sum * inv_m;
  }

  // Drift, lower triangle (it is symmetric). Zeroed only where the attention term does not set it:
  // GCC turns the zeroing into a rep stos a row, a measurable cost at this size.
  Lane drift[M][M];
  if (c.attention_drift == 0.0) {
    for (int i = 0; i < M; ++i)
      for (int j = 0; j <= i; ++j) drift[i][j] = Lane{};
  } else {
    Lane grand = mean[0];
    for (int j = 1; j < M; ++j) grand = grand + mean[j];
    grand = grand * inv_m;
    Lane tr_pvpv = Lane{}, tr_pvp = Lane{};
    Lane centred_diagonal[M];
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < M; ++j) {
        const Lane centred = V(i, j) - mean[i] - mean[j] + grand;
        tr_pvpv = tr_pvpv + centred * V(i, j);
        if (i == j) centred_diagonal[i] = centred;
      }
      tr_pvp = tr_pvp + centred_diagonal[i];
    }
    Lane d_tilde[M];
    for (int i = 0; i < M; ++i) d_tilde[i] = centred_diagonal[i] - tr_pvp * inv_m;
    Lane vd[M];
    for (int i = 0; i < M; ++i) {
      Lane sum = V(i, 0) * d_tilde[0];
      for (int k = 1; k < M; ++k) sum = sum + V(i, k) * d_tilde[k];
      vd[i] = sum;
    }
    const Lane cubic = c.attention_drift * tr_pvpv * (inv_m * inv_m);
    const double half = c.attention_drift * 0.5 * inv_m;
    for (int i = 0; i < M; ++i)
      for (int j = 0; j <= i; ++j)
        drift[i][j] = cubic * V(i, j) + half * (V(i, i) * vd[j] + V(j, j) * vd[i]);
  }
  if (c.mlp_drift != 0.0 && M > 1) {
    Lane root[M], inverse[M];
    for (int i = 0; i < M; ++i) {
      root[i] = Sqrt(V(i, i));
      inverse[i] = 1.0 / root[i];
    }
    for (int i = 1; i < M; ++i) {
      for (int j = 0; j < i; ++j) {
        const Lane scale = root[i] * root[j];
        drift[i][j] = drift[i][j] + c.mlp_drift * Nu(V(i, j) * inverse[i] * inverse[j]) * scale;
      }
    }
  }

  // Noise, lower triangle: root_s (M + Mᵀ) with M = (L U) Lᵀ, plus a (E V + (E V)ᵀ).
  Lane lu[M][M];
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j <= i; ++j) {
      Lane sum = L(i, j) * U[j][j];
      for (int k = j + 1; k <= i; ++k) sum = sum + L(i, k) * U[k][j];
      lu[i][j] = sum;
    }
  }
  Lane product[M][M];
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < M; ++j) {
      const int last = i < j ? i : j;
      Lane sum = lu[i][0] * L(j, 0);
      for (int k = 1; k <= last; ++k) sum = sum + lu[i][k] * L(j, k);
      product[i][j] = sum;
    }
  }
  Lane noise[M][M];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j <= i; ++j) noise[i][j] = c.root_lin_variance * (product[i][j] + product[j][i]);

  if (c.attention_scale != 0.0) {
    Lane B[M][M];
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < M; ++j) B[i][j] = c.root_dt * gaussian(next++);
    // X = Lᵀ (P V), Y = dB₂ X, E V = L Y.
    Lane pv[M][M];
    for (int k = 0; k < M; ++k)
      for (int j = 0; j < M; ++j) pv[k][j] = V(k, j) - mean[j];
    Lane x[M][M];
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < M; ++j) {
        Lane sum = L(i, i) * pv[i][j];
        for (int k = i + 1; k < M; ++k) sum = sum + L(k, i) * pv[k][j];
        x[i][j] = sum;
      }
    }
    Lane y[M][M];
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < M; ++j) {
        Lane sum = B[i][0] * x[0][j];
        for (int k = 1; k < M; ++k) sum = sum + B[i][k] * x[k][j];
        y[i][j] = sum;
      }
    }
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < M; ++j) {
        Lane sum = L(i, 0) * y[0][j];
        for (int k = 1; k <= i; ++k) sum = sum + L(i, k) * y[k][j];
        product[i][j] = sum;
      }
    }
    for (int i = 0; i < M; ++i)
      for (int j = 0; j <= i; ++j)
        noise[i][j] = noise[i][j] + c.attention_scale * (product[i][j] + product[j][i]);
  }

  // V ← V + b Δt + σ ΔB, symmetric; then the divergence test (SPEC §3) on the new V.
  LaneMask finite = LaneMask{} - 1, bounded = LaneMask{} - 1;
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j <= i; ++j) {
      const Lane updated = V(i, j) + c.dt * drift[i][j] + noise[i][j];
      V(i, j) = updated;
      V(j, i) = updated;
      finite &= (updated - updated) == 0.0;
    }
    bounded &= V(i, i) <= 1e12;
  }
  uint32_t diverged = live & ~(Bits(finite) & Bits(bounded));
  live &= ~diverged;

  uint32_t factored = Cholesky<M, Lane>(s, g);
  uint32_t failed = live & ~factored;
  if (failed != 0) {
    if (c.positivity == Positivity::kStop) {
      diverged |= failed;
    } else {
      for (int q = 0; q < kWidth; ++q)
        if ((failed >> q) & 1u) FloorLane(M, g + q, s);
      s->floored |= failed << g;  // Changed after the divergence test above.
      factored = Cholesky<M, Lane>(s, g);
      diverged |= failed & ~factored;
    }
    live &= ~diverged;
  }
  if (live != kAll) ResetLanes<M, Lane>(~live & kAll, s, g);
  return diverged;
}

// One step of all eight lanes, W at a time (a group with no live lane is left as it is: idle).
template <int M, typename Lane>
SIGPROP_INLINE uint32_t StepBody(const BatchedEulerMaruyama::Params& c, uint32_t live,
                                 const double* gaussians, BatchedEulerMaruyama::State* s) {
  constexpr int kWidth = WidthOf<Lane>();
  constexpr uint32_t kAll = (1u << kWidth) - 1;
  uint32_t diverged = 0;
  s->floored = 0;
  for (int g = 0; g < kSdeLanes; g += kWidth) {
    const uint32_t group_live = (live >> g) & kAll;
    if (group_live != 0) diverged |= StepGroup<M, Lane>(c, group_live, gaussians, s, g) << g;
  }
  return diverged;
}

template <int M>
__attribute__((target("avx512f,avx512dq"))) uint32_t StepAvx512(const BatchedEulerMaruyama::Params& c,
                                                        uint32_t live, const double* gaussians,
                                                        BatchedEulerMaruyama::State* s) {
  return StepBody<M, lanes::Vectors<8>::Lane>(c, live, gaussians, s);
}

template <int M>
__attribute__((target("avx2"))) uint32_t StepAvx2(const BatchedEulerMaruyama::Params& c,
                                                  uint32_t live, const double* gaussians,
                                                  BatchedEulerMaruyama::State* s) {
  return StepBody<M, lanes::Vectors<4>::Lane>(c, live, gaussians, s);
}

template <int M>
uint32_t StepBaseline(const BatchedEulerMaruyama::Params& c, uint32_t live,
                      const double* gaussians, BatchedEulerMaruyama::State* s) {
  return StepBody<M, lanes::Vectors<2>::Lane>(c, live, gaussians, s);
}

// ν of the eight lanes, W at a time, as the step computes it.
template <typename V>
SIGPROP_INLINE void NuGroups(const double* rho, double* nu) {
  for (int g = 0; g < kSdeLanes; g += WidthOf<V>()) {
    V x;
    std::memcpy(&x, rho + g, sizeof x);
    const V y = Nu(x);
    std::memcpy(nu + g, &y, sizeof y);
  }
}
__attribute__((target("avx512f,avx512dq"))) void NuAvx512(const double* rho, double* nu) {
  NuGroups<lanes::Vectors<8>::Lane>(rho, nu);
}
__attribute__((target("avx2"))) void NuAvx2(const double* rho, double* nu) {
  NuGroups<lanes::Vectors<4>::Lane>(rho, nu);
}
void NuBaseline(const double* rho, double* nu) { NuGroups<lanes::Vectors<2>::Lane>(rho, nu); }

// IsDiverged (sample_observer.h) of the lanes in `lanes`: every entry finite and no diagonal
// entry above thresholds[p], over the whole m×m block. By arithmetic alone, no comparison in the
// loop (GCC 12 compiles each lane comparison inside a target("avx512f") function lane by lane,
// which made this as slow as the plain loops it replaced, ~3% of an SDE run recording every
// layer): Σ (x − x) is 0 exactly iff every x is finite (NaN otherwise), and with u = x − t,
// Σ (u + |u|) over the diagonal is 0 iff every u ≤ 0 (u + |u| is +0 then, and 2u > 0 exactly
// where x > t, since x − t rounds to a number of x − t's sign; a sum of such terms stays > 0).
template <int M>
SIGPROP_INLINE uint32_t DivergedBody(const double* v, const double* thresholds, uint32_t lanes) {
  if (lanes == 0) return 0;  // A layer neither recorded nor tested (record_every).
  const Lane threshold = LoadUnaligned(thresholds);
  Lane not_finite = Broadcast<Lane>(0.0), excess = Broadcast<Lane>(0.0);
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < M; ++j) {
      const Lane x = Load(v + (i * kStride + j) * kSdeLanes);
      not_finite = not_finite + (x - x);
      if (i == j) {
        const Lane u = x - threshold;
        excess = excess + (u + Abs(u));
      }
    }
  }
  return lanes & ~Bits((not_finite == 0.0) & (excess == 0.0));
}

template <int M>
__attribute__((target("avx512f,avx512dq"))) uint32_t DivergedAvx512(const double* v,
                                                                    const double* thresholds,
                                                                    uint32_t lanes) {
  return DivergedBody<M>(v, thresholds, lanes);
}
template <int M>
__attribute__((target("avx2"))) uint32_t DivergedAvx2(const double* v, const double* thresholds,
                                                      uint32_t lanes) {
  return DivergedBody<M>(v, thresholds, lanes);
}
template <int M>
uint32_t DivergedBaseline(const double* v, const double* thresholds, uint32_t lanes) {
  return DivergedBody<M>(v, thresholds, lanes);
}

// The step and the divergence test of one instruction set, for m = M.
struct Variant {
  BatchedEulerMaruyama::StepFunction step;
  BatchedEulerMaruyama::DivergedFunction diverged;
};

template <int M>
Variant VariantFor(SdeIsa isa) {
  switch (isa) {
    case SdeIsa::kAvx512: return {&StepAvx512<M>, &DivergedAvx512<M>};
    case SdeIsa::kAvx2: return {&StepAvx2<M>, &DivergedAvx2<M>};
    case SdeIsa::kBaseline: break;
  }
  return {&StepBaseline<M>, &DivergedBaseline<M>};
}

Variant VariantFor(int tokens, SdeIsa isa) {
  switch (tokens) {
    case 1: return VariantFor<1>(isa);
    case 2: return VariantFor<2>(isa);
    case 3: return VariantFor<3>(isa);
    case 4: return VariantFor<4>(isa);
    case 5: return VariantFor<5>(isa);
    case 6: return VariantFor<6>(isa);
    case 7: return VariantFor<7>(isa);
    default: return VariantFor<8>(isa);
  }
}

}  // namespace

void BatchedNuForTesting(SdeIsa isa, const double rho[kSdeLanes], double nu[kSdeLanes]) {
  alignas(64) double out[kSdeLanes];
  switch (isa) {
    case SdeIsa::kAvx512: NuAvx512(rho, out); break;
    case SdeIsa::kAvx2: NuAvx2(rho, out); break;
    case SdeIsa::kBaseline: NuBaseline(rho, out); break;
  }
  std::memcpy(nu, out, sizeof out);
}

bool BatchedEulerMaruyama::Supports(int tokens) {
  return tokens >= 1 && tokens <= kMaxBatchedTokens;
}

BatchedEulerMaruyama::BatchedEulerMaruyama(const CovarianceSde& sde, double dt,
                                           Positivity positivity)
    : BatchedEulerMaruyama(sde, dt, positivity, BestVectorIsa()) {}

BatchedEulerMaruyama::BatchedEulerMaruyama(const CovarianceSde& sde, double dt,
                                           Positivity positivity, SdeIsa isa)
    : params_{sde.tokens(),
              dt,
              0.5 * std::sqrt(2.0 * dt),
              std::sqrt(dt),
              std::sqrt(sde.lin_variance()),
              sde.attention_scale(),
              sde.attention_drift(),
              sde.mlp_drift(),
              positivity},
      gaussians_(sde.tokens() * (sde.tokens() + 1) / 2 +
                 (sde.has_attention_noise() ? sde.tokens() * sde.tokens() : 0)),
      step_(nullptr),
      diverged_(nullptr) {
  const Variant variant = VariantFor(sde.tokens(), isa);
  step_ = variant.step;
  diverged_ = variant.diverged;
}

void BatchedEulerMaruyama::Reset(const Matrix& v0, int paths) {
  const int m = params_.tokens;
  for (int i = 0; i < kMaxBatchedTokens; ++i) {
    for (int j = 0; j < kMaxBatchedTokens; ++j) {
      const double x = i < m && j < m ? v0(i, j) : (i == j ? 1.0 : 0.0);
      for (int p = 0; p < kSdeLanes; ++p) {
        state_.v[(i * kStride + j) * kSdeLanes + p] = p < paths ? x : (i == j ? 1.0 : 0.0);
      }
    }
  }
  live_ = paths >= kSdeLanes ? (1u << kSdeLanes) - 1 : (1u << paths) - 1;
  Cholesky<kMaxBatchedTokens, lanes::Vectors<kSdeLanes>::Lane>(&state_, 0);  // All eight at once.
}

uint32_t BatchedEulerMaruyama::Step(const double* gaussians) {
  const uint32_t diverged = step_(params_, live_, gaussians, &state_);
  live_ &= ~diverged;
  return diverged;
}

uint32_t BatchedEulerMaruyama::Diverged(const double* thresholds, uint32_t lanes) const {
  return diverged_(state_.v, thresholds, lanes);
}

void BatchedEulerMaruyama::Get(int lane, Matrix* v) const {
  const int m = params_.tokens;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) (*v)(i, j) = state_.v[(i * kStride + j) * kSdeLanes + lane];
}

}  // namespace sigprop
