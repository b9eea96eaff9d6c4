"""Shared pieces of the fault tests: real sigprop-server and sigprop processes on loopback."""
import json
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    """A loopback port nobody listens on now, for a server that restarts on it after every kill.

    Drawn below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768–60999 on
    Debian): the servers of other tests running beside this one (ctest -j) listen on port 0 and
    get ephemeral ports, so while this test's server is down one of them could otherwise take its
    port, and the restart would fail (or, before the server turned SO_REUSEPORT off, share it).
    """
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        port = rng.randrange(10000, min(ephemeral_low, 32768))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def spec_text(seed, samples=60, width=24, depth=12, points=("PAPER_A_STANDARD", "SHAPED_TRANSFORMER",
                                                            "PAPER_A_SCALED")):
    return json.dumps({
        "name": f"fault test {seed}",
        "base": {"model": {"tokens": 4, "width": width, "depth": depth, "initial": {"rho0": 0.2}},
                 "method": "DENSE", "samples": samples, "seed": str(seed)},
        "axes": [{"field": "model.preset", "values": list(points)},
                 {"field": "model.attention.tau0", "values": [1.0, 2.0]}],
    })


def compare_spec_text(seed, samples=120, width=32, depth=16):
    """A comparison sweep (DENSE against COLUMNS over the preset) of about the work of spec_text."""
    run = {"model": {"tokens": 4, "width": width, "depth": depth, "initial": {"rho0": 0.2}},
           "samples": samples, "seed": str(seed)}
    return json.dumps({
        "name": f"fault comparison {seed}",
        "base": {"a": dict(run, method="DENSE"), "b": dict(run, method="COLUMNS"),
                 "statistics": ["rho12", "v11"], "times": [0.25, 0.5]},
        "axes": [{"field": "model.preset", "values": ["PAPER_A_STANDARD", "SHAPED_TRANSFORMER"]},
                 {"field": "b.model.attention.tau0", "values": [1.0, 2.0]}],
    })


class Server:
    """One sigprop-server process; `port=None` lets it pick (read from its '(port N)' line)."""

    def __init__(self, binary, db, port=None, threads=2, extra=(), preexec_fn=None):
        self.listen = f"127.0.0.1:{port if port else 0}"
        args = [binary, "--listen", self.listen, "--db", db, "--threads", str(threads),
                "--grace", "2", *extra]
        # stderr to a file: a pipe nobody reads could fill and stall the server.
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     preexec_fn=preexec_fn)
        self.port = port

    def wait_ready(self, timeout=20.0):
        """Returns the port once the server printed it, or None if it exited first."""
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                return None
            m = re.search(r"\(port (\d+)\)", line)
            if m:
                self.port = int(m.group(1))
                return self.port
        return None

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=30):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9

    def stderr(self):
        self.err.seek(0)
        return self.err.read()


def cli(binary, *args, timeout=120, check=True):
    r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"sigprop {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def events_of(jsonl):
    """(sequence, line) for each event line that `sigprop watch --events` printed."""
    out = []
    for line in jsonl.splitlines():
        if line.strip():
            out.append((int(json.loads(line)["sequence"]), line))
    return out


def check(condition, message):
    if not condition:
        raise AssertionError(message)
