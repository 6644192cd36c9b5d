#!/usr/bin/env bash
# Runs every example against loopback servers (server.mjs, and tiny_server
# for parse_beast_body) and checks what it prints and its exit status.
# usage: run.sh LLM_STREAM MULTI_FEED PARSE_BEAST_BODY TINY_SERVER CORO_STREAM TOKEN_REFRESH
set -u
llm=$1 multi=$2 parse=$3 tiny=$4 coro=$5 token=$6
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
command -v node >/dev/null || { echo "node is needed (scripts/install-deps.sh wasm)"; exit 1; }
passed=0 failed=0
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); printf 'FAIL: %s\n want: %s\n got:  %s\n' "$1" "$2" "$3"; fi
}
wait_for() {  # wait_for FILE PATTERN: until FILE has a line matching PATTERN (bounded: 30 s)
  for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "FAIL: no '$2' in $1: $(head -c 2000 "$1")"; return 1
}
wait_exit() {  # wait_exit PID: its exit status, or 124 after 30 s
  for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }; sleep 0.1; done
  kill -9 "$1"; return 124
}

node "$here/server.mjs" >"$tmp/server.out" 2>&1 &
pids+=($!)
wait_for "$tmp/server.out" '^listening on ' || exit 1
base=$(sed -n 's/^listening on \(http[^ ]*\)$/\1/p' "$tmp/server.out")

# llm_stream: the deltas, in order, then it stops at [DONE] by itself (the
# server keeps the connection open).
out=$(timeout 30 "$llm" "$base/v1/chat" good-key hi 2>"$tmp/err"); code=$?
check "llm_stream: deltas until [DONE], exit 0" \
  "0 {\"delta\":\"you said hi\"}|{\"delta\":\"Hel\"}|{\"delta\":\"lo\"}" "$code $(tr '\n' '|' <<<"$out" | sed 's/|$//')"
timeout 30 "$llm" "$base/v1/chat" wrong-key hi >"$tmp/out" 2>"$tmp/err"; code=$?
check "llm_stream: 401 prints the error body" \
  '1 HTTP 401: {"error":{"type":"auth","message":"invalid api key"}}' "$code $(cat "$tmp/err")"
timeout 30 "$llm" "$base/v1/chat" slow-down hi >"$tmp/out" 2>"$tmp/err"; code=$?
check "llm_stream: 429 prints the error body" \
  '1 HTTP 429: {"error":{"type":"rate_limit","message":"slow down"}}' "$code $(cat "$tmp/err")"

# coro_stream: co_await async_next until MAX_EVENTS; then the timeout path:
# the chat stream stays open after [DONE] and sends nothing more.
out=$(timeout 30 "$coro" "$base/feed/alpha" 3 10000 2>"$tmp/err"); code=$?
check "coro_stream: 3 events, exit 0" "0 alpha: alpha 1|alpha: alpha 2|alpha: alpha 3" "$code $(tr '\n' '|' <<<"$out" | sed 's/|$//')"
out=$(timeout 30 "$coro" "$base/v1/chat" 100 300 good-key 2>"$tmp/err"); code=$?
check "coro_stream: a quiet stream times out, exit 3" \
  '3 message: {"delta":"you said hi"}|message: {"delta":"Hel"}|message: {"delta":"lo"}|message: [DONE]|timeout: no event within 300 ms' \
  "$code $(tr '\n' '|' <<<"$out")$(cat "$tmp/err")"

# multi_feed: both feeds arrive on one io_context; SIGINT closes them and
# the program exits 0.
"$multi" "$base/feed/alpha" "$base/feed/beta" >"$tmp/multi.out" 2>"$tmp/multi.err" &
multi_pid=$!
pids+=("$multi_pid")
wait_for "$tmp/multi.out" '^\[1\] alpha: alpha 3$' && wait_for "$tmp/multi.out" '^\[2\] beta: beta 3$'
kill -INT "$multi_pid"
wait_exit "$multi_pid"; code=$?
check "multi_feed: exits 0 on SIGINT" "0 signal 2: closing 2 feeds" "$code $(cat "$tmp/multi.err")"
check "multi_feed: no feed mixed up" "0" "$(grep -cvE '^\[1\] alpha: alpha [0-9]+$|^\[2\] beta: beta [0-9]+$' "$tmp/multi.out")"

