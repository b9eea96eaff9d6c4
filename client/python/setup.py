"""Generates the gRPC stubs into the package being built (pyproject.toml has the metadata).

The stubs are never committed: they come from proto/ (SIGPROP_PROTO_DIR, else ../../proto beside
this file) through Debian's protoc (python3 -m grpc_tools is too old in Debian, so the plugin is
/usr/bin/grpc_python_plugin, SIGPROP_GRPC_PYTHON_PLUGIN to override), as the CMake build does.
"""
import os
import pathlib
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
PROTOS = ["model", "run", "results", "compare", "plan", "service"]


def generate(out_dir):
    proto = pathlib.Path(os.environ.get("SIGPROP_PROTO_DIR") or HERE.parents[1] / "proto")
    plugin = os.environ.get("SIGPROP_GRPC_PYTHON_PLUGIN") or shutil.which("grpc_python_plugin")
    if not (proto / "sigprop" / "v1" / "service.proto").is_file():
        raise SystemExit(f"sigprop: no proto/sigprop/v1/service.proto under {proto}; "
                         "build from the repository, or set SIGPROP_PROTO_DIR")
    if plugin is None or shutil.which("protoc") is None:
        raise SystemExit("sigprop: protoc and grpc_python_plugin are needed "
                         "(Debian: protobuf-compiler, protobuf-compiler-grpc)")
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = [str(proto / "sigprop" / "v1" / f"{name}.proto") for name in PROTOS]
    subprocess.run(["protoc", "-I", str(proto), f"--python_out={out_dir}", *sources], check=True)
    subprocess.run(["protoc", "-I", str(proto), f"--grpc_python_out={out_dir}",
                    f"--plugin=protoc-gen-grpc_python={plugin}",
                    str(proto / "sigprop" / "v1" / "service.proto")], check=True)
    shutil.copy(proto / "sigprop" / "v1" / "client_policy.json",
                out_dir / "sigprop" / "v1" / "client_policy.json")
    (out_dir / "sigprop" / "v1" / "__init__.py").write_text(
        '"""Generated from proto/sigprop/v1 at build time; never edited by hand."""\n')


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        # The stubs land in the build tree's sigprop/v1, beside the handwritten package, and are
        # installed (and put in the wheel) with everything else the build holds.
        generate(pathlib.Path(self.build_lib))


setup(cmdclass={"build_py": BuildWithStubs})
