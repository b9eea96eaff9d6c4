#!/usr/bin/env python3
"""Every sigprop-server flag and every sigprop command, run through the real binaries.

A server with TLS (a certificate made here with openssl for 127.0.0.1), bearer tokens and every
limit flag; the CLI with --tls-ca and --token-file through each command; the Python client's
tls_ca; --insecure, --max-queued-points and --max-active-sweeps-per-user on servers of their own.
Each case checks what the flag does (a refusal names the limit, a result equals the embedded
run's bytes) and the exit status: 0 success, 1 runtime failure, 2 bad input or refusal.

  binaries_test.py --server PATH --cli PATH --build DIR
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fault"))
from faultlib import Server, check  # noqa: E402

ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789ab"


def sweep_spec(points, samples=8, width=8, depth=4, extra=None):
    base = {"model": {"tokens": 3, "width": width, "depth": depth, "initial": {"rho0": 0.2}},
            "samples": samples, "seed": "11"}
    base.update(extra or {})
    return {"name": f"binaries {points}", "base": base,
            "axes": [{"field": "model.attention.tau0",
                      "values": [0.5 + 0.25 * k for k in range(points)]}]}


COMPARISON = {"name": "binaries comparison",
              "base": {"a": {"model": {"tokens": 3, "width": 8, "depth": 4}, "method": "DENSE",
                             "samples": 30, "seed": "1"},
                       "b": {"model": {"tokens": 3, "width": 8, "depth": 4}, "method": "COLUMNS",
                             "samples": 30, "seed": "1"}}}


class Run:
    def __init__(self, cli, tmp):
        self.cli, self.tmp = cli, tmp
        self.commands = set()

    def __call__(self, *args, expect=0, stdin=None):
        self.commands.add(args[0])
        r = subprocess.run([self.cli, *args], capture_output=True, text=True, timeout=300,
                           input=stdin)
        check(r.returncode == expect,
              f"sigprop {' '.join(args)}: exit {r.returncode}, expected {expect}: {r.stderr}")
        return r

    def file(self, name, document):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(json.dumps(document))
        return path


def make_certificate(tmp):
    cert, key = os.path.join(tmp, "server.crt"), os.path.join(tmp, "server.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def secured_server(args, tmp, run):
    cert, key = make_certificate(tmp)
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write(f"{ALICE} alice\n{BOB} bob\n")
    alice, bob = os.path.join(tmp, "alice.token"), os.path.join(tmp, "bob.token")
    for path, token in ((alice, ALICE), (bob, BOB)):
        with open(path, "w") as f:
            f.write(token + "\n")
    server = Server(args.server, os.path.join(tmp, "tls.db"), threads=1, extra=(
        "--tls-cert", cert, "--tls-key", key, "--tokens", tokens, "--max-points", "5",
        "--max-cost", "1e9", "--max-sample-memory", "1000000", "--watch-stall-limit", "5",
        "--grace", "1"))
    check(server.wait_ready() is not None, f"TLS server did not start: {server.stderr()}")
    target = server.target
    as_alice = ["--target", target, "--tls-ca", cert, "--token-file", alice]
    as_bob = ["--target", target, "--tls-ca", cert, "--token-file", bob]

    check(run("health", *as_alice).stdout == "SERVING\n", "health over TLS")
    # Plaintext to a TLS port cannot connect (a runtime failure); no token is refused (bad input).
    r = run("health", "--target", target, expect=1)
    check(target in r.stderr, f"an unreachable (plaintext) server is named: {r.stderr}")
    r = run("list", "--target", target, "--tls-ca", cert, expect=2)
    check("token" in r.stderr, f"a missing token is named: {r.stderr}")

    # run over TLS with a token: the same bytes as the embedded run, in every format.
    spec = run.file("three.json", sweep_spec(3))
    for fmt in ("jsonl", "csv", "table"):
        out = os.path.join(tmp, f"remote.{fmt}")
        run("run", spec, *as_alice, "--format", fmt, "--out", out, "--patience", "30", "--progress")
        embedded = run("run", spec, "--format", fmt, "--threads", "1", "--quiet").stdout
        check(open(out).read() == embedded, f"remote {fmt} differs from the embedded run")

    # Every limit flag, as the server's plan applies it (validate --target) and at submission.
    r = run("validate", run.file("six.json", sweep_spec(6)), *as_alice, expect=2)
    check("over the limit 5" in r.stderr, f"--max-points: {r.stderr}")
    costly = run.file("costly.json", sweep_spec(1, samples=1000, width=256, depth=64,
                                                extra={"method": "DENSE"}))
    r = run("run", costly, *as_alice, expect=2)
    check("exceeds the budget 1e+09" in r.stderr, f"--max-cost: {r.stderr}")
    heavy = run.file("heavy.json", sweep_spec(1, width=512, depth=64, extra={"gradients": True}))
    r = run("validate", heavy, *as_alice, expect=2)
    check(".gradients" in r.stderr and "MiB" in r.stderr, f"--max-sample-memory: {r.stderr}")
    r = run("validate", "--plan", spec, *as_alice)
    check("checked by " + target in r.stdout and "limit 1e+09" in r.stdout,
          f"validate --plan --target states the server's limit: {r.stdout}")

    # A detached sweep: get, another user's refusal, results, a finished watch.
    r = run("run", spec, *as_alice, "--detach")
    sweep_id = re.search(r"sweep (sw-[0-9a-f]+)", r.stderr).group(1)
    watched = run("watch", sweep_id, *as_alice, "--format", "jsonl").stdout
    check(watched == run("run", spec, "--quiet").stdout, "watch of a detached sweep")
    got = json.loads(run("get", sweep_id, *as_alice).stdout)
    check(got["owner"] == "alice" and got["state"] == "SUCCEEDED", f"get: {got}")
    r = run("get", sweep_id, *as_bob, expect=2)
    check("another user" in r.stderr, f"bob may not read alice's sweep: {r.stderr}")
    run("cancel", sweep_id, *as_bob, expect=2)
    listed = run("list", *as_bob).stdout
    check(sweep_id not in listed, "bob's list shows only bob's sweeps")
    out = os.path.join(tmp, "results.table")
    run("results", sweep_id, *as_alice, "--format", "table", "--out", out)
    check(open(out).read() == run("run", spec, "--quiet", "--format", "table").stdout,
          "results --format table --out")

    # Cancel: a cancelled sweep's watch is a failure (exit 1), not a success.
    slow = run.file("slow.json", sweep_spec(2, samples=400, width=96, depth=32,
                                            extra={"method": "DENSE"}))
    r = run("run", slow, *as_alice, "--detach")
    slow_id = re.search(r"sweep (sw-[0-9a-f]+)", r.stderr).group(1)
    check(run("cancel", slow_id, *as_alice).stdout == f"cancelled {slow_id}\n", "cancel")
    r = run("watch", slow_id, *as_alice, "--events", expect=1)
    check('"CANCELLED"' in r.stdout, "the watched log ends CANCELLED")

    # A comparison over TLS, detached and watched to a file.
    comparison = run.file("comparison.json", COMPARISON)
    r = run("compare", comparison, *as_alice, "--detach")
    compare_id = re.search(r"sweep (sw-[0-9a-f]+)", r.stderr).group(1)
    out = os.path.join(tmp, "comparison.jsonl")
    run("watch", compare_id, *as_alice, "--out", out)
    check(open(out).read() == run("compare", comparison, "--quiet").stdout,
          "a remote comparison's rows equal the embedded ones")

    # The Python client with tls_ca and a token.
    sys.path.insert(0, os.path.join(HERE, "..", "..", "client", "python"))
    os.environ["SIGPROP_BUILD_DIR"] = args.build
    import sigprop  # noqa: E402
    with sigprop.Client(target, token=ALICE, tls_ca=cert) as client:
        ids = {s.sweep_id for s in client.list()}
        check({sweep_id, slow_id, compare_id} <= ids, "the Python client over TLS lists them")
        check(client.sweep(compare_id).state() == "SUCCEEDED", "Python: the comparison")
    check(server.stop() == 0, "SIGTERM: exit 0")


def queue_and_active_limits(args, tmp, run):
    server = Server(args.server, os.path.join(tmp, "limits.db"), threads=1, extra=(
        "--max-queued-points", "3", "--max-active-sweeps-per-user", "1"))
    check(server.wait_ready() is not None, f"limits server did not start: {server.stderr()}")
    target = ["--target", server.target]
    r = run("run", run.file("four.json", sweep_spec(4)), *target, expect=2)
    check("max_queued_points=3" in r.stderr, f"--max-queued-points: {r.stderr}")
    slow = run.file("slow1.json", sweep_spec(1, samples=400, width=96, depth=32,
                                             extra={"method": "DENSE"}))
    r = run("run", slow, *target, "--detach")
    slow_id = re.search(r"sweep (sw-[0-9a-f]+)", r.stderr).group(1)
    r = run("run", run.file("one.json", sweep_spec(1)), *target, expect=2)
    check("--max-active-sweeps-per-user=1" in r.stderr, f"--max-active-sweeps-per-user: {r.stderr}")
    run("cancel", slow_id, *target)
    check(server.stop() == 0, "SIGTERM: exit 0")


def ctrl_c_at_a_terminal(args, tmp, run):
    """Ctrl-C on `run --target` with a terminal: the CLI asks; "n" keeps the sweep running."""
    import pty
    import select
    import signal
    import time
    server = Server(args.server, os.path.join(tmp, "tty.db"), threads=1)
    check(server.wait_ready() is not None, f"server did not start: {server.stderr()}")
    slow = run.file("tty.json", sweep_spec(1, samples=400, width=96, depth=32,
                                           extra={"method": "DENSE"}))
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(args.cli, [args.cli, "run", slow, "--target", server.target, "--quiet"])
    seen = ""

    def read_until(text, seconds=60):
        nonlocal seen
        deadline = time.monotonic() + seconds
        while text not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(fd, 4096).decode(errors="replace")
                except OSError:
                    break
        check(text in seen, f"the CLI at a terminal never printed {text!r}: {seen!r}")

    read_until("reattach with")
    sweep_id = re.search(r"sweep (sw-[0-9a-f]+)", seen).group(1)
    os.kill(pid, signal.SIGINT)
    read_until("[y/N]")
    os.write(fd, b"n\n")
    read_until("keeps running")
    _, status = os.waitpid(pid, 0)
    check(os.WEXITSTATUS(status) == 130, f"interrupted run exits 130, got {status}")
    state = json.loads(run("get", sweep_id, "--target", server.target).stdout)["state"]
    check(state in ("QUEUED", "RUNNING", "SUCCEEDED"), f"answering n kept the sweep: {state}")
    run("cancel", sweep_id, "--target", server.target)
    check(server.stop() == 0, "SIGTERM: exit 0")


def insecure_listen(args, tmp):
    db = os.path.join(tmp, "open.db")
    refused = subprocess.run([args.server, "--listen", "0.0.0.0:0", "--db", db],
                             capture_output=True, text=True, timeout=60)
    check(refused.returncode == 2 and "--insecure" in refused.stderr,
          f"a non-loopback --listen without --tokens is refused naming --insecure: {refused.stderr}")
    server = subprocess.Popen([args.server, "--listen", "0.0.0.0:0", "--db", db, "--insecure"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    check(re.match(r"sigprop-server listening on 0\.0\.0\.0:(\d+) \(port \1\)", line) is not None,
          f"--insecure starts and prints the bound address: {line!r}")
    server.terminate()
    check(server.wait(timeout=30) == 0, "SIGTERM: exit 0")


def one_server_per_port(args, tmp):
    """A second server on a port already served is refused; gRPC's default SO_REUSEPORT let it
    start and take half the connections (into another job store)."""
    first = subprocess.Popen([args.server, "--listen", "127.0.0.1:0", "--db",
                              os.path.join(tmp, "first.db")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = first.stdout.readline()
    match = re.match(r"sigprop-server listening on 127\.0\.0\.1:\d+ \(port (\d+)\)", line)
    check(match is not None, f"the first server prints its port: {line!r}")
    address = f"127.0.0.1:{match.group(1)}"
    second = subprocess.Popen([args.server, "--listen", address, "--db",
                               os.path.join(tmp, "second.db")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = second.communicate(timeout=20)  # A refusal comes at once; a server stays up.
    except subprocess.TimeoutExpired:
        second.kill()
        second.communicate()
        check(False, f"a second server started on {address}, the port of the first")
    check(second.returncode == 2 and f"--listen: cannot listen on {address}" in err,
          f"a second server on {address} is refused naming --listen: exit {second.returncode}, "
          f"{err[-300:]}")
    health = subprocess.run([args.cli, "health", "--target", address], capture_output=True,
                            text=True, timeout=60)
    check(health.returncode == 0, f"the first server still serves: {health.stderr}")
    first.terminate()
    check(first.wait(timeout=30) == 0, "SIGTERM: exit 0")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--cli", required=True)
    parser.add_argument("--build", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sigprop-binaries-") as tmp:
        run = Run(args.cli, tmp)
        secured_server(args, tmp, run)
        queue_and_active_limits(args, tmp, run)
        ctrl_c_at_a_terminal(args, tmp, run)
        insecure_listen(args, tmp)
        one_server_per_port(args, tmp)
        # merge is exercised by the scale-out tests (tests/deploy); every other command ran here.
        missing = {"run", "compare", "validate", "watch", "list", "get", "cancel", "results",
                   "health"} - run.commands
        check(not missing, f"commands never run: {sorted(missing)}")
    print("PASS")


if __name__ == "__main__":
    main()
