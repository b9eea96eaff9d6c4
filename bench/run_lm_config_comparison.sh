#!/usr/bin/env bash
# A 7B-size language model at its real width (issue 21): LLaMA-2-7B's config.json
# (tests/fixtures/hf_configs/llama.json: n = 4096, 32 layers, 32 heads, SwiGLU 11008, RoPE,
# pre-RMSNorm with ε, N(0, 0.02²) init) imported with `sigprop import --tokens 8`, run by the CLI on
# one core: COLUMNS (the implicit-weight pass, forward and with gradients) against DENSE (explicit
# 4096×4096 and 4096×11008 weights; one layer per sample, its per-layer rate, since a 32-layer DENSE
# sample takes minutes). GRAM does not run these blocks (it refuses RoPE, gates, absolute init).
# Then the study the issue asks for: 1000 samples, 32 layers, on two threads, wall clock.
#   usage: bench/run_lm_config_comparison.sh [BUILD_DIR]   (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
cli="$build/client/sigprop"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c 0); fi

"$cli" import tests/fixtures/hf_configs/llama.json --tokens 8 --out "$work/llama.json"

# spec NAME METHOD DEPTH SAMPLES GRADIENTS: a copy of the imported spec with those fields.
spec() {
  /usr/bin/python3 - "$work/llama.json" "$work/$1.json" "$2" "$3" "$4" "$5" <<'PY'
import json, sys
src, dst, method, depth, samples, gradients = sys.argv[1:]
s = json.load(open(src))
s["base"]["method"] = method
s["base"]["model"]["depth"] = int(depth)
s["base"]["samples"] = int(samples)
s["base"]["gradients"] = gradients == "1"
s["base"]["seed"] = "1"
json.dump(s, open(dst, "w"))
PY
}

# rate NAME THREADS: wall seconds of one run, printed with layer-samples per second.
rate() {
  local start end
  start=$(date +%s.%N)
  "${pin[@]}" "$cli" run "$work/$1.json" --threads "$2" --quiet --out "$work/$1.jsonl"
  end=$(date +%s.%N)
  /usr/bin/python3 - "$work/$1.json" "$start" "$end" "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["base"]
wall = float(sys.argv[3]) - float(sys.argv[2])
layers = s["model"]["depth"] * s["samples"]
print(f"{sys.argv[4]:<24} {s['samples']:>5} samples × {s['model']['depth']:>2} layers "
      f"{wall:8.2f} s  {layers / wall:9.2f} layer-samples/s  "
      f"{wall / s['samples'] * 32 / s['model']['depth']:9.3f} s per 32-layer sample")
PY
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); one core (taskset) unless noted"
spec columns_forward COLUMNS 32 32 0
spec columns_gradients COLUMNS 32 8 1
spec dense_forward DENSE 1 2 0
spec dense_gradients DENSE 1 1 1
rate columns_forward 1
rate columns_gradients 1
rate dense_forward 1
rate dense_gradients 1
pin=()
echo "the study: 1000 samples, 32 layers, 2 threads"
spec study_forward COLUMNS 32 1000 0
/usr/bin/time -f "  forward:        wall %e s, peak RSS %M KiB" "$cli" run "$work/study_forward.json" \
  --threads 2 --quiet --out "$work/study_forward.jsonl"
if [[ "${WITH_GRADIENT_STUDY:-0}" == 1 ]]; then
  spec study_gradients COLUMNS 32 1000 1
  /usr/bin/time -f "  with gradients: wall %e s, peak RSS %M KiB" "$cli" run \
    "$work/study_gradients.json" --threads 2 --quiet --out "$work/study_gradients.jsonl"
fi
