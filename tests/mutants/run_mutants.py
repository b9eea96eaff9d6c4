#!/usr/bin/env python3
"""Plants each mutant of catalog.py, rebuilds what it reaches, runs the tests that should kill it.

  run_mutants.py --in-place [--build build/release] [--only ID,ID] [--rotate N [--seed S]]
  run_mutants.py --check      # every mutant's text is found exactly once; nothing is built
  run_mutants.py --list

--in-place edits the checkout it runs in, one file at a time, and always restores it (the file's
bytes are kept in memory and written back, then its targets rebuilt), so run it in a scratch copy:
CI's fresh clone is one; on a workstation, `git worktree add ../sigprop-mutants` and build there.
A file with uncommitted changes is refused. Prints one line per mutant — KILLED, SURVIVED, or
STILLBORN (the mutant does not compile: it proves nothing) — and exits 1 if any survived.
--rotate N runs N mutants chosen by --seed (default: the day number), so that CI runs a different
handful each day and all of them over a month.
"""
import argparse
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from catalog import MUTANTS  # noqa: E402


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def check_catalog():
    problems = []
    ids = set()
    for m in MUTANTS:
        if m["id"] in ids:
            problems.append(f"{m['id']}: duplicate id")
        ids.add(m["id"])
        count = read(m["file"]).count(m["find"])
        if count != 1:
            problems.append(f"{m['id']}: its text occurs {count} times in {m['file']}")
    return problems


def uncommitted(path):
    r = subprocess.run(["git", "status", "--porcelain", "--", path], cwd=ROOT,
                       capture_output=True, text=True)
    return r.returncode != 0 or r.stdout.strip() != ""


def build(build_dir, targets):
    if not targets:
        return True
    r = subprocess.run(["ninja", "-C", build_dir, *targets], capture_output=True, text=True)
    return r.returncode == 0


def run_tests(build_dir, regex):
    r = subprocess.run(["ctest", "--test-dir", build_dir, "-R", regex, "--timeout", "300",
                        "--no-tests=error"], capture_output=True, text=True)
    return r.returncode == 0, r.stdout


def plant(m, build_dir):
    path = os.path.join(ROOT, m["file"])
    original = read(m["file"])
    started = time.monotonic()
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(original.replace(m["find"], m["replace"], 1))
        if not build(build_dir, m["build"]):
            verdict = "STILLBORN"
        else:
            passed, _ = run_tests(build_dir, m["tests"])
            verdict = "SURVIVED" if passed else "KILLED"
    finally:
        with open(path, "w", encoding="utf-8") as f:
            f.write(original)
        build(build_dir, m["build"])
    return verdict, time.monotonic() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--in-place", action="store_true")
    parser.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    parser.add_argument("--only", default="")
    parser.add_argument("--rotate", type=int, default=0)
    parser.add_argument("--seed", type=int, default=int(time.time() // 86400))
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()

    problems = check_catalog()
    if problems:
        print("catalog problems:\n  " + "\n  ".join(problems))
        return 2
    if args.list or args.check:
        for m in MUTANTS:
            print(f"{m['id']:40s} {m['file']}: {m['breaks']}")
        print(f"{len(MUTANTS)} mutants, each found exactly once")
        return 0
    if not args.in_place:
        print("run_mutants: edits the checkout; pass --in-place in a scratch copy (see --help)")
        return 2

    chosen = MUTANTS
    if args.only:
        wanted = set(args.only.split(","))
        chosen = [m for m in MUTANTS if m["id"] in wanted]
        missing = wanted - {m["id"] for m in chosen}
        if missing:
            print(f"unknown mutants: {sorted(missing)}")
            return 2
    elif args.rotate:
        chosen = random.Random(args.seed).sample(MUTANTS, min(args.rotate, len(MUTANTS)))
        print(f"rotation: seed {args.seed}, {len(chosen)} of {len(MUTANTS)} mutants")

    dirty = sorted({m["file"] for m in chosen if uncommitted(m["file"])})
    if dirty:
        print(f"run_mutants: uncommitted changes in {dirty}; commit or use a scratch copy")
        return 2

    survived = 0
    for m in chosen:
        verdict, seconds = plant(m, args.build)
        survived += verdict == "SURVIVED"
        print(f"{verdict:9s} {m['id']:40s} {seconds:5.0f} s  {m['breaks']}", flush=True)
    print(f"{len(chosen) - survived} of {len(chosen)} killed or stillborn, {survived} survived")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
