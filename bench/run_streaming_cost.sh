#!/usr/bin/env bash
# What the service costs over the embedded engine (issue 18's goal: a sweep streaming every layer
# to one watcher finishes within 1.2× the embedded run of the same sweep). The same sweep, every
# layer recorded, run (a) embedded: `sigprop run SPEC --threads 1`, and (b) on a local
# `sigprop-server --threads 1` (real SQLite job store in a temp dir): `sigprop run SPEC --target`,
# which submits, watches every layer as it streams, and writes the same rows. Interleaved round by
# round, the server started once; wall time of the client process. Checks both outputs are
# byte-identical, then prints the median wall times and their ratio.
#   usage: bench/run_streaming_cost.sh [BUILD_DIR] [ROUNDS] [SPEC]
#   default: build/release, 5 rounds, a 4-point shaped-transformer SDE sweep recording 256 layers.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
rounds="${2:-5}"
spec="${3:-}"
work="$(mktemp -d /tmp/sigprop-streaming-XXXXXX)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
if [[ -z "$spec" ]]; then
  spec="$work/sweep.json"
  cat > "$spec" <<'JSON'
{"base": {"model": {"tokens": 8, "width": 256, "depth": 256, "preset": "SHAPED_TRANSFORMER",
                    "initial": {"rho0": 0.2}},
          "samples": 1000, "seed": "7", "method": "SDE"},
 "axes": [{"field": "model.attention.tau0", "values": [0.5, 1, 2, 4]}]}
JSON
fi
port=$(( 20000 + RANDOM % 20000 ))
"$build/server/sigprop-server" --listen "127.0.0.1:$port" --db "$work/jobs.db" --threads 1 \
  > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  "$build/client/sigprop" health --target "127.0.0.1:$port" >/dev/null 2>&1 && break
  sleep 0.1
done

CLI="$build/client/sigprop" SPEC="$spec" TARGET="127.0.0.1:$port" ROUNDS="$rounds" WORK="$work" \
  /usr/bin/python3 - <<'PY'
import os, statistics, subprocess, time
cli, spec, target, rounds, work = (os.environ[k] for k in ("CLI", "SPEC", "TARGET", "ROUNDS", "WORK"))

def timed(args, out):
    start = time.perf_counter()
    subprocess.run([cli, "run", spec, "--quiet", "--format", "jsonl", "--out", out] + args,
                   check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start

embedded, served = [], []
for _ in range(int(rounds)):
    embedded.append(timed(["--threads", "1"], os.path.join(work, "embedded.jsonl")))
    served.append(timed(["--target", target], os.path.join(work, "served.jsonl")))
same = open(os.path.join(work, "embedded.jsonl"), "rb").read() == \
    open(os.path.join(work, "served.jsonl"), "rb").read()
rows = sum(1 for _ in open(os.path.join(work, "served.jsonl")))
e, s = statistics.median(embedded), statistics.median(served)
print(f"{rows} rows streamed; outputs byte-identical: {same}")
print(f"embedded  (sigprop run --threads 1):            {e:7.2f} s  (min {min(embedded):.2f})")
print(f"served    (sigprop-server --threads 1, --target): {s:7.2f} s  (min {min(served):.2f})")
print(f"ratio served / embedded: {s / e:.3f} (goal ≤ 1.2); medians of {rounds} interleaved rounds")
if not same:
    raise SystemExit("the served output differs from the embedded one")
PY
