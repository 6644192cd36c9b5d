#!/usr/bin/env bash
# The main job: builds sse-cat and runs the client against the embedded demo
# server (started in-process on a free loopback port): the feed's named
# events with JSON data and ids, then a clean exit after 8 events.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh build
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSSEKIT_BUILD_TESTS=OFF -DSSEKIT_BUILD_FUZZERS=OFF -DSSEKIT_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/demo --target sse-cat
echo "== sse-cat --json --max-events 8   (no URL: the embedded demo server's /feed)"
build/demo/tools/sse-cat/sse-cat --json --max-events 8
