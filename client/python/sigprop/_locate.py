"""Where this package finds what it needs: the generated stubs and the two binaries.

Installed (`pip install ./client/python`), the stubs are part of the package (sigprop/v1). Run
from the checkout, they are in the CMake build tree: SIGPROP_PROTO_PATH, else SIGPROP_BUILD_DIR's
python/sigprop_pb, else build/release's. The server binary is SIGPROP_SERVER, else sigprop-server
on PATH, else the build tree's; the CLI (sigprop.presets runs its `import` command) is SIGPROP_CLI,
else sigprop on PATH, else the build tree's.
"""

import os
import pathlib
import shutil

PACKAGE = pathlib.Path(__file__).resolve().parent
# The repository root when this file is the checkout's client/python/sigprop/_locate.py.
REPOSITORY = PACKAGE.parents[2] if len(PACKAGE.parents) > 2 else PACKAGE


def build_dir() -> pathlib.Path:
    """The CMake build tree: $SIGPROP_BUILD_DIR, else build/release in the repository."""
    return pathlib.Path(os.environ.get("SIGPROP_BUILD_DIR") or REPOSITORY / "build" / "release")


def installed_stubs() -> bool:
    """True when the stubs were installed with the package (sigprop/v1 beside this file)."""
    return (PACKAGE / "v1" / "service_pb2_grpc.py").is_file()


def proto_path() -> pathlib.Path:
    """The directory that holds the generated sigprop/v1/*_pb2.py: the package's parent when they
    were installed with it, else SIGPROP_PROTO_PATH or the build (client/python/CMakeLists.txt)."""
    if installed_stubs() and not os.environ.get("SIGPROP_PROTO_PATH"):
        return PACKAGE.parent
    explicit = os.environ.get("SIGPROP_PROTO_PATH")
    path = pathlib.Path(explicit) if explicit else build_dir() / "python" / "sigprop_pb"
    if not (path / "sigprop" / "v1" / "service_pb2_grpc.py").is_file():
        how = "SIGPROP_PROTO_PATH" if explicit else "the build (SIGPROP_BUILD_DIR or build/release)"
        raise ImportError(
            f"sigprop: no generated stubs under {path} (from {how}); install the package "
            "('pip install --no-deps --no-build-isolation --no-index ./client/python'), build them "
            "('cmake --build --preset release --target sigprop_python'), or point "
            "SIGPROP_PROTO_PATH at the directory that holds sigprop/v1/service_pb2_grpc.py")
    return path


def _binary(variable: str, name: str, built: pathlib.Path) -> pathlib.Path:
    """The executable `name`: $`variable`, else `name` on PATH, else `built` (the build tree's).
    The error names every place looked at and how to get the binary."""
    explicit = os.environ.get(variable)
    if explicit:
        if os.access(explicit, os.X_OK):
            return pathlib.Path(explicit)
        looked = [f"{variable}={explicit}"]
    else:
        on_path = shutil.which(name)
        if on_path:
            return pathlib.Path(on_path)
        if os.access(built, os.X_OK):
            return built
        looked = [f"{variable} (unset)", f"{name} on PATH (none)", f"{built} (the build)"]
    raise FileNotFoundError(
        f"sigprop: no executable {name}; looked at " + ", ".join(looked) + ". Install it "
        f"('cmake --install build/release'), build it ('cmake --build --preset release --target "
        f"{name}'), or set {variable}")


def server_binary() -> pathlib.Path:
    """The sigprop-server executable: $SIGPROP_SERVER, else sigprop-server on PATH, else the
    build tree's server/sigprop-server."""
    return _binary("SIGPROP_SERVER", "sigprop-server", build_dir() / "server" / "sigprop-server")


def cli_binary() -> pathlib.Path:
    """The sigprop command-line client: $SIGPROP_CLI, else sigprop on PATH, else the build tree's
    client/sigprop."""
    return _binary("SIGPROP_CLI", "sigprop", build_dir() / "client" / "sigprop")
