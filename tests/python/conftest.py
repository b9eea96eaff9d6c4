"""Fixtures: real sigprop-server processes on free loopback ports, and a small finished sweep.

The server binary and the generated stubs come from the build (SIGPROP_BUILD_DIR, default
build/release; or SIGPROP_SERVER and SIGPROP_PROTO_PATH). A missing build is an error, not a skip.
"""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "client" / "python"))

import sigprop  # noqa: E402

# Bounded waits: no test waits for a sweep longer than this.
WAIT_S = 180

SMALL_SPEC = {
    "name": "python client test",
    "base": {
        "model": {"tokens": 4, "depth": 8, "initial": {"rho0": 0.2}},
        "method": "DENSE",
        "samples": 24,
        "seed": "7",
        "gradients": True,
        "mean_covariance": True,
        "histogram": [{"statistic": "rho_mean", "bins": 20, "lo": -0.5, "hi": 1.0}],
    },
    "axes": [
        {"field": "model.preset", "values": ["PAPER_A_STANDARD", "SHAPED_TRANSFORMER"]},
        {"field": "model.width", "values": [16, 32]},
    ],
}


@pytest.fixture(scope="session")
def server():
    with sigprop.LocalServer(threads=2) as running:
        yield running


@pytest.fixture(scope="session")
def client(server):
    with sigprop.Client(server.target) as connected:
        yield connected


@pytest.fixture(scope="session")
def small_sweep(client):
    """The SMALL_SPEC sweep, run to the end; (sweep, every event in order)."""
    sweep = client.submit(SMALL_SPEC)
    events = list(sweep.watch(timeout=WAIT_S))
    return sweep, events


@pytest.fixture(scope="session")
def small_results(small_sweep):
    return small_sweep[0].results(timeout=WAIT_S)
