#!/usr/bin/env bash
# Builds and runs the consumer project (CMakeLists.txt here) the way users
# meet ssekit, and checks what they get:
#   run.sh install BUILD_DIR SOURCE_DIR CXX
#     installs BUILD_DIR into a temporary prefix; find_package(... native);
#     pkg-config; a component that was not built, or does not exist, or
#     whose dependencies are missing, fails with a clear message; ssekit
#     built as shared libraries, installed outside the loader's paths.
#   run.sh subdirectory SOURCE_DIR CXX
#     add_subdirectory(ssekit) with no options: ssekit::native, no programs.
# Each consumer program runs a client against its own loopback server.
set -euo pipefail
mode=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jobs=2

# For the builds whose code only has to compile and run, not be fast (the
# add_subdirectory, shared-library and core-only ones): no optimization,
# which takes a third off each Beast translation unit. The install test's
# consumer stays Release, with the strict flags that only optimizing
# compilers warn with.
unoptimized=-DCMAKE_BUILD_TYPE=

configure() {  # configure SRC BIN [cmake args...]
  local src=$1 bin=$2
  shift 2
  cmake -S "$src" -B "$bin" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" "$@" >"$bin.log" 2>&1 ||
    { cat "$bin.log"; return 1; }
}

run_programs() {  # run_programs BIN PROGRAM...
  local bin=$1
  shift
  for program in "$@"; do
    echo "-- $program"
    timeout 120 "$bin/$program"
  done
}

expect_success() {  # expect_success NAME CHECK [cmake args...]: configuring must succeed and print CHECK
  local name=$1 check=$2
  shift 2
  mkdir -p "$tmp/$name"
  printf 'cmake_minimum_required(VERSION 3.21)\nproject(%s LANGUAGES CXX)\n%s\n' "$name" "$FIND" >"$tmp/$name/CMakeLists.txt"
  cmake -S "$tmp/$name" -B "$tmp/$name/build" "$@" >"$tmp/$name.log" 2>&1 ||
    { echo "FAIL: $name did not configure:"; cat "$tmp/$name.log"; return 1; }
  grep -q "$check" "$tmp/$name.log" || { echo "FAIL: $name: no '$check' in:"; cat "$tmp/$name.log"; return 1; }
  echo "-- $name: configures as it should: $check"
}

readme_programs() {  # readme_programs BIN: the README snippet programs built there
  local program
  for program in "$1"/readme_snippets_*; do
    [[ $program =~ /readme_snippets_[0-9]+$ ]] && echo "${program##*/}"
  done
  return 0
}

check_installed() {  # check_installed PREFIX BUILD SOURCE: what the package holds, and no build paths
  local prefix=$1 build=$2 source=$3
  local want have
  want=$(tr ';' '\n' <"$tmp/build/public_headers.txt" | sed 's/$/.hpp/' | sort)
  have=$(find "$prefix/include/ssekit" -mindepth 1 -printf '%f\n' | sort)
  test "$want" = "$have" ||
    { echo "FAIL: installed headers differ from CMakeLists.txt's SSEKIT_PUBLIC_HEADERS:"; diff <(echo "$want") <(echo "$have"); return 1; }
  if find "$prefix" \( -name '*.cmake' -o -name '*.pc' \) -exec grep -lF -e "$build" -e "$source" {} +; then
    echo "FAIL: installed package files name the build or source tree"; return 1
  fi
}

expect_failure() {  # expect_failure NAME MESSAGE [cmake args...]: configuring must fail saying MESSAGE
  local name=$1 message=$2
  shift 2
  mkdir -p "$tmp/$name"
  printf 'cmake_minimum_required(VERSION 3.21)\nproject(%s LANGUAGES CXX)\n%s\n' "$name" "$FIND" >"$tmp/$name/CMakeLists.txt"
  if cmake -S "$tmp/$name" -B "$tmp/$name/build" "$@" >"$tmp/$name.log" 2>&1; then
    echo "FAIL: $name configured, but should have failed"; return 1
  fi
  # CMake wraps its messages: look for MESSAGE in the log as one line.
  tr -s ' \n' '  ' <"$tmp/$name.log" | grep -q -- "$message" ||
    { echo "FAIL: $name: no '$message' in:"; cat "$tmp/$name.log"; return 1; }
  echo "-- $name: fails as it should: $message"
}

