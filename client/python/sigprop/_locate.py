"""Where the build put what this package needs: the generated stubs and the server binary.

Both live in a CMake build tree, never in the source tree. The build tree is SIGPROP_BUILD_DIR,
or the release preset's build/release at the repository root; SIGPROP_PROTO_PATH and
SIGPROP_SERVER name the stubs and the binary directly.
"""

import os
import pathlib

REPOSITORY = pathlib.Path(__file__).resolve().parents[3]


def build_dir():
    """The CMake build tree: $SIGPROP_BUILD_DIR, else build/release in the repository."""
    return pathlib.Path(os.environ.get("SIGPROP_BUILD_DIR") or REPOSITORY / "build" / "release")


def proto_path():
    """The directory that holds the generated sigprop/v1/*_pb2.py (client/python/CMakeLists.txt)."""
    explicit = os.environ.get("SIGPROP_PROTO_PATH")
    path = pathlib.Path(explicit) if explicit else build_dir() / "python" / "sigprop_pb"
    if not (path / "sigprop" / "v1" / "service_pb2_grpc.py").is_file():
        how = "SIGPROP_PROTO_PATH" if explicit else "the build (SIGPROP_BUILD_DIR or build/release)"
        raise ImportError(
            f"sigprop: no generated stubs under {path} (from {how}); build them with "
            "'cmake --preset release && cmake --build --preset release --target sigprop_python' "
            "or point SIGPROP_PROTO_PATH at the directory that holds sigprop/v1/service_pb2_grpc.py")
    return path


def server_binary():
    """The sigprop-server executable: $SIGPROP_SERVER, else server/sigprop-server in the build."""
    explicit = os.environ.get("SIGPROP_SERVER")
    path = pathlib.Path(explicit) if explicit else build_dir() / "server" / "sigprop-server"
    if not os.access(path, os.X_OK):
        how = "SIGPROP_SERVER" if explicit else "the build (SIGPROP_BUILD_DIR or build/release)"
        raise FileNotFoundError(
            f"sigprop: no executable sigprop-server at {path} (from {how}); build it with "
            "'cmake --build --preset release --target sigprop-server' or set SIGPROP_SERVER")
    return path
