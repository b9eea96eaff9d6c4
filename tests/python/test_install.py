"""The package a researcher installs: offline pip into a venv that sees Debian's packages, then
`import sigprop` from outside the checkout, with the server found on PATH (or SIGPROP_SERVER)."""

import os
import subprocess

import sigprop
from conftest import ROOT

SCRIPT = """
import sigprop, sigprop.v1.run_pb2
assert "site-packages" in sigprop.__file__, sigprop.__file__
with sigprop.embedded() as client:
    plan = client.plan({"model": {"tokens": 3, "width": 8, "depth": 2}, "samples": 4})
    sweep = client.submit({"model": {"tokens": 3, "width": 8, "depth": 2}, "samples": 4})
    print(plan.points_total, len(sweep.results(timeout=120)), sweep.state())
"""


def test_pip_installs_offline_and_imports_from_anywhere(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", str(ROOT / "client" / "python")],
                   check=True, cwd=tmp_path)
    server = sigprop._locate.server_binary()
    # A clean environment: no build tree, no stubs path; the server only on PATH.
    env = {k: v for k, v in os.environ.items()
           if k not in ("SIGPROP_BUILD_DIR", "SIGPROP_PROTO_PATH", "SIGPROP_SERVER", "PYTHONPATH")}
    env["PATH"] = f"{server.parent}:{env.get('PATH', '/usr/bin:/bin')}"
    run = subprocess.run([str(venv / "bin" / "python"), "-c", SCRIPT], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    points, rows, state = run.stdout.split()
    assert (points, state) == ("1", "SUCCEEDED") and int(rows) > 0

    # No server anywhere: the error names the three places looked at.
    env["PATH"] = "/usr/bin:/bin"
    missing = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import sigprop; sigprop.embedded().__enter__()"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0
    for place in ("SIGPROP_SERVER", "on PATH", "(the build)"):
        assert place in missing.stderr, missing.stderr


def test_cmake_install_puts_binaries_and_package_under_one_prefix(tmp_path):
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", str(sigprop._locate.build_dir()), "--prefix", str(prefix)],
                   check=True, capture_output=True)
    assert (prefix / "bin" / "sigprop").is_file() and (prefix / "bin" / "sigprop-server").is_file()
    env = {k: v for k, v in os.environ.items()
           if k not in ("SIGPROP_BUILD_DIR", "SIGPROP_PROTO_PATH", "SIGPROP_SERVER")}
    env["PYTHONPATH"] = str(prefix / "lib" / "python3" / "dist-packages")
    env["PATH"] = f"{prefix / 'bin'}:/usr/bin:/bin"
    run = subprocess.run(["/usr/bin/python3", "-c", SCRIPT.replace('"site-packages"', '"dist-packages"')],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[2] == "SUCCEEDED"
