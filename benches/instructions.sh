#!/usr/bin/env bash
# Instructions per call of every timed case of the `table` benchmark, counted by callgrind.
# Unlike times, instruction counts do not move with the load on the machine; they do not see
# what an instruction costs (an atomic read-modify-write, a cache miss, a clock read), so they
# complement the times rather than replace them.
#
#   bash benches/instructions.sh        # needs valgrind; takes a few minutes
set -euo pipefail
cd "$(dirname "$0")/.."

exe=$(cargo bench -p bulwark-benches --bench table --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*table[^"]*"' | tail -n 1 | cut -d'"' -f4)
[ -x "$exe" ] || { echo "the table benchmark did not build" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# One dump per case: collection is on only inside `profiled`. Each case's stderr line reads
# `profiling <calls> <group>: <case>`.
BULWARK_TABLE_PROFILE="" valgrind --tool=callgrind --collect-atstart=no \
  --toggle-collect='table::profiled' --dump-after='table::profiled' \
  --callgrind-out-file="$out/cg" "$exe" 2>"$out/log" >/dev/null

grep '^profiling ' "$out/log" | sed 's/^profiling //' >"$out/cases"
echo "| group: case | instructions/call |"
echo "| --- | ---: |"
i=0
while read -r calls case; do
  i=$((i + 1))
  total=$(grep -E '^totals:' "$out/cg.$i" | awk '{print $2}')
  printf '| %s | %d |\n' "$case" $((total / calls))
done <"$out/cases"
