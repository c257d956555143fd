#!/bin/sh
# Regenerates the pictures and tables in docs/layouts/ with the real kvas binary.
# Run from the repository root: sh docs/layouts/generate.sh
set -eu
cargo build -q -p kvas-cli
kvas=target/debug/kvas
out=docs/layouts
$kvas layout --arch riscv64 --mode all --kasan generic --format svg > $out/riscv64-all.svg
$kvas layout --arch riscv64 --mode all --kasan generic --kernel-size 20M --kaslr-offset 64M --format svg \
    > $out/riscv64-all-kaslr.svg
for m in sv39 sv48 sv57; do
    $kvas layout --arch riscv64 --mode $m --kasan generic --format svg > $out/riscv64-$m.svg
    $kvas layout --arch riscv64 --mode $m --kasan generic > $out/riscv64-$m.txt
done
for am in x86_64:4level x86_64:5level arm64:4k-39 arm64:4k-48 arm64:4k-52 arm64:16k-36 arm64:16k-47 \
          arm64:16k-48 arm64:16k-52 arm64:64k-42 arm64:64k-48 arm64:64k-52 riscv32:sv32 \
          arm32:3g arm32:3g-opt arm32:2g arm32:1g arm32:4g4g; do
    a=${am%%:*} m=${am#*:}
    kasan=generic
    [ "$a" = riscv32 ] && kasan=none
    [ "$am" = arm32:4g4g ] && kasan=none
    $kvas layout --arch "$a" --mode "$m" --kasan $kasan > $out/$a-$m.txt
done
$kvas layout --arch x86_64 --mode 4level --kasan generic --format svg > $out/x86_64-4level.svg
$kvas layout --arch x86_64 --mode all --kasan generic --format svg > $out/x86_64-all.svg
$kvas layout --arch arm64 --mode all --kasan generic --format svg > $out/arm64-all.svg
$kvas layout --arch arm32 --mode all --ram 2G --format svg > $out/arm32-all.svg
$kvas layout --arch arm64 --mode 4k-48 --kernel-size 30M --format svg > $out/arm64-4k-48.svg
$kvas layout --arch arm32 --mode 3g --ram 2G --kernel-size 12M --format svg > $out/arm32-3g.svg
$kvas diff arm64:4k-48:profile=linux-doc arm64:4k-48 > $out/arm64-4k-48-doc-vs-6.17.diff.txt
$kvas diff riscv64:sv39 riscv64:sv48 --kasan generic > $out/riscv64-sv39-vs-sv48.diff.txt
$kvas layout --arch x86_64 --mode 4level --kasan generic --kaslr off > $out/x86_64-4level-nokaslr.txt
$kvas diff x86_64:4level:kaslr=off x86_64:4level > $out/x86_64-4level-kaslr-off-vs-on.diff.txt
# The kvas riscv32 kernel under each vmsplit= (a 3 MiB image, 2 GiB of RAM), and 4G/4G against 3G/1G.
for s in 3g 2g 1g 4g4g; do
    $kvas layout --arch riscv32 --mode sv32 --split $s --ram 2G --kernel-size 3M > $out/riscv32-sv32-split-$s.txt
done
$kvas layout --arch riscv32 --mode sv32 --split 4g4g --ram 2G --kernel-size 3M --format svg \
    > $out/riscv32-sv32-split-4g4g.svg
$kvas diff riscv32:sv32:split=3g,ram=2G,kernel-size=3M riscv32:sv32:split=4g4g,ram=2G,kernel-size=3M \
    > $out/riscv32-3g-vs-4g4g.diff.txt
$kvas diff arm32:3g:ram=2G arm32:4g4g:ram=2G > $out/arm32-3g-vs-4g4g.diff.txt