# token_refresh: tokens expire every 3 events (401 after); the hook fetches
# a new one and the stream goes on from Last-Event-ID: 9 events in order,
# nothing twice, 3 token fetches (the first attempt and two 401s).
port=${base##*:}
out=$(timeout 60 "$token" 127.0.0.1 "$port" 9 2>"$tmp/token.err"); code=$?
check "token_refresh: 9 events across two expired tokens, exit 0" \
  "0 1 event 1|2 event 2|3 event 3|4 event 4|5 event 5|6 event 6|7 event 7|8 event 8|9 event 9" \
  "$code $(tr '\n' '|' <<<"$out" | sed 's/|$//')"
check "token_refresh: a token for the first attempt and after each 401" "3 2" \
  "$(grep -c 'fetching a token' "$tmp/token.err") $(grep -c '^http_status 401: .*(reconnecting)$' "$tmp/token.err")"

timeout 30 "$token" 127.0.0.1 "$port" 9x >"$tmp/out" 2>"$tmp/err"; code=$?
check "token_refresh: a count with trailing junk is a usage error" "2 EVENTS must be in 1..1000000" "$code $(cat "$tmp/err")"

# tiny_server (the serializer) read by parse_beast_body (the parser over
# Beast's body bytes): 3 events, each a two-line data, then the end.
"$tiny" 0 3 >"$tmp/tiny.out" 2>&1 &
tiny_pid=$!
pids+=("$tiny_pid")
wait_for "$tmp/tiny.out" '^listening on ' || exit 1
port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$tmp/tiny.out")
out=$(timeout 30 "$parse" 127.0.0.1 "$port" / 2>&1); code=$?
check "parse_beast_body vs tiny_server: 3 events, to the end of the body" \
  "0 tick: tick 1|of 3 (id 1)|tick: tick 2|of 3 (id 2)|tick: tick 3|of 3 (id 3)" "$code $(tr '\n' '|' <<<"$out" | sed 's/|$//')"
out=$(timeout 30 "$parse" 127.0.0.1 "$port" / 1 2>&1); code=$?
check "parse_beast_body: stops after MAX_EVENTS" "0 tick: tick 1|of 3 (id 1)" "$code $(tr '\n' '|' <<<"$out" | sed 's/|$//')"
# Five events that arrive in one read: MAX_EVENTS still counts each.
port=${base##*:}
out=$(timeout 30 "$parse" 127.0.0.1 "$port" /burst 2 2>&1); code=$?
check "parse_beast_body: MAX_EVENTS within one read" "0 message: 1 (id )|message: 2 (id )" "$code $(tr '\n' '|' <<<"$out" | sed 's/|$//')"
kill -INT "$tiny_pid"
wait_exit "$tiny_pid"; code=$?
check "tiny_server: exits 0 on SIGINT" 0 "$code"

# tiny_server against clients that connect and send nothing, more than its
# file descriptors allow: it keeps accepting once descriptors are free again,
# and drops a silent client after its deadline (5 s). The descriptor limit
# only without sanitizers, whose runtime misreports once it has none left
# (UBSan's vptr check needs a pipe): a sanitized build can't reserve its
# shadow memory under ulimit -v.
(ulimit -v 60000; "$tiny" x) >/dev/null 2>&1
if [ $? = 2 ]; then fd_limit=16; else fd_limit=$(ulimit -n); fi
(ulimit -n "$fd_limit" && exec "$tiny" 0 1) >"$tmp/tiny2.out" 2>&1 &
tiny_pid=$!
pids+=("$tiny_pid")
wait_for "$tmp/tiny2.out" '^listening on ' || exit 1
port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$tmp/tiny2.out")
silent=()
for _ in $(seq 1 16); do exec {fd}<>"/dev/tcp/127.0.0.1/$port" && silent+=("$fd"); done
[ "$fd_limit" = 16 ] && wait_for "$tmp/tiny2.out" '^accept: .* (retrying)$'
timeout 30 cat <&"${silent[0]}" >/dev/null; code=$?
check "tiny_server: closes a client that sends no request" 0 "$code"
for fd in "${silent[@]}"; do exec {fd}>&-; done
out=$(timeout 30 "$parse" 127.0.0.1 "$port" / 2>&1); code=$?
check "tiny_server: serves again after running out of descriptors" "0 tick: tick 1|of 1 (id 1)" \
  "$code $(tr '\n' '|' <<<"$out" | sed 's/|$//')"
kill -INT "$tiny_pid"
wait_exit "$tiny_pid"; code=$?
check "tiny_server: exits 0 on SIGINT after that" 0 "$code"

echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
