"""A real sigprop-server in a subprocess on a loopback port: the Python "embedded" server.

The server prints `sigprop-server listening on ADDR (port N), db PATH` on stdout once it serves
(server/server_main.cc); the port is read from that line, so port 0 (any free port) works.
"""

import os
import pathlib
import re
import secrets
import select
import signal
import subprocess
import tempfile
import threading
import time

from sigprop import _locate

_LISTENING = re.compile(r"sigprop-server listening on (\S+) \(port (\d+)\)")


class LocalServer:
    """sigprop-server on 127.0.0.1.

    db: the SQLite job store (default: a file in a temporary directory removed by stop()).
    port: 0 picks a free one; restart() keeps the port and the db. threads: worker threads (0: all
    cores). auth: run with --tokens and a fresh random token (`token`). binary: default
    _locate.server_binary(). extra_args: more flags for the server.
    """

    def __init__(self, db=None, port=0, threads=0, auth=False, binary=None, extra_args=(),
                 start_timeout=30.0):
        self._tmp = tempfile.TemporaryDirectory(prefix="sigprop-")
        self.directory = pathlib.Path(self._tmp.name)
        self.db = pathlib.Path(db) if db else self.directory / "sigprop.db"
        self.port = port
        self.threads = threads
        self.binary = pathlib.Path(binary) if binary else _locate.server_binary()
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.token = None
        self.tokens_file = None
        if auth:
            self.token = secrets.token_hex(16)
            self.tokens_file = self.directory / "tokens"
            self.tokens_file.write_text(f"{self.token} local-user\n")
        self.log = self.directory / "server.log"
        self._process = None

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self._process.pid if self._process else None

    def start(self):
        """Starts the server and returns once it listens (its first stdout line)."""
        if self._process is not None:
            raise RuntimeError("sigprop-server: already running")
        command = [str(self.binary), "--listen", f"127.0.0.1:{self.port}", "--db", str(self.db),
                   "--threads", str(self.threads)]
        if self.tokens_file:
            command += ["--tokens", str(self.tokens_file)]
        command += self.extra_args
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log,
                                             stdin=subprocess.DEVNULL)
        line = self._first_line()
        match = _LISTENING.search(line)
        if not match:
            self.stop()
            raise RuntimeError(f"sigprop-server did not start ({' '.join(command)}): "
                               f"{line.strip() or 'no output'}; log: {self._log_tail()}")
        self.port = int(match.group(2))
        # Nothing else is read from stdout; drain it so the server can never block on a full pipe.
        threading.Thread(target=self._process.stdout.read, daemon=True).start()
        return self

    def _first_line(self):
        stdout = self._process.stdout
        deadline = time.monotonic() + self.start_timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._process.poll() is not None:
                break
            ready, _, _ = select.select([stdout], [], [], min(remaining, 0.2))
            if ready:
                chunk = os.read(stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        return line.decode(errors="replace")

    def _log_tail(self, lines=5):
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(none)"
        return " | ".join(text[-lines:]) or "(empty)"

    def stop(self, timeout=30.0):
        """SIGTERM (the server's orderly shutdown: running points re-run on the next start on this
        db), SIGKILL after `timeout` s. Returns the exit status."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def restart(self):
        """Stops the server and starts a new one on the same port and db."""
        self.stop()
        return self.start()

    def close(self):
        self.stop()
        self._tmp.cleanup()

    def __enter__(self):
        return self.start() if self._process is None else self

    def __exit__(self, *exc):
        self.close()
