#!/bin/sh
# Instructions per operation of every workload, counted by callgrind (deterministic).
#
#   sh crates/kvas-bench/scripts/instructions.sh [IMPL...]
#
# For each implementation and workload it runs `kvas-bench --no-retry --reps 1` and
# `--reps 3` under `valgrind --tool=callgrind`; the difference is exactly two samples
# (setup and checks included; `--no-retry` keeps a sample whose every stretch was
# preempted from being taken again, which would add a third). What each figure
# divides by:
#   map-4k, translate-*, unmap-4k, fault-in, map-range-4k: one 4 KiB page (2 x 262144);
#   map-2m: one 2 MiB map (2 x 32 rounds x 512), which includes each round's fresh table;
#   map-linear-64g: one whole linear map (2 x 64 rounds).
# translate-seq, translate-rand and unmap-4k first map the 1 GiB with the very code
# map-4k times, so map-4k's count is subtracted from theirs; fault-in checks its
# result with one translation per page in address order, the loop translate-seq
# times, so translate-seq's own count is subtracted from it.
# The last table is the price of the run-time depth: kvas-sv48 / kvas-sv48-fixed.
set -eu
cd "$(dirname "$0")/../../.."
cargo build -q --release -p kvas-bench
bin=target/release/kvas-bench
[ $# -gt 0 ] || set -- kvas-sv39 kvas-sv48 kvas-sv57 kvas-sv48-fixed ptm-sv39 ptm-sv48 x86_64-4level \
    aarch64-3level aarch64-4level aarch64-3level-range aarch64-4level-range
workloads="map-4k translate-seq translate-rand unmap-4k map-2m map-range-4k map-linear-64g fault-in"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Instructions of one run, or "-" if the implementation sits the workload out.
ir() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --no-retry --reps "$1" \
        --workload "$2" --impl "$3" >"$tmp/out" 2>"$tmp/err" || true
    if grep -q "^workload=$2 " "$tmp/out"; then
        sed -n 's/.*Collected : *//p' "$tmp/err"
    else
        echo -
    fi
}
# Instructions of two samples of workload $1 on $2, or "-".
two() {
    a=$(ir 3 "$1" "$2")
    [ "$a" = - ] && { echo -; return; }
    echo $(( a - $(ir 1 "$1" "$2") ))
}

out=$tmp/table
printf '%-21s' impl
for w in $workloads; do printf ' %14s' "$w"; done
echo
for imp in "$@"; do
    printf '%-21s' "$imp"
    map=$(two map-4k "$imp")
    seq=-
    for w in $workloads; do
        raw=$(two "$w" "$imp")
        per=$(awk -v w="$w" -v raw="$raw" -v map="$map" -v seq="$seq" 'BEGIN {
            if (raw == "-") { print "-"; exit }
            if (w == "translate-seq" || w == "translate-rand" || w == "unmap-4k") {
                if (map == "-") { print "-"; exit }
                raw -= map
            }
            if (w == "fault-in") {
                if (seq == "-") { print "-"; exit }
                raw -= seq * 524288
            }
            d = 524288
            if (w == "map-2m") d = 32768
            if (w == "map-linear-64g") d = 128
            printf "%.1f", raw / d }')
        [ "$w" = translate-seq ] && seq=$per
        printf ' %14s' "$per"
        echo "$imp $w $per" >>"$out"
    done
    echo
done
if grep -q '^kvas-sv48 ' "$out" && grep -q '^kvas-sv48-fixed ' "$out"; then
    echo
    printf '%-16s %12s %16s %8s\n' workload kvas-sv48 kvas-sv48-fixed ratio
    for w in $workloads; do
        a=$(awk -v w="$w" '$1 == "kvas-sv48" && $2 == w { print $3 }' "$out")
        b=$(awk -v w="$w" '$1 == "kvas-sv48-fixed" && $2 == w { print $3 }' "$out")
        awk -v w="$w" -v a="$a" -v b="$b" 'BEGIN {
            r = a / b
            printf "%-16s %12s %16s %8.3f%s\n", w, a, b, r, (r <= 1.03 ? "" : "  (over 1.03)") }'
    done
fi
