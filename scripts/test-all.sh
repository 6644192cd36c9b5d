#!/usr/bin/env bash
# Every test: installs what is missing, then runs the sanitizer build's tests
# (clang; warnings are errors there: the dev preset sets SSEKIT_WERROR; the
# examples run against loopback servers), the release build's tests (g++,
# warnings are errors here too, so both compilers' warnings count; with the consumer
# projects: install prefix, pkg-config, add_subdirectory), the WASM build
# and the npm package's tests (node, npm pack, headless Chromium), every fuzz
# target for a bounded time, and a small benchmark run. Exits non-zero on any
# failure. FUZZ_SECONDS (default 20 here: eight targets, one per core at a
# time, and a full run on a fresh 2-core machine stays under 30 minutes)
# sets the time per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/install-deps.sh build test fuzz bench wasm browser
jobs=$(nproc)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Each phase's header gives the time since the start: a full run must stay
# under 30 minutes on a fresh 2-core machine, and this shows where it goes.
phase() { echo "== $* [$((SECONDS - start)) s]"; }

run_ctest() {  # run_ctest PRESET
  phase "ctest ($1)"
  # The client honours the proxy environment; loopback tests must not use the machine's proxy.
  env -u http_proxy -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY ctest --preset "$1" -j "$jobs" --timeout 600 2>&1 | tee -a "$log" | grep -vE '^ +Start |Test +#[0-9]+: .* Passed'
  return "${PIPESTATUS[0]}"
}

phase "build (dev: Debug, ASan + UBSan)"
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$jobs"
run_ctest dev

phase "build (release)"
cmake --preset release -DSSEKIT_WERROR=ON >/dev/null  # not in the preset: a user's newer g++ may warn more
cmake --build --preset release -j "$jobs"
run_ctest release

phase "wasm + npm package (node --test)"
js_log=$(mktemp)
if (cd js && npm ci --no-audit --no-fund && npm test) >"$js_log" 2>&1; then
  grep -a -E '^# (tests|pass|fail|skipped|todo)' "$js_log"  # -a: failure output may hold NULs
  cat "$js_log" >>"$log"
  rm -f "$js_log"
else
  tail -n 60 "$js_log"
  echo "== the npm package's tests failed (full output: $js_log)"
  exit 1
fi

export FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
phase "fuzz (${FUZZ_SECONDS} s per target)"
bash fuzz/run.sh
phase "fuzz the core's SSE2 path too (SSEKIT_NO_AVX2: the path of CPUs without AVX2)"
SSEKIT_NO_AVX2=1 FUZZ_SECONDS=10 bash fuzz/run.sh fuzz_differential fuzz_roundtrip

phase "benchmark (small, not a speed check on this noisy machine)"
build/release/bench/ssekit-bench --size 8388608 --reps 2
bash bench/callgrind.sh --check  # deterministic gate: Ir/byte of parser and serializer under their ceilings

# The benchmarks run as correctness checks (every event and byte count is
# verified) and print their ratios; a busy machine must never fail CI, so
# there are no wall-clock floors here. The deterministic regression gate is
# instruction counts (bench/callgrind.sh), not seconds.
phase "end-to-end benchmark: ssekit::client vs sse-serve over loopback (counts checked, ratios printed)"
build/release/bench/ssekit-e2e-bench
phase "the same with gzip, and over https (counts checked, gzip/identity and https/http ratios printed)"
build/release/bench/ssekit-e2e-bench --gzip --size 16777216 --conns 0 llm feed
build/release/bench/ssekit-e2e-bench --tls --size 16777216 --conns 100 llm
phase "async_next (co_await) vs the callback path (counts checked, ratio printed)"
build/release/bench/ssekit-pull-bench --size 16777216
phase "sse-cat end to end next to the library (event counts checked, ratios printed)"
REPS=1 bash bench/native/sse_cat_throughput.sh build/release 16777216  # counts; speed: REPS=3 at 1 GiB

phase "JS benchmark: ssekit vs eventsource-parser, same chunks (counts checked, ratios printed)"
(cd js && node bench/parser-bench.mjs --size 8388608 --bin ../build/release/bench/bench-workload)
phase "JS benchmark: serializeEvent() vs a template literal, same events (outputs checked, ratios printed)"
(cd js && node bench/serializer-bench.mjs --events 50000 --reps 3)

# ctest's and node's own summaries, added up.
ctest_passed=$(grep -oE '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" |
               awk '{total += $NF; failed += $4} END {print total - failed}')
ctest_failed=$(grep -oE '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | awk '{f += $4} END {print f + 0}')
node_passed=$(awk '/^# pass / {n += $3} END {print n + 0}' "$log")
node_failed=$(awk '/^# fail / {n += $3} END {print n + 0}' "$log")
echo "== done in $((SECONDS - start)) s"
echo "ctest: $ctest_passed passed, $ctest_failed failed; node: $node_passed passed, $node_failed failed"
echo "all: $((ctest_passed + node_passed)) passed, $((ctest_failed + node_failed)) failed"
