#!/bin/sh
# One workload in N separate processes: per implementation, the lowest, median and
# highest of the N medians. Shows effects that hold for a whole process (where the
# arena and the code land in memory) and so survive interleaving and medians.
#
#   sh crates/kvas-bench/scripts/spread.sh [WORKLOAD] [N]     # default translate-rand 8
set -eu
cd "$(dirname "$0")/../../.."
workload=${1:-translate-rand}
n=${2:-8}
cargo build -q --release -p kvas-bench
i=0
while [ "$i" -lt "$n" ]; do
    target/release/kvas-bench --reps 41 --workload "$workload" 2>/dev/null
    i=$((i + 1))
done | awk -v w="$workload" '
    { split($2, a, "="); split($3, b, "="); name = a[2]; v[name, ++n[name]] = b[2] + 0
      if (!(name in seen)) { seen[name] = 1; order[++k] = name } }
    END {
        printf "%-22s %7s %7s %7s   (%s, ns/op, %d processes)\n", "impl", "lowest", "median", "highest", w, n[order[1]]
        for (j = 1; j <= k; j++) {
            m = order[j]; c = n[m]
            for (x = 1; x <= c; x++) s[x] = v[m, x]
            for (x = 1; x <= c; x++) for (y = x + 1; y <= c; y++) if (s[y] < s[x]) { t = s[x]; s[x] = s[y]; s[y] = t }
            med = (c % 2) ? s[(c + 1) / 2] : (s[c / 2] + s[c / 2 + 1]) / 2
            printf "%-22s %7.2f %7.2f %7.2f\n", m, s[1], med, s[c]
        }
    }'
