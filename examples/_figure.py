"""What the figure scripts share: the command line, a server (given or started here), the run,
a printed summary of the numbers shown, and the PNG.

    /usr/bin/python3 examples/paper_a_rank_collapse.py [--target HOST:PORT] [--token-file F]
        [--tls-ca PEM] [--threads N] [--out PNG]

Without --target the script starts a sigprop-server of the build on a free loopback port
(sigprop.LocalServer; SIGPROP_BUILD_DIR or SIGPROP_SERVER say where the binary is).
"""

import argparse
import pathlib
import sys
import time

EXAMPLES = pathlib.Path(__file__).resolve().parent
ROOT = EXAMPLES.parent
sys.path.insert(0, str(ROOT / "client" / "python"))

import sigprop  # noqa: E402


def _arguments(script, description):
    name = pathlib.Path(script).stem
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    parser.add_argument("--target", help="HOST:PORT of a sigprop-server (default: start one here)")
    parser.add_argument("--token-file", help="file holding the bearer token")
    parser.add_argument("--tls-ca", help="PEM of the CA of the server's certificate")
    parser.add_argument("--threads", type=int, default=0, help="threads of a server started here")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "figures" / f"{name}.png")
    args = parser.parse_args()
    token = pathlib.Path(args.token_file).read_text().strip() if args.token_file else None
    return name, args, token


def _submit_and_wait(client, spec, label, started):
    sweep = client.submit(spec)
    print(f"{label}: sweep {sweep.id} ({sweep.points} points) on {client.target}", flush=True)
    for event in sweep.watch():
        if event.HasField("point_finished"):
            print(f"  point {event.point} done ({time.monotonic() - started:.0f} s)", flush=True)
    return sweep


def run(spec_file, script, description, covariances=False):
    """Parses the command line, runs the spec; returns (results, covariances or None, out path)."""
    name, args, token = _arguments(script, description)
    started = time.monotonic()
    with sigprop.connect(args.target, token=token, tls_ca=args.tls_ca, threads=args.threads) as client:
        sweep = _submit_and_wait(client, EXAMPLES / spec_file, name, started)
        results = sweep.results()
        cov = sweep.covariances() if covariances else None
    return results, cov, args.out


def run_many(make_specs, script, description):
    """Like run, for several specs made once the command line is read: `make_specs()` returns
    {label: spec}; returns ({label: results}, out path)."""
    _, args, token = _arguments(script, description)
    started = time.monotonic()
    results = {}
    with sigprop.connect(args.target, token=token, tls_ca=args.tls_ca, threads=args.threads) as client:
        for label, spec in make_specs().items():
            results[label] = _submit_and_wait(client, spec, label, started).results()
    return results, args.out


def summary(results, statistic, columns=("mean", "q05", "q50", "q95")):
    """Prints each point's values of `statistic` at its last layer: the numbers the figure shows."""
    rows = results[results.statistic == statistic]
    last = rows[rows.layer == rows.groupby("point").layer.transform("max")]
    fields = sigprop.frame.swept_fields(results)
    print(f"{statistic} at the last layer:")
    print(last[["point", *fields, "layer", *columns, "diverged_fraction"]].to_string(index=False))


def save(figure, out):
    out.parent.mkdir(parents=True, exist_ok=True)
    sigprop.plot.save(figure, out)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
