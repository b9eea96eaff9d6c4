#!/usr/bin/env bash
# Builds sigprop with the release preset and runs every test suite: ctest (GoogleTest unit,
# statistical and CLI tests) and, where present, the Python client's pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset release
cmake --build --preset release
ctest --preset release -j2
