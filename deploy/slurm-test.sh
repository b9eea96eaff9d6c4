#!/usr/bin/env bash
# Runs the Slurm deployment (deploy/slurm/) on a one-node Slurm cluster started on this machine by
# hand (no systemd) and checks it end to end:
#   1. Slurm 22.05 and munge from Debian's packages (installed with apt where missing); munged,
#      slurmctld -D and slurmd -D on a one-node slurm.conf whose every path is in a temp dir;
#   2. submit-sweep.sh runs the demo sweep as a 3-task array plus the afterok merge job; the merged
#      file equals the unsharded embedded run byte for byte;
#   3. a sweep whose task 1 fails once: the merge job waits (DependencyNeverSatisfied), a merge run
#      meanwhile refuses naming shard 1, task 1 rerun alone (sbatch --array=1) and the waiting merge
#      pointed at it (scontrol update … Dependency=afterok:…) give the same bytes again;
#   4. server.sbatch: the server job writes its address, the demo sweep sent to it with
#      --target $(cat DIR/address) and the job's token gives the same bytes, scancel stops it
#      cleanly (exit 0, address removed);
#   5. every daemon it started is stopped, and no process of the test is left.
# It prints the sbatch commands and the job ids it ran. Exit status: 0 passed, 1 failed, 77
# skipped (reason printed): not root and no sudo, or munge cannot run here. Under CI=true a
# missing prerequisite CI has (root, apt) is a failure, not a skip. About 1 minute once installed.
#
# apt may enable the packages' own services where systemd runs; this script neither uses nor stops
# them (its daemons use their own ports, munge socket and key). Environment:
#   SIGPROP_CLI      sigprop binary (default: build/release/client/sigprop)
#   SIGPROP_SERVER   sigprop-server binary (default: build/release/server/sigprop-server)
#   (both built with the release preset when missing and not given)
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
log() { printf '[slurm-test %4ds] %s\n' "$(( $(date +%s) - started ))" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
skip() { log "SKIP: $*"; exit 77; }
# What CI's machines have (root, Debian's mirror) missing there is a failure, elsewhere a skip.
missing_prerequisite() {
  if [ "${CI:-}" = "true" ]; then fail "$*"; fi
  skip "$*"
}

# slurmd runs jobs as their users and so runs as root; munged, slurmctld and slurmd are started by
# hand, so the whole test runs as root.
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then
    exec sudo -n env CI="${CI:-}" SIGPROP_CLI="${SIGPROP_CLI:-}" SIGPROP_SERVER="${SIGPROP_SERVER:-}" \
      PATH="$PATH" bash "$0" "$@"
  fi
  missing_prerequisite "not root and no password-less sudo: slurmd must run as root"
fi

# --- packages ------------------------------------------------------------------------------------
packages=(munge slurmctld slurmd slurm-client)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq || missing_prerequisite "apt-get update failed; cannot install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null || missing_prerequisite "cannot install ${missing[*]}"
fi
log "$(slurmctld -V), munge $(dpkg-query -W -f='${Version}' munge)"

# --- sigprop -------------------------------------------------------------------------------------
cli=${SIGPROP_CLI:-build/release/client/sigprop}
server=${SIGPROP_SERVER:-build/release/server/sigprop-server}
for binary in "$cli" "$server"; do
  if [ ! -x "$binary" ]; then
    case "$binary" in
      build/release/*) ;;
      *) fail "$binary is not an executable" ;;
    esac
    log "building $(basename "$binary") with the release preset"
    cmake --preset release >/dev/null
    cmake --build --preset release --target "$(basename "$binary")"
  fi
done
cli=$(realpath "$cli")
server=$(realpath "$server")

# --- cluster -------------------------------------------------------------------------------------
work=$(mktemp -d /tmp/sigprop-slurm-test.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/munge" "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"
daemons=()  # "name pid" of every daemon started here

stop_daemon() {  # name pid: SIGTERM, then SIGKILL after 20 s
  local name=$1 pid=$2
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIGTERM for 20 s; SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}
stop_cluster() {
  if [ -f "$SLURM_CONF" ] && [ "${#daemons[@]}" -gt 2 ]; then
    # Jobs first: their processes belong to slurmd's job steps.
    local jobs
    jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      for _ in $(seq 1 100); do
        [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  local i
  for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
    # shellcheck disable=SC2086
    stop_daemon ${daemons[i]}
  done
  daemons=()
}
leftovers() {  # processes whose command line names this test's directory: a job's, left behind
  pgrep -f "$work" || true
}
cleanup() {
  stop_cluster
  local pid
  for pid in $(leftovers); do stop_daemon "leftover process" "$pid"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
host=$(hostname -s)
# The node as slurmd itself sees it; a node configured with more CPUs than it has is invalid.
cpus=$(slurmd -C 2>/dev/null | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -n 1)
[ -n "$cpus" ] || skip "slurmd -C cannot describe this node: $(slurmd -C 2>&1 | tail -n 1)"
ctld_port=$(free_port)
slurmd_port=$(free_port)
cat >"$SLURM_CONF" <<EOF
# One node, no accounting, nothing outside $work (written by deploy/slurm-test.sh).
ClusterName=sigproptest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

log "munged (socket $work/munge/munge.socket)"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --foreground --force --socket="$work/munge/munge.socket" --key-file="$work/munge/munge.key" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" \
  --seed-file="$work/munge/munged.seed" >"$work/munge/munged.out" 2>&1 &
daemons+=("munged $!")
for _ in $(seq 1 50); do
  [ -S "$work/munge/munge.socket" ] && break
  kill -0 "$!" 2>/dev/null || break
  sleep 0.1
done
if ! munge -n -S "$work/munge/munge.socket" | unmunge -S "$work/munge/munge.socket" >/dev/null 2>&1; then
  cat "$work/munge/munged.out" "$work/munge/munged.log" 2>/dev/null | tail -n 5
  skip "munged cannot run here (its last words above)"
fi

log "slurmctld -D, slurmd -D: node $host, $cpus CPUs, ports $ctld_port/$slurmd_port, state in $work"
slurmctld -D -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
daemons+=("slurmctld $!")
slurmd -D -f "$SLURM_CONF" -N "$host" >"$work/slurmd.out" 2>&1 &
daemons+=("slurmd $!")
node_state=""
for _ in $(seq 1 60); do
  node_state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  [ "$node_state" = idle ] && break
  sleep 0.5
done
if [ "$node_state" != idle ]; then
  tail -n 20 "$work/slurmctld.log" "$work/slurmd.log" "$work/slurmctld.out" "$work/slurmd.out" 2>/dev/null
  fail "node $host is '${node_state:-unknown}', not idle, 30 s after starting slurmctld and slurmd"
fi
log "node $host idle: $(sinfo -h -o '%P %a %D %c %T')"

# --- helpers -------------------------------------------------------------------------------------
job_field() {  # JOBID FIELD: the field of each of the job's records (an array's: one per task)
  scontrol -o show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
wait_ended() {  # JOBID SECONDS: until every record of the job is in a final state
  local id=$1 limit=$2 states
  for _ in $(seq 1 $((limit * 5))); do
    states=$(job_field "$id" JobState | sort -u | tr '\n' ' ')
    if ! printf '%s' "$states" | grep -Eq 'PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|REQUEUE|RESIZING'; then
      return 0
    fi
    sleep 0.2
  done
  scontrol -o show job "$id"
  fail "job $id not finished within $limit s (states: $states)"
}
expect_state() {  # JOBID STATE: every record of the job
  local states log
  states=$(job_field "$1" JobState | sort -u | tr '\n' ' ')
  if [ "$states" != "$2 " ]; then
    for log in $(job_field "$1" StdOut | sort -u); do
      printf '%s:\n' "$log"
      tail -n 10 "$log" 2>/dev/null | sed 's/^/    /'
    done
    fail "job $1 is '${states% }', expected $2"
  fi
}
submit() {  # sbatch ARGS…: logs the command, prints the job id
  printf '[slurm-test %4ds] sbatch %s\n' "$(( $(date +%s) - started ))" "$*" >&2
  local id
  id=$(sbatch --parsable "$@") || fail "sbatch $*"
  printf '%s\n' "${id%%;*}"
}
field() {  # KEY TEXT: the job id after "KEY: job " in submit-sweep.sh's output
  printf '%s\n' "$2" | sed -n "s/^submit-sweep: $1: job \([0-9]*\).*/\1/p"
}

