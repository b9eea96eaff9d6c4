#!/usr/bin/env bash
# Submits a sigprop sweep to Slurm as N shard tasks (sweep.sbatch, a job array) and a merge job
# (merge.sbatch, --dependency=afterok on the array), from a login node:
#
#   deploy/slurm/submit-sweep.sh SPEC N OUTDIR [SBATCH_OPTION...]
#
# SBATCH_OPTIONs (--partition=…, --account=…, --time=…, --cpus-per-task=…) go to both sbatch
# calls, after the scripts' own #SBATCH defaults, so they win. OUTDIR must be on a file system the
# compute nodes share; it gets a copy of SPEC (a task rerun later runs the spec the sweep started
# with, whatever happens to the original), shard-I.jsonl per task, logs/, and merged.jsonl once
# the merge job has run. The CLI is $SIGPROP_CLI, else `sigprop` on PATH; it validates SPEC here
# first, and the jobs run the same binary (its path must be the same on the compute nodes).
# Prints each sbatch command, the job ids, where the merged file will appear and how to rerun a
# failed task.
set -euo pipefail

usage() { echo "usage: $0 SPEC N OUTDIR [SBATCH_OPTION...]" >&2; exit 2; }
die() { echo "submit-sweep: $*" >&2; exit 1; }
[ "$#" -ge 3 ] || usage
spec=$1 shards=$2 outdir=$3
shift 3
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$shards'"
here=$(cd "$(dirname "$0")" && pwd)
command -v sbatch >/dev/null || die "no sbatch here: run this on a node that submits Slurm jobs"
cli=$(command -v "${SIGPROP_CLI:-sigprop}") \
  || die "no sigprop CLI '${SIGPROP_CLI:-sigprop}': set SIGPROP_CLI or put sigprop on PATH"
cli=$(realpath "$cli")

[ -f "$spec" ] || die "$spec: no such file"
plan=$("$cli" validate "$spec") || die "$spec does not validate (sigprop validate says why, above)"
mkdir -p "$outdir/logs"
outdir=$(cd "$outdir" && pwd)
# A shard left by another sweep would be merged into this one's result.
for old in "$outdir"/shard-*.jsonl "$outdir/merged.jsonl"; do
  if [ -e "$old" ]; then die "$outdir already holds a sweep's results ($old): give a new OUTDIR"; fi
done
copy="$outdir/$(basename "$spec")"
[ "$(realpath "$spec")" = "$copy" ] || cp "$spec" "$copy"

show() { printf 'submit-sweep: %s\n' "$*"; }
quoted() {  # the words as a shell reads them back, quoted only where they need it
  local word out=""
  for word in "$@"; do
    if [[ "$word" =~ ^[][A-Za-z0-9_./,=:%@+-]+$ ]]; then out+="$word "; else out+="$(printf '%q' "$word") "; fi
  done
  printf '%s' "${out% }"
}
show "$plan; $shards shards"
args=("$copy" "$shards" "$outdir")
env="--export=ALL,SIGPROP_CLI=$cli,SIGPROP_SLURM_DIR=$here"
sweep_cmd=(sbatch --parsable "$env" --array=0-$((shards - 1)) --output="$outdir/logs/sweep-%A_%a.out"
           "$@" "$here/sweep.sbatch" "${args[@]}")
show "$(quoted "${sweep_cmd[@]}")"
array_job=$("${sweep_cmd[@]}")
array_job=${array_job%%;*}
show "shards: job $array_job, tasks 0-$((shards - 1)) -> $outdir/shard-I.jsonl"

merge_cmd=(sbatch --parsable "$env" --dependency=afterok:"$array_job" --output="$outdir/logs/merge-%j.out"
           "$@" "$here/merge.sbatch" "${args[@]}")
show "$(quoted "${merge_cmd[@]}")"
merge_job=$("${merge_cmd[@]}") || { scancel "$array_job"; die "merge job not submitted; cancelled job $array_job"; }
merge_job=${merge_job%%;*}
show "merge: job $merge_job -> $outdir/merged.jsonl once every task has succeeded"
show "a task K that fails keeps job $merge_job pending (DependencyNeverSatisfied); rerun it alone, then point the merge at the rerun:"
show "  $(quoted sbatch --parsable "$env" --array=K --output="$outdir/logs/sweep-%A_%a.out" "$@" "$here/sweep.sbatch" "${args[@]}")"
show "  scontrol update JobId=$merge_job Dependency=afterok:<that job>"
