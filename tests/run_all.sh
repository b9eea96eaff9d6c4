#!/usr/bin/env bash
# Builds sigprop with the release preset and runs every test suite: ctest (GoogleTest unit,
# statistical and CLI tests), then the Python client's pytest suite against a real sigprop-server.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset release
cmake --build --preset release
ctest --preset release -j2

# Debian's python3 (its grpcio, protobuf, numpy, pandas, matplotlib), never another one on PATH.
# pytest exits 5 when it collects no tests: here that is a failure, not a silent pass.
status=0
SIGPROP_BUILD_DIR="$PWD/build/release" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python ||
  status=$?
if [ "$status" -eq 5 ]; then
  echo "run_all: pytest collected no tests under tests/python" >&2
  exit 1
fi
exit "$status"
