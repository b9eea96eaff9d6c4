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

# What was skipped, and why, from every ctest run below: ctest's list of tests that did not run
# (SKIP_RETURN_CODE) and the reasons the tests printed ("SKIPPED: …", GoogleTest's "[  SKIPPED ]").
# .ci/run prints this file last, so a skip is never mistaken for a pass.
skipped=build/skipped.txt
mkdir -p build
: > "$skipped"

run_ctest() {
  local preset=$1
  local log="build/$preset/ctest-output.txt"
  local status=0
  ctest --preset "$preset" -j2 2>&1 | tee "$log" || status=$?
  {
    sed -n '/The following tests did not run:/,/^$/p' "$log" | sed "s/^/[$preset] /"
    grep -h 'SKIPPED' "build/$preset/Testing/Temporary/LastTest.log" | sort -u | sed "s/^/[$preset] /"
  } >> "$skipped" || true
  return "$status"
}

cmake --preset release
cmake --build --preset release
run_ctest release
# Which vector instruction sets the kernel tests exercised on this CPU (the others were not run).
grep -h '^\[ isa ' build/release/Testing/Temporary/LastTest.log | sort -u || true

if [ "${SIGPROP_SANITIZERS:-1}" != "0" ]; then
  for preset in asan tsan; do
    cmake --preset "$preset"
    cmake --build --preset "$preset"
    run_ctest "$preset"
  done
fi
echo "run_all: skipped tests and reasons (${skipped}):"
if [ -s "$skipped" ]; then cat "$skipped"; else echo "  none"; fi
