"""Client and Sweep: submit a sweep, watch its events, fetch its results as a DataFrame.

Retrying follows one table shared with the C++ client, proto/sigprop/v1/client_policy.json
(installed beside the stubs): gRPC itself retries the idempotent unary calls on UNAVAILABLE (its
service-config retry policy), and when a Watch stream breaks for a reason that is not a verdict on
the request (the table's reattach codes, or the server dropping a watcher that stopped reading:
RESOURCE_EXHAUSTED with the table's slow-watcher prefix), the watch reattaches from the last
sequence number it delivered, backing off as the table says, and gives up only after `patience`
seconds without an event. Each event is delivered once.

progress=True on watch, wait, layers, results and covariances draws a tqdm bar of the points done
(sigprop.progress); as_xarray=True on results gives an xarray.Dataset (frame.to_xarray).
"""

import contextlib
import json
import os
import pathlib
import time
from collections.abc import Generator, Iterator, Sequence
from typing import Any, List

import grpc
import pandas as pd

from sigprop import _locate, errors, frame
from sigprop.local_server import LocalServer
from sigprop.progress import ProgressBar
from sigprop.spec import Spec, compare_spec, point_values, sweep_or_compare_spec, sweep_spec
from sigprop.v1 import compare_pb2, results_pb2, service_pb2, service_pb2_grpc

def _load_policy() -> dict[str, Any]:
    """The retry table installed beside the stubs (proto/sigprop/v1/client_policy.json)."""
    import sigprop.v1
    for directory in sigprop.v1.__path__:
        path = pathlib.Path(directory) / "client_policy.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    raise ImportError(f"sigprop: no client_policy.json beside the stubs in {list(sigprop.v1.__path__)}")


POLICY = _load_policy()
_REATTACH = POLICY["reattach"]
_TRANSIENT = {getattr(grpc.StatusCode, name) for name in _REATTACH["codes"]}
# How the server's message begins when it drops a watcher that stopped reading; other
# RESOURCE_EXHAUSTED statuses are limits and final.
_SLOW_WATCHER_PREFIX = POLICY["texts"]["slowWatcherPrefix"]


def _worth_reattaching(error: grpc.RpcError) -> bool:
    if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return (error.details() or "").startswith(_SLOW_WATCHER_PREFIX)
    return error.code() in _TRANSIENT


# Reconnect quickly after a server restart (gRPC's default backoff grows to minutes), and retry
# the idempotent unary calls as the table's service config says.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(POLICY["serviceConfig"])),
]

_SWEEP_STATE = service_pb2.SweepStatus.State
_FINISHED_STATE = results_pb2.SweepFinished.State
_TERMINAL = {_SWEEP_STATE.Value("SUCCEEDED"), _SWEEP_STATE.Value("FAILED"),
             _SWEEP_STATE.Value("CANCELLED")}


