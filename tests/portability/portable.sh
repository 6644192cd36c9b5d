#!/usr/bin/env bash
# The core as CPUs other than x86 run it (ARM, RISC-V...: the SWAR line-end
# scan and the scalar UTF-8 check), built here with SSEKIT_PORTABLE, which
# leaves out the x86 code; every core test runs on it, and the fuzz
# targets replay their committed corpora (the replay build, no libFuzzer).
# An x86 machine otherwise never runs that code.
#   portable.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
jobs=${SSEKIT_JOBS:-2}
rm -rf "$build"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-DSSEKIT_PORTABLE \
  -DSSEKIT_BUILD_NATIVE=OFF -DSSEKIT_BUILD_TOOLS=OFF -DSSEKIT_BUILD_TESTS=ON -DSSEKIT_BUILD_FUZZERS=ON \
  -DSSEKIT_BUILD_BENCHMARKS=OFF -DSSEKIT_BUILD_EXAMPLES=OFF -DSSEKIT_INSTALL=OFF \
  >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
fuzzers=(fuzz_parse fuzz_differential fuzz_roundtrip fuzz_utf8)
ninja -C "$build" -j "$jobs" ssekit_tests "${fuzzers[@]}" >"$build.build.log" 2>&1 || { tail -n 50 "$build.build.log"; exit 1; }
# The x86 code must really be out: its AVX2 entry point is not in the binary.
if nm -C "$build/tests/ssekit_tests" | grep -q 'feed_avx2'; then
  echo "portable.sh: the build still has the AVX2 parser loop"; exit 1
fi
"$build/tests/ssekit_tests" --gtest_brief=1
for f in "${fuzzers[@]}"; do
  "$build/fuzz/$f" "$src/fuzz/corpus/$f" >"$build/$f.log" 2>&1 || { tail -n 20 "$build/$f.log"; echo "portable.sh: $f failed"; exit 1; }
done
echo "portable.sh: the core without its x86 code passes ssekit_tests and replays ${#fuzzers[@]} fuzz corpora"
