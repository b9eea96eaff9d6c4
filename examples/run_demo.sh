#!/usr/bin/env bash
# Builds sigprop and runs the demo sweep in-process (no server): standard softmax attention
# (post-LayerNorm, λ = γ = 1) against the shaped transformer at the same width and depth.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset release >/dev/null
cmake --build --preset release --target sigprop
./build/release/client/sigprop run examples/demo.json --format table
