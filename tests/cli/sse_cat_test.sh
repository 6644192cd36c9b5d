#!/usr/bin/env bash
# Tests sse-cat's standard-input mode: output formats, round trip through its
# own event-stream output, line-end independence, and exit codes.
# usage: sse_cat_test.sh PATH/TO/sse-cat REPO_ROOT
set -u
cat_bin=$1
root=$2
feed=$root/examples/feed.sse
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() {  # check NAME COMMAND...: the command must succeed
  local name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; cat "$tmp/out"; fi
}
expect_exit() {  # expect_exit NAME CODE STDERR_PATTERN COMMAND... (stdin from $tmp/in)
  local name=$1 code=$2 pattern=$3; shift 3
  "$@" <"$tmp/in" >/dev/null 2>"$tmp/err"
  local got=$?
  if [ "$got" -eq "$code" ] && grep -q -- "$pattern" "$tmp/err"; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: $name (exit $got, want $code; stderr: $(cat "$tmp/err"))"; fi
}

check "json matches golden file" diff <("$cat_bin" --json - <"$feed") "$root/tests/cli/feed.expected.jsonl"
check "event-stream output parses to the same events" \
  diff <("$cat_bin" - <"$feed" | "$cat_bin" --json -) "$root/tests/cli/feed.expected.jsonl"
check "CRLF line ends give the same events" \
  diff <(sed 's/$/\r/' "$feed" | "$cat_bin" --json -) "$root/tests/cli/feed.expected.jsonl"
check "CR line ends give the same events" \
  diff <(tr '\n' '\r' <"$feed" | "$cat_bin" --json -) "$root/tests/cli/feed.expected.jsonl"
check "--all adds retry and comments in stream order" \
  diff <("$cat_bin" --json --all - <"$feed" | head -3) \
       <(printf '%s\n' '{"comment":" a sample event stream, in the style of a live news/weather/stock feed"}' \
                       '{"retry":5000}' "$(head -1 "$root/tests/cli/feed.expected.jsonl")")
check "control characters are escaped in JSON" \
  diff <(printf 'data: tab\there \001 "q" \\\\\n\n' | "$cat_bin" --json -) \
       <(printf '%s\n' '{"type":"message","data":"tab\there \u0001 \"q\" \\\\","lastEventId":""}')
check "invalid UTF-8 becomes U+FFFD" \
  diff <(printf 'data: \377\n\n' | "$cat_bin" --json -) <(printf '{"type":"message","data":"\357\277\275","lastEventId":""}\n')
check "empty input prints nothing" test -z "$("$cat_bin" --json - </dev/null)"

printf 'data: ok\n\ndata: 123456789\n\n' >"$tmp/in"
expect_exit "limit exceeded exits 1" 1 "line_too_long at byte 10" "$cat_bin" --max-line-length 10 -
expect_exit "event limit exceeded exits 1" 1 "event_too_large" "$cat_bin" --max-event-size 4 -
expect_exit "unknown option exits 2" 2 "unknown option" "$cat_bin" --bogus -
expect_exit "bad number exits 2" 2 "needs a number" "$cat_bin" --max-line-length x -
expect_exit "no input named exits 2" 2 "nothing to read" "$cat_bin"
check "output before a limit error is printed" \
  test "$(printf 'data: ok\n\ndata: 123456789\n\n' | "$cat_bin" --json --max-line-length 10 - 2>/dev/null)" = \
       '{"type":"message","data":"ok","lastEventId":""}'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
