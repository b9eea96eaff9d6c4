#!/usr/bin/env python3
"""Vectorised NumPy Euler–Maruyama of the same covariance SDE as bench/sde_bench.cc (SPEC §6):
the shaped transformer (shaped attention + shaped ReLU MLP, γ² = ½ each, τ0 = 1, c₊ = 0, c₋ = −1),
m = 8 tokens, V0 unit diagonal with ρ0 = 0.2, T = 0.5 at Δt = 1/256 (128 steps). All paths advance
together as (paths, m, m) arrays: batched Cholesky and matmul, one draw of Gaussians per step.

Prints one JSON line (seconds are CPU time, as Google Benchmark's rates):
{"paths": P, "steps": S, "seconds": …, "path_steps_per_s": …,
"exploded_fraction": …, "rho12_median": …}. Run single-threaded (OPENBLAS_NUM_THREADS=1 etc.), as
bench/run_sde_comparison.sh does, to compare with the C++ kernel on one core.
"""
import argparse
import json
import math
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--paths", type=int, default=4096)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--dt", type=float, default=1.0 / 256)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    m, paths, dt = args.tokens, args.paths, args.dt
    g2_att, g2_mlp, tau0, c_plus, c_minus = 0.5, 0.5, 1.0, 0.0, -1.0
    lin_variance = g2_att * (2 - g2_att) + 2 * g2_mlp
    attention_scale = g2_att / (m * tau0)
    attention_drift = g2_att / tau0**2
    mlp_drift = g2_mlp * (c_plus - c_minus) ** 2 / (2 * math.pi)
    root_s, root_dt = math.sqrt(lin_variance), math.sqrt(dt)

    rng = np.random.default_rng(args.seed)
    v = np.full((paths, m, m), 0.2)
    v[:, np.arange(m), np.arange(m)] = 1.0
    alive = np.ones(paths, dtype=bool)
    eye = np.eye(m, dtype=bool)

    start = time.process_time()
    for _ in range(args.steps):
        try:
            l = np.linalg.cholesky(v)
        except np.linalg.LinAlgError:
            # Positivity safeguard (EIGEN_FLOOR), as in the C++ scheme: raise eigenvalues to a floor.
            w, q = np.linalg.eigh(v)
            w = np.maximum(w, 1e-12 * np.abs(w).max(axis=1, keepdims=True))
            v = (q * w[:, None, :]) @ q.transpose(0, 2, 1)
            l = np.linalg.cholesky(v)
        # Attention drift: (γ²/τ0²)[V tr(PVPV)/m² + (V_αα (Vd̃)_β + V_ββ (Vd̃)_α)/(2m)].
        col_mean = v.mean(axis=1)                      # (P, m)
        grand = col_mean.mean(axis=1)                  # (P,)
        pvp = v - col_mean[:, None, :] - col_mean[:, :, None] + grand[:, None, None]
        tr_pvpv = np.einsum("pij,pij->p", pvp, v)
        diag_pvp = np.diagonal(pvp, axis1=1, axis2=2)
        d_tilde = diag_pvp - diag_pvp.mean(axis=1, keepdims=True)
        vd = np.einsum("pij,pj->pi", v, d_tilde)
        diag = np.diagonal(v, axis1=1, axis2=2)
        drift = attention_drift * (tr_pvpv[:, None, None] / (m * m) * v
                                   + (diag[:, :, None] * vd[:, None, :]
                                      + vd[:, :, None] * diag[:, None, :]) / (2 * m))
        # Shaped-ReLU drift γ² k ν(ρ) sqrt(V_αα V_ββ) off the diagonal.
        scale = np.sqrt(diag[:, :, None] * diag[:, None, :])
        rho = np.clip(v / scale, -1.0, 1.0)
        nu = np.sqrt(1 - rho * rho) - rho * np.arccos(rho)
        nu[:, eye] = 0.0
        drift += mlp_drift * nu * scale
        # Noise: sqrt(s) L dG Lᵀ (dG symmetric) + a (E V + V Eᵀ), E = L dB₂ Lᵀ P.
        z = rng.standard_normal((paths, m, m))
        dg = (z + z.transpose(0, 2, 1)) * (root_dt / math.sqrt(2.0))
        lt = l.transpose(0, 2, 1)
        noise = root_s * (l @ dg @ lt)
        db2 = rng.standard_normal((paths, m, m)) * root_dt
        pv = v - col_mean[:, None, :]
        ev = l @ db2 @ (lt @ pv)
        noise += attention_scale * (ev + ev.transpose(0, 2, 1))
        v = v + drift * dt + noise
        v = 0.5 * (v + v.transpose(0, 2, 1))
        # Explosion (SPEC §3): freeze the path at the identity and count it.
        bad = ~np.isfinite(v).all(axis=(1, 2)) | (np.diagonal(v, axis1=1, axis2=2).max(axis=1) > 1e12)
        if bad.any():
            alive &= ~bad
            v[bad] = np.eye(m)
    seconds = time.process_time() - start

    rho12 = v[alive, 0, 1] / np.sqrt(v[alive, 0, 0] * v[alive, 1, 1])
    print(json.dumps({
        "paths": paths, "steps": args.steps, "seconds": seconds,
        "path_steps_per_s": paths * args.steps / seconds,
        "exploded_fraction": float(1 - alive.mean()),
        "rho12_median": float(np.median(rho12)) if rho12.size else None,
    }))


if __name__ == "__main__":
    main()