spec=examples/demo.json
"$cli" run "$spec" --quiet --out "$work/unsharded.jsonl"
log "unsharded embedded run: $(wc -l <"$work/unsharded.jsonl") lines, sha256 $(sha256sum <"$work/unsharded.jsonl" | cut -c1-16)…"

# --- the demo sweep: 3 tasks and the merge ----------------------------------------------------------
# Submits the demo sweep as 3 tasks plus the merge with the CLI $1 into $2 ($3: a note for the
# log), prints the wrapper's output and sets array_job and merge_job from it.
submit_demo_sweep() {
  log "deploy/slurm/submit-sweep.sh $spec 3 $2 --cpus-per-task=1${3:+, $3}"
  out=$(SIGPROP_CLI="$1" deploy/slurm/submit-sweep.sh "$spec" 3 "$2" --cpus-per-task=1) \
    || fail "submit-sweep.sh"
  printf '%s\n' "$out"
  array_job=$(field shards "$out")
  merge_job=$(field merge "$out")
  if [ -z "$array_job" ] || [ -z "$merge_job" ]; then fail "no job ids in submit-sweep.sh's output"; fi
}
t0=$(date +%s)
submit_demo_sweep "$cli" "$work/sweep"
wait_ended "$merge_job" 120
expect_state "$array_job" COMPLETED
expect_state "$merge_job" COMPLETED
cmp "$work/sweep/merged.jsonl" "$work/unsharded.jsonl" || fail "merged sweep differs from the unsharded run"
log "array job $array_job (3 tasks) and merge job $merge_job COMPLETED in $(( $(date +%s) - t0 )) s; merged.jsonl identical to the unsharded run"
tail -n 1 "$work/sweep/logs/merge-$merge_job.out" | sed 's/^/    /'

