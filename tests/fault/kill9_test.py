#!/usr/bin/env python3
"""kill -9 the server at seeded random moments of running sweeps, restart it on the same db.

Proves, for real processes on loopback:
  - every acknowledged sweep completes, with results byte-identical to an uninterrupted run
    (`sigprop run` embedded), both as the submitting client wrote them and as `sigprop results`;
    comparisons (`sigprop compare --target`) are sweeps too, and hold the same;
  - every event any watcher saw before a kill is still in the log afterwards, same sequence, same
    bytes (nothing acknowledged is lost);
  - watchers (`sigprop watch --events`, kept running across every kill) reattach by themselves and
    see sequences 1..last with no gap and no duplicate, the same events a fresh watcher reads;
  - the store is never refused as corrupt after a kill, and the server restarts every time.

  kill9_test.py --server PATH --cli PATH [--kills 20] [--seed 1]
SIGPROP_LONG_TESTS=1: 200 kills.
"""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import (  # noqa: E402
    Server, check, cli, compare_spec_text, events_of, free_port, spec_text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--cli", required=True)
    long_run = os.environ.get("SIGPROP_LONG_TESTS") == "1"
    parser.add_argument("--kills", type=int, default=200 if long_run else 20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrent", type=int, default=2, help="sweeps running at once")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="sigprop-kill9-") as tmp:
        db = os.path.join(tmp, "s.db")
        port = free_port()
        # Three distinct sweep specs (seeds) and a comparison; their uninterrupted results come
        # from the embedded run.
        specs, commands, baseline = [], [], []
        for k in range(4):
            path = os.path.join(tmp, f"spec{k}.json")
            command = "compare" if k == 0 else "run"  # The first submitted.
            with open(path, "w") as f:
                # ~0.2 s of work per point on a 2-core machine: kills land mid-point.
                f.write(compare_spec_text(seed=100 + k) if command == "compare" else
                        spec_text(seed=100 + k, samples=160, width=32, depth=16))
            specs.append(path)
            commands.append(command)
            baseline.append(cli(args.cli, command, path, "--format", "jsonl", "--quiet").stdout)

        sweeps = []  # dicts: id, spec index, run process, watch process, files
        kills = 0
        seen_before_kill = {}  # sweep id -> {sequence: line} seen by watchers before some kill
        kill_delays = []

        def start_server():
            server = Server(args.server, db, port=port)
            if server.wait_ready() is None:
                raise AssertionError(f"the server did not restart after {kills} kills: "
                                     f"{server.stderr()}")
            return server

        def submit(server):
            k = len(sweeps) % len(specs)
            out = os.path.join(tmp, f"run{len(sweeps)}.out")
            err = os.path.join(tmp, f"run{len(sweeps)}.err")
            run = subprocess.Popen([args.cli, commands[k], specs[k], "--target", server.target,
                                    "--format", "jsonl", "--quiet", "--out", out],
                                   stderr=open(err, "w"), stdout=subprocess.DEVNULL)
            # Acknowledged once the client printed the id.
            deadline = time.monotonic() + 60
            sweep_id = None
            while sweep_id is None and time.monotonic() < deadline:
                m = re.search(r"sweep (sw-[0-9a-f]+)", open(err).read())
                sweep_id = m.group(1) if m else None
                if sweep_id is None:
                    check(run.poll() is None, f"run exited early: {open(err).read()}")
                    time.sleep(0.02)
            check(sweep_id is not None, "no sweep id from sigprop run")
            events = os.path.join(tmp, f"watch{len(sweeps)}.jsonl")
            watch = subprocess.Popen([args.cli, "watch", sweep_id, "--target", server.target,
                                      "--events"], stdout=open(events, "w"),
                                     stderr=open(events + ".err", "w"))
            # `watch` looks the sweep up once before streaming: let that happen before a kill.
            deadline = time.monotonic() + 30
            while os.path.getsize(events) == 0 and time.monotonic() < deadline:
                check(watch.poll() is None, f"watch exited early: {open(events + '.err').read()}")
                time.sleep(0.02)
            sweeps.append(dict(id=sweep_id, spec=k, run=run, watch=watch, out=out, err=err,
                               events=events))

        def record_seen():
            for s in sweeps:
                got = seen_before_kill.setdefault(s["id"], {})
                text = open(s["events"]).read()
                for seq, line in events_of(text[:text.rfind("\n") + 1]):  # Whole lines only.
                    got[seq] = line

        server = start_server()
        while kills < args.kills:
            running = [s for s in sweeps if s["run"].poll() is None]
            for _ in range(args.concurrent - len(running)):
                submit(server)
            # Kill at a seeded random moment: sometimes before the server is even ready.
            delay = rng.uniform(0.05, 1.5)
            kill_delays.append(delay)
            time.sleep(delay)
            record_seen()
            server.kill9()
            kills += 1
            if rng.random() < 0.25:
                time.sleep(rng.uniform(0.0, 1.0))  # A longer outage: watchers retry meanwhile.
            server = Server(args.server, db, port=port)
            if rng.random() < 0.2:
                # Kill during start-up or recovery, before the port line.
                time.sleep(rng.uniform(0.0, 0.15))
                server.kill9()
                kills += 1
                server = Server(args.server, db, port=port)
            check(server.wait_ready() is not None,
                  f"restart after kill {kills} failed: {server.stderr()}")

        # Let everything finish on the last server.
        for s in sweeps:
            try:
                s["run"].wait(timeout=300)
                s["watch"].wait(timeout=60)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"sweep {s['id']} did not finish after the kills")

        lost = gaps = dups = mismatched = 0
        for s in sweeps:
            check(s["run"].returncode == 0, f"run of {s['id']} exited {s['run'].returncode}: "
                                            f"{open(s['err']).read()}")
            check(s["watch"].returncode == 0, f"watch of {s['id']} exited {s['watch'].returncode}: "
                                              f"{open(s['events'] + '.err').read()}")
            expected = baseline[s["spec"]]
            if open(s["out"]).read() != expected:
                mismatched += 1
            results = cli(args.cli, "results", s["id"], "--target", server.target).stdout
            if results != expected:
                mismatched += 1
            log = events_of(cli(args.cli, "watch", s["id"], "--target", server.target,
                                "--events").stdout)
            log_by_seq = dict(log)
            check([q for q, _ in log] == list(range(1, len(log) + 1)), "stored log has a gap")
            watched = events_of(open(s["events"]).read())
            seqs = [q for q, _ in watched]
            dups += len(seqs) - len(set(seqs))
            gaps += sum(1 for a, b in zip(seqs, seqs[1:]) if b != a + 1) + (seqs[:1] != [1])
            if watched != log:
                mismatched += 1
            for seq, line in seen_before_kill.get(s["id"], {}).items():
                if log_by_seq.get(seq) != line:
                    lost += 1
        status = server.stop()
        check(status == 0, f"final SIGTERM exit status {status}")

        n_events = sum(len(v) for v in seen_before_kill.values())
        print(f"kill9: seed {args.seed}: {kills} kills (delays {min(kill_delays):.2f}-"
              f"{max(kill_delays):.2f} s), {len(sweeps)} sweeps, {n_events} events seen before "
              f"kills; lost {lost}, gaps {gaps}, duplicates {dups}, results differing {mismatched}; "
              f"{time.monotonic() - started:.0f} s")
        check(lost == 0 and gaps == 0 and dups == 0 and mismatched == 0, "FAIL")
        check(kills >= args.kills, "too few kills")
        check(len(sweeps) >= 2, "too few sweeps")
        check(any(commands[s["spec"]] == "compare" for s in sweeps), "no comparison among the sweeps")
    print("PASS")


if __name__ == "__main__":
    main()
