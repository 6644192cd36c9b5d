#!/usr/bin/env bash
# Builds the core to WebAssembly (wasm/) and puts the single-file output at
# js/dist/ssekit-wasm.cjs. Needs Debian's emscripten package
# (apt-get install emscripten); BUILD_DIR overrides build/wasm.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD_DIR:-$root/build/wasm}"
# Debian's emcc finds acorn and friends only through NODE_PATH.
export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
command -v emcmake >/dev/null || { echo "build-wasm.sh: emcmake not found (apt-get install emscripten)" >&2; exit 1; }
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
emcmake cmake -S "$root/wasm" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build"
mkdir -p "$root/js/dist"
cp "$build/ssekit-wasm.js" "$root/js/dist/ssekit-wasm.cjs"
echo "build-wasm.sh: $(wc -c < "$root/js/dist/ssekit-wasm.cjs") bytes -> js/dist/ssekit-wasm.cjs"
