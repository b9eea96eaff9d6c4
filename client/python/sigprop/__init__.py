"""sigprop: a Python client of the sigprop simulation service, and plots of its results.

    import sigprop
    client = sigprop.Client("localhost:50051")          # or sigprop.embedded() / Client.start_local()
    sweep = client.submit("examples/demo.json")         # a dict, a JSON file, or a SweepSpec
    df = sweep.results()                                # waits, then one row per point×layer×statistic
    sigprop.plot.rho_bands(df).savefig("rho.png")
    cmp = client.compare("examples/sde_vs_width.json")  # a Comparison: a stored sweep like any other
    rows = cmp.results()                                # KS, W1, exploded fractions per point
    plan = client.plan("examples/demo.json")            # the server's points, methods and costs
    spec = sigprop.presets.from_config("config.json", tokens=8)  # a Hugging Face model's spec
    run = sigprop.presets.shaped_transformer(tokens=8, width=64, depth=32, samples=200)
    spec = sigprop.sweep(base=run, axes={"model.attention.tau0": [0.5, 1, 2]})
    df = client.submit(spec, validate=True).results(progress=True)  # a tqdm bar while it runs
    fig = sigprop.plot.live(client.submit(spec))        # redrawn as the layers stream in
    ds = sigprop.frame.to_xarray(df)                    # dims (swept fields…, layer, statistic)
    df = sigprop.read_results("out.csv", plan=client.plan(spec))  # `sigprop run` output files

The message classes are generated from proto/, never committed: installed with the package
(`pip install ./client/python` runs protoc, setup.py), or, from the checkout, in the CMake build
tree (client/python/CMakeLists.txt), which is then put on this package's path. Either way they
import as sigprop.v1.run_pb2, sigprop.v1.service_pb2_grpc, … (_locate.py says where they are
looked for).
"""

from sigprop import _locate

if not _locate.installed_stubs() or "SIGPROP_PROTO_PATH" in _locate.os.environ:
    __path__.append(str(_locate.proto_path() / "sigprop"))

from sigprop.client import Client, Comparison, EventStream, Sweep, connect, embedded  # noqa: E402
from sigprop.errors import (  # noqa: E402
    AuthenticationError, InvalidSpecError, NotFoundError, PermissionDeniedError,
    ResourceExhaustedError, SigpropError, SweepFailedError, SweepTimeoutError, UnavailableError)
from sigprop.frame import read_results  # noqa: E402
from sigprop.local_server import LocalServer  # noqa: E402
from sigprop.spec import compare_spec, load_spec, point_values, sweep, sweep_spec  # noqa: E402
from sigprop import frame, plot, presets  # noqa: E402

__all__ = [
    "Client", "Sweep", "Comparison", "EventStream", "connect", "embedded", "LocalServer",
    "load_spec", "sweep", "sweep_spec", "compare_spec", "point_values", "read_results", "frame",
    "plot", "presets",
    "SigpropError", "AuthenticationError", "PermissionDeniedError", "InvalidSpecError",
    "NotFoundError", "ResourceExhaustedError", "UnavailableError", "SweepFailedError",
    "SweepTimeoutError",
]
