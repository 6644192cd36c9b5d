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
#   FUZZ_JOBS=1 fuzz/run.sh          # one target at a time (default: one per core)
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
# Targets run side by side, one per core (FUZZ_JOBS, default nproc): each
# still fuzzes for FUZZ_SECONDS on a core of its own, and a full run takes
# half the time on two cores.
jobs="${FUZZ_JOBS:-$(nproc)}"
case $jobs in ''|*[!0-9]*|0) echo "FUZZ_JOBS must be a positive integer" >&2; exit 2 ;; esac

# Runs one target; its verdict goes to $work/$t/verdict ("ok ..." or
# "FAILED ..."), its log to $work/$t/log.txt.
fuzz_one() {
  local t=$1 bin="build/fuzz/fuzz/$1" status=0 execs artifacts log
  log="$work/$t/log.txt"
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
    echo "FAILED (exit $status), $execs executions" >"$work/$t/verdict"
  else
    echo "ok, $execs executions" >"$work/$t/verdict"
  fi

  if [ "${FUZZ_MERGE:-0}" = "1" ]; then
    # -use_counters=0: keep one input per new edge, not per hit count, so the
    # committed corpus stays small.
    "$bin" -merge=1 -use_counters=0 "fuzz/corpus/$t" "$work/$t/corpus" -max_len=4096 >"$work/$t/merge.txt" 2>&1 ||
      echo "-- merge for $t failed, see $work/$t/merge.txt"
  fi
}

for t in "${targets[@]}"; do
  [ -x "build/fuzz/fuzz/$t" ] || { echo "no such fuzz target: $t" >&2; exit 2; }
done
running=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp -R "fuzz/corpus/$t/." "$work/$t/corpus/" 2>/dev/null || true
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  echo "== $t: ${seconds}s (log: $work/$t/log.txt)"
  fuzz_one "$t" &
  running=$((running + 1))
done
wait

failed=()
summary=()
for t in "${targets[@]}"; do
  verdict=$(cat "$work/$t/verdict" 2>/dev/null || echo "FAILED (no verdict)")
  summary+=("$t: $verdict")
  if [[ $verdict == FAILED* ]]; then
    failed+=("$t")
    echo "-- $t FAILED; end of log:"
    tail -n 40 "$work/$t/log.txt"
    artifacts="$(find "$work/$t/artifacts" -type f | sort)"
    [ -n "$artifacts" ] && printf 'failing input: %s\n' $artifacts
  fi
done

echo
echo "== summary (${seconds}s per target, ${jobs} at a time)"
printf '  %s\n' "${summary[@]}"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]} (inputs and logs kept in $work)"
  exit 1
fi
rm -rf "$work"
