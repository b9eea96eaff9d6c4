#!/usr/bin/env bash
# sigprop against the scripts its users would otherwise write, on the same model, the same core,
# interleaved round by round (issue 18): the machine's noise then moves both sides of a ratio alike.
#
#   SDE               `sigprop run` method SDE   vs  bench/reference/sde_numpy.py (NumPy, batched)
#   dense forward     `sigprop run` method DENSE vs  bench/reference/gradients_torch.py --forward
#   dense gradients   `sigprop run` DENSE and COLUMNS with gradients vs the same script's autograd
#
# Models: the SDE is the shaped transformer, m = 8, ρ0 = 0.2, 128 steps of Δt = 1/256 (depth 128,
# width 256), last layer recorded (the NumPy script computes no statistics); the dense runs are
# paper A's standard block (PAPER_A_STANDARD: softmax attention, ReLU MLP, post-LayerNorm), m = 8,
# n = 256, depth 8, float64, one thread. sigprop is timed as a whole process (`sigprop run ...
# --threads 1`, start-up and output included); the peers time their own loops (Python and torch
# start-up excluded, in their favour). Each row: the median rate over the rounds, and the ratio of
# medians (sigprop / peer).
#   usage: bench/compare_peers.sh [BUILD_DIR] [ROUNDS]   (default build/release, 5 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
rounds="${2:-5}"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
cli="$build/client/sigprop"
[[ -x "$cli" ]] || { echo "compare_peers: $cli not built (cmake --build --preset release)" >&2; exit 2; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || {
  echo "compare_peers: needs Debian's python3-torch for the dense peers" >&2; exit 2; }

CLI="$cli" ROUNDS="$rounds" /usr/bin/python3 - <<'PY'
import json, os, shutil, statistics, subprocess, tempfile, time

cli, rounds = os.environ["CLI"], int(os.environ["ROUNDS"])
pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
work = tempfile.mkdtemp(prefix="sigprop-peers-")

def spec(name, base):
    path = os.path.join(work, name + ".json")
    with open(path, "w") as f:
        json.dump({"base": base}, f)
    return path

SDE_PATHS, SDE_DEPTH = 4096, 128
sde = spec("sde", {"model": {"tokens": 8, "width": 256, "depth": SDE_DEPTH,
                             "preset": "SHAPED_TRANSFORMER", "initial": {"rho0": 0.2}},
                   "samples": SDE_PATHS, "seed": "1", "method": "SDE", "record_every": SDE_DEPTH})
DEPTH = 8
dense_model = {"tokens": 8, "width": 256, "depth": DEPTH, "preset": "PAPER_A_STANDARD"}
runs = {  # name: (spec, samples): layer-samples = samples × depth
    "DENSE forward": (spec("dense", {"model": dense_model, "samples": 24, "seed": "1",
                                     "method": "DENSE"}), 24),
    "DENSE gradients": (spec("dense_grad", {"model": dense_model, "samples": 8, "seed": "1",
                                            "method": "DENSE", "gradients": True}), 8),
    "COLUMNS gradients": (spec("columns_grad", {"model": dense_model, "samples": 256, "seed": "1",
                                                "method": "COLUMNS", "gradients": True}), 256),
}

def sigprop_rate(path, units):
    start = time.perf_counter()
    subprocess.run(pin + [cli, "run", path, "--threads", "1", "--quiet", "--out",
                          os.path.join(work, "out.jsonl")], check=True)
    return units / (time.perf_counter() - start)

def peer(args):
    out = subprocess.run(pin + ["/usr/bin/python3"] + args, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])

rates = {}
def add(name, value):
    rates.setdefault(name, []).append(value)

for r in range(rounds):
    add("sigprop SDE", sigprop_rate(sde, SDE_PATHS * SDE_DEPTH))
    add("NumPy SDE", peer(["bench/reference/sde_numpy.py", "--paths", str(SDE_PATHS),
                           "--steps", str(SDE_DEPTH)])["path_steps_per_s"])
    add("sigprop DENSE forward", sigprop_rate(runs["DENSE forward"][0], 24 * DEPTH))
    add("PyTorch forward", peer(["bench/reference/gradients_torch.py", "--widths", "256",
                                 "--depth", str(DEPTH), "--seconds", "2",
                                 "--forward"])["layer_samples_per_s"]["256"])
    add("sigprop DENSE gradients", sigprop_rate(runs["DENSE gradients"][0], 8 * DEPTH))
    add("sigprop COLUMNS gradients", sigprop_rate(runs["COLUMNS gradients"][0], 256 * DEPTH))
    add("PyTorch autograd", peer(["bench/reference/gradients_torch.py", "--widths", "256",
                                  "--depth", str(DEPTH), "--seconds", "2"])
        ["layer_samples_per_s"]["256"])
    print(f"round {r + 1}/{rounds} done", flush=True)

median = {k: statistics.median(v) for k, v in rates.items()}
spread = {k: (min(v), max(v)) for k, v in rates.items()}
load = os.getloadavg()
print(f"\n{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
      f"{rounds} interleaved rounds, pinned to core 0, one thread each")
print(f"{'run':<28}{'median rate':>14}  {'min – max':>22}  unit")
units = {"sigprop SDE": "path-steps/s", "NumPy SDE": "path-steps/s"}
for k in median:
    lo, hi = spread[k]
    print(f"{k:<28}{median[k]:>14.1f}  {lo:>10.1f} – {hi:<10.1f}  "
          f"{units.get(k, 'layer-samples/s')}")
print()
for a, b in [("sigprop SDE", "NumPy SDE"), ("sigprop DENSE forward", "PyTorch forward"),
             ("sigprop DENSE gradients", "PyTorch autograd"),
             ("sigprop COLUMNS gradients", "PyTorch autograd")]:
    print(f"{a + ' / ' + b:<52}{median[a] / median[b]:8.2f}x")
shutil.rmtree(work)
PY