class Client:
    """A connection to a sigprop server.

    target: "host:port". token: the bearer token of a server started with --tokens. tls_ca: a
    PEM file (path) or PEM bytes of the CA that signed the server's certificate; turns on TLS.
    """

    def __init__(self, target: str, token: str | None = None,
                 tls_ca: str | os.PathLike[str] | bytes | None = None) -> None:
        self.target = target
        if tls_ca is not None:
            pem = tls_ca if isinstance(tls_ca, bytes) else pathlib.Path(tls_ca).read_bytes()
            credentials = grpc.ssl_channel_credentials(root_certificates=pem)
            self._channel = grpc.secure_channel(target, credentials, options=_CHANNEL_OPTIONS)
        else:
            self._channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self._stub = service_pb2_grpc.SimulationStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._server: LocalServer | None = None

    @classmethod
    def start_local(cls, **server_options: Any) -> "Client":
        """A client of a sigprop-server it starts itself (LocalServer); close() stops the server."""
        server = LocalServer(**server_options)
        server.start()
        client = cls(server.target, token=server.token)
        client._server = server
        return client

    def close(self) -> None:
        """Closes the channel, and stops the server start_local started."""
        self._channel.close()
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, method: Any, request: Any, timeout: float | None = 60) -> Any:
        try:
            return method(request, metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as error:
            raise errors.from_rpc(error, what, self.target) from None

    def submit(self, spec: Spec, points: Sequence[int] | None = None,
               validate: bool = False) -> "Sweep":
        """Submits a sweep (dict, JSON file path, SweepSpec, RunSpec, or what sigprop.sweep and
        sigprop.presets build); returns its Sweep.

        points: run only these point indices of the sweep (each keeps its index and its streams).
        validate: ask the server for the sweep's plan first (Client.plan) and submit only if it
        is accepted; the Sweep keeps that plan (Sweep.plan, Sweep.point_values). Either way a
        refused spec raises InvalidSpecError naming the field ("base.model.attention.tau0: must
        be > 0, got -1"), from Plan or from Submit, and nothing refused is stored.
        """
        spec = sweep_spec(spec)
        plan = self.plan(spec) if validate else None
        request = service_pb2.SubmitRequest(sweep=spec, points=points or [])
        response = self._call("Submit", self._stub.Submit, request)
        submitted = Sweep(self, response.sweep_id, spec, response.points)
        submitted._plan = plan
        return submitted

    def compare(self, spec: Spec, validate: bool = False) -> "Comparison":
        """Submits a comparison (dict, JSON file path, CompareSweep or CompareSpec); returns its
        Comparison, a stored sweep like any other (watch, wait, cancel, reattach by id).

        Comparison.results() gives its rows as a DataFrame (frame.compare_frame): per point, time
        and statistic the KS distance, p-value, Wasserstein-1 and each side's exploded fraction.
        validate: ask for the plan first, as Client.submit does.
        """
        spec = compare_spec(spec)
        plan = self.plan(spec) if validate else None
        request = service_pb2.SubmitRequest(compare=spec)
        response = self._call("Submit", self._stub.Submit, request)
        submitted = Comparison(self, response.sweep_id, spec, response.points)
        submitted._plan = plan
        return submitted

    def plan(self, spec: Spec, with_specs: bool = False) -> Any:
        """The server's plan of a sweep or comparison (SweepPlan, plan.proto): its points with
        their labels and settings, the methods that will run, cost and bytes per sample, checked
        against the server's limits (InvalidSpecError or ResourceLimitError when refused).
        with_specs: include each point's full spec."""
        spec = sweep_or_compare_spec(spec)
        if isinstance(spec, compare_pb2.CompareSweep):
            request = service_pb2.PlanRequest(compare=spec, omit_specs=not with_specs)
        else:
            request = service_pb2.PlanRequest(sweep=spec, omit_specs=not with_specs)
        return self._call("Plan", self._stub.Plan, request)

    def sweep(self, sweep_id: str) -> "Sweep":
        """The Sweep (or Comparison) of an id submitted earlier (by this or another client of the
        same user)."""
        status = self.status(sweep_id)
        if status.HasField("compare"):
            return Comparison(self, sweep_id, status.compare, status.points_total)
        return Sweep(self, sweep_id, status.spec, status.points_total)

    def status(self, sweep_id: str) -> Any:
        """The SweepStatus message of a sweep (state, points done, last sequence, spec)."""
        return self._call("Get", self._stub.Get, service_pb2.GetRequest(sweep_id=sweep_id))

    def list(self) -> List[Any]:
        """SweepStatus messages (without specs) of the caller's sweeps."""
        return list(self._call("List", self._stub.List, service_pb2.ListRequest()).sweeps)

    def cancel(self, sweep_id: str) -> None:
        """Cancels a sweep: its running points stop, it ends CANCELLED."""
        self._call("Cancel", self._stub.Cancel, service_pb2.CancelRequest(sweep_id=sweep_id))

    def _results(self, sweep_id: str, field: str) -> List[Any]:
        rows, token = [], ""
        while True:
            request = service_pb2.ResultsRequest(sweep_id=sweep_id, page_token=token)
            response = self._call("Results", self._stub.Results, request)
            rows.extend(getattr(response, field))
            token = response.next_page_token
            if not token:
                return rows

    def layers(self, sweep_id: str) -> List[Any]:
        """Every stored (final) LayerStats message of the sweep, in (point, layer) order."""
        return self._results(sweep_id, "layers")

    def compare_rows(self, sweep_id: str) -> List[Any]:
        """Every stored CompareRow of a comparison, in (point, time, statistic) order."""
        return self._results(sweep_id, "compare_rows")

    def watch(self, sweep_id: str, from_sequence: int = 0,
              patience: float = _REATTACH["patienceSeconds"],
              timeout: float | None = None, progress: bool = False) -> "EventStream":
        """An EventStream of the sweep's events with sequence > from_sequence; progress: draw a
        bar of the points done as they pass (EventStream)."""
        return EventStream(self, sweep_id, from_sequence, patience, timeout, progress)


class EventStream:
    """Iterator of a sweep's Event messages that reattaches by itself (module docstring).

    It ends after the SweepFinished event (or when the server says the sweep had already ended);
    `last_sequence` is the last sequence delivered, `reattachments` how often it reconnected,
    `finished` the SweepFinished message once seen. With `timeout` (seconds, the whole stream)
    it raises SweepTimeoutError when the sweep has not ended by then. With `progress` a tqdm bar
    (`progress`, a sigprop.progress.ProgressBar) counts the points whose PointFinished the stream
    delivers, and their samples as they run (from_sequence 0, the default, counts every point);
    it closes when the stream ends or is closed.
    """

    def __init__(self, client: Client, sweep_id: str, from_sequence: int = 0,
                 patience: float = _REATTACH["patienceSeconds"],
                 timeout: float | None = None, progress: bool = False) -> None:
        self._client = client
        self.sweep_id = sweep_id
        self.last_sequence = from_sequence
        self.patience = patience
        self.timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self.reattachments = 0
        self.finished: Any = None
        self.progress: ProgressBar | None = None
        if progress:
            status = client.status(sweep_id)
            self.progress = ProgressBar(status.points_total, status.name or sweep_id)
        self._events = self._run()

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> Any:
        return next(self._events)

    def close(self) -> None:
        """Ends the stream (and its progress bar) before the sweep ends."""
        self._events.close()
        if self.progress is not None:
            self.progress.close()

    def _remaining(self) -> float | None:
        """Seconds left of `timeout` (None without one); raises once none are left."""
        if self._deadline is None:
            return None
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise errors.SweepTimeoutError(
                f"Watch of {self.sweep_id} on {self._client.target}: the sweep did not end within "
                f"{self.timeout:g} s (last sequence {self.last_sequence})")
        return remaining

    def _run(self) -> Generator[Any, None, None]:
        try:
            for event in self._reattaching():
                if self.progress is not None:
                    self.progress.update(event)
                yield event
        finally:
            if self.progress is not None:
                self.progress.close()

    def _reattaching(self) -> Generator[Any, None, None]:
        client = self._client
        backoff = _REATTACH["initialBackoffSeconds"]
        give_up = time.monotonic() + self.patience
        while True:
            request = service_pb2.WatchRequest(sweep_id=self.sweep_id, from_sequence=self.last_sequence)
            call = client._stub.Watch(request, metadata=client._metadata, timeout=self._remaining())
            try:
                for event in call:
                    if event.sequence <= self.last_sequence:
                        continue  # Defensive: never deliver twice.
                    self.last_sequence = event.sequence
                    backoff = _REATTACH["initialBackoffSeconds"]
                    give_up = time.monotonic() + self.patience
                    if event.HasField("sweep_finished"):
                        self.finished = event.sweep_finished
                    yield event
                    if self.finished is not None:
                        return
            except grpc.RpcError as error:
                self._remaining()
                if not _worth_reattaching(error) or time.monotonic() > give_up:
                    raise errors.from_rpc(error, "Watch", client.target) from None
                time.sleep(backoff)
                backoff = min(_REATTACH["backoffMultiplier"] * backoff, _REATTACH["maxBackoffSeconds"])
                self.reattachments += 1
                continue
            finally:
                call.cancel()
            # A clean end without SweepFinished: the sweep had ended at or before last_sequence.
            status = client.status(self.sweep_id)
            name = _SWEEP_STATE.Name(status.state)
            self.finished = results_pb2.SweepFinished(
                state=_FINISHED_STATE.Value(name) if status.state in _TERMINAL else _FINISHED_STATE.Value("FAILED"))
            return


class Sweep:
    """A submitted sweep: its id, its spec and the calls about it."""

    def __init__(self, client: Client, sweep_id: str, spec: Any, points: int) -> None:
        self.client = client
        self.id = sweep_id
        self.spec = spec
        self.points = points
        self._plan: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r}, name={self.spec.name!r}, points={self.points})"

    def watch(self, from_sequence: int = 0, patience: float = _REATTACH["patienceSeconds"],
              timeout: float | None = None, progress: bool = False) -> EventStream:
        """Iterator of the sweep's Event messages from `from_sequence`; reattaches by itself.
        progress: a tqdm bar of the points done (EventStream; needs python3-tqdm)."""
        return self.client.watch(self.id, from_sequence, patience, timeout, progress)

    def status(self) -> Any:
        """The sweep's SweepStatus message (Client.status)."""
        return self.client.status(self.id)

    def state(self) -> str:
        """The sweep's state name: QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED."""
        return _SWEEP_STATE.Name(self.status().state)

    def cancel(self) -> None:
        """Cancels the sweep (Client.cancel)."""
        self.client.cancel(self.id)

    def wait(self, timeout: float | None = None,
             patience: float = _REATTACH["patienceSeconds"], progress: bool = False) -> str:
        """Blocks until the sweep ends (SweepTimeoutError after `timeout` s); returns its state.
        progress: a tqdm bar of the points done while it waits (it then watches from the first
        event, to count the points already done)."""
        status = self.status()
        if status.state not in _TERMINAL:
            stream = self.watch(0 if progress else status.last_sequence, patience, timeout,
                                progress)
            for _ in stream:
                pass
        return self.state()

    def plan(self) -> Any:
        """The server's plan of this sweep (SweepPlan), fetched once."""
        if self._plan is None:
            self._plan = self.client.plan(self.spec)
        return self._plan

    def point_values(self) -> list[dict[str, Any]]:
        """For each point index, {swept field path: value}, from the server's plan."""
        return point_values(self.plan())

    def layers(self, wait: bool = True, timeout: float | None = None,
               progress: bool = False) -> list[Any]:
        """The LayerStats messages, after the sweep ends if `wait` (then a FAILED sweep raises
        SweepFailedError; a CANCELLED one gives the points that finished). progress: a bar
        while it waits (Sweep.wait)."""
        if wait:
            self._check_final(self.wait(timeout, progress=progress))
        return self.client.layers(self.id)

    def results(self, wait: bool = True, timeout: float | None = None, progress: bool = False,
                as_xarray: bool = False) -> Any:
        """A DataFrame with one row per point × layer × statistic (see sigprop.frame), after the
        sweep ends if `wait` (with a tqdm bar of the points done if `progress`).

        as_xarray: an xarray.Dataset instead, with dims (swept fields…, layer, statistic)
        (frame.to_xarray; needs python3-xarray).
        """
        df = frame.layer_frame(self.layers(wait, timeout, progress), self.point_values())
        return frame.to_xarray(df) if as_xarray else df

    def covariances(self, wait: bool = True, timeout: float | None = None,
                    progress: bool = False) -> pd.DataFrame:
        """A DataFrame with one row per point × layer and the m×m mean covariance E V.

        Needs `mean_covariance: true` in the RunSpec.
        """
        return frame.covariance_frame(self.layers(wait, timeout, progress), self.point_values())

    def _check_final(self, state: str) -> None:
        if state == "FAILED":
            raise errors.SweepFailedError(
                f"sweep {self.id} on {self.client.target} failed: {self.status().error}")