# --- a task that fails once, rerun alone -----------------------------------------------------------
# A CLI that fails task 1 the first time it runs (a node lost, a disk full), then is sigprop.
flaky="$work/flaky-sigprop"
touch "$work/fail-task-1-once"
printf '#!/bin/bash\nif [ "${SLURM_ARRAY_TASK_ID:-}" = 1 ] && rm %q 2>/dev/null; then\n  echo "flaky-sigprop: task 1 fails (once)" >&2; exit 1\nfi\nexec %q "$@"\n' \
  "$work/fail-task-1-once" "$cli" >"$flaky"
chmod +x "$flaky"
t0=$(date +%s)
submit_demo_sweep "$flaky" "$work/rerun" "with task 1 failing once"
wait_ended "$array_job" 120
for task in 0 2; do expect_state "${array_job}_$task" COMPLETED; done
expect_state "${array_job}_1" FAILED
[ ! -e "$work/rerun/shard-1.jsonl" ] || fail "failed task 1 left a shard file"
reason=""
for _ in $(seq 1 50); do
  reason=$(job_field "$merge_job" Reason)
  [ "$reason" = DependencyNeverSatisfied ] && break
  sleep 0.2
done
expect_state "$merge_job" PENDING
[ "$reason" = DependencyNeverSatisfied ] || fail "merge job $merge_job waits for '$reason', not DependencyNeverSatisfied"
log "task ${array_job}_1 FAILED, tasks 0 and 2 COMPLETED; merge job $merge_job PENDING ($reason)"

copy="$work/rerun/$(basename "$spec")"
early=$(submit --export=ALL,SIGPROP_CLI="$cli" --output="$work/rerun/logs/merge-early-%j.out" \
  deploy/slurm/merge.sbatch "$copy" 3 "$work/rerun")