case $mode in
install)
  build=$1 source=$2 cxx=$3
  prefix=$tmp/prefix
  cmake --install "$build" --prefix "$prefix" >/dev/null
  # The programs are not part of the package unless built and installed.
  test -f "$prefix/include/ssekit/version.hpp" && test -f "$prefix/include/ssekit/client.hpp" && test -f "$prefix/include/ssekit/event_stream.hpp"
  test ! -e "$prefix/include/ssekit/demo_server.hpp"
  if grep -q '^SSEKIT_BUILD_TOOLS:BOOL=ON' "$build/CMakeCache.txt"; then test -x "$prefix/bin/sse-cat"; fi
  configure "$here" "$tmp/build" -DCMAKE_PREFIX_PATH="$prefix" -DSSEKIT_SOURCE_DIR="$source"
  cmake --build "$tmp/build" -j "$jobs" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
  # shellcheck disable=SC2046
  run_programs "$tmp/build" consumer consumer_asio_header_only consumer_asio_separate consumer_client_only consumer_tls_context public_headers \
    $(readme_programs "$tmp/build")
  check_installed "$prefix" "$build" "$source"

  # pkg-config: the core program and a client program, compiled by hand.
  export PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name ssekit.pc)")
  test "$(pkg-config --modversion ssekit-native)" = "$(pkg-config --modversion ssekit)"
  # shellcheck disable=SC2046
  "$cxx" -std=c++20 -o "$tmp/pc_core" "$here/main.cpp" $(pkg-config --cflags --libs ssekit)
  "$tmp/pc_core"
  printf '#include <ssekit/client.hpp>\n#include <cstdio>\nint main() { std::puts(ssekit::client_state_name(ssekit::client_state::open).data()); }\n' >"$tmp/pc_native.cpp"
  # shellcheck disable=SC2046
  "$cxx" -std=c++20 -o "$tmp/pc_native" "$tmp/pc_native.cpp" $(pkg-config --cflags --libs ssekit-native)
  test "$("$tmp/pc_native")" = open && echo "-- pkg-config: ssekit and ssekit-native link"
  # Without -std=c++20 (g++ 12 defaults to C++17) the first error says so.
  for header in utf8 serializer client; do
    # shellcheck disable=SC2046
    if printf '#include <ssekit/%s.hpp>\n' "$header" |
      "$cxx" -std=c++17 -fsyntax-only -x c++ - $(pkg-config --cflags ssekit-native) >"$tmp/cxx17.log" 2>&1; then
      echo "FAIL: <ssekit/$header.hpp> compiled as C++17"; exit 1
    fi
    grep -m1 ': error:' "$tmp/cxx17.log" | grep -q 'ssekit needs C++20' ||
      { echo "FAIL: C++17 build of <ssekit/$header.hpp>, first error is not ssekit's:"; head -5 "$tmp/cxx17.log"; exit 1; }
  done
  echo "-- C++17: the first error says ssekit needs C++20"

  # A component that does not exist; one that this prefix was not built with
  # (a core-only ssekit: four files, built here as a shared library, which
  # gets the SOVERSION MAJOR.MINOR while the major version is 0).
  FIND='find_package(ssekit REQUIRED COMPONENTS native nonsense)'
  expect_failure unknown_component "ssekit has no component 'nonsense'" -DCMAKE_PREFIX_PATH="$prefix"
  configure "$source" "$tmp/core-only" "$unoptimized" -DSSEKIT_BUILD_NATIVE=OFF -DSSEKIT_BUILD_TOOLS=OFF -DSSEKIT_BUILD_TESTS=OFF \
    -DSSEKIT_BUILD_FUZZERS=OFF -DSSEKIT_BUILD_BENCHMARKS=OFF -DSSEKIT_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=ON
  cmake --build "$tmp/core-only" -j "$jobs" >/dev/null
  cmake --install "$tmp/core-only" --prefix "$tmp/core-prefix" >/dev/null
  version=$(sed -n 's/^#define SSEKIT_VERSION_STRING "\(.*\)"$/\1/p' "$tmp/core-prefix/include/ssekit/version.hpp")
  soname=$(objdump -p "$(find "$tmp/core-prefix" -name "libssekit_core.so.$version")" | awk '/SONAME/ {print $2}')
  want=${version%.*}                                  # 0.x: MAJOR.MINOR
  [ "${version%%.*}" = 0 ] || want=${version%%.*}      # then MAJOR
  test "$soname" = "libssekit_core.so.$want" || { echo "FAIL: SONAME $soname for version $version"; exit 1; }
  echo "-- shared core: $soname"
  test ! -e "$tmp/core-prefix/bin" || { echo "FAIL: programs installed without SSEKIT_BUILD_TOOLS"; exit 1; }
  FIND='find_package(ssekit REQUIRED COMPONENTS native)'
  expect_failure native_not_built "was built without its 'native'" -DCMAKE_PREFIX_PATH="$tmp/core-prefix"

  # The client's dependencies missing on the consumer's machine (as if not
  # installed): 'native' is not found and the message names what is
  # missing; asked for as an optional component, the core is still found.
  expect_failure no_boost "needs Boost >= 1.81.*not found: Boost 1.81" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON
  expect_failure no_openssl "not found: OpenSSL" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON
  FIND='find_package(ssekit REQUIRED OPTIONAL_COMPONENTS native)
