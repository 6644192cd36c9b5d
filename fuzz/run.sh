#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset "fuzz": clang, ASan + UBSan) and
# runs each one for a bounded time on a copy of its committed corpus, so new
# inputs never dirty the repository. Exits non-zero on any crash, leak,
# sanitizer report, timeout or differential mismatch, and keeps the failing
# inputs for you to look at (and to commit under fuzz/corpus/<target>/ with a
# descriptive name once understood).
#
#   fuzz/run.sh                      # every target, 60 s each
#   FUZZ_SECONDS=600 fuzz/run.sh     # longer
#   fuzz/run.sh fuzz_utf8 fuzz_parse # some targets only
#   FUZZ_MERGE=1 fuzz/run.sh         # afterwards, merge new coverage into fuzz/corpus (-merge=1)
set -euo pipefail

seconds="${FUZZ_SECONDS:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=(fuzz_parse fuzz_differential fuzz_roundtrip fuzz_utf8 fuzz_bridge fuzz_client_stream fuzz_url fuzz_content_decoder)
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

work="$(mktemp -d "${TMPDIR:-/tmp}/ssekit-fuzz.XXXXXX")"
failed=()
summary=()

for t in "${targets[@]}"; do
  bin="build/fuzz/fuzz/$t"
  [ -x "$bin" ] || { echo "no such fuzz target: $t" >&2; exit 2; }
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp -R "fuzz/corpus/$t/." "$work/$t/corpus/" 2>/dev/null || true
  log="$work/$t/log.txt"
  echo "== $t: ${seconds}s (log: $log)"

  status=0
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$bin" "$work/$t/corpus" \
      -dict=fuzz/sse.dict \
      -max_total_time="$seconds" \
      -max_len=4096 \
      -timeout=10 \
      -detect_leaks=1 \
      -print_final_stats=1 \
      -artifact_prefix="$work/$t/artifacts/" \
      >"$log" 2>&1 || status=$?

  execs="$(awk '/stat::number_of_executed_units:/ {print $2}' "$log" | tail -n 1)"
  execs="${execs:-?}"
  artifacts="$(find "$work/$t/artifacts" -type f | sort)"
  # libFuzzer exits non-zero on crashes, leaks and timeouts; the greps catch
  # reports that somehow did not stop the run.
  if [ "$status" -ne 0 ] || [ -n "$artifacts" ] ||
     grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|^\*\*\* ' "$log"; then
    failed+=("$t")
    summary+=("$t: FAILED (exit $status), $execs executions")
    echo "-- $t FAILED; end of log:"
    tail -n 40 "$log"
    [ -n "$artifacts" ] && printf 'failing input: %s\n' $artifacts
  else
    summary+=("$t: ok, $execs executions")
  fi

  if [ "${FUZZ_MERGE:-0}" = "1" ]; then
    # -use_counters=0: keep one input per new edge, not per hit count, so the
    # committed corpus stays small.
    "$bin" -merge=1 -use_counters=0 "fuzz/corpus/$t" "$work/$t/corpus" -max_len=4096 >"$work/$t/merge.txt" 2>&1 ||
      echo "-- merge for $t failed, see $work/$t/merge.txt"
  fi
done

echo
echo "== summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]} (inputs and logs kept in $work)"
  exit 1
fi
rm -rf "$work"