wait_ended "$early" 60
expect_state "$early" FAILED
grep -q "shard 1 of 3 is missing" "$work/rerun/logs/merge-early-$early.out" \
  || { cat "$work/rerun/logs/merge-early-$early.out"; fail "merge job $early did not name the missing shard 1"; }
[ ! -e "$work/rerun/merged.jsonl" ] || fail "merge job $early wrote merged.jsonl with shard 1 missing"
log "merge job $early without shard 1 FAILED, saying:"
sed 's/^/    /' "$work/rerun/logs/merge-early-$early.out"

rerun=$(submit --export=ALL,SIGPROP_CLI="$flaky" --array=1 --cpus-per-task=1 \
  --output="$work/rerun/logs/sweep-%A_%a.out" deploy/slurm/sweep.sbatch "$copy" 3 "$work/rerun")
log "scontrol update JobId=$merge_job Dependency=afterok:$rerun"
scontrol update JobId="$merge_job" Dependency="afterok:$rerun" || fail "scontrol update of job $merge_job"
wait_ended "$merge_job" 120
expect_state "$rerun" COMPLETED
expect_state "$merge_job" COMPLETED
cmp "$work/rerun/merged.jsonl" "$work/unsharded.jsonl" || fail "merge after the rerun differs from the unsharded run"
log "rerun job $rerun (task 1) COMPLETED, merge job $merge_job COMPLETED after it, $(( $(date +%s) - t0 )) s in all; merged.jsonl identical to the unsharded run"

# --- the server as a job -------------------------------------------------------------------------
t0=$(date +%s)
server_job=$(SIGPROP_SERVER="$server" submit --cpus-per-task=1 --output="$work/server-%j.out" \
  deploy/slurm/server.sbatch "$work/server")
for _ in $(seq 1 300); do
  [ -s "$work/server/address" ] && break
  [ -z "$(squeue -h -j "$server_job" 2>/dev/null)" ] && break
  sleep 0.2
done
[ -s "$work/server/address" ] || { cat "$work/server-$server_job.out"; fail "server job $server_job wrote no address"; }
address=$(cat "$work/server/address")
log "server job $server_job listening on $address after $(( $(date +%s) - t0 )) s"
if "$cli" list --target "$address" >/dev/null 2>&1; then fail "the server job serves a client without a token"; fi
"$cli" run --target "$(cat "$work/server/address")" --token-file "$work/server/token" "$spec" \
  --quiet --out "$work/remote.jsonl" 2>"$work/remote.err" || { cat "$work/remote.err"; fail "sigprop run --target $address"; }
cmp "$work/remote.jsonl" "$work/unsharded.jsonl" || fail "the server job's results differ from the unsharded run"
log "sigprop run --target \$(cat $work/server/address) --token-file …: identical to the unsharded run"
log "scancel $server_job"
scancel "$server_job"
wait_ended "$server_job" 60
if ! grep -q 'sigprop-server: stopped' "$work/server-$server_job.out" \
  || ! grep -q 'sigprop-server exited 0' "$work/server-$server_job.out"; then
  cat "$work/server-$server_job.out"
  fail "server job $server_job did not stop cleanly"
fi
[ ! -e "$work/server/address" ] || fail "server job $server_job left its address file"
log "server job $server_job $(job_field "$server_job" JobState): sigprop-server stopped, exit 0, address removed"

# --- nothing left behind -------------------------------------------------------------------------
pids=()
for entry in "${daemons[@]}"; do pids+=("${entry#* }"); done
stop_cluster
for pid in "${pids[@]}"; do
  if kill -0 "$pid" 2>/dev/null; then fail "daemon pid $pid still running"; fi
done
left=$(leftovers)
if [ -n "$left" ]; then
  ps -o pid,args -p "${left//$'\n'/,}"
  fail "processes of the test left running"
fi
log "munged, slurmctld, slurmd stopped; no process of the test left"
log "PASS in $(( $(date +%s) - started )) s"
