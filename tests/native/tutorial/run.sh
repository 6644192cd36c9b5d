#!/usr/bin/env bash
# sse-cat (the native client) against tests/native/tutorial/server.mjs, a
# node:http server written as SSE tutorials write them.
# usage: run.sh PATH/TO/sse-cat
set -u
cat_bin=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
command -v node >/dev/null || { echo "node is needed (scripts/install-deps.sh wasm)"; exit 1; }
node "$here/server.mjs" >"$tmp/server.out" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; rm -rf "$tmp"' EXIT
base=
for _ in $(seq 1 100); do
  base=$(sed -n 's/^listening on \(http[^ ]*\)$/\1/p' "$tmp/server.out")
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "the tutorial server did not start: $(cat "$tmp/server.out")"; exit 1; }
passed=0
failed=0
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); printf 'FAIL: %s\n want: %s\n got:  %s\n' "$1" "$2" "$3"; fi
}

ids=$(timeout 30 "$cat_bin" --json --max-events 12 "$base/time" 2>/dev/null | sed 's/.*"lastEventId":"\([0-9]*\)".*/\1/' | tr '\n' ' ')
check "reconnects every 5 events with Last-Event-ID: ids 1..12, none lost or repeated" "1 2 3 4 5 6 7 8 9 10 11 12 " "$ids"

timeout 30 "$cat_bin" -H 'Content-Type: application/json' -d '{"prompt":"hi"}' "$base/chat" >"$tmp/chat" 2>"$tmp/err"
code=$?
answer=$(sed -n 's/^data: //p' "$tmp/chat" | tr '\n' '|')
check "POST streams tokens then [DONE]" '{"token":"Server"}|{"token":"-sent"}|{"token":" events"}|{"token":" are"}|{"token":" simple"}|{"token":"."}|[DONE]|' "$answer"
check "a POST stream is not replayed: the end of the stream ends sse-cat with 0" "0" "$code"

notes=$(timeout 30 "$cat_bin" --json --no-reconnect "$base/notes" 2>/dev/null | tr '\n' '|')
check "a newline inside a data line: the rest is an ignored field" \
  '{"type":"note","data":"first line","lastEventId":""}|{"type":"note","data":"crlf ok","lastEventId":""}|' "$notes"

timeout 30 "$cat_bin" "$base/auth" >/dev/null 2>"$tmp/err"
check "401 exits 4 and says so" "4 1" "$? $(grep -c 'http_status: the server answered 401' "$tmp/err")"
check "with the header, the stream opens" "data: welcome" \
  "$(timeout 30 "$cat_bin" --no-reconnect -H 'Authorization: Bearer let-me-in' "$base/auth" 2>/dev/null)"

timeout 30 "$cat_bin" "$base/nothing-here" >/dev/null 2>&1
check "404 exits 4" "4" "$?"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
