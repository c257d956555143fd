#!/bin/sh
# Regenerates the device trees that crates/kvas/tests use as data.
#
#   scripts/gen-test-dtbs.sh
#
# Needs qemu-system-riscv64 (Debian: qemu-system-misc) and dtc (device-tree-compiler).
# QEMU's trees are dumped with `-machine virt,dumpdtb=FILE` and decompiled next to
# the blob (.dts) so that a reviewer can read them; the hand-made trees are
# compiled from the .dts files checked in beside them (crates/kvas/tests/data/*.dts
# without a matching qemu-* name).
set -eu
cd "$(dirname "$0")/../crates/kvas/tests/data"

for tool in qemu-system-riscv64 dtc; do
    command -v "$tool" >/dev/null || { echo "gen-test-dtbs: $tool not found (apt-get install qemu-system-misc device-tree-compiler)" >&2; exit 1; }
done

dump() { # NAME QEMU-ARGS...
    name=$1; shift
    qemu-system-riscv64 -machine "virt,dumpdtb=$name.dtb" -nographic "$@" >/dev/null
    dtc -q -I dtb -O dts -o "$name.dts" "$name.dtb"
    echo "wrote $name.dtb"
}

dump qemu-virt-1g -m 1G
dump qemu-virt-1537m -m 1537M
dump qemu-virt-5g -m 5G
dump qemu-virt-8g -m 8G -smp 4
dump qemu-virt-numa2 -m 1537M -smp 2 \
    -object memory-backend-ram,id=m0,size=513M -object memory-backend-ram,id=m1,size=1024M \
    -numa node,memdev=m0,cpus=0 -numa node,memdev=m1,cpus=1
dump qemu-virt-numa4 -m 6G -smp 4 \
    -object memory-backend-ram,id=m0,size=1G -object memory-backend-ram,id=m1,size=2G \
    -object memory-backend-ram,id=m2,size=1G -object memory-backend-ram,id=m3,size=2G \
    -numa node,memdev=m0,cpus=0 -numa node,memdev=m1,cpus=1 \
    -numa node,memdev=m2,cpus=2 -numa node,memdev=m3,cpus=3
# With an initrd and a command line: /chosen gets linux,initrd-start/end and bootargs.
# QEMU only places an initrd next to a kernel, so give it a one-instruction one (a nop).
head -c 300000 /dev/zero > initrd.tmp
printf '\023\000\000\000' > kernel.tmp
dump qemu-virt-initrd -m 2G -kernel kernel.tmp -initrd initrd.tmp -append "console=ttyS0 no4lvl"
rm -f initrd.tmp kernel.tmp

for src in hand-*.dts; do
    dtc -q -I dts -O dtb -o "${src%.dts}.dtb" "$src"
    echo "wrote ${src%.dts}.dtb"
done
