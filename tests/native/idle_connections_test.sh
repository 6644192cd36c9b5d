#!/usr/bin/env bash
# 10,000 idle ssekit::client connections on one io_context: runs
# `ssekit-e2e-bench --idle`, which starts sse-serve as a child process (the
# server needs its own 10,000 descriptors), opens every client on /events,
# checks that the server counts them all as live streams and, when a limit is
# given, that this process spends at most that many KiB per connection.
# Bounded by `timeout`; afterwards no sse-serve it started may be left.
# Any further arguments go to the benchmark (--tls: over https).
# usage: idle_connections_test.sh BENCH SSE_SERVE [MAX_KIB_PER_CONNECTION] [N] [BENCH_ARGS...]
set -u
bench=$1
serve=$2
max_kib=${3:-}
count=${4:-10000}
shift $(($# < 4 ? $# : 4))

# Generous bounds: only a hung run reaches them. A sanitizer build on a busy
# 2-core machine takes 30 s and more to open 10,000 clients.
args=(--idle "$count" --serve "$serve" --timeout 150 "$@")
[ -n "$max_kib" ] && args+=(--max-kib-per-conn "$max_kib")

out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout -k 5 200 "$bench" "${args[@]}" >"$out" 2>&1
status=$?
cat "$out"

failed=0
if [ "$status" -ne 0 ]; then
  echo "FAIL: ssekit-e2e-bench --idle $count exited with $status"
  failed=1
fi
# The child must be gone, even after a failure or a timeout.
pid=$(sed -n 's/.*sse-serve pid \([0-9]*\).*/\1/p' "$out" | head -n 1)
if [ -z "$pid" ]; then
  echo "FAIL: no 'sse-serve pid' line in the output"
  failed=1
else
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "FAIL: sse-serve (pid $pid) is still running"
    kill "$pid" 2>/dev/null
    failed=1
  fi
fi
if ! grep -q "^opened $count of $count clients" "$out"; then
  echo "FAIL: not all $count clients opened"
  failed=1
fi
[ "$failed" -eq 0 ] && echo "PASS: $count idle connections $*"
exit "$failed"
