#!/usr/bin/env bash
# Instructions per input byte of the parser, measured with callgrind: unlike
# wall-clock time this is repeatable on a noisy machine, so it is the number
# to compare before and after a change to the hot loop.
#
# usage: bench/callgrind.sh [--build DIR] [--size BYTES] [--chunk BYTES]
#                           [--raw-bytes] [--annotate] [--keep DIR] [WORKLOAD...]
#
#   --build DIR   build tree holding bench/ssekit-bench (default: build/release)
#   --size BYTES  workload size (default 4194304 = 4 MiB)
#   --chunk BYTES feed() chunk size (default 16384)
#   --raw-bytes   parser_options::raw_bytes = true (no UTF-8 repair)
#   --annotate    after each workload, print the functions with the most
#                 instructions (self cost) inside parser::feed() and finish()
#   --keep DIR    keep the callgrind.out files in DIR (for callgrind_annotate
#                 or kcachegrind); default: a temporary directory, removed
#
# For every workload, two runs under callgrind: `--generate-only` (generator
# only) and `--parser-only --reps 1` (generator + one parse). The difference
# in total instructions (Ir) is the parser's; divided by the bytes fed it
# gives "Ir/byte". A third run collects only inside parser::feed() and
# parser::finish() (handler calls included): "feed Ir/byte" should agree with
# "Ir/byte" to a fraction of a percent, and its profile is what --annotate shows.
# A fourth run adds the memchr baseline (`--reps 1` without --parser-only);
# its extra instructions give "memchr Ir/byte", the floor to compare with.
# Build with -g (e.g. -DCMAKE_CXX_FLAGS=-g) to get file:line annotation too.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$repo/build/release"
size=4194304
chunk=16384
raw=()
annotate=0
keep=""
workloads=()

while (($#)); do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --chunk) chunk=$2; shift 2 ;;
    --raw-bytes) raw=(--raw-bytes); shift ;;
    --annotate) annotate=1; shift ;;
    --keep) keep=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
    -*) echo "callgrind.sh: unknown option $1" >&2; exit 2 ;;
    *) workloads+=("$1"); shift ;;
  esac
done

bench="$build/bench/ssekit-bench"
generator="$build/bench/bench-workload"
for exe in "$bench" "$generator"; do
  if [[ ! -x $exe ]]; then
    echo "callgrind.sh: $exe not found; build first (cmake --preset release && cmake --build --preset release) or pass --build DIR" >&2
    exit 2
  fi
done
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not found" >&2; exit 2; }

if ((${#workloads[@]} == 0)); then
  mapfile -t workloads < <("$bench" --list | awk '{print $1}')
fi

if [[ -n $keep ]]; then
  mkdir -p "$keep"
  out=$keep
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi

# Total Ir recorded in a callgrind output file.
total_ir() {
  awk '/^(summary|totals):/ {n = $2} END {print n}' "$1"
}

run_callgrind() {  # OUTFILE ARGS...
  local file=$1; shift
  if ! valgrind --tool=callgrind --callgrind-out-file="$file" "$@" >"$file.stdout" 2>"$file.log"; then
    echo "callgrind.sh: failed: $*" >&2
    cat "$file.stdout" "$file.log" >&2
    exit 1
  fi
}

printf '# callgrind, %s B per workload, feed() chunks of %s B%s\n' "$size" "$chunk" \
  "${raw:+, raw_bytes}"
printf '%-8s %10s %14s %9s %13s %15s\n' workload bytes "parser Ir" "Ir/byte" "feed Ir/byte" \
  "memchr Ir/byte"
for w in "${workloads[@]}"; do
  bytes=$("$generator" "$w" "$size" | wc -c)
  run_callgrind "$out/generate.$w.out" "$bench" --generate-only --size "$size" "${raw[@]}" "$w"
  run_callgrind "$out/parse.$w.out" "$bench" --parser-only --reps 1 --size "$size" \
    --chunk "$chunk" "${raw[@]}" "$w"
  run_callgrind "$out/feed.$w.out" --collect-atstart=no \
    --toggle-collect='ssekit::parser::feed(*' --toggle-collect='ssekit::parser::finish(*' \
    "$bench" --parser-only --reps 1 --size "$size" --chunk "$chunk" "${raw[@]}" "$w"
  run_callgrind "$out/both.$w.out" "$bench" --reps 1 --size "$size" --chunk "$chunk" "${raw[@]}" "$w"
  gen=$(total_ir "$out/generate.$w.out")
  all=$(total_ir "$out/parse.$w.out")
  feed=$(total_ir "$out/feed.$w.out")
  both=$(total_ir "$out/both.$w.out")
  awk -v w="$w" -v b="$bytes" -v g="$gen" -v a="$all" -v f="$feed" -v m="$both" \
    'BEGIN { printf "%-8s %10d %14d %9.2f %13.2f %15.2f\n", w, b, a - g, (a - g) / b, f / b, (m - a) / b }'
  if ((annotate)); then
    # The 12 costliest functions: "Ir (share) function", paths trimmed.
    callgrind_annotate --inclusive=no "$out/feed.$w.out" 2>/dev/null |
      grep -E '^ *[0-9,]+ +\( *[0-9.]+%\) ' | grep -v 'PROGRAM TOTALS' | head -n 12 |
      sed -E 's/ \[[^]]*\]$//; s/\?\?\?://; s@\./string/\.\./sysdeps/[^:]*:@@; s/std::basic_string_view<char, std::char_traits<char> >/string_view/g; s/^/    /'
  fi
done
if [[ -n $keep ]]; then
  echo "# callgrind output kept in $keep (callgrind_annotate $keep/parse.WORKLOAD.out)"
fi
