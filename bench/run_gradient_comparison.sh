#!/usr/bin/env bash
# Gradients at init, one core, side by side in one run (issue 14): COLUMNS with its implicit
# backward, DENSE with explicit weights (bench/gradient_bench.cc) and PyTorch autograd
# (bench/reference/gradients_torch.py, Debian's python3-torch), paper A standard block, m = 8,
# depth 32 (depth 4 for DENSE and PyTorch at n = 4096: the per-layer rate, in minutes and memory
# that fit). Prints layer-samples/s per width and the ratios; then the 2-thread wall-clock target
# (n = 4096, depth 64, 16 samples) and its peak RSS.
#   usage: bench/run_gradient_comparison.sh [BUILD_DIR]   (default build/release; target gradient_bench)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c 0); fi

cpp_json="$("${pin[@]}" "$build/bench/gradient_bench" --benchmark_filter='BM_Gradients/' \
  --benchmark_format=json)"
py_json="$("${pin[@]}" /usr/bin/python3 bench/reference/gradients_torch.py --widths 64 256 1024 2048 \
  --depth 32 --seconds 2)"
# At n = 4096 autograd keeps 32 layers × 5 weights of 128 MiB (21 GiB): depth 4 gives the same
# per-layer rate in 2.7 GiB.
py_4096="$("${pin[@]}" /usr/bin/python3 bench/reference/gradients_torch.py --widths 4096 --depth 4 \
  --seconds 2)"

CPP_JSON="$cpp_json" PY_JSON="$py_json" PY_4096="$py_4096" /usr/bin/python3 - <<'PY'
import json, os
cpp = json.loads(os.environ["CPP_JSON"])
py = json.loads(os.environ["PY_JSON"])
py["layer_samples_per_s"].update(json.loads(os.environ["PY_4096"])["layer_samples_per_s"])
rate = {}
for b in cpp["benchmarks"]:
    parts = dict(p.split(":") for p in b["name"].split("/")[1:] if ":" in p)
    rate[(int(parts["method"]), int(parts["n"]))] = b["layer_samples_per_s"]
ctx = cpp["context"]
print(f"machine: {ctx.get('host_name', '?')}, {ctx['num_cpus']} CPUs @ {ctx['mhz_per_cpu']} MHz, "
      f"load {ctx.get('load_avg')}; torch {py['torch']}, {py['threads']} thread")
print(f"{'n':>6} {'COLUMNS':>12} {'DENSE':>12} {'PyTorch':>12} {'COL/DENSE':>10} {'COL/torch':>10}")
for n in sorted({n for _, n in rate}):
    col, den = rate.get((2, n)), rate.get((1, n))
    tor = py["layer_samples_per_s"].get(str(n))
    fmt = lambda x: f"{x:12.1f}" if x else f"{'-':>12}"
    ratio = lambda a, b: f"{a / b:9.1f}x" if a and b else f"{'-':>10}"
    print(f"{n:>6} {fmt(col)} {fmt(den)} {fmt(tor)} {ratio(col, den)} {ratio(col, tor)}")
PY

echo "2 threads, n = 4096, depth 64, 16 samples (target < 60 s):"
/usr/bin/time -f "  wall %e s, peak RSS %M KiB" "$build/bench/gradient_bench" \
  --benchmark_filter='BM_GradientsTarget' 2>&1 | grep -E 'BM_|wall'