if(TARGET ssekit::core AND NOT TARGET ssekit::native AND NOT ssekit_native_FOUND)
  message(STATUS "core without native")
endif()'
  expect_success optional_native_no_boost "core without native" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON

  # Shared libraries (core and client), installed where the loader does not
  # look: the programs start without LD_LIBRARY_PATH, the client-only one
  # too (libssekit_native finds libssekit_core through its RUNPATH).
  configure "$source" "$tmp/shared" "$unoptimized" -DBUILD_SHARED_LIBS=ON -DSSEKIT_BUILD_NATIVE=ON -DSSEKIT_BUILD_TOOLS=OFF \
    -DSSEKIT_BUILD_TESTS=OFF -DSSEKIT_BUILD_FUZZERS=OFF -DSSEKIT_BUILD_BENCHMARKS=OFF -DSSEKIT_BUILD_EXAMPLES=OFF
  cmake --build "$tmp/shared" -j "$jobs" >"$tmp/shared-build.log" 2>&1 || { cat "$tmp/shared-build.log"; exit 1; }
  cmake --install "$tmp/shared" --prefix "$tmp/shared-prefix" >/dev/null
  native_so=$(find "$tmp/shared-prefix" -name "libssekit_native.so.$version")
  soname=$(objdump -p "$native_so" | awk '/SONAME/ {print $2}')
  test "$soname" = "libssekit_native.so.$want" || { echo "FAIL: SONAME $soname for version $version"; exit 1; }
  configure "$here" "$tmp/shared-consumer" "$unoptimized" -DCMAKE_PREFIX_PATH="$tmp/shared-prefix" -DSSEKIT_SOURCE_DIR="$source"
  cmake --build "$tmp/shared-consumer" -j "$jobs" --target consumer consumer_asio_header_only consumer_client_only consumer_tls_context \
    >"$tmp/shared-consumer.log" 2>&1 || { cat "$tmp/shared-consumer.log"; exit 1; }
  (unset LD_LIBRARY_PATH; run_programs "$tmp/shared-consumer" consumer consumer_asio_header_only consumer_client_only consumer_tls_context)
  echo "-- shared: $soname, programs start from $tmp/shared-prefix"
  ;;
subdirectory)
  source=$1 cxx=$2
  configure "$here" "$tmp/build" "$unoptimized" -DSSEKIT_CONSUMER_MODE=subdirectory -DSSEKIT_SOURCE_DIR="$source"
  # No options given: the library and nothing else.
  targets=$(cmake --build "$tmp/build" --target help)
  for program in sse-cat sse-serve ssekit-contract-service ssekit_tests ssekit-bench fuzz_parse llm_stream \
                 ssekit_bench_workloads; do
    if grep -q "^$program:" <<<"$targets"; then echo "FAIL: add_subdirectory(ssekit) builds $program"; exit 1; fi
  done
  # The core and the header-only Asio program (install mode runs the rest).
  cmake --build "$tmp/build" -j "$jobs" --target consumer consumer_asio_header_only consumer_client_only \
    >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
  run_programs "$tmp/build" consumer consumer_asio_header_only consumer_client_only
  # ssekit on its own where Boost is missing, with the README's install
  # options: the parser alone configures and builds (the programs, which
  # need the client, are not asked for by default).
  configure "$source" "$tmp/no-boost" "$unoptimized" -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON -DSSEKIT_BUILD_TESTS=OFF \
    -DSSEKIT_BUILD_FUZZERS=OFF -DSSEKIT_BUILD_BENCHMARKS=OFF -DSSEKIT_BUILD_EXAMPLES=OFF
  cmake --build "$tmp/no-boost" -j "$jobs" >"$tmp/no-boost-build.log" 2>&1 || { cat "$tmp/no-boost-build.log"; exit 1; }
  if grep -q "ssekit_native" <(cmake --build "$tmp/no-boost" --target help); then
    echo "FAIL: without Boost, the client was configured"; exit 1
  fi
  echo "-- without Boost: the core alone"
  ;;
*)
  echo "usage: run.sh install BUILD_DIR SOURCE_DIR CXX | run.sh subdirectory SOURCE_DIR CXX" >&2
  exit 2
  ;;
esac
echo "consumer ($mode): ok"
