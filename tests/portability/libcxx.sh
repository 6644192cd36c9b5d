#!/usr/bin/env bash
# ssekit with clang and libc++ (LLVM's standard library), which the GCC
# builds never see: libc++ 14 lacks parts of C++20 that libstdc++ has
# (std::string's <=>, make_unique_for_overwrite, floating-point
# from_chars), and each of those once broke a build here. Every source of
# the libraries, the programs and the test-support library is compiled
# with clang++ -stdlib=libc++ -fsyntax-only (templates are instantiated, no
# code is made, so this costs a fraction of a build).
#   libcxx.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
jobs=${SSEKIT_JOBS:-2}
command -v clang++ >/dev/null || { echo "libcxx.sh: no clang++ (bash scripts/install-deps.sh test)"; exit 1; }
echo '#include <string>' | clang++ -stdlib=libc++ -std=c++20 -x c++ -fsyntax-only - ||
  { echo "libcxx.sh: no libc++ headers (bash scripts/install-deps.sh test: libc++-dev)"; exit 1; }
rm -rf "$build"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS=-stdlib=libc++ -DCMAKE_EXE_LINKER_FLAGS=-stdlib=libc++ -DCMAKE_SHARED_LINKER_FLAGS=-stdlib=libc++ \
  -DSSEKIT_BUILD_FUZZERS=OFF -DSSEKIT_BUILD_BENCHMARKS=OFF -DSSEKIT_BUILD_EXAMPLES=OFF -DSSEKIT_INSTALL=OFF \
  >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
# The object files of the chosen folders, and the command that makes each.
mapfile -t objects < <(ninja -C "$build" -t targets all | sed -n 's/^\(\(core\|native\|tools\|tests\/support\)\/[^:]*\.cpp\.o\):.*/\1/p')
[ ${#objects[@]} -ge 20 ] || { echo "libcxx.sh: found only ${#objects[@]} sources to compile"; exit 1; }
check() {  # check OBJECT: its compile command, -fsyntax-only
  local command
  command=$(ninja -C "$1" -t commands "$2" | tail -n 1)
  (cd "$1" && eval "$command -fsyntax-only") >"$1/${2//\//_}.log" 2>&1 || { echo "FAILED: $2"; cat "$1/${2//\//_}.log"; return 1; }
}
export -f check
printf '%s\n' "${objects[@]}" | xargs -P "$jobs" -I{} bash -c 'check "$0" "$1"' "$build" {}
echo "libcxx.sh: ${#objects[@]} sources compile with clang++ -stdlib=libc++"
