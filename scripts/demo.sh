#!/usr/bin/env bash
# The main job: builds sse-cat and runs it on a sample event stream.
# (Once the network client exists, this runs it against the demo server.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh build
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSSEKIT_BUILD_TESTS=OFF -DSSEKIT_BUILD_FUZZERS=OFF -DSSEKIT_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/demo --target sse-cat
echo "== sse-cat --json --all - < examples/feed.sse"
build/demo/native/sse-cat --json --all - < examples/feed.sse