class Comparison(Sweep):
    """A submitted comparison sweep (CompareSweep): a Sweep whose results are CompareRows."""

    def rows(self, wait: bool = True, timeout: float | None = None,
             progress: bool = False) -> list[Any]:
        """The CompareRow messages, after the comparison ends if `wait` (then a FAILED one raises
        SweepFailedError; a CANCELLED one gives the points that finished). progress: a bar
        while it waits."""
        if wait:
            self._check_final(self.wait(timeout, progress=progress))
        return self.client.compare_rows(self.id)

    def results(self, wait: bool = True, timeout: float | None = None, progress: bool = False,
                as_xarray: bool = False) -> Any:
        """A DataFrame with one row per point × time × statistic (frame.compare_frame)."""
        if as_xarray:
            raise TypeError("a comparison's rows come as a DataFrame only: leave out as_xarray")
        return frame.compare_frame(self.rows(wait, timeout, progress), self.point_values())

    def layers(self, wait: bool = True, timeout: float | None = None,
               progress: bool = False) -> list[Any]:
        """Raises TypeError: a comparison has CompareRows (rows, results), not LayerStats."""
        raise TypeError("a comparison has CompareRows, not LayerStats: use rows() or results()")

    def covariances(self, wait: bool = True, timeout: float | None = None,
                    progress: bool = False) -> pd.DataFrame:
        """Raises TypeError: a comparison has no covariances."""
        raise TypeError("a comparison has no covariances: use rows() or results()")


def connect(target: str | None = None, token: str | None = None,
            tls_ca: str | os.PathLike[str] | bytes | None = None, **server_options: Any) -> Client:
    """A Client of `target`, or, without one, of a sigprop-server started here (Client.start_local)."""
    if target:
        return Client(target, token=token, tls_ca=tls_ca)
    return Client.start_local(**server_options)


@contextlib.contextmanager
def embedded(**server_options: Any) -> Iterator[Client]:
    """`with sigprop.embedded() as client:` — a client of a server it starts and stops itself."""
    with Client.start_local(**server_options) as client:
        yield client
