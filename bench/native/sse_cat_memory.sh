#!/usr/bin/env bash
# Peak memory of `sse-cat --json -` (and the default output) for one event
# whose event, id and data fields are FIELD_MIB MiB each, ASCII and invalid
# UTF-8 (0xFF bytes, each repaired to U+FFFD), next to the same sse-cat on a
# tiny event in the same run (the baseline: the program itself). Prints the
# peak RSS above the baseline per event byte (target: <= 2x + 1 MiB for the
# library and sse-cat together). Measures, does not gate: memory figures
# depend on the allocator and the build.
# usage: sse_cat_memory.sh PATH/TO/sse-cat [FIELD_MIB]
set -eu
cat_bin=$1
mib=${2:-32}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
field=$((mib * 1024 * 1024))
limit=$((8 * field))

make_event() {  # make_event BYTE FILE: event:, id: and data: of $field bytes of BYTE, then a blank line
  local byte=$1 out=$2
  {
    printf 'event: '; head -c "$field" /dev/zero | tr '\0' "$byte"; printf '\n'
    printf 'id: ';    head -c "$field" /dev/zero | tr '\0' "$byte"; printf '\n'
    printf 'data: ';  head -c "$field" /dev/zero | tr '\0' "$byte"; printf '\n\n'
  } >"$out"
}

peak_kib() {  # peak_kib ARGS...: sse-cat's maximum resident set size in KiB, input from $input
  /usr/bin/time -f '%M' -o "$tmp/time" "$cat_bin" --max-line-length "$limit" --max-event-size "$limit" "$@" - \
    <"$input" >/dev/null
  cat "$tmp/time"
}

printf 'data: x\n\n' >"$tmp/tiny"
make_event 'a' "$tmp/ascii"
make_event '\377' "$tmp/invalid"
input=$tmp/tiny
base_json=$(peak_kib --json)
base_plain=$(peak_kib)
event_kib=$((3 * field / 1024))
printf '# one event, 3 fields x %d MiB = %d KiB of input; baseline (a tiny event): %d KiB --json, %d KiB default\n' \
  "$mib" "$event_kib" "$base_json" "$base_plain"
printf '%-8s %-8s %12s %16s\n' input output 'peak-KiB' 'x event bytes'
for kind in ascii invalid; do
  input=$tmp/$kind
  for mode in json plain; do
    if [ "$mode" = json ]; then kib=$(peak_kib --json); base=$base_json; else kib=$(peak_kib); base=$base_plain; fi
    awk -v k="$kind" -v m="$mode" -v p="$kib" -v b="$base" -v e="$event_kib" \
      'BEGIN { printf "%-8s %-8s %12d %16.2f\n", k, m, p - b, (p - b) / e }'
  done
done
