#!/usr/bin/env bash
# What recording every layer costs (issue 18): the same run recording every layer (the default,
# what streaming is for) against recording only the last (`record_every` = depth), whole process,
# one thread, pinned to one core, interleaved round by round. Shaped transformer, width 256,
# depth 256, ρ0 = 0.2; SDE with 2000 samples and GRAM with 200 (GRAM's step is ~50× the SDE's, and
# the ratio does not depend on the count), m = 4, 8, 16, 32. Prints the median wall time of each
# and the ratio every / last (the issue's goal: at most 1.5 at m = 8).
#   usage: bench/run_record_every.sh [BUILD_DIR] [ROUNDS]   (default build/release, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
rounds="${2:-3}"
cli="$build/client/sigprop"
[[ -x "$cli" ]] || { echo "run_record_every: $cli not built" >&2; exit 2; }

CLI="$cli" ROUNDS="$rounds" /usr/bin/python3 - <<'PY'
import json, os, shutil, statistics, subprocess, tempfile, time

cli, rounds = os.environ["CLI"], int(os.environ["ROUNDS"])
pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
work = tempfile.mkdtemp(prefix="sigprop-record-")
DEPTH = 256

def spec(method, m, samples, record_every):
    path = os.path.join(work, f"{method}-{m}-{record_every}.json")
    base = {"model": {"tokens": m, "width": 256, "depth": DEPTH, "preset": "SHAPED_TRANSFORMER",
                      "initial": {"rho0": 0.2}},
            "samples": samples, "seed": "1", "method": method}
    if record_every > 1:
        base["record_every"] = record_every
    with open(path, "w") as f:
        json.dump({"base": base}, f)
    return path

def wall(path):
    start = time.perf_counter()
    subprocess.run(pin + [cli, "run", path, "--threads", "1", "--quiet", "--out",
                          os.path.join(work, "out.jsonl")], check=True)
    return time.perf_counter() - start

print(f"{'method':<7}{'m':>4}{'samples':>9}{'every layer':>14}{'last only':>12}{'ratio':>8}")
for method, samples in (("SDE", 2000), ("GRAM", 200)):
    for m in (4, 8, 16, 32):
        every, last = [], []
        for _ in range(rounds):
            every.append(wall(spec(method, m, samples, 1)))
            last.append(wall(spec(method, m, samples, DEPTH)))
        e, l = statistics.median(every), statistics.median(last)
        print(f"{method:<7}{m:>4}{samples:>9}{e:>12.2f} s{l:>10.2f} s{e / l:>8.2f}", flush=True)
load = os.getloadavg()
print(f"medians of {rounds} interleaved rounds; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
shutil.rmtree(work)
PY
