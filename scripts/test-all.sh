#!/usr/bin/env bash
# Every test: installs what is missing, then runs the sanitizer build's tests,
# the release build's tests (with the find_package consumer), every fuzz
# target for a bounded time, and a small benchmark run. Exits non-zero on any
# failure. FUZZ_SECONDS (default 60) sets the time per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/install-deps.sh build test fuzz
jobs=$(nproc)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_ctest() {  # run_ctest PRESET
  echo "== ctest ($1)"
  ctest --preset "$1" -j "$jobs" --timeout 600 2>&1 | tee -a "$log" | grep -vE '^ +Start |Test +#[0-9]+: .* Passed'
  return "${PIPESTATUS[0]}"
}

echo "== build (dev: Debug, ASan + UBSan)"
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$jobs"
run_ctest dev

echo "== build (release)"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
run_ctest release

echo "== fuzz (${FUZZ_SECONDS:-60} s per target)"
bash fuzz/run.sh

echo "== benchmark (small, not a speed check on this noisy machine)"
build/release/bench/ssekit-bench --size 8388608 --reps 2

passed=$(grep -oE '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" |
         awk '{total += $NF; failed += $4} END {print total - failed}')
failed=$(grep -oE '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | awk '{f += $4} END {print f + 0}')
echo "== done in $((SECONDS - start)) s"
echo "ctest: $passed passed, $failed failed"
