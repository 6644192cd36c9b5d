#!/usr/bin/env bash
# npm's prepack step (package.json "prepack"): rebuilds dist/ from the C++
# core before `npm pack` / `npm publish`. That build needs the whole ssekit
# repository around js/ (../core, ../wasm) and emscripten, so a copy of js/
# on its own (an unpacked tarball, a copied folder) stops here with what to
# do instead of a cmake error.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/.." && pwd)"
if [ ! -f "$root/wasm/CMakeLists.txt" ] || [ ! -d "$root/core/include/ssekit" ]; then
  cat >&2 <<MSG
ssekit: npm pack must run in js/ of an ssekit repository checkout.
  The package's WebAssembly (dist/) is built from the C++ core in ../core and
  ../wasm, which are not next to $here.
  To pack or publish: git clone the repository, then
    cd js && npm ci && npm run build && npm test && npm pack   (or npm publish)
  (building needs Debian's emscripten: bash scripts/install-deps.sh wasm)
MSG
  exit 1
fi
exec bash "$here/scripts/build-wasm.sh"
