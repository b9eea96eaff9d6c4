#!/usr/bin/env bash
# Builds sigprop with the release preset and runs every test suite: ctest (GoogleTest unit,
# statistical, CLI, service and mutation tests; the fault and load scripts against real server
# processes; the Python client's pytest suite against a real sigprop-server: tests/CMakeLists.txt
# lists the kinds and their labels), then the sanitizer builds: ASan+UBSan over the unit, store, service and mutation tests, TSan over the store and
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

if [ "${SIGPROP_SANITIZERS:-1}" != "0" ]; then
  for preset in asan tsan; do
    cmake --preset "$preset"
    cmake --build --preset "$preset"
    ctest --preset "$preset" -j2
  done
fi
