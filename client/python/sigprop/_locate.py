"""Where this package finds what it needs: the generated stubs and the server binary.

Installed (`pip install ./client/python`), the stubs are part of the package (sigprop/v1). Run
from the checkout, they are in the CMake build tree: SIGPROP_PROTO_PATH, else SIGPROP_BUILD_DIR's
python/sigprop_pb, else build/release's. The server binary is SIGPROP_SERVER, else sigprop-server
on PATH, else the build tree's.
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


def server_binary() -> pathlib.Path:
    """The sigprop-server executable: $SIGPROP_SERVER, else sigprop-server on PATH, else the
    build tree's server/sigprop-server."""
    explicit = os.environ.get("SIGPROP_SERVER")
    if explicit:
        if os.access(explicit, os.X_OK):
            return pathlib.Path(explicit)
        looked = [f"SIGPROP_SERVER={explicit}"]
    else:
        on_path = shutil.which("sigprop-server")
        if on_path:
            return pathlib.Path(on_path)
        built = build_dir() / "server" / "sigprop-server"
        if os.access(built, os.X_OK):
            return built
        looked = ["SIGPROP_SERVER (unset)", "sigprop-server on PATH (none)", f"{built} (the build)"]
    raise FileNotFoundError(
        "sigprop: no executable sigprop-server; looked at " + ", ".join(looked) + ". Install it "
        "('cmake --install build/release'), build it ('cmake --build --preset release --target "
        "sigprop-server'), or set SIGPROP_SERVER")
