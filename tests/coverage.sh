#!/usr/bin/env bash
# Line and branch coverage of common/, server/ and client/ by the fast suites (unit, store,
# service, cli, python; the slow SDE-versus-width checks left out, as under ASan), with gcovr,
# built at -O1 (so the statistical suites take minutes) with atomic counters (TBB's threads).
# Writes build/coverage/coverage.txt (per file) and build/coverage/coverage.html; prints the
# totals. docs/RELIABILITY.md ("Coverage") has the figures and what no test reaches.
#
#   bash tests/coverage.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset coverage
cmake --build --preset coverage
find build/coverage -name '*.gcda' -delete
ctest --preset coverage -j2
filters=(--filter 'common/' --filter 'server/' --filter 'client/' --exclude 'client/python/'
         --exclude '.*_test\.cc' --exclude 'build/')
gcovr --root . --object-directory build/coverage "${filters[@]}" --exclude-unreachable-branches \
  --txt build/coverage/coverage.txt --html-details build/coverage/coverage.html \
  --json build/coverage/coverage.json --print-summary
# The functions outside anonymous namespaces that no test reached.
/usr/bin/python3 tests/coverage_unreached.py build/coverage/coverage.json
