#!/usr/bin/env bash
# method SDE against a vectorised NumPy Euler–Maruyama of the same SDE (bench/reference/sde_numpy.py),
# both on one core: m = 8 shaped transformer, 128 steps of Δt = 1/256. Prints both rates in
# path-steps/s and their ratio (target ≥ 20, issue 5).
#   usage: bench/run_sde_comparison.sh [BUILD_DIR]   (default build/release; needs target sde_bench)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c 0); fi

cpp_json="$("${pin[@]}" "$build/bench/sde_bench" \
  --benchmark_filter='BM_SdeKernel$|BM_SdePathKernel$|BM_SdeEngine' \
  --benchmark_min_time=2 --benchmark_repetitions=3 --benchmark_format=json)"
py_json="$("${pin[@]}" /usr/bin/python3 bench/reference/sde_numpy.py --paths 4096)"

CPP_JSON="$cpp_json" PY_JSON="$py_json" /usr/bin/python3 - <<'PY'
import json, os
cpp = json.loads(os.environ["CPP_JSON"])
runs = [b for b in cpp["benchmarks"] if b.get("run_type") == "iteration"]
def best(name):
    return max(b["path_steps_per_s"] for b in runs if b["run_name"] == name)
cpp_rate = best("BM_SdeKernel")
py = json.loads(os.environ["PY_JSON"])
print(f"machine: {cpp['context'].get('host_name', '?')}, {cpp['context']['num_cpus']} CPUs "
      f"@ {cpp['context']['mhz_per_cpu']} MHz, load {cpp['context'].get('load_avg')}")
print(f"C++ BM_SdeKernel (batched, best of 3):     {cpp_rate:12.0f} path-steps/s")
print(f"C++ BM_SdePathKernel (one path, best of 3): {best('BM_SdePathKernel'):11.0f} path-steps/s")
print(f"C++ BM_SdeEngine/threads:1 (best of 3):    {best('BM_SdeEngine/threads:1'):12.0f} path-steps/s")
print(f"NumPy sde_numpy.py (4096 paths): {py['path_steps_per_s']:9.0f} path-steps/s "
      f"(exploded {py['exploded_fraction']:.3f}, median rho12 {py['rho12_median']:.3f})")
print(f"ratio BM_SdeKernel / NumPy: {cpp_rate / py['path_steps_per_s']:.1f}x (target 20)")
PY
