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
from collections.abc import Sequence
from typing import Optional, Union

from sigprop import _locate

_LISTENING = re.compile(r"sigprop-server listening on (\S+) \(port (\d+)\)")


class LocalServer:
    """sigprop-server on 127.0.0.1.

    db: the SQLite job store (default: a file in a temporary directory removed by stop()).
    port: 0 picks a free one; restart() keeps the port and the db. threads: worker threads (0: all
    cores). auth: run with --tokens and a fresh random token (`token`). binary: default
    _locate.server_binary(). extra_args: more flags for the server.
    """

    def __init__(self, db: Union[str, "os.PathLike[str]", None] = None, port: int = 0,
                 threads: int = 0, auth: bool = False,
                 binary: Union[str, "os.PathLike[str]", None] = None,
                 extra_args: Sequence[str] = (), start_timeout: float = 30.0) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="sigprop-")
        self.directory = pathlib.Path(self._tmp.name)
        self.db = pathlib.Path(db) if db else self.directory / "sigprop.db"
        self.port = port
        self.threads = threads
        self.binary = pathlib.Path(binary) if binary else _locate.server_binary()
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.token: Optional[str] = None
        self.tokens_file: Optional[pathlib.Path] = None
        if auth:
            self.token = secrets.token_hex(16)
            self.tokens_file = self.directory / "tokens"
            self.tokens_file.write_text(f"{self.token} local-user\n")
        self.log = self.directory / "server.log"
        self._process: Optional[subprocess.Popen[bytes]] = None

    @property
    def target(self) -> str:
        """"127.0.0.1:PORT", what Client takes."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        """The server process's id while it runs, else None."""
        return self._process.pid if self._process else None

    def start(self) -> "LocalServer":
        """Starts the server and returns once it listens (its first stdout line)."""
        if self._process is not None:
            raise RuntimeError("sigprop-server: already running")
        command = [str(self.binary), "--listen", f"127.0.0.1:{self.port}", "--db", str(self.db),
                   "--threads", str(self.threads)]
        if self.tokens_file:
            command += ["--tokens", str(self.tokens_file)]
        command += self.extra_args
        with open(self.log, "ab") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log,
                                       stdin=subprocess.DEVNULL)
        self._process = process
        line = self._first_line(process)
        match = _LISTENING.search(line)
        if not match:
            self.stop()
            raise RuntimeError(f"sigprop-server did not start ({' '.join(command)}): "
                               f"{line.strip() or 'no output'}; log: {self._log_tail()}")
        self.port = int(match.group(2))
        # Nothing else is read from stdout; drain it so the server can never block on a full pipe.
        assert process.stdout is not None  # stdout=PIPE
        threading.Thread(target=process.stdout.read, daemon=True).start()
        return self

    def _first_line(self, process: "subprocess.Popen[bytes]") -> str:
        stdout = process.stdout
        assert stdout is not None  # stdout=PIPE
        deadline = time.monotonic() + self.start_timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                break
            ready, _, _ = select.select([stdout], [], [], min(remaining, 0.2))
            if ready:
                chunk = os.read(stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        return line.decode(errors="replace")

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(none)"
        return " | ".join(text[-lines:]) or "(empty)"

    def stop(self, timeout: float = 30.0) -> Optional[int]:
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

    def restart(self) -> "LocalServer":
        """Stops the server and starts a new one on the same port and db."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stops the server and removes its temporary directory (and the default db in it)."""
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> "LocalServer":
        return self.start() if self._process is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()
