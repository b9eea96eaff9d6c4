#!/usr/bin/env bash
# Builds sigprop with the release preset and runs every test suite: ctest (GoogleTest unit,
# statistical, CLI, service and mutation tests; the fault and load scripts against real server
# processes), the Python client's pytest suite against a real sigprop-server, then the sanitizer
# builds: ASan+UBSan over the unit, store, service and mutation tests, TSan over the store and
# scheduler tests (docs/RELIABILITY.md).
#
#   SIGPROP_LONG_TESTS=1   long variants: 200 kills, 1,000,000 mutants, a bigger load
#   SIGPROP_SANITIZERS=0   skip the two sanitizer builds (a quick local run; CI runs them)
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset release
cmake --build --preset release
ctest --preset release -j2
# Which vector instruction sets the kernel tests exercised on this CPU (the others were not run).
grep -h '^\[ isa ' build/release/Testing/Temporary/LastTest.log | sort -u || true

# Debian's python3 (its grpcio, protobuf, numpy, pandas, matplotlib), never another one on PATH.
# pytest exits 5 when it collects no tests: here that is a failure, not a silent pass.
status=0
SIGPROP_BUILD_DIR="$PWD/build/release" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python ||
  status=$?
if [ "$status" -eq 5 ]; then
  echo "run_all: pytest collected no tests under tests/python" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then exit "$status"; fi

if [ "${SIGPROP_SANITIZERS:-1}" != "0" ]; then
  for preset in asan tsan; do
    cmake --preset "$preset"
    cmake --build --preset "$preset"
    ctest --preset "$preset" -j2
  done
fi
