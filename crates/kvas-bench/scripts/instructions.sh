#!/bin/sh
# Instructions per operation of the per-page workloads, counted by callgrind.
#
#   sh crates/kvas-bench/scripts/instructions.sh [IMPL...]
#
# For each implementation and workload it runs `kvas-bench --reps 1` and `--reps 3`
# under `valgrind --tool=callgrind`; the difference is exactly two samples (setup and
# checks included). translate-seq and unmap-4k first map the 1 GiB, so map-4k's
# count is subtracted from theirs. map-2m's figure includes building a fresh table
# per 512 maps (root allocation and clearing, outside the clock), a few instructions per map.
set -eu
cd "$(dirname "$0")/../../.."
cargo build -q --release -p kvas-bench
bin=target/release/kvas-bench
[ $# -gt 0 ] || set -- kvas-sv39 kvas-sv48 kvas-sv57 kvas-sv48-fixed ptm-sv39 ptm-sv48 x86_64-4level
ir() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --reps "$1" --workload "$2" --impl "$3" \
        2>&1 >/dev/null | sed -n 's/.*Collected : *//p'
}
printf '%-16s %8s %14s %9s %7s\n' impl map-4k translate-seq unmap-4k map-2m
for imp in "$@"; do
    map=$(( $(ir 3 map-4k "$imp") - $(ir 1 map-4k "$imp") ))
    seq=$(( $(ir 3 translate-seq "$imp") - $(ir 1 translate-seq "$imp") - map ))
    unmap=$(( $(ir 3 unmap-4k "$imp") - $(ir 1 unmap-4k "$imp") - map ))
    m2=$(( $(ir 3 map-2m "$imp") - $(ir 1 map-2m "$imp") ))
    # Two samples of 262144 pages; map-2m: two samples of 32 rounds of 512 pages.
    awk -v i="$imp" -v a="$map" -v b="$seq" -v c="$unmap" -v d="$m2" 'BEGIN {
        printf "%-16s %8.1f %14.1f %9.1f %7.1f\n", i, a / 524288, b / 524288, c / 524288, d / 32768 }'
done
