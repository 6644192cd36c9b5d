#!/usr/bin/env bash
# Installs the Debian packages the given parts need, only if missing.
# usage: install-deps.sh [build] [test] [fuzz] [bench] [wasm] [browser]
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config)
for part in "$@"; do
  case "$part" in
    # native/: Boost.Beast (header-only, from Debian), OpenSSL for https, zlib for gzip.
    build) packages+=(libboost1.81-dev libssl-dev zlib1g-dev) ;;
    # clang and libc++: tests/portability/libcxx.sh compiles ssekit against LLVM's library;
    # curl: tests/cli/servers_test.sh asks the servers for pages (not in a minimal Debian);
    # openssl: tests/cli/sse_cat_test.sh's TLS server (s_server), which tells a close_notify.
    test) packages+=(libgtest-dev clang libc++-dev libc++abi-dev curl openssl) ;;
    fuzz) packages+=(clang libclang-rt-14-dev) ;;
    bench) packages+=(valgrind) ;;
    wasm)
      packages+=(emscripten)
      # js/ needs Node >= 18 with npm; the machine image brings one.
      command -v npm >/dev/null || packages+=(nodejs npm) ;;
    # js/test/browser.test.mjs drives Debian's Chromium (never a downloaded
    # one); its demo screenshot needs a font, which DejaVu provides.
    browser) packages+=(chromium fonts-dejavu-core) ;;
    *) echo "install-deps.sh: unknown part '$part'" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  # A fresh machine may still be running its own apt (unattended upgrades)
  # and the archive may drop a download: wait for the lock, retry fetches.
  apt_opts=(-q -o Acquire::Retries=3 -o DPkg::Lock::Timeout=600)
  "${sudo_cmd[@]}" apt-get "${apt_opts[@]}" update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
fi
